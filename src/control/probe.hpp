// SPDX-License-Identifier: MIT
// Probe: one backend's health probe (connect, protocol check) on a ProbeSocket, driven by the
// control thread's poll loop. Private to src/control/.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "probe_socket.hpp"
#include "ringlb/base/socket_address.hpp"
#include "ringlb/base/unique_fd.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/pool/check_result.hpp"

namespace ringlb {

// `address` with its port replaced by `port` (unchanged when `port` is 0).
[[nodiscard]] SocketAddress with_port(const SocketAddress& address, unsigned port) noexcept;

class Probe final : public ProbeSocket {
  public:
    Probe() = default;
    // The settings every probe of this target follows from now on: the bytes it writes (a
    // PROXY header when `send_proxy` asks for one, then the check's request) and, for a
    // protocol check, a reply buffer of kMaxCheckReply bytes, made once. `address_text`: the
    // Host of an http check without http_host. Returns whether the probe changed.
    bool configure(const config::HealthConfig& health, config::SendProxy send_proxy,
                   const std::string& address_text);

  private:
    // A connect check passes once connected (and the PROXY header written); a protocol
    // check reads the reply, also from a backend that closed early (a banner and goodbye).
    [[nodiscard]] std::optional<ProbeOutcome> written(bool peer_gone, int error) override;
    [[nodiscard]] std::optional<ProbeOutcome> judge(std::string_view reply, bool complete) override;

    bool configured_ = false;
    config::HealthConfig health_;
    config::SendProxy send_proxy_ = config::SendProxy::none;
    std::string address_text_;
};

}  // namespace ringlb
