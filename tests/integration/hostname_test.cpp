// SPDX-License-Identifier: MIT
// Host-name backends: resolved at start-up and used; re-resolved every pool.resolve_interval_ms.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;
using ringlb::UniqueFd;

namespace {

// ringlb-testbackend in reply mode on an explicit address; nullopt when it cannot bind there.
std::unique_ptr<Process> try_reply_backend(const std::string& listen, const std::string& reply) {
    auto process = std::make_unique<Process>(
        "backend(" + reply + ")", std::vector<std::string>{backend_binary(), "--mode", "reply",
                                                           "--listen", listen, "--reply", reply});
    if (!process->try_wait_for_line(R"(^listening )", 5000ms)) {
        return nullptr;
    }
    return process;
}

std::string http_get(std::uint16_t port, const std::string& path) {
    UniqueFd fd = connect_to(port);
    send_all(fd.get(), "GET " + path + " HTTP/1.0\r\nHost: test\r\n\r\n", deadline_in(2s));
    return read_until_eof(fd.get(), deadline_in(3s));
}

void write_file(const std::string& path, const std::string& text) {
    // In place (same inode), so that a bind mount of this file shows the new text.
    std::ofstream out(path, std::ios::trunc);
    out << text;
    REQUIRE(out.good());
}

// Fetches until the reply is `wanted` (bounded), returning the last reply.
std::string fetch_until(std::uint16_t port, const std::string& wanted, milliseconds timeout) {
    const Deadline deadline = deadline_in(timeout);
    std::string reply = fetch(port);
    while (reply != wanted && Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
        reply = fetch(port);
    }
    return reply;
}

}  // namespace

TEST_CASE("a backend named localhost:PORT is resolved at start-up and relayed to") {
    Backend v4 = start_reply_backend("via-127.0.0.1");
    // Should this system resolve localhost to ::1 first, that address serves too.
    auto v6 = try_reply_backend(fmt::format("[::1]:{}", v4.port), "via-::1");

    const std::string config = fmt::format(
        "[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:0\"\n\n"
        "[[listener]]\nname = \"in\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\n"
        "[[pool]]\nname = \"p\"\nretries = 0\n{}",
        backends_toml({fmt::format("localhost:{}", v4.port)}));
    Ringlb lb = start_ringlb(config);
    INFO("ringlb output:\n" << lb.process->tail());

    const std::string reply = fetch(lb.port);
    INFO("reply: " << reply);
    REQUIRE((reply == "via-127.0.0.1\n" || (v6 && reply == "via-::1\n")));
    // Every connection goes to the one resolved address.
    for (int i = 0; i < 5; ++i) {
        CHECK(fetch(lb.port) == reply);
    }

    // The admin API names the backend by its text and shows what it resolved to.
    const auto admin =
        lb.process->wait_for_line(R"(admin listening address=127\.0\.0\.1:(\d+))", 2000ms);
    const std::string status =
        http_get(static_cast<std::uint16_t>(std::stoul(admin.groups[1])), "/status");
    const std::string resolved = reply == "via-127.0.0.1\n" ? fmt::format("127.0.0.1:{}", v4.port)
                                                            : fmt::format("[::1]:{}", v4.port);
    INFO("status: " << status);
    CHECK(status.find(fmt::format("\"address\":\"localhost:{}\",\"resolved\":\"{}\"", v4.port,
                                  resolved)) != std::string::npos);
}

// To change what a name resolves to without touching the system's /etc/hosts, ringlb runs in
// a private mount namespace where a temp file is bind-mounted over /etc/hosts (and one over
// /etc/resolv.conf, pointing DNS at a closed local port so that a miss fails fast). Needs
// root (CAP_SYS_ADMIN) and unshare(1) from util-linux.
TEST_CASE("a host-name backend is resolved again every resolve_interval_ms") {
    require_root("a private mount namespace with its own /etc/hosts");
    const std::string unshare = require_command("unshare", "util-linux");
    const std::string shell = require_command("sh", "dash");

    constexpr const char* kName = "ringlb-backend.test";
    Backend first = start_reply_backend("first");
    const std::uint16_t port = first.port;
    // The same port on another loopback address: only the resolved address differs.
    auto second = try_reply_backend(fmt::format("127.0.0.2:{}", port), "second");
    REQUIRE(second);

    TempFile hosts(fmt::format("127.0.0.1 {}\n", kName), ".hosts");
    TempFile resolv("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", ".resolv");
    const std::string config = fmt::format(
        "[global]\nworkers = 2\n\n"
        "[[listener]]\nname = \"in\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\n"
        "[[pool]]\nname = \"p\"\nretries = 0\nresolve_interval_ms = 1000\n{}",
        backends_toml({fmt::format("{}:{}", kName, port)}));
    // sh mounts, then execs ringlb (the rest of its arguments), so the pid is ringlb's.
    Ringlb ringlb = start_ringlb_under(
        {unshare, "-m", "--propagation", "private", shell, "-c",
         "mount --bind \"$1\" /etc/hosts && mount --bind \"$2\" /etc/resolv.conf && shift 2 && "
         "exec \"$@\"",
         "sh", hosts.path(), resolv.path()},
        config);
    Process& lb = *ringlb.process;
    const std::uint16_t lb_port = ringlb.port;
    INFO("ringlb output:\n" << lb.tail());

    CHECK(fetch(lb_port) == "first\n");

    const std::size_t before_change = lb.line_count();
    write_file(hosts.path(), fmt::format("127.0.0.2 {}\n", kName));
    lb.wait_for_line(fmt::format(R"(backend address changed pool=p backend={}:{} )"
                                 R"(from=127\.0\.0\.1:{} to=127\.0\.0\.2:{})",
                                 kName, port, port, port),
                     3000ms, before_change);
    CHECK(fetch_until(lb_port, "second\n", 2000ms) == "second\n");
    for (int i = 0; i < 3; ++i) {
        CHECK(fetch(lb_port) == "second\n");
    }

    // A name that stops resolving keeps the last address rather than losing the backend.
    const std::size_t before_removal = lb.line_count();
    write_file(hosts.path(), "127.0.0.1 somebody-else.test\n");
    lb.wait_for_line(
        fmt::format(R"(backend {}:{}: cannot resolve; keeping 127\.0\.0\.2:{})", kName, port, port),
        5000ms, before_removal);
    CHECK(fetch(lb_port) == "second\n");
}
