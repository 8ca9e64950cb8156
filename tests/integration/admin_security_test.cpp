// SPDX-License-Identifier: MIT
// Admin endpoint security through the real binary: no open admin by accident, the read and
// operator roles, failed-authentication accounting and hold-back, and token rotation.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/socket.h>

#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "admin_client.hpp"
#include "harness.hpp"
#include "temp_dir.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    REQUIRE(out.good());
}

std::string admin_table(const std::string& lines) {
    return "\n[admin]\n" + lines + "\n";
}

// The port of an admin endpoint bound to any address ("admin listening address=A:PORT").
std::uint16_t any_admin_port(Process& ringlb, std::size_t from = 0) {
    const LineMatch match =
        ringlb.wait_for_line(R"(admin listening address=\S*:(\d+) )", 5000ms, from);
    return static_cast<std::uint16_t>(std::stoul(match.groups[1]));
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t count = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++count;
    }
    return count;
}

// The metric's value from GET /metrics with `client`.
double metric(const AdminClient& client, const std::string& name) {
    const HttpReply reply = client.get("/metrics");
    REQUIRE(reply.status == 200);
    return parse_metrics(reply.body).at(name);
}

// One request with a bearer token from a chosen source address (127.x.y.z), on its own
// connection; the parsed response, or nullopt when none came whole before the timeout.
std::optional<HttpReply> request_from(const std::string& source, std::uint16_t port,
                                      const std::string& method, const std::string& path,
                                      const std::string& token, milliseconds timeout = 5000ms) {
    const Deadline deadline = deadline_in(timeout);
    ringlb::UniqueFd fd = connect_from(source, port);
    std::string raw = method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    if (!token.empty()) {
        raw += "Authorization: Bearer " + token + "\r\n";
    }
    if (method == "POST") {
        raw += "Content-Length: 0\r\n";
    }
    raw += "\r\n";
    send_all(fd.get(), raw, deadline);
    return parse_http_reply(read_until_close(fd.get(), deadline).data);
}

}  // namespace

TEST_CASE("an admin bind off loopback without a token is a config error, also on reload") {
    Backend echo = start_backend("echo");
    const std::string base = SimpleConfig({echo.address()}).text();

    SECTION("--check and start-up: FILE:LINE:COL, exit 2") {
        // Line numbers: the [admin] table comes last, its bind on the line after the header.
        const std::string text = base + admin_table("bind = \"0.0.0.0:0\"");
        TempFile config(text);
        const std::size_t header_line =
            static_cast<std::size_t>(
                std::count(text.begin(), text.begin() + text.find("[admin]"), '\n')) +
            1;
        const std::string place =
            regex_escape(config.path()) + ":" + std::to_string(header_line + 1) + ":8: ";
        for (const bool check : {true, false}) {
            std::vector<std::string> argv = {ringlb_binary(), "--config", config.path()};
            if (check) {
                argv.insert(argv.begin() + 1, "--check");
            }
            const RunResult result = run_process(argv);
            INFO("stderr: " << result.stderr_text);
            CHECK(result.status.exited_with(2));
            CHECK(std::regex_search(
                result.stderr_text,
                std::regex(place + "admin bind 0\\.0\\.0\\.0:0 is not a loopback address and no "
                                   "token is set")));
        }
        // [::] too; loopback of either family is fine without a token.
        TempFile v6(base + admin_table("bind = \"[::]:0\""));
        CHECK(
            run_process({ringlb_binary(), "--check", "--config", v6.path()}).status.exited_with(2));
        for (const char* loopback : {"127.0.0.1:0", "127.3.4.5:0", "[::1]:0"}) {
            TempFile fine(base + admin_table(std::string("bind = \"") + loopback + "\""));
            INFO(loopback);
            CHECK(run_process({ringlb_binary(), "--check", "--config", fine.path()})
                      .status.exited_with(0));
        }
    }

    SECTION("a reload to such a table fails and the running endpoint stays") {
        Ringlb lb = start_ringlb(base + admin_table("bind = \"127.0.0.1:0\""));
        INFO("ringlb output:\n" << lb.process->tail());
        const AdminClient admin(admin_port(*lb.process));
        REQUIRE(admin.get("/healthz").status == 200);

        const std::size_t before = lb.process->line_count();
        write_file(lb.config->path(), base + admin_table("bind = \"0.0.0.0:0\""));
        lb.process->signal(SIGHUP);
        lb.process->wait_for_line(
            R"(reload: .*admin bind 0\.0\.0\.0:0 is not a loopback address and no token is set)",
            5000ms, before);
        lb.process->wait_for_line(R"(reload failed: 1 error)", 5000ms, before);
        CHECK(admin.get("/healthz").status == 200);
        CHECK(parse_metrics(admin.get("/metrics").body)
                  .at("ringlb_reloads_total", {{"result", "failure"}}) == 1);
    }
}

