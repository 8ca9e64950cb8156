// SPDX-License-Identifier: MIT
// OpenSSL for the admin endpoint: a TLS 1.2+ server context from PEM text held in memory.
#include "ringlb/io/tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <climits>
#include <cstring>
#include <stdexcept>

namespace ringlb {

namespace {

struct BioDeleter final {
    void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct X509Deleter final {
    void operator()(X509* certificate) const noexcept { X509_free(certificate); }
};
struct KeyDeleter final {
    void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct ContextDeleter final {
    void operator()(SSL_CTX* context) const noexcept { SSL_CTX_free(context); }
};

std::unique_ptr<BIO, BioDeleter> memory_bio(std::string_view text) {
    if (text.size() > INT_MAX) {
        throw TlsError("PEM text too large", false);
    }
    std::unique_ptr<BIO, BioDeleter> bio(
        BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) {
        throw TlsError(tls_error_text("out of memory"), false);
    }
    return bio;
}

// An encrypted key would make OpenSSL ask for a passphrase on the terminal: refuse instead.
int no_passphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*user*/) {
    return -1;
}

// ALPN: the admin endpoint speaks HTTP/1.1 only; a client offering h2 first still gets it.
int select_http11(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length,
                  const unsigned char* offered, unsigned offered_length, void* /*arg*/) {
    static constexpr unsigned char kHttp11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned i = 0;
    while (i < offered_length) {
        const unsigned length = offered[i];
        if (i + 1 + length > offered_length) {
            break;
        }
        if (length == sizeof(kHttp11) && std::memcmp(offered + i + 1, kHttp11, length) == 0) {
            *out = offered + i + 1;
            *out_length = static_cast<unsigned char>(length);
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + length;
    }
    return SSL_TLSEXT_ERR_NOACK;  // go on without ALPN rather than fail the handshake
}

}  // namespace

void SslDeleter::operator()(ssl_st* ssl) const noexcept {
    SSL_free(ssl);
}

std::string tls_error_text(std::string_view what) {
    const unsigned long code = ERR_get_error();  // the oldest: usually the root cause
    ERR_clear_error();
    if (code == 0) {
        return std::string(what);
    }
    if (const char* reason = ERR_reason_error_string(code)) {
        return std::string(what) + ": " + reason;
    }
    char text[256] = {};
    ERR_error_string_n(code, text, sizeof(text));
    return std::string(what) + ": " + text;
}

std::unique_ptr<TlsContext> TlsContext::from_pem(std::string_view cert_pem,
                                                 std::string_view key_pem) {
    ERR_clear_error();
    std::unique_ptr<SSL_CTX, ContextDeleter> context(SSL_CTX_new(TLS_server_method()));
    if (!context) {
        throw TlsError(tls_error_text("cannot make a TLS context"), false);
    }
    if (SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION) != 1) {
        throw TlsError(tls_error_text("cannot require TLS 1.2"), false);
    }
    // No renegotiation (a client could make the server work per request), no compression
    // (CRIME), the server's cipher order, and a peer's missing close_notify read as EOF.
    SSL_CTX_set_options(context.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                           SSL_OP_CIPHER_SERVER_PREFERENCE |
                                           SSL_OP_IGNORE_UNEXPECTED_EOF);
    // The server's output buffer may move and grow between retries of one SSL_write, which
    // may also write part of it.
    SSL_CTX_set_mode(context.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                        SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(context.get(), select_http11, nullptr);

    auto certificates = memory_bio(cert_pem);
    std::unique_ptr<X509, X509Deleter> leaf(
        PEM_read_bio_X509_AUX(certificates.get(), nullptr, no_passphrase, nullptr));
    if (!leaf) {
        throw TlsError(tls_error_text("no PEM certificate found"), false);
    }
    if (SSL_CTX_use_certificate(context.get(), leaf.get()) != 1) {
        throw TlsError(tls_error_text("the certificate cannot be used"), false);
    }
    for (;;) {
        X509* intermediate = PEM_read_bio_X509(certificates.get(), nullptr, no_passphrase, nullptr);
        if (intermediate == nullptr) {
            break;
        }
        if (SSL_CTX_add0_chain_cert(context.get(), intermediate) != 1) {
            X509_free(intermediate);
            throw TlsError(tls_error_text("a chain certificate cannot be used"), false);
        }
    }
    // The loop ends on "no start line" at the end of the text: that is not an error.
    const unsigned long last = ERR_peek_last_error();
    if (last != 0 &&
        !(ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE)) {
        throw TlsError(tls_error_text("malformed chain certificate"), false);
    }
    ERR_clear_error();

    auto key_text = memory_bio(key_pem);
    std::unique_ptr<EVP_PKEY, KeyDeleter> key(
        PEM_read_bio_PrivateKey(key_text.get(), nullptr, no_passphrase, nullptr));
    if (!key) {
        throw TlsError(tls_error_text("no PEM private key found") +
                           " (the key must be PEM and not encrypted with a passphrase)",
                       true);
    }
    if (X509_check_private_key(leaf.get(), key.get()) != 1) {
        ERR_clear_error();
        throw TlsError("the private key does not match the certificate", true);
    }
    if (SSL_CTX_use_PrivateKey(context.get(), key.get()) != 1) {
        throw TlsError(tls_error_text("the private key cannot be used"), true);
    }
    if (SSL_CTX_check_private_key(context.get()) != 1) {
        throw TlsError(tls_error_text("the private key does not match the certificate"), true);
    }
    return std::unique_ptr<TlsContext>(new TlsContext(context.release()));
}

TlsContext::~TlsContext() {
    SSL_CTX_free(context_);
}

UniqueSsl TlsContext::accept_on(int fd) const {
    ERR_clear_error();
    UniqueSsl ssl(SSL_new(context_));
    if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
        throw std::runtime_error(tls_error_text("cannot start a TLS connection"));
    }
    SSL_set_accept_state(ssl.get());
    return ssl;
}

std::optional<TlsError> tls_check_pair(std::string_view cert_pem, std::string_view key_pem) {
    try {
        (void)TlsContext::from_pem(cert_pem, key_pem);
        return std::nullopt;
    } catch (const TlsError& error) {
        return error;
    } catch (const std::exception& error) {
        return TlsError(error.what(), false);
    }
}

}  // namespace ringlb
