// SPDX-License-Identifier: MIT
// ringlb-testbackend: a single-threaded epoll TCP server (echo, greet, reply, respond, silent,
// source, sink) that the integration tests and scripts/demo put behind ringlb.
//
// It prints "listening ADDRESS" once the socket listens (port 0 is replaced by the real one),
// then serves until SIGTERM or SIGINT and exits 0. SIGUSR1 and SIGUSR2 stop and restart
// listening on the same port, so a test can take a backend down and up without losing it. Every
// socket is non-blocking and every connection only does what the kernel lets it do right now, so
// one slow client never holds up the others; 5,000 concurrent connections cost only their buffered
// bytes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ringlb/base/unique_fd.hpp"
#include "stream.hpp"

namespace {

using ringlb::UniqueFd;
using ringlb::test::Fnv1a64;
using Clock = std::chrono::steady_clock;

enum class Mode { echo, greet, reply, respond, silent, source, sink };

// Greet is echo after a first line that names the backend: a client learns where it landed
// and can keep the connection open, relaying, for as long as it likes.
[[nodiscard]] constexpr bool echoes(Mode mode) noexcept {
    return mode == Mode::echo || mode == Mode::greet;
}

struct Options final {
    Mode mode = Mode::echo;
    std::string listen;
    std::optional<std::string> reply;  // reply, greet, respond: the text (default: the address)
    std::string request;               // respond: answer once the bytes read contain this
    unsigned delay_ms = 0;             // respond: wait this long before answering
    bool log_received = false;         // print "received HEX" of each connection's first bytes
    std::uint64_t bytes = 1 << 20;     // source mode: stream length
    std::uint64_t seed = 0;            // source mode: stream seed
    unsigned drain_ms = 2000;          // after our last byte: how long to wait for the peer's EOF
    bool report = false;               // print one "closed ..." line per connection
};

// Echo stops reading from a client whose echo it cannot write: this is the backpressure.
constexpr std::size_t kEchoBufferLimit = 256 * 1024;
constexpr std::size_t kScratchSize = 64 * 1024;
// Bytes moved for one connection per readiness event, so that a fast peer cannot starve
// the others (epoll is level-triggered: the rest is picked up on the next pass).
constexpr std::size_t kBudgetPerEvent = 1024 * 1024;
constexpr std::uint64_t kListenerId = 0;
constexpr std::uint64_t kSignalId = 1;

struct Connection final {
    std::uint64_t id = 0;
    UniqueFd fd;
    std::uint32_t interest = 0;  // events registered with epoll
    std::string out;             // bytes still to write, from out_offset on
    std::size_t out_offset = 0;
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    Fnv1a64 received_hash;
    bool read_eof = false;
    bool result_queued = false;  // sink: the "<count> <hash>" line is in `out`
    bool draining = false;       // our side is shut for writing; discarding input until EOF
    bool registered = false;     // added to the epoll set
    std::string seen;            // respond: the bytes read before answering
    bool answering = false;      // respond: the answer is written or scheduled

    [[nodiscard]] std::size_t pending() const noexcept { return out.size() - out_offset; }
};

std::optional<sockaddr_storage> parse_address(const std::string& text, socklen_t& length) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon + 1 == text.size()) {
        return std::nullopt;
    }
    std::string host = text.substr(0, colon);
    const std::string port_text = text.substr(colon + 1);
    char* end = nullptr;
    const unsigned long port = std::strtoul(port_text.c_str(), &end, 10);
    if (*end != '\0' || port > 65535) {
        return std::nullopt;
    }
    sockaddr_storage storage{};
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(port));
        if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &v6->sin6_addr) != 1) {
            return std::nullopt;
        }
        length = sizeof(sockaddr_in6);
        return storage;
    }
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1) {
        return std::nullopt;
    }
    length = sizeof(sockaddr_in);
    return storage;
}

std::string format_address(const sockaddr_storage& storage) {
    char host[INET6_ADDRSTRLEN] = {};
    if (storage.ss_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
        return "[" + std::string(host) + "]:" + std::to_string(ntohs(v6->sin6_port));
    }
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(v4->sin_port));
}

// 5,000 connections need more descriptors than the usual soft limit of 1,024.
void raise_fd_limit() noexcept {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &limit);
    }
}

class Server final {
  public:
    Server(Options options, UniqueFd listener, UniqueFd epoll, UniqueFd signals, std::string reply)
        : options_(std::move(options)),
          listener_(std::move(listener)),
          epoll_(std::move(epoll)),
          signals_(std::move(signals)),
          reply_(std::move(reply)) {}

