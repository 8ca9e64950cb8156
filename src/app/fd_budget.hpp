// SPDX-License-Identifier: MIT
// The file descriptor budget: the process's fd limit and the connection slots it leaves a shard.
#pragma once

#include <sys/resource.h>

#include <cstddef>
#include <cstdint>

namespace ringlb {

// Raises the soft fd limit to the hard one, as nginx's worker_rlimit_nofile would, and
// returns the limit in force.
[[nodiscard]] rlim_t raise_fd_limit() noexcept;

// Connection slots per shard, from the fd budget: what is left of the limit after the
// descriptors every shard holds from start-up (ring, eventfds, reserve fd, listeners and
// its initial pipes), at two descriptors per connection (its sockets; an idle connection
// holds no pipe). When transfers in flight take pipes from the same budget, accept fails
// with EMFILE and the shard turns the excess away (Shard::shed_load) instead of letting it
// wait in the listen queue.
[[nodiscard]] std::size_t slots_per_shard(rlim_t fd_limit, unsigned workers,
                                          std::size_t listeners) noexcept;

// Warns when global.max_connections (0: no limit, no warning) cannot be reached within
// `fd_limit`: the descriptors it needs exceed the limit, or the shards have fewer slots.
void warn_if_fd_limit_short(std::uint64_t max_connections, rlim_t fd_limit, unsigned workers,
                            std::size_t listeners) noexcept;

}  // namespace ringlb
