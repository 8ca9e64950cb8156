// SPDX-License-Identifier: MIT
// Admin API: /healthz, /status, backend actions, bearer tokens and a robust HTTP endpoint.
#include <catch2/catch.hpp>

#include <signal.h>

#include <map>
#include <thread>

#include "admin_client.hpp"
#include "harness.hpp"
#include "owned_listener.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

const std::string kAdminTable = "\n[admin]\nbind = \"127.0.0.1:0\"\n";

Json get_status(const AdminClient& admin) {
    const HttpReply reply = admin.get("/status");
    INFO("GET /status answered " << reply.status << ": " << reply.body);
    REQUIRE(reply.status == 200);
    CHECK(reply.header("Content-Type").value_or("").rfind("application/json", 0) == 0);
    return parse_json(reply.body);
}

// The backend object for `address` in pool `pool` of a /status document.
const Json& status_backend(const Json& status, const std::string& pool,
                           const std::string& address) {
    for (const Json& each : status.at("pools").array) {
        if (each.at("name").string != pool) {
            continue;
        }
        for (const Json& backend : each.at("backends").array) {
            if (backend.at("address").string == address) {
                return backend;
            }
        }
    }
    throw HarnessError("/status has no backend " + address + " in pool " + pool);
}

// Where a new connection lands: connects, sends "?\n" and half-closes, reads to EOF. An
// echo backend answers "?\n", a reply backend its name; a failure is "error".
std::string landing(std::uint16_t port) {
    try {
        const Deadline deadline = deadline_in(3s);
        ringlb::UniqueFd fd = connect_to(port);
        send_all(fd.get(), "?\n", deadline);
        shutdown_write(fd.get());
        return read_until_eof(fd.get(), deadline);
    } catch (const HarnessError&) {
        return "error";
    }
}

std::map<std::string, int> landings(std::uint16_t port, int count) {
    std::map<std::string, int> seen;
    for (int i = 0; i < count; ++i) {
        ++seen[landing(port)];
    }
    return seen;
}

// A connection held open through ringlb to the echo backend (the one that echoes "hold\n"),
// trying up to `attempts` connections; an empty UniqueFd when none landed there.
ringlb::UniqueFd hold_on_echo(std::uint16_t port, int attempts) {
    for (int attempt = 0; attempt < attempts; ++attempt) {
        ringlb::UniqueFd fd = connect_to(port);
        send_all(fd.get(), "hold\n", deadline_in(2s));
        if (read_line(fd.get(), deadline_in(2s)) == "hold\n") {
            return fd;
        }
    }
    return {};
}

int count_of(const std::map<std::string, int>& seen, const std::string& reply) {
    const auto it = seen.find(reply);
    return it == seen.end() ? 0 : it->second;
}

}  // namespace

TEST_CASE("/healthz says ok and /status is JSON with listeners, pools, backends and states") {
    Backend echo = start_backend("echo");
    Backend other = start_reply_backend("b");
    const std::string drained = "127.0.0.1:" + std::to_string(refused_port());
    Ringlb lb = start_ringlb(
        SimpleConfig({})
            .global(kAdminTable)
            .pool("algorithm = \"weighted_round_robin\"\n\n  [[pool.backend]]\n  address = \"" +
                  echo.address() + "\"\n  weight = 3\n\n  [[pool.backend]]\n  address = \"" +
                  other.address() + "\"\n\n  [[pool.backend]]\n  address = \"" + drained +
                  "\"\n  state = \"drain\"\n")
            .text());
    AdminClient admin(admin_port(*lb.process));
    INFO("ringlb output:\n" << lb.process->tail());

    const HttpReply health = admin.get("/healthz");
    CHECK(health.status == 200);
    CHECK(health.body == "ok\n");

    // A connection held open to the echo backend shows up as "active" there.
    ringlb::UniqueFd held = hold_on_echo(lb.port, 6);
    REQUIRE(held);

    const Json status = get_status(admin);
    REQUIRE(status.at("listeners").array.size() == 1);
    CHECK(status.at("listeners").array[0].at("name").string == "in");
    CHECK(status.at("listeners").array[0].at("pool").string == "p");
    CHECK(status.at("shutting_down").kind == Json::Kind::boolean);
    CHECK_FALSE(status.at("shutting_down").boolean);
    REQUIRE(status.at("pools").array.size() == 1);
    const Json& pool = status.at("pools").array[0];
    CHECK(pool.at("name").string == "p");
    CHECK(pool.at("algorithm").string == "weighted_round_robin");
    CHECK(pool.at("backends").array.size() == 3);

    const Json& e = status_backend(status, "p", echo.address());
    CHECK(e.at("state").string == "active");
    CHECK(e.at("healthy").kind == Json::Kind::boolean);
    CHECK(e.at("healthy").boolean);
    CHECK(e.at("weight").number == 3);
    CHECK(e.at("active").number == 1);
    const Json& b = status_backend(status, "p", other.address());
    CHECK(b.at("state").string == "active");
    CHECK(b.at("weight").number == 1);
    CHECK(b.at("active").number == 0);
    const Json& d = status_backend(status, "p", drained);
    CHECK(d.at("state").string == "drain");
    CHECK(d.at("active").number == 0);

    held.reset();
}

