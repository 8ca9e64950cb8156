// SPDX-License-Identifier: MIT
// Nothing per connection at log_level = info: connections that end well, are denied or find
// their backend refusing add no line to ringlb's stderr after "ready"; at debug they do.
#include <signal.h>

#include <catch2/catch.hpp>

#include <string>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr int kConnections = 50;

// Three listeners: "ok" over a reply backend, "denied" refusing 127.0.0.1, "refused" over a
// backend where nothing listens (retries = 0).
std::string config(const std::string& level, const std::string& reply) {
    return "[global]\nworkers = 2\nlog_level = \"" + level + "\"\n" + listener_table("ok", "ok") +
           listener_table("denied", "ok", "deny = [\"127.0.0.1\"]") +
           listener_table("refused", "refused") + pool_table("ok", {reply}) +
           pool_table("refused", {"127.0.0.1:" + std::to_string(refused_port())}, "retries = 0");
}

// Runs kConnections through each listener, then makes ringlb write a line of its own
// (SIGUSR1 logs one at info) and waits for it: every line written before it has been read.
// Returns the lines between "ready" and that one.
std::vector<std::string> lines_from_connections(Ringlb& lb) {
    const std::size_t after_ready = lb.process->line_count();
    for (int i = 0; i < kConnections; ++i) {
        CHECK(fetch(lb.port_of("ok")) == "r\n");
        CHECK(fetch(lb.port_of("denied")).empty());
        CHECK(fetch(lb.port_of("refused")).empty());
    }
    lb.process->signal(SIGUSR1);
    const LineMatch marker =
        lb.process->wait_for_line(R"(SIGUSR1: reopening access log files)", 5s, after_ready);
    std::vector<std::string> lines;
    const std::vector<OutputLine> all = lb.process->lines();
    for (std::size_t i = after_ready; i < marker.index; ++i) {
        lines.push_back(all[i].text);
    }
    return lines;
}

}  // namespace

TEST_CASE("at log_level info, 150 connections of every ending write no line") {
    Backend reply = start_reply_backend("r");
    Ringlb lb = start_ringlb(config("info", reply.address()));
    const std::vector<std::string> lines = lines_from_connections(lb);
    std::string text;
    for (const std::string& line : lines) {
        text += line + "\n";
    }
    INFO("lines after ready:\n" << text);
    CHECK(lines.empty());
}

TEST_CASE("at log_level debug the same connections are logged (the test can see them)") {
    Backend reply = start_reply_backend("r");
    Ringlb lb = start_ringlb(config("debug", reply.address()));
    const std::vector<std::string> lines = lines_from_connections(lb);
    std::size_t connect_failures = 0;
    for (const std::string& line : lines) {
        connect_failures += line.find("debug pool refused: connect to") != std::string::npos;
    }
    INFO("lines after ready: " << lines.size());
    CHECK(connect_failures == kConnections);
}
