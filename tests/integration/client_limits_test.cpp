// SPDX-License-Identifier: MIT
// Per-client limits: concurrent connections and the new-connection rate of one client address.
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <optional>
#include <thread>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;
using ringlb::UniqueFd;

namespace {

// Connects from `source` (on loopback, 127.0.0.2, 127.0.0.3... are other clients as far as
// ringlb can tell) and sends a ping through ringlb to the echo backend: the open
// connection when the echo comes back, nullopt when ringlb closes it instead (within the
// deadline; a connection that neither echoes nor closes fails the test).
std::optional<UniqueFd> try_admit(std::uint16_t port, const std::string& source) {
    UniqueFd client = connect_from(source, port);
    const std::string ping = "ping from " + source;
    send_all(client.get(), ping, deadline_in(5s));
    const Deadline deadline = deadline_in(5s);
    std::string received;
    while (received.size() < ping.size()) {
        char buffer[256];
        const ssize_t n = ::recv(client.get(), buffer, sizeof buffer, 0);
        if (n > 0) {
            received.append(buffer, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            INFO("closed after " << received.size() << " bytes");
            REQUIRE(received.empty());  // closed at admission, never half-relayed
            return std::nullopt;
        }
        pollfd poll_fd{client.get(), POLLIN, 0};
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        if (left.count() <= 0 || ::poll(&poll_fd, 1, static_cast<int>(left.count())) == 0) {
            FAIL("connection from " << source << " neither served nor closed within 5 s");
        }
    }
    REQUIRE(received == ping);
    return client;
}

bool admitted(std::uint16_t port, const std::string& source, std::vector<UniqueFd>& keep) {
    std::optional<UniqueFd> client = try_admit(port, source);
    if (!client) {
        return false;
    }
    keep.push_back(std::move(*client));
    return true;
}

std::string config(const std::vector<std::pair<std::string, std::string>>& listeners,
                   const std::string& backend) {
    std::string text = "[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:0\"\n\n";
    for (const auto& [name, lines] : listeners) {
        text +=
            fmt::format("[[listener]]\nname = \"{}\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n{}\n\n",
                        name, lines);
    }
    return text + "[[pool]]\nname = \"p\"\n" + backends_toml({backend});
}

// The new-connection rate of one client as ringlb enforces it (GCRA): starting from a full
// bucket at the first arrival t0, at most `burst + floor((t - t0) / period)` connections are
// admitted by time t, and a connection within that allowance is admitted. Each attempt is
// judged from the window [started, ended] in which ringlb decided it, so the verdicts hold
// however slowly the machine runs; a slow machine only makes them less strict.
class RateLaw final {
  public:
    RateLaw(std::uint64_t burst, milliseconds period) : burst_(burst), period_(period) {}

    // Makes one attempt from `source` and checks ringlb's verdict against the law; returns
    // whether it was admitted.
    bool attempt(std::uint16_t port, const std::string& source) {
        const auto started = Clock::now();
        const bool in = try_admit(port, source).has_value();
        const auto ended = Clock::now();
        if (attempts_ == 0) {
            first_started_ = started;
            first_ended_ = ended;
        }
        ++attempts_;
        // How many periods a connection beyond the burst needs to have passed since t0.
        const auto needed =
            period_ * static_cast<long>(admitted_ + 1 - std::min(admitted_ + 1, burst_));
        INFO("attempt " << attempts_ << " from " << source << ": " << (in ? "admitted" : "refused")
                        << " with " << admitted_ << " admitted before; needs " << needed.count()
                        << " ms since the first");
        if (in) {
            // Admitted: enough time may have passed, measured as generously as possible.
            CHECK(needed <= ended - first_started_ + kClockSlack);
            ++admitted_;
        } else {
            // Refused: the allowance cannot have been there yet, measured as strictly.
            CHECK(admitted_ + 1 > burst_);
            CHECK(needed + kClockSlack > started - first_ended_);
            ++refused_;
        }
        return in;
    }

    // Attempts back to back until one is refused (at most 50); returns the number admitted.
    std::uint64_t until_refused(std::uint16_t port, const std::string& source) {
        std::uint64_t in = 0;
        for (int i = 0; i < 50; ++i) {
            if (!attempt(port, source)) {
                return in;
            }
            ++in;
        }
        FAIL("50 connections in a row were admitted");
        return in;
    }

    // Attempts every 20 ms until one is admitted (bounded); returns the time since the first
    // attempt started.
    Clock::duration until_admitted(std::uint16_t port, const std::string& source) {
        for (const Deadline deadline = deadline_in(period_ * 10); Clock::now() < deadline;) {
            if (attempt(port, source)) {
                return Clock::now() - first_started_;
            }
            std::this_thread::sleep_for(20ms);
        }
        FAIL("not admitted again within ten periods");
        return {};
    }

    [[nodiscard]] std::uint64_t refused() const noexcept { return refused_; }

  private:
    // ringlb's clock for the rate is coarse (a few milliseconds).
    static constexpr milliseconds kClockSlack{20};
    std::uint64_t burst_;
    milliseconds period_;
    std::uint64_t admitted_ = 0;
    std::uint64_t refused_ = 0;
    std::uint64_t attempts_ = 0;
    Clock::time_point first_started_;
    Clock::time_point first_ended_;
};

}  // namespace

TEST_CASE("max_connections_per_client: the next connection is closed, other clients get in") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config({{"in", "max_connections_per_client = 2"}}, echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t port = lb.port_of("in");
    const AdminClient admin(admin_port(*lb.process));
    std::vector<UniqueFd> open;

    REQUIRE(admitted(port, "127.0.0.1", open));
    REQUIRE(admitted(port, "127.0.0.1", open));
    CHECK_FALSE(admitted(port, "127.0.0.1", open));
    // Other addresses have limits of their own.
    CHECK(admitted(port, "127.0.0.2", open));
    CHECK(admitted(port, "127.0.0.2", open));
    CHECK_FALSE(admitted(port, "127.0.0.2", open));
    CHECK(admitted(port, "127.0.0.3", open));
    std::uint64_t refusals = 2;

    // Once one of its connections has closed, the client gets in again. ringlb notices the
    // close asynchronously, so a few attempts may still be refused (and counted) first.
    open.front().reset();
    const Deadline deadline = deadline_in(3s);
    bool back_in = false;
    while (!back_in && Clock::now() < deadline) {
        back_in = admitted(port, "127.0.0.1", open);
        if (!back_in) {
            ++refusals;
            std::this_thread::sleep_for(20ms);
        }
    }
    CHECK(back_in);
    // ... and is at its limit again.
    CHECK_FALSE(admitted(port, "127.0.0.1", open));
    ++refusals;

    CHECK(wait_for_rejected(admin, "in", "client_limit", refusals) == refusals);
    CHECK(wait_for_rejected(admin, "in", "rate_limited", 0) == 0);
    // Closing every connection frees every count: all three clients get back to full quota.
    open.clear();
    for (const char* source : {"127.0.0.1", "127.0.0.2", "127.0.0.3"}) {
        INFO("client " << source);
        const Deadline settle = deadline_in(3s);
        std::vector<UniqueFd> pair;
        while (!admitted(port, source, pair) && Clock::now() < settle) {
            std::this_thread::sleep_for(20ms);
        }
        CHECK(admitted(port, source, pair));
        CHECK(pair.size() == 2);
    }
}

TEST_CASE("max_connections_per_client counts connections on its own listener only") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config({{"a", "max_connections_per_client = 1"},
                                     {"b", "max_connections_per_client = 1"},
                                     {"unlimited", ""}},
                                    echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    std::vector<UniqueFd> open;

    REQUIRE(admitted(lb.port_of("a"), "127.0.0.1", open));
    CHECK(admitted(lb.port_of("unlimited"), "127.0.0.1", open));
    CHECK(admitted(lb.port_of("unlimited"), "127.0.0.1", open));
    // The documentation: "Connections one client address may have open at once on this
    // listener." The connection on "a" must not use up the client's quota on "b".
    CHECK(admitted(lb.port_of("b"), "127.0.0.1", open));
    CHECK_FALSE(admitted(lb.port_of("a"), "127.0.0.1", open));
}

TEST_CASE("a client's arrivals on one listener do not use up its rate on another") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config(
        {{"slow", "new_connections_per_client_per_s = 1\nnew_connections_per_client_burst = 1"},
         {"fast",
          "new_connections_per_client_per_s = 100\nnew_connections_per_client_burst = 100"}},
        echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());

