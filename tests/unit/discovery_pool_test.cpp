// SPDX-License-Identifier: MIT
// A pool's discovered members and tiers: which backends take new connections (RFC 2782 tiers
// and backup backends failing over and back), a retry spilling into the standby tier, and a DNS
// answer applied to a pool: backends kept, added, re-weighted, removed and freed only when no
// shard and no connection can still reach them.
#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "balance_fixture.hpp"
#include "ringlb/base/epoch.hpp"
#include "ringlb/pool/eligibility.hpp"

using namespace ringlb;
using namespace ringlb::test;

namespace {

DiscoveredBackend found(const std::string& address, std::uint32_t weight = 1,
                        std::uint32_t priority = 0) {
    return DiscoveredBackend{*SocketAddress::parse(address), weight, priority};
}

// The names of the live set's entries, in order.
std::vector<std::string> live_names(const BackendPool& pool) {
    std::vector<std::string> names;
    for (const LiveEntry& entry : pool.live().entries) {
        names.push_back(entry.state->name);
    }
    return names;
}

std::vector<std::string> standby_names(const BackendPool& pool) {
    std::vector<std::string> names;
    for (const LiveEntry& entry : pool.live().standby) {
        names.push_back(entry.state->name);
    }
    return names;
}

}  // namespace

TEST_CASE("the lowest priority value with a usable backend serves; the others wait") {
    using config::BackendState;
    std::vector<BackendStates> states{
        {BackendState::active, true, 1},
        {BackendState::active, true, 0},
        {BackendState::active, true, 2},
        {BackendState::active, true, 0},
    };
    CHECK(takes_new_connections(states) == std::vector<bool>{false, true, false, true});

    SECTION("a tier down, drained or disabled gives way to the next") {
        states[1].healthy = false;
        states[3].admin = BackendState::drain;
        CHECK(takes_new_connections(states) == std::vector<bool>{true, false, false, false});
        states[0].admin = BackendState::disabled;
        CHECK(takes_new_connections(states) == std::vector<bool>{false, false, true, false});
    }
    SECTION("and takes over again as soon as one of its backends is usable") {
        states[1].healthy = false;
        states[3].healthy = false;
        CHECK(takes_new_connections(states) == std::vector<bool>{true, false, false, false});
        states[3].healthy = true;
        CHECK(takes_new_connections(states) == std::vector<bool>{false, false, false, true});
    }
    SECTION("an ejected backend (pool.passive) gives way as a down one does, and comes back") {
        states[1].ejected = true;
        CHECK(takes_new_connections(states) == std::vector<bool>{false, false, false, true});
        states[3].ejected = true;
        CHECK(takes_new_connections(states) == std::vector<bool>{true, false, false, false});
        states[1].ejected = false;
        CHECK(takes_new_connections(states) == std::vector<bool>{false, true, false, false});
    }
    SECTION("nothing usable: nothing serves") {
        for (auto& state : states) {
            state.healthy = false;
        }
        CHECK(takes_new_connections(states) == std::vector<bool>(4, false));
    }
}

