// SPDX-License-Identifier: MIT
// Hand-offs between shards: a client accepted by a shard whose connection slots are all taken
// goes to the shard with the most room, as a message on that shard's ring
// (IORING_OP_MSG_RING, IORING_MSG_DATA) carrying the descriptor's number, so that no shard
// turns a client away while another has room. Member functions of Shard (loop in shard.cpp).
#include <cerrno>
#include <cstring>

#include "ringlb/base/log.hpp"
#include "ringlb/shard/shard.hpp"

namespace ringlb {

// Descriptors belong to the process, not to a thread: the number is all the other shard
// needs. The message's own completion here says whether it arrived; until then the client
// belongs to nobody but the message, and a failed one is closed here (on_handoff_sent).
bool Shard::hand_off(std::uint32_t listener, UniqueFd& client) noexcept {
    if (services_.peers == nullptr || services_.peer_count < 2 || !options_.features.msg_ring ||
        stopping_) {
        return false;
    }
    // The shard with the most room not yet promised to other senders; claiming a place in
    // its `incoming` keeps two senders from both counting on its last slot.
    ShardPeer* best = nullptr;
    std::uint64_t best_room = 0;
    std::uint64_t best_incoming = 0;
    for (unsigned i = 0; i < services_.peer_count; ++i) {
        ShardPeer& peer = services_.peers[i];
        if (i == options_.id || peer.ring_fd.load(std::memory_order_acquire) < 0) {
            continue;
        }
        const std::uint64_t room = peer.room.load(std::memory_order_relaxed);
        const std::uint64_t incoming = peer.incoming.load(std::memory_order_relaxed);
        if (room > incoming && room - incoming > best_room) {
            best = &peer;
            best_room = room - incoming;
            best_incoming = incoming;
        }
    }
    if (best == nullptr || !best->incoming.compare_exchange_strong(best_incoming, best_incoming + 1,
                                                                   std::memory_order_relaxed)) {
        return false;  // nobody has room (or a race for the last place: the client is refused)
    }
    io_uring_sqe* sqe = ring_->next_sqe();
    if (sqe == nullptr) {
        best->incoming.fetch_sub(1, std::memory_order_relaxed);
        ShardStats::add(stats_.ring_full, 1);
        return false;
    }
    const ListenerRuntime* runtime = listeners_[listener].runtime;
    const auto runtime_index = static_cast<std::uint32_t>(runtime - generation_->listeners.data());
    const int fd = client.release();
    io_uring_prep_msg_ring(sqe, best->ring_fd.load(std::memory_order_relaxed),
                           static_cast<unsigned>(fd),
                           handoff_user_data(runtime_index, generation_->id), 0);
    // The receiver's id rides in the top bits, to give its claimed place back on failure.
    const auto receiver = static_cast<std::uint64_t>(best - services_.peers);
    io_uring_sqe_set_data64(
        sqe, (receiver << 40) | encode_user_data(Op::handoff_sent, static_cast<std::uint32_t>(fd)));
    ShardStats::add(stats_.handed_off, 1);
    return true;
}

void Shard::on_handoff_sent(std::uint64_t user_data, int result) noexcept {
    if (result >= 0) {
        return;  // the other shard owns the client now
    }
    // Not delivered: the client is still ours to close, with its place and the receiver's.
    UniqueFd client(static_cast<int>(user_data_index(user_data)));
    const std::uint64_t receiver = user_data_generation(user_data);
    if (receiver < services_.peer_count) {
        services_.peers[receiver].incoming.fetch_sub(1, std::memory_order_relaxed);
    }
    ShardStats::add(stats_.handoff_failures, 1);
    return_place();
    log_throttled(LogLevel::warn,
                  "shard {}: could not hand a client to another shard: {} ({} more since the "
                  "last report)",
                  options_.id, std::strerror(-result));
}

// A client another shard accepted for a listener of generation `user_data_generation`: served
// here when this shard uses the same generation and has a slot, else closed and counted.
void Shard::on_handoff(std::uint64_t user_data, int fd) noexcept {
    UniqueFd client(fd);
    services_.peers[options_.id].incoming.fetch_sub(1, std::memory_order_relaxed);
    const std::uint32_t runtime_index = user_data_index(user_data);
    const bool same_generation = generation_ != nullptr &&
                                 (generation_->id & 0xffffff) == user_data_generation(user_data) &&
                                 runtime_index < generation_->listeners.size();
    std::uint32_t listener = 0;
    bool found = false;
    if (same_generation && !stopping_) {
        const ListenerRuntime* runtime = &generation_->listeners[runtime_index];
        for (; listener < listeners_.size(); ++listener) {
            const ListenerSlot& slot = listeners_[listener];
            if (slot.fd && !slot.removing && slot.runtime == runtime) {
                found = true;
                break;
            }
        }
    }
    if (!found) {
        // A reload between the two shards' passes, or the stop: rare, and counted.
        ShardStats::add(stats_.handoff_failures, 1);
        return_place();
        return;
    }
    serve(listener, std::move(client), true);
}

void Shard::publish_room() noexcept {
    stats_.open.store(slab_.size() - free_slots_.size(), std::memory_order_relaxed);
    if (services_.peers != nullptr) {
        services_.peers[options_.id].room.store(stopping_ ? 0 : free_slots_.size(),
                                                std::memory_order_relaxed);
    }
}

}  // namespace ringlb
