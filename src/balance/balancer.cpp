// SPDX-License-Identifier: MIT
// The factory that maps a pool's configured algorithm to its implementation.
#include "ringlb/balance/balancer.hpp"

#include <stdexcept>

#include "ringlb/balance/round_robin.hpp"

namespace ringlb {

std::unique_ptr<Balancer> make_balancer(const config::PoolConfig& pool) {
    switch (pool.algorithm) {
        case config::Algorithm::round_robin:
            return std::make_unique<RoundRobin>();
    }
    throw std::invalid_argument("unknown balancing algorithm for pool " + pool.name);
}

}  // namespace ringlb