TEST_CASE("allow_without_token = true serves an open admin off loopback, warning each time") {
    Backend echo = start_backend("echo");
    const std::string text = SimpleConfig({echo.address()}).text() +
                             admin_table("bind = \"0.0.0.0:0\"\nallow_without_token = true");
    Ringlb lb = start_ringlb(text);
    INFO("ringlb output:\n" << lb.process->tail());
    const std::string warning = R"(warn .*admin endpoint on 0\.0\.0\.0:0 is open to the network )"
                                R"(without a token)";
    lb.process->wait_for_line(warning, 2000ms);
    const AdminClient admin(any_admin_port(*lb.process));
    CHECK(admin.get("/healthz").status == 200);

    const std::size_t before = lb.process->line_count();
    reload_ringlb(lb, text);
    lb.process->wait_for_line(warning, 2000ms, before);
}

TEST_CASE("the read token may only GET; the operator token may do everything; tokens rotate") {
    Backend echo = start_backend("echo");
    TempDir dir;
    const std::string operator_file = dir.file("operator.token");
    const std::string read_file = dir.file("read.token");
    write_file(operator_file, "op-secret-1\n");
    write_file(read_file, "read-secret-1\n");
    // Off loopback (0.0.0.0, reached through 127.0.0.1) with both tokens: no error, no
    // "open" warning.
    const std::string text = SimpleConfig({echo.address()}).text() +
                             admin_table("bind = \"0.0.0.0:0\"\ntoken_file = \"" + operator_file +
                                         "\"\nread_token_file = \"" + read_file + "\"");
    Ringlb lb = start_ringlb(text);
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t port = any_admin_port(*lb.process);
    CHECK(lb.process->find_lines("open to the network").empty());
    const std::string drain = "/pools/p/backends/" + echo.address() + "/drain";
    const std::string enable = "/pools/p/backends/" + echo.address() + "/enable";

    const AdminClient reader(port, "read-secret-1");
    const AdminClient operator_client(port, "op-secret-1");
    const AdminClient nobody(port);
    const AdminClient wrong(port, "op-secret-2");
    for (const char* path : {"/metrics", "/status", "/healthz"}) {
        INFO("GET " << path);
        CHECK(reader.get(path).status == 200);
        CHECK(operator_client.get(path).status == 200);
        CHECK(nobody.get(path).status == 401);
        CHECK(wrong.get(path).status == 401);
    }
    // The stats page's shell holds no data: anyone may load it; its own requests need a token.
    CHECK(nobody.get("/").status == 200);
    CHECK(nobody.post("/").status == 401);
    const HttpReply refused = reader.post(drain);
    CHECK(refused.status == 403);
    CHECK(refused.body.find("only GET") != std::string::npos);
    CHECK(nobody.post(drain).status == 401);
    CHECK(reader.request("PUT", "/metrics").status == 403);
    // The refused POST changed nothing; the operator's does.
    CHECK(parse_json(reader.get("/status").body)
              .at("pools")
              .array[0]
              .at("backends")
              .array[0]
              .at("state")
              .string == "active");
    CHECK(operator_client.post(drain).status == 200);
    CHECK(operator_client.post(enable).status == 200);

    // Rotation: new files, a reload, and only the new tokens work.
    write_file(operator_file, "op-secret-2\n");
    write_file(read_file, "read-secret-2\n");
    reload_ringlb(lb, text);
    CHECK(operator_client.get("/metrics").status == 401);
    CHECK(reader.get("/metrics").status == 401);
    CHECK(AdminClient(port, "op-secret-2").post(drain).status == 200);
    CHECK(AdminClient(port, "read-secret-2").get("/metrics").status == 200);
    CHECK(AdminClient(port, "read-secret-2").post(enable).status == 403);

    // The same token in both files is an error (the read token would allow everything).
    write_file(read_file, "op-secret-2\n");
    const RunResult same = run_process({ringlb_binary(), "--check", "--config", lb.config->path()});
    CHECK(same.status.exited_with(2));
    CHECK(same.stderr_text.find("read_token_file holds the same token as token_file") !=
          std::string::npos);
}

