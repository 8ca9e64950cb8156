// SPDX-License-Identifier: MIT
// ringlb inside the sandbox of configs/ringlb.service, without systemd as PID 1: the unit's
// system call filter, expanded by `systemd-analyze syscall-filter` exactly as systemd
// expands it, plus its address-family, W^X, namespace and personality restrictions, applied
// by ringlb-seccomp-exec. Anything outside the filter kills ringlb (SIGSYS) while it serves
// traffic, reloads, reopens logs and stops.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "admin_client.hpp"
#include "harness.hpp"
#include "temp_dir.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

// g++ says __SANITIZE_ADDRESS__, clang++ 14 only __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
#define RINGLB_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RINGLB_TEST_ASAN 1
#endif
#endif
#ifndef RINGLB_TEST_ASAN
#define RINGLB_TEST_ASAN 0
#endif

namespace {

std::string unit_text() {
    std::ifstream in(RINGLB_UNIT_SOURCE);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Every value of `key` in the unit's [Service] section, in order.
std::vector<std::string> unit_values(const std::string& unit, const std::string& key) {
    std::vector<std::string> values;
    std::istringstream lines(unit);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(key + "=", 0) == 0) {
            values.push_back(line.substr(key.size() + 1));
        }
    }
    return values;
}

std::vector<std::string> words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> out;
    for (std::string word; in >> word;) {
        out.push_back(word);
    }
    return out;
}

// The groups systemd knows, from `systemd-analyze syscall-filter`: "@name" lines open a
// group, indented lines are its members (calls or other groups), "#" lines are comments.
std::map<std::string, std::vector<std::string>> syscall_groups() {
    const std::string analyze = find_on_path("systemd-analyze");
    if (analyze.empty()) {
        throw HarnessError("systemd-analyze is not installed (Debian package systemd)");
    }
    const RunResult listed = run_process({analyze, "syscall-filter"}, 30000ms);
    REQUIRE(listed.status.exited_with(0));
    std::map<std::string, std::vector<std::string>> groups;
    std::string current;
    std::istringstream lines(listed.stdout_text);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty()) {
            continue;
        }
        if (line[0] == '@') {
            current = words(line).front();
            groups[current];
            continue;
        }
        const auto items = words(line);
        if (current.empty() || items.empty() || items.front()[0] == '#') {
            continue;
        }
        groups[current].push_back(items.front());
    }
    return groups;
}

// The set of calls the unit's SystemCallFilter= lines allow, by systemd's rules: the first
// line decides that it is an allow list (and then @default is allowed too), later lines add
// calls, and lines starting with '~' take them away again.
std::set<std::string> allowed_syscalls(const std::vector<std::string>& filter_lines) {
    const auto groups = syscall_groups();
    std::function<void(const std::string&, std::set<std::string>&)> expand =
        [&](const std::string& item, std::set<std::string>& into) {
            if (item[0] != '@') {
                into.insert(item);
                return;
            }
            const auto found = groups.find(item);
            if (found == groups.end()) {
                throw HarnessError("systemd-analyze knows no group " + item);
            }
            for (const std::string& member : found->second) {
                expand(member, into);
            }
        };
    REQUIRE_FALSE(filter_lines.empty());
    REQUIRE(filter_lines.front()[0] != '~');  // an allow list
    std::set<std::string> allowed;
    expand("@default", allowed);
    for (std::string line : filter_lines) {
        const bool remove = line[0] == '~';
        if (remove) {
            line.erase(0, 1);
        }
        for (const std::string& item : words(line)) {
            std::set<std::string> calls;
            expand(item, calls);
            for (const std::string& call : calls) {
                if (remove) {
                    allowed.erase(call);
                } else {
                    allowed.insert(call);
                }
            }
        }
    }
    return allowed;
}

// ringlb-seccomp-exec's arguments for the unit's settings; the filter file goes in `dir`.
std::vector<std::string> sandbox_prefix(const TempDir& dir) {
    const std::string unit = unit_text();
    const std::set<std::string> allowed = allowed_syscalls(unit_values(unit, "SystemCallFilter"));
    // What ringlb needs must survive the filter, and what it must never do must not.
    for (const char* needed : {"io_uring_setup", "io_uring_enter", "io_uring_register",
                               "sched_setaffinity", "splice", "accept4", "epoll_wait"}) {
        INFO(needed);
        CHECK(allowed.count(needed) == 1);
    }
    for (const char* refused : {"setuid", "mount", "setrlimit", "kexec_load", "ptrace", "bpf"}) {
        INFO(refused);
        CHECK(allowed.count(refused) == 0);
    }
    const std::string list = dir.file("syscalls");
    {
        std::ofstream out(list);
        for (const std::string& call : allowed) {
            out << call << "\n";
        }
    }
    std::vector<std::string> prefix;
#if RINGLB_TEST_ASAN
    // LeakSanitizer inspects the process at exit through ptrace(2), which this filter (rightly)
    // forbids, and then never finishes. Leaks are looked for by every other test of this build;
    // here they are not, while everything ringlb itself calls is still checked.
    const char* asan = std::getenv("ASAN_OPTIONS");
    prefix = {find_on_path("env"),
              std::string("ASAN_OPTIONS=") + (asan != nullptr ? asan : "") + ":detect_leaks=0"};
#endif
    prefix.insert(prefix.end(), {RINGLB_SECCOMP_EXEC, "--syscalls", list, "--kill"});
    const auto families = unit_values(unit, "RestrictAddressFamilies");
    REQUIRE(families.size() == 1);
    std::string joined;
    for (const std::string& family : words(families.front())) {
        joined += (joined.empty() ? "" : ",") + family;
    }
    prefix.insert(prefix.end(), {"--families", joined});
    REQUIRE(unit_values(unit, "MemoryDenyWriteExecute") == std::vector<std::string>{"yes"});
    REQUIRE(unit_values(unit, "RestrictNamespaces") == std::vector<std::string>{"yes"});
    REQUIRE(unit_values(unit, "LockPersonality") == std::vector<std::string>{"yes"});
    REQUIRE(unit_values(unit, "SystemCallArchitectures") == std::vector<std::string>{"native"});
    REQUIRE(unit_values(unit, "NoNewPrivileges") == std::vector<std::string>{"yes"});
    const auto umask = unit_values(unit, "UMask");
    REQUIRE(umask.size() == 1);
    prefix.insert(prefix.end(), {"--deny-write-execute", "--restrict-namespaces",
                                 "--lock-personality", "--umask", umask.front(), "--"});
    return prefix;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    REQUIRE(out.good());
}

