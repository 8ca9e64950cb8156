// SPDX-License-Identifier: MIT
// global.shutdown_delay_ms: on SIGTERM /healthz answers 503 at once while the listeners keep
// accepting for the delay (so a routing layer can withdraw the host first), then the grace
// period starts as before; a reload sets the delay, and a second SIGTERM cuts it short.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <csignal>
#include <cstring>
#include <thread>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// Whether connects to `port` are refused (the listener closed) before a deadline that only
// bounds a hang.
bool refused_soon(std::uint16_t port) {
    for (const Deadline refuse_by = deadline_in(10s); Clock::now() < refuse_by;) {
        if (try_connect(port, 500ms).error == ECONNREFUSED) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

}  // namespace

TEST_CASE(
    "with shutdown_delay_ms, SIGTERM makes /healthz 503 at once, the listeners accept for the "
    "delay, then they close and ringlb exits 0") {
    // Long enough that the fetches below land inside it even under a sanitizer on a loaded
    // machine (each is a few milliseconds); only its lower bound is checked.
    constexpr int kDelayMs = 5000;
    Backend a = start_reply_backend("a");
    Ringlb lb = start_ringlb(SimpleConfig({a.address()})
                                 .global(fmt::format("shutdown_delay_ms = {}\n\n[admin]\nbind = "
                                                     "\"127.0.0.1:0\"\n",
                                                     kDelayMs))
                                 .text());
    AdminClient admin(admin_port(*lb.process));
    REQUIRE(admin.get("/healthz").status == 200);

    const auto signalled = Clock::now();
    const std::size_t from = lb.process->line_count();
    lb.process->signal(SIGTERM);
    lb.process->wait_for_line(
        fmt::format(R"(stopping signal=\S+ healthz=503 listeners=open delay_ms={})", kDelayMs), 5s,
        from);
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(admin.get("/healthz").status == 503);
    for (int i = 0; i < 5; ++i) {
        CHECK(fetch(lb.port) == "a\n");
    }
    CHECK(lb.process->find_lines("listeners=closed", from).empty());

    lb.process->wait_for_line(R"(stopping signal=\S+ listeners=closed)", 20s, from);
    const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - signalled).count();
    CHECK(waited >= kDelayMs);
    CHECK(refused_soon(lb.port));
    const ExitStatus status = lb.process->require_exit(10s);
    CHECK(status.exited_with(0));
}

TEST_CASE("a reload sets shutdown_delay_ms, and a second SIGTERM cuts the delay short") {
    Backend a = start_reply_backend("a");
    const auto config = [&](unsigned delay_ms) {
        return SimpleConfig({a.address()})
            .global(fmt::format("shutdown_delay_ms = {}\n\n[admin]\nbind = \"127.0.0.1:0\"\n",
                                delay_ms))
            .text();
    };
    Ringlb lb = start_ringlb(config(0));
    AdminClient admin(admin_port(*lb.process));
    reload_ringlb(lb, config(600000));

    const std::size_t from = lb.process->line_count();
    lb.process->signal(SIGTERM);
    lb.process->wait_for_line("healthz=503 listeners=open delay_ms=600000", 5s, from);
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(admin.get("/healthz").status == 503);
    CHECK(fetch(lb.port) == "a\n");

    lb.process->signal(SIGTERM);
    lb.process->wait_for_line("delay cut short", 5s, from);
    lb.process->wait_for_line(R"(stopping signal=\S+ listeners=closed)", 5s, from);
    CHECK(refused_soon(lb.port));
    const ExitStatus status = lb.process->require_exit(10s);
    CHECK(status.exited_with(0));
}
