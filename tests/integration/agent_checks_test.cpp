// SPDX-License-Identifier: MIT
// Agent checks (pool.health.agent_port, HAProxy's agent-check) through the real binary: the
// agent's one-line answer takes a backend out (down, drain, maint), brings it back (up, ready)
// and shifts its share of new connections (NN%); a dead agent changes nothing; a reload applies
// agent_port, agent_send and agent_interval_ms, and turning the agent off clears its verdict.
//
// The agent is this test: one listener on the wildcard address, answering by the local address
// it was reached at, so that backend a (127.0.0.1) and backend b (127.0.0.2) each have their
// own agent on the same port.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// A loaded 2-core machine may run a probe late.
constexpr milliseconds kAgentWait = 5000ms;
const std::string kAdmin = "\n[admin]\nbind = \"127.0.0.1:0\"\n";

// A tiny agent: accepts on 0.0.0.0:PORT, reads what the probe sends when `expect_send` is set
// (and answers only once it came), writes the reply set for the local address the connection
// reached, and closes. A reply of nullopt closes without a word.
class Agent final {
  public:
    Agent() : listener_(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_ANY);
        if (!listener_ || ::pipe2(stop_, O_CLOEXEC) < 0 ||
            ::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) <
                0 ||
            ::listen(listener_.get(), 64) < 0) {
            throw HarnessError(std::string("agent: ") + std::strerror(errno));
        }
        port_ = local_port(listener_.get());
        thread_ = std::thread([this] { serve(); });
    }
    Agent(const Agent&) = delete;
    Agent& operator=(const Agent&) = delete;
    ~Agent() { stop(); }

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

    // What the agent of `ip` ("127.0.0.1", "127.0.0.2") answers from now on.
    void set(const std::string& ip, std::optional<std::string> reply) {
        std::lock_guard lock(mutex_);
        replies_[ip] = std::move(reply);
    }
    // The agent answers only after reading these bytes (agent_send).
    void expect_send(std::string bytes) {
        std::lock_guard lock(mutex_);
        expect_send_ = std::move(bytes);
    }
    // Stops listening: connections are refused from now on.
    void stop() {
        if (thread_.joinable()) {
            (void)!::write(stop_[1], "x", 1);
            thread_.join();
            ::close(stop_[0]);
            ::close(stop_[1]);
        }
        listener_.reset();
    }

  private:
    void serve() {
        for (;;) {
            pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_[0], POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0 && errno != EINTR) {
                return;
            }
            if (fds[1].revents != 0) {
                return;
            }
            ringlb::UniqueFd client(
                ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (!client) {
                continue;
            }
            sockaddr_in local{};
            socklen_t length = sizeof local;
            ::getsockname(client.get(), reinterpret_cast<sockaddr*>(&local), &length);
            char ip[INET_ADDRSTRLEN] = {};
            ::inet_ntop(AF_INET, &local.sin_addr, ip, sizeof ip);
            std::optional<std::string> reply;
            std::string expected;
            {
                std::lock_guard lock(mutex_);
                reply = replies_[ip];
                expected = expect_send_;
            }
            if (!expected.empty()) {
                std::string got;
                try {
                    got = read_exact(client.get(), expected.size(), deadline_in(1s));
                } catch (const HarnessError&) {
                }
                if (got != expected) {
                    continue;  // the wrong question: closed without a word
                }
            }
            if (reply) {
                try {
                    send_all(client.get(), *reply, deadline_in(1s));
                } catch (const HarnessError&) {
                }
            }
        }
    }

    ringlb::UniqueFd listener_;
    int stop_[2] = {-1, -1};
    std::uint16_t port_ = 0;
    std::mutex mutex_;
    std::map<std::string, std::optional<std::string>> replies_;  // by local IP
    std::string expect_send_;
    std::thread thread_;
};