TEST_CASE("failed authentications are counted, logged once a second per address, and held back") {
    Backend echo = start_backend("echo");
    TempDir dir;
    const std::string token_file = dir.file("admin.token");
    write_file(token_file, "good-token\n");
    Ringlb lb =
        start_ringlb(SimpleConfig({echo.address()}).text() +
                     admin_table("bind = \"127.0.0.1:0\"\ntoken_file = \"" + token_file + "\""));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t port = admin_port(*lb.process);
    const AdminClient admin(port, "good-token");
    REQUIRE(metric(admin, "ringlb_admin_auth_failures_total") == 0);

    SECTION("counted and logged at most once a second per client address") {
        const auto started = Clock::now();
        for (int i = 0; i < 5; ++i) {
            CHECK(request_from("127.0.0.2", port, "GET", "/metrics", "bad")->status == 401);
            CHECK(request_from("127.0.0.3", port, "GET", "/metrics", "")->status == 401);
        }
        const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
        CHECK(metric(admin, "ringlb_admin_auth_failures_total") == 10);
        // At most one line per started second for each address, and at least the first.
        const std::size_t allowed = 1 + static_cast<std::size_t>(took.count() / 1000);
        const auto lines_2 = lb.process->find_lines(
            R"(authentication failed client=127\.0\.0\.2 .*reason=wrong-token)");
        const auto lines_3 = lb.process->find_lines(
            R"(authentication failed client=127\.0\.0\.3 .*reason=no-token)");
        INFO("5 failures per address in " << took.count() << " ms");
        CHECK(lines_2.size() >= 1);
        CHECK(lines_2.size() <= allowed);
        CHECK(lines_3.size() >= 1);
        CHECK(lines_3.size() <= allowed);
    }

    SECTION("more than 10 in a second: that address waits, everyone else is served at once") {
        // 11 failures pipelined on one connection reach the server in one read, so they fall
        // within one second whatever the load on the machine.
        std::string pipelined;
        for (int i = 0; i < 11; ++i) {
            pipelined += "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n";
        }
        {
            ringlb::UniqueFd fd = connect_from("127.0.0.4", port);
            const Deadline deadline = deadline_in(5s);
            send_all(fd.get(), pipelined, deadline);
            std::string seen;
            while (count_of(seen, "HTTP/1.1 401 ") < 11) {
                const ReadResult more = read_until_close(fd.get(), deadline_in(100ms));
                seen += more.data;
                REQUIRE(Clock::now() < deadline);
                REQUIRE_FALSE(more.closed());
            }
        }
        lb.process->wait_for_line(
            R"(client=127\.0\.0\.4 failed authentication more than 10 times in a second)", 2000ms);

        // Now even a request with the right token from that address waits...
        const auto sent_at = Clock::now();
        ringlb::UniqueFd held = connect_from("127.0.0.4", port);
        send_all(held.get(),
                 "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Authorization: Bearer good-token\r\n\r\n",
                 deadline_in(2s));
        // ...while another address is answered at once: the admin loop does not sleep. (The
        // margin: these requests need to finish within the 2 s hold, which loopback
        // requests on a loaded 2-core machine do with room to spare.)
        for (int i = 0; i < 3; ++i) {
            const auto other = request_from("127.0.0.5", port, "GET", "/healthz", "good-token");
            REQUIRE(other);
            CHECK(other->status == 200);
        }
        CHECK(admin.get("/healthz").status == 200);
        char probe = 0;
        const ssize_t early = ::recv(held.get(), &probe, 1, MSG_DONTWAIT);
        INFO("recv on the held connection: "
             << early << " after "
             << std::chrono::duration_cast<milliseconds>(Clock::now() - sent_at).count() << " ms");
        CHECK(early < 0);  // nothing yet: the held request is still waiting

        const ReadResult answer = read_until_close(held.get(), deadline_in(10s));
        const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - sent_at);
        const auto reply = parse_http_reply(answer.data);
        REQUIRE(reply);
        CHECK(reply->status == 200);
        INFO("held for " << waited.count() << " ms");
        CHECK(waited >= 1900ms);  // 2 s from when the server had it; ms rounding aside
        CHECK(metric(admin, "ringlb_admin_auth_failures_total") == 11);
    }
}
