// SPDX-License-Identifier: MIT
// The admin HTTP server's thread: a poll(2) loop over the listener, a stop eventfd and up to
// max_clients non-blocking connections (clear text or TLS), each with its own deadline.
#include "ringlb/admin/http_server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>
#include <iterator>
#include <limits>
#include <memory>
#include <stdexcept>
#include <system_error>

#include "admin_log.hpp"
#include "http_transport.hpp"
#include "ringlb/admin/http_auth.hpp"
#include "ringlb/base/clock.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/base/socket_address.hpp"

namespace ringlb {

namespace {

// The server whose loop runs on this thread, so that stop() called from its handler does not
// try to join itself.
thread_local const HttpServer* t_running_server = nullptr;

// The parser reaches a verdict before a request needs more than this (head + body limits).
constexpr std::size_t kReceiveLimit = kHttpMaxHeadBytes + kHttpMaxBodyBytes;
// Connections taken per wake-up, so that a connect flood cannot starve clients being served.
constexpr int kAcceptBatch = 64;
// Out of descriptors or memory: the listener stays readable, so stop polling it for a while
// instead of spinning on accept().
constexpr std::uint64_t kAcceptPauseMs = 100;
// A lingering client may send this much more before it is simply closed.
constexpr std::size_t kLingerMaxBytes = 64 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

enum class Phase {
    handshaking,  // TLS only: the handshake is not done yet
    reading,      // waiting for (the rest of) a request
    held,         // a whole request from an address held back: answered at the deadline
    responding,   // sending a response; not reading, so pipelined requests wait in the kernel
    lingering,    // response sent, write side shut: dropping input until EOF or the deadline
};

struct Client {
    Client(UniqueFd fd, UniqueSsl ssl, AdminWarnings& warnings) noexcept
        : transport(std::move(fd), std::move(ssl), warnings) {}

    HttpTransport transport;
    SocketAddress peer;
    Phase phase = Phase::reading;
    std::uint64_t deadline_ms = 0;  // meaning depends on phase (see HttpServerLimits)
    std::string in;                 // received, not yet answered
    std::string out;                // to send, from out_sent on
    std::size_t out_sent = 0;
    bool close_after_response = false;
    bool continue_sent = false;  // "100 Continue" already sent for the current request
    bool peer_closed = false;    // read EOF: answer what is complete, then close
    bool released = false;       // the current request was held back already
    std::size_t lingered_bytes = 0;
};

using Io = HttpTransport::Io;

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
          handler_(handler),
          limits_(limits),
          tls_(tls),
          stats_(stats),
          stopping_(stopping),
          authorizer_(auth, limits.auth_failures_per_s, limits.auth_delay_ms, stats.auth_failures) {
    }

    void run();

  private:
    void accept_clients(std::uint64_t now);
    void refuse(UniqueFd fd, const SocketAddress& peer) noexcept;
    void dispatch(Client& client, short revents, std::uint64_t now);
    void handshake(Client& client, std::uint64_t now);
    void on_readable(Client& client, std::uint64_t now);
    [[nodiscard]] bool read_available(Client& client);
    void on_writable(Client& client, std::uint64_t now);
    void advance(Client& client, std::uint64_t now);
    void respond(Client& client, HttpParse result, const HttpRequest& request, std::uint64_t now);
    HttpResponse call_handler(const HttpRequest& request, const Client& client) noexcept;
    enum class Flush { done, blocked, failed };
    Flush flush(Client& client) noexcept;
    void start_lingering(Client& client, std::uint64_t now) noexcept;
    void drain(Client& client) noexcept;
    void expire(std::uint64_t now) noexcept;
    void close(Client& client, std::string_view why) noexcept;
    [[nodiscard]] static short events_for(const Client& client) noexcept;