    CHECK(try_admit(lb.port_of("slow"), "127.0.0.6").has_value());
    // "fast" allows a burst of 100: the arrival on "slow" must not hold these back.
    for (int i = 0; i < 5; ++i) {
        INFO("connection " << i + 1 << " on fast");
        CHECK(try_admit(lb.port_of("fast"), "127.0.0.6").has_value());
    }
    // "slow" has spent its single token.
    CHECK_FALSE(try_admit(lb.port_of("slow"), "127.0.0.6").has_value());
}

TEST_CASE("new_connections_per_client_per_s: a burst beyond the bucket is closed and counted") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config(
        {{"in", "new_connections_per_client_per_s = 2\nnew_connections_per_client_burst = 3"}},
        echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t port = lb.port_of("in");
    const AdminClient admin(admin_port(*lb.process));

    // A burst: the bucket's 3 come in (more only if the machine took a whole period of
    // 500 ms over them), then one is closed at once: the rate limits arrivals, not open
    // connections.
    RateLaw law(3, 500ms);
    CHECK(law.until_refused(port, "127.0.0.1") >= 3);
    // Another address has a bucket of its own.
    RateLaw other(3, 500ms);
    CHECK(other.until_refused(port, "127.0.0.2") >= 3);
    // The bucket fills again at the rate: the next one comes in one period later...
    law.until_admitted(port, "127.0.0.1");
    // ... and that token was the only one (unless another period passed meanwhile).
    law.until_refused(port, "127.0.0.1");

    const double refusals = static_cast<double>(law.refused() + other.refused());
    CHECK(wait_for_rejected(admin, "in", "rate_limited", refusals) == refusals);
    CHECK(wait_for_rejected(admin, "in", "client_limit", 0) == 0);
}