    // Serves until SIGTERM/SIGINT; returns the process exit status.
    int run() {
        epoll_event events[256];
        for (;;) {
            const int n = epoll_wait(epoll_.get(), events, 256, next_timeout_ms());
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                std::perror("ringlb-testbackend: epoll_wait");
                return 1;
            }
            for (int i = 0; i < n; ++i) {
                const std::uint64_t id = events[i].data.u64;
                if (id == kSignalId) {
                    signalfd_siginfo info{};
                    if (read(signals_.get(), &info, sizeof info) != sizeof info) {
                        continue;
                    }
                    if (info.ssi_signo == SIGUSR1) {
                        pause();
                    } else if (info.ssi_signo == SIGUSR2) {
                        resume();
                    } else {
                        return 0;
                    }
                    continue;
                }
                if (id == kListenerId) {
                    accept_all();
                    continue;
                }
                if (auto it = connections_.find(id); it != connections_.end()) {
                    progress(*it->second);
                }
            }
            expire(drains_, [this](Connection& c) { close(c); });
            expire(delays_, [this](Connection& c) {
                c.out = reply_;
                c.out_offset = 0;
                progress(c);
            });
        }
    }

  private:
    void accept_all() {
        for (;;) {
            const int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                    // Out of descriptors: stop accepting until a connection closes, rather
                    // than spinning on a listener that stays readable.
                    set_accepting(false);
                }
                return;  // EAGAIN, or ECONNABORTED and friends: the next event retries
            }
            auto connection = std::make_unique<Connection>();
            connection->id = next_id_++;
            connection->fd = UniqueFd(fd);
            if (options_.mode == Mode::reply || options_.mode == Mode::greet) {
                connection->out = reply_ + "\n";
            }
            if (options_.mode == Mode::respond && options_.request.empty()) {
                answer(*connection);
            }
            Connection& c = *connection;
            connections_.emplace(c.id, std::move(connection));
            progress(c);
        }
    }

    void set_accepting(bool on) {
        if (accepting_ == on) {
            return;
        }
        accepting_ = on;
        watch_listener();
    }

    void watch_listener() {
        epoll_event event{};
        event.events = accepting_ && !paused_ ? static_cast<std::uint32_t>(EPOLLIN) : 0U;
        event.data.u64 = kListenerId;
        (void)epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, listener_.get(), &event);
    }

    // SIGUSR1: stop listening but keep the port (the socket was bound to an explicit port,
    // so the kernel keeps it reserved): connects are refused, as by a backend that is down,
    // and nobody else can take the port. Connections already accepted go on.
    void pause() {
        if (!paused_) {
            (void)shutdown(listener_.get(), SHUT_RD);
            paused_ = true;
            watch_listener();
        }
        std::printf("paused\n");
        std::fflush(stdout);
    }

    // SIGUSR2: listen again on the same port.
    void resume() {
        if (paused_) {
            if (listen(listener_.get(), 4096) < 0) {
                std::perror("ringlb-testbackend: listen again");
                return;
            }
            paused_ = false;
            watch_listener();
        }
        std::printf("resumed\n");
        std::fflush(stdout);
    }

    // Moves whatever bytes can move now, advances the connection's state and either closes
    // it or registers the events it waits for next.
    void progress(Connection& c) {
        if (!read_some(c) || !write_some(c)) {
            close(c);
            return;
        }
        switch (options_.mode) {
            case Mode::echo:
            case Mode::greet:
                if (c.read_eof && c.pending() == 0) {
                    close(c);
                    return;
                }
                break;
            case Mode::reply:
                if (c.pending() == 0 && !c.draining) {
                    start_drain(c);
                }
                break;
            case Mode::respond:
                if (!c.answering && c.seen.find(options_.request) != std::string::npos) {
                    answer(c);
                    if (!write_some(c)) {
                        close(c);
                        return;
                    }
                }
                if (c.answering && c.pending() == 0 && c.sent > 0 && !c.draining) {
                    start_drain(c);
                }
                if (c.read_eof && !c.answering) {
                    close(c);
                    return;
                }
                break;
            case Mode::silent:
                if (c.read_eof) {
                    close(c);
                    return;
                }
                break;
            case Mode::source:
                if (c.sent == options_.bytes && !c.draining) {
                    start_drain(c);
                }
                break;
            case Mode::sink:
                if (c.read_eof && !c.result_queued) {
                    char line[64];
                    std::snprintf(line, sizeof line, "%" PRIu64 " %016" PRIx64 "\n", c.received,
                                  c.received_hash.value());
                    c.out = line;
                    c.out_offset = 0;
                    c.result_queued = true;
                    if (!write_some(c)) {
                        close(c);
                        return;
                    }
                }
                if (c.result_queued && c.pending() == 0) {
                    close(c);
                    return;
                }
                break;
        }
        if (c.draining && c.read_eof) {
            close(c);
            return;
        }
        update_interest(c);
    }

    [[nodiscard]] bool wants_read(const Connection& c) const noexcept {
        if (c.read_eof) {
            return false;
        }
        return !echoes(options_.mode) || c.pending() < kEchoBufferLimit;
    }

    [[nodiscard]] bool wants_write(const Connection& c) const noexcept {
        if (c.pending() > 0) {
            return true;
        }
        return options_.mode == Mode::source && !c.draining && c.sent < options_.bytes;
    }

    // Returns false when the connection failed and must be closed.
    bool read_some(Connection& c) {
        std::size_t budget = kBudgetPerEvent;
        while (wants_read(c) && budget > 0) {
            std::size_t room = scratch_.size();
            if (echoes(options_.mode)) {
                room = std::min(room, kEchoBufferLimit - c.pending());
            }
            const ssize_t n = recv(c.fd.get(), scratch_.data(), room, 0);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return errno == EAGAIN || errno == EWOULDBLOCK;
            }
            if (n == 0) {
                c.read_eof = true;
                break;
            }
            const std::string_view data(scratch_.data(), static_cast<std::size_t>(n));
            if (options_.log_received && c.received == 0) {
                log_first_bytes(data);
            }
            if (options_.mode == Mode::respond && !c.answering &&
                c.seen.size() < kEchoBufferLimit) {
                c.seen.append(data);
            }
            c.received += data.size();
            if (options_.mode == Mode::sink || options_.report) {
                c.received_hash.update(data);
            }
            if (echoes(options_.mode)) {
                if (c.out_offset > 0 && c.out_offset >= c.out.size() / 2) {
                    c.out.erase(0, c.out_offset);
                    c.out_offset = 0;
                }
                c.out.append(data);
                // Echo as soon as possible: the client may be waiting for it before it
                // sends more.
                if (!write_some(c)) {
                    return false;
                }
            }
            budget -= std::min(budget, data.size());
        }
        return true;
    }

    // Returns false when the connection failed and must be closed.
    bool write_some(Connection& c) {
        std::size_t budget = kBudgetPerEvent;
        while (budget > 0) {
            std::string_view data;
            if (c.pending() > 0) {
                data = std::string_view(c.out).substr(c.out_offset);
            } else if (options_.mode == Mode::source && !c.draining && c.sent < options_.bytes) {
                const std::size_t n = static_cast<std::size_t>(
                    std::min<std::uint64_t>(scratch_.size(), options_.bytes - c.sent));
                ringlb::test::fill_stream(
                    options_.seed, c.sent,
                    std::span<std::byte>(reinterpret_cast<std::byte*>(scratch_.data()), n));
                data = std::string_view(scratch_.data(), n);
            } else {
                return true;
            }
            const ssize_t n = send(c.fd.get(), data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return errno == EAGAIN || errno == EWOULDBLOCK;
            }
            const auto written = static_cast<std::size_t>(n);
            c.sent += written;
            if (c.pending() > 0) {
                c.out_offset += written;
                if (c.pending() == 0) {
                    c.out.clear();
                    c.out_offset = 0;
                }
            }
            budget -= std::min(budget, written);
        }
        return true;
    }

    // respond: the reply now, or after --delay-ms.
    void answer(Connection& c) {
        c.answering = true;
        if (options_.delay_ms == 0) {
            c.out = reply_;
            c.out_offset = 0;
            return;
        }
        delays_.emplace_back(Clock::now() + std::chrono::milliseconds(options_.delay_ms), c.id);
    }

    // "received HEX": the first bytes (at most 64) a connection brought, so that a test can
    // see a PROXY header before the request.
    static void log_first_bytes(std::string_view data) {
        std::string hex;
        for (unsigned char byte : data.substr(0, 64)) {
            char pair[3];
            std::snprintf(pair, sizeof pair, "%02x", byte);
            hex += pair;
        }
        std::printf("received %s\n", hex.c_str());
        std::fflush(stdout);
    }

    // Our last byte is written: send FIN, then wait (bounded) for the peer's EOF before
    // closing, so that unread input does not turn our close into an RST that could destroy
    // the reply still in flight.
    void start_drain(Connection& c) {
        (void)shutdown(c.fd.get(), SHUT_WR);
        c.draining = true;
        drains_.emplace_back(Clock::now() + std::chrono::milliseconds(options_.drain_ms), c.id);
    }

    // Runs `due` on each connection of `queue` whose time has come (a queue of one delay
    // length is sorted by time); connections closed meanwhile are skipped.
    template <typename Due>
    void expire(std::deque<std::pair<Clock::time_point, std::uint64_t>>& queue, Due due) {
        const auto now = Clock::now();
        while (!queue.empty() && queue.front().first <= now) {
            const std::uint64_t id = queue.front().second;
            queue.pop_front();
            if (auto it = connections_.find(id); it != connections_.end()) {
                due(*it->second);
            }
        }
    }

    [[nodiscard]] int next_timeout_ms() const {
        if (drains_.empty() && delays_.empty()) {
            return -1;
        }
        Clock::time_point next = Clock::time_point::max();
        if (!drains_.empty()) {
            next = drains_.front().first;
        }
        if (!delays_.empty()) {
            next = std::min(next, delays_.front().first);
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
        return static_cast<int>(std::max<std::int64_t>(left.count() + 1, 0));
    }

    // Registers the events the connection waits for next: added to the epoll set on first
    // use, modified when they change. A connection that cannot be registered is closed.
    void update_interest(Connection& c) {
        std::uint32_t interest = 0;
        if (wants_read(c)) {
            interest |= EPOLLIN;
        }
        if (wants_write(c)) {
            interest |= EPOLLOUT;
        }
        epoll_event event{};
        event.events = interest;
        event.data.u64 = c.id;
        if (!c.registered) {
            if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &event) < 0) {
                std::perror("ringlb-testbackend: epoll_ctl");
                close(c);
                return;
            }
            c.registered = true;
        } else if (interest != c.interest) {
            (void)epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &event);
        }
        c.interest = interest;
    }

    void close(Connection& c) {
        if (options_.report) {
            std::printf("closed sent=%" PRIu64 " received=%" PRIu64 " hash=%016" PRIx64 "\n",
                        c.sent, c.received, c.received_hash.value());
            std::fflush(stdout);
        }
        // Closing the descriptor also removes it from the epoll set.
        connections_.erase(c.id);
        set_accepting(true);
    }

    Options options_;
    UniqueFd listener_;
    UniqueFd epoll_;
    UniqueFd signals_;
    std::string reply_;
    std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
    // Drain deadlines all have the same length, so a FIFO is already sorted by deadline.
    std::deque<std::pair<Clock::time_point, std::uint64_t>> drains_;
    std::deque<std::pair<Clock::time_point, std::uint64_t>> delays_;  // respond: the same
    std::string scratch_ = std::string(kScratchSize, '\0');
    std::uint64_t next_id_ = 2;
    bool accepting_ = true;
    bool paused_ = false;
};

