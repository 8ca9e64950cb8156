// SPDX-License-Identifier: MIT
// An admin client's bytes in and out, clear text through recv/send and TLS through OpenSSL,
// never blocking: a call that cannot go on says which poll event it waits for.
#include "http_transport.hpp"

#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <limits>

namespace ringlb {

HttpTransport::Handshake HttpTransport::handshake() noexcept {
    ERR_clear_error();
    const int result = SSL_accept(ssl_.get());
    if (result == 1) {
        read_wants_ = POLLIN;
        write_wants_ = POLLOUT;
        return Handshake::done;
    }
    switch (SSL_get_error(ssl_.get(), result)) {
        case SSL_ERROR_WANT_READ:
            read_wants_ = POLLIN;
            return Handshake::blocked;
        case SSL_ERROR_WANT_WRITE:
            read_wants_ = POLLOUT;
            return Handshake::blocked;
        default:
            tls_failed_ = true;
            return Handshake::failed;
    }
}

HttpTransport::Io HttpTransport::receive(char* buffer, std::size_t size,
                                         std::size_t& got) noexcept {
    got = 0;
    if (!ssl_) {
        ssize_t received = ::recv(fd_.get(), buffer, size, 0);
        if (received > 0) {
            got = static_cast<std::size_t>(received);
            return Io::data;
        }
        if (received == 0) {
            return Io::eof;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return Io::blocked;
        }
        if (errno != ECONNRESET) {
            warnings_.system_error("recv", errno);
        }
        return Io::failed;
    }
    ERR_clear_error();
    const int received =
        SSL_read(ssl_.get(), buffer,
                 static_cast<int>(std::min<std::size_t>(size, std::numeric_limits<int>::max())));
    if (received > 0) {
        got = static_cast<std::size_t>(received);
        read_wants_ = POLLIN;
        return Io::data;
    }
    switch (SSL_get_error(ssl_.get(), received)) {
        case SSL_ERROR_WANT_READ:
            read_wants_ = POLLIN;
            return Io::blocked;
        case SSL_ERROR_WANT_WRITE:
            read_wants_ = POLLOUT;
            return Io::blocked;
        case SSL_ERROR_ZERO_RETURN:
            return Io::eof;
        default:
            tls_failed_ = true;
            ERR_clear_error();
            return Io::failed;
    }
}

HttpTransport::Io HttpTransport::send(const char* data, std::size_t size,
                                      std::size_t& sent) noexcept {
    sent = 0;
    if (!ssl_) {
        ssize_t result = ::send(fd_.get(), data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (result >= 0) {
            sent = static_cast<std::size_t>(result);
            return Io::data;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return Io::blocked;
        }
        if (errno != EPIPE && errno != ECONNRESET) {
            warnings_.system_error("send", errno);
        }
        return Io::failed;
    }
    if (tls_failed_) {
        return Io::failed;
    }
    ERR_clear_error();
    const int result =
        SSL_write(ssl_.get(), data,
                  static_cast<int>(std::min<std::size_t>(size, std::numeric_limits<int>::max())));
    if (result > 0) {
        sent = static_cast<std::size_t>(result);
        write_wants_ = POLLOUT;
        return Io::data;
    }
    switch (SSL_get_error(ssl_.get(), result)) {
        case SSL_ERROR_WANT_WRITE:
            write_wants_ = POLLOUT;
            return Io::blocked;
        case SSL_ERROR_WANT_READ:
            write_wants_ = POLLIN;
            return Io::blocked;
        default:
            tls_failed_ = true;
            ERR_clear_error();
            return Io::failed;
    }
}

bool HttpTransport::has_pending() const noexcept {
    return ssl_ && SSL_has_pending(ssl_.get()) == 1;
}

void HttpTransport::shut_write() noexcept {
    if (ssl_ && !tls_failed_) {
        // One try at close_notify: a client that does not take it just sees the TCP FIN.
        ERR_clear_error();
        (void)SSL_shutdown(ssl_.get());
        ERR_clear_error();
    }
    ::shutdown(fd_.get(), SHUT_WR);
}

HttpTransport::Io HttpTransport::receive_raw(char* buffer, std::size_t size,
                                             std::size_t& got) noexcept {
    got = 0;
    ssize_t received = ::recv(fd_.get(), buffer, size, MSG_DONTWAIT);
    if (received > 0) {
        got = static_cast<std::size_t>(received);
        return Io::data;
    }
    if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return Io::blocked;
    }
    return Io::eof;
}

void HttpTransport::close() noexcept {
    ssl_.reset();
    fd_.reset();
}

}  // namespace ringlb
