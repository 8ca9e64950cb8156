// SPDX-License-Identifier: MIT
// global.max_connections: at the limit new clients wait in the kernel's backlog, unserved,
// and are served as soon as a connection closes; never more than the limit at once.
#include <poll.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// A client connection and whether ringlb has relayed its backend's greeting yet.
struct Client final {
    ringlb::UniqueFd fd;
    bool served = false;
};

// Waits until one of the unserved clients has its greeting (then marks it served) or the
// deadline passes; returns how many became served. A client that ringlb closes instead
// fails the test: at the limit clients must wait, not be turned away.
std::size_t serve_waiting(std::vector<Client>& clients, Deadline deadline) {
    std::vector<pollfd> fds;
    std::vector<Client*> waiting;
    for (Client& client : clients) {
        if (!client.served) {
            fds.push_back({client.fd.get(), POLLIN, 0});
            waiting.push_back(&client);
        }
    }
    if (fds.empty()) {
        return 0;
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(left, 0))) <= 0) {
        return 0;
    }
    std::size_t served = 0;
    for (std::size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents == 0) {
            continue;
        }
        const std::string line = read_line(waiting[i]->fd.get(), deadline_in(5s));
        CHECK(line == "a\n");
        waiting[i]->served = true;
        ++served;
    }
    return served;
}

std::size_t count_served(const std::vector<Client>& clients) {
    std::size_t served = 0;
    for (const Client& client : clients) {
        served += client.served ? 1 : 0;
    }
    return served;
}

// Closes the first served client.
void close_one_served(std::vector<Client>& clients) {
    for (auto it = clients.begin(); it != clients.end(); ++it) {
        if (it->served) {
            clients.erase(it);
            return;
        }
    }
    FAIL("no served client to close");
}

}  // namespace

TEST_CASE(
    "at global.max_connections new clients wait unserved and are served as soon as a "
    "connection closes") {
    constexpr std::size_t kMax = 3;
    // One worker, and two: the limit is global, whichever worker's socket the kernel queues
    // a client on (SO_REUSEPORT spreads clients by address and port).
    const unsigned workers = GENERATE(1u, 2u);
    DYNAMIC_SECTION("workers = " << workers) {
        Backend a = start_greet_backend("a");
        Ringlb lb = start_ringlb(
            SimpleConfig({a.address()}).workers(workers).global("max_connections = 3").text());

        // The first three are served, one after the other.
        std::vector<Client> clients;
        for (std::size_t i = 0; i < kMax; ++i) {
            clients.push_back(Client{connect_to(lb.port), false});
            const std::size_t served = serve_waiting(clients, deadline_in(5s));
            INFO("client " << i << " of the first " << kMax << " (below the limit)");
            INFO("ringlb output:\n" << lb.process->tail());
            REQUIRE(served == 1);
        }

        // Three more: the TCP connect succeeds (the kernel's backlog), nothing is relayed.
        for (std::size_t i = 0; i < 3; ++i) {
            clients.push_back(Client{connect_to(lb.port), false});
        }
        CHECK(serve_waiting(clients, deadline_in(500ms)) == 0);
        CHECK(count_served(clients) == kMax);

        // Each close lets exactly one waiting client in.
        for (int round = 0; round < 3; ++round) {
            close_one_served(clients);
            const std::size_t served = serve_waiting(clients, deadline_in(5s));
            INFO("round " << round << ": a served client closed");
            INFO("ringlb output:\n" << lb.process->tail());
            CHECK(served == 1);
            // Never more than the limit: no second one follows.
            CHECK(serve_waiting(clients, deadline_in(300ms)) == 0);
            CHECK(count_served(clients) == kMax);
        }
        CHECK(clients.size() == kMax);
    }
}

TEST_CASE("with global.max_connections = 1 and two workers, sequential clients are all served") {
    Backend a = start_greet_backend("a");
    Ringlb lb =
        start_ringlb(SimpleConfig({a.address()}).workers(2).global("max_connections = 1").text());

    // One client at a time, each closed before the next: the count never reaches the limit
    // when a client arrives, whichever worker's socket the kernel queues it on.
    int served = 0;
    for (int i = 0; i < 20; ++i) {
        std::vector<Client> clients;
        clients.push_back(Client{connect_to(lb.port), false});
        const std::size_t got = serve_waiting(clients, deadline_in(3s));
        UNSCOPED_INFO("client " << i << (got == 1 ? " served" : " NOT served within 3 s"));
        served += static_cast<int>(got);
        if (got == 0) {
            break;
        }
        // Wait for ringlb to see the close before the next client: the backend's EOF back
        // through ringlb proves the whole connection is gone on ringlb's side.
        shutdown_write(clients[0].fd.get());
        (void)read_until_eof(clients[0].fd.get(), deadline_in(5s));
    }
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(served == 20);
}