// A socket bound to `address`. SO_REUSEADDR lets a test restart a backend on the port of one
// it just killed. Port 0 is turned into an explicit port (found by a first bind to port 0,
// then bound again by number while the first socket still holds it), because only a port
// bound by number stays reserved while the listener is paused (pause()). Invalid fd on error.
UniqueFd bind_listener(sockaddr_storage address, socklen_t length) {
    const int one = 1;
    auto make = [&] {
        UniqueFd fd(
            socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
        if (fd) {
            (void)setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        }
        return fd;
    };
    UniqueFd first = make();
    if (!first || bind(first.get(), reinterpret_cast<const sockaddr*>(&address), length) < 0) {
        return UniqueFd();
    }
    auto* port = address.ss_family == AF_INET6
                     ? &reinterpret_cast<sockaddr_in6*>(&address)->sin6_port
                     : &reinterpret_cast<sockaddr_in*>(&address)->sin_port;
    if (*port != 0) {
        return first;
    }
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof bound;
    if (getsockname(first.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length) < 0) {
        return UniqueFd();
    }
    *port = address.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&bound)->sin_port;
    UniqueFd second = make();
    if (!second || bind(second.get(), reinterpret_cast<const sockaddr*>(&address), length) < 0) {
        return UniqueFd();
    }
    return second;
}