TEST_CASE("a DNS answer adds backends, and a later answer keeps, re-weights and removes them") {
    auto config = pool_config(1);  // one static backend, 127.0.0.1:9001
    config.discovery = config::DiscoveryConfig{"_app._tcp.test", std::nullopt, 5000};
    const auto statics = make_backends(config);
    BalancedPool pool(config, statics);
    EpochDomain epochs(1);

    auto change = pool.pool.set_discovered(
        std::vector{found("10.0.0.2:80", 3), found("10.0.0.1:80", 5), found("127.0.0.1:9001", 9)},
        true, 1, epochs);
    CHECK(change.added.size() == 2);  // the static backend's address stays the static one
    CHECK(change.removed.empty());
    CHECK(live_names(pool.pool) ==
          std::vector<std::string>{"127.0.0.1:9001", "10.0.0.1:80", "10.0.0.2:80"});
    const std::shared_ptr<Backend> first = pool.pool.find("10.0.0.1:80");
    REQUIRE(first);
    CHECK(first->origin == BackendOrigin::dns_srv);
    CHECK(first->weight.load() == 5);
    CHECK(statics[0]->weight.load() == 1);

    // The same backend object carries on with its new weight; 10.0.0.2 leaves; 10.0.0.3
    // arrives down (waiting for its first probe).
    first->active.store(1);  // a connection holds a place on it
    std::shared_ptr<Backend> leaving = pool.pool.find("10.0.0.2:80");
    leaving->active.store(1);
    change = pool.pool.set_discovered(std::vector{found("10.0.0.1:80", 7), found("10.0.0.3:80")},
                                      false, 2, epochs);
    CHECK(change.updated == 1);
    REQUIRE(change.added.size() == 1);
    REQUIRE(change.removed.size() == 1);
    CHECK(change.removed[0] == leaving);
    CHECK(pool.pool.find("10.0.0.1:80") == first);
    CHECK(first->weight.load() == 7);
    CHECK(live_names(pool.pool) == std::vector<std::string>{"127.0.0.1:9001", "10.0.0.1:80"});
    CHECK(pool.pool.discovered().size() == 2);

    // The departed backend outlives the pool's reference while a connection holds it.
    const std::weak_ptr<Backend> watch = leaving;
    change = {};
    leaving.reset();
    epochs.enter(0);
    epochs.leave(0);
    CHECK(pool.pool.release_departed(epochs) == 1);
    CHECK_FALSE(watch.expired());
    {
        // The connection ends (through the pointer the pool's shard would hold).
        const std::shared_ptr<Backend> held = watch.lock();
        REQUIRE(held != nullptr);
        held->active.store(0);
    }
    CHECK(pool.pool.release_departed(epochs) == 0);
    CHECK(watch.expired());
}

TEST_CASE("a departed backend waits for every shard to pass the epoch of its removal") {
    auto config = pool_config(0);
    config.discovery = config::DiscoveryConfig{"_app._tcp.test", std::nullopt, 5000};
    BalancedPool pool(config, {});
    EpochDomain epochs(1);
    (void)pool.pool.set_discovered(std::vector{found("10.0.0.1:80")}, true, 1, epochs);
    epochs.enter(0);  // a shard reading the set that lists it
    auto change = pool.pool.set_discovered({}, true, 2, epochs);
    REQUIRE(change.removed.size() == 1);
    const std::weak_ptr<Backend> watch = change.removed[0];
    change = {};
    CHECK(pool.pool.release_departed(epochs) == 1);
    CHECK_FALSE(watch.expired());
    epochs.enter(0);  // its next loop pass
    CHECK(pool.pool.release_departed(epochs) == 0);
    CHECK(watch.expired());
    CHECK(pool.pool.live().entries.empty());
    epochs.leave(0);
}

TEST_CASE("a priority change moves a backend between the serving and the standby tier") {
    auto config = pool_config(0);
    config.discovery = config::DiscoveryConfig{"_app._tcp.test", std::nullopt, 5000};
    BalancedPool pool(config, {});
    EpochDomain epochs(1);
    (void)pool.pool.set_discovered(
        std::vector{found("10.0.0.1:80", 1, 0), found("10.0.0.2:80", 1, 10),
                    found("10.0.0.3:80", 1, 5)},
        true, 1, epochs);
    CHECK(live_names(pool.pool) == std::vector<std::string>{"10.0.0.1:80"});
    CHECK(standby_names(pool.pool) == std::vector<std::string>{"10.0.0.3:80", "10.0.0.2:80"});

    const auto change = pool.pool.set_discovered(
        std::vector{found("10.0.0.1:80", 1, 10), found("10.0.0.2:80", 1, 10),
                    found("10.0.0.3:80", 1, 5)},
        true, 2, epochs);
    CHECK(change.updated == 1);
    CHECK(live_names(pool.pool) == std::vector<std::string>{"10.0.0.3:80"});

    // The serving tier down: the next one serves, and gives back when it returns.
    pool.pool.find("10.0.0.3:80")->healthy.store(false);
    pool.pool.refresh(3, epochs);
    CHECK(live_names(pool.pool) == std::vector<std::string>{"10.0.0.1:80", "10.0.0.2:80"});
    pool.pool.find("10.0.0.3:80")->healthy.store(true);
    pool.pool.refresh(4, epochs);
    CHECK(live_names(pool.pool) == std::vector<std::string>{"10.0.0.3:80"});
}