TEST_CASE(
    "/healthz answers 503 while shutting down; the process exits 0 when the last client goes") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(
        SimpleConfig({echo.address()}).global("shutdown_grace_ms = 30000\n" + kAdminTable).text());
    AdminClient admin(admin_port(*lb.process));
    INFO("ringlb output:\n" << lb.process->tail());
    REQUIRE(admin.get("/healthz").status == 200);

    ringlb::UniqueFd held = connect_to(lb.port);
    send_all(held.get(), "one\n", deadline_in(2s));
    REQUIRE(read_line(held.get(), deadline_in(2s)) == "one\n");

    const std::size_t before = lb.process->line_count();
    lb.process->signal(SIGTERM);
    lb.process->wait_for_line("stopping signal=", 3000ms, before);
    // The flag is set right after the "stopping" line: poll briefly for it.
    HttpReply health = admin.get("/healthz");
    for (const Deadline deadline = deadline_in(3s); health.status == 200 && Clock::now() < deadline;
         health = admin.get("/healthz")) {
        std::this_thread::sleep_for(10ms);
    }
    CHECK(health.status == 503);
    CHECK(health.body.find("shutting down") != std::string::npos);
    // The held connection still relays during the grace period, and the status says why.
    send_all(held.get(), "two\n", deadline_in(2s));
    CHECK(read_line(held.get(), deadline_in(2s)) == "two\n");
    const Json status = get_status(admin);
    CHECK(status.at("shutting_down").boolean);
    CHECK(lb.process->running());

    const auto closed_at = Clock::now();
    held.reset();
    const ExitStatus exit = lb.process->require_exit(10000ms);
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - closed_at);
    CHECK(exit.exited_with(0));
    INFO("exit " << took.count() << " ms after the last client closed");
    CHECK(took < 10000ms);  // long before the 30 s grace
}

