// SPDX-License-Identifier: MIT
// pool.queue_timeout_ms: when every live backend is at its max_connections a new client waits
// instead of being refused, first come first served across both shards, with its bytes
// unread; it is served when a place frees, closed and counted when its time runs out, and
// refused at once when no backend is live at all. A reload turns queueing on.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

std::string config(const std::string& backend, unsigned queue_timeout_ms,
                   const std::string& more = "", unsigned max_connections = 1) {
    return "[global]\nworkers = 2\n[admin]\nbind = \"127.0.0.1:0\"\n" + listener_table("in", "p") +
           pool_table("p", {},
                      "queue_timeout_ms = " + std::to_string(queue_timeout_ms) +
                          "\nretries = 0\nidle_timeout_ms = 60000\n" + more) +
           backend_table(backend, "  max_connections = " + std::to_string(max_connections));
}

double queue_length(const AdminClient& admin) {
    return get_metrics(admin).at("ringlb_pool_queue_length", {{"pool", "p"}});
}

// Waits until the pool's queue holds `length` clients; fails the test otherwise.
void wait_queue_length(const AdminClient& admin, double length) {
    const double seen =
        wait_for_sample(admin, "ringlb_pool_queue_length", {{"pool", "p"}}, length, 5000ms);
    INFO("ringlb_pool_queue_length");
    REQUIRE(seen == length);
}

// Whether anything (a byte or the end) can be read from `fd` now, without waiting.
bool has_news(int fd) {
    char byte = 0;
    const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

// Connections accepted by each shard so far.
std::vector<double> per_shard_connections(const AdminClient& admin) {
    const Metrics metrics = get_metrics(admin);
    return {metrics.at("ringlb_shard_connections_total", {{"shard", "0"}}),
            metrics.at("ringlb_shard_connections_total", {{"shard", "1"}})};
}

}  // namespace

TEST_CASE("waiting clients are served first come first served across shards, bytes intact") {
    Backend backend = start_greet_backend("b");
    Ringlb lb = start_ringlb(config(backend.address(), 30000));
    AdminClient admin{admin_port(*lb.process)};

    HeldConnection holder = open_held(lb.port);
    REQUIRE(holder.backend == "b");
    const std::vector<double> before = per_shard_connections(admin);

    // Clients queue one at a time (their order is the order the queue grew in) until both
    // shards hold some: the order must hold across shards, not only within one.
    std::vector<ringlb::UniqueFd> waiters;
    std::vector<double> shards = before;
    for (int i = 0;
         i < 24 && (waiters.size() < 6 || shards[0] == before[0] || shards[1] == before[1]); ++i) {
        waiters.push_back(connect_to(lb.port));
        // Bytes sent while waiting stay in the socket until the client is served.
        send_all(waiters.back().get(), "w" + std::to_string(waiters.size() - 1) + "\n",
                 deadline_in(2s));
        wait_queue_length(admin, static_cast<double>(waiters.size()));
        shards = per_shard_connections(admin);
    }
    INFO("waiters: " << waiters.size() << ", accepted per shard since the holder: "
                     << shards[0] - before[0] << " and " << shards[1] - before[1]);
    REQUIRE(shards[0] > before[0]);
    REQUIRE(shards[1] > before[1]);
    const std::string status = admin.get("/status").body;
    CHECK(status.find("\"queue_length\":" + std::to_string(waiters.size())) != std::string::npos);
    for (const auto& waiter : waiters) {
        CHECK_FALSE(has_news(waiter.get()));  // nothing reached them while they wait
    }

    // Each place that frees goes to the oldest waiter, and only to it.
    holder.fd.reset();
    for (std::size_t i = 0; i < waiters.size(); ++i) {
        INFO("waiter " << i << "\nringlb output:\n" << lb.process->tail());
        REQUIRE(read_line(waiters[i].get(), deadline_in(5s)) == "b\n");
        CHECK(read_line(waiters[i].get(), deadline_in(5s)) == "w" + std::to_string(i) + "\n");
        wait_queue_length(admin, static_cast<double>(waiters.size() - i - 1));
        for (std::size_t later = i + 1; later < waiters.size(); ++later) {
            INFO("later waiter " << later);
            CHECK_FALSE(has_news(waiters[later].get()));
        }
        waiters[i].reset();
    }
    const Metrics metrics = get_metrics(admin);
    CHECK(metrics.at("ringlb_pool_queued_total", {{"pool", "p"}}) ==
          static_cast<double>(waiters.size()));
    CHECK(metrics.at("ringlb_pool_queue_timeouts_total", {{"pool", "p"}}) == 0);
}

