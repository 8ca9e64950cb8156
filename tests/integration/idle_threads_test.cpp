// SPDX-License-Identifier: MIT
// Idle connections cost no threads: 2,000 proxied, idle connections leave the thread count
// where it was, and closing them returns every descriptor.
#include <catch2/catch.hpp>

#include <thread>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// The largest thread count seen over `window`: io-wq workers come and go, and a thread
// parked per idle connection would show up as a lasting jump.
std::size_t max_threads_over(pid_t pid, milliseconds window) {
    std::size_t most = thread_count(pid);
    const Deadline end = deadline_in(window);
    while (Clock::now() < end) {
        std::this_thread::sleep_for(20ms);
        most = std::max(most, thread_count(pid));
    }
    return most;
}

}  // namespace

TEST_CASE("2000 idle proxied connections add no threads and give back every fd when closed") {
    constexpr int kConnections = 2000;
    constexpr std::size_t kWorkers = 2;
    // main + health (+ admin), plus at most 4 io-wq workers.
    constexpr std::size_t kMaxThreads = kWorkers + 2 + 4;
    constexpr std::size_t kIoWqSlack = 4;
    raise_fd_limit(3 * kConnections + 1000);

    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()}).workers(kWorkers).text());
    const pid_t pid = lb.process->pid();
    const std::size_t threads_before = thread_count(pid);
    const FdTable fds_before = fd_table(pid);

    std::vector<ringlb::UniqueFd> clients;
    clients.reserve(kConnections);
    const Deadline deadline = deadline_in(60s);
    for (int i = 0; i < kConnections; ++i) {
        clients.push_back(connect_to(lb.port, 5s));
    }
    // One byte there and back on each: every connection is fully proxied, then idle.
    for (auto& fd : clients) {
        send_all(fd.get(), "x", deadline);
    }
    for (auto& fd : clients) {
        REQUIRE(read_exact(fd.get(), 1, deadline) == "x");
    }

    const std::size_t threads_idle = max_threads_over(pid, 500ms);
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("threads: " << threads_before << " before, " << threads_idle << " with " << kConnections
                     << " idle connections");
    CHECK(threads_idle <= kMaxThreads);
    CHECK(threads_idle <= threads_before + kIoWqSlack);

    clients.clear();
    // Every socket comes back; the pipe pool may keep what the busiest moment needed, but a
    // pipe per connection (4,000 ends) would be a leak.
    const std::string unsettled = wait_fds_settled(pid, fds_before, 64, 15s);
    INFO("descriptors not back to the baseline: " << unsettled);
    CHECK(unsettled.empty());
    CHECK(thread_count(pid) <= kMaxThreads);
    CHECK(lb.process->running());
}
