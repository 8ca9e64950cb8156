// SPDX-License-Identifier: MIT
// One admin client's state machine: handshake, read, parse, hold back, authorise, call the
// handler, send, and linger, each step as far as the socket allows, with a deadline per phase.
#include "http_connection.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <optional>
#include <utility>

#include "ringlb/base/log.hpp"

namespace ringlb {

namespace {

// The parser reaches a verdict before a request needs more than this (head + body limits).
constexpr std::size_t kReceiveLimit = kHttpMaxHeadBytes + kHttpMaxBodyBytes;
// A lingering client may send this much more before it is simply closed.
constexpr std::size_t kLingerMaxBytes = 64 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

using Io = HttpTransport::Io;

}  // namespace

HttpConnection::HttpConnection(const HttpConnectionContext& context, UniqueFd fd, UniqueSsl ssl,
                               const SocketAddress& peer, std::uint64_t now_ms) noexcept
    : limits_(context.limits),
      handler_(context.handler),
      authorizer_(context.authorizer),
      stats_(context.stats),
      transport_(std::move(fd), std::move(ssl), context.warnings),
      peer_(peer),
      phase_(transport_.is_tls() ? Phase::handshaking : Phase::reading),
      deadline_ms_(now_ms + (transport_.is_tls() ? std::min(limits_.handshake_timeout_ms,
                                                            limits_.request_timeout_ms)
                                                 : limits_.request_timeout_ms)) {}

short HttpConnection::poll_events() const noexcept {
    switch (phase_) {
        case Phase::handshaking:
            return transport_.read_wants();
        case Phase::reading:
            return static_cast<short>(transport_.read_wants() |
                                      (out_sent_ < out_.size() ? transport_.write_wants() : 0));
        case Phase::held:
            return 0;  // errors and hang-ups are reported anyway
        case Phase::responding:
            return transport_.write_wants();
        case Phase::lingering:
            return POLLIN;
    }
    return 0;
}

void HttpConnection::on_events(short revents, std::uint64_t now) {
    constexpr short kTrouble = POLLERR | POLLHUP | POLLNVAL;
    switch (phase_) {
        case Phase::handshaking:
            handshake(now);
            return;
        case Phase::reading:
            if (out_sent_ < out_.size() && (revents & (transport_.write_wants() | kTrouble)) != 0) {
                on_writable(now);  // a "100 Continue"
            }
            if (transport_.open() && phase_ == Phase::reading &&
                (revents & (transport_.read_wants() | kTrouble)) != 0) {
                on_readable(now);
            }
            return;
        case Phase::held:
            if ((revents & kTrouble) != 0) {
                close("connection lost while held back");
            }
            return;
        case Phase::responding:
            advance(now);
            return;
        case Phase::lingering:
            drain();
            return;
    }
}

// Drives a TLS handshake as far as the socket allows; once done, reads what may already be
// there (a TLS 1.3 client sends its request right behind its Finished message).
void HttpConnection::handshake(std::uint64_t now) {
    switch (transport_.handshake()) {
        case HttpTransport::Handshake::done:
            phase_ = Phase::reading;
            deadline_ms_ = now + limits_.request_timeout_ms;
            on_readable(now);
            return;
        case HttpTransport::Handshake::blocked:
            return;
        case HttpTransport::Handshake::failed:
            break;
    }
    stats_.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
    const std::string why = tls_error_text("TLS handshake failed");
    close(why);
}

// Reads whatever is available (up to the receive limit) into in_; true when it got
// bytes or the stream ended, false when nothing could be read now. Closes on errors.
bool HttpConnection::read_available() {
    bool progress = false;
    std::array<char, 4096> chunk{};
    while (transport_.open() && !peer_closed_) {
        std::size_t room = kReceiveLimit - std::min(kReceiveLimit, in_.size());
        if (room == 0) {
            return progress;
        }
        std::size_t got = 0;
        switch (transport_.receive(chunk.data(), std::min(room, chunk.size()), got)) {
            case Io::data:
                in_.append(chunk.data(), got);
                progress = true;
                break;
            case Io::blocked:
                return progress;
            case Io::eof:
                peer_closed_ = true;
                return true;
            case Io::failed:
                close(transport_.is_tls() ? "TLS error" : "receive error");
                return true;
        }
    }
    return progress;
}

void HttpConnection::on_readable(std::uint64_t now) {
    if (phase_ == Phase::lingering) {
        drain();
        return;
    }
    if (in_.size() >= kReceiveLimit) {
        advance(now);  // a zero-length recv() would read as EOF; let the parser judge
        return;
    }
    (void)read_available();
    advance(now);
}

void HttpConnection::on_writable(std::uint64_t now) {
    if (phase_ == Phase::responding) {
        advance(now);
        return;
    }
    // Reading: only a "100 Continue" can be waiting to go out.
    if (flush() == Flush::failed) {
        close("send error");
    }
}

// Moves a connection forward as far as its bytes allow: parse, answer, send, and go on with
// a pipelined request once the previous response is out.
void HttpConnection::advance(std::uint64_t now) {
    while (transport_.open()) {
        if (phase_ == Phase::reading) {
            HttpRequest request;
            HttpParse result = parse_http_request(in_, request);
            if (result == HttpParse::incomplete) {
                // TLS may hold decrypted bytes the socket will never signal again.
                if (!peer_closed_ && transport_.has_pending() && in_.size() < kReceiveLimit &&
                    read_available()) {
                    continue;
                }
                if (peer_closed_) {
                    close(in_.empty() ? "client closed" : "client closed mid-request");
                    return;
                }
                if (in_.size() >= kReceiveLimit) {
                    // Cannot happen with the parser's limits; never wait on a full buffer.
                    request.reject_status = 431;
                    request.reject_reason = "request over the receive buffer";
                    respond(HttpParse::too_large, request, now);
                    continue;
                }
                if (request.head_size != 0 && request.expect_continue && !continue_sent_) {
                    continue_sent_ = true;
                    out_.append(kContinue);
                    if (flush() == Flush::failed) {
                        close("send error");
                    }
                }
                return;
            }
            if (!released_ && authorizer_.held(peer_, now)) {
                // Too many failed authentications from this address: answer later, without
                // reading further; the loop serves everyone else meanwhile.
                phase_ = Phase::held;
                deadline_ms_ = now + authorizer_.delay_ms();
                return;
            }
            released_ = false;
            respond(result, request, now);
        } else if (phase_ == Phase::responding) {
            switch (flush()) {
                case Flush::failed:
                    close("send error");
                    return;
                case Flush::blocked:
                    return;
                case Flush::done:
                    break;
            }
            if (close_after_response_) {
                start_lingering(now);
                return;
            }
            phase_ = Phase::reading;
            continue_sent_ = false;
            deadline_ms_ = now + limits_.request_timeout_ms;
        } else {
            return;
        }
    }
}

// Turns a parse verdict into a queued response; consumes the request's bytes.
void HttpConnection::respond(HttpParse result, const HttpRequest& request, std::uint64_t now) {
    HttpResponse response;
    std::size_t consumed = in_.size();
    bool close_after = true;
    bool authorised = true;
    if (result != HttpParse::complete) {
        response = http_text_response(request.reject_status, request.reject_reason);
    } else {
        consumed = request.size;
        close_after = !request.keep_alive || peer_closed_;
        if (std::optional<HttpResponse> refusal = authorizer_.refusal(peer_, request, now)) {
            authorised = false;
            response = std::move(*refusal);
        } else {
            response = call_handler(request);
        }
    }

    bool head_only = result == HttpParse::complete && request.method == "HEAD";
    out_.erase(0, out_sent_);
    out_sent_ = 0;
    append_http_response(out_, response, head_only, close_after);
    if (log_enabled(LogLevel::debug)) {
        if (result == HttpParse::complete) {
            log_debug("admin: {} \"{} {}\" {} {}{}", peer_name(peer_), request.method, request.path,
                      response.status, response.body.size(), authorised ? "" : " (not authorised)");
        } else {
            log_debug("admin: {} rejected: {} {}", peer_name(peer_), response.status,
                      request.reject_reason);
        }
    }
    in_.erase(0, consumed);
    phase_ = Phase::responding;
    close_after_response_ = close_after;
    deadline_ms_ = now + limits_.request_timeout_ms;
}

HttpResponse HttpConnection::call_handler(const HttpRequest& request) noexcept {
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
                 peer_name(peer_), error.what());
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

HttpConnection::Flush HttpConnection::flush() noexcept {
    while (out_sent_ < out_.size()) {
        std::size_t sent = 0;
        switch (transport_.send(out_.data() + out_sent_, out_.size() - out_sent_, sent)) {
            case Io::data:
                out_sent_ += sent;
                break;
            case Io::blocked:
                return Flush::blocked;
            case Io::eof:
            case Io::failed:
                return Flush::failed;
        }
    }
    out_.clear();
    out_sent_ = 0;
    return Flush::done;
}

void HttpConnection::start_lingering(std::uint64_t now) noexcept {
    transport_.shut_write();
    phase_ = Phase::lingering;
    deadline_ms_ = now + std::min(limits_.linger_ms, limits_.request_timeout_ms);
    in_.clear();
    in_.shrink_to_fit();
    drain();
}

void HttpConnection::drain() noexcept {
    std::array<char, 4096> scratch{};
    for (;;) {
        std::size_t got = 0;
        switch (transport_.receive_raw(scratch.data(), scratch.size(), got)) {
            case Io::data:
                lingered_bytes_ += got;
                if (lingered_bytes_ > kLingerMaxBytes) {
                    close("kept sending after the response");
                    return;
                }
                continue;
            case Io::blocked:
                return;
            case Io::eof:
            case Io::failed:
                close("client closed after the response");
                return;
        }
    }
}

void HttpConnection::on_deadline(std::uint64_t now) noexcept {
    if (phase_ == Phase::held) {
        phase_ = Phase::reading;
        released_ = true;
        deadline_ms_ = now + limits_.request_timeout_ms;
        try {
            advance(now);
        } catch (const std::exception&) {
            close("no memory for the response");
        }
    } else if (phase_ == Phase::handshaking) {
        stats_.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
        close("TLS handshake not done in time");
    } else if (phase_ == Phase::reading && !in_.empty()) {
        HttpRequest timed_out;
        timed_out.reject_status = 408;
        timed_out.reject_reason = "request not received in time";
        try {
            respond(HttpParse::bad_request, timed_out, now);
            // A short budget for the 408 itself: the client has been slow already.
            deadline_ms_ = now + std::min(limits_.linger_ms, limits_.request_timeout_ms);
            advance(now);
        } catch (const std::exception&) {
            close("request timeout (no memory for the 408)");
        }
    } else {
        close(phase_ == Phase::responding ? "response not taken in time" : "idle timeout");
    }
}

void HttpConnection::close(std::string_view why) noexcept {
    if (log_enabled(LogLevel::debug)) {
        log_debug("admin: {} closed: {}", peer_name(peer_), why);
    }
    transport_.close();
}

}  // namespace ringlb
