// SPDX-License-Identifier: MIT
// backend.max_connections: a full backend is passed over, and a client is closed at once
// when every backend is full.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// The greeting of a new connection, or nullopt when ringlb closes it without one.
std::optional<std::string> try_greeting(std::uint16_t port) {
    ringlb::UniqueFd fd = connect_to(port);
    try {
        std::string line = read_line(fd.get(), deadline_in(5s));
        line.pop_back();
        return line;
    } catch (const HarnessError&) {
        return std::nullopt;
    }
}

}  // namespace

TEST_CASE("a backend at max_connections is passed over; 0 means no limit") {
    Backend limited = start_greet_backend("limited");
    Backend open = start_greet_backend("open");
    // Retries would also rescue a refused connect; these backends never refuse, so what is
    // measured is the choice itself.
    Ringlb lb = start_ringlb(SimpleConfig({})
                                 .workers(2)
                                 .pool(backend_table(limited.address(), "  max_connections = 2") +
                                       backend_table(open.address(), "  max_connections = 0"))
                                 .text());

    // Round robin alternates until "limited" holds 2; from then on everything goes to
    // "open", which has no limit.
    std::vector<HeldConnection> held;
    std::map<std::string, int> counts;
    for (int i = 0; i < 30; ++i) {
        held.push_back(open_held(lb.port));
        ++counts[held.back().backend];
    }
    INFO("30 held connections: " << describe_counts(counts));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(counts["limited"] == 2);
    CHECK(counts["open"] == 28);

    // A freed place is taken again. The close reaches ringlb asynchronously: open new
    // connections (bounded, all held) until one lands on "limited".
    const auto it = std::find_if(held.begin(), held.end(),
                                 [](const HeldConnection& h) { return h.backend == "limited"; });
    REQUIRE(it != held.end());
    held.erase(it);
    bool reused = false;
    int tries = 0;
    for (const Deadline deadline = deadline_in(5s); !reused && Clock::now() < deadline; ++tries) {
        held.push_back(open_held(lb.port));
        reused = held.back().backend == "limited";
    }
    INFO("attempts until a connection reached \"limited\" again: " << tries);
    CHECK(reused);
    // And never more than its limit at once: one more goes elsewhere.
    for (int i = 0; i < 4; ++i) {
        held.push_back(open_held(lb.port));
        CHECK(held.back().backend == "open");
    }
    // The held connections all still relay.
    for (HeldConnection& h : held) {
        send_all(h.fd.get(), "x\n", deadline_in(5s));
    }
    for (HeldConnection& h : held) {
        CHECK(read_line(h.fd.get(), deadline_in(5s)) == "x\n");
    }
}

TEST_CASE(
    "when every backend is full a new client is closed at once, and served again when a "
    "place frees up") {
    Backend a = start_greet_backend("a");
    Backend b = start_greet_backend("b");
    // Long timeouts everywhere, so that a close caused by one of them would come late.
    Ringlb lb = start_ringlb(SimpleConfig({})
                                 .workers(2)
                                 .pool("connect_timeout_ms = 10000\nidle_timeout_ms = 60000\n"
                                       "retries = 2\n" +
                                       backend_table(a.address(), "  max_connections = 1") +
                                       backend_table(b.address(), "  max_connections = 1"))
                                 .text());

    std::vector<HeldConnection> held;
    held.push_back(open_held(lb.port));
    held.push_back(open_held(lb.port));
    CHECK(held[0].backend != held[1].backend);

    for (int i = 0; i < 5; ++i) {
        const auto started = Clock::now();
        ringlb::UniqueFd fd = connect_to(lb.port);
        const ReadResult result = read_until_close(fd.get(), deadline_in(5s));
        const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
        INFO("attempt " << i << ": got \"" << result.data << "\", eof " << result.eof << ", error "
                        << result.error << ", timed out " << result.timed_out << ", after "
                        << elapsed.count() << " ms");
        INFO("ringlb output:\n" << lb.process->tail());
        CHECK(result.closed());
        CHECK(result.data.empty());
        // At once, not after a timeout: the shortest timeout of the config is 10 s, so half
        // of it tells the two apart with a margin no scheduling delay comes near.
        CHECK(elapsed < 5000ms);
    }

    // Freeing a place lets the next client in (the close travels client -> ringlb ->
    // backend -> ringlb first, so a few quick refusals may come before it).
    const std::string freed = held[0].backend;
    held.erase(held.begin());
    std::optional<std::string> served;
    int refused = 0;
    for (const Deadline deadline = deadline_in(5s); !served && Clock::now() < deadline;) {
        served = try_greeting(lb.port);
        refused += served ? 0 : 1;
    }
    INFO("refused before a place was free: " << refused);
    CHECK(served == freed);
}
