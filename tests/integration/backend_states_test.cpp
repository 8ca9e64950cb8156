// SPDX-License-Identifier: MIT
// backend.state: "drain" takes no new connections but keeps relaying open ones; "disabled"
// takes none and is not probed. backend.backup: serves only while no primary is usable.
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

namespace {

// Primaries a and b, backup c, with health checks that notice a change within ~100 ms.
std::string with_backup(const Backend& a, const std::string& a_state, const Backend& b,
                        const std::string& b_state, const Backend& c,
                        const std::string& algorithm) {
    return SimpleConfig({})
        .workers(2)
        .pool("algorithm = \"" + algorithm + "\"\n" +
              backend_table(a.address(), "  state = \"" + a_state + "\"") +
              backend_table(b.address(), "  state = \"" + b_state + "\"") +
              backend_table(c.address(), "  backup = true") +
              "\n[pool.health]\ninterval_ms = 100\ntimeout_ms = 100\nrise = 1\nfall = 1\n")
        .text();
}

}  // namespace

TEST_CASE("a backup takes connections only while no primary is usable, with every algorithm") {
    const std::string algorithm = GENERATE(as<std::string>{}, "round_robin", "weighted_round_robin",
                                           "least_connections", "random_two", "maglev");
    DYNAMIC_SECTION("algorithm = " << algorithm) {
        Backend a = start_greet_backend("a");
        Backend b = start_greet_backend("b");
        Backend c = start_greet_backend("c");
        Ringlb lb = start_ringlb(with_backup(a, "active", b, "active", c, algorithm));
        INFO("ringlb output:\n" << lb.process->tail());

        const auto primaries = short_connections(lb.port, 20);
        INFO("20 connections, primaries usable: " << describe_counts(primaries));
        CHECK(primaries.count("c") == 0);

        // A reload drains one primary and disables the other: the backup serves.
        std::vector<HeldConnection> held;
        held.push_back(open_held(lb.port));
        reload_ringlb(lb, with_backup(a, "drain", b, "disabled", c, algorithm));
        const auto backups = short_connections(lb.port, 10);
        INFO("10 connections, no primary usable: " << describe_counts(backups));
        CHECK(backups.size() == 1);
        CHECK(backups.count("c") == 1);

        // A primary usable again takes new connections back; the one held open stays.
        reload_ringlb(lb, with_backup(a, "active", b, "disabled", c, algorithm));
        const auto back = short_connections(lb.port, 10);
        INFO("10 connections, a usable again: " << describe_counts(back));
        CHECK(back.size() == 1);
        CHECK(back.count("a") == 1);
        const std::string line = "still here\n";
        send_all(held.front().fd.get(), line, deadline_in(5s));
        CHECK(read_line(held.front().fd.get(), deadline_in(5s)) == line);
    }
}

TEST_CASE("health checks fail the primaries over to the backup and back") {
    Backend a = start_greet_backend("a");
    Backend b = start_greet_backend("b");
    Backend c = start_greet_backend("c");
    Ringlb lb = start_ringlb(with_backup(a, "active", b, "active", c, "round_robin"));
    INFO("ringlb output:\n" << lb.process->tail(40));
    CHECK(short_connections(lb.port, 10).count("c") == 0);

    a.pause();
    b.pause();
    std::size_t from =
        lb.process->wait_for_line("backend down pool=p " + backend_pattern(a.address()), 5s).index;
    lb.process->wait_for_line("backend down pool=p " + backend_pattern(b.address()), 5s);
    const auto backups = short_connections(lb.port, 10);
    INFO("10 connections with both primaries down: " << describe_counts(backups));
    CHECK(backups.size() == 1);
    CHECK(backups.count("c") == 1);

    b.resume();
    lb.process->wait_for_line("backend up pool=p " + backend_pattern(b.address()), 5s, from);
    const auto back = short_connections(lb.port, 10);
    INFO("10 connections with b up again: " << describe_counts(back));
    CHECK(back.size() == 1);
    CHECK(back.count("b") == 1);
    a.resume();
}

TEST_CASE("a reload makes a backend a backup, and a primary again") {
    Backend a = start_greet_backend("a");
    Backend c = start_greet_backend("c");
    const auto config = [&](const std::string& c_settings) {
        return SimpleConfig({})
            .workers(2)
            .pool(backend_table(a.address()) + backend_table(c.address(), c_settings))
            .text();
    };
    Ringlb lb = start_ringlb(config("  backup = false"));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(short_connections(lb.port, 10).count("c") == 1);
    reload_ringlb(lb, config("  backup = true"));
    const auto as_backup = short_connections(lb.port, 10);
    INFO("10 connections, c a backup: " << describe_counts(as_backup));
    CHECK(as_backup.size() == 1);
    CHECK(as_backup.count("a") == 1);
    reload_ringlb(lb, config(""));
    CHECK(short_connections(lb.port, 10).count("c") == 1);
}
