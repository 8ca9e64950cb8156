// SPDX-License-Identifier: MIT
// AgentProbe: one backend's agent check (HAProxy's agent-check) as a non-blocking state
// machine (connecting, writing agent_send, reading one line) driven by the control thread's
// poll loop. Private to src/control/.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "probe.hpp"
#include "ringlb/base/socket_address.hpp"
#include "ringlb/base/unique_fd.hpp"

namespace ringlb {

struct AgentOutcome final {
    ProbeOutcome probe;     // passed: a line came (`line`); otherwise why none did
    std::string_view line;  // the reply's line, valid until the next begin()
};

class AgentProbe final {
  public:
    // What every agent probe writes after its connect (nothing when empty); makes the reply
    // buffer once. Returns whether it changed.
    bool configure(const std::string& send);

    [[nodiscard]] bool in_flight() const noexcept { return static_cast<bool>(fd_); }
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    // What poll(2) should wait for: POLLOUT while connecting or writing, POLLIN while reading.
    [[nodiscard]] short events() const noexcept;

    // Connects `socket` (a fresh non-blocking TCP socket) to `address` (the agent's port); the
    // outcome when the probe ended at once.
    [[nodiscard]] std::optional<AgentOutcome> begin(UniqueFd socket, const SocketAddress& address);
    // poll(2) reported `revents` on fd(): the outcome once the probe ended (its socket closed).
    [[nodiscard]] std::optional<AgentOutcome> advance(short revents);
    // The deadline passed: closes it.
    [[nodiscard]] AgentOutcome expire() noexcept;
    // Closes a probe in flight without a result (its settings changed).
    void abandon() noexcept { fd_.reset(); }

  private:
    enum class Phase { connecting, writing, reading };
    // Where a connect step leaves the probe: waiting, failed, or on to writing.
    [[nodiscard]] std::optional<AgentOutcome> connected(ProbeStep step);
    [[nodiscard]] std::optional<AgentOutcome> write_some();
    [[nodiscard]] std::optional<AgentOutcome> read_some();
    [[nodiscard]] AgentOutcome end(ProbeOutcome outcome, std::string_view line = {}) noexcept;

    bool configured_ = false;
    std::string send_;
    std::unique_ptr<char[]> reply_;  // kMaxAgentReply bytes
    UniqueFd fd_;
    Phase phase_ = Phase::connecting;
    std::size_t written_ = 0;
    std::size_t received_ = 0;
};

}  // namespace ringlb
