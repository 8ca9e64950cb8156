// SPDX-License-Identifier: MIT
// HealthChecker: the one thread that probes backends and publishes pools' live sets.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "ringlb/io/unique_fd.hpp"
#include "ringlb/pool/backend_pool.hpp"
#include "ringlb/pool/epoch.hpp"

namespace ringlb {

class HealthChecker final {
  public:
    // Probes the backends of every pool that has a [pool.health] table. The pools and the
    // epoch domain must outlive this object.
    HealthChecker(std::vector<BackendPool*> pools, EpochDomain& epochs);
    HealthChecker(const HealthChecker&) = delete;
    HealthChecker& operator=(const HealthChecker&) = delete;
    ~HealthChecker();

    void start();
    // Any thread: stops the probe thread and waits for it.
    void stop() noexcept;

  private:
    struct Target;
    void run() noexcept;

    std::vector<std::unique_ptr<Target>> targets_;
    std::vector<BackendPool*> pools_;
    EpochDomain& epochs_;
    UniqueFd wake_;  // eventfd: stop() writes it to end poll() early
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace ringlb
