// SPDX-License-Identifier: MIT
// Probe: one backend's health probe as a non-blocking state machine (connecting, sending,
// reading) driven by the control thread's poll loop. Private to src/control/.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ringlb/base/socket_address.hpp"
#include "ringlb/base/unique_fd.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/pool/check_result.hpp"

namespace ringlb {

struct ProbeStep;  // probe_socket.hpp

struct ProbeOutcome final {
    CheckResult result = CheckResult::passed;
    std::uint32_t detail = 0;  // errno for `error`, the HTTP status for `bad_status`
};

// How a failed connect (`error`, an errno) ends a probe: refused, connect_timeout or error.
[[nodiscard]] ProbeOutcome connect_failure(int error) noexcept;

// `address` with its port replaced by `port` (unchanged when `port` is 0).
[[nodiscard]] SocketAddress with_port(const SocketAddress& address, unsigned port) noexcept;

class Probe final {
  public:
    // The settings every probe of this target follows from now on: the bytes it writes (a
    // PROXY header when `send_proxy` asks for one, then the check's request) and, for a
    // protocol check, a reply buffer of kMaxCheckReply bytes, made once. `address_text`: the
    // Host of an http check without http_host. Returns whether the probe changed.
    bool configure(const config::HealthConfig& health, config::SendProxy send_proxy,
                   const std::string& address_text);

    [[nodiscard]] bool in_flight() const noexcept { return static_cast<bool>(fd_); }
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    // What poll(2) should wait for: POLLOUT while connecting or writing, POLLIN while reading.
    [[nodiscard]] short events() const noexcept;

    // Connects `socket` (a fresh non-blocking TCP socket) to `address`; the outcome when the
    // probe ended at once.
    [[nodiscard]] std::optional<ProbeOutcome> begin(UniqueFd socket, const SocketAddress& address);
    // poll(2) reported `revents` on fd(): moves as far as the socket allows; the outcome once
    // the probe ended (its socket is closed then).
    [[nodiscard]] std::optional<ProbeOutcome> advance(short revents);
    // The probe's deadline passed: closes it.
    [[nodiscard]] ProbeOutcome expire() noexcept;
    // Closes a probe in flight without a result (its settings changed).
    void abandon() noexcept;

  private:
    enum class Phase { connecting, writing, reading };
    // Where a connect step leaves the probe: waiting, failed, or on to writing.
    [[nodiscard]] std::optional<ProbeOutcome> connected(ProbeStep step);
    [[nodiscard]] std::optional<ProbeOutcome> write_some();
    [[nodiscard]] std::optional<ProbeOutcome> read_some();
    [[nodiscard]] ProbeOutcome end(ProbeOutcome outcome) noexcept;

    bool configured_ = false;
    config::HealthConfig health_;
    config::SendProxy send_proxy_ = config::SendProxy::none;
    std::string address_text_;
    std::string request_;            // PROXY header and request, written in full by every probe
    std::unique_ptr<char[]> reply_;  // kMaxCheckReply bytes: protocol checks only
    UniqueFd fd_;
    Phase phase_ = Phase::connecting;
    std::size_t written_ = 0;
    std::size_t received_ = 0;
};

}  // namespace ringlb
