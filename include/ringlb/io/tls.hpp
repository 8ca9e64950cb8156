// SPDX-License-Identifier: MIT
// TlsContext: the admin endpoint's OpenSSL server context (TLS 1.2 and later) built from PEM
// text, and the owner of one connection's TLS state.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct ssl_ctx_st;
struct ssl_st;

namespace ringlb {

// Frees an SSL object (one TLS connection); the socket it uses is closed by its own owner.
struct SslDeleter final {
    void operator()(ssl_st* ssl) const noexcept;
};
using UniqueSsl = std::unique_ptr<ssl_st, SslDeleter>;

// Why a certificate and key cannot serve; `in_key` when the key (or the pair) is at fault
// rather than the certificate chain.
class TlsError final : public std::runtime_error {
  public:
    TlsError(const std::string& message, bool in_key)
        : std::runtime_error(message), in_key_(in_key) {}
    [[nodiscard]] bool in_key() const noexcept { return in_key_; }

  private:
    bool in_key_;
};

class TlsContext final {
  public:
    // A server context for the certificate chain `cert_pem` (the server's certificate first,
    // then any intermediates) and its unencrypted private key `key_pem`. Throws
    // TlsError with OpenSSL's reason when they cannot serve (malformed PEM, an encrypted key,
    // a key that does not match the certificate).
    [[nodiscard]] static std::unique_ptr<TlsContext> from_pem(std::string_view cert_pem,
                                                              std::string_view key_pem);
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;
    ~TlsContext();

    // A new server-side connection on `fd` (non-blocking); throws std::runtime_error.
    [[nodiscard]] UniqueSsl accept_on(int fd) const;

  private:
    explicit TlsContext(ssl_ctx_st* context) noexcept : context_(context) {}
    ssl_ctx_st* context_;
};

// Why `cert_pem` and `key_pem` cannot serve TLS, or nullopt when they can (the config loader's
// check, so that --check and a reload catch what start-up would).
[[nodiscard]] std::optional<TlsError> tls_check_pair(std::string_view cert_pem,
                                                     std::string_view key_pem);

// "WHAT: REASON" with the oldest error on this thread's OpenSSL error queue (just WHAT when
// the queue is empty); the queue is cleared.
[[nodiscard]] std::string tls_error_text(std::string_view what);

}  // namespace ringlb
