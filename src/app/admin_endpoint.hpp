// SPDX-License-Identifier: MIT
// The admin endpoint as the main thread runs it: made at start-up, replaced by reloads, stopped.
#pragma once

#include <memory>
#include <optional>

#include "ringlb/admin/http_server.hpp"
#include "ringlb/admin/status_rates.hpp"
#include "ringlb/base/unique_fd.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/runtime/control.hpp"

namespace ringlb {

// The [admin] HTTP server of the configuration in force, if it has one. Main thread only.
class AdminEndpoint final {
  public:
    explicit AdminEndpoint(Control& control) noexcept : control_(control) {}

    // Start-up: binds `admin`'s address and makes the endpoint on it with the config's
    // tokens, not started yet. Throws when the address cannot be bound or TLS not set up.
    void open(const config::AdminConfig& admin);
    // Starts the endpoint open() made, if any.
    void start();
    // A reload's new [admin]: stops the running endpoint and starts one with the new
    // settings, on `fresh` when the address changed, else on the old socket (whose queued
    // clients are then served by the new endpoint). Without `admin` the endpoint closes.
    void replace(const std::optional<config::AdminConfig>& admin, UniqueFd fresh) noexcept;
    // Stops the endpoint, if any.
    void stop() noexcept;

    // A reload's socket for `next`: bound now (so that a failure aborts the reload) when
    // `next` asks for an address `old` did not have; invalid when there is nothing to bind.
    [[nodiscard]] static UniqueFd bind_if_moved(const std::optional<config::AdminConfig>& next,
                                                const std::optional<config::AdminConfig>& old);

  private:
    // The endpoint on `socket` (bound, listening) with the config's token; not started.
    std::unique_ptr<HttpServer> make(UniqueFd socket, const config::AdminConfig& admin);

    Control& control_;
    HttpServerStats stats_;  // kept across the servers that reloads replace
    StatusRates rates_;      // the samples behind /status's rates, kept likewise
    std::unique_ptr<HttpServer> server_;
};

// Whether a reload must replace the admin endpoint: [admin] appeared, went, or changed.
// Token and certificate files are read again by every load: a rotated file is a change.
[[nodiscard]] bool admin_settings_changed(const std::optional<config::AdminConfig>& next,
                                          const std::optional<config::AdminConfig>& old);

// What the operator must hear at every start and reload about the admin endpoint's exposure.
void warn_about_admin(const std::optional<config::AdminConfig>& admin);

}  // namespace ringlb
