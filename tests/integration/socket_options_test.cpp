// SPDX-License-Identifier: MIT
// Socket options through the real binary: backlog, tcp_fastopen, keepalive, tcp_nodelay and mark
// on a listener (its listening sockets, and the clients accepted from them, which inherit them)
// and on a pool (each backend socket), read back from ringlb's own descriptors with
// pidfd_getfd + getsockopt and `ss`; a TCP Fast Open client's data in the SYN reaching the
// backend; a reload applying new values; /status showing them.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>

#include "admin_client.hpp"
#include "harness.hpp"
#include "netns.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kSetPort = 9000;       // listener "set": every option
constexpr std::uint16_t kPlainPort = 9001;     // listener "plain": defaults
constexpr std::uint16_t kSetBackend = 9011;    // pool "set"'s backend
constexpr std::uint16_t kPlainBackend = 9012;  // pool "plain"'s backend
constexpr std::uint16_t kAdminPort = 9003;

struct Values final {
    unsigned backlog, fastopen, idle, interval, count, mark, pool_idle, pool_interval, pool_count,
        pool_mark;
    bool listener_nodelay, pool_nodelay;
};

std::string config_text(const Values& v) {
    return fmt::format(
        "[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:{}\"\n\n"
        "[[listener]]\nname = \"set\"\nbind = \"127.0.0.1:{}\"\npool = \"set\"\n"
        "backlog = {}\ntcp_fastopen = {}\nkeepalive_idle_s = {}\nkeepalive_interval_s = {}\n"
        "keepalive_count = {}\ntcp_nodelay = {}\nmark = {}\n\n"
        "[[listener]]\nname = \"plain\"\nbind = \"127.0.0.1:{}\"\npool = \"plain\"\n\n"
        "[[pool]]\nname = \"set\"\nkeepalive_idle_s = {}\nkeepalive_interval_s = {}\n"
        "keepalive_count = {}\ntcp_nodelay = {}\nmark = {}\n{}\n"
        "[[pool]]\nname = \"plain\"\n{}",
        kAdminPort, kSetPort, v.backlog, v.fastopen, v.idle, v.interval, v.count,
        v.listener_nodelay, v.mark, kPlainPort, v.pool_idle, v.pool_interval, v.pool_count,
        v.pool_nodelay, v.pool_mark, backends_toml({fmt::format("127.0.0.1:{}", kSetBackend)}),
        backends_toml({fmt::format("127.0.0.1:{}", kPlainBackend)}));
}

int int_option(int fd, int level, int name) {
    int value = -1;
    socklen_t length = sizeof(value);
    if (getsockopt(fd, level, name, &value, &length) < 0) {
        throw HarnessError(fmt::format("getsockopt({}, {}): {}", level, name, strerror(errno)));
    }
    return value;
}

std::uint16_t port_of(int fd, bool peer) {
    sockaddr_in address{};
    socklen_t length = sizeof(address);
    const int result = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length)
                            : getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    return result == 0 && address.sin_family == AF_INET ? ntohs(address.sin_port) : 0;
}

// What one of ringlb's TCP sockets has set.
struct SocketOptions final {
    bool listening = false;
    std::uint16_t local_port = 0;
    std::uint16_t peer_port = 0;
    int keepalive = 0, idle = 0, interval = 0, count = 0, nodelay = 0, mark = 0, fastopen = 0;
};

// Every IPv4 TCP socket `pid` holds, with its options, read through duplicates of its
// descriptors (pidfd_getfd: the same open sockets, so the same options).
std::vector<SocketOptions> sockets_of(pid_t pid) {
    ringlb::UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) {
        throw HarnessError(fmt::format("pidfd_open({}): {}", pid, strerror(errno)));
    }
    std::vector<SocketOptions> found;
    for (const auto& [number, target] : fd_table(pid)) {
        if (target.rfind("socket:", 0) != 0) {
            continue;
        }
        ringlb::UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), number, 0)));
        if (!fd) {
            continue;  // closed meanwhile
        }
        int domain = 0;
        socklen_t length = sizeof(domain);
        if (getsockopt(fd.get(), SOL_SOCKET, SO_DOMAIN, &domain, &length) < 0 ||
            domain != AF_INET || int_option(fd.get(), SOL_SOCKET, SO_TYPE) != SOCK_STREAM ||
            int_option(fd.get(), SOL_SOCKET, SO_PROTOCOL) != IPPROTO_TCP) {
            continue;
        }
        SocketOptions options;
        options.listening = int_option(fd.get(), SOL_SOCKET, SO_ACCEPTCONN) != 0;
        options.local_port = port_of(fd.get(), false);
        options.peer_port = options.listening ? 0 : port_of(fd.get(), true);
        options.keepalive = int_option(fd.get(), SOL_SOCKET, SO_KEEPALIVE);
        options.idle = int_option(fd.get(), IPPROTO_TCP, TCP_KEEPIDLE);
        options.interval = int_option(fd.get(), IPPROTO_TCP, TCP_KEEPINTVL);
        options.count = int_option(fd.get(), IPPROTO_TCP, TCP_KEEPCNT);
        options.nodelay = int_option(fd.get(), IPPROTO_TCP, TCP_NODELAY);
        options.mark = int_option(fd.get(), SOL_SOCKET, SO_MARK);
        options.fastopen = options.listening ? int_option(fd.get(), IPPROTO_TCP, TCP_FASTOPEN) : 0;
        found.push_back(options);
    }
    return found;
}

