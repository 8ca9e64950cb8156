// SPDX-License-Identifier: MIT
// The shards as the main thread runs them: started, handed generations, watched and stopped, with
// every wait bounded.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/base/epoch.hpp"
#include "ringlb/shard/shard.hpp"

namespace ringlb {

// A broken shard is fatal: the listeners it holds would leave clients hanging. So main never
// waits on a shard without a bound, and says which shard broke and how. Main thread only.
class ShardGroup final {
  public:
    // Makes the next shard (not started yet); the group owns it from now on.
    Shard& add(ShardOptions options, std::unique_ptr<ShardUpdate> initial, EpochDomain& epochs,
               ShardServices services);
    // Lets every shard wake the others (AcceptWaiters), then starts them in turn, giving each
    // kShardStartMs to accept on its listeners; throws what stopped one (see Shard::start).
    void start();
    // Hands shard i updates[i] and waits until every shard has adopted generation `id`:
    // true. False when a shard died or did not take it within kShardAdoptMs (broken() then
    // says which).
    [[nodiscard]] bool hand_over(std::vector<std::unique_ptr<ShardUpdate>>& updates,
                                 std::uint64_t id);
    // Whether every shard uses a generation newer than `id` for new connections.
    [[nodiscard]] bool all_past(std::uint64_t id) const noexcept;
    // Why a shard can no longer serve ("" while every shard is well): one died (its thread
    // ended although nobody asked it to stop), or one did not answer main in time.
    [[nodiscard]] std::string broken() const;
    // Asks every shard to stop (at once when `immediately`, else after the grace period of
    // its generation) and joins them. A shard that has not ended kShardStopMarginMs after
    // `grace_ms` cannot be joined: the process then exits here with status 1.
    void stop(bool immediately, std::uint64_t grace_ms) noexcept;

    // Where a shard finds the others that wait for a place (ShardServices::waiters).
    [[nodiscard]] AcceptWaiters& waiters() noexcept { return waiters_; }
    // What each of `count` shards publishes for hand-offs (ShardServices::peers); made once,
    // before the first add().
    [[nodiscard]] ShardPeer* peers(unsigned count) {
        if (!peers_) {
            peers_ = std::make_unique<ShardPeer[]>(count);
        }
        return peers_.get();
    }

  private:
    // Waits a moment for a shard that main is waiting for; false (with broken_ set) when it
    // died or `deadline_ms` has passed.
    bool await(unsigned shard, std::uint64_t deadline_ms, std::string_view what);

    AcceptWaiters waiters_;               // outlives the shards
    std::unique_ptr<ShardPeer[]> peers_;  // outlives the shards
    std::vector<std::unique_ptr<Shard>> shards_;
    std::string broken_;  // a shard that did not answer in time (see broken())
};

}  // namespace ringlb
