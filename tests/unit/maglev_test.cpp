// SPDX-License-Identifier: MIT
// Maglev: the same table in every process, even spread, minimal movement, full backends.
#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "balance_fixture.hpp"
#include "ringlb/balance/maglev.hpp"

namespace {

using ringlb::Balancer;
using ringlb::LiveSet;
using ringlb::Maglev;
using ringlb::PickContext;
using namespace ringlb::test;

ringlb::config::PoolConfig make_config(std::size_t backends, unsigned table_size = 65537) {
    ringlb::config::PoolConfig pool = ringlb::test::pool_config(backends);
    pool.algorithm = ringlb::config::Algorithm::maglev;
    pool.maglev_table_size = table_size;
    return pool;
}

// hash_client of 10,000 distinct IPv4 clients spread over 10.0.0.0/8.
std::vector<std::uint64_t> client_hashes() {
    std::vector<std::uint64_t> hashes;
    for (std::uint32_t i = 0; i < 10000; ++i) {
        const std::uint32_t host = (i * 2654435761u) & 0xffffffu;  // distinct: odd multiplier
        const std::string text = "10." + std::to_string(host >> 16) + "." +
                                 std::to_string((host >> 8) & 0xff) + "." +
                                 std::to_string(host & 0xff) + ":40000";
        hashes.push_back(ringlb::hash_client(*ringlb::SocketAddress::parse(text)));
    }
    return hashes;
}

// How many slots of the prepared table each live position owns.
std::vector<int> table_shares(const LiveSet& set) {
    std::vector<int> owned(set.entries.size());
    for (const std::uint32_t position : set.table) {
        REQUIRE(position < owned.size());
        ++owned[position];
    }
    return owned;
}

// The prepared table has the default 65,537 slots and every live backend owns an equal
// share of them, within 2%.
void check_equal_shares(const LiveSet& set) {
    REQUIRE(set.table.size() == 65537);
    for (const int count : table_shares(set)) {
        CHECK(count == Approx(65537.0 / static_cast<double>(set.entries.size())).epsilon(0.02));
    }
}

// The backend name each client lands on.
std::vector<std::string> route(Maglev& balancer, const LiveSet& set,
                               const std::vector<std::uint64_t>& hashes) {
    std::vector<std::string> names;
    for (const std::uint64_t hash : hashes) {
        const std::uint32_t position = balancer.pick(set, PickContext{hash});
        REQUIRE(position < set.entries.size());
        names.push_back(set.entries[position].state->name);
    }
    return names;
}

}  // namespace

TEST_CASE("two independently built maglev tables send every client to the same backend") {
    const auto config = make_config(5);
    auto reversed_config = config;
    std::reverse(reversed_config.backends.begin(), reversed_config.backends.end());

    const auto backends = make_backends(config);
    const auto other_backends = make_backends(reversed_config);
    Maglev balancer(config);
    Maglev other(reversed_config);
    LiveSet set;
    LiveSet other_set;
    fill(set, backends, {0, 1, 2, 3, 4});
    fill(other_set, other_backends, {2, 4, 0, 3, 1});
    balancer.prepare(set);
    other.prepare(other_set);
    REQUIRE(set.table.size() == 65537);
    REQUIRE(other_set.table.size() == 65537);

    const auto hashes = client_hashes();
    CHECK(route(balancer, set, hashes) == route(other, other_set, hashes));
    for (std::size_t slot = 0; slot < set.table.size(); ++slot) {
        REQUIRE(set.entries[set.table[slot]].state->name ==
                other_set.entries[other_set.table[slot]].state->name);
    }
}

TEST_CASE("maglev gives every backend an equal share of the lookup table") {
    const auto config = make_config(5);
    const auto backends = make_backends(config);
    Maglev balancer(config);
    LiveSet set;

    SECTION("all five live") {
        fill(set, backends, all_of(5));
    }
    SECTION("one of six down") {
        const auto six = make_config(6);
        Maglev larger(six);
        const auto more = make_backends(six);
        fill(set, more, {0, 1, 3, 4, 5});
        larger.prepare(set);
        check_equal_shares(set);
        return;
    }
    balancer.prepare(set);
    check_equal_shares(set);
}

TEST_CASE("removing one of N backends moves only its own clients, and they come back") {
    const auto hashes = client_hashes();
    for (const std::size_t count : {3u, 5u, 10u}) {
        const auto config = make_config(count);
        const auto backends = make_backends(config);
        Maglev balancer(config);
        LiveSet full;
        fill(full, backends, all_of(count));
        balancer.prepare(full);
        const auto before = route(balancer, full, hashes);

        for (std::uint32_t removed = 0; removed < count; ++removed) {
            INFO("N = " << count << ", removed backend " << removed);
            std::vector<std::uint32_t> live = all_of(count);
            live.erase(live.begin() + removed);
            LiveSet reduced;
            fill(reduced, backends, live);
            balancer.prepare(reduced);
            const auto after = route(balancer, reduced, hashes);

            std::size_t moved = 0;
            std::size_t moved_from_others = 0;
            std::size_t on_removed = 0;
            for (std::size_t i = 0; i < hashes.size(); ++i) {
                on_removed += before[i] == backends[removed]->name ? 1 : 0;
                if (before[i] != after[i]) {
                    ++moved;
                    moved_from_others += before[i] != backends[removed]->name ? 1 : 0;
                }
            }
            CHECK(moved_from_others == 0);
            CHECK(moved == on_removed);
            CHECK(moved <= static_cast<std::size_t>((1.0 / count + 0.02) * hashes.size()));
            CHECK(moved >= static_cast<std::size_t>((1.0 / count - 0.02) * hashes.size()));

            LiveSet restored;
            fill(restored, backends, all_of(count));
            balancer.prepare(restored);
            CHECK(restored.table == full.table);
        }
    }
}

