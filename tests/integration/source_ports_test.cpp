// SPDX-License-Identifier: MIT
// pool.source and local port exhaustion: in a network namespace whose
// net.ipv4.ip_local_port_range holds 100 ports, three source addresses carry 250 concurrent
// connections to one backend, and with one source the 101st fails cleanly (counted, the
// client closed at once) while ringlb goes on serving.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>

#include "admin_client.hpp"
#include "harness.hpp"
#include "netns.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kListenerPort = 9000;
constexpr std::uint16_t kBackendPort = 9001;
constexpr std::uint16_t kOtherBackendPort = 9002;
constexpr std::uint16_t kOtherListenerPort = 9004;
constexpr std::uint16_t kAdminPort = 9003;
// Clients bind ports of their own, outside the range ringlb's connects draw from, so that
// only ringlb's backend connections compete for the 100 ports.
constexpr std::uint16_t kFirstClientPort = 50000;

// Narrows the namespace's kernel-chosen local ports to 40000..40099.
void narrow_ports(const NetNamespace& ns) {
    ns.run({"sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=40000 40099"});
}

std::string config_text(const std::string& sources) {
    // connect_timeout_ms is long: a client closed before it passes was not closed by a
    // timeout. A second listener and pool reach another backend from the same source.
    return fmt::format(
        "[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:{}\"\n\n"
        "[[listener]]\nname = \"in\"\nbind = \"127.0.0.1:{}\"\npool = \"p\"\n\n"
        "[[listener]]\nname = \"other\"\nbind = \"127.0.0.1:{}\"\npool = \"q\"\n\n"
        "[[pool]]\nname = \"p\"\nconnect_timeout_ms = 20000\nsource = [{}]\n{}\n"
        "[[pool]]\nname = \"q\"\nsource = [{}]\n{}",
        kAdminPort, kListenerPort, kOtherListenerPort, sources,
        backends_toml({fmt::format("127.0.0.1:{}", kBackendPort)}), sources,
        backends_toml({fmt::format("127.0.0.1:{}", kOtherBackendPort)}));
}

// A client bound to 127.0.0.1:`client_port`, connected to 127.0.0.1:`port` (blocking connect:
// loopback completes or refuses at once).
ringlb::UniqueFd connect_bound(std::uint16_t client_port, std::uint16_t port) {
    ringlb::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = htons(client_port);
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) < 0) {
        throw HarnessError(fmt::format("bind 127.0.0.1:{}: {}", client_port, strerror(errno)));
    }
    sockaddr_in remote = local;
    remote.sin_port = htons(port);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) < 0) {
        throw HarnessError(fmt::format("connect to 127.0.0.1:{}: {}", port, strerror(errno)));
    }
    return fd;
}

double no_port_failures(const Metrics& metrics) {
    return metrics.at("ringlb_backend_connect_failures_total",
                      {{"pool", "p"},
                       {"backend", fmt::format("127.0.0.1:{}", kBackendPort)},
                       {"reason", "no_port"}});
}

// Established connections to the backend, by local address, as `ss` sees them.
std::map<std::string, int> connections_by_source(const NetNamespace& ns) {
    std::istringstream lines(ns.run(
        {"ss", "-tnH", "state", "established", fmt::format("dst = 127.0.0.1:{}", kBackendPort)}));
    std::map<std::string, int> counts;
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string recv_q, send_q, local;
        fields >> recv_q >> send_q >> local;
        if (!local.empty()) {
            ++counts[local.substr(0, local.rfind(':'))];
        }
    }
    return counts;
}

}  // namespace

TEST_CASE("three source addresses carry 250 connections to one backend past a 100-port range") {
    require_root("a network namespace with its own ip_local_port_range");
    (void)require_command("ss", "iproute2");
    const NetNamespace ns("src3");
    narrow_ports(ns);
    auto backend = start_greet_backend_in(ns, kBackendPort, "b");
    auto other = start_greet_backend_in(ns, kOtherBackendPort, "o");
    Ringlb lb =
        start_ringlb_under(ns.exec({}), config_text(R"("127.0.0.11", "127.0.0.12", "127.0.0.13")"));
    INFO("ringlb output:\n" << lb.process->tail());

    std::vector<ringlb::UniqueFd> held;
    ns.run_inside([&] {
        for (std::uint16_t i = 0; i < 250; ++i) {
            held.push_back(
                connect_bound(static_cast<std::uint16_t>(kFirstClientPort + i), kListenerPort));
            // The greeting proves the backend connection is up before the next one starts.
            REQUIRE(read_line(held.back().get(), deadline_in(10s)) == "b\n");
        }
    });
    const std::map<std::string, int> by_source = connections_by_source(ns);
    INFO("backend connections by source: " << describe_counts(by_source));
    int total = 0;
    for (const auto& [source, count] : by_source) {
        CHECK((source == "127.0.0.11" || source == "127.0.0.12" || source == "127.0.0.13"));
        CHECK(count <= 100);  // no source could have held more within the port range
        total += count;
    }
    CHECK(by_source.size() == 3);
    CHECK(total == 250);
    ns.run_inside([&] { CHECK(no_port_failures(get_metrics(AdminClient(kAdminPort))) == 0); });
    held.clear();
}

TEST_CASE("with one source address the 101st connection fails cleanly and is counted") {
    require_root("a network namespace with its own ip_local_port_range");
    const NetNamespace ns("src1");
    narrow_ports(ns);
    auto backend = start_greet_backend_in(ns, kBackendPort, "b");
    auto other = start_greet_backend_in(ns, kOtherBackendPort, "o");
    Ringlb lb = start_ringlb_under(ns.exec({}), config_text(R"("127.0.0.11")"));
    INFO("ringlb output:\n" << lb.process->tail());

    ns.run_inside([&] {
        std::vector<ringlb::UniqueFd> held;
        for (std::uint16_t i = 0; i < 100; ++i) {
            held.push_back(
                connect_bound(static_cast<std::uint16_t>(kFirstClientPort + i), kListenerPort));
            REQUIRE(read_line(held.back().get(), deadline_in(10s)) == "b\n");
        }
        const AdminClient admin(kAdminPort);
        CHECK(no_port_failures(get_metrics(admin)) == 0);

        // Every port of the range is taken from 127.0.0.11 to the backend: the next client is
        // accepted and closed without a byte, long before connect_timeout_ms (20 s).
        ringlb::UniqueFd last = connect_bound(kFirstClientPort + 100, kListenerPort);
        const ReadResult result = read_until_close(last.get(), deadline_in(10s));
        CHECK(result.closed());
        CHECK(result.data.empty());
        // Each attempt (the first and its 2 retries) found no port, and each was counted.
        CHECK(wait_for_sample(admin, "ringlb_backend_connect_failures_total",
                              {{"pool", "p"},
                               {"backend", fmt::format("127.0.0.1:{}", kBackendPort)},
                               {"reason", "no_port"}},
                              3) == 3);
        CHECK(wait_for_rejected(admin, "in", "no_backend", 1) == 1);

        // ringlb is fine: the same source still reaches another backend (other 4-tuples), and
        // the held connections still relay.
        ringlb::UniqueFd fresh = connect_bound(kFirstClientPort + 101, kOtherListenerPort);
        CHECK(read_line(fresh.get(), deadline_in(10s)) == "o\n");
        send_all(held.front().get(), "still here\n", deadline_in(5s));
        CHECK(read_line(held.front().get(), deadline_in(5s)) == "still here\n");
    });
    CHECK(lb.process->running());
}
