// SPDX-License-Identifier: MIT
// A shard's listening sockets: adopted at start and on reload, accepting, turning clients away
// when out of descriptors, and closed. Member functions of Shard, whose loop is in shard.cpp.
#include "ringlb/shard/shard.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ringlb/base/log.hpp"
#include "ringlb/io/socket.hpp"

namespace ringlb {

// Kept listeners point at their new settings, new ones start accepting, removed ones are
// cancelled and closed.
void Shard::adopt_listeners(Generation& generation, std::vector<ShardUpdate::Listener>& listeners) {
    std::vector<bool> kept(listeners_.size(), false);
    for (ShardUpdate::Listener& wanted : listeners) {
        ListenerRuntime* runtime = &generation.listeners[wanted.runtime];
        auto existing = std::find_if(listeners_.begin(), listeners_.end(), [&](const auto& slot) {
            return slot.fd && !slot.removing && slot.key == wanted.key;
        });
        if (existing != listeners_.end()) {
            reconfigure(*existing, runtime->config);
            existing->runtime = runtime;
            kept[static_cast<std::size_t>(existing - listeners_.begin())] = true;
            if (!wanted.fd) {
                continue;
            }
        }
        if (!wanted.fd) {
            log_error("shard {}: no socket for listener {}", options_.id, wanted.key);
            continue;
        }
        auto free_slot = std::find_if(listeners_.begin(), listeners_.end(),
                                      [](const auto& slot) { return !slot.fd; });
        if (free_slot == listeners_.end()) {
            listeners_.emplace_back();
            free_slot = listeners_.end() - 1;
        }
        free_slot->fd = std::move(wanted.fd);
        free_slot->key = wanted.key;
        free_slot->runtime = runtime;
        free_slot->armed = free_slot->multishot = free_slot->removing = false;
        ++listeners_open_;
        if (stopping_) {
            close_listener(static_cast<std::uint32_t>(free_slot - listeners_.begin()));
        } else {
            arm_accept(static_cast<std::uint32_t>(free_slot - listeners_.begin()));
        }
    }
    for (std::uint32_t i = 0; i < kept.size(); ++i) {
        if (!kept[i] && listeners_[i].fd && !listeners_[i].removing) {
            cancel_accept(i);
        }
    }
    // A change of global.max_connections between none and some changes how accepts are
    // armed (multishot, or one client at a time): re-arm the kept ones.
    const bool limited = services_.max_connections->load(std::memory_order_relaxed) != 0;
    for (std::uint32_t i = 0; i < kept.size(); ++i) {
        ListenerSlot& slot = listeners_[i];
        if (kept[i] && slot.armed && slot.multishot == limited) {
            (void)submit_accept_cancel(i);  // on failure the accept keeps its old mode
        }
    }
}

// A kept listening socket takes a reload's queue and client options at once (main checked
// beforehand that a mark can be set): listen(2) again for the backlog, TCP_FASTOPEN for the TFO
// queue; the TCP options apply to the clients accepted from now on, which inherit them. Once
// per reload and listener, never per connection.
void Shard::reconfigure(ListenerSlot& slot, const config::ListenerConfig& wanted) noexcept {
    const config::ListenerConfig& now = slot.runtime->config;
    const char* failed = "";
    int result = 0;
    if (now.backlog != wanted.backlog || now.tcp_fastopen != wanted.tcp_fastopen) {
        result = set_listen_queue(slot.fd.get(), static_cast<int>(wanted.backlog),
                                  wanted.tcp_fastopen, &failed);
    }
    if (result == 0 && now.tcp != wanted.tcp) {
        result = apply_tcp_options(slot.fd.get(), wanted.tcp, now.tcp, &failed);
    }
    if (result < 0) {
        log_warn("shard {}: listener {}: {} not in force after the reload: {}", options_.id,
                 wanted.name, failed, std::strerror(-result));
    }
}

void Shard::arm_accept(std::uint32_t listener) noexcept {
    ListenerSlot& slot = listeners_[listener];
    if (slot.parked || slot.armed) {
        return;  // a parked client waits for a place first
    }
    const bool limited = services_.max_connections->load(std::memory_order_relaxed) != 0;
    io_uring_sqe* sqe = ring_->next_sqe();
    if (sqe == nullptr) {
        ShardStats::add(stats_.ring_full, 1);  // the next tick tries again
        return;
    }
    const int fd = slot.fd.get();
    slot.multishot = options_.features.multishot_accept && !limited;
    if (slot.multishot) {
        io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } else {
        // One client per accept: under a limit (so that accepting stops when it is reached),
        // or before 5.19.
        io_uring_prep_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::accept, listener));
    slot.armed = true;
}

