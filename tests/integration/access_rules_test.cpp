// SPDX-License-Identifier: MIT
// listener.allow / listener.deny: denied clients are closed before any backend is contacted.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <optional>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;
using ringlb::UniqueFd;

namespace {

sockaddr_storage make_address(const std::string& ip, std::uint16_t port, socklen_t& length) {
    sockaddr_storage storage{};
    if (ip.find(':') != std::string::npos) {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        REQUIRE(inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1);
        length = sizeof(sockaddr_in6);
    } else {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        REQUIRE(inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1);
        length = sizeof(sockaddr_in);
    }
    return storage;
}

// A non-blocking connection from source_ip (any port) to destination_ip:port: on loopback,
// 127.0.0.2, 127.0.0.3... are other clients as far as ringlb can tell.
UniqueFd connect_ip_from(const std::string& source_ip, const std::string& destination_ip,
                         std::uint16_t port) {
    socklen_t source_length = 0;
    socklen_t destination_length = 0;
    const sockaddr_storage source = make_address(source_ip, 0, source_length);
    const sockaddr_storage destination = make_address(destination_ip, port, destination_length);
    UniqueFd fd(::socket(destination.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&source), source_length) == 0);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&destination), destination_length) !=
        0) {
        REQUIRE(errno == EINPROGRESS);
        pollfd poll_fd{fd.get(), POLLOUT, 0};
        REQUIRE(::poll(&poll_fd, 1, 2000) == 1);
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
        INFO("connect " << source_ip << " -> " << destination_ip << ":" << port << ": "
                        << std::strerror(error));
        REQUIRE(error == 0);
    }
    return fd;
}

