// SPDX-License-Identifier: MIT
// HttpTransport: one admin client's byte stream, clear text or TLS, on a non-blocking socket,
// and what the socket must become before a blocked read or write can go on.
#pragma once

#include <poll.h>

#include <cstddef>
#include <utility>

#include "admin_log.hpp"
#include "ringlb/base/unique_fd.hpp"
#include "ringlb/io/tls.hpp"

namespace ringlb {

class HttpTransport final {
  public:
    // What one receive or send did.
    enum class Io {
        data,     // moved some bytes
        blocked,  // nothing now; wait for the events in read_wants() / write_wants()
        eof,      // the peer ended its stream (TLS: close_notify, or a TCP EOF)
        failed,   // an error: close the connection
    };
    enum class Handshake { done, blocked, failed };

    // Clear text when `ssl` is null; else TLS, whose handshake is still to be driven.
    // `warnings` (for unexpected socket errors) must outlive the transport.
    HttpTransport(UniqueFd fd, UniqueSsl ssl, AdminWarnings& warnings) noexcept
        : fd_(std::move(fd)), ssl_(std::move(ssl)), warnings_(warnings) {}

    [[nodiscard]] bool open() const noexcept { return static_cast<bool>(fd_); }
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    [[nodiscard]] bool is_tls() const noexcept { return static_cast<bool>(ssl_); }
    // The poll events a blocked read / write waits for. Always POLLIN and POLLOUT in clear
    // text; TLS may need to write to read (and the converse).
    [[nodiscard]] short read_wants() const noexcept { return read_wants_; }
    [[nodiscard]] short write_wants() const noexcept { return write_wants_; }

    // TLS only: takes the handshake as far as the socket allows. On `failed` the reason is
    // still on this thread's OpenSSL error queue (see tls_error_text).
    [[nodiscard]] Handshake handshake() noexcept;
    // Reads at most `size` bytes; `got` says how many.
    [[nodiscard]] Io receive(char* buffer, std::size_t size, std::size_t& got) noexcept;
    // Writes at most `size` bytes; `sent` says how many.
    [[nodiscard]] Io send(const char* data, std::size_t size, std::size_t& sent) noexcept;
    // TLS: bytes already decrypted that the socket will never signal again.
    [[nodiscard]] bool has_pending() const noexcept;
    // Ends the sending side: one try at a TLS close_notify, then a TCP FIN.
    void shut_write() noexcept;
    // After shut_write(): reads bytes as they come off the socket, under any TLS, so that
    // what the client still sends can be dropped unread. `eof` also stands for an error.
    [[nodiscard]] Io receive_raw(char* buffer, std::size_t size, std::size_t& got) noexcept;
    // Frees the TLS state, then closes the socket.
    void close() noexcept;

  private:
    UniqueFd fd_;
    UniqueSsl ssl_;  // declared after fd_: freed before the socket closes; null in clear text
    AdminWarnings& warnings_;
    bool tls_failed_ = false;  // a fatal TLS error: nothing more may go through ssl_
    short read_wants_ = POLLIN;
    short write_wants_ = POLLOUT;
};

}  // namespace ringlb
