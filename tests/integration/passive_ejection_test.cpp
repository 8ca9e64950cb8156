// SPDX-License-Identifier: MIT
// Passive ejection ([pool.passive]): a backend that fails real traffic consecutive_failures
// times in a row (refused or timed-out connects, resets before its first byte) is taken out
// for ejection_ms, doubled on each repeat, and comes back; a first byte ends a streak;
// max_ejected_percent caps how much of a pool is out; a reload that turns it off lets every
// ejected backend back.
#include <catch2/catch.hpp>

#include "admin_client.hpp"
#include "harness.hpp"
#include "owned_listener.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// The control thread looks every 100 ms; a loaded 2-core machine may be late.
constexpr milliseconds kSlack = 3000ms;

std::string passive(unsigned failures, unsigned ejection_ms, unsigned max_percent = 50) {
    return "\n[pool.passive]\nconsecutive_failures = " + std::to_string(failures) +
           "\nejection_ms = " + std::to_string(ejection_ms) +
           "\nmax_ejected_percent = " + std::to_string(max_percent) + "\n";
}

std::string backend_pattern(const std::string& address) {
    std::string pattern;
    for (char c : address) {
        if (c == '.') {
            pattern += "\\.";
        } else {
            pattern += c;
        }
    }
    return pattern + "\\b";
}

// Fetches through ringlb until `pattern` appears in its output (each fetch must succeed:
// the pool retries on the live backend); returns the fetches it took.
int fetch_until_line(Ringlb& lb, const std::string& pattern, std::size_t from,
                     milliseconds timeout) {
    const Deadline deadline = deadline_in(timeout);
    int fetches = 0;
    while (Clock::now() < deadline) {
        CHECK(fetch(lb.port) == "a\n");
        ++fetches;
        if (!lb.process->find_lines(pattern, from).empty()) {
            return fetches;
        }
    }
    INFO("ringlb output:\n" << lb.process->tail());
    FAIL("no line matching " << pattern << " after " << fetches << " fetches");
    return fetches;
}

double sum_of(const Metrics& metrics, const std::string& name) {
    double total = 0;
    for (const auto& sample : metrics.matching(name)) {
        total += sample.value;
    }
    return total;
}

}  // namespace

TEST_CASE(
    "a refusing backend is ejected after its failures in a row, returns, and is ejected "
    "twice as long the next time") {
    Backend a = start_reply_backend("a");
    const std::string dead = "127.0.0.1:" + std::to_string(refused_port());
    Ringlb lb = start_ringlb(SimpleConfig({a.address(), dead})
                                 .global("\n[admin]\nbind = \"127.0.0.1:0\"")
                                 .pool("retries = 1" + passive(3, 400))
                                 .text());
    AdminClient admin{admin_port(*lb.process)};
    const std::string ejected = "backend ejected pool=p backend=" + backend_pattern(dead);
    const std::string returns = "backend returns pool=p backend=" + backend_pattern(dead);

    fetch_until_line(lb, ejected + " failures=3 for_ms=400", 0, kSlack);
    const auto refused = [&] {
        return parse_metrics(admin.get("/metrics").body)
            .at("ringlb_backend_connect_failures_total",
                {{"pool", "p"}, {"backend", dead}, {"reason", "refused"}});
    };
    const double refused_at_ejection = refused();
    // Ejected: nothing is sent its way (the line comes after the new live set is out).
    for (int i = 0; i < 10; ++i) {
        CHECK(fetch(lb.port) == "a\n");
    }
    CHECK(refused() == refused_at_ejection);
    const std::string status = admin.get("/status").body;
    CHECK(status.find("\"ejected\":true") != std::string::npos);

    const std::size_t before_return = lb.process->line_count();
    lb.process->wait_for_line(returns, 400ms + kSlack, before_return);
    // Back, it fails again and is out for twice as long.
    fetch_until_line(lb, ejected + " failures=3 for_ms=800", before_return, kSlack);
    const Metrics metrics = parse_metrics(admin.get("/metrics").body);
    CHECK(metrics.at("ringlb_backend_ejections_total", {{"pool", "p"}, {"backend", dead}}) == 2);
    CHECK(metrics.at("ringlb_backend_ejected", {{"pool", "p"}, {"backend", dead}}) == 1);
    CHECK(metrics.at("ringlb_backend_ejected", {{"pool", "p"}, {"backend", a.address()}}) == 0);
    CHECK(lb.process->running());
}

