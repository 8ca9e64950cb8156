// SPDX-License-Identifier: MIT
// Tests of the test harness itself: how a child's end is judged (sanitizer reports in its
// stderr, exit status after SIGTERM), so that a broken ringlb cannot end a test green.
#include <catch2/catch.hpp>

#include <thread>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

std::vector<OutputLine> stderr_lines(const std::vector<std::string>& texts) {
    std::vector<OutputLine> lines;
    for (const auto& text : texts) {
        lines.push_back({true, text});
    }
    return lines;
}

// A child running `script` under sh; it prints "ready" first so the test knows its traps are set.
std::unique_ptr<Process> shell(const std::string& script) {
    auto process = std::make_unique<Process>(
        "sh", std::vector<std::string>{require_command("sh", "dash"), "-c", script});
    process->wait_for_line("^ready$", 5s);
    return process;
}

}  // namespace

TEST_CASE("sanitizer_report finds the first line of every sanitizer's report in stderr") {
    const std::vector<std::string> reports = {
        "==4242==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000011",
        "==4242==ERROR: LeakSanitizer: detected memory leaks",
        "WARNING: ThreadSanitizer: data race (pid=4242)",
        "src/shard/shard.cpp:12:5: runtime error: signed integer overflow",
        "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior src/x.cpp:1:2",
        "==4242==ERROR: UndefinedBehaviorSanitizer: SEGV on unknown address",
    };
    for (const auto& first : reports) {
        INFO(first);
        const std::string report = sanitizer_report(
            stderr_lines({"2026-12-04 info ready workers=2", first, "    #0 0x1 in f"}));
        CHECK(report.find(first) != std::string::npos);
        // The lines after the first are part of the report; the lines before are not.
        CHECK(report.find("#0 0x1 in f") != std::string::npos);
        CHECK(report.find("ready workers") == std::string::npos);
    }
}

TEST_CASE("sanitizer_report ignores ordinary log lines and stdout") {
    CHECK(sanitizer_report(stderr_lines({"info stopped", "warn backend down reason=\"refused\"",
                                         "error reload failed: 1 error(s)"}))
              .empty());
    // The same text on stdout is a program's output, not a report.
    CHECK(sanitizer_report({{false, "==1==ERROR: AddressSanitizer: heap-use-after-free"}}).empty());
}

TEST_CASE("finish reports a sanitizer report in a child's stderr") {
    auto child = shell("echo '==77==ERROR: AddressSanitizer: heap-use-after-free' >&2; echo ready");
    const std::string problems = child->finish();
    CHECK(problems.find("sanitizer report") != std::string::npos);
    CHECK(problems.find("heap-use-after-free") != std::string::npos);
}

TEST_CASE("after expect_clean_stop, finish stops a child with SIGTERM and wants exit status 0") {
    SECTION("a child that exits 0 on SIGTERM ended well") {
        auto child = shell("trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done");
        child->expect_clean_stop(10s);
        CHECK(child->finish().empty());
    }
    SECTION("a child that exits 3 on SIGTERM did not") {
        auto child = shell("trap 'exit 3' TERM; echo ready; while :; do sleep 0.05; done");
        child->expect_clean_stop(10s);
        CHECK(child->finish().find("exit status 3") != std::string::npos);
    }
    SECTION("a child that ignores SIGTERM did not") {
        auto child = shell("trap '' TERM; echo ready; while :; do sleep 0.05; done");
        child->expect_clean_stop(300ms);
        CHECK(child->finish().find("did not exit within 300 ms") != std::string::npos);
    }
    SECTION("a child that died by itself before the end did not") {
        auto child = shell("echo ready; exit 9");
        child->expect_clean_stop(10s);
        // Until it has exited (and is reaped): its output may end a moment before.
        for (const Deadline deadline = deadline_in(5s);
             child->running() && Clock::now() < deadline;) {
            std::this_thread::sleep_for(5ms);
        }
        REQUIRE_FALSE(child->running());
        CHECK(child->finish().find("ended by itself with exit status 9") != std::string::npos);
    }
    SECTION("a child the test reaped itself is the test's business") {
        auto child = shell("echo ready; exit 9");
        child->expect_clean_stop(10s);
        CHECK(child->require_exit(5s).exited_with(9));
        CHECK(child->finish().empty());
    }
}

namespace {

// Runs one case of harness_must_fail_test; returns its whole output.
RunResult run_must_fail(const std::string& test_case, const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv;
    if (!env.empty()) {
        argv.push_back(require_command("env", "coreutils"));
        argv.insert(argv.end(), env.begin(), env.end());
    }
    argv.insert(argv.end(), {RINGLB_MUST_FAIL_BINARY, test_case});
    return run_process(argv, 60s);
}

}  // namespace

TEST_CASE("a test case fails when a child it started ends badly, and says why") {
    struct Case {
        std::string name;
        std::string why;
    };
    const std::vector<Case> cases = {
        {"a sanitizer report in a child's stderr fails the test", "holds a sanitizer report"},
        {"a ringlb-like child that exits 1 on SIGTERM fails the test",
         "SIGTERM ended it with exit status 1"},
        {"a ringlb-like child that hangs on SIGTERM fails the test", "did not exit within"},
    };
    for (const Case& c : cases) {
        INFO("case: " << c.name);
        const RunResult result = run_must_fail(c.name);
        INFO("its output:\n" << result.stdout_text << result.stderr_text);
        CHECK(result.status.exited_with(1));
        CHECK(result.stdout_text.find("ended badly") != std::string::npos);
        CHECK(result.stdout_text.find(c.why) != std::string::npos);
        CHECK(result.stdout_text.find("1 failed") != std::string::npos);
    }
}

#ifdef RINGLB_CANARY_MODES
// Sanitizer builds only (meson defines the modes the build's sanitizers catch): the chain from
// a real sanitizer in a child to a failed test.
TEST_CASE("a real sanitizer report from a child fails the test that started it") {
    for (const std::string mode : {RINGLB_CANARY_MODES}) {
        INFO("canary mode: " << mode);
        const RunResult result = run_must_fail(
            "a real sanitizer report from a child fails the test", {"RINGLB_CANARY_MODE=" + mode});
        INFO("its output:\n" << result.stdout_text << result.stderr_text);
        CHECK(result.status.exited_with(1));
        CHECK(result.stdout_text.find("holds a sanitizer report") != std::string::npos);
    }
}
#endif

TEST_CASE("a child that leaves a process behind holding its output does not hang the test") {
    // The grandchild keeps the output pipes open for a minute; the harness stops reading
    // 5 s after the child itself is gone, and keeps what was read.
    auto child = shell("echo before; sleep 60 & echo ready; exit 0");
    const auto started = Clock::now();
    CHECK(child->finish().empty());
    CHECK(Clock::now() - started < 30s);
    CHECK(child->output().find("before") != std::string::npos);
}
