// SPDX-License-Identifier: MIT
// The admin endpoint as the main thread runs it: made at start-up, replaced by reloads, stopped.
#include "admin_endpoint.hpp"

#include <exception>
#include <string>

#include "ringlb/admin/admin_api.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/io/socket.hpp"
#include "ringlb/io/tls.hpp"

namespace ringlb {

namespace {
constexpr int kAdminBacklog = 64;
}  // namespace

void AdminEndpoint::open(const config::AdminConfig& admin) {
    server_ = make(make_listener(admin.bind, kAdminBacklog), admin);
}

void AdminEndpoint::start() {
    if (server_) {
        server_->start();
    }
}

void AdminEndpoint::stop() noexcept {
    if (server_) {
        server_->stop();
    }
}

UniqueFd AdminEndpoint::bind_if_moved(const std::optional<config::AdminConfig>& next,
                                      const std::optional<config::AdminConfig>& old) {
    if (next && !(old && next->bind == old->bind)) {
        return make_listener(next->bind, kAdminBacklog);
    }
    return UniqueFd{};
}

std::unique_ptr<HttpServer> AdminEndpoint::make(UniqueFd socket, const config::AdminConfig& admin) {
    const std::string address = local_address(socket.get()).to_string();
    HttpAuth auth;
    if (admin.token_file) {
        auth.token = admin.token;
    }
    if (admin.read_token_file) {
        auth.read_token = admin.read_token;
    }
    std::unique_ptr<TlsContext> tls;
    if (admin.tls()) {
        tls = TlsContext::from_pem(admin.tls_cert_pem, admin.tls_key_pem);
    }
    auto server = std::make_unique<HttpServer>(std::move(socket), std::move(auth),
                                               make_admin_handler(control_, stats_, rates_),
                                               HttpServerLimits{}, std::move(tls), &stats_);
    log_info("admin listening address={} tls={} token={} read_token={}", address,
             admin.tls() ? "on" : "off", admin.token_file ? "required" : "none",
             admin.read_token_file ? "set" : "none");
    return server;
}

void AdminEndpoint::replace(const std::optional<config::AdminConfig>& admin,
                            UniqueFd fresh) noexcept {
    UniqueFd socket = std::move(fresh);
    if (server_) {
        UniqueFd old = server_->stop_and_release();
        server_.reset();
        if (!socket && admin) {
            socket = std::move(old);  // same address: the same socket, its queue included
        }
    }
    if (!admin) {
        log_info("admin endpoint closed");
        return;
    }
    try {
        server_ = make(std::move(socket), *admin);
        server_->start();
    } catch (const std::exception& error) {
        server_.reset();
        log_error("reload: the admin endpoint could not be restarted: {}", error.what());
    }
}

bool admin_settings_changed(const std::optional<config::AdminConfig>& next,
                            const std::optional<config::AdminConfig>& old) {
    return next.has_value() != old.has_value() ||
           (next &&
            (!(next->bind == old->bind) || next->token != old->token ||
             next->token_file.has_value() != old->token_file.has_value() ||
             next->read_token != old->read_token ||
             next->read_token_file.has_value() != old->read_token_file.has_value() ||
             next->tls_cert_pem != old->tls_cert_pem || next->tls_key_pem != old->tls_key_pem));
}

void warn_about_admin(const std::optional<config::AdminConfig>& admin) {
    if (!admin || admin->bind.is_loopback()) {
        return;
    }
    if (admin->open_to_network()) {
        log_warn(
            "admin endpoint on {} is open to the network without a token "
            "(allow_without_token = true): anyone who reaches it can drain or disable every "
            "backend",
            admin->bind.to_string());
    } else if (!admin->tls()) {
        log_warn(
            "admin endpoint on {} is not on loopback and speaks clear text: tokens cross the "
            "network readable; set admin.tls_cert_file and admin.tls_key_file",
            admin->bind.to_string());
    }
}

}  // namespace ringlb
