// SPDX-License-Identifier: MIT
// SIGPIPE: a client that resets while ringlb writes to it ends that connection, not ringlb.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

TEST_CASE("clients resetting in the middle of a download do not kill ringlb") {
    constexpr std::uint64_t kBytes = 256 * 1024 * 1024;
    BackendOptions options;
    options.mode = "source";
    options.bytes = kBytes;
    Backend source = start_backend(options);
    Ringlb lb = start_ringlb(SimpleConfig({source.address()}).text());

    std::string client_error;
    for (int i = 0; i < 20 && client_error.empty(); ++i) {
        try {
            ringlb::UniqueFd fd = connect_to(lb.port);
            send_all(fd.get(), "some request bytes", deadline_in(5s));
            if (i % 2 == 1) {
                // Half-closed first: ringlb's side is in CLOSE_WAIT when the RST comes, which
                // makes the kernel fail its next write with EPIPE (and SIGPIPE) rather than
                // ECONNRESET.
                shutdown_write(fd.get());
            }
            // Data is flowing towards us, and more is queued in ringlb: reset now.
            (void)read_exact(fd.get(), 64 * 1024, deadline_in(5s));
            reset_close(fd);
        } catch (const HarnessError& error) {
            client_error = "connection " + std::to_string(i) + ": " + error.what();
        }
    }
    if (!client_error.empty()) {
        // A client failing here most likely means ringlb died: say how.
        const auto status = lb.process->wait_exit(1s);
        INFO("ringlb output:\n" << lb.process->tail());
        INFO(client_error);
        FAIL("ringlb " << (status ? status->to_string() : "is still running"));
    }

    // ringlb is alive and relays the next connection correctly.
    constexpr std::size_t kCheckBytes = 1024 * 1024;
    ringlb::UniqueFd fd = connect_to(lb.port);
    const std::string data = read_exact(fd.get(), kCheckBytes, deadline_in(10s));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(data == stream_slice(0, 0, kCheckBytes));
    REQUIRE(lb.process->running());
}
