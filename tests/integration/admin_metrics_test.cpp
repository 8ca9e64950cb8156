// SPDX-License-Identifier: MIT
// Admin /metrics: valid Prometheus text with every documented family, exact after traffic.
#include <catch2/catch.hpp>

#include <regex>
#include <set>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

using Labels = std::map<std::string, std::string>;

// True when no backend has a connection open, i.e. every relay has finished its accounting.
bool all_idle(const Metrics& metrics) {
    const auto active = metrics.matching("ringlb_connections_active");
    return !active.empty() && std::all_of(active.begin(), active.end(),
                                          [](const MetricSample& s) { return s.value == 0; });
}

// ringlb with three listeners and pools: "echo" and "sink" over a backend of that mode,
// "refused" over an address where nothing listens (retries = 0); the admin API on port 0.
struct ThreePools final {
    Backend echo = start_backend("echo");
    Backend sink = start_backend("sink");
    std::string refused = "127.0.0.1:" + std::to_string(refused_port());
    Ringlb lb = start_ringlb(
        "[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:0\"\n" +
        listener_table("echo", "echo") + listener_table("sink", "sink") +
        listener_table("refused", "refused") + pool_table("echo", {echo.address()}) +
        pool_table("sink", {sink.address()}) + pool_table("refused", {refused}, "retries = 0"));
    AdminClient admin{admin_port(*lb.process)};
};

}  // namespace

TEST_CASE("/metrics is valid Prometheus text with every documented family and label set") {
    ThreePools three;
    auto& [echo, sink, refused, lb, admin] = three;

    const HttpReply reply = admin.get("/metrics");
    INFO("ringlb output:\n" << lb.process->tail());
    REQUIRE(reply.status == 200);
    CHECK(reply.header("Content-Type").value_or("").rfind("text/plain; version=0.0.4", 0) == 0);
    INFO("metrics:\n" << reply.body);
    const Metrics metrics = parse_metrics(reply.body);

    // Each family: its type and the exact set of label names every sample carries.
    const std::map<std::string, std::pair<std::string, std::set<std::string>>> families = {
        {"ringlb_connections_accepted_total", {"counter", {"listener"}}},
        {"ringlb_connections_rejected_total", {"counter", {"listener", "reason"}}},
        {"ringlb_connections_active", {"gauge", {"pool", "backend"}}},
        {"ringlb_backend_connections_total", {"counter", {"pool", "backend"}}},
        {"ringlb_backend_bytes_total", {"counter", {"pool", "backend", "direction"}}},
        {"ringlb_backend_connect_failures_total", {"counter", {"pool", "backend", "reason"}}},
        {"ringlb_backend_up", {"gauge", {"pool", "backend"}}},
        {"ringlb_build_info", {"gauge", {"version"}}},
    };
    for (const auto& [name, spec] : families) {
        INFO("family " << name);
        REQUIRE(metrics.types.count(name) == 1);
        CHECK(metrics.types.at(name) == spec.first);
        const auto samples = metrics.matching(name);
        CHECK_FALSE(samples.empty());
        for (const MetricSample& sample : samples) {
            std::set<std::string> label_names;
            for (const auto& [label, value] : sample.labels) {
                label_names.insert(label);
            }
            CHECK(label_names == spec.second);
        }
    }

    // One series per listener, and per backend of every pool.
    for (const char* listener : {"echo", "sink", "refused"}) {
        CHECK(metrics.at("ringlb_connections_accepted_total", {{"listener", listener}}) == 0);
        for (const char* reason : {"no_backend", "no_slot", "no_fd"}) {
            CHECK(metrics.at("ringlb_connections_rejected_total",
                             {{"listener", listener}, {"reason", reason}}) == 0);
        }
    }
    for (const auto& [pool, backend] : std::vector<std::pair<std::string, std::string>>{
             {"echo", echo.address()}, {"sink", sink.address()}, {"refused", refused}}) {
        const Labels labels = {{"pool", pool}, {"backend", backend}};
        CHECK(metrics.at("ringlb_connections_active", labels) == 0);
        CHECK(metrics.at("ringlb_backend_connections_total", labels) == 0);
        for (const char* direction : {"in", "out"}) {
            Labels with = labels;
            with["direction"] = direction;
            CHECK(metrics.at("ringlb_backend_bytes_total", with) == 0);
        }
        for (const char* reason : {"refused", "timeout"}) {
            Labels with = labels;
            with["reason"] = reason;
            CHECK(metrics.at("ringlb_backend_connect_failures_total", with) == 0);
        }
        // Without health checks a backend counts as up.
        CHECK(metrics.at("ringlb_backend_up", labels) == 1);
    }

    const auto build = metrics.matching("ringlb_build_info");
    REQUIRE(build.size() == 1);
    CHECK(build[0].value == 1);
    CHECK(std::regex_match(build[0].labels.at("version"), std::regex(R"(\d+\.\d+\.\d+.*)")));
    // The version is the one the binary reports.
    const RunResult version = run_process({ringlb_binary(), "--version"});
    CHECK(version.stdout_text.find(build[0].labels.at("version")) != std::string::npos);
}

