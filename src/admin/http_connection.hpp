// SPDX-License-Identifier: MIT
// HttpConnection: one admin client from accept to close, its phase and deadline, and the
// request, authorisation, handler and response cycle its bytes drive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "admin_log.hpp"
#include "http_transport.hpp"
#include "ringlb/admin/http_auth.hpp"
#include "ringlb/admin/http_request.hpp"
#include "ringlb/admin/http_response.hpp"
#include "ringlb/admin/http_server.hpp"
#include "ringlb/base/socket_address.hpp"
#include "ringlb/base/unique_fd.hpp"
#include "ringlb/io/tls.hpp"

namespace ringlb {

// What the connections of one server share. Admin thread only; all of it outlives them.
struct HttpConnectionContext final {
    const HttpServerLimits& limits;
    const HttpHandler& handler;
    HttpAuthorizer& authorizer;
    HttpServerStats& stats;
    AdminWarnings& warnings;
};

// Admin thread only. Nothing in it blocks: a call goes as far as the socket allows and the
// server loop calls again when poll() or the clock says so.
class HttpConnection final {
  public:
    // A client accepted at `now_ms` on the non-blocking `fd`; with `ssl` it starts with the
    // TLS handshake.
    HttpConnection(const HttpConnectionContext& context, UniqueFd fd, UniqueSsl ssl,
                   const SocketAddress& peer, std::uint64_t now_ms) noexcept;
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    // False once closed: the loop then drops it.
    [[nodiscard]] bool open() const noexcept { return transport_.open(); }
    [[nodiscard]] int fd() const noexcept { return transport_.fd(); }
    [[nodiscard]] const SocketAddress& peer() const noexcept { return peer_; }
    // The events to poll for in the current phase.
    [[nodiscard]] short poll_events() const noexcept;
    // When on_deadline() is due; what it stands for depends on the phase (HttpServerLimits).
    [[nodiscard]] std::uint64_t deadline_ms() const noexcept { return deadline_ms_; }

    // poll() reported `revents`: moves the connection forward as far as its bytes allow.
    // Throws (out of memory, say); the caller then closes the connection.
    void on_events(short revents, std::uint64_t now_ms);
    // deadline_ms() has passed: a held-back request is answered now, a late request gets a
    // 408, and anything else is closed.
    void on_deadline(std::uint64_t now_ms) noexcept;
    // Closes the connection; `why` goes to the debug log.
    void close(std::string_view why) noexcept;

  private:
    enum class Phase {
        handshaking,  // TLS only: the handshake is not done yet
        reading,      // waiting for (the rest of) a request
        held,         // a whole request from an address held back: answered at the deadline
        responding,   // sending a response; not reading, so pipelined requests wait in the kernel
        lingering,    // response sent, write side shut: dropping input until EOF or the deadline
    };
    enum class Flush { done, blocked, failed };

    void handshake(std::uint64_t now);
    void on_readable(std::uint64_t now);
    [[nodiscard]] bool read_available();
    void on_writable(std::uint64_t now);
    void advance(std::uint64_t now);
    void respond(HttpParse result, const HttpRequest& request, std::uint64_t now);
    HttpResponse call_handler(const HttpRequest& request) noexcept;
    Flush flush() noexcept;
    void start_lingering(std::uint64_t now) noexcept;
    void drain() noexcept;

    const HttpServerLimits& limits_;
    const HttpHandler& handler_;
    HttpAuthorizer& authorizer_;
    HttpServerStats& stats_;
    HttpTransport transport_;
    SocketAddress peer_;
    Phase phase_;
    std::uint64_t deadline_ms_;  // meaning depends on phase_ (see HttpServerLimits)
    std::string in_;             // received, not yet answered
    std::string out_;            // to send, from out_sent_ on
    std::size_t out_sent_ = 0;
    bool close_after_response_ = false;
    bool continue_sent_ = false;  // "100 Continue" already sent for the current request
    bool peer_closed_ = false;    // read EOF: answer what is complete, then close
    bool released_ = false;       // the current request was held back already
    std::size_t lingered_bytes_ = 0;
};

}  // namespace ringlb