// A backend the test holds itself, so it can tell that no connection reached it at all.
class OwnedBackend final {
  public:
    OwnedBackend() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
        REQUIRE(fd_);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) ==
                0);
        REQUIRE(::listen(fd_.get(), 64) == 0);
        socklen_t length = sizeof address;
        REQUIRE(::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
        port_ = ntohs(address.sin_port);
    }
    [[nodiscard]] std::string address() const { return fmt::format("127.0.0.1:{}", port_); }

    // Accepts the next connection and returns its first `n` bytes; throws on timeout.
    std::string accept_and_read(std::size_t n, Deadline deadline) {
        pollfd poll_fd{fd_.get(), POLLIN, 0};
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        if (::poll(&poll_fd, 1, static_cast<int>(std::max<long>(left.count(), 0))) != 1) {
            throw HarnessError("owned backend: no connection arrived");
        }
        UniqueFd accepted(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        REQUIRE(accepted);
        std::string data = read_exact(accepted.get(), n, deadline);
        accepted_.push_back(std::move(accepted));
        return data;
    }
    // True when no connection is waiting to be accepted.
    bool idle() {
        UniqueFd accepted(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!accepted) {
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        accepted_.push_back(std::move(accepted));
        return false;
    }

  private:
    UniqueFd fd_;
    std::uint16_t port_ = 0;
    std::vector<UniqueFd> accepted_;
};

struct ListenerSpec final {
    std::string name;
    std::string bind;
    std::string rules;  // allow/deny lines
};

// The given listeners plus a rule-free "probe", all on pool "p" with one backend, and the
// admin API on port 0.
std::string config(const std::vector<ListenerSpec>& listeners, const std::string& backend) {
    std::string text = "[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:0\"\n\n";
    for (const ListenerSpec& listener : listeners) {
        text += fmt::format("[[listener]]\nname = \"{}\"\nbind = \"{}\"\npool = \"p\"\n{}\n\n",
                            listener.name, listener.bind, listener.rules);
    }
    text += "[[listener]]\nname = \"probe\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\n";
    return text + "[[pool]]\nname = \"p\"\n" + backends_toml({backend});
}

std::uint16_t admin_port(Ringlb& lb) {
    const auto match =
        lb.process->wait_for_line(R"(admin listening address=127\.0\.0\.1:(\d+))", 2000ms);
    return static_cast<std::uint16_t>(std::stoul(match.groups[1]));
}

// The value of one series of GET /metrics (HTTP/1.0 over a raw socket), or nullopt.
std::optional<std::uint64_t> metric(std::uint16_t admin, const std::string& series) {
    UniqueFd fd = connect_to(admin);
    send_all(fd.get(), "GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n", deadline_in(2s));
    const std::string body = read_until_eof(fd.get(), deadline_in(3s));
    const std::string prefix = series + " ";
    for (std::size_t at = body.find(prefix); at != std::string::npos;
         at = body.find(prefix, at + 1)) {
        if (at == 0 || body[at - 1] == '\n') {
            return std::stoull(body.substr(at + prefix.size()));
        }
    }
    return std::nullopt;
}

// Polls the listener's "denied" rejections until they equal `expected` (bounded); returns the
// last value read.
std::optional<std::uint64_t> denied_count(std::uint16_t admin, const std::string& listener,
                                          std::uint64_t expected) {
    const std::string series = fmt::format(
        "ringlb_connections_rejected_total{{listener=\"{}\",reason=\"denied\"}}", listener);
    const Deadline deadline = deadline_in(2s);
    std::optional<std::uint64_t> value = metric(admin, series);
    while (value != expected && Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
        value = metric(admin, series);
    }
    return value;
}

class Checker final {
  public:
    Checker(Ringlb& lb, OwnedBackend& backend) : lb_(lb), backend_(backend) {}

    // The client's bytes reach the backend, and the client is not closed.
    void admitted(const std::string& listener, const std::string& source,
                  const std::string& destination = "127.0.0.1") {
        INFO("client " << source << " on listener " << listener << " must be served");
        UniqueFd client = connect_ip_from(source, destination, lb_.port_of(listener));
        const std::string marker = fmt::format("admitted #{} from {}", ++sequence_, source);
        send_all(client.get(), marker, deadline_in(2s));
        // Were an earlier, denied client's connection waiting at the backend, this would read
        // that one (its marker, or nothing) instead.
        CHECK(backend_.accept_and_read(marker.size(), deadline_in(3s)) == marker);
        const ReadResult open = read_until_close(client.get(), deadline_in(50ms));
        CHECK(open.timed_out);
        clients_.push_back(std::move(client));
    }

    // The client is closed without a byte, and (checked by the next admitted() or by
    // backend_untouched()) no connection reached the backend.
    void denied(const std::string& listener, const std::string& source,
                const std::string& destination = "127.0.0.1") {
        INFO("client " << source << " on listener " << listener << " must be closed");
        UniqueFd client = connect_ip_from(source, destination, lb_.port_of(listener));
        send_all(client.get(), fmt::format("denied #{} from {}", ++sequence_, source),
                 deadline_in(2s));
        const ReadResult result = read_until_close(client.get(), deadline_in(2s));
        CHECK(result.closed());
        CHECK_FALSE(result.timed_out);
        CHECK(result.data.empty());
    }

    // Only the probe's connection, sent last, arrives: nothing from a denied client.
    void backend_untouched() {
        admitted("probe", "127.0.0.1");
        CHECK(backend_.idle());
    }

  private:
    Ringlb& lb_;
    OwnedBackend& backend_;
    int sequence_ = 0;
    std::vector<UniqueFd> clients_;
};

}  // namespace

