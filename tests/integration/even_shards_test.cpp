// SPDX-License-Identifier: MIT
// Even shards: with SO_REUSEPORT the kernel's 4-tuple hash sends all of a few client ports'
// connections to whichever shard their hash picks. The steering program (global.shard_steering,
// default "random") spreads them evenly, also on a listener a reload added; and a shard whose
// slots are full hands a client to one with room instead of closing it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// A connection to 127.0.0.1:port from 127.0.0.1:source_port (SO_REUSEADDR, so that the port
// can be used again at once after a reset close). Throws HarnessError on failure.
ringlb::UniqueFd connect_from_port(std::uint16_t source_port, std::uint16_t port) {
    ringlb::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        throw HarnessError(std::string("socket: ") + std::strerror(errno));
    }
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    local.sin_port = htons(source_port);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
        throw HarnessError("bind to source port " + std::to_string(source_port) + ": " +
                           std::strerror(errno));
    }
    sockaddr_in remote = local;
    remote.sin_port = htons(port);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&remote), sizeof(remote)) != 0 &&
        errno != EINPROGRESS) {
        throw HarnessError(std::string("connect: ") + std::strerror(errno));
    }
    pollfd poll_fd{fd.get(), POLLOUT, 0};
    int error = 0;
    socklen_t length = sizeof(error);
    if (::poll(&poll_fd, 1, 5000) != 1 ||
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
        throw HarnessError("connect from port " + std::to_string(source_port) +
                           " failed: " + std::strerror(error));
    }
    return fd;
}

// `count` free local ports (bound to port 0, then released).
std::vector<std::uint16_t> free_ports(int count) {
    std::vector<std::uint16_t> ports;
    std::vector<ringlb::UniqueFd> held;
    for (int i = 0; i < count; ++i) {
        ringlb::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in local{};
        local.sin_family = AF_INET;
        local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof(local)) == 0);
        ports.push_back(local_port(fd.get()));
        held.push_back(std::move(fd));
    }
    return ports;
}

double shard_metric(const Metrics& metrics, const char* name, int shard) {
    return metrics.at(name, {{"shard", std::to_string(shard)}});
}

std::string steering_config(const std::string& backend, const std::string& steering,
                            bool second_listener) {
    std::string text = "[global]\nworkers = 2\nshard_steering = \"" + steering +
                       "\"\n\n[admin]\nbind = \"127.0.0.1:0\"\n" + listener_table("first", "p");
    if (second_listener) {
        text += listener_table("late", "p");
    }
    return text + pool_table("p", {backend});
}

}  // namespace

// The split is a binomial draw: 2,000 connections, one in two to each shard, have a standard
// deviation of 22; ±10 % (100) is 4.5 of them (one run in 150,000 outside), whatever the load.
TEST_CASE("2,000 connections from five client ports split within 10 % over 2 shards") {
    Backend greet = start_greet_backend("g");
    Ringlb lb = start_ringlb(steering_config(greet.address(), "random", false));
    AdminClient admin{admin_port(*lb.process)};
    // The listener the connections use is added by a reload: its new sockets get the program.
    reload_ringlb(lb, steering_config(greet.address(), "random", true));
    const std::uint16_t port = static_cast<std::uint16_t>(std::stoul(
        lb.process->wait_for_line(R"(listening listener=late address=127\.0\.0\.1:(\d+))", 5s)
            .groups[1]));

    constexpr int kConnections = 2000;
    const std::vector<std::uint16_t> sources = free_ports(5);
    for (int i = 0; i < kConnections; ++i) {
        ringlb::UniqueFd fd = connect_from_port(sources[static_cast<std::size_t>(i) % 5], port);
        // The greeting proves that a shard took the connection and relayed it.
        REQUIRE(read_line(fd.get(), deadline_in(5s)) == "g\n");
        reset_close(fd);  // no TIME_WAIT: the port is free again at once
    }

    // Every connection is counted once its shard has started serving it: all were greeted.
    const Metrics metrics = parse_metrics(admin.get("/metrics").body);
    const double zero = shard_metric(metrics, "ringlb_shard_connections_total", 0);
    const double one = shard_metric(metrics, "ringlb_shard_connections_total", 1);
    INFO("shard 0: " << zero << ", shard 1: " << one);
    CHECK(zero + one == kConnections);
    CHECK(zero >= 900);
    CHECK(zero <= 1100);
}

// "cpu" steering with this process pinned to one CPU sends every SYN (handled on loopback by
// the sending CPU) to one shard, the worst case of the hash: that shard fills up and must
// hand the rest to the other shard. The fd limit leaves each shard a few dozen slots.
TEST_CASE("a shard whose slots are full hands clients to the other; none is refused with room") {
    const std::string prlimit = require_command("prlimit", "util-linux");
    raise_fd_limit(4096);
    Backend greet = start_greet_backend("g");
    const std::string limit = "320";
    Ringlb lb = start_ringlb_under({prlimit, "--nofile=" + limit + ":" + limit, "--"},
                                   steering_config(greet.address(), "cpu", false));
    AdminClient admin{admin_port(*lb.process)};
    const int slots =
        std::stoi(lb.process->wait_for_line(R"(slots_per_worker=(\d+))", 1s).groups[1]);
    REQUIRE(slots >= 10);

    cpu_set_t before;
    REQUIRE(sched_getaffinity(0, sizeof(before), &before) == 0);
    int cpu = 0;
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &before)) {
        ++cpu;
    }
    cpu_set_t pinned;
    CPU_ZERO(&pinned);
    CPU_SET(cpu, &pinned);
    REQUIRE(sched_setaffinity(0, sizeof(pinned), &pinned) == 0);
    std::vector<HeldConnection> held;
    std::string failure;
    try {
        for (int i = 0; i < 2 * slots; ++i) {
            held.push_back(open_held(lb.port));
        }
    } catch (const HarnessError& error) {
        failure = "client " + std::to_string(held.size()) + ": " + error.what();
    }
    sched_setaffinity(0, sizeof(before), &before);
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("slots per shard: " << slots);
    REQUIRE(failure.empty());

    Metrics metrics = parse_metrics(admin.get("/metrics").body);
    const double handed = shard_metric(metrics, "ringlb_shard_handoffs_total", 0) +
                          shard_metric(metrics, "ringlb_shard_handoffs_total", 1);
    INFO("hand-offs: " << handed);
    CHECK(handed >= 1);  // the steering did put more than one shard's worth on one shard
    CHECK(shard_metric(metrics, "ringlb_shard_connections_open", 0) == slots);
    CHECK(shard_metric(metrics, "ringlb_shard_connections_open", 1) == slots);
    CHECK(metrics.at("ringlb_connections_rejected_total",
                     {{"listener", "first"}, {"reason", "no_slot"}}) == 0);

    // Both shards full: now a client is turned away, and counted.
    CHECK_THROWS_AS(open_held(lb.port), HarnessError);
    metrics = parse_metrics(admin.get("/metrics").body);
    CHECK(metrics.at("ringlb_connections_rejected_total",
                     {{"listener", "first"}, {"reason", "no_slot"}}) == 1);
    held.clear();
}
