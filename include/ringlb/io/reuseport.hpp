// SPDX-License-Identifier: MIT
// Steering a SO_REUSEPORT group: a classic BPF program that picks the socket (the shard) of
// each new connection, instead of the kernel's 4-tuple hash.
#pragma once

namespace ringlb {

// What the program picks by: a random socket of the group, or the socket of the CPU that
// received the SYN (socket i for CPU i modulo the group's size).
enum class SteerBy { random, cpu };

// Attaches the program to the reuseport group of listening socket `fd`, whose `sockets`
// members were added in shard order (socket i belongs to shard i). Applies to the whole
// group, also to sockets added later. Returns 0 or -errno. Main thread, at bind time.
[[nodiscard]] int steer_reuseport_group(int fd, SteerBy by, unsigned sockets) noexcept;

}  // namespace ringlb
