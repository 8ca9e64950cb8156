// SPDX-License-Identifier: MIT
// The shards as the main thread runs them: started, handed generations, watched and stopped, with
// every wait bounded.
#include "shard_group.hpp"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "ringlb/base/clock.hpp"
#include "ringlb/base/log.hpp"

namespace ringlb {

namespace {
// A shard answers main within these, or it is taken for stuck (fatal, as a dead one is): its
// start-up (ring set-up, first accepts), a new configuration of a reload (adopted at its next
// loop pass, which comes at least every 100 ms), and the end of its thread once the
// grace period of a stop is over (cancelling and closing what is left).
constexpr std::uint64_t kShardStartMs = 10000;
constexpr std::uint64_t kShardAdoptMs = 10000;
constexpr std::uint64_t kShardStopMarginMs = 5000;
}  // namespace

Shard& ShardGroup::add(ShardOptions options, std::unique_ptr<ShardUpdate> initial,
                       EpochDomain& epochs, ShardServices services) {
    shards_.push_back(std::make_unique<Shard>(options, std::move(initial), epochs, services));
    return *shards_.back();
}

void ShardGroup::start() {
    for (const auto& shard : shards_) {
        waiters_.wake_fds.push_back(shard->wake_fd());
    }
    for (auto& shard : shards_) {
        shard->start(kShardStartMs);
    }
}

bool ShardGroup::hand_over(std::vector<std::unique_ptr<ShardUpdate>>& updates, std::uint64_t id) {
    // A shard takes one update at a time and adopts it at its next loop pass, so this
    // waits a moment.
    const std::uint64_t deadline = monotonic_ms() + kShardAdoptMs;
    bool adopted = true;
    for (unsigned i = 0; i < shards_.size() && adopted; ++i) {
        while (adopted && !shards_[i]->post_update(updates[i])) {
            adopted = await(i, deadline, "take the new configuration");
        }
    }
    for (unsigned i = 0; i < shards_.size() && adopted; ++i) {
        while (adopted && shards_[i]->adopted() < id) {
            adopted = await(i, deadline, "take the new configuration");
        }
    }
    return adopted;
}

bool ShardGroup::all_past(std::uint64_t id) const noexcept {
    for (const auto& shard : shards_) {
        if (shard->adopted() <= id) {
            return false;
        }
    }
    return true;
}

std::string ShardGroup::broken() const {
    if (!broken_.empty()) {
        return broken_;
    }
    for (const auto& shard : shards_) {
        if (shard->finished() && !shard->failure().empty()) {
            return fmt::format("shard {} died: {}", &shard - shards_.data(), shard->failure());
        }
    }
    return {};
}

bool ShardGroup::await(unsigned shard, std::uint64_t deadline_ms, std::string_view what) {
    if (shards_[shard]->finished()) {
        broken_ = fmt::format(
            "shard {} died: {}", shard,
            shards_[shard]->failure().empty() ? "its thread ended" : shards_[shard]->failure());
        return false;
    }
    if (monotonic_ms() >= deadline_ms) {
        broken_ = fmt::format("shard {} did not {} within {} ms: it is stuck", shard, what,
                              kShardAdoptMs);
        return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return true;
}

void ShardGroup::stop(bool immediately, std::uint64_t grace_ms) noexcept {
    for (auto& shard : shards_) {
        shard->request_stop(immediately);
    }
    const std::uint64_t deadline = monotonic_ms() + grace_ms + kShardStopMarginMs;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        while (!shards_[i]->finished()) {
            if (monotonic_ms() >= deadline) {
                // Its thread may still use everything the process owns: nothing can be
                // released safely, so leave without running destructors.
                log_error("shard {} did not end within {} ms of the stop; exiting without it", i,
                          grace_ms + kShardStopMarginMs);
                std::_Exit(1);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        shards_[i]->join();
    }
}

}  // namespace ringlb
