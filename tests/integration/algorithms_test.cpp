// SPDX-License-Identifier: MIT
// Balancing algorithms through the real binary: weighted round robin, least connections and
// the power of two random choices.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

struct Weighted final {
    const Backend* backend;
    unsigned weight;
};

// A config with one pool of `algorithm` over these backends, each with its weight.
std::string weighted_config(const std::string& algorithm, const std::vector<Weighted>& backends) {
    std::string pool = "algorithm = \"" + algorithm + "\"\n";
    for (const Weighted& entry : backends) {
        pool +=
            backend_table(entry.backend->address(), "  weight = " + std::to_string(entry.weight));
    }
    return SimpleConfig({}).workers(2).pool(pool).text();
}

// Ends a held connection and waits until ringlb has ended it too: the backend's EOF comes
// back through ringlb only once ringlb has passed ours on, so the backend's active count
// no longer includes it (ringlb frees the connection as that EOF goes out).
void close_held(HeldConnection& held) {
    shutdown_write(held.fd.get());
    (void)read_until_eof(held.fd.get(), deadline_in(5s));
    held.fd.reset();
}

// Keeps the held connections on `keep` and closes the others (see close_held).
void keep_only(std::vector<HeldConnection>& held, const std::string& keep) {
    for (HeldConnection& h : held) {
        if (h.backend != keep) {
            close_held(h);
        }
    }
    std::erase_if(held, [&](const HeldConnection& h) { return h.backend != keep; });
}

// Opens `count` held connections, then closes those that did not land on `keep`: leaves
// `keep` with its share of them open and the other backends empty.
std::vector<HeldConnection> load_one_backend(std::uint16_t port, int count,
                                             const std::string& keep) {
    std::vector<HeldConnection> held;
    for (int i = 0; i < count; ++i) {
        held.push_back(open_held(port));
    }
    keep_only(held, keep);
    return held;
}

}  // namespace

TEST_CASE("weighted_round_robin: weights 5:3:2 split 1,000 sequential connections 500/300/200") {
    Backend a = start_reply_backend("a");
    Backend b = start_reply_backend("b");
    Backend c = start_reply_backend("c");
    Ringlb lb = start_ringlb(weighted_config("weighted_round_robin", {{&a, 5}, {&b, 3}, {&c, 2}}));

    std::map<std::string, int> counts = fetch_counts(lb.port, 1000);
    INFO("replies: " << describe_counts(counts));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(counts.size() == 3);
    // Exactly, as the README promises: every pick takes the next entry of one precomputed
    // smooth sequence of length 10 (5 a, 3 b, 2 c) shared by both workers, and sequential
    // connections take consecutive tickets; 1,000 is 100 whole cycles.
    CHECK(counts["a\n"] == 500);
    CHECK(counts["b\n"] == 300);
    CHECK(counts["c\n"] == 200);
}

TEST_CASE(
    "weighted_round_robin: equal weights never send two connections in a row to one "
    "backend") {
    Backend a = start_reply_backend("a");
    Backend b = start_reply_backend("b");
    Backend c = start_reply_backend("c");
    Ringlb lb = start_ringlb(weighted_config("weighted_round_robin", {{&a, 1}, {&b, 1}, {&c, 1}}));

    std::vector<std::string> order;
    for (int i = 0; i < 300; ++i) {
        order.push_back(fetch(lb.port));
    }
    std::map<std::string, int> counts;
    int repeats = 0;
    for (std::size_t i = 0; i < order.size(); ++i) {
        ++counts[order[i]];
        if (i > 0 && order[i] == order[i - 1]) {
            ++repeats;
            UNSCOPED_INFO("connections " << i - 1 << " and " << i << " both went to "
                                         << order[i].substr(0, order[i].find('\n')));
        }
    }
    INFO("replies: " << describe_counts(counts));
    CHECK(repeats == 0);
    CHECK(counts.size() == 3);
    CHECK(counts["a\n"] == 100);
    CHECK(counts["b\n"] == 100);
    CHECK(counts["c\n"] == 100);
}