// A greet backend ("NAME\n", then echo) on `ip` (the harness's backends are on 127.0.0.1).
Backend start_greet_on(const std::string& ip, const std::string& name) {
    Backend backend;
    backend.process =
        std::make_unique<Process>("backend(greet " + name + ")",
                                  std::vector<std::string>{backend_binary(), "--mode", "greet",
                                                           "--reply", name, "--listen", ip + ":0"});
    const auto match =
        backend.process->wait_for_line("^listening " + regex_escape(ip) + ":(\\d+)$", 5000ms);
    backend.port = static_cast<std::uint16_t>(std::stoul(match.groups[1]));
    return backend;
}

// The /status entry of the backend at `address`.
Json backend_status(const AdminClient& admin, const std::string& address) {
    const Json status = parse_json(admin.get("/status").body);
    for (const Json& pool : status.at("pools").array) {
        for (const Json& backend : pool.at("backends").array) {
            if (backend.at("address").string == address) {
                return backend;
            }
        }
    }
    throw HarnessError("no backend " + address + " in /status");
}

// Waits for ringlb's "agent verdict" line about `address` with `verdict` ("75% drain up") at
// index `from` or later (it comes after the new live set is out, so every new connection
// already follows it), then checks /status says the same and returns its entry.
Json wait_verdict(Ringlb& lb, const AdminClient& admin, const std::string& address,
                  const std::string& verdict, std::size_t from) {
    lb.process->wait_for_line("agent verdict pool=p backend=" + regex_escape(address) +
                                  " agent=\"" + regex_escape(verdict) + "\"",
                              kAgentWait, from);
    Json backend = backend_status(admin, address);
    CHECK(backend.at("agent").string == verdict);
    return backend;
}

// Polls /metrics until ringlb_agent_checks_total{result} of the backend grows past `above`.
void wait_agent_checks(const AdminClient& admin, const std::string& address,
                       const std::string& result, double above) {
    const std::map<std::string, std::string> labels{
        {"pool", "p"}, {"backend", address}, {"result", result}};
    const Metrics metrics = wait_for_metrics(
        admin,
        [&](const Metrics& m) {
            const auto value = m.find("ringlb_agent_checks_total", labels);
            return value && *value > above;
        },
        kAgentWait);
    REQUIRE(metrics.at("ringlb_agent_checks_total", labels) > above);
}

double agent_checks(const AdminClient& admin, const std::string& address,
                    const std::string& result) {
    return get_metrics(admin).at("ringlb_agent_checks_total",
                                 {{"pool", "p"}, {"backend", address}, {"result", result}});
}

std::string pool_settings(std::uint16_t agent_port, const std::string& agent_extra = "") {
    return "algorithm = \"weighted_round_robin\"\n"
           "[pool.health]\ninterval_ms = 200\ntimeout_ms = 200\n" +
           (agent_port == 0
                ? std::string()
                : "agent_port = " + std::to_string(agent_port) + "\nagent_interval_ms = 200\n") +
           agent_extra;
}

std::string config(const Backend& a, const Backend& b, const std::string& settings) {
    return SimpleConfig({})
        .global(kAdmin)
        .pool(settings + "\n" + backend_table(a.address(), "weight = 4") +
              backend_table("127.0.0.2:" + std::to_string(b.port), "weight = 4"))
        .text();
}

// `count` short connections through ringlb, as "\"a\"=20 \"b\"=10 " (readable when a check
// fails), and the same text for the counts expected.
std::string spread(std::uint16_t port, int count) {
    return describe_counts(short_connections(port, count));
}
std::string counts(const std::map<std::string, int>& expected) {
    return describe_counts(expected);
}

}  // namespace

