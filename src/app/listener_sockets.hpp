// SPDX-License-Identifier: MIT
// Listening sockets: one SO_REUSEPORT socket per shard for each listener, kept across reloads by
// key.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ringlb/access/access_log.hpp"
#include "ringlb/base/socket_address.hpp"
#include "ringlb/base/unique_fd.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/runtime/generation.hpp"
#include "ringlb/shard/shard.hpp"

namespace ringlb {

// Identifies a listener's sockets across reloads. Port 0 asks for any free port, so two such
// listeners are distinct (each gets its own port) and a reload keeps the port that the
// listener of that name got: the key holds the name too.
[[nodiscard]] std::string listener_key(const config::ListenerConfig& listener);

// The sockets just bound for one listener key.
struct BoundListener final {
    SocketAddress address;      // as bound: port 0 replaced by the port the kernel picked
    std::vector<UniqueFd> fds;  // one per shard
};
using BoundListeners = std::map<std::string, BoundListener>;  // by listener key

// The listener keys the shards have sockets for, and the address of each. Main thread only.
class ListenerSockets final {
  public:
    explicit ListenerSockets(unsigned workers) noexcept : workers_(workers) {}

    // Binds one socket per shard for every listener of `config` whose key is not open yet.
    // Returns them by key; throws (closing what it opened) if one cannot be bound.
    [[nodiscard]] BoundListeners bind_new(const config::Config& config) const;
    // One update per shard for `generation`: its listeners by key, each with the shard's
    // socket from `sockets` when bind_new made one (moved out), else none so that the shard
    // keeps its own; and the shard's buffer from `access_buffers` (by shard; empty while
    // there is no access log). A key two listeners share goes to the first (with a warning).
    [[nodiscard]] std::vector<std::unique_ptr<ShardUpdate>> shard_updates(
        Generation& generation, BoundListeners& sockets,
        const std::vector<AccessLogBuffer*>& access_buffers) const;
    // The shards are given `sockets`: their keys are open from now on.
    void record(const BoundListeners& sockets);
    // Forgets (and logs) the keys no listener of `config` names: the shards close their
    // sockets when they adopt the generation made from it.
    void forget_unused(const config::Config& config);

  private:
    // Attaches global.shard_steering's program to a new listener's SO_REUSEPORT group (none
    // for "hash" or one worker); a failure is a warning: the hash still spreads clients.
    void steer(const std::string& name, const BoundListener& bound,
               config::ShardSteering steering) const;

    unsigned workers_;
    std::map<std::string, SocketAddress> open_;  // listener key -> address bound
};

}  // namespace ringlb