TEST_CASE("resets before the first byte count as failures, and a first byte ends the streak") {
    Backend a = start_reply_backend("a");
    OwnedListener flaky;
    Ringlb lb = start_ringlb(SimpleConfig({a.address(), flaky.address()})
                                 .workers(1)
                                 .global("\n[admin]\nbind = \"127.0.0.1:0\"")
                                 .pool("retries = 0" + passive(2, 60000))
                                 .text());
    AdminClient admin{admin_port(*lb.process)};
    const auto failures_of_flaky = [&] {
        const std::string status = admin.get("/status").body;
        const std::size_t at = status.find("\"address\":\"" + flaky.address() + "\"");
        REQUIRE(at != std::string::npos);
        const std::size_t field = status.find("\"passive_failures\":", at);
        REQUIRE(field != std::string::npos);
        return std::stoi(status.substr(field + 19));
    };
    // Round robin: the first connection goes to a, the second to flaky, and so on.
    const auto through_flaky = [&](bool answer_first) {
        CHECK(fetch(lb.port) == "a\n");
        ringlb::UniqueFd client = connect_to(lb.port);
        ringlb::UniqueFd accepted = flaky.accept(deadline_in(5s));
        if (answer_first) {
            send_all(accepted.get(), "x", deadline_in(2s));
            CHECK(read_exact(client.get(), 1, deadline_in(5s)) == "x");
        }
        reset_close(accepted);
        const ReadResult end = read_until_close(client.get(), deadline_in(5s));
        CHECK(end.closed());
    };

    through_flaky(false);  // a reset before any byte: failure 1
    CHECK(failures_of_flaky() == 1);
    through_flaky(true);  // it answered first: the streak is over, the reset does not count
    CHECK(failures_of_flaky() == 0);
    through_flaky(false);  // failure 1 again, not 2
    CHECK(failures_of_flaky() == 1);
    CHECK(lb.process->find_lines("backend ejected").empty());

    const std::size_t before = lb.process->line_count();
    through_flaky(false);  // failure 2: ejected
    lb.process->wait_for_line("backend ejected pool=p backend=" + backend_pattern(flaky.address()),
                              kSlack, before);
    for (int i = 0; i < 4; ++i) {
        CHECK(fetch(lb.port) == "a\n");
    }
    CHECK(lb.process->running());
}

TEST_CASE(
    "max_ejected_percent keeps the rest of the pool in; a reload without passive "
    "ejection lets the ejected one back") {
    Backend a = start_reply_backend("a");
    const std::string dead1 = "127.0.0.1:" + std::to_string(refused_port());
    const std::string dead2 = "127.0.0.1:" + std::to_string(refused_port());
    const auto config = [&](const std::string& extra) {
        return SimpleConfig({a.address(), dead1, dead2})
            .global("\n[admin]\nbind = \"127.0.0.1:0\"")
            .pool("retries = 2" + extra)
            .text();
    };
    Ringlb lb = start_ringlb(config(passive(1, 60000, 50)));
    AdminClient admin{admin_port(*lb.process)};

    fetch_until_line(lb, "backend ejected pool=p", 0, kSlack);
    // One of three is 33 %: a second would be 67 % > 50 %. The other dead one keeps failing
    // and is counted instead of ejected.
    const Deadline deadline = deadline_in(kSlack);
    double overflow = 0;
    while (overflow == 0 && Clock::now() < deadline) {
        CHECK(fetch(lb.port) == "a\n");
        overflow = sum_of(parse_metrics(admin.get("/metrics").body),
                          "ringlb_backend_ejections_overflow_total");
    }
    const Metrics metrics = parse_metrics(admin.get("/metrics").body);
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(overflow >= 1);
    CHECK(sum_of(metrics, "ringlb_backend_ejected") == 1);
    CHECK(sum_of(metrics, "ringlb_backend_ejections_total") == 1);

    const std::size_t before = lb.process->line_count();
    reload_ringlb(lb, config(""));
    lb.process->wait_for_line("backend returns pool=p", kSlack, before);
    CHECK(sum_of(parse_metrics(admin.get("/metrics").body), "ringlb_backend_ejected") == 0);
    CHECK(lb.process->running());
}