TEST_CASE("the agent's down, up, drain, maint and weight share decide where new connections go") {
    Agent agent;
    agent.set("127.0.0.1", "up\n");
    agent.set("127.0.0.2", "up 100% ready\n");
    Backend a = start_greet_backend("a");
    Backend b = start_greet_on("127.0.0.2", "b");
    const std::string b_address = "127.0.0.2:" + std::to_string(b.port);
    Ringlb lb = start_ringlb(config(a, b, pool_settings(agent.port())));
    AdminClient admin{admin_port(*lb.process)};
    // The verdict a reply sets, once ringlb published it.
    const auto answer = [&](const std::string& reply, const std::string& verdict) {
        const std::size_t from = lb.process->line_count();
        agent.set("127.0.0.2", reply);
        return wait_verdict(lb, admin, b_address, verdict, from);
    };
    wait_agent_checks(admin, b_address, "passed", 0);
    CHECK(backend_status(admin, b_address).at("agent").string == "100% ready up");
    CHECK(spread(lb.port, 20) == counts({{"a", 10}, {"b", 10}}));

    // down: b takes no new connections; /status says why.
    Json status = answer("down\n", "100% ready down");
    CHECK(status.at("agent_down").boolean);
    CHECK(status.at("agent_check").string == "passed");
    CHECK(status.at("healthy").boolean);  // the health check still passes
    CHECK(spread(lb.port, 10) == counts({{"a", 10}}));
    CHECK(get_metrics(admin).at("ringlb_backend_agent_state",
                                {{"pool", "p"}, {"backend", b_address}, {"state", "down"}}) == 1);

    // up: back.
    answer("UP\n", "100% ready up");
    CHECK(spread(lb.port, 20) == counts({{"a", 10}, {"b", 10}}));

    // drain: an open connection to b goes on; new ones go to a.
    HeldConnection held = open_held(lb.port);
    if (held.backend != "b") {
        held = open_held(lb.port);
    }
    REQUIRE(held.backend == "b");
    status = answer("drain\n", "100% drain up");
    CHECK(status.at("agent_state").string == "drain");
    CHECK(status.at("state").string == "active");  // the operator's state is not the agent's
    CHECK(spread(lb.port, 10) == counts({{"a", 10}}));
    send_all(held.fd.get(), "still here\n", deadline_in(2s));
    CHECK(read_exact(held.fd.get(), 11, deadline_in(2s)) == "still here\n");

    // maint: out too.
    answer("maint\n", "100% maint up");
    CHECK(spread(lb.port, 10) == counts({{"a", 10}}));

    // ready 50%: weight 4 x 50 % = 2 against a's 4, exactly 2:1 in smooth weighted round robin.
    answer("ready 50%\n", "50% ready up");
    CHECK(spread(lb.port, 30) == counts({{"a", 20}, {"b", 10}}));
    CHECK(get_metrics(admin).at("ringlb_backend_agent_weight_percent",
                                {{"pool", "p"}, {"backend", b_address}}) == 50);

    // 75% drain: both parts at once; then ready keeps the 75 %: weight 3 against 4.
    answer("75% drain\n", "75% drain up");
    CHECK(spread(lb.port, 14) == counts({{"a", 14}}));
    answer("ready\n", "75% ready up");
    CHECK(spread(lb.port, 35) == counts({{"a", 20}, {"b", 15}}));

    // Unknown words are ignored and counted; logged once, not once per reply.
    agent.set("127.0.0.2", "sleepy 75%\n");
    lb.process->wait_for_line("agent reply with unknown words pool=p backend=" +
                                  regex_escape(b_address) + " word=\"sleepy\"",
                              kAgentWait);
    const double passed = agent_checks(admin, b_address, "passed");
    wait_agent_checks(admin, b_address, "passed", passed + 1);
    status = backend_status(admin, b_address);
    CHECK(status.at("agent").string == "75% ready up");
    CHECK(status.at("agent_unknown_words").number >= 3);
    CHECK(lb.process->find_lines("agent reply with unknown words").size() == 1);
    CHECK(lb.process->running());
}

