// SPDX-License-Identifier: MIT
// The file descriptor budget: the process's fd limit and the connection slots it leaves a shard.
#include "fd_budget.hpp"

#include <algorithm>

#include "ringlb/base/log.hpp"
#include "ringlb/shard/shard.hpp"

namespace ringlb {

namespace {
constexpr std::size_t kMaxSlotsPerShard = 65536;
constexpr std::size_t kFdsPerConnection = 2;
constexpr std::size_t kProcessFds = 64;  // stdio, health probes, admin, logs, slack

std::size_t fixed_fds(unsigned workers, std::size_t listeners) {
    const std::size_t per_shard_fixed = 8 + listeners + 2 * kShardInitialPipes;
    return kProcessFds + workers * per_shard_fixed;
}
}  // namespace

rlim_t raise_fd_limit() noexcept {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return 1024;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised{limit.rlim_max, limit.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        }
    }
    return limit.rlim_cur;
}

std::size_t slots_per_shard(rlim_t fd_limit, unsigned workers, std::size_t listeners) noexcept {
    const std::size_t fixed = fixed_fds(workers, listeners);
    const std::size_t limit = static_cast<std::size_t>(fd_limit);
    const std::size_t budget = limit > fixed ? limit - fixed : 0;
    const std::size_t per_shard = budget / kFdsPerConnection / std::max(workers, 1u);
    return std::clamp<std::size_t>(per_shard, 1, kMaxSlotsPerShard);
}

void warn_if_fd_limit_short(std::uint64_t max_connections, rlim_t fd_limit, unsigned workers,
                            std::size_t listeners) noexcept {
    const std::size_t slots = slots_per_shard(fd_limit, workers, listeners);
    const std::size_t needed = fixed_fds(workers, listeners) +
                               kFdsPerConnection * static_cast<std::size_t>(max_connections);
    if (max_connections > 0 && (needed > fd_limit || max_connections > slots * workers)) {
        log_warn(
            "global.max_connections={} needs about {} file descriptors but the limit is {}: "
            "raise it (ulimit -n, LimitNOFILE=) or lower max_connections",
            max_connections, needed, fd_limit);
    }
}

}  // namespace ringlb