// The sockets matching `pick`; fails unless there are exactly `expected`.
std::vector<SocketOptions> pick(const std::vector<SocketOptions>& all, std::size_t expected,
                                const std::function<bool(const SocketOptions&)>& wanted,
                                const std::string& what) {
    std::vector<SocketOptions> out;
    std::copy_if(all.begin(), all.end(), std::back_inserter(out), wanted);
    INFO(what);
    REQUIRE(out.size() == expected);
    return out;
}

// The listen queue (Send-Q of a listening socket) of each socket on `port`, from `ss`.
std::vector<unsigned> backlogs(const NetNamespace& ns, std::uint16_t port) {
    std::istringstream lines(ns.run({"ss", "-tlnH", fmt::format("sport = :{}", port)}));
    std::vector<unsigned> out;
    std::string state, recv_q, send_q;
    while (lines >> state >> recv_q >> send_q) {
        out.push_back(static_cast<unsigned>(std::stoul(send_q)));
        std::string rest;
        std::getline(lines, rest);
    }
    return out;
}

// A TCP Fast Open client: sendto(MSG_FASTOPEN) connects and sends `data` (in the SYN when
// it holds a cookie for the server).
ringlb::UniqueFd fastopen_connect(std::uint16_t port, const std::string& data) {
    ringlb::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(port);
    remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::sendto(fd.get(), data.data(), data.size(), MSG_FASTOPEN,
                 reinterpret_cast<sockaddr*>(&remote),
                 sizeof(remote)) != static_cast<ssize_t>(data.size())) {
        throw HarnessError(fmt::format("sendto(MSG_FASTOPEN): {}", strerror(errno)));
    }
    return fd;
}

// TcpExtTCPFastOpenPassive: connections the namespace's servers accepted with data in the SYN.
unsigned long fastopen_passive(const NetNamespace& ns) {
    std::istringstream text(ns.run({"cat", "/proc/net/netstat"}));
    std::string names, values;
    while (std::getline(text, names) && std::getline(text, values)) {
        std::istringstream n(names), v(values);
        std::string name, value;
        while (n >> name && v >> value) {
            if (name == "TCPFastOpenPassive") {
                return std::stoul(value);
            }
        }
    }
    throw HarnessError("no TCPFastOpenPassive in /proc/net/netstat");
}

}  // namespace

