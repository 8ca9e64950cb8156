// SPDX-License-Identifier: MIT
// ControlThread: the control thread that probes backends, ramps slow starts, re-resolves
// host names, discovers backends from DNS SRV records and publishes pools' live sets.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ringlb/base/epoch.hpp"
#include "ringlb/base/socket_address.hpp"
#include "ringlb/base/unique_fd.hpp"
#include "ringlb/runtime/generation.hpp"

namespace ringlb {

struct ProbeOutcome;  // src/control/probe_socket.hpp

class ControlThread final {
  public:
    explicit ControlThread(EpochDomain& epochs);
    ControlThread(const ControlThread&) = delete;
    ControlThread& operator=(const ControlThread&) = delete;
    ~ControlThread();

    // Any thread: watch the pools of `generation` from now on. Backends carried over from
    // the previous generation keep their probe state.
    void watch(std::shared_ptr<Generation> generation);
    void start();
    // Any thread: stops the thread and waits for it.
    void stop() noexcept;

  private:
    struct Target;
    struct Discovery;
    void run() noexcept;
    void adopt(std::shared_ptr<Generation> generation, std::uint64_t now);
    // A fresh non-blocking socket for a probe of `target` to `address`, in `socket`, with the
    // pool's mark and source address; 0, or -errno.
    int probe_socket(const Target& target, const SocketAddress& address, UniqueFd& socket);
    void start_probe(Target& target, std::uint64_t now);
    void finish_probe(Target& target, ProbeOutcome outcome, std::uint64_t now);
    // The agent check (pool.health.agent_port): its probe, and its reply applied to the
    // backend (a changed verdict publishes a new live set; a dead agent changes nothing).
    void start_agent(Target& target, std::uint64_t now);
    void finish_agent(Target& target, const ProbeOutcome& outcome, std::uint64_t now);
    void publish(BackendPool& pool, std::uint64_t now);
    void resolve_due(std::uint64_t now);
    void refresh_ramps(std::uint64_t now);
    void adopt_discoveries(std::uint64_t now);
    void apply_discovery(Discovery& discovery, std::uint64_t now);
    // Publishes `backends` as the discovered members of the discovery's pool and brings the
    // probes in line with them.
    void publish_discovered(Discovery& discovery, const std::vector<DiscoveredBackend>& backends,
                            std::uint64_t now);
    void note_ramping(BackendPool& pool, bool ramping);
    // Passive ejection (passive_ejection.cpp): ejects the backends whose failures in a row
    // reached their pool's consecutive_failures and lets back those whose time is over.
    // Returns when it wants to run again.
    std::uint64_t check_ejections(std::uint64_t now);

    EpochDomain& epochs_;
    UniqueFd wake_;  // eventfd: stop() and watch() write it to end poll() early
    std::atomic<bool> stopping_{false};
    std::mutex mailbox_lock_;  // control plane only
    std::shared_ptr<Generation> mailbox_;
    std::thread thread_;

    // The thread's own.
    std::shared_ptr<Generation> generation_;
    std::vector<std::unique_ptr<Target>> targets_;
    std::vector<std::unique_ptr<Discovery>> discoveries_;
    std::vector<BackendPool*> ramping_;  // pools whose slow start is in progress
    std::uint64_t next_ramp_ms_ = 0;
    std::uint64_t ejections_seen_generation_ = 0;  // the id check_ejections last ran under
};

}  // namespace ringlb
