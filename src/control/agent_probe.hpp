// SPDX-License-Identifier: MIT
// AgentProbe: one backend's agent check (HAProxy's agent-check) on a ProbeSocket: write
// agent_send, read one line; driven by the control thread's poll loop. Private to src/control/.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "probe_socket.hpp"

namespace ringlb {

class AgentProbe final : public ProbeSocket {
  public:
    AgentProbe() = default;
    // What every agent probe writes after its connect (nothing when empty); makes the reply
    // buffer once. Returns whether it changed.
    bool configure(const std::string& send);

  private:
    // An agent that answers without listening still has its say: always read.
    [[nodiscard]] std::optional<ProbeOutcome> written(bool peer_gone, int error) override;
    // Passed with the reply's first line (`line`) once one is there (health/agent_reply.cpp).
    [[nodiscard]] std::optional<ProbeOutcome> judge(std::string_view reply, bool complete) override;

    bool configured_ = false;
};

}  // namespace ringlb