TEST_CASE("allow: only clients inside an allow block are served") {
    OwnedBackend backend;
    Ringlb lb = start_ringlb(
        config({{"in", "127.0.0.1:0", "allow = [\"127.0.0.2/32\"]"}}, backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    Checker check(lb, backend);

    check.denied("in", "127.0.0.1");
    check.admitted("in", "127.0.0.2");
    check.denied("in", "127.0.0.3");
    check.backend_untouched();
    CHECK(denied_count(admin_port(lb), "in", 2) == 2u);
    CHECK(denied_count(admin_port(lb), "probe", 0) == 0u);
}

TEST_CASE("deny: a client inside a deny block is closed before any backend is contacted") {
    OwnedBackend backend;
    Ringlb lb = start_ringlb(
        config({{"in", "127.0.0.1:0", "deny = [\"127.0.0.3/32\"]"}}, backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    Checker check(lb, backend);

    check.denied("in", "127.0.0.3");
    check.admitted("in", "127.0.0.1");
    check.admitted("in", "127.0.0.2");
    check.denied("in", "127.0.0.3");
    check.backend_untouched();
    CHECK(denied_count(admin_port(lb), "in", 2) == 2u);
}

TEST_CASE("deny wins over allow, whichever block is more specific") {
    OwnedBackend backend;
    Ringlb lb = start_ringlb(config(
        {{"wide_allow", "127.0.0.1:0", "allow = [\"127.0.0.0/8\"]\ndeny = [\"127.0.0.3\"]"},
         {"wide_deny", "127.0.0.1:0", "allow = [\"127.0.0.3/32\"]\ndeny = [\"127.0.0.0/8\"]"}},
        backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    Checker check(lb, backend);

    check.denied("wide_allow", "127.0.0.3");
    check.admitted("wide_allow", "127.0.0.2");
    check.denied("wide_deny", "127.0.0.3");
    check.denied("wide_deny", "127.0.0.2");
    check.backend_untouched();
    const std::uint16_t admin = admin_port(lb);
    CHECK(denied_count(admin, "wide_allow", 1) == 1u);
    CHECK(denied_count(admin, "wide_deny", 2) == 2u);
}

TEST_CASE("IPv6 blocks on an IPv6 listener") {
    OwnedBackend backend;
    Ringlb lb = start_ringlb(config(
        {{"v6_deny", "[::1]:0", "deny = [\"::1/128\"]"},
         {"v6_allow", "[::1]:0", "allow = [\"::1\"]\ndeny = [\"2001:db8::/32\", \"127.0.0.0/8\"]"},
         {"v6_deny_wide", "[::1]:0", "deny = [\"::/0\"]"},
         // IPv4 blocks say nothing about an IPv6 client: it is outside this allow list.
         {"v4_blocks_only", "[::1]:0", "allow = [\"0.0.0.0/0\"]"}},
        backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    Checker check(lb, backend);

    check.denied("v6_deny", "::1", "::1");
    check.admitted("v6_allow", "::1", "::1");
    check.denied("v6_deny_wide", "::1", "::1");
    check.denied("v4_blocks_only", "::1", "::1");
    check.backend_untouched();
    const std::uint16_t admin = admin_port(lb);
    CHECK(denied_count(admin, "v6_deny", 1) == 1u);
    CHECK(denied_count(admin, "v6_allow", 0) == 0u);
    CHECK(denied_count(admin, "v6_deny_wide", 1) == 1u);
    CHECK(denied_count(admin, "v4_blocks_only", 1) == 1u);
}

TEST_CASE("IPv4 clients match IPv4-mapped IPv6 blocks, and ::1 matches no IPv4 block") {
    OwnedBackend backend;
    Ringlb lb = start_ringlb(config({{"mapped", "127.0.0.1:0", "deny = [\"::ffff:127.0.0.3/128\"]"},
                                     {"v4_other_v6", "127.0.0.1:0", "deny = [\"2001:db8::/32\"]"},
                                     {"v6", "[::1]:0", "deny = [\"0.0.0.0/0\"]"}},
                                    backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    Checker check(lb, backend);

    check.denied("mapped", "127.0.0.3");
    check.admitted("mapped", "127.0.0.2");
    check.admitted("v4_other_v6", "127.0.0.2");
    check.admitted("v6", "::1", "::1");
    check.backend_untouched();
    const std::uint16_t admin = admin_port(lb);
    CHECK(denied_count(admin, "mapped", 1) == 1u);
    CHECK(denied_count(admin, "v4_other_v6", 0) == 0u);
    CHECK(denied_count(admin, "v6", 0) == 0u);
}