TEST_CASE("after traffic stops, accepted, connection, byte and failure counters are exact") {
    ThreePools three;
    auto& [echo, sink, refused, lb, admin] = three;
    const std::uint16_t echo_port = lb.port_of("echo");
    const std::uint16_t sink_port = lb.port_of("sink");
    const std::uint16_t refused_listener = lb.port_of("refused");

    // 12345 bytes each way over 3 echo connections.
    const std::uint64_t echo_sizes[] = {4000, 4000, 4345};
    for (std::uint64_t i = 0; i < 3; ++i) {
        ringlb::UniqueFd fd = connect_to(echo_port);
        const DuplexResult result =
            duplex_transfer(fd.get(), i + 1, echo_sizes[i], deadline_in(5s));
        REQUIRE(result.received == echo_sizes[i]);
        CHECK(result.received_hash == stream_hash(i + 1, echo_sizes[i]));
    }
    // 2 x 1000 bytes to the sink; it answers with a line whose length we count.
    std::uint64_t sink_out = 0;
    for (std::uint64_t i = 0; i < 2; ++i) {
        ringlb::UniqueFd fd = connect_to(sink_port);
        const DuplexResult result = duplex_transfer(fd.get(), 10 + i, 1000, deadline_in(5s));
        REQUIRE(result.received > 0);
        sink_out += result.received;
    }
    // 2 connections to a pool whose only backend refuses (retries = 0): closed, no bytes.
    for (int i = 0; i < 2; ++i) {
        ringlb::UniqueFd fd = connect_to(refused_listener);
        const ReadResult result = read_until_close(fd.get(), deadline_in(3s));
        REQUIRE(result.closed());
        CHECK(result.data.empty());
    }

    const Metrics metrics = wait_for_metrics(admin, all_idle);
    INFO("ringlb output:\n" << lb.process->tail());
    REQUIRE(all_idle(metrics));
    const Labels echo_backend = {{"pool", "echo"}, {"backend", echo.address()}};
    const Labels sink_backend = {{"pool", "sink"}, {"backend", sink.address()}};
    const Labels refused_backend = {{"pool", "refused"}, {"backend", refused}};
    auto with = [](Labels labels, const std::string& key, const std::string& value) {
        labels[key] = value;
        return labels;
    };

    CHECK(metrics.at("ringlb_connections_accepted_total", {{"listener", "echo"}}) == 3);
    CHECK(metrics.at("ringlb_connections_accepted_total", {{"listener", "sink"}}) == 2);
    CHECK(metrics.at("ringlb_connections_accepted_total", {{"listener", "refused"}}) == 2);

    CHECK(metrics.at("ringlb_backend_connections_total", echo_backend) == 3);
    CHECK(metrics.at("ringlb_backend_connections_total", sink_backend) == 2);
    CHECK(metrics.at("ringlb_backend_connections_total", refused_backend) == 0);

    CHECK(metrics.at("ringlb_backend_bytes_total", with(echo_backend, "direction", "in")) == 12345);
    CHECK(metrics.at("ringlb_backend_bytes_total", with(echo_backend, "direction", "out")) ==
          12345);
    CHECK(metrics.at("ringlb_backend_bytes_total", with(sink_backend, "direction", "in")) == 2000);
    CHECK(metrics.at("ringlb_backend_bytes_total", with(sink_backend, "direction", "out")) ==
          static_cast<double>(sink_out));
    CHECK(metrics.at("ringlb_backend_bytes_total", with(refused_backend, "direction", "in")) == 0);

    CHECK(metrics.at("ringlb_backend_connect_failures_total",
                     with(refused_backend, "reason", "refused")) == 2);
    CHECK(metrics.at("ringlb_backend_connect_failures_total",
                     with(refused_backend, "reason", "timeout")) == 0);
    CHECK(metrics.at("ringlb_backend_connect_failures_total",
                     with(echo_backend, "reason", "refused")) == 0);
    CHECK(metrics.at("ringlb_connections_rejected_total",
                     {{"listener", "refused"}, {"reason", "no_backend"}}) == 2);
    CHECK(metrics.at("ringlb_connections_rejected_total",
                     {{"listener", "echo"}, {"reason", "no_backend"}}) == 0);

    // A scrape changes nothing: the figures stay put while no traffic flows.
    const Metrics again = get_metrics(admin);
    CHECK(again.at("ringlb_backend_bytes_total", with(echo_backend, "direction", "in")) == 12345);
    CHECK(again.at("ringlb_connections_accepted_total", {{"listener", "echo"}}) == 3);
}