TEST_CASE("drain, enable and disable act on new connections at once; open ones keep relaying") {
    Backend echo = start_backend("echo");
    Backend other = start_reply_backend("b");
    Ringlb lb =
        start_ringlb(SimpleConfig({echo.address(), other.address()}).global(kAdminTable).text());
    AdminClient admin(admin_port(*lb.process));
    const std::string action_base = "/pools/p/backends/";
    INFO("ringlb output:\n" << lb.process->tail());

    // Both serve to begin with ("?\n" is the echo backend, "b\n" the other).
    {
        const auto seen = landings(lb.port, 10);
        INFO("before: " << describe_counts(seen));
        REQUIRE(count_of(seen, "?\n") >= 3);
        REQUIRE(count_of(seen, "b\n") >= 3);
    }
    ringlb::UniqueFd held = hold_on_echo(lb.port, 4);
    REQUIRE(held);

    SECTION("drain, then enable") {
        const HttpReply drained = admin.post(action_base + echo.address() + "/drain");
        INFO("drain: " << drained.status << " " << drained.body);
        REQUIRE(drained.status == 200);
        CHECK(parse_json(drained.body).at("state").string == "drain");

        const auto while_drained = landings(lb.port, 20);
        INFO("while drained: " << describe_counts(while_drained));
        CHECK(count_of(while_drained, "b\n") == 20);
        // The connection opened before the drain keeps relaying both ways.
        send_all(held.get(), "still here\n", deadline_in(2s));
        CHECK(read_line(held.get(), deadline_in(2s)) == "still here\n");
        const Json status = get_status(admin);
        const Json& backend = status_backend(status, "p", echo.address());
        CHECK(backend.at("state").string == "drain");
        CHECK(backend.at("active").number == 1);
        held.reset();

        const HttpReply enabled = admin.post(action_base + echo.address() + "/enable");
        REQUIRE(enabled.status == 200);
        CHECK(parse_json(enabled.body).at("state").string == "active");
        const auto after = landings(lb.port, 20);
        INFO("after enable: " << describe_counts(after));
        CHECK(count_of(after, "?\n") >= 8);
        CHECK(count_of(after, "b\n") >= 8);
    }
    SECTION("disable, then enable (the address percent-encoded)") {
        std::string encoded = other.address();
        encoded.replace(encoded.find(':'), 1, "%3A");
        const HttpReply disabled = admin.post(action_base + encoded + "/disable");
        INFO("disable: " << disabled.status << " " << disabled.body);
        REQUIRE(disabled.status == 200);
        CHECK(parse_json(disabled.body).at("state").string == "disabled");
        const auto while_disabled = landings(lb.port, 20);
        INFO("while disabled: " << describe_counts(while_disabled));
        CHECK(count_of(while_disabled, "?\n") == 20);
        CHECK(status_backend(get_status(admin), "p", other.address()).at("state").string ==
              "disabled");

        REQUIRE(admin.post(action_base + encoded + "/enable").status == 200);
        const auto after = landings(lb.port, 20);
        INFO("after enable: " << describe_counts(after));
        CHECK(count_of(after, "?\n") >= 8);
        CHECK(count_of(after, "b\n") >= 8);
    }
}

TEST_CASE("weight?value=N changes the weighted_round_robin split for new connections") {
    Backend a = start_reply_backend("a");
    Backend b = start_reply_backend("b");
    Ringlb lb = start_ringlb(SimpleConfig({a.address(), b.address()})
                                 .global(kAdminTable)
                                 .pool("algorithm = \"weighted_round_robin\"")
                                 .text());
    AdminClient admin(admin_port(*lb.process));
    INFO("ringlb output:\n" << lb.process->tail());

    const std::map<std::string, int> before = fetch_counts(lb.port, 200);
    INFO("1:1 over 200: " << describe_counts(before));
    CHECK(count_of(before, "a\n") >= 94);  // 50% +- 3%
    CHECK(count_of(before, "a\n") <= 106);
    CHECK(count_of(before, "a\n") + count_of(before, "b\n") == 200);

    const HttpReply reply = admin.post("/pools/p/backends/" + a.address() + "/weight?value=3");
    INFO("weight: " << reply.status << " " << reply.body);
    REQUIRE(reply.status == 200);
    CHECK(parse_json(reply.body).at("weight").number == 3);
    CHECK(status_backend(get_status(admin), "p", a.address()).at("weight").number == 3);

    const std::map<std::string, int> after = fetch_counts(lb.port, 400);
    INFO("3:1 over 400: " << describe_counts(after));
    CHECK(count_of(after, "a\n") >= 288);  // 75% +- 3%
    CHECK(count_of(after, "a\n") <= 312);
    CHECK(count_of(after, "a\n") + count_of(after, "b\n") == 400);
}