TEST_CASE("without a burst setting, the bucket holds one second's worth of connections") {
    Backend echo = start_backend("echo");
    Ringlb lb =
        start_ringlb(config({{"in", "new_connections_per_client_per_s = 3"}}, echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t port = lb.port_of("in");

    // Three come in (more only if the machine took 333 ms over them), then one is refused.
    RateLaw law(3, 333ms);
    CHECK(law.until_refused(port, "127.0.0.4") >= 3);
    const double refusals = static_cast<double>(law.refused());
    CHECK(wait_for_rejected(AdminClient(admin_port(*lb.process)), "in", "rate_limited", refusals) ==
          refusals);
}

TEST_CASE("both limits together: each refusal is counted under its own reason") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config({{"in",
                                      "max_connections_per_client = 1\n"
                                      "new_connections_per_client_per_s = 1\n"
                                      "new_connections_per_client_burst = 2"}},
                                    echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t port = lb.port_of("in");
    const AdminClient admin(admin_port(*lb.process));
    std::vector<UniqueFd> open;

    REQUIRE(admitted(port, "127.0.0.5", open));      // token 1 of 2
    CHECK_FALSE(admitted(port, "127.0.0.5", open));  // over the connection limit
    open.clear();
    // The refusal for too many connections used no token: one is left for this client.
    const Deadline deadline = deadline_in(3s);
    std::uint64_t limit_refusals = 1;
    bool in = false;
    while (!in && Clock::now() < deadline) {
        in = admitted(port, "127.0.0.5", open);
        if (!in) {
            ++limit_refusals;  // the close of the first is not yet noticed
            std::this_thread::sleep_for(20ms);
        }
    }
    CHECK(in);
    open.clear();
    CHECK(wait_for_rejected(admin, "in", "client_limit", limit_refusals) == limit_refusals);
    CHECK(wait_for_rejected(admin, "in", "rate_limited", 0) == 0);
}

TEST_CASE("connections that end without a backend, or by a reset, give their count back") {
    Backend echo = start_backend("echo");
    const std::string dead = fmt::format("127.0.0.1:{}", refused_port());
    Ringlb lb = start_ringlb(
        "[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:0\"\n\n"
        "[[listener]]\nname = \"dead\"\nbind = \"127.0.0.1:0\"\npool = \"dead\"\n"
        "max_connections_per_client = 1\n\n"
        "[[listener]]\nname = \"live\"\nbind = \"127.0.0.1:0\"\npool = \"live\"\n"
        "max_connections_per_client = 1\n\n"
        "[[pool]]\nname = \"dead\"\nretries = 0\n" +
        backends_toml({dead}) + "\n[[pool]]\nname = \"live\"\n" + backends_toml({echo.address()}));
    INFO("ringlb output:\n" << lb.process->tail());
    const AdminClient admin(admin_port(*lb.process));

    // Each connection is admitted, then closed because the backend refuses: were its count
    // kept, the second and third would be refused for the client limit instead.
    for (int i = 0; i < 3; ++i) {
        UniqueFd client = connect_from("127.0.0.7", lb.port_of("dead"));
        const ReadResult result = read_until_close(client.get(), deadline_in(3s));
        CHECK(result.closed());
        CHECK_FALSE(result.timed_out);
    }
    CHECK(wait_for_rejected(admin, "dead", "no_backend", 3) == 3);
    CHECK(wait_for_rejected(admin, "dead", "client_limit", 0) == 0);

    // A client that resets its relayed connection gets back in once ringlb has noticed.
    for (int i = 0; i < 3; ++i) {
        INFO("round " << i + 1);
        std::optional<UniqueFd> client;
        const Deadline deadline = deadline_in(3s);
        while (!client && Clock::now() < deadline) {
            client = try_admit(lb.port_of("live"), "127.0.0.8");
            if (!client) {
                std::this_thread::sleep_for(20ms);
            }
        }
        REQUIRE(client.has_value());
        reset_close(*client);
    }
}
