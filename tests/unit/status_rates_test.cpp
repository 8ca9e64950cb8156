// SPDX-License-Identifier: MIT
// StatusRates: rates between samples of the counters, the spacing of samples and the window.
#include "ringlb/admin/status_rates.hpp"

#include <catch2/catch.hpp>

#include "ringlb/loader/loader.hpp"

namespace {

using ringlb::Generation;
using ringlb::StatusRates;

std::unique_ptr<Generation> generation() {
    const auto loaded = ringlb::config::load_config_string(R"(
[[listener]]
name = "web"
bind = "127.0.0.1:8080"
pool = "app"

[[pool]]
name = "app"
  [[pool.backend]]
  address = "127.0.0.1:9001"
  [[pool.backend]]
  address = "127.0.0.1:9002"
)",
                                                           "test.toml");
    REQUIRE(loaded.config);
    return std::make_unique<Generation>(*loaded.config, nullptr, std::vector<std::string>{}, 1, 0,
                                        1);
}

}  // namespace

TEST_CASE("rates are the counters' growth over the time between the oldest and newest sample") {
    auto g = generation();
    auto& a = *g->pools[0]->members()[0];
    StatusRates rates;
    rates.sample(*g, 10'000);
    CHECK(rates.window_ms() == 0);  // one sample: no rate yet
    CHECK(rates.backend("app", "127.0.0.1:9001").connections == 0);

    a.connections_total += 20;
    a.bytes_in += 4000;
    a.bytes_out += 8000;
    g->listeners[0].stats->accepted += 30;
    rates.sample(*g, 10'500);  // within the spacing: not taken
    CHECK(rates.window_ms() == 0);
    rates.sample(*g, 12'000);
    REQUIRE(rates.window_ms() == 2000);
    const StatusRates::Rate r = rates.backend("app", "127.0.0.1:9001");
    CHECK(r.connections == Approx(10.0));
    CHECK(r.bytes_in == Approx(2000.0));
    CHECK(r.bytes_out == Approx(4000.0));
    CHECK(rates.backend("app", "127.0.0.1:9002").connections == 0);
    CHECK(rates.listener("web").connections == Approx(15.0));
    CHECK(rates.backend("app", "nowhere:1").connections == 0);
}

TEST_CASE("samples older than the window go, but the newest of them stays as the base") {
    auto g = generation();
    auto& a = *g->pools[0]->members()[0];
    StatusRates rates;
    for (std::uint64_t t = 0; t <= 20'000; t += 2000) {
        a.connections_total += 10;  // 5 per second throughout
        rates.sample(*g, t);
    }
    // Kept: 14 s (the newest older than 5 s before 20 s), 16, 18, 20.
    CHECK(rates.window_ms() == 6000);
    CHECK(rates.backend("app", "127.0.0.1:9001").connections == Approx(5.0));
    // Read rarely: the rate spans the time since the previous read.
    a.connections_total += 600;
    rates.sample(*g, 80'000);
    CHECK(rates.window_ms() == 60'000);
    CHECK(rates.backend("app", "127.0.0.1:9001").connections == Approx(10.0));
}