TEST_CASE("ringlb_connections_active counts a held connection and drops when it closes") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(
        SimpleConfig({echo.address()}).global("\n[admin]\nbind = \"127.0.0.1:0\"").text());
    AdminClient admin(admin_port(*lb.process));
    const Labels backend = {{"pool", "p"}, {"backend", echo.address()}};

    ringlb::UniqueFd first = connect_to(lb.port);
    ringlb::UniqueFd second = connect_to(lb.port);
    for (int fd : {first.get(), second.get()}) {
        send_all(fd, "ping\n", deadline_in(2s));
        CHECK(read_exact(fd, 5, deadline_in(2s)) == "ping\n");
    }
    Metrics metrics = get_metrics(admin);
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(metrics.at("ringlb_connections_active", backend) == 2);

    first.reset();
    metrics = wait_for_metrics(
        admin, [&](const Metrics& m) { return m.at("ringlb_connections_active", backend) == 1; });
    CHECK(metrics.at("ringlb_connections_active", backend) == 1);
    second.reset();
    metrics = wait_for_metrics(admin, all_idle);
    CHECK(metrics.at("ringlb_connections_active", backend) == 0);
    CHECK(metrics.at("ringlb_backend_connections_total", backend) == 2);
}

TEST_CASE("ringlb_backend_up flips to 0 when health checks find a backend down") {
    Backend live = start_backend("echo");
    Backend doomed = start_backend("echo");
    Ringlb lb = start_ringlb(
        SimpleConfig({live.address(), doomed.address()})
            .global("\n[admin]\nbind = \"127.0.0.1:0\"")
            .pool("[pool.health]\ninterval_ms = 100\ntimeout_ms = 100\nrise = 1\nfall = 1\n")
            .text());
    AdminClient admin(admin_port(*lb.process));
    const Labels live_labels = {{"pool", "p"}, {"backend", live.address()}};
    const Labels doomed_labels = {{"pool", "p"}, {"backend", doomed.address()}};

    Metrics metrics = wait_for_metrics(admin, [&](const Metrics& m) {
        return m.at("ringlb_backend_up", live_labels) == 1 &&
               m.at("ringlb_backend_up", doomed_labels) == 1;
    });
    INFO("ringlb output:\n" << lb.process->tail());
    REQUIRE(metrics.at("ringlb_backend_up", doomed_labels) == 1);

    const std::size_t before = lb.process->line_count();
    const std::string doomed_address = doomed.address();
    doomed.process->kill();
    lb.process->wait_for_line("backend down pool=p backend=" + regex_escape(doomed_address) + "\\b",
                              3000ms, before);
    // The log line and the gauge come from the same state change; allow the scrape a moment.
    metrics = wait_for_metrics(
        admin, [&](const Metrics& m) { return m.at("ringlb_backend_up", doomed_labels) == 0; });
    CHECK(metrics.at("ringlb_backend_up", doomed_labels) == 0);
    CHECK(metrics.at("ringlb_backend_up", live_labels) == 1);
}