TEST_CASE(
    "least_connections: a backend holding long-lived connections gets no new ones while "
    "the others are emptier") {
    Backend a = start_greet_backend("a");
    Backend b = start_greet_backend("b");
    Backend c = start_greet_backend("c");
    Ringlb lb = start_ringlb(weighted_config("least_connections", {{&a, 1}, {&b, 1}, {&c, 1}}));

    // 15 connections opened one after the other and all kept open spread evenly.
    std::vector<HeldConnection> held;
    std::map<std::string, int> spread;
    for (int i = 0; i < 15; ++i) {
        held.push_back(open_held(lb.port));
        ++spread[held.back().backend];
    }
    INFO("15 held connections: " << describe_counts(spread));
    CHECK(spread == std::map<std::string, int>{{"a", 5}, {"b", 5}, {"c", 5}});

    // Keep a's five; close the others. a stays at 5 while b and c hold at most the one short
    // connection that is being closed.
    keep_only(held, "a");
    const auto counts = short_connections(lb.port, 40);
    INFO("40 short connections while a holds 5: " << describe_counts(counts));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(counts.count("a") == 0);
    CHECK(counts.count("b") == 1);
    CHECK(counts.count("c") == 1);

    // The held connections were passed over, not dropped: they still relay.
    send_all(held.front().fd.get(), "still here\n", deadline_in(5s));
    CHECK(read_line(held.front().fd.get(), deadline_in(5s)) == "still here\n");
}

TEST_CASE("least_connections: active connections are compared relative to weight") {
    Backend heavy = start_greet_backend("heavy");
    Backend light = start_greet_backend("light");
    Ringlb lb = start_ringlb(weighted_config("least_connections", {{&heavy, 3}, {&light, 1}}));

    // Each new connection goes where active/weight is smallest: after 8 held connections the
    // split is 6:2, whichever way the ties went.
    std::vector<HeldConnection> held;
    std::map<std::string, int> counts;
    for (int i = 0; i < 8; ++i) {
        held.push_back(open_held(lb.port));
        ++counts[held.back().backend];
    }
    INFO("8 held connections: " << describe_counts(counts));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(counts["heavy"] == 6);
    CHECK(counts["light"] == 2);

    // Four more: heavy 6/3 = 2 per weight, light 2/1 = 2: they alternate to 9:3.
    for (int i = 0; i < 4; ++i) {
        held.push_back(open_held(lb.port));
        ++counts[held.back().backend];
    }
    INFO("12 held connections: " << describe_counts(counts));
    CHECK(counts["heavy"] == 9);
    CHECK(counts["light"] == 3);
}

TEST_CASE("random_two: every backend gets connections when the pool is idle") {
    Backend a = start_reply_backend("a");
    Backend b = start_reply_backend("b");
    Backend c = start_reply_backend("c");
    Ringlb lb = start_ringlb(weighted_config("random_two", {{&a, 1}, {&b, 1}, {&c, 1}}));

    std::map<std::string, int> counts = fetch_counts(lb.port, 90);
    INFO("90 sequential connections: " << describe_counts(counts));
    INFO("ringlb output:\n" << lb.process->tail());
    // Each backend is a candidate of 2 in 3 picks; sharing ties at random, each should get
    // about 30. A backend with fewer than 10 (p < 1e-5 if the choice is random) means the
    // choice is not.
    CHECK(counts.size() == 3);
    CHECK(counts["a\n"] >= 10);
    CHECK(counts["b\n"] >= 10);
    CHECK(counts["c\n"] >= 10);
}

TEST_CASE(
    "random_two: a backend loaded with long-lived connections gets none of the next "
    "short ones") {
    Backend a = start_greet_backend("a");
    Backend b = start_greet_backend("b");
    Backend c = start_greet_backend("c");
    Ringlb lb = start_ringlb(weighted_config("random_two", {{&a, 1}, {&b, 1}, {&c, 1}}));

    // Random choices put roughly a third of 30 held connections on a; keep only those.
    std::vector<HeldConnection> held = load_one_backend(lb.port, 30, "a");
    INFO("a holds " << held.size() << " connections");
    // Fewer than 3 would make "emptier" depend on timing: about 1e-4 for a random choice.
    REQUIRE(held.size() >= 3);

    // Two distinct candidates: a loses to whichever of b and c is the other one, since they
    // hold at most the one short connection being closed.
    const auto counts = short_connections(lb.port, 40);
    INFO("40 short connections: " << describe_counts(counts));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(counts.count("a") == 0);
    CHECK(counts.count("b") == 1);
    CHECK(counts.count("c") == 1);
}