void Shard::cancel_accept(std::uint32_t listener) noexcept {
    ListenerSlot& slot = listeners_[listener];
    slot.removing = true;
    if (!slot.armed) {
        close_listener(listener);
        return;
    }
    if (!submit_accept_cancel(listener)) {
        // Shutting the socket down ends its accept just as well (with -EINVAL), and then
        // on_accept closes it.
        ::shutdown(slot.fd.get(), SHUT_RDWR);
    }
}

bool Shard::submit_accept_cancel(std::uint32_t listener) noexcept {
    io_uring_sqe* sqe = ring_->next_sqe();
    if (sqe == nullptr) {
        ShardStats::add(stats_.ring_full, 1);
        return false;
    }
    io_uring_prep_cancel64(sqe, encode_user_data(Op::accept, listener), 0);
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::accept_cancel, listener));
    return true;
}

void Shard::close_listener(std::uint32_t listener) noexcept {
    ListenerSlot& slot = listeners_[listener];
    if (!slot.fd) {
        return;
    }
    if (slot.parked) {
        slot.parked.reset();
        --parked_;
    }
    slot.fd.reset();  // no request refers to it any more
    slot.removing = false;
    slot.runtime = nullptr;
    --listeners_open_;
}

void Shard::on_accept(std::uint32_t listener, int result, unsigned flags) noexcept {
    ListenerSlot& slot = listeners_[listener];
    const bool still_armed = (flags & IORING_CQE_F_MORE) != 0;
    if (!still_armed) {
        slot.armed = false;
    }
    if (result >= 0) {
        UniqueFd client(result);
        if (stopping_ || slot.removing || slot.runtime == nullptr) {
            // Closed by `client`.
        } else if (take_place()) {
            serve(listener, std::move(client));
        } else {
            park(listener, std::move(client));
        }
    } else if (result == -EMFILE || result == -ENFILE) {
        shed_load(listener);
    } else if (result != -ECANCELED) {
        log_throttled(LogLevel::warn, "shard {}: accept on {}: {} ({} more since the last report)",
                      options_.id, slot.key, std::strerror(-result));
    }
    if (still_armed || slot.armed) {
        return;  // still accepting (or re-armed when a parked client was served at once)
    }
    if (stopping_ || slot.removing) {
        close_listener(listener);
    } else if (result < 0 && result != -ECANCELED && result != -EMFILE && result != -ENFILE) {
        // An unexpected error: retrying at once could spin; wait a little.
        io_uring_sqe* sqe = ring_->next_sqe();
        if (sqe == nullptr) {
            ShardStats::add(stats_.ring_full, 1);  // the next tick re-arms the accept
            return;
        }
        io_uring_prep_timeout(sqe, &accept_retry_delay_, 0, 0);
        io_uring_sqe_set_data64(sqe, encode_user_data(Op::accept_retry, listener));
        slot.armed = true;
        slot.multishot = false;
    } else {
        arm_accept(listener);  // does nothing while a client is parked
    }
}

// Out of descriptors, the clients in the listen queue would wait there until some
// connection ends. Instead, give up the reserve descriptor for a moment and use it to
// accept and close each queued client (as nginx and libuv do), so they fail fast.
void Shard::shed_load(std::uint32_t listener) noexcept {
    reserve_fd_.reset();
    std::uint64_t turned_away = 0;
    for (int i = 0; i < 1024; ++i) {
        UniqueFd client(::accept4(listeners_[listener].fd.get(), nullptr, nullptr,
                                  SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!client) {
            break;  // EAGAIN: the queue is empty (or even one fd is not to be had)
        }
        ++turned_away;
    }
    reserve_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    const ListenerSlot& slot = listeners_[listener];
    if (slot.runtime != nullptr && !slot.removing) {  // a removed one's generation may be gone
        slot.runtime->stats->rejected[static_cast<std::size_t>(Rejection::no_fd)].fetch_add(
            turned_away, std::memory_order_relaxed);
    }
    log_throttled(LogLevel::warn,
                  "shard {}: out of file descriptors: closed {} new client(s) on {} "
                  "({} more reports suppressed)",
                  options_.id, turned_away, listeners_[listener].key);
}

}  // namespace ringlb