TEST_CASE("the clients of a full maglev backend go elsewhere, always to the same place") {
    auto config = make_config(4);
    config.backends[1].max_connections = 1;
    const auto backends = make_backends(config);
    Maglev balancer(config);
    LiveSet set;
    fill(set, backends, all_of(4));
    balancer.prepare(set);
    const auto hashes = client_hashes();
    const auto before = route(balancer, set, hashes);

    REQUIRE(backends[1]->try_acquire());
    const auto full = route(balancer, set, hashes);
    CHECK(full == route(balancer, set, hashes));
    std::size_t moved = 0;
    for (std::size_t i = 0; i < hashes.size(); ++i) {
        CHECK(full[i] != backends[1]->name);
        if (before[i] != backends[1]->name) {
            CHECK(full[i] == before[i]);
        } else {
            ++moved;
        }
    }
    CHECK(moved > 2000);  // about a quarter of the clients

    backends[1]->release();
    CHECK(route(balancer, set, hashes) == before);
}

TEST_CASE("maglev returns no pick when every backend is full or none is live") {
    auto config = make_config(3);
    for (auto& backend : config.backends) {
        backend.max_connections = 1;
    }
    const auto backends = make_backends(config);
    Maglev balancer(config);
    LiveSet set;
    fill(set, backends, all_of(3));
    balancer.prepare(set);
    for (auto& backend : backends) {
        REQUIRE(backend->try_acquire());
    }
    CHECK(balancer.pick(set, PickContext{12345}) == Balancer::kNoPick);
    backends[2]->release();
    CHECK(balancer.pick(set, PickContext{12345}) == 2);

    LiveSet empty;
    balancer.prepare(empty);
    CHECK(empty.table.empty());
    CHECK(balancer.pick(empty, PickContext{12345}) == Balancer::kNoPick);
}

TEST_CASE("a small prime maglev table works, also with more backends than slots") {
    const auto hashes = client_hashes();
    SECTION("13 slots, 3 backends") {
        const auto config = make_config(3, 13);
        const auto backends = make_backends(config);
        Maglev balancer(config);
        CHECK(balancer.table_size() == 13);
        LiveSet set;
        fill(set, backends, all_of(3));
        balancer.prepare(set);
        REQUIRE(set.table.size() == 13);
        const std::vector<int> owned = table_shares(set);
        const auto [fewest, most] = std::minmax_element(owned.begin(), owned.end());
        CHECK(*fewest >= 4);
        CHECK(*most - *fewest <= 1);
        const auto names = route(balancer, set, hashes);
        CHECK(names == route(balancer, set, hashes));
    }
    SECTION("7 slots, 10 backends, 4 of them down") {
        const auto config = make_config(10, 7);
        const auto backends = make_backends(config);
        Maglev balancer(config);
        LiveSet set;
        fill(set, backends, {0, 2, 5, 7, 8, 9});
        balancer.prepare(set);
        REQUIRE(set.table.size() == 7);
        for (const std::uint32_t position : set.table) {
            CHECK(position < 6);
        }
        (void)route(balancer, set, hashes);
    }
}

TEST_CASE("a maglev table size that is not a prime is refused") {
    for (const unsigned size : {0u, 1u, 8u, 65536u, 65535u, 1000033u}) {
        INFO("size " << size);
        CHECK_THROWS_AS(Maglev(make_config(3, size)), std::invalid_argument);
        CHECK_THROWS_AS(ringlb::make_balancer(make_config(3, size)), std::invalid_argument);
    }
    CHECK_NOTHROW(Maglev(make_config(3, 2)));
    CHECK_NOTHROW(Maglev(make_config(3, Maglev::kMaxTableSize)));
}

TEST_CASE("live backends the config does not list still get a full, order-free table") {
    ringlb::config::PoolConfig bare = make_config(0);
    const auto backends = make_backends(make_config(4));
    Maglev balancer(bare);
    Maglev other(bare);
    LiveSet set;
    LiveSet reordered;
    fill(set, backends, {0, 1, 2, 3});
    fill(reordered, backends, {3, 1, 0, 2});
    balancer.prepare(set);
    other.prepare(reordered);
    REQUIRE(set.table.size() == 65537);
    const auto hashes = client_hashes();
    CHECK(route(balancer, set, hashes) == route(other, reordered, hashes));
    check_equal_shares(set);
}

TEST_CASE("hash_client is fixed, ignores the port and sees IPv4-mapped clients as IPv4") {
    auto hash = [](const char* text) {
        return ringlb::hash_client(*ringlb::SocketAddress::parse(text));
    };
    CHECK(hash("10.1.2.3:1000") == hash("10.1.2.3:2000"));
    CHECK(hash("10.1.2.3:1000") == hash("[::ffff:10.1.2.3]:1000"));
    CHECK(hash("10.1.2.3:1000") != hash("10.1.2.4:1000"));
    CHECK(hash("[2001:db8::1]:80") != hash("[2001:db8::2]:80"));
    // Pinned: a change here reshuffles every client of every maglev pool on upgrade.
    CHECK(hash("10.1.2.3:1000") == 0xe995b7579a06dab2ull);  // FNV-1a, splitmix64 finaliser
}
