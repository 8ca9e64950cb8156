// SPDX-License-Identifier: MIT
// HttpServer: the admin endpoint's HTTP/1.1 server (clear text or TLS) on its own poll(2)
// thread, with limits, timeouts and bearer-token roles; routes are the handler's business.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "ringlb/admin/http_auth.hpp"
#include "ringlb/admin/http_request.hpp"
#include "ringlb/admin/http_response.hpp"
#include "ringlb/base/unique_fd.hpp"
#include "ringlb/io/tls.hpp"

namespace ringlb {

// Called on the admin thread, one request at a time, only for well-formed and authorised
// requests; it may throw (the client gets a 500). The request's views are valid during the
// call only. Whatever it takes holds up every other admin client, so it must not block long.
// For HEAD the server drops the body and keeps its Content-Length.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerLimits {
    // A request must arrive whole within this time from when the server starts waiting for
    // it (accept, or the previous response sent on a kept-alive connection); a response must
    // be taken by the client within it too. Late clients are closed (408 if they sent part
    // of a request).
    std::uint64_t request_timeout_ms = 10000;
    // After a response that closes the connection the server stops sending and reads (and
    // drops) what the client still sends for at most this long, so that unread bytes do not
    // turn the close into a reset that destroys the response in flight.
    std::uint64_t linger_ms = 2000;
    // Connections served at once; more are accepted, answered 503 best-effort and closed
    // (with TLS: closed at once).
    std::size_t max_clients = 64;
    // With TLS, the handshake must be done within this time from accept.
    std::uint64_t handshake_timeout_ms = 5000;
    // A client address with more than `auth_failures_per_s` failed authentications within
    // a second gets each of its next requests answered only this long after it arrived,
    // until it has gone this long without a failure. Nothing sleeps: the request waits
    // in its connection while the loop serves everyone else.
    unsigned auth_failures_per_s = 10;
    std::uint64_t auth_delay_ms = 2000;
};

// Counters that outlive one server (a reload replaces the server, not its history). Written by
// the admin thread, read by anyone.
struct HttpServerStats final {
    std::atomic<std::uint64_t> auth_failures{0};           // 401s: no token, or a wrong one
    std::atomic<std::uint64_t> tls_handshake_failures{0};  // failed or timed-out handshakes
};

class HttpServer final {
  public:
    // `listener`: a bound and listening TCP socket (made non-blocking here). `auth`: see
    // HttpAuth. With `tls`, every connection speaks TLS (the context is shared with no one
    // else). `stats`, when given, must outlive the server. Throws std::invalid_argument on an
    // invalid listener, an empty handler or a token that is empty or not visible ASCII;
    // std::system_error when the kernel refuses (eventfd, fcntl).
    HttpServer(UniqueFd listener, HttpAuth auth, HttpHandler handler, HttpServerLimits limits = {},
               std::unique_ptr<TlsContext> tls = nullptr, HttpServerStats* stats = nullptr);
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;
    ~HttpServer();

    // Starts the "ringlb-admin" thread. Once only; throws std::logic_error on a second call.
    void start();
    // Any thread, any number of times: stops the thread, closes every client and waits for
    // it. From the handler itself it only asks the thread to stop after that request.
    void stop() noexcept;
    // stop(), from a thread other than the handler's, handing over the listening socket
    // instead of closing it: connections waiting in its queue stay there for a new server
    // on the same socket (a reload that changes only the token). Invalid if already stopped.
    [[nodiscard]] UniqueFd stop_and_release() noexcept;

  private:
    void run() noexcept;

    UniqueFd listener_;
    HttpAuth auth_;
    HttpHandler handler_;
    HttpServerLimits limits_;
    std::unique_ptr<TlsContext> tls_;
    HttpServerStats own_stats_;  // used when the caller keeps none
    HttpServerStats* stats_;
    UniqueFd wake_;  // eventfd: stop() writes it to end poll() early
    std::atomic<bool> stopping_{false};
    std::mutex lifecycle_mutex_;  // serialises start() and stop(): one joins, others wait
    bool started_ = false;
    std::thread thread_;
};

}  // namespace ringlb