// The checks above are only as strict as the parser: it must refuse what Prometheus refuses.
TEST_CASE("the exposition parser used here rejects malformed metrics text") {
    const std::string good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n";
    CHECK(parse_metrics(good).at("a_total", {{"x", "1"}}) == 3);
    const char* bad[] = {
        "a_total 1\n",                                                // no TYPE
        "# TYPE a counter\na 1",                                      // no final newline
        "# TYPE a counter\na{x=1} 1\n",                               // unquoted label value
        "# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n",                   // label twice
        "# TYPE a counter\na{x=\"1\"} 1\na{x=\"1\"} 2\n",             // series twice
        "# TYPE a counter\na one\n",                                  // value not a number
        "# TYPE a counter\n# TYPE a gauge\na 1\n",                    // two TYPEs
        "# TYPE a counter\n# TYPE b gauge\na 1\nb 1\na{y=\"\"} 1\n",  // family not contiguous
        "# TYPE a counter\na{x=\"\\q\"} 1\n",                         // bad escape
        "# TYPE a wrong\na 1\n",                                      // unknown type
        "# TYPE 1a counter\n1a 1\n",                                  // bad name
        "# TYPE a counter\na 1\n# TYPE a counter\n",                  // TYPE after samples
    };
    for (const char* text : bad) {
        INFO("text: " << text);
        CHECK_THROWS_AS(parse_metrics(text), HarnessError);
    }
}

TEST_CASE("names with quotes, backslashes and non-ASCII keep /metrics and /status valid") {
    // TOML literal strings: the backslash and the quote are part of the names.
    const std::string listener = "we\"b\\café☕";
    const std::string pool = "p\"o\\ol-naïve";
    Backend reply = start_reply_backend("r");
    Ringlb lb = start_ringlb(
        "[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:0\"\n\n"
        "[[listener]]\nname = 'we\"b\\café☕'\nbind = \"127.0.0.1:0\"\n"
        "pool = 'p\"o\\ol-naïve'\n\n"
        "[[pool]]\nname = 'p\"o\\ol-naïve'\n" +
        backends_toml({reply.address()}));
    INFO("ringlb output:\n" << lb.process->tail());
    REQUIRE(fetch(lb.port) == "r\n");
    AdminClient admin(admin_port(*lb.process));

    const HttpReply metrics_reply = admin.get("/metrics");
    REQUIRE(metrics_reply.status == 200);
    INFO("metrics:\n" << metrics_reply.body);
    // Every line is checked against the text format; the names come back unescaped.
    const Metrics metrics = parse_metrics(metrics_reply.body);
    CHECK(metrics.at("ringlb_connections_accepted_total", {{"listener", listener}}) == 1);
    CHECK(metrics.at("ringlb_backend_connections_total",
                     {{"pool", pool}, {"backend", reply.address()}}) == 1);

    const HttpReply status_reply = admin.get("/status");
    REQUIRE(status_reply.status == 200);
    INFO("status: " << status_reply.body);
    const Json status = parse_json(status_reply.body);
    REQUIRE(status.at("listeners").array.size() == 1);
    CHECK(status.at("listeners").array[0].at("name").string == listener);
    CHECK(status.at("listeners").array[0].at("pool").string == pool);
    REQUIRE(status.at("pools").array.size() == 1);
    CHECK(status.at("pools").array[0].at("name").string == pool);
}

TEST_CASE("a listener or pool name with a control character is refused at load with its place") {
    // A tab (TOML escape \t) would break the whole scrape: Prometheus has no escape for it.
    Backend reply = start_reply_backend("r");
    const std::string text =
        "[[listener]]\nname = \"we\\tb\"\nbind = \"127.0.0.1:0\"\n"
        "pool = \"p\"\n\n[[pool]]\nname = \"p\\u0007\"\n" +
        backends_toml({reply.address()});
    TempFile file(text);
    for (const bool check_only : {true, false}) {
        std::vector<std::string> argv = {ringlb_binary(), "--config", file.path()};
        if (check_only) {
            argv.insert(argv.begin() + 1, "--check");
        }
        const RunResult result = run_process(argv);
        INFO((check_only ? "--check" : "run")
             << ": " << result.status.to_string() << "\nstderr: " << result.stderr_text);
        CHECK(result.status.exited_with(2));
        CHECK(result.stderr_text.find(
                  file.path() +
                  ":2:8: listener #1: name \"we\\tb\" contains the control character U+0009") !=
              std::string::npos);
        CHECK(result.stderr_text.find(
                  file.path() +
                  ":7:8: pool #1: name \"p\\u0007\" contains the control character U+0007") !=
              std::string::npos);
    }
}
