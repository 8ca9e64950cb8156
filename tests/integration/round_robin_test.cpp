// SPDX-License-Identifier: MIT
// Round robin: sequential connections are spread evenly over a pool, across shards.
#include <catch2/catch.hpp>

#include <map>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

TEST_CASE("300 sequential connections over 3 backends and 2 workers give exactly 100 each") {
    Backend a = start_reply_backend("a");
    Backend b = start_reply_backend("b");
    Backend c = start_reply_backend("c");
    Ringlb lb =
        start_ringlb(SimpleConfig({a.address(), b.address(), c.address()}).workers(2).text());

    std::map<std::string, int> counts = fetch_counts(lb.port, 300);
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(counts.size() == 3);
    CHECK(counts["a\n"] == 100);
    CHECK(counts["b\n"] == 100);
    CHECK(counts["c\n"] == 100);
}