TEST_CASE("a dead agent changes nothing: closed without a line or refused, the verdict holds") {
    Agent agent;
    agent.set("127.0.0.1", "up\n");
    agent.set("127.0.0.2", "50% drain\n");
    Backend a = start_greet_backend("a");
    Backend b = start_greet_on("127.0.0.2", "b");
    const std::string b_address = "127.0.0.2:" + std::to_string(b.port);
    Ringlb lb = start_ringlb(config(a, b, pool_settings(agent.port())));
    AdminClient admin{admin_port(*lb.process)};
    wait_verdict(lb, admin, b_address, "50% drain up", 0);
    const std::size_t from = lb.process->line_count();
    agent.set("127.0.0.2", "ready\n");
    wait_verdict(lb, admin, b_address, "50% ready up", from);

    // Closed without a word: two such probes, and nothing changed.
    agent.set("127.0.0.2", std::nullopt);
    wait_agent_checks(admin, b_address, "closed", 1);
    Json status = backend_status(admin, b_address);
    CHECK(status.at("agent").string == "50% ready up");
    CHECK(status.at("agent_check").string == "closed");
    CHECK(spread(lb.port, 30) == counts({{"a", 20}, {"b", 10}}));

    // Refused: the agent's port is closed.
    agent.stop();
    wait_agent_checks(admin, b_address, "refused", 1);
    status = backend_status(admin, b_address);
    CHECK(status.at("agent").string == "50% ready up");
    CHECK(status.at("agent_check").string == "refused");
    CHECK(status.at("agent_check_reason").string == "Connection refused");
    CHECK(spread(lb.port, 30) == counts({{"a", 20}, {"b", 10}}));
    // Logged once when it stopped answering, not once per probe.
    CHECK(lb.process
              ->find_lines("warn +agent not answering pool=p backend=" + regex_escape(b_address))
              .size() == 1);
    CHECK(lb.process->running());
}

TEST_CASE(
    "a reload applies agent_port, agent_send and agent_interval_ms; turning the agent off "
    "clears its verdict") {
    Agent first;
    first.set("127.0.0.1", "up\n");
    first.set("127.0.0.2", "down\n");
    Agent second;
    second.expect_send("status b\n");
    second.set("127.0.0.1", "up\n");
    second.set("127.0.0.2", "25%\n");
    Backend a = start_greet_backend("a");
    Backend b = start_greet_on("127.0.0.2", "b");
    const std::string b_address = "127.0.0.2:" + std::to_string(b.port);
    // One agent probe at start-up, the next an hour later.
    Ringlb lb = start_ringlb(
        config(a, b,
               "algorithm = \"weighted_round_robin\"\n[pool.health]\ninterval_ms = 200\n"
               "timeout_ms = 200\nagent_port = " +
                   std::to_string(first.port()) + "\nagent_interval_ms = 3600000\n"));
    AdminClient admin{admin_port(*lb.process)};
    wait_verdict(lb, admin, b_address, "100% ready down", 0);
    CHECK(spread(lb.port, 6) == counts({{"a", 6}}));

    // A shorter agent_interval_ms applies at once: the next probe does not wait an hour.
    first.set("127.0.0.2", "up\n");
    std::size_t from = lb.process->line_count();
    reload_ringlb(lb, config(a, b, pool_settings(first.port())));
    wait_verdict(lb, admin, b_address, "100% ready up", from);

    // Another port with agent_send: the new agent answers only the right question.
    from = lb.process->line_count();
    reload_ringlb(lb, config(a, b, pool_settings(second.port(), "agent_send = \"status b\\n\"\n")));
    wait_verdict(lb, admin, b_address, "25% ready up", from);
    CHECK(spread(lb.port, 15) == counts({{"a", 12}, {"b", 3}}));
    // The same port without agent_send: the agent waits for a question that never comes and
    // the probe times out, which changes nothing.
    const double timeouts = agent_checks(admin, b_address, "reply_timeout");
    reload_ringlb(lb, config(a, b, pool_settings(second.port())));
    wait_agent_checks(admin, b_address, "reply_timeout", timeouts);
    CHECK(backend_status(admin, b_address).at("agent").string == "25% ready up");

    // The agent turned off: its verdict is gone, b has its full weight again.
    second.set("127.0.0.2", "down\n");
    from = lb.process->line_count();
    reload_ringlb(lb, config(a, b, pool_settings(0)));
    lb.process->wait_for_line("agent verdict cleared pool=p backend=" + regex_escape(b_address),
                              kAgentWait, from);
    CHECK(backend_status(admin, b_address).find("agent") == nullptr);
    CHECK(get_metrics(admin).at("ringlb_backend_agent_weight_percent",
                                {{"pool", "p"}, {"backend", b_address}}) == 100);
    CHECK(spread(lb.port, 20) == counts({{"a", 10}, {"b", 10}}));
    CHECK(lb.process->running());
}
