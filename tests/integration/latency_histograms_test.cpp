// SPDX-License-Identifier: MIT
// The per-backend latency histograms of /metrics (connect, first byte, connection duration),
// through the real binary: one sample per connection, in the bucket its time belongs to.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <thread>

#include "admin_client.hpp"
#include "harness.hpp"
#include "owned_listener.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

using Labels = std::map<std::string, std::string>;

// Checks the series of histogram `name` for `labels` are a Prometheus histogram: buckets
// cumulative, +Inf equal to _count. Returns the count.
double check_histogram(const Metrics& metrics, const std::string& name, const Labels& labels) {
    INFO(name);
    CHECK(metrics.types.at(name) == "histogram");
    double previous = 0;
    double infinite = -1;
    for (const MetricSample& bucket : metrics.matching(name + "_bucket", labels)) {
        CHECK(bucket.value >= previous);
        previous = bucket.value;
        if (bucket.labels.at("le") == "+Inf") {
            infinite = bucket.value;
        }
    }
    const double count = metrics.at(name + "_count", labels);
    CHECK(infinite == count);
    return count;
}

// Polls /metrics until the duration histogram of `labels` holds `count` connections (each is
// recorded when its connection ends, just after the client saw the close).
Metrics wait_for_durations(const AdminClient& admin, const Labels& labels, double count) {
    const Deadline deadline = deadline_in(5s);
    for (;;) {
        Metrics metrics = parse_metrics(admin.get("/metrics").body);
        if (metrics.find("ringlb_connection_duration_seconds_count", labels) == count ||
            Clock::now() >= deadline) {
            return metrics;
        }
        std::this_thread::sleep_for(10ms);
    }
}

}  // namespace

TEST_CASE("connect, first-byte and duration histograms count each connection of a backend") {
    Backend echo = start_backend("echo");
    Backend greeter = start_greet_backend("hi");
    OwnedListener slow;
    Ringlb lb =
        start_ringlb("[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:0\"\n" +
                     listener_table("web", "p") + listener_table("slow", "s") +
                     listener_table("greet", "g") + pool_table("p", {echo.address()}) +
                     pool_table("s", {slow.address()}) + pool_table("g", {greeter.address()}));
    AdminClient admin(admin_port(*lb.process));

    constexpr int kEchoes = 5;
    for (int i = 0; i < kEchoes; ++i) {
        ringlb::UniqueFd fd = connect_to(lb.port_of("web"));
        send_all(fd.get(), "x\n", deadline_in(2s));
        REQUIRE(read_line(fd.get(), deadline_in(2s)) == "x\n");
    }
    {  // A backend that takes 300 ms to answer.
        ringlb::UniqueFd fd = connect_to(lb.port_of("slow"));
        ringlb::UniqueFd backend = slow.accept(deadline_in(2s));
        send_all(fd.get(), "q\n", deadline_in(2s));
        REQUIRE(read_exact(backend.get(), 2, deadline_in(2s)) == "q\n");
        std::this_thread::sleep_for(300ms);  // the latency being measured, not a wait
        send_all(backend.get(), "a\n", deadline_in(2s));
        REQUIRE(read_line(fd.get(), deadline_in(2s)) == "a\n");
    }
    {  // A backend that speaks first: no request to answer, so no first-byte sample.
        ringlb::UniqueFd fd = connect_to(lb.port_of("greet"));
        REQUIRE(read_line(fd.get(), deadline_in(2s)) == "hi\n");
    }

    const Labels web = {{"pool", "p"}, {"backend", echo.address()}};
    const Labels late = {{"pool", "s"}, {"backend", slow.address()}};
    const Labels greet = {{"pool", "g"}, {"backend", greeter.address()}};
    wait_for_durations(admin, late, 1);
    wait_for_durations(admin, greet, 1);
    const Metrics metrics = wait_for_durations(admin, web, kEchoes);

    CHECK(check_histogram(metrics, "ringlb_backend_connect_seconds", web) == kEchoes);
    CHECK(check_histogram(metrics, "ringlb_first_byte_seconds", web) == kEchoes);
    CHECK(check_histogram(metrics, "ringlb_connection_duration_seconds", web) == kEchoes);
    CHECK(metrics.at("ringlb_backend_connect_seconds_sum", web) > 0);

    CHECK(check_histogram(metrics, "ringlb_first_byte_seconds", late) == 1);
    CHECK(metrics.at("ringlb_first_byte_seconds_sum", late) >= 0.3);
    CHECK(metrics.at("ringlb_first_byte_seconds_bucket",
                     {{"pool", "s"}, {"backend", slow.address()}, {"le", "0.25"}}) == 0);
    CHECK(metrics.at("ringlb_first_byte_seconds_bucket",
                     {{"pool", "s"}, {"backend", slow.address()}, {"le", "0.5"}}) +
              metrics.at("ringlb_first_byte_seconds_bucket",
                         {{"pool", "s"}, {"backend", slow.address()}, {"le", "10"}}) >=
          1);
    CHECK(metrics.at("ringlb_connection_duration_seconds_sum", late) >= 0.3);

    CHECK(check_histogram(metrics, "ringlb_backend_connect_seconds", greet) == 1);
    CHECK(check_histogram(metrics, "ringlb_first_byte_seconds", greet) == 0);
    CHECK(check_histogram(metrics, "ringlb_connection_duration_seconds", greet) == 1);
}
