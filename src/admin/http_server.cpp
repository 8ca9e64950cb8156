// SPDX-License-Identifier: MIT
// The admin HTTP server's life and thread: a poll(2) loop over the listener, a stop eventfd
// and up to max_clients connections (HttpConnection), accepting, refusing beyond the limit,
// and waking each connection when its socket is ready or its deadline has passed.
#include "ringlb/admin/http_server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <exception>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "admin_log.hpp"
#include "http_connection.hpp"
#include "ringlb/admin/http_auth.hpp"
#include "ringlb/admin/http_response.hpp"
#include "ringlb/base/clock.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/base/socket_address.hpp"

namespace ringlb {

namespace {

// The server whose loop runs on this thread, so that stop() called from its handler does not
// try to join itself.
thread_local const HttpServer* t_running_server = nullptr;

// Connections taken per wake-up, so that a connect flood cannot starve clients being served.
constexpr int kAcceptBatch = 64;
// Out of descriptors or memory: the listener stays readable, so stop polling it for a while
// instead of spinning on accept().
constexpr std::uint64_t kAcceptPauseMs = 100;

bool is_transient_accept_error(int error) noexcept {
    // The connection died in the backlog, or Linux passed on a network error (accept(2)).
    switch (error) {
        case ECONNABORTED:
        case EPROTO:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
        case EPERM:  // refused by a firewall rule
        case EINTR:
            return true;
        default:
            return false;
    }
}

// Everything the admin thread owns while it runs: connections and the accept state.
class AdminLoop final {
  public:
    AdminLoop(int listener, int wake, const HttpAuth& auth, const HttpHandler& handler,
              const HttpServerLimits& limits, const TlsContext* tls, HttpServerStats& stats,
              const std::atomic<bool>& stopping)
        : listener_(listener),
          wake_(wake),
          limits_(limits),
          tls_(tls),
          stopping_(stopping),
          authorizer_(auth, limits.auth_failures_per_s, limits.auth_delay_ms, stats.auth_failures),
          context_{limits, handler, authorizer_, stats, warnings_} {}

    void run();

  private:
    void accept_clients(std::uint64_t now);
    void refuse(UniqueFd fd, const SocketAddress& peer) noexcept;
    void expire(std::uint64_t now) noexcept;

    int listener_;
    int wake_;
    const HttpServerLimits& limits_;
    const TlsContext* tls_;  // null: clear text
    const std::atomic<bool>& stopping_;
    AdminWarnings warnings_;
    HttpAuthorizer authorizer_;
    HttpConnectionContext context_;  // refers to the members above
    std::vector<std::unique_ptr<HttpConnection>> clients_;
    std::uint64_t accept_paused_until_ms_ = 0;
};

void AdminLoop::run() {
    std::vector<pollfd> fds;
    std::vector<HttpConnection*> polled;
    auto remove_closed = [this] {
        std::erase_if(clients_, [](const std::unique_ptr<HttpConnection>& client) {
            return !client->open();
        });
    };
    while (!stopping_.load(std::memory_order_relaxed)) {
        std::uint64_t now = monotonic_ms();
        expire(now);
        remove_closed();

        fds.clear();
        polled.clear();
        fds.push_back(pollfd{wake_, POLLIN, 0});
        bool accepting = now >= accept_paused_until_ms_;
        std::uint64_t wake_at =
            accepting ? std::numeric_limits<std::uint64_t>::max() : accept_paused_until_ms_;
        if (accepting) {
            fds.push_back(pollfd{listener_, POLLIN, 0});
        }
        std::size_t first_client = fds.size();
        for (const auto& client : clients_) {
            fds.push_back(pollfd{client->fd(), client->poll_events(), 0});
            polled.push_back(client.get());
            wake_at = std::min(wake_at, client->deadline_ms());
        }
        int timeout_ms = -1;
        if (wake_at != std::numeric_limits<std::uint64_t>::max()) {
            timeout_ms = static_cast<int>(std::min<std::uint64_t>(wake_at > now ? wake_at - now : 0,
                                                                  std::numeric_limits<int>::max()));
        }
        if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
            if (errno != EINTR) {
                warnings_.system_error("poll", errno);
                ::poll(nullptr, 0, 10);  // ENOMEM: do not spin while the kernel recovers
            }
            continue;
        }

        now = monotonic_ms();
        if (fds[0].revents != 0) {
            std::uint64_t count = 0;
            (void)!::read(wake_, &count, sizeof(count));
        }
        if (accepting && fds[1].revents != 0) {
            try {
                accept_clients(now);
            } catch (const std::exception&) {  // no memory for one more client
                warnings_.system_error("accept", ENOMEM);
                accept_paused_until_ms_ = now + kAcceptPauseMs;
            }
        }
        for (std::size_t i = 0; i < polled.size(); ++i) {
            HttpConnection& client = *polled[i];
            short revents = fds[first_client + i].revents;
            if (revents == 0 || !client.open()) {
                continue;
            }
            try {
                client.on_events(revents, now);
            } catch (const std::exception& error) {
                log_warn("admin: client {}: {}", peer_name(client.peer()), error.what());
                client.close("internal error");
            }
        }
        remove_closed();
    }
}

void AdminLoop::accept_clients(std::uint64_t now) {
    for (int i = 0; i < kAcceptBatch; ++i) {
        sockaddr_storage address{};
        socklen_t length = sizeof(address);
        int fd = ::accept4(listener_, reinterpret_cast<sockaddr*>(&address), &length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            if (is_transient_accept_error(errno)) {
                continue;
            }
            // EMFILE, ENFILE, ENOBUFS, ENOMEM or worse: the pending connection stays queued.
            warnings_.system_error("accept", errno);
            accept_paused_until_ms_ = now + kAcceptPauseMs;
            return;
        }
        UniqueFd connection(fd);
        SocketAddress peer =
            SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&address), length);
        if (clients_.size() >= limits_.max_clients) {
            refuse(std::move(connection), peer);
            continue;
        }
        int one = 1;
        // Each response leaves in one send(); Nagle would only delay the tail of a large one.
        (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        UniqueSsl ssl;
        if (tls_ != nullptr) {
            ssl = tls_->accept_on(fd);
        }
        clients_.push_back(std::make_unique<HttpConnection>(context_, std::move(connection),
                                                            std::move(ssl), peer, now));
    }
}