int serve(Options options) {
    raise_fd_limit();
    // SIGPIPE would kill us when a client resets while we write; send() uses MSG_NOSIGNAL,
    // and ignoring the signal covers any other path.
    ::signal(SIGPIPE, SIG_IGN);

    socklen_t length = 0;
    const auto address = parse_address(options.listen, length);
    if (!address) {
        std::fprintf(stderr, "ringlb-testbackend: --listen: not an address: %s\n",
                     options.listen.c_str());
        return 2;
    }
    UniqueFd listener = bind_listener(*address, length);
    if (!listener) {
        std::fprintf(stderr, "ringlb-testbackend: bind %s: %s\n", options.listen.c_str(),
                     std::strerror(errno));
        return 1;
    }
    if (listen(listener.get(), 4096) < 0) {
        std::perror("ringlb-testbackend: listen");
        return 1;
    }
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof bound;
    if (getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length) < 0) {
        std::perror("ringlb-testbackend: getsockname");
        return 1;
    }
    const std::string bound_text = format_address(bound);

    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGUSR1);
    sigaddset(&stop_signals, SIGUSR2);
    sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
    UniqueFd signals(signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC));
    UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
    if (!signals || !epoll) {
        std::perror("ringlb-testbackend: signalfd/epoll");
        return 1;
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kSignalId;
    epoll_ctl(epoll.get(), EPOLL_CTL_ADD, signals.get(), &event);
    event.data.u64 = kListenerId;
    epoll_ctl(epoll.get(), EPOLL_CTL_ADD, listener.get(), &event);

    std::printf("listening %s\n", bound_text.c_str());
    std::fflush(stdout);

    std::string reply = options.reply.value_or(bound_text);
    Server server(std::move(options), std::move(listener), std::move(epoll), std::move(signals),
                  std::move(reply));
    return server.run();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "ringlb-testbackend: a TCP test server.\n"
        "  echo    writes back every byte it reads; closes after the client's EOF\n"
        "  greet   writes TEXT and a newline, then echoes\n"
        "  reply   writes TEXT and a newline, then closes\n"
        "  respond once the bytes read contain REQUEST (at once without one), waits DELAY ms,\n"
        "          writes TEXT as it is (no newline), then closes\n"
        "  silent  reads and discards, never writes; closes after the client's EOF\n"
        "  source  writes N bytes of the stream SEED, then closes\n"
        "  sink    reads until EOF, then writes \"<bytes> <fnv1a-64 hex>\" and closes\n"
        "Prints \"listening ADDRESS\" when ready; SIGTERM or SIGINT stops it (exit 0).\n"
        "SIGUSR1 stops listening but keeps the port (connects are refused; prints \"paused\"),\n"
        "SIGUSR2 listens again (prints \"resumed\")."};
    Options options;
    const std::map<std::string, Mode> modes = {{"echo", Mode::echo},     {"greet", Mode::greet},
                                               {"reply", Mode::reply},   {"respond", Mode::respond},
                                               {"silent", Mode::silent}, {"source", Mode::source},
                                               {"sink", Mode::sink}};
    std::string mode = "echo";
    app.add_option("--mode", mode, "echo | greet | reply | respond | silent | source | sink")
        ->required()
        ->check(CLI::IsMember({"echo", "greet", "reply", "respond", "silent", "source", "sink"}));
    app.add_option("--listen", options.listen, "address to listen on, e.g. 127.0.0.1:0")
        ->required();
    app.add_option("--reply", options.reply,
                   "reply, greet and respond modes: text to send (default: the address)");
    app.add_option("--request", options.request,
                   "respond mode: answer once the bytes read contain this (default: at once)");
    app.add_option("--delay-ms", options.delay_ms, "respond mode: wait this long before answering");
    app.add_flag("--log-received", options.log_received,
                 "print \"received HEX\" with the first bytes (at most 64) of each connection");
    app.add_option("--bytes", options.bytes, "source mode: bytes to send (default 1 MiB)");
    app.add_option("--seed", options.seed, "source mode: stream seed (default 0)");
    app.add_option("--drain-ms", options.drain_ms,
                   "after the last byte sent, wait this long for the client's EOF (default 2000)");
    app.add_flag("--report", options.report,
                 "print \"closed sent=N received=N hash=HEX\" when a connection closes");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        const int status = app.exit(error);
        return status == 0 ? 0 : 2;
    }
    options.mode = modes.at(mode);
    return serve(std::move(options));
}