TEST_CASE("action errors: unknown pool or backend 404, bad weight 400, GET 405; nothing changes") {
    Backend a = start_reply_backend("a");
    Ringlb lb = start_ringlb(SimpleConfig({a.address()})
                                 .global(kAdminTable)
                                 .pool("algorithm = \"weighted_round_robin\"")
                                 .text());
    AdminClient admin(admin_port(*lb.process));
    const std::string backend = "/pools/p/backends/" + a.address();
    INFO("ringlb output:\n" << lb.process->tail());

    CHECK(admin.post("/pools/nope/backends/" + a.address() + "/drain").status == 404);
    CHECK(admin.post("/pools/p/backends/127.0.0.1:1/drain").status == 404);
    CHECK(admin.post("/pools/p/backends/not-an-address/enable").status == 404);
    CHECK(admin.post("/pools/nope/backends/127.0.0.1:1/weight?value=2").status == 404);
    CHECK(admin.post(backend + "/explode").status == 404);
    for (const char* query : {"", "?value=", "?value=0", "?value=-1", "?value=abc", "?value=2x",
                              "?value=1001", "?value=99999999999999999999", "?weight=2"}) {
        INFO("query \"" << query << "\"");
        const HttpReply reply = admin.post(backend + "/weight" + query);
        CHECK(reply.status == 400);
    }
    for (const char* action : {"drain", "enable", "disable", "weight?value=2"}) {
        INFO("GET " << action);
        const HttpReply reply = admin.get(backend + "/" + action);
        CHECK(reply.status == 405);
        CHECK(reply.header("Allow").value_or("") == "POST");
    }
    CHECK(admin.post("/metrics").status == 405);

    const Json status = get_status(admin);
    const Json& after = status_backend(status, "p", a.address());
    CHECK(after.at("state").string == "active");
    CHECK(after.at("weight").number == 1);
    CHECK(fetch(lb.port) == "a\n");
}

TEST_CASE("with token_file every route needs the bearer token: 401 without it, 200 with it") {
    Backend a = start_reply_backend("a");
    TempFile token_file("  s3cret-Token_42  \nsecond line ignored\n", ".token");
    Ringlb lb = start_ringlb(SimpleConfig({a.address()})
                                 .global("\n[admin]\nbind = \"127.0.0.1:0\"\ntoken_file = \"" +
                                         token_file.path() + "\"\n")
                                 .text());
    const std::uint16_t port = admin_port(*lb.process);
    const AdminClient anonymous(port);
    const AdminClient wrong(port, "s3cret-Token_4");
    const AdminClient authorised(port, "s3cret-Token_42");
    const std::string drain = "/pools/p/backends/" + a.address() + "/drain";
    INFO("ringlb output:\n" << lb.process->tail());

    const std::vector<std::pair<std::string, std::string>> routes = {
        {"GET", "/metrics"}, {"GET", "/healthz"}, {"GET", "/status"},
        {"POST", drain},     {"GET", "/nope"},    {"GET", drain}};
    for (const auto& [method, target] : routes) {
        INFO(method << " " << target);
        const HttpReply none = anonymous.request(method, target);
        CHECK(none.status == 401);
        CHECK(none.header("WWW-Authenticate").value_or("").rfind("Bearer", 0) == 0);
        CHECK(wrong.request(method, target).status == 401);
        CHECK(anonymous.request(method, target, {"Authorization: Basic czNjcmV0LVRva2VuXzQy"})
                  .status == 401);
        CHECK(
            anonymous.request(method, target, {"Authorization: Bearer s3cret-Token_42x"}).status ==
            401);
    }
    // None of the refused drains took effect.
    CHECK(status_backend(get_status(authorised), "p", a.address()).at("state").string == "active");

    CHECK(authorised.get("/metrics").status == 200);
    CHECK(authorised.get("/healthz").status == 200);
    CHECK(authorised.get("/nope").status == 404);
    CHECK(authorised.request("GET", "/healthz", {}).body == "ok\n");
    CHECK(anonymous.request("GET", "/healthz", {"Authorization: bearer s3cret-Token_42"}).status ==
          200);  // the scheme is case-insensitive
    const HttpReply drained = authorised.post(drain);
    CHECK(drained.status == 200);
    CHECK(status_backend(get_status(authorised), "p", a.address()).at("state").string == "drain");
}

