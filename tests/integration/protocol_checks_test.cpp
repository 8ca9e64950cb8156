// SPDX-License-Identifier: MIT
// Protocol health checks (pool.health.type send_expect and http, health.port, health.send_proxy)
// through the real binary: what the backend answers decides whether it takes traffic.
#include <catch2/catch.hpp>

#include <cstdio>
#include <map>
#include <string>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// A loaded 2-core machine may run a probe late.
constexpr milliseconds kHealthWait = 3000ms;
const std::string kAdmin = "\n[admin]\nbind = \"127.0.0.1:0\"\n";
const std::string kHttp200 = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
const std::string kHttp503 = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";

// A backend that answers `reply` once it has read `request` (after `delay_ms`).
Backend start_responder(const std::string& request, const std::string& reply, unsigned delay_ms = 0,
                        bool log_received = false) {
    BackendOptions options;
    options.mode = "respond";
    options.request = request;
    options.reply = reply;
    if (delay_ms > 0) {
        options.delay_ms = delay_ms;
    }
    options.log_received = log_received;
    return start_backend(options);
}

std::string backend_pattern(const Backend& backend) {
    return "127\\.0\\.0\\.1:" + std::to_string(backend.port) + "\\b";
}

// Waits for "backend down ... reason=\"REASON\"" about `backend`.
void wait_down(Ringlb& lb, const Backend& backend, const std::string& reason,
               std::size_t from = 0) {
    lb.process->wait_for_line("warn +backend down pool=p backend=" + backend_pattern(backend) +
                                  " reason=\"" + regex_escape(reason) + "\"",
                              kHealthWait, from);
}

void wait_up(Ringlb& lb, const Backend& backend, std::size_t from) {
    lb.process->wait_for_line("info +backend up pool=p backend=" + backend_pattern(backend),
                              kHealthWait, from);
}

// The /status entry of the backend at `address` in pool "p".
Json backend_status(const AdminClient& admin, const std::string& address) {
    const Json status = parse_json(admin.get("/status").body);
    for (const Json& pool : status.at("pools").array) {
        for (const Json& backend : pool.at("backends").array) {
            if (backend.at("address").string == address) {
                return backend;
            }
        }
    }
    throw HarnessError("no backend " + address + " in /status");
}

// `count` connections through ringlb, each sending `request` and reading to EOF; the replies
// counted by text ("error" for a connection that failed).
std::map<std::string, int> exchange_counts(std::uint16_t port, const std::string& request,
                                           int count) {
    std::map<std::string, int> replies;
    for (int i = 0; i < count; ++i) {
        try {
            const RawExchange exchange = exchange_raw(port, request, 2s);
            ++replies[exchange.eof ? exchange.data : "error"];
        } catch (const HarnessError&) {
            ++replies["error"];
        }
    }
    return replies;
}

std::string hex(std::string_view bytes) {
    std::string out;
    for (unsigned char byte : bytes) {
        char pair[3];
        std::snprintf(pair, sizeof pair, "%02x", byte);
        out += pair;
    }
    return out;
}

}  // namespace

TEST_CASE("send_expect: only the backend whose reply contains expect, in time, is up") {
    Backend right = start_responder("PING\r\n", "+PONG\r\n");
    Backend wrong = start_responder("PING\r\n", "+LOADING\r\n");
    Backend silent = start_backend("silent");
    Backend late = start_responder("PING\r\n", "+PONG\r\n", 1500);
    Ringlb lb = start_ringlb(
        SimpleConfig({right.address(), wrong.address(), silent.address(), late.address()})
            .global(kAdmin)
            .pool("retries = 0\n[pool.health]\ntype = \"send_expect\"\nsend = \"PING\\r\\n\"\n"
                  "expect = \"+PONG\"\ninterval_ms = 300\ntimeout_ms = 200\nrise = 1\n"
                  "fall = 1\n")
            .text());
    AdminClient admin(admin_port(*lb.process));

    wait_down(lb, wrong, "unexpected reply");
    wait_down(lb, silent, "reply timeout");
    wait_down(lb, late, "reply timeout");

    // Only `right` takes clients now.
    const auto replies = exchange_counts(lb.port, "PING\r\n", 12);
    INFO("replies: " << describe_counts(replies) << "\nringlb output:\n" << lb.process->tail());
    CHECK(replies == std::map<std::string, int>{{"+PONG\r\n", 12}});
    CHECK(lb.process->find_lines("backend down pool=p backend=" + backend_pattern(right)).empty());

    const Json good = backend_status(admin, right.address());
    CHECK(good.at("healthy").boolean);
    CHECK(good.at("check").string == "passed");
    const Json bad = backend_status(admin, wrong.address());
    CHECK_FALSE(bad.at("healthy").boolean);
    CHECK(bad.at("check").string == "unexpected_reply");
    CHECK(bad.at("check_reason").string == "unexpected reply");
    CHECK(backend_status(admin, silent.address()).at("check").string == "reply_timeout");

    const Metrics metrics = get_metrics(admin);
    CHECK(metrics.at(
              "ringlb_health_checks_total",
              {{"pool", "p"}, {"backend", wrong.address()}, {"result", "unexpected_reply"}}) >= 1);
    CHECK(metrics.at("ringlb_health_checks_total",
                     {{"pool", "p"}, {"backend", right.address()}, {"result", "passed"}}) >= 1);
    CHECK(metrics.at("ringlb_health_checks_total",
                     {{"pool", "p"}, {"backend", right.address()}, {"result", "reply_timeout"}}) ==
          0);
}

