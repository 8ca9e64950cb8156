// SPDX-License-Identifier: MIT
// Connect timeout for real: in a private network namespace an nft rule drops the SYNs to one
// backend, so ringlb's connect hangs until connect_timeout_ms and then retries or closes the
// client.
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <exception>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kListenerPort = 9000;
constexpr std::uint16_t kDroppedPort = 9001;
constexpr std::uint16_t kLivePort = 9002;

std::string ip_binary;  // set by require_prerequisites

[[noreturn]] void skip(const std::string& reason) {
    WARN("skipping the SYN-drop test: " << reason);
    std::exit(77);  // meson: skipped
}

void require_prerequisites() {
    if (::geteuid() != 0) {
        skip("needs root to create a network namespace and nft rules");
    }
    ip_binary = find_on_path("ip");
    if (ip_binary.empty()) {
        skip("the ip command (iproute2) is not installed");
    }
    if (find_on_path("nft").empty()) {
        skip("the nft command (nftables) is not installed");
    }
}

std::string describe(const RunResult& result) {
    return result.status.to_string() + "\nstdout: " + result.stdout_text +
           "\nstderr: " + result.stderr_text;
}

// Runs a command that must succeed.
std::string run_ok(const std::vector<std::string>& argv) {
    const RunResult result = run_process(argv);
    if (!result.status.exited_with(0)) {
        std::string command;
        for (const auto& arg : argv) {
            command += arg + " ";
        }
        throw HarnessError("command failed: " + command + "\n" + describe(result));
    }
    return result.stdout_text;
}

// A network namespace with lo up and an nft rule dropping TCP SYNs to kDroppedPort; deleted
// on destruction.
class SynDropNamespace final {
  public:
    explicit SynDropNamespace(const std::string& suffix)
        : name_("ringlb-syn-" + std::to_string(::getpid()) + "-" + suffix) {
        const RunResult added = run_process({ip_binary, "netns", "add", name_});
        if (!added.status.exited_with(0)) {
            skip("ip netns add failed (no CAP_SYS_ADMIN/CAP_NET_ADMIN here?): " +
                 added.stderr_text);
        }
        created_ = true;
        run_ok({ip_binary, "-n", name_, "link", "set", "lo", "up"});
        nft({"add", "table", "inet", "ringlb"});
        nft({"add", "chain", "inet", "ringlb", "input",
             "{ type filter hook input priority 0; policy accept; }"});
        nft({"add", "rule", "inet", "ringlb", "input", "tcp", "dport", std::to_string(kDroppedPort),
             "tcp", "flags", "syn", "counter", "drop"});
    }
    SynDropNamespace(const SynDropNamespace&) = delete;
    SynDropNamespace& operator=(const SynDropNamespace&) = delete;
    ~SynDropNamespace() {
        if (created_) {
            try {
                (void)run_process({ip_binary, "netns", "delete", name_});
            } catch (...) {
                // Nothing more to do in a destructor.
            }
        }
    }

    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    // argv prefixed with "ip netns exec NAME".
    [[nodiscard]] std::vector<std::string> exec(std::vector<std::string> argv) const {
        argv.insert(argv.begin(), {ip_binary, "netns", "exec", name_});
        return argv;
    }

    std::string nft(std::vector<std::string> args) const {
        args.insert(args.begin(), "nft");
        return run_ok(exec(std::move(args)));
    }

    // The packet counter of the SYN-drop rule.
    [[nodiscard]] std::uint64_t dropped_syns() const {
        const std::string ruleset = nft({"list", "ruleset"});
        std::smatch match;
        if (!std::regex_search(ruleset, match, std::regex(R"(counter packets (\d+) bytes)"))) {
            throw HarnessError("no counter in the nft ruleset:\n" + ruleset);
        }
        return std::stoull(match[1].str());
    }