TEST_CASE("malformed requests get 400, unknown paths 404, oversized ones are cut off") {
    Backend a = start_reply_backend("a");
    Ringlb lb = start_ringlb(SimpleConfig({a.address()}).global(kAdminTable).text());
    const std::uint16_t port = admin_port(*lb.process);
    const AdminClient admin(port);
    INFO("ringlb output:\n" << lb.process->tail());

    const char* malformed[] = {
        "GARBAGE\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n\r\n",  // HTTP/1.1 without Host
        "GET /metrics HTTP/1.1\nHost: x\n\n",
        "GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    };
    for (const char* raw : malformed) {
        INFO("request: " << raw);
        const RawExchange exchange = exchange_raw(port, raw);
        REQUIRE(exchange.reply);
        CHECK(exchange.reply->status == 400);
        CHECK(exchange.eof);  // answered, then closed
    }

    for (const char* path :
         {"/nope", "/metrics/extra", "/pools", "/pools/p/backends", "/status.json"}) {
        INFO("GET " << path);
        CHECK(admin.get(path).status == 404);
    }
    // GET / is the stats page: HTML with a CSP that allows only its own inline blocks (the
    // page itself is driven in a browser by the stats_page test).
    const HttpReply index = admin.get("/");
    CHECK(index.status == 200);
    CHECK(index.header("Content-Type") == "text/html; charset=utf-8");
    CHECK(index.body.find("<title>ringlb stats</title>") != std::string::npos);
    const std::string csp = index.header("Content-Security-Policy").value_or("");
    CHECK(csp.find("default-src 'none'; script-src 'sha256-") == 0);
    CHECK(index.header("X-Content-Type-Options") == "nosniff");

    // 64 KiB of header fields: refused (413/431) or the connection is closed, never served
    // and never left hanging; the endpoint answers the next client right away.
    std::string huge = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; huge.size() < 64 * 1024; ++i) {
        huge += "X-Fill-" + std::to_string(i) + ": " + std::string(100, 'a') + "\r\n";
    }
    huge += "\r\n";
    const RawExchange cut = exchange_raw(port, huge, 5000ms);
    INFO("oversized: " << cut.data.size() << " bytes back, eof " << cut.eof << ", error "
                       << cut.error << ", timed out " << cut.timed_out);
    CHECK_FALSE(cut.timed_out);
    CHECK((cut.eof || cut.error != 0));
    if (cut.reply) {
        CHECK((cut.reply->status == 431 || cut.reply->status == 413));
    }
    const auto start = Clock::now();
    CHECK(admin.get("/healthz").status == 200);
    CHECK(Clock::now() - start < 1000ms);
    // A 64 KiB request line as well.
    const RawExchange long_line =
        exchange_raw(port, "GET /" + std::string(64 * 1024, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_FALSE(long_line.timed_out);
    CHECK((long_line.eof || long_line.error != 0));
    if (long_line.reply) {
        CHECK((long_line.reply->status == 414 || long_line.reply->status == 431));
    }
    CHECK(admin.get("/metrics").status == 200);
}

TEST_CASE("clients that send nothing, or half a request, do not hold up another client") {
    Backend a = start_reply_backend("a");
    Ringlb lb = start_ringlb(SimpleConfig({a.address()}).global(kAdminTable).text());
    const std::uint16_t port = admin_port(*lb.process);
    const AdminClient admin(port);
    INFO("ringlb output:\n" << lb.process->tail());

    std::vector<ringlb::UniqueFd> idle;
    for (int i = 0; i < 5; ++i) {
        idle.push_back(connect_to(port));
    }
    for (int i = 0; i < 3; ++i) {
        idle.push_back(connect_to(port));
        send_all(idle.back().get(), "GET /metr", deadline_in(1s));
    }
    for (const char* target : {"/healthz", "/status", "/metrics"}) {
        const auto start = Clock::now();
        const HttpReply reply = admin.request("GET", target, {}, 2000ms);
        const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
        INFO(target << " took " << took.count() << " ms");
        CHECK(reply.status == 200);
        CHECK(took < 1000ms);
    }
    // The half-sent request is still served once it is completed.
    send_all(idle.back().get(), "ics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
             deadline_in(1s));
    const std::string late = read_until_eof(idle.back().get(), deadline_in(3s));
    const auto reply = parse_http_reply(late);
    REQUIRE(reply);
    CHECK(reply->status == 200);
    CHECK(reply->body.find("ringlb_build_info") != std::string::npos);
}

// The /status checks are only as strict as the JSON parser used here.
TEST_CASE("the JSON parser used here accepts RFC 8259 documents and rejects malformed ones") {
    const Json document =
        parse_json(R"( {"a": [1, -2.5e3, true, false, null], "b": {"c": "x\"\\\u00e9\n"}} )");
    CHECK(document.at("a").array.size() == 5);
    CHECK(document.at("a").array[1].number == -2500);
    CHECK(document.at("a").array[2].boolean);
    CHECK(document.at("a").array[4].kind == Json::Kind::null);
    CHECK(document.at("b").at("c").string == "x\"\\\xc3\xa9\n");
    const char* bad[] = {"",         "{",          "{\"a\":1,}", "[1 2]",
                         "\"\x01\"", "01",         "{\"a\" 1}",  "[1,]",
                         "tru",      "{\"a\":1}x", "\"\\q\"",    "{\"a\":1,\"a\":2}",
                         "1.",       "-",          "{a:1}"};
    for (const char* text : bad) {
        INFO("text: " << text);
        CHECK_THROWS_AS(parse_json(text), HarnessError);
    }
}