TEST_CASE("listener and pool socket options reach ringlb's sockets, and a reload changes them") {
    require_root("a network namespace (tcp_fastopen sysctl) and SO_MARK");
    (void)require_command("ss", "iproute2");
    const NetNamespace ns("sockopt");
    ns.run({"sysctl", "-q", "-w", "net.ipv4.tcp_fastopen=3"});  // client and server
    auto set_backend = start_greet_backend_in(ns, kSetBackend, "set");
    auto plain_backend = start_greet_backend_in(ns, kPlainBackend, "plain");
    const Values first{123, 7, 61, 17, 4, 42, 91, 13, 5, 77, false, true};
    Ringlb lb = start_ringlb_under(ns.exec({}), config_text(first));
    INFO("ringlb output:\n" << lb.process->tail());

    auto check_sockets = [&](const Values& v) {
        ns.run_inside([&] {
            // Through each listener, one client held open while ringlb's sockets are read.
            ringlb::UniqueFd set_client = connect_to(kSetPort);
            REQUIRE(read_line(set_client.get(), deadline_in(5s)) == "set\n");
            ringlb::UniqueFd plain_client = connect_to(kPlainPort);
            REQUIRE(read_line(plain_client.get(), deadline_in(5s)) == "plain\n");
            const std::vector<SocketOptions> all = sockets_of(lb.process->pid());

            for (const SocketOptions& s : pick(
                     all, 2, [](auto& s) { return s.listening && s.local_port == kSetPort; },
                     "listening sockets of \"set\" (one per worker)")) {
                CHECK(s.fastopen == static_cast<int>(v.fastopen));
                CHECK(s.keepalive == 1);
                CHECK(s.mark == static_cast<int>(v.mark));
            }
            const SocketOptions accepted = pick(
                all, 1, [](auto& s) { return !s.listening && s.local_port == kSetPort; },
                "accepted client of \"set\"")[0];
            CHECK(accepted.keepalive == 1);  // inherited from the listening socket
            CHECK(accepted.idle == static_cast<int>(v.idle));
            CHECK(accepted.interval == static_cast<int>(v.interval));
            CHECK(accepted.count == static_cast<int>(v.count));
            CHECK(accepted.nodelay == (v.listener_nodelay ? 1 : 0));
            CHECK(accepted.mark == static_cast<int>(v.mark));
            const SocketOptions backend = pick(
                all, 1, [](auto& s) { return s.peer_port == kSetBackend; },
                "backend socket of pool \"set\"")[0];
            CHECK(backend.keepalive == 1);
            CHECK(backend.idle == static_cast<int>(v.pool_idle));
            CHECK(backend.interval == static_cast<int>(v.pool_interval));
            CHECK(backend.count == static_cast<int>(v.pool_count));
            CHECK(backend.nodelay == (v.pool_nodelay ? 1 : 0));
            CHECK(backend.mark == static_cast<int>(v.pool_mark));

            // Defaults: TCP_NODELAY on, no keepalive, no mark, no TFO, on both sides.
            for (const SocketOptions& s : pick(
                     all, 4,
                     [](auto& s) {
                         return s.local_port == kPlainPort || s.peer_port == kPlainBackend;
                     },
                     "sockets of listener and pool \"plain\"")) {
                CHECK(s.keepalive == 0);
                CHECK(s.nodelay == 1);
                CHECK(s.mark == 0);
                CHECK(s.fastopen == 0);
            }
        });
        for (unsigned backlog : backlogs(ns, kSetPort)) {
            CHECK(backlog == v.backlog);
        }
        CHECK(backlogs(ns, kSetPort).size() == 2);
        for (unsigned backlog : backlogs(ns, kPlainPort)) {
            CHECK(backlog == 4096);
        }
    };
    check_sockets(first);

    // TCP Fast Open: the first connection gets a cookie, the second sends its data in the SYN;
    // both reach the backend, which echoes after its greeting.
    const unsigned long passive_before = fastopen_passive(ns);
    ns.run_inside([&] {
        for (int i = 0; i < 2; ++i) {
            const std::string data = fmt::format("tfo-{}\n", i);
            ringlb::UniqueFd fd = fastopen_connect(kSetPort, data);
            CHECK(read_line(fd.get(), deadline_in(5s)) == "set\n");
            CHECK(read_line(fd.get(), deadline_in(5s)) == data);
        }
    });
    CHECK(fastopen_passive(ns) >= passive_before + 1);

    // A reload puts new values on the kept listening sockets and on new backend sockets.
    const Values second{77, 3, 62, 18, 6, 43, 92, 14, 7, 78, true, false};
    reload_ringlb(lb, config_text(second));
    check_sockets(second);

    ns.run_inside([&] {
        const Json status = parse_json(AdminClient(kAdminPort).get("/status").body);
        const Json& listener = status.at("listeners").array.at(0);
        CHECK(listener.at("backlog").number == 77);
        CHECK(listener.at("tcp_fastopen").number == 3);
        CHECK(listener.at("tcp").at("keepalive_idle_s").number == 62);
        CHECK(listener.at("tcp").at("mark").number == 43);
        const Json& pool = status.at("pools").array.at(0);
        CHECK(pool.at("tcp").at("keepalive_count").number == 7);
        CHECK(pool.at("tcp").at("tcp_nodelay").boolean == false);
        CHECK(pool.at("tcp").at("mark").number == 78);
    });
}

TEST_CASE("with global.user a pool mark keeps CAP_NET_ADMIN and still marks backend sockets") {
    require_root("switching to user nobody");
    Backend greet = start_greet_backend("g");
    Ringlb lb = start_ringlb(
        SimpleConfig({greet.address()}).global("user = \"nobody\"").pool("mark = 99").text());
    INFO("ringlb output:\n" << lb.process->tail());
    lb.process->wait_for_line(R"(dropped privileges: user=nobody .*CAP_NET_ADMIN)", 5s);
    ringlb::UniqueFd client = connect_to(lb.port);
    REQUIRE(read_line(client.get(), deadline_in(5s)) == "g\n");
    const std::vector<SocketOptions> all = sockets_of(lb.process->pid());
    const SocketOptions backend = pick(
        all, 1, [&](auto& s) { return s.peer_port == greet.port; }, "backend socket")[0];
    CHECK(backend.mark == 99);
}

TEST_CASE("a mark without CAP_NET_ADMIN stops the start with an error that names the cure") {
    require_root("running ringlb as nobody without capabilities");
    const std::string setpriv = require_command("setpriv", "util-linux");
    Backend greet = start_greet_backend("g");
    TempFile config(SimpleConfig({greet.address()}).pool("mark = 5").text());
    std::filesystem::permissions(config.path(), std::filesystem::perms::others_read,
                                 std::filesystem::perm_options::add);  // readable by nobody
    const RunResult result =
        run_process({setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                     ringlb_binary(), "--config", config.path()});
    INFO(result.stderr_text);
    CHECK(result.status.exited_with(1));
    CHECK(result.stderr_text.find("pool p: mark = 5 cannot be set") != std::string::npos);
    CHECK(result.stderr_text.find("CAP_NET_ADMIN") != std::string::npos);
}
