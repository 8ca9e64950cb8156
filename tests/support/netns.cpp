// SPDX-License-Identifier: MIT
// Network namespaces for tests, made and removed with iproute2.
#include "netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <exception>
#include <regex>
#include <thread>

#include "harness.hpp"

namespace ringlb::test {

namespace {

std::string command_line(const std::vector<std::string>& argv) {
    std::string text;
    for (const auto& arg : argv) {
        text += (text.empty() ? "" : " ") + arg;
    }
    return text;
}

std::string run_ok(const std::vector<std::string>& argv) {
    const RunResult result = run_process(argv);
    if (!result.status.exited_with(0)) {
        throw HarnessError("command failed: " + command_line(argv) + "\n" +
                           result.status.to_string() + "\nstdout: " + result.stdout_text +
                           "\nstderr: " + result.stderr_text);
    }
    return result.stdout_text;
}

}  // namespace

NetNamespace::NetNamespace(const std::string& tag)
    : name_("ringlb-" + tag + "-" + std::to_string(::getpid())) {
    require_root("network namespaces");
    const std::string ip = require_command("ip", "iproute2");
    run_ok({ip, "netns", "add", name_});
    try {
        run_ok({ip, "-n", name_, "link", "set", "lo", "up"});
    } catch (...) {
        (void)run_process({ip, "netns", "delete", name_});
        throw;
    }
}

NetNamespace::~NetNamespace() {
    try {
        (void)run_process({find_on_path("ip"), "netns", "delete", name_});
    } catch (...) {
        // Nothing more to do in a destructor; a leftover namespace has a unique name.
    }
}

std::vector<std::string> NetNamespace::exec(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {find_on_path("ip"), "netns", "exec", name_});
    return argv;
}

std::string NetNamespace::run(std::vector<std::string> argv) const {
    return run_ok(exec(std::move(argv)));
}

std::string NetNamespace::nft(std::vector<std::string> args) const {
    args.insert(args.begin(), require_command("nft", "nftables"));
    return run(std::move(args));
}

void NetNamespace::drop_syns_to(std::uint16_t port) const {
    if (!has_drop_chain_) {
        nft({"add", "table", "inet", "ringlb"});
        nft({"add", "chain", "inet", "ringlb", "input",
             "{ type filter hook input priority 0; policy accept; }"});
        has_drop_chain_ = true;
    }
    nft({"add", "rule", "inet", "ringlb", "input", "tcp", "dport", std::to_string(port), "tcp",
         "flags", "syn", "counter", "drop"});
}

void NetNamespace::stop_dropping() const {
    if (has_drop_chain_) {
        nft({"flush", "chain", "inet", "ringlb", "input"});
    }
}

std::uint64_t NetNamespace::dropped_syns() const {
    const std::string ruleset = nft({"list", "ruleset"});
    std::smatch match;
    if (!std::regex_search(ruleset, match, std::regex(R"(counter packets (\d+) bytes)"))) {
        throw HarnessError("no SYN-drop counter in the nft ruleset:\n" + ruleset);
    }
    return std::stoull(match[1].str());
}

void NetNamespace::run_inside(const std::function<void()>& body) const {
    std::exception_ptr error;
    std::thread client([&] {
        try {
            const std::string path = "/var/run/netns/" + name_;
            const UniqueFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
            if (!ns || ::setns(ns.get(), CLONE_NEWNET) != 0) {
                throw HarnessError("cannot join network namespace " + path);
            }
            body();
        } catch (...) {
            error = std::current_exception();
        }
    });
    client.join();
    if (error) {
        std::rethrow_exception(error);
    }
}

std::unique_ptr<Process> start_greet_backend_in(const NetNamespace& ns, std::uint16_t port,
                                                const std::string& name) {
    auto backend = std::make_unique<Process>(
        "backend(greet)", ns.exec({backend_binary(), "--mode", "greet", "--listen",
                                   "127.0.0.1:" + std::to_string(port), "--reply", name}));
    backend->wait_for_line(R"(^listening 127\.0\.0\.1:)" + std::to_string(port) + "$",
                           std::chrono::milliseconds(5000));
    return backend;
}

}  // namespace ringlb::test