    int listener_;
    int wake_;
    const HttpHandler& handler_;
    const HttpServerLimits& limits_;
    const TlsContext* tls_;  // null: clear text
    HttpServerStats& stats_;
    const std::atomic<bool>& stopping_;
    HttpAuthorizer authorizer_;
    std::vector<std::unique_ptr<Client>> clients_;
    std::uint64_t accept_paused_until_ms_ = 0;
    AdminWarnings warnings_;
};

void AdminLoop::run() {
    std::vector<pollfd> fds;
    std::vector<Client*> polled;
    auto remove_closed = [this] {
        std::erase_if(clients_, [](const std::unique_ptr<Client>& client) {
            return !client->transport.open();
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
            fds.push_back(pollfd{client->transport.fd(), events_for(*client), 0});
            polled.push_back(client.get());
            wake_at = std::min(wake_at, client->deadline_ms);
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
            Client& client = *polled[i];
            short revents = fds[first_client + i].revents;
            if (revents == 0 || !client.transport.open()) {
                continue;
            }
            try {
                dispatch(client, revents, now);
            } catch (const std::exception& error) {
                log_warn("admin: client {}: {}", peer_name(client.peer), error.what());
                close(client, "internal error");
            }
        }
        remove_closed();
    }
}

short AdminLoop::events_for(const Client& client) noexcept {
    switch (client.phase) {
        case Phase::handshaking:
            return client.transport.read_wants();
        case Phase::reading:
            return static_cast<short>(
                client.transport.read_wants() |
                (client.out_sent < client.out.size() ? client.transport.write_wants() : 0));
        case Phase::held:
            return 0;  // errors and hang-ups are reported anyway
        case Phase::responding:
            return client.transport.write_wants();
        case Phase::lingering:
            return POLLIN;
    }
    return 0;
}

void AdminLoop::dispatch(Client& client, short revents, std::uint64_t now) {
    constexpr short kTrouble = POLLERR | POLLHUP | POLLNVAL;
    switch (client.phase) {
        case Phase::handshaking:
            handshake(client, now);
            return;
        case Phase::reading:
            if (client.out_sent < client.out.size() &&
                (revents & (client.transport.write_wants() | kTrouble)) != 0) {
                on_writable(client, now);  // a "100 Continue"
            }
            if (client.transport.open() && client.phase == Phase::reading &&
                (revents & (client.transport.read_wants() | kTrouble)) != 0) {
                on_readable(client, now);
            }
            return;
        case Phase::held:
            if ((revents & kTrouble) != 0) {
                close(client, "connection lost while held back");
            }
            return;
        case Phase::responding:
            advance(client, now);
            return;
        case Phase::lingering:
            drain(client);
            return;
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
        auto client = std::make_unique<Client>(std::move(connection), std::move(ssl), warnings_);
        client->peer = peer;
        if (tls_ != nullptr) {
            client->phase = Phase::handshaking;
            client->deadline_ms =
                now + std::min(limits_.handshake_timeout_ms, limits_.request_timeout_ms);
        } else {
            client->deadline_ms = now + limits_.request_timeout_ms;
        }
        clients_.push_back(std::move(client));
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

// Drives a TLS handshake as far as the socket allows; once done, reads what may already be
// there (a TLS 1.3 client sends its request right behind its Finished message).
void AdminLoop::handshake(Client& client, std::uint64_t now) {
    switch (client.transport.handshake()) {
        case HttpTransport::Handshake::done:
            client.phase = Phase::reading;
            client.deadline_ms = now + limits_.request_timeout_ms;
            on_readable(client, now);
            return;
        case HttpTransport::Handshake::blocked:
            return;
        case HttpTransport::Handshake::failed:
            break;
    }
    stats_.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
    const std::string why = tls_error_text("TLS handshake failed");
    close(client, why);
}

// Reads whatever is available (up to the receive limit) into client.in; true when it got
// bytes or the stream ended, false when nothing could be read now. Closes on errors.
bool AdminLoop::read_available(Client& client) {
    bool progress = false;
    std::array<char, 4096> chunk{};
    while (client.transport.open() && !client.peer_closed) {
        std::size_t room = kReceiveLimit - std::min(kReceiveLimit, client.in.size());
        if (room == 0) {
            return progress;
        }
        std::size_t got = 0;
        switch (client.transport.receive(chunk.data(), std::min(room, chunk.size()), got)) {
            case Io::data:
                client.in.append(chunk.data(), got);
                progress = true;
                break;
            case Io::blocked:
                return progress;
            case Io::eof:
                client.peer_closed = true;
                return true;
            case Io::failed:
                close(client, client.transport.is_tls() ? "TLS error" : "receive error");
                return true;
        }
    }
    return progress;
}

void AdminLoop::on_readable(Client& client, std::uint64_t now) {
    if (client.phase == Phase::lingering) {
        drain(client);
        return;
    }
    if (client.in.size() >= kReceiveLimit) {
        advance(client, now);  // a zero-length recv() would read as EOF; let the parser judge
        return;
    }
    (void)read_available(client);
    advance(client, now);
}

void AdminLoop::on_writable(Client& client, std::uint64_t now) {
    if (client.phase == Phase::responding) {
        advance(client, now);
        return;
    }
    // Reading: only a "100 Continue" can be waiting to go out.
    if (flush(client) == Flush::failed) {
        close(client, "send error");
    }
}

// Moves a connection forward as far as its bytes allow: parse, answer, send, and go on with
// a pipelined request once the previous response is out.
void AdminLoop::advance(Client& client, std::uint64_t now) {
    while (client.transport.open()) {
        if (client.phase == Phase::reading) {
            HttpRequest request;
            HttpParse result = parse_http_request(client.in, request);
            if (result == HttpParse::incomplete) {
                // TLS may hold decrypted bytes the socket will never signal again.
                if (!client.peer_closed && client.transport.has_pending() &&
                    client.in.size() < kReceiveLimit && read_available(client)) {
                    continue;
                }
                if (client.peer_closed) {
                    close(client,
                          client.in.empty() ? "client closed" : "client closed mid-request");
                    return;
                }
                if (client.in.size() >= kReceiveLimit) {
                    // Cannot happen with the parser's limits; never wait on a full buffer.
                    request.reject_status = 431;
                    request.reject_reason = "request over the receive buffer";
                    respond(client, HttpParse::too_large, request, now);
                    continue;
                }
                if (request.head_size != 0 && request.expect_continue && !client.continue_sent) {
                    client.continue_sent = true;
                    client.out.append(kContinue);
                    if (flush(client) == Flush::failed) {
                        close(client, "send error");
                    }
                }
                return;
            }
            if (!client.released && authorizer_.held(client.peer, now)) {
                // Too many failed authentications from this address: answer later, without
                // reading further; the loop serves everyone else meanwhile.
                client.phase = Phase::held;
                client.deadline_ms = now + authorizer_.delay_ms();
                return;
            }
            client.released = false;
            respond(client, result, request, now);
        } else if (client.phase == Phase::responding) {
            switch (flush(client)) {
                case Flush::failed:
                    close(client, "send error");
                    return;
                case Flush::blocked:
                    return;
                case Flush::done:
                    break;
            }
            if (client.close_after_response) {
                start_lingering(client, now);
                return;
            }
            client.phase = Phase::reading;
            client.continue_sent = false;
            client.deadline_ms = now + limits_.request_timeout_ms;
        } else {
            return;
        }
    }
}

// Turns a parse verdict into a queued response; consumes the request's bytes.
void AdminLoop::respond(Client& client, HttpParse result, const HttpRequest& request,
                        std::uint64_t now) {
    HttpResponse response;
    std::size_t consumed = client.in.size();
    bool close_after = true;
    bool authorised = true;
    if (result != HttpParse::complete) {
        response = http_text_response(request.reject_status, request.reject_reason);
    } else {
        consumed = request.size;
        close_after = !request.keep_alive || client.peer_closed;
        if (std::optional<HttpResponse> refusal = authorizer_.refusal(client.peer, request, now)) {
            authorised = false;
            response = std::move(*refusal);
        } else {
            response = call_handler(request, client);
        }
    }

    bool head_only = result == HttpParse::complete && request.method == "HEAD";
    client.out.erase(0, client.out_sent);
    client.out_sent = 0;
    append_http_response(client.out, response, head_only, close_after);
    if (log_enabled(LogLevel::debug)) {
        if (result == HttpParse::complete) {
            log_debug("admin: {} \"{} {}\" {} {}{}", peer_name(client.peer), request.method,
                      request.path, response.status, response.body.size(),
                      authorised ? "" : " (not authorised)");
        } else {
            log_debug("admin: {} rejected: {} {}", peer_name(client.peer), response.status,
                      request.reject_reason);
        }
    }
    client.in.erase(0, consumed);
    client.phase = Phase::responding;
    client.close_after_response = close_after;
    client.deadline_ms = now + limits_.request_timeout_ms;
}

HttpResponse AdminLoop::call_handler(const HttpRequest& request, const Client& client) noexcept {
    try {
        HttpResponse response = handler_(request);
        if (const char* problem = http_response_problem(response)) {
            log_warn("admin: handler response to \"{} {}\" cannot be sent: {}", request.method,
                     request.path, problem);
            return http_text_response(500, "");
        }
        return response;
    } catch (const std::exception& error) {
        log_warn("admin: handler failed on \"{} {}\" from {}: {}", request.method, request.path,
                 peer_name(client.peer), error.what());
    } catch (...) {
        log_warn("admin: handler failed on \"{} {}\": unknown exception", request.method,
                 request.path);
    }
    try {
        return http_text_response(500, "");
    } catch (...) {
        HttpResponse bare;  // no memory even for the message: an empty 500 still goes out
        bare.status = 500;
        return bare;
    }
}

AdminLoop::Flush AdminLoop::flush(Client& client) noexcept {
    while (client.out_sent < client.out.size()) {
        std::size_t sent = 0;
        switch (client.transport.send(client.out.data() + client.out_sent,
                                      client.out.size() - client.out_sent, sent)) {
            case Io::data:
                client.out_sent += sent;
                break;
            case Io::blocked:
                return Flush::blocked;
            case Io::eof:
            case Io::failed:
                return Flush::failed;
        }
    }
    client.out.clear();
    client.out_sent = 0;
    return Flush::done;
}

void AdminLoop::start_lingering(Client& client, std::uint64_t now) noexcept {
    client.transport.shut_write();
    client.phase = Phase::lingering;
    client.deadline_ms = now + std::min(limits_.linger_ms, limits_.request_timeout_ms);
    client.in.clear();
    client.in.shrink_to_fit();
    drain(client);
}

void AdminLoop::drain(Client& client) noexcept {
    std::array<char, 4096> scratch{};
    for (;;) {
        std::size_t got = 0;
        switch (client.transport.receive_raw(scratch.data(), scratch.size(), got)) {
            case Io::data:
                client.lingered_bytes += got;
                if (client.lingered_bytes > kLingerMaxBytes) {
                    close(client, "kept sending after the response");
                    return;
                }
                continue;
            case Io::blocked:
                return;
            case Io::eof:
            case Io::failed:
                close(client, "client closed after the response");
                return;
        }
    }
}

void AdminLoop::expire(std::uint64_t now) noexcept {
    for (const auto& owned : clients_) {
        Client& client = *owned;
        if (!client.transport.open() || now < client.deadline_ms) {
            continue;
        }
        if (client.phase == Phase::held) {
            client.phase = Phase::reading;
            client.released = true;
            client.deadline_ms = now + limits_.request_timeout_ms;
            try {
                advance(client, now);
            } catch (const std::exception&) {
                close(client, "no memory for the response");
            }
        } else if (client.phase == Phase::handshaking) {
            stats_.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
            close(client, "TLS handshake not done in time");
        } else if (client.phase == Phase::reading && !client.in.empty()) {
            HttpRequest timed_out;
            timed_out.reject_status = 408;
            timed_out.reject_reason = "request not received in time";
            try {
                respond(client, HttpParse::bad_request, timed_out, now);
                // A short budget for the 408 itself: the client has been slow already.
                client.deadline_ms = now + std::min(limits_.linger_ms, limits_.request_timeout_ms);
                advance(client, now);
            } catch (const std::exception&) {
                close(client, "request timeout (no memory for the 408)");
            }
        } else {
            close(client, client.phase == Phase::responding ? "response not taken in time"
                                                            : "idle timeout");
        }
    }
}

void AdminLoop::close(Client& client, std::string_view why) noexcept {
    if (log_enabled(LogLevel::debug)) {
        log_debug("admin: {} closed: {}", peer_name(client.peer), why);
    }
    client.transport.close();
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