// Best-effort 503: whatever the client sent already is read first, so that closing does not
// reset the connection over unread bytes before the answer arrives. With TLS there is no
// handshake to spend on a client that cannot be served: it is closed at once.
void AdminLoop::refuse(UniqueFd fd, const SocketAddress& peer) noexcept {
    std::uint64_t suppressed = 0;
    if (warnings_.allow(suppressed)) {
        log_warn("admin: {} clients already, refusing {} ({} similar messages suppressed)",
                 limits_.max_clients, peer_name(peer), suppressed);
    }
    if (tls_ != nullptr) {
        return;
    }
    std::array<char, 4096> scratch{};
    (void)!::recv(fd.get(), scratch.data(), scratch.size(), MSG_DONTWAIT);
    try {
        std::string out;
        append_http_response(out, http_text_response(503, "too many admin clients"), false, true);
        (void)!::send(fd.get(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    } catch (...) {
        // Out of memory: the client just sees the connection close.
    }
    ::shutdown(fd.get(), SHUT_WR);
}

void AdminLoop::expire(std::uint64_t now) noexcept {
    for (const auto& client : clients_) {
        if (client->open() && now >= client->deadline_ms()) {
            client->on_deadline(now);
        }
    }
}

}  // namespace

HttpServer::HttpServer(UniqueFd listener, HttpAuth auth, HttpHandler handler,
                       HttpServerLimits limits, std::unique_ptr<TlsContext> tls,
                       HttpServerStats* stats)
    : listener_(std::move(listener)),
      auth_(std::move(auth)),
      handler_(std::move(handler)),
      limits_(limits),
      tls_(std::move(tls)),
      stats_(stats != nullptr ? stats : &own_stats_) {
    if (!listener_) {
        throw std::invalid_argument("admin HTTP server: no listening socket");
    }
    if (!handler_) {
        throw std::invalid_argument("admin HTTP server: no request handler");
    }
    if (limits_.max_clients == 0 || limits_.request_timeout_ms == 0 ||
        limits_.handshake_timeout_ms == 0) {
        throw std::invalid_argument(
            "admin HTTP server: max_clients, request_timeout_ms and handshake_timeout_ms must "
            "be > 0");
    }
    check_bearer_tokens(auth_);
    int flags = ::fcntl(listener_.get(), F_GETFL);
    if (flags < 0 || ::fcntl(listener_.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
        throw std::system_error(errno, std::generic_category(), "admin listener O_NONBLOCK");
    }
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_) {
        throw std::system_error(errno, std::generic_category(), "eventfd");
    }
}

HttpServer::~HttpServer() {
    stop();
}

void HttpServer::start() {
    std::lock_guard lock(lifecycle_mutex_);
    if (started_) {
        throw std::logic_error("admin HTTP server started twice");
    }
    thread_ = std::thread([this] { run(); });
    started_ = true;
}

void HttpServer::stop() noexcept {
    // Closing the listener refuses connections queued from now on instead of leaving them
    // unserved. From the handler, the loop ends after this request and the listener stays
    // open until the destructor.
    UniqueFd closed = stop_and_release();
}

UniqueFd HttpServer::stop_and_release() noexcept {
    stopping_.store(true, std::memory_order_relaxed);
    std::uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof(one));
    if (t_running_server == this) {
        return UniqueFd();  // from the handler: joining its own thread would deadlock
    }
    std::lock_guard lock(lifecycle_mutex_);
    if (thread_.joinable()) {
        thread_.join();
    }
    return std::move(listener_);
}

void HttpServer::run() noexcept {
    pthread_setname_np(pthread_self(), "ringlb-admin");
    t_running_server = this;
    try {
        AdminLoop loop(listener_.get(), wake_.get(), auth_, handler_, limits_, tls_.get(), *stats_,
                       stopping_);
        loop.run();
    } catch (const std::exception& error) {
        log_error("admin endpoint stopped: {}", error.what());
    } catch (...) {
        log_error("admin endpoint stopped: unknown exception");
    }
}

}  // namespace ringlb
