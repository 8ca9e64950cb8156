// SPDX-License-Identifier: MIT
// Retry: a refused connect moves on to the next backend instead of failing the client.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

TEST_CASE("with retries = 2 every connection reaches the one live backend among refused ones") {
    Backend live = start_reply_backend("live");
    // Round robin starts each connection at a different backend: some need one retry
    // (refused, live) and some two (refused, refused, live).
    const std::string refused1 = "127.0.0.1:" + std::to_string(refused_port());
    const std::string refused2 = "127.0.0.1:" + std::to_string(refused_port());
    Ringlb lb =
        start_ringlb(SimpleConfig({refused1, live.address(), refused2}).pool("retries = 2").text());

    int live_replies = 0;
    for (int i = 0; i < 20; ++i) {
        const ReadResult result = [&] {
            ringlb::UniqueFd fd = connect_to(lb.port);
            return read_until_close(fd.get(), deadline_in(5s));
        }();
        INFO("connection " << i << ": got \"" << result.data << "\", eof " << result.eof
                           << ", error " << result.error << ", timed out " << result.timed_out);
        INFO("ringlb output:\n" << lb.process->tail());
        CHECK(result.data == "live\n");
        live_replies += result.data == "live\n" ? 1 : 0;
    }
    CHECK(live_replies == 20);
    CHECK(lb.process->running());
}