// A relay through ringlb: `count` connections, each echoing a line.
void relay(std::uint16_t port, int count) {
    for (int i = 0; i < count; ++i) {
        ringlb::UniqueFd fd = connect_to(port);
        const std::string line = "through the sandbox " + std::to_string(i) + "\n";
        send_all(fd.get(), line, deadline_in(3s));
        REQUIRE(read_line(fd.get(), deadline_in(3s)) == line);
    }
}

}  // namespace

TEST_CASE("ringlb serves, reloads and stops under the unit's system call filter") {
    TempDir dir;
    const std::vector<std::string> prefix = sandbox_prefix(dir);
    Backend first = start_backend("echo");
    Backend second = start_backend("echo");
    const std::string token = dir.file("token");
    write_file(token, "sandbox-token\n");
    const std::string access = dir.file("access.log");
    // Health checks, a token-protected admin endpoint and an access log file: every thread
    // ringlb has is at work under the filter.
    auto config = [&](const std::vector<std::string>& backends) {
        std::string text =
            SimpleConfig(backends)
                .global("[admin]\nbind = \"127.0.0.1:0\"\ntoken_file = \"" + token + "\"\n")
                .pool("[pool.health]\ninterval_ms = 100\ntimeout_ms = 100\n")
                .text();
        text.insert(text.find("pool = \"p\""), "access_log = \"" + access + "\"\n");
        return text;
    };
    const std::string config_path = dir.file("ringlb.toml");
    write_file(config_path, config({first.address()}));

    std::vector<std::string> check_argv = prefix;
    check_argv.insert(check_argv.end(), {ringlb_binary(), "--check", "--config", config_path});
    const RunResult check = run_process(check_argv, 30000ms);
    INFO("--check under the filter: " << check.stderr_text);
    REQUIRE(check.status.exited_with(0));

    std::vector<std::string> argv = prefix;
    argv.insert(argv.end(), {ringlb_binary(), "--config", config_path});
    Process ringlb("ringlb", argv);
    INFO("ringlb output:\n" << ringlb.tail(40));
    ringlb.wait_for_line(R"(\bready workers=\d+)", 10000ms);
    const LineMatch listening =
        ringlb.wait_for_line(R"(\blistening listener=in address=\S*:(\d+) )", 2000ms);
    const auto port = static_cast<std::uint16_t>(std::stoul(listening.groups[1]));
    const AdminClient admin(admin_port(ringlb), "sandbox-token");
    // The unit's UMask applies to what ringlb creates.
    struct stat log_status {};
    REQUIRE(::stat(access.c_str(), &log_status) == 0);
    CHECK((log_status.st_mode & 077) == 0);

    relay(port, 20);
    const HttpReply metrics = admin.get("/metrics");
    REQUIRE(metrics.status == 200);
    CHECK(
        parse_metrics(metrics.body).at("ringlb_connections_accepted_total", {{"listener", "in"}}) ==
        20);

    // A reload that adds a backend, then traffic that reaches both.
    write_file(config_path, config({first.address(), second.address()}));
    const std::size_t before = ringlb.line_count();
    ringlb.signal(SIGHUP);
    ringlb.wait_for_line(R"(\breloaded config=.* generation=2 )", 10000ms, before);
    relay(port, 20);
    CHECK(parse_json(admin.get("/status").body).at("pools").array[0].at("backends").array.size() ==
          2);
    // SIGUSR1: the access log is reopened.
    const std::size_t before_reopen = ringlb.line_count();
    ringlb.signal(SIGUSR1);
    ringlb.wait_for_line("SIGUSR1: reopening access log files", 5000ms, before_reopen);
    relay(port, 5);

    ringlb.signal(SIGTERM);
    const ExitStatus exit = ringlb.require_exit(20000ms);
    INFO("exit: " << exit.to_string());
    CHECK(exit.exited_with(0));  // SIGSYS would mean a call outside the filter
    CHECK(ringlb.find_lines(R"(\bstopped\b)").size() == 1);
}

TEST_CASE("the filter is real: a call outside it kills the process") {
    TempDir dir;
    std::vector<std::string> argv = sandbox_prefix(dir);
    // mount(2) is in @mount, which @system-service leaves out: util-linux's mount dies.
    const std::string mount = find_on_path("mount");
    REQUIRE_FALSE(mount.empty());
    argv.insert(argv.end(), {mount, "-t", "tmpfs", "none", dir.path()});
    const RunResult result = run_process(argv, 30000ms);
    INFO("mount under the filter: " << result.status.to_string() << " " << result.stderr_text);
    CHECK(result.status.signal == SIGSYS);
}
