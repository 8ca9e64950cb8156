// SPDX-License-Identifier: MIT
// No descriptor leaks: after a mix of completed, aborted, refused and timed-out connections,
// ringlb holds exactly the descriptors it held before the traffic.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

TEST_CASE("after 200 mixed echo, reset, refused and timed-out connections every fd is returned") {
    Backend echo = start_backend("echo");
    Blackhole blackhole;
    const std::string config = R"(
[global]
workers = 2

[[listener]]
name = "echo"
bind = "127.0.0.1:0"
pool = "echo"

[[listener]]
name = "refused"
bind = "127.0.0.1:0"
pool = "refused"

[[listener]]
name = "timeout"
bind = "127.0.0.1:0"
pool = "timeout"

[[pool]]
name = "echo"
)" + backends_toml({echo.address()}) +
                               R"(
[[pool]]
name = "refused"
retries = 1
)" +
                               backends_toml({"127.0.0.1:" + std::to_string(refused_port()),
                                              "127.0.0.1:" + std::to_string(refused_port())}) +
                               R"(
[[pool]]
name = "timeout"
retries = 0
connect_timeout_ms = 200
)" + backends_toml({"127.0.0.1:" + std::to_string(blackhole.port())});
    Ringlb lb = start_ringlb(config);
    const pid_t pid = lb.process->pid();
    const FdTable fds_before = fd_table(pid);
    const std::uint16_t echo_port = lb.port_of("echo");
    const std::uint16_t refused_port_ = lb.port_of("refused");
    const std::uint16_t timeout_port = lb.port_of("timeout");

    // 100 complete echo exchanges.
    for (int i = 0; i < 100; ++i) {
        ringlb::UniqueFd fd = connect_to(echo_port);
        const DuplexResult result =
            duplex_transfer(fd.get(), static_cast<std::uint64_t>(i), 4096, deadline_in(10s));
        REQUIRE(result.received == 4096);
    }
    // 30 clients that reset in the middle of an echo transfer.
    for (int i = 0; i < 30; ++i) {
        ringlb::UniqueFd fd = connect_to(echo_port);
        send_all(fd.get(), stream_slice(static_cast<std::uint64_t>(i), 0, 64 * 1024),
                 deadline_in(10s));
        (void)read_exact(fd.get(), 1024, deadline_in(10s));
        reset_close(fd);
    }
    // 40 connections to a pool whose backends all refuse.
    for (int i = 0; i < 40; ++i) {
        ringlb::UniqueFd fd = connect_to(refused_port_);
        CHECK(read_until_close(fd.get(), deadline_in(2s)).closed());
    }
    // 20 connections whose backend connect times out, open at the same time...
    {
        std::vector<ringlb::UniqueFd> waiting;
        for (int i = 0; i < 20; ++i) {
            waiting.push_back(connect_to(timeout_port));
        }
        for (auto& fd : waiting) {
            CHECK(read_until_close(fd.get(), deadline_in(5s)).closed());
        }
    }
    // ...and 10 clients that give up while ringlb is still connecting.
    for (int i = 0; i < 10; ++i) {
        ringlb::UniqueFd fd = connect_to(timeout_port);
        fd.reset();
    }

    // The traffic ran one relay at a time, so each of the 2 shards may have pooled at most
    // one pipe pair beyond its start-up pipes: 2 shards x 2 pipes x 2 ends.
    const std::string unsettled = wait_fds_settled(pid, fds_before, 8, 10s);
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("descriptors not back to the baseline: " << unsettled);
    CHECK(unsettled.empty());
    CHECK(lb.process->running());
}