TEST_CASE(
    "a reload changes the admin token, moves the endpoint or closes it; a bad bind changes "
    "nothing") {
    Backend a = start_reply_backend("a");
    TempFile token_file("rotated-token\n", ".token");
    const std::string with_token =
        "\n[admin]\nbind = \"127.0.0.1:0\"\ntoken_file = \"" + token_file.path() + "\"\n";
    Ringlb lb = start_ringlb(SimpleConfig({a.address()}).global(kAdminTable).text());
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t first_port = admin_port(*lb.process);
    CHECK(AdminClient(first_port).get("/healthz").status == 200);

    // The same bind with a token: the same socket, and from now on the token is required.
    reload_ringlb(lb, SimpleConfig({a.address()}).global(with_token).text());
    CHECK(AdminClient(first_port).get("/healthz").status == 401);
    CHECK(AdminClient(first_port, "rotated-token").get("/healthz").status == 200);

    // A new address: the endpoint moves, and the old port refuses.
    const std::uint16_t second_port = refused_port();
    const std::string moved = "\n[admin]\nbind = \"127.0.0.1:" + std::to_string(second_port) +
                              "\"\ntoken_file = \"" + token_file.path() + "\"\n";
    reload_ringlb(lb, SimpleConfig({a.address()}).global(moved).text());
    CHECK(AdminClient(second_port, "rotated-token").get("/healthz").status == 200);
    CHECK(try_connect(first_port, 1s).error == ECONNREFUSED);

    // An address that cannot be bound fails the whole reload: the endpoint stays as it was.
    OwnedListener taken;
    const std::string clash =
        "\n[admin]\nbind = \"127.0.0.1:" + std::to_string(taken.port()) + "\"\n";
    CHECK_THROWS_AS(reload_ringlb(lb, SimpleConfig({a.address()}).global(clash).text()),
                    HarnessError);
    CHECK(AdminClient(second_port, "rotated-token").get("/healthz").status == 200);
    CHECK(AdminClient(second_port).get("/healthz").status == 401);

    // Without [admin] the endpoint closes; traffic is untouched throughout.
    reload_ringlb(lb, SimpleConfig({a.address()}).text());
    CHECK(try_connect(second_port, 1s).error == ECONNREFUSED);
    CHECK(fetch(lb.port) == "a\n");
}
