// SPDX-License-Identifier: MIT
// The relay's copy mode (global.splice = "auto"): small messages go through the buffer ring,
// bulk goes back to splice, a slow reader stops ringlb reading, and "always" never copies.
#include <poll.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// One worker, the admin API, one listener over `backend`, and `global` lines.
std::string copy_config(const std::string& backend, const std::string& global) {
    return "[global]\nworkers = 1\n" + global + "\n[admin]\nbind = \"127.0.0.1:0\"\n" +
           listener_table("main", "main") + pool_table("main", {backend});
}

double sample(const Metrics& metrics, std::string_view name) {
    return metrics.at(name, {});
}

// `rounds` ping-pongs of a small message through an echo: each answer must be the message.
void ping_pong(int fd, int rounds) {
    const Deadline deadline = deadline_in(30s);
    for (int i = 0; i < rounds; ++i) {
        const std::string message = "ping " + std::to_string(i) + " " + std::string(40, 'x') + "\n";
        send_all(fd, message, deadline);
        REQUIRE(read_exact(fd, message.size(), deadline) == message);
    }
}

}  // namespace

TEST_CASE("small messages are copied, bulk on the same connection is spliced, byte-exact") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(copy_config(echo.address(), ""));
    AdminClient admin{admin_port(*lb.process)};
    {
        ringlb::UniqueFd fd = connect_to(lb.port);
        ping_pong(fd.get(), 200);
        const Metrics after_small = get_metrics(admin);
        // Every echo was sent twice by copy (client -> backend, backend -> client), but for
        // the first two messages of each direction, which may have been spliced: a direction
        // switches to copy after two small bursts in a row.
        CHECK(sample(after_small, "ringlb_relay_copy_sends_total") >= 2 * 198);
        const double switches = sample(after_small, "ringlb_relay_copy_to_splice_total");

        // 4 MiB both ways: full buffers take both directions back to splice.
        constexpr std::uint64_t kBytes = 4 * 1024 * 1024;
        const DuplexResult bulk = duplex_transfer(fd.get(), 31, kBytes, deadline_in(60s));
        INFO("ringlb output:\n" << lb.process->tail());
        CHECK(bulk.received == kBytes);
        CHECK(bulk.received_hash == stream_hash(31, kBytes));
        CHECK(sample(get_metrics(admin), "ringlb_relay_copy_to_splice_total") > switches);
    }
    {
        // After bulk, small messages again (a fresh connection: the last one half-closed).
        ringlb::UniqueFd fd = connect_to(lb.port);
        const double before = sample(get_metrics(admin), "ringlb_relay_copy_sends_total");
        ping_pong(fd.get(), 50);
        CHECK(sample(get_metrics(admin), "ringlb_relay_copy_sends_total") >= before + 2 * 48);
    }
    CHECK(lb.process->running());
}

TEST_CASE("splice = always relays small messages without copying them") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(copy_config(echo.address(), "splice = \"always\""));
    AdminClient admin{admin_port(*lb.process)};
    {
        ringlb::UniqueFd fd = connect_to(lb.port);
        ping_pong(fd.get(), 100);
    }
    const Metrics metrics = get_metrics(admin);
    CHECK(sample(metrics, "ringlb_relay_copy_sends_total") == 0);
    CHECK(sample(metrics, "ringlb_relay_copy_to_splice_total") == 0);
}

TEST_CASE("a client that sends small messages and never reads makes ringlb stop reading") {
    // The echo's answers pile up towards a client that does not read: every buffer on the way
    // fills, and ringlb must stop taking the client's messages instead of holding them.
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(copy_config(echo.address(), ""));
    const std::size_t rss_before = vm_rss_kib(lb.process->pid());
    ringlb::UniqueFd fd = connect_to(lb.port);
    const std::string message = stream_slice(41, 0, 100);
    // Socket buffers on the way (client, ringlb both sides, the echo both ways) hold a few MiB
    // each with autotuning; 256 MiB taken without a stall would mean ringlb holds them.
    constexpr std::uint64_t kBound = 256ull * 1024 * 1024;
    std::uint64_t sent = 0;
    std::string stream;  // what was sent, to compare with what comes back
    while (sent < kBound) {
        pollfd pfd{fd.get(), POLLOUT, 0};
        // No progress for 3 s: everything on the way is full. (A margin, not a measurement:
        // an unbounded relay would never stall, however slow the machine.)
        if (::poll(&pfd, 1, 3000) == 0) {
            break;
        }
        const ssize_t n = ::send(fd.get(), message.data(), message.size(), MSG_DONTWAIT);
        if (n > 0) {
            sent += static_cast<std::uint64_t>(n);
            stream.append(message, 0, static_cast<std::size_t>(n));
        }
    }
    REQUIRE(sent < kBound);
    const std::size_t rss_stalled = vm_rss_kib(lb.process->pid());
    INFO("sent " << sent << " bytes before the stall; ringlb RSS " << rss_before << " -> "
                 << rss_stalled << " KiB");
    // ringlb's share of what is on the way is in kernel buffers and its pipe, not its memory.
    CHECK(rss_stalled < rss_before + 16 * 1024);
    // Now read everything back: the echo must be the stream, byte for byte.
    shutdown_write(fd.get());
    const std::string echoed = read_until_eof(fd.get(), deadline_in(60s));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(echoed.size() == stream.size());
    CHECK(echoed == stream);
}