TEST_CASE("a retry from the only serving backend goes to the standby tier, in tier order") {
    auto config = pool_config(0);
    config.discovery = config::DiscoveryConfig{"_app._tcp.test", std::nullopt, 5000};
    BalancedPool pool(config, {});
    EpochDomain epochs(1);
    (void)pool.pool.set_discovered(
        std::vector{found("10.0.0.1:80", 1, 0), found("10.0.0.2:80", 1, 2),
                    found("10.0.0.3:80", 1, 1)},
        true, 1, epochs);
    const auto serving = pool.pool.find("10.0.0.1:80");
    const auto second = pool.pool.find("10.0.0.3:80");
    const auto third = pool.pool.find("10.0.0.2:80");

    Backend* first = acquire(pool.pool, *pool.balancer, PickContext{});
    REQUIRE(first == serving.get());
    // It refused the connection: the retry goes to priority 1, then priority 2.
    Backend* retry = acquire_after(pool.pool, *pool.balancer, first, PickContext{});
    CHECK(retry == second.get());
    Backend* last = acquire_after(pool.pool, *pool.balancer, retry, PickContext{});
    CHECK(last == third.get());
    CHECK(second->active.load() == 1);
    CHECK(third->active.load() == 1);

    // A standby backend that is full is passed over.
    second->release();
    third->release();
    second->max_connections.store(1);
    second->active.store(1);
    CHECK(acquire_after(pool.pool, *pool.balancer, first, PickContext{}) == third.get());
}

TEST_CASE("backups serve only while no non-backup backend is usable, whatever its priority") {
    using config::BackendState;
    std::vector<BackendStates> states{
        {BackendState::active, true, 0, true},   // a backup
        {BackendState::active, true, 5, false},  // a primary of a high SRV priority value
        {BackendState::active, true, 0, true},   // a backup
    };
    CHECK(takes_new_connections(states) == std::vector<bool>{false, true, false});
    states[1].healthy = false;
    CHECK(takes_new_connections(states) == std::vector<bool>{true, false, true});
    states[0].admin = BackendState::drain;
    CHECK(takes_new_connections(states) == std::vector<bool>{false, false, true});
    states[1].healthy = true;  // a primary back: it takes the traffic back
    CHECK(takes_new_connections(states) == std::vector<bool>{false, true, false});
}

TEST_CASE("with every algorithm, only primaries are picked and retried while one is usable") {
    using config::Algorithm;
    using config::BackendState;
    const Algorithm algorithm =
        GENERATE(Algorithm::round_robin, Algorithm::weighted_round_robin,
                 Algorithm::least_connections, Algorithm::random_two, Algorithm::maglev);
    DYNAMIC_SECTION("algorithm " << config::algorithm_name(algorithm)) {
        auto config = pool_config(4);
        config.algorithm = algorithm;
        config.maglev_table_size = 257;
        config.backends[1].backup = true;
        config.backends[3].backup = true;
        BalancedPool pool(config, make_backends(config));
        EpochDomain epochs(1);
        CHECK(live_names(pool.pool) ==
              std::vector<std::string>{"127.0.0.1:9001", "127.0.0.1:9003"});
        CHECK(standby_names(pool.pool).empty());  // no retry reaches a backup either

        // 200 picks for as many client addresses; how many each backend got.
        const auto count_picks = [&pool] {
            std::vector<int> picks(4, 0);
            for (int i = 0; i < 200; ++i) {
                PickContext context;
                context.client_hash = static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ULL;
                const std::uint32_t picked = pool.acquire(context);
                REQUIRE(picked != kNone);
                ++picks[picked];
                pool.backends[picked]->release();
            }
            return picks;
        };
        const std::vector<int> picks = count_picks();
        CHECK(picks[1] == 0);
        CHECK(picks[3] == 0);
        CHECK(picks[0] > 0);
        CHECK(picks[2] > 0);

        // Both primaries down: the backups serve, balanced among themselves.
        pool.backends[0]->healthy.store(false);
        pool.backends[2]->state.store(BackendState::disabled);
        pool.pool.refresh(1, epochs);
        CHECK(live_names(pool.pool) ==
              std::vector<std::string>{"127.0.0.1:9002", "127.0.0.1:9004"});
        const std::vector<int> backup_picks = count_picks();
        CHECK(backup_picks[1] > 0);
        CHECK(backup_picks[3] > 0);
        CHECK(backup_picks[0] + backup_picks[2] == 0);

        // One primary back: it takes new connections again at once.
        pool.backends[0]->healthy.store(true);
        pool.pool.refresh(2, epochs);
        CHECK(live_names(pool.pool) == std::vector<std::string>{"127.0.0.1:9001"});
    }
}
