// SPDX-License-Identifier: MIT
// Test cases that must FAIL, run one at a time by harness_test: each ends a child the way a
// broken ringlb would and asserts nothing else, so the case passes only if the harness lets
// such an end go unseen. Not registered as a test of its own.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

void run_child(const std::string& script, bool clean_stop) {
    Process child("child", {require_command("sh", "dash"), "-c", script});
    if (clean_stop) {
        child.expect_clean_stop(2s);
    }
    child.wait_for_line("^ready$", 5s);
}

}  // namespace

TEST_CASE("a sanitizer report in a child's stderr fails the test") {
    run_child(
        "echo '==1==ERROR: AddressSanitizer: heap-buffer-overflow' >&2; echo ready; exec sleep 60",
        false);
}

TEST_CASE("a ringlb-like child that exits 1 on SIGTERM fails the test") {
    run_child("trap 'exit 1' TERM; echo ready; while :; do sleep 0.05; done", true);
}

TEST_CASE("a ringlb-like child that hangs on SIGTERM fails the test") {
    run_child("trap '' TERM; echo ready; while :; do sleep 0.05; done", true);
}

// A real report from a real sanitizer (harness_test runs this in sanitizer builds only):
// the canary built with this build's flags, in the mode named by RINGLB_CANARY_MODE.
TEST_CASE("a real sanitizer report from a child fails the test") {
    const char* mode = std::getenv("RINGLB_CANARY_MODE");
    REQUIRE(mode != nullptr);
    Process canary("canary", {RINGLB_CANARY_BINARY, mode});
    canary.expect_clean_stop(30s);
    canary.wait_for_line("^ready$", 10s);
}
