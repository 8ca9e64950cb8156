// SPDX-License-Identifier: MIT
// Command line: --version, --help, --check on good and bad files, and the --workers override.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

TEST_CASE("--version prints the version and exits 0") {
    const RunResult run = run_process({ringlb_binary(), "--version"});
    INFO(run.stdout_text << run.stderr_text);
    CHECK(run.status.exited_with(0));
    CHECK(run.stdout_text.find(RINGLB_VERSION) != std::string::npos);
}

TEST_CASE("--help exits 0 and names every option") {
    const RunResult run = run_process({ringlb_binary(), "--help"});
    INFO(run.stdout_text << run.stderr_text);
    CHECK(run.status.exited_with(0));
    for (const char* option : {"--config", "--check", "--workers", "--log-level", "--version"}) {
        INFO(option);
        CHECK(run.stdout_text.find(option) != std::string::npos);
    }
}

TEST_CASE("without --config ringlb exits non-zero and says what is missing") {
    const RunResult run = run_process({ringlb_binary()});
    INFO(run.stdout_text << run.stderr_text);
    CHECK(run.status.signal == 0);
    CHECK(run.status.code != 0);
    CHECK((run.stdout_text + run.stderr_text).find("config") != std::string::npos);
}

TEST_CASE("--check accepts every example in configs/") {
    int checked = 0;
    for (const auto& entry :
         std::filesystem::directory_iterator(std::filesystem::path(source_dir()) / "configs")) {
        if (entry.path().extension() != ".toml") {
            continue;
        }
        const RunResult run =
            run_process({ringlb_binary(), "--check", "--config", entry.path().string()});
        INFO(entry.path().string() << ":\n" << run.stdout_text << run.stderr_text);
        CHECK(run.status.exited_with(0));
        CHECK(!run.stdout_text.empty());  // the summary
        ++checked;
    }
    CHECK(checked > 0);
}

TEST_CASE("--check reports every error of a file as FILE:LINE:COL and exits 2") {
    // Two errors on lines 3 and 4: a value of the wrong type and an unknown key.
    const TempFile file(R"([global]
shutdown_grace_ms = 100
workers = "two"
no_such_key = 1

[[listener]]
bind = "127.0.0.1:0"
pool = "p"

[[pool]]
name = "p"

  [[pool.backend]]
  address = "127.0.0.1:9001"
)");
    const RunResult run = run_process({ringlb_binary(), "--check", "--config", file.path()});
    INFO(run.stdout_text << run.stderr_text);
    CHECK(run.status.exited_with(2));
    // std::regex has no multiline anchors: look at the stderr lines one by one.
    // Built with append: GCC 12 at -O3 warns falsely (-Wrestrict) about "^" + std::string.
    std::string pattern(1, '^');
    pattern.append(regex_escape(file.path())).append(R"(:(\d+):(\d+): .+)");
    const std::regex place(pattern);
    std::set<std::string> lines_with_errors;
    std::istringstream stream(run.stderr_text);
    for (std::string line; std::getline(stream, line);) {
        std::smatch match;
        if (std::regex_match(line, match, place)) {
            lines_with_errors.insert(match[1].str());
        }
    }
    CHECK(lines_with_errors.count("3") == 1);
    CHECK(lines_with_errors.count("4") == 1);
}

TEST_CASE("--check rejects a file of random bytes with exit 2") {
    const TempFile file(stream_slice(99, 0, 4096));
    const RunResult run = run_process({ringlb_binary(), "--check", "--config", file.path()});
    INFO(run.stdout_text << run.stderr_text);
    CHECK(run.status.exited_with(2));
    CHECK(run.stderr_text.find(file.path()) != std::string::npos);
}

TEST_CASE("--check on a missing file exits 2 and names it") {
    const std::string path = source_dir() + "/configs/no-such-file.toml";
    const RunResult run = run_process({ringlb_binary(), "--check", "--config", path});
    INFO(run.stdout_text << run.stderr_text);
    CHECK(run.status.exited_with(2));
    CHECK(run.stderr_text.find(path) != std::string::npos);
}

TEST_CASE("--workers overrides the file: 0 runs one shard per CPU, 3 runs three") {
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    for (const auto& [arg, expected] :
         std::vector<std::pair<std::string, long>>{{"0", cpus}, {"3", 3}}) {
        Ringlb lb =
            start_ringlb(SimpleConfig({"127.0.0.1:9"}).workers(1).text(), {"--workers", arg});
        const auto ready = lb.process->find_lines(R"(\bready workers=(\d+))");
        REQUIRE(ready.size() == 1);
        INFO("--workers " << arg << ": " << ready.front().groups[0]);
        CHECK(std::stol(ready.front().groups[1]) == expected);
        CHECK(lb.port != 0);

        lb.process->signal(SIGTERM);
        const ExitStatus status = lb.process->require_exit(5s);
        INFO(lb.process->tail());
        CHECK(status.exited_with(0));
    }
}