TEST_CASE("http: a backend answering 503 is down, one answering 200 is up") {
    Backend ok = start_responder("\r\n\r\n", kHttp200, 0, true);
    Backend failing = start_responder("\r\n\r\n", kHttp503);
    Ringlb lb = start_ringlb(SimpleConfig({ok.address(), failing.address()})
                                 .global(kAdmin)
                                 .pool("retries = 0\n[pool.health]\ntype = \"http\"\n"
                                       "http_path = \"/healthz\"\nhttp_host = \"svc.test\"\n"
                                       "interval_ms = 300\ntimeout_ms = 200\nrise = 1\nfall = 1\n")
                                 .text());
    AdminClient admin(admin_port(*lb.process));

    wait_down(lb, failing, "status 503");
    // The probe's request as the backend read it.
    ok.process->wait_for_line(
        "^received " + hex("GET /healthz HTTP/1.1\r\nHost: svc.test\r\nConnection: close\r\n"),
        kHealthWait);

    const auto replies = exchange_counts(lb.port, "GET / HTTP/1.1\r\n\r\n", 10);
    INFO("replies: " << describe_counts(replies) << "\nringlb output:\n" << lb.process->tail());
    CHECK(replies == std::map<std::string, int>{{kHttp200, 10}});
    CHECK(backend_status(admin, ok.address()).at("check").string == "passed");
    const Json bad = backend_status(admin, failing.address());
    CHECK(bad.at("check").string == "bad_status");
    CHECK(bad.at("check_reason").string == "status 503");
}

TEST_CASE("http: expect_status decides which statuses pass") {
    Backend failing = start_responder("\r\n\r\n", kHttp503);
    Ringlb lb = start_ringlb(SimpleConfig({failing.address()})
                                 .pool("[pool.health]\ntype = \"http\"\nexpect_status = "
                                       "\"200-299, 503\"\ninterval_ms = 200\ntimeout_ms = 150\n"
                                       "rise = 1\nfall = 1\n")
                                 .global(kAdmin)
                                 .text());
    AdminClient admin(admin_port(*lb.process));
    const Deadline deadline = deadline_in(kHealthWait);
    std::string check;
    while (check != "passed" && Clock::now() < deadline) {
        check = backend_status(admin, failing.address()).at("check").string;
    }
    CHECK(check == "passed");
    CHECK(backend_status(admin, failing.address()).at("healthy").boolean);
}

TEST_CASE("health.port: the probe goes to its own port, with the PROXY header asked for") {
    Backend traffic = start_reply_backend("t");
    Backend checker = start_responder("PING\r\n", "+PONG\r\n", 0, true);
    Ringlb lb = start_ringlb(
        SimpleConfig({traffic.address()})
            .pool("[pool.health]\ntype = \"send_expect\"\nsend = \"PING\\r\\n\"\nexpect = "
                  "\"+PONG\"\nport = " +
                  std::to_string(checker.port) +
                  "\nsend_proxy = \"v2\"\ninterval_ms = 200\ntimeout_ms = 150\nrise = 1\n"
                  "fall = 1\n")
            .text());
    // A v2 header with the LOCAL command and no addresses, then the check's request.
    checker.process->wait_for_line(
        "^received 0d0a0d0a000d0a515549540a"
        "20"
        "00"
        "0000",
        kHealthWait);
    CHECK(fetch(lb.port) == "t\n");

    // The traffic port still listens; only the check port decides.
    const std::size_t before = lb.process->line_count();
    checker.pause();
    wait_down(lb, traffic, "Connection refused", before);
    const std::size_t before_up = lb.process->line_count();
    checker.resume();
    wait_up(lb, traffic, before_up);
}

TEST_CASE("health.send_proxy follows the pool's send_proxy: v1 sends PROXY UNKNOWN") {
    Backend traffic = start_responder("PING\r\n", "+PONG\r\n", 0, true);
    Ringlb lb =
        start_ringlb(SimpleConfig({traffic.address()})
                         .pool("send_proxy = \"v1\"\n[pool.health]\ntype = \"send_expect\"\n"
                               "send = \"PING\\r\\n\"\nexpect = \"+PONG\"\ninterval_ms = 200\n"
                               "timeout_ms = 150\n")
                         .text());
    traffic.process->wait_for_line("^received " + hex("PROXY UNKNOWN\r\n"), kHealthWait);
}

TEST_CASE("a reload changes what the checks expect") {
    Backend loading = start_responder("PING\r\n", "+LOADING\r\n");
    auto config = [&](const std::string& health) {
        return SimpleConfig({loading.address()})
            .pool("[pool.health]\ninterval_ms = 200\ntimeout_ms = 150\nrise = 1\nfall = 1\n" +
                  health)
            .text();
    };
    Ringlb lb = start_ringlb(config(""));  // type = "connect": up

    std::size_t before = lb.process->line_count();
    reload_ringlb(lb, config("type = \"send_expect\"\nsend = \"PING\\r\\n\"\nexpect = "
                             "\"+PONG\"\n"));
    wait_down(lb, loading, "unexpected reply", before);

    before = lb.process->line_count();
    reload_ringlb(lb, config("type = \"send_expect\"\nsend = \"PING\\r\\n\"\nexpect = "
                             "\"LOADING\"\n"));
    wait_up(lb, loading, before);
}