TEST_CASE("a burst of clients on two shards through two places: every one is served") {
    Backend backend = start_greet_backend("b");
    Ringlb lb = start_ringlb(config(backend.address(), 20000, "", 2));
    AdminClient admin{admin_port(*lb.process)};

    // 8 threads of 25 clients each, every client a full exchange: waking across shards must
    // lose no place, or clients would wait until their 20 s run out.
    constexpr int kThreads = 8;
    constexpr int kEach = 25;
    std::atomic<int> served{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                try {
                    ringlb::UniqueFd fd = connect_to(lb.port, 15000ms);
                    const std::string message = std::to_string(t) + "-" + std::to_string(i) + "\n";
                    send_all(fd.get(), message, deadline_in(15s));
                    if (read_line(fd.get(), deadline_in(15s)) == "b\n" &&
                        read_line(fd.get(), deadline_in(15s)) == message) {
                        ++served;
                        continue;
                    }
                } catch (const HarnessError&) {
                }
                ++failed;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(served.load() == kThreads * kEach);
    CHECK(failed.load() == 0);
    const Metrics metrics = get_metrics(admin);
    CHECK(metrics.at("ringlb_pool_queue_timeouts_total", {{"pool", "p"}}) == 0);
    CHECK(metrics.at("ringlb_pool_queued_total", {{"pool", "p"}}) > 0);  // it did queue
    CHECK(wait_for_sample(admin, "ringlb_pool_queue_length", {{"pool", "p"}}, 0) == 0);
}

TEST_CASE("a waiter whose queue_timeout_ms runs out is closed and counted; new ones still wait") {
    Backend backend = start_greet_backend("b");
    Ringlb lb = start_ringlb(config(backend.address(), 300));
    AdminClient admin{admin_port(*lb.process)};

    HeldConnection holder = open_held(lb.port);
    const auto started = Clock::now();
    ringlb::UniqueFd waiter = connect_to(lb.port);
    const ReadResult result = read_until_close(waiter.get(), deadline_in(5s));
    const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
    INFO("closed after " << waited.count() << " ms, data \"" << result.data << "\"");
    CHECK(result.closed());
    CHECK(result.data.empty());
    // Not before its time, give or take the shards' coarse clock (a few ms, read once per
    // loop pass); the 100 ms tick may add to it.
    CHECK(waited >= 290ms);
    CHECK(wait_for_sample(admin, "ringlb_pool_queue_timeouts_total", {{"pool", "p"}}, 1) == 1);
    CHECK(wait_for_rejected(admin, "in", "queue_timeout", 1) == 1);
    CHECK(get_metrics(admin).at("ringlb_connections_closed_total",
                                {{"listener", "in"}, {"reason", "queue_timeout"}}) == 1);
    CHECK(queue_length(admin) == 0);

    // The holder is untouched, and a later waiter is served when the place frees.
    send_all(holder.fd.get(), "still\n", deadline_in(2s));
    CHECK(read_line(holder.fd.get(), deadline_in(2s)) == "still\n");
    ringlb::UniqueFd next = connect_to(lb.port);
    wait_queue_length(admin, 1);
    holder.fd.reset();
    CHECK(read_line(next.get(), deadline_in(5s)) == "b\n");
}

TEST_CASE("with no live backend a client is refused at once, not queued") {
    Backend backend = start_greet_backend("b");
    Ringlb lb = start_ringlb(
        config(backend.address(), 30000,
               "[pool.health]\ninterval_ms = 100\ntimeout_ms = 100\nrise = 1\nfall = 1\n"));
    AdminClient admin{admin_port(*lb.process)};
    const std::size_t from = lb.process->line_count();
    backend.pause();
    lb.process->wait_for_line("backend down pool=p\\b", 5000ms, from);

    const auto started = Clock::now();
    ringlb::UniqueFd client = connect_to(lb.port);
    const ReadResult result = read_until_close(client.get(), deadline_in(10s));
    const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
    INFO("closed after " << waited.count() << " ms");
    CHECK(result.closed());
    CHECK(waited < 5000ms);  // the queue would have held it for 30 s
    CHECK(wait_for_rejected(admin, "in", "no_backend", 1) == 1);
    CHECK(get_metrics(admin).at("ringlb_pool_queued_total", {{"pool", "p"}}) == 0);
}

TEST_CASE("a reload turns queueing on and off") {
    Backend backend = start_greet_backend("b");
    Ringlb lb = start_ringlb(config(backend.address(), 0));
    AdminClient admin{admin_port(*lb.process)};

    HeldConnection holder = open_held(lb.port);
    {
        // Off: refused at once.
        ringlb::UniqueFd refused = connect_to(lb.port);
        CHECK(read_until_close(refused.get(), deadline_in(5s)).closed());
        CHECK(wait_for_rejected(admin, "in", "no_backend", 1) == 1);
    }

    reload_ringlb(lb, config(backend.address(), 30000));
    // The holder's connection belongs to the old generation: its place frees for the new
    // pool's waiter all the same (the backend is one object across the reload).
    ringlb::UniqueFd waiter = connect_to(lb.port);
    send_all(waiter.get(), "hello\n", deadline_in(2s));
    wait_queue_length(admin, 1);
    CHECK_FALSE(has_news(waiter.get()));
    holder.fd.reset();
    CHECK(read_line(waiter.get(), deadline_in(5s)) == "b\n");
    CHECK(read_line(waiter.get(), deadline_in(5s)) == "hello\n");

    reload_ringlb(lb, config(backend.address(), 0));
    ringlb::UniqueFd refused = connect_to(lb.port);
    CHECK(read_until_close(refused.get(), deadline_in(5s)).closed());
    CHECK(wait_for_rejected(admin, "in", "no_backend", 2) == 2);
}
