// SPDX-License-Identifier: MIT
// Telling systemd (Type=notify) when ringlb is ready, reloading and stopping.
#pragma once

#include <string_view>

#include "ringlb/base/unique_fd.hpp"

namespace ringlb {

// The sd_notify protocol without libsystemd: one datagram per state change to the unix
// socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). Without
// that variable every call does nothing, so ringlb runs the same outside systemd. A message
// that cannot be sent is logged at debug level and otherwise ignored: the service manager's
// bookkeeping must never stop a load balancer.
class ServiceNotifier final {
  public:
    // Reads $NOTIFY_SOCKET and unsets it (so nothing ringlb might start inherits it), and
    // connects to it while the process still has the rights it started with. An unusable
    // value is logged as a warning and leaves the notifier inactive.
    static ServiceNotifier from_environment();

    [[nodiscard]] bool active() const noexcept { return socket_.valid(); }

    // READY=1 with MAINPID and a STATUS line: the listeners are bound and the shards run.
    void ready(std::string_view status) noexcept;
    // RELOADING=1 with MONOTONIC_USEC, as systemd's reload protocol asks; ready() ends it.
    void reloading() noexcept;
    // STOPPING=1: no new connections from now on.
    void stopping() noexcept;

  private:
    explicit ServiceNotifier(UniqueFd socket) noexcept : socket_(std::move(socket)) {}
    void send(std::string_view message) noexcept;

    UniqueFd socket_;
};

}  // namespace ringlb
