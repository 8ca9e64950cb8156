// SPDX-License-Identifier: MIT
// HttpServer: the admin endpoint's HTTP/1.1 transport on its own poll(2) thread, with limits,
// timeouts and bearer-token auth; routes are the handler's business.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "ringlb/admin/http_request.hpp"
#include "ringlb/io/unique_fd.hpp"

namespace ringlb {

struct HttpResponse {
    int status = 200;          // 200..599; anything else becomes a 500
    std::string content_type;  // empty: "text/plain; charset=utf-8"
    std::string body;
    // Extra header fields. The server writes Content-Length, Content-Type, Connection and
    // Date itself: a handler naming one of those (or Transfer-Encoding), or putting a
    // control character in a name or value, gets a 500 instead.
    std::vector<std::pair<std::string, std::string>> headers;
};

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
    // Connections served at once; more are accepted, answered 503 best-effort and closed.
    std::size_t max_clients = 64;
};

// The reason phrase for a status ("Not Found"), or a generic one for its class.
[[nodiscard]] std::string_view http_reason_phrase(int status) noexcept;

class HttpServer final {
  public:
    // `listener`: a bound and listening TCP socket (made non-blocking here). With a
    // `bearer_token`, every request needs "Authorization: Bearer <token>" (else 401). Throws
    // std::invalid_argument on an invalid listener, an empty handler or a token that is empty
    // or not visible ASCII; std::system_error when the kernel refuses (eventfd, fcntl).
    HttpServer(UniqueFd listener, std::optional<std::string> bearer_token, HttpHandler handler,
               HttpServerLimits limits = {});
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
    std::optional<std::string> bearer_token_;
    HttpHandler handler_;
    HttpServerLimits limits_;
    UniqueFd wake_;  // eventfd: stop() writes it to end poll() early
    std::atomic<bool> stopping_{false};
    std::mutex lifecycle_mutex_;  // serialises start() and stop(): one joins, others wait
    bool started_ = false;
    std::thread thread_;
};

}  // namespace ringlb