    // Runs `body` on a thread that has joined this namespace, so the harness's client helpers
    // (which connect to 127.0.0.1) reach ringlb; rethrows what it threw.
    void run_inside(const std::function<void()>& body) const {
        std::exception_ptr error;
        std::thread client([&] {
            try {
                const std::string path = "/var/run/netns/" + name_;
                const ringlb::UniqueFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
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

  private:
    std::string name_;
    bool created_ = false;
};

std::string config_text(const std::vector<std::string>& backends, unsigned retries) {
    return "[global]\nworkers = 1\n\n"
           "[[listener]]\nname = \"in\"\nbind = \"127.0.0.1:" +
           std::to_string(kListenerPort) +
           "\"\npool = \"p\"\n\n"
           "[[pool]]\nname = \"p\"\nconnect_timeout_ms = 300\nretries = " +
           std::to_string(retries) + "\n" + backends_toml(backends);
}

std::string address(std::uint16_t port) {
    return "127.0.0.1:" + std::to_string(port);
}

struct InsideRinglb final {
    std::unique_ptr<TempFile> config;
    std::unique_ptr<Process> process;
};

InsideRinglb start_ringlb_inside(const SynDropNamespace& ns, const std::string& text) {
    InsideRinglb lb;
    lb.config = std::make_unique<TempFile>(text);
    lb.process = std::make_unique<Process>(
        "ringlb", ns.exec({ringlb_binary(), "--config", lb.config->path()}));
    lb.process->wait_for_line(R"(\bready workers=\d+)", 10s);
    lb.process->wait_for_line(
        R"(\blistening listener=in address=\S*:)" + std::to_string(kListenerPort), 2s);
    return lb;
}

}  // namespace

TEST_CASE("a SYN dropped by the network costs connect_timeout_ms, then the next backend serves") {
    require_prerequisites();
    SynDropNamespace ns("retry");
    Process live("backend(reply)", ns.exec({backend_binary(), "--mode", "reply", "--listen",
                                            address(kLivePort), "--reply", "live"}));
    live.wait_for_line(R"(^listening 127\.0\.0\.1:)" + std::to_string(kLivePort) + "$", 5s);
    InsideRinglb lb =
        start_ringlb_inside(ns, config_text({address(kDroppedPort), address(kLivePort)}, 1));

    std::vector<std::string> replies;
    std::vector<Clock::duration> durations;
    ns.run_inside([&] {
        for (int i = 0; i < 4; ++i) {
            const auto started = Clock::now();
            ringlb::UniqueFd fd = connect_to(kListenerPort);
            replies.push_back(read_until_eof(fd.get(), deadline_in(5s)));
            durations.push_back(Clock::now() - started);
        }
    });

    INFO("ringlb output:\n" << lb.process->tail());
    REQUIRE(replies.size() == 4);
    int slow = 0;
    for (std::size_t i = 0; i < replies.size(); ++i) {
        const auto ms = std::chrono::duration_cast<milliseconds>(durations[i]).count();
        INFO("connection " << i << " took " << ms << " ms");
        CHECK(replies[i] == "live\n");
        CHECK(durations[i] < 2s);
        if (durations[i] >= 300ms) {
            ++slow;  // went to the dropped backend first and waited out the timeout
        }
        if (i > 0) {
            // Round robin over two backends: slow and fast alternate.
            CHECK((durations[i] >= 300ms) != (durations[i - 1] >= 300ms));
        }
    }
    CHECK(slow == 2);
    // The delay came from dropped SYNs, not from a refusal.
    CHECK(ns.dropped_syns() >= 2);
    CHECK(lb.process->running());
}

TEST_CASE("a SYN dropped by the network with no retry left closes the client") {
    require_prerequisites();
    SynDropNamespace ns("noretry");
    InsideRinglb lb = start_ringlb_inside(ns, config_text({address(kDroppedPort)}, 0));

    ReadResult result;
    Clock::duration waited{};
    ns.run_inside([&] {
        const auto started = Clock::now();
        ringlb::UniqueFd fd = connect_to(kListenerPort);
        result = read_until_close(fd.get(), deadline_in(5s));
        waited = Clock::now() - started;
    });

    INFO("ringlb output:\n" << lb.process->tail());
    INFO("waited " << std::chrono::duration_cast<milliseconds>(waited).count() << " ms");
    CHECK(result.closed());
    CHECK(result.data.empty());
    CHECK(waited >= 300ms);
    CHECK(waited < 2s);
    CHECK(ns.dropped_syns() >= 1);
    CHECK(lb.process->running());
}
