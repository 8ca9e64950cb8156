// SPDX-License-Identifier: MIT
// backend.state: "drain" takes no new connections but keeps relaying open ones; "disabled"
// takes none and is not probed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

std::string two_backends(const Backend& a, const std::string& a_state, const Backend& b) {
    return SimpleConfig({})
        .workers(2)
        .pool(backend_table(a.address(), "  state = \"" + a_state + "\"") +
              backend_table(b.address()))
        .text();
}

// A regex for "backend=ADDRESS" with nothing more of the address after it.
std::string backend_pattern(const std::string& address) {
    return "backend=" + regex_escape(address) + "\\b";
}

}  // namespace

TEST_CASE("a backend in state drain or disabled in the config gets no connections") {
    const std::string state = GENERATE(as<std::string>{}, "drain", "disabled");
    DYNAMIC_SECTION("state = " << state) {
        Backend out = start_greet_backend("out");
        Backend in = start_greet_backend("in");
        Ringlb lb = start_ringlb(two_backends(out, state, in));

        const auto counts = short_connections(lb.port, 30);
        INFO("30 connections: " << describe_counts(counts));
        INFO("ringlb output:\n" << lb.process->tail());
        CHECK(counts.count("out") == 0);
        CHECK(counts.count("in") == 1);
    }
}

TEST_CASE(
    "drain set at run time: no new connections, open ones keep relaying, active again "
    "takes new ones") {
    Backend a = start_greet_backend("a");
    Backend b = start_greet_backend("b");
    Ringlb lb = start_ringlb(two_backends(a, "active", b));

    // Round robin alternates: two connections give one held on each.
    std::vector<HeldConnection> held;
    held.push_back(open_held(lb.port));
    held.push_back(open_held(lb.port));
    const auto on_a = std::find_if(held.begin(), held.end(),
                                   [](const HeldConnection& h) { return h.backend == "a"; });
    REQUIRE(on_a != held.end());
    const int a_fd = on_a->fd.get();

    reload_ringlb(lb, two_backends(a, "drain", b));
    const auto while_draining = short_connections(lb.port, 20);
    INFO("20 connections while a drains: " << describe_counts(while_draining));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(while_draining.count("a") == 0);
    CHECK(while_draining.count("b") == 1);

    // The connection through the draining backend still relays, both ways, many times.
    for (int i = 0; i < 10; ++i) {
        const std::string line = "through a, message " + std::to_string(i) + "\n";
        send_all(a_fd, line, deadline_in(5s));
        CHECK(read_line(a_fd, deadline_in(5s)) == line);
    }

    reload_ringlb(lb, two_backends(a, "active", b));
    const auto after = short_connections(lb.port, 20);
    INFO("20 connections after a is active again: " << describe_counts(after));
    CHECK(after.count("a") == 1);
    CHECK(after.count("b") == 1);
    // And the old connection is still there.
    send_all(a_fd, "still\n", deadline_in(5s));
    CHECK(read_line(a_fd, deadline_in(5s)) == "still\n");
}

TEST_CASE("a disabled backend is not probed: never reported down, never connected to") {
    // Probes are connects; a backend with --report prints one "closed" line per connection,
    // so it sees every probe. "good" is the control that shows probes are counted this way.
    BackendOptions options;
    options.mode = "reply";
    options.report = true;
    options.reply = "good";
    Backend good = start_backend(options);
    options.reply = "off";
    Backend off_live = start_backend(options);
    const std::string dead = "127.0.0.1:" + std::to_string(refused_port());
    const std::string off_dead = "127.0.0.1:" + std::to_string(refused_port());

    Ringlb lb = start_ringlb(
        SimpleConfig({})
            .workers(2)
            .global("log_level = \"debug\"")
            .pool("retries = 0\n" + backend_table(good.address()) +
                  backend_table(off_live.address(), "  state = \"disabled\"") +
                  backend_table(dead) + backend_table(off_dead, "  state = \"disabled\"") +
                  "\n[pool.health]\ninterval_ms = 100\ntimeout_ms = 100\nrise = 1\nfall = 1\n")
            .text());

    // The active dead backend goes down, then fails five more probes (debug lines), while
    // "good" answers at least three: by then every backend that is probed has been, often.
    const LineMatch down =
        lb.process->wait_for_line("backend down pool=p " + backend_pattern(dead), 5s);
    std::size_t from = down.index + 1;
    for (int i = 0; i < 5; ++i) {
        from = lb.process->wait_for_line("probe failed pool=p " + backend_pattern(dead), 5s, from)
                   .index +
               1;
    }
    from = 0;
    for (int i = 0; i < 3; ++i) {
        from = good.process->wait_for_line("^closed ", 5s, from).index + 1;
    }

    INFO("ringlb output:\n" << lb.process->tail(40));
    INFO("disabled live backend output:\n" << off_live.process->tail());
    CHECK(lb.process->find_lines(backend_pattern(off_dead)).empty());
    CHECK(lb.process->find_lines(backend_pattern(off_live.address())).empty());
    CHECK(off_live.process->find_lines("^closed ").empty());

    // And neither disabled backend takes clients: only "good" answers.
    std::map<std::string, int> replies = fetch_counts(lb.port, 20);
    INFO("20 connections: " << describe_counts(replies));
    CHECK(replies.size() == 1);
    CHECK(replies["good\n"] == 20);
}
