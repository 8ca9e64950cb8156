// SPDX-License-Identifier: MIT
// All backends down: the client is closed promptly and ringlb keeps serving other pools.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

TEST_CASE("when every backend refuses, the client is closed within 1 s and ringlb serves on") {
    Backend up = start_reply_backend("up");
    const std::string config = R"(
[global]
workers = 2

[[listener]]
name = "down"
bind = "127.0.0.1:0"
pool = "down"

[[listener]]
name = "up"
bind = "127.0.0.1:0"
pool = "up"

[[pool]]
name = "down"
retries = 2
connect_timeout_ms = 500
)" +
                               backends_toml({"127.0.0.1:" + std::to_string(refused_port()),
                                              "127.0.0.1:" + std::to_string(refused_port())}) +
                               R"(
[[pool]]
name = "up"
)" + backends_toml({up.address()});
    Ringlb lb = start_ringlb(config);
    const std::uint16_t down_port = lb.port_of("down");
    const std::uint16_t up_port = lb.port_of("up");

    for (int i = 0; i < 5; ++i) {
        ringlb::UniqueFd fd = connect_to(down_port);
        const auto start = Clock::now();
        const ReadResult result = read_until_close(fd.get(), deadline_in(1s));
        const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
        INFO("connection " << i << ": " << elapsed.count() << " ms, got \"" << result.data
                           << "\", eof " << result.eof << ", error " << result.error);
        INFO("ringlb output:\n" << lb.process->tail());
        CHECK(result.closed());
        CHECK(result.data.empty());

        CHECK(fetch(up_port) == "up\n");
    }
    CHECK(lb.process->running());
}
