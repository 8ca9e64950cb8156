// SPDX-License-Identifier: MIT
// pool.health.timeout_ms for real: in a private network namespace an nft rule drops the SYNs
// to one backend, so its probes time out (nothing refuses them); the backend goes down after
// `fall` timeouts, and comes back once the rule is removed.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <exception>
#include <functional>
#include <regex>
#include <thread>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kListenerPort = 9000;
constexpr std::uint16_t kSilentPort = 9001;  // its SYNs are dropped while the rule is there
constexpr std::uint16_t kLivePort = 9002;
constexpr int kIntervalMs = 300;
constexpr int kTimeoutMs = 200;
constexpr int kFall = 2;
constexpr int kRise = 2;

// Runs a command that must succeed; throws with its output otherwise.
std::string run_ok(const std::vector<std::string>& argv) {
    const RunResult result = run_process(argv);
    if (!result.status.exited_with(0)) {
        std::string command;
        for (const auto& arg : argv) {
            command += arg + " ";
        }
        throw HarnessError("command failed: " + command + "\n" + result.status.to_string() +
                           "\nstdout: " + result.stdout_text + "\nstderr: " + result.stderr_text);
    }
    return result.stdout_text;
}

// A network namespace with lo up and an nft table whose input chain can drop the SYNs to
// kSilentPort; deleted on destruction. A missing tool or privilege fails the test (CI runs
// as root with iproute2 and nftables installed by scripts/test).
class Namespace final {
  public:
    Namespace() : name_("ringlb-health-" + std::to_string(::getpid())) {
        REQUIRE(::geteuid() == 0);
        ip_ = find_on_path("ip");
        REQUIRE_FALSE(ip_.empty());
        REQUIRE_FALSE(find_on_path("nft").empty());
        run_ok({ip_, "netns", "add", name_});
        created_ = true;
        run_ok({ip_, "-n", name_, "link", "set", "lo", "up"});
        nft({"add", "table", "inet", "ringlb"});
        nft({"add", "chain", "inet", "ringlb", "input",
             "{ type filter hook input priority 0; policy accept; }"});
    }
    Namespace(const Namespace&) = delete;
    Namespace& operator=(const Namespace&) = delete;
    ~Namespace() {
        if (created_) {
            try {
                (void)run_process({ip_, "netns", "delete", name_});
            } catch (...) {
                // Nothing more to do in a destructor.
            }
        }
    }

    [[nodiscard]] std::vector<std::string> exec(std::vector<std::string> argv) const {
        argv.insert(argv.begin(), {ip_, "netns", "exec", name_});
        return argv;
    }
    std::string nft(std::vector<std::string> args) const {
        args.insert(args.begin(), "nft");
        return run_ok(exec(std::move(args)));
    }
    void drop_syns() const {
        nft({"add", "rule", "inet", "ringlb", "input", "tcp", "dport", std::to_string(kSilentPort),
             "tcp", "flags", "syn", "counter", "drop"});
    }
    void stop_dropping() const { nft({"flush", "chain", "inet", "ringlb", "input"}); }
    [[nodiscard]] std::uint64_t dropped_syns() const {
        const std::string ruleset = nft({"list", "ruleset"});
        std::smatch match;
        if (!std::regex_search(ruleset, match, std::regex(R"(counter packets (\d+) bytes)"))) {
            throw HarnessError("no counter in the nft ruleset:\n" + ruleset);
        }
        return std::stoull(match[1].str());
    }
    // Runs `body` on a thread inside the namespace, where 127.0.0.1 is ringlb's loopback.
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
    std::string ip_;
    bool created_ = false;
};

std::string address(std::uint16_t port) {
    return "127.0.0.1:" + std::to_string(port);
}

std::unique_ptr<Process> start_reply(const Namespace& ns, std::uint16_t port,
                                     const std::string& reply) {
    auto backend = std::make_unique<Process>(
        "backend(" + reply + ")", ns.exec({backend_binary(), "--mode", "reply", "--listen",
                                           address(port), "--reply", reply}));
    backend->wait_for_line(R"(^listening 127\.0\.0\.1:)" + std::to_string(port) + "$", 5s);
    return backend;
}

}  // namespace

TEST_CASE("a black-holed backend goes down after `fall` probe timeouts and back without them") {
    Namespace ns;
    const auto silent = start_reply(ns, kSilentPort, "silent");
    const auto live = start_reply(ns, kLivePort, "live");
    TempFile config("[global]\nworkers = 2\n\n[[listener]]\nname = \"in\"\nbind = \"" +
                    address(kListenerPort) + "\"\npool = \"p\"\n\n[[pool]]\nname = \"p\"\n" +
                    "retries = 0\n[pool.health]\ninterval_ms = " + std::to_string(kIntervalMs) +
                    "\ntimeout_ms = " + std::to_string(kTimeoutMs) +
                    "\nrise = " + std::to_string(kRise) + "\nfall = " + std::to_string(kFall) +
                    "\n" + backends_toml({address(kSilentPort), address(kLivePort)}));
    Process lb("ringlb", ns.exec({ringlb_binary(), "--config", config.path()}));
    lb.wait_for_line(R"(\bready workers=2\b)", 10s);
    INFO("ringlb output:\n" << lb.tail());
    const std::string silent_pattern = "backend=127\\.0\\.0\\.1:" + std::to_string(kSilentPort);

    const std::size_t before_drop = lb.line_count();
    const auto dropped_at = Clock::now();
    ns.drop_syns();
    const LineMatch down = lb.wait_for_line(
        "warn +backend down pool=p " + silent_pattern +
            " reason=\"Connection timed out\" failures=" + std::to_string(kFall) + "$",
        10s, before_drop);
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - dropped_at);
    INFO("down " << took.count() << " ms after the rule");
    // Two probes, each waiting out its full timeout, the second an interval after the first:
    // never sooner than interval + timeout. At most interval (until the first) + interval +
    // timeout ≈ 800 ms; 5 s absorbs a loaded machine, while a probe without its timeout would
    // wait for the kernel's SYN retries (over a minute).
    CHECK(took >= milliseconds(kIntervalMs + kTimeoutMs));
    CHECK(took < 5s);
    // Timeouts, not refusals: nothing between the rule and the line says otherwise.
    CHECK(lb.find_lines(silent_pattern + R"( reason="Connection refused")", before_drop).empty());
    CHECK(ns.dropped_syns() >= static_cast<std::uint64_t>(kFall));

    // While it is down every connection goes to the live one (retries = 0: a pick of the
    // silent backend would hang the client for connect_timeout_ms and fail).
    ns.run_inside([&] {
        for (int i = 0; i < 6; ++i) {
            CHECK(fetch(kListenerPort, 5s) == "live\n");
        }
    });

    const std::size_t before_lift = lb.line_count();
    ns.stop_dropping();
    lb.wait_for_line(
        "info +backend up pool=p " + silent_pattern + " successes=" + std::to_string(kRise) + "$",
        5s, before_lift);
    ns.run_inside([&] {
        std::map<std::string, int> replies;
        for (int i = 0; i < 6; ++i) {
            ++replies[fetch(kListenerPort, 5s)];
        }
        INFO("replies once it is back: " << describe_counts(replies));
        CHECK(replies["silent\n"] == 3);
        CHECK(replies["live\n"] == 3);
    });

    lb.signal(SIGTERM);
    const ExitStatus status = lb.require_exit(10s);
    CHECK(status.exited_with(0));
}
