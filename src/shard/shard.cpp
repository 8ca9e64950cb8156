// SPDX-License-Identifier: MIT
// The shard event loop: accept, dispatch completions to connections, timers, shutdown.
#include "ringlb/shard/shard.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "ringlb/clock.hpp"
#include "ringlb/log.hpp"

namespace ringlb {

namespace {
constexpr unsigned kRingEntries = 4096;
constexpr std::uint64_t kTickMs = 100;
}  // namespace

Shard::Shard(ShardOptions options, std::vector<ShardListener> listeners, EpochDomain& epochs)
    : options_(std::move(options)),
      listeners_(std::move(listeners)),
      epochs_(epochs),
      wake_fd_(eventfd(0, EFD_CLOEXEC)),
      reserve_fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {
    if (!wake_fd_ || !reserve_fd_) {
        throw std::system_error(errno, std::generic_category(), "eventfd or /dev/null");
    }
    // All per-connection memory is taken here, before the first client arrives.
    slab_.resize(options_.slots);
    free_slots_.reserve(options_.slots);
    for (std::size_t i = options_.slots; i > 0; --i) {
        slab_[i - 1].set_index(static_cast<std::uint32_t>(i - 1));
        free_slots_.push_back(static_cast<std::uint32_t>(i - 1));
    }
    pipes_ = std::make_unique<PipePool>(kShardInitialPipes, options_.slots * 2,
                                        static_cast<int>(options_.pipe_size));
    std::uint64_t shortest_idle = UINT64_MAX;
    for (const ShardListener& listener : listeners_) {
        unsigned idle = listener.pool->config().idle_timeout_ms;
        if (idle > 0) {
            shortest_idle = std::min<std::uint64_t>(shortest_idle, idle);
        }
    }
    // Scan for idle connections often enough to honour the shortest timeout within ~10%.
    idle_scan_interval_ms_ = std::clamp<std::uint64_t>(shortest_idle / 10, kTickMs, 1000);
    tick_interval_.tv_nsec = static_cast<long long>(kTickMs) * 1000000;
    accept_retry_delay_.tv_nsec = 100 * 1000000;
}

Shard::~Shard() {
    request_stop();
    join();
}

void Shard::start() {
    std::future<void> started = started_.get_future();
    thread_ = std::thread([this] { run(); });
    started.get();  // rethrows a start-up failure of the shard thread
}

void Shard::request_stop() noexcept {
    if (stop_requested_.exchange(true)) {
        return;
    }
    std::uint64_t one = 1;
    (void)!::write(wake_fd_.get(), &one, sizeof(one));
}

void Shard::join() noexcept {
    if (thread_.joinable()) {
        thread_.join();
    }
}

RelayContext Shard::context() noexcept {
    return RelayContext{*ring_, *pipes_, stats_, options_.features.cancel_fd_all, now_ms_};
}

void Shard::run() noexcept {
    std::string name = fmt::format("ringlb-shard-{}", options_.id);
    pthread_setname_np(pthread_self(), name.c_str());
    if (options_.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(options_.cpu, &set);
        if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
            log_warn("shard {}: cannot pin to CPU {}", options_.id, options_.cpu);
        }
    }
    bool started = false;
    try {
        // A SINGLE_ISSUER ring must be created by the thread that submits to it.
        ring_ = std::make_unique<Ring>(kRingEntries, options_.features.setup_flags);
        // Nothing on the data path should need io-wq; bound it so that a surprise cannot
        // turn connections into threads.
        if (int result = ring_->limit_workers(2, 2); result < 0) {
            log_warn("shard {}: cannot bound io-wq workers: {}", options_.id,
                     std::strerror(-result));
        }
        now_ms_ = monotonic_ms(CLOCK_MONOTONIC_COARSE);
        next_idle_scan_ms_ = now_ms_ + idle_scan_interval_ms_;
        for (std::uint32_t i = 0; i < listeners_.size(); ++i) {
            arm_accept(i);
        }
        listeners_open_ = listeners_.size();
        arm_wake();
        arm_tick();
        io_uring_submit(ring_->raw());
        started = true;
        started_.set_value();
        loop();
    } catch (...) {
        if (!started) {
            started_.set_exception(std::current_exception());
            return;
        }
        log_error("shard {}: stopped by an unexpected error", options_.id);
    }
    epochs_.leave(options_.id);
}

void Shard::loop() {
    while (!(stopping_ && listeners_open_ == 0 &&
             stats_.active.load(std::memory_order_relaxed) == 0)) {
        epochs_.leave(options_.id);  // blocking: hold no live set while asleep
        int result = ring_->submit_and_wait(1);
        epochs_.enter(options_.id);
        if (result < 0 && result != -EINTR && result != -ETIME && result != -EBUSY) {
            log_error("shard {}: io_uring_submit_and_wait: {}", options_.id,
                      std::strerror(-result));
        }
        now_ms_ = monotonic_ms(CLOCK_MONOTONIC_COARSE);
        unsigned seen = 0;
        unsigned head;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(ring_->raw(), head, cqe) {
            dispatch(cqe->user_data, cqe->res, cqe->flags);
            ++seen;
        }
        io_uring_cq_advance(ring_->raw(), seen);
    }
}

void Shard::dispatch(std::uint64_t user_data, int result, unsigned flags) noexcept {
    const Op op = user_data_op(user_data);
    const std::uint32_t index = user_data_index(user_data);
    switch (op) {
        case Op::accept:
            on_accept(index, result, flags);
            return;
        case Op::accept_retry:
            if (!stopping_) {
                arm_accept(index);
            } else {
                listeners_[index].fd.reset();
                --listeners_open_;
            }
            return;
        case Op::accept_cancel:
            return;  // the accept's own final completion closes the listener
        case Op::wake:
            if (stop_requested_.load() && !stopping_) {
                begin_stop();
            }
            if (!stopping_) {
                arm_wake();
            }
            return;
        case Op::tick:
            on_tick();
            return;
        case Op::connect:
        case Op::connect_timeout:
        case Op::client_in:
        case Op::client_out:
        case Op::backend_in:
        case Op::backend_out:
        case Op::cancel:
            break;
    }
    if (index >= slab_.size() || !slab_[index].in_use()) {
        return;  // cannot happen: a slot is freed only after its last completion
    }
    RelayContext relay = context();
    if (slab_[index].on_completion(op, result, relay) == Connection::Progress::finished) {
        release(index);
    }
}

void Shard::arm_accept(std::uint32_t listener) noexcept {
    io_uring_sqe* sqe = ring_->next_sqe();
    const int fd = listeners_[listener].fd.get();
    if (options_.features.multishot_accept) {
        io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } else {
        // Before 5.19: one accept per request, re-armed after each completion.
        io_uring_prep_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::accept, listener));
}

void Shard::arm_wake() noexcept {
    io_uring_sqe* sqe = ring_->next_sqe();
    io_uring_prep_read(sqe, wake_fd_.get(), &wake_value_, sizeof(wake_value_), 0);
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::wake, 0));
}

void Shard::arm_tick() noexcept {
    io_uring_sqe* sqe = ring_->next_sqe();
    io_uring_prep_timeout(sqe, &tick_interval_, 0, 0);
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::tick, 0));
}

void Shard::on_accept(std::uint32_t listener, int result, unsigned flags) noexcept {
    const bool still_armed = (flags & IORING_CQE_F_MORE) != 0;
    if (result >= 0) {
        UniqueFd client(result);
        if (stopping_) {
            return;  // closed by `client`
        }
        if (free_slots_.empty()) {
            ShardStats::add(stats_.rejected_no_slot, 1);
            std::uint64_t suppressed = 0;
            if (accept_error_log_.allow(now_ms_ * 1000000, suppressed)) {
                log_warn(
                    "shard {}: all {} connection slots in use; closing new clients "
                    "({} more since the last report)",
                    options_.id, slab_.size(), suppressed);
            }
        } else {
            const std::uint32_t slot = free_slots_.back();
            free_slots_.pop_back();
            ShardStats::add(stats_.accepted, 1);
            RelayContext relay = context();
            if (slab_[slot].start(client.release(), *listeners_[listener].pool, relay) ==
                Connection::Progress::finished) {
                release(slot);
            }
        }
    } else if (result == -EMFILE || result == -ENFILE) {
        shed_load(listener);
    } else if (result != -ECANCELED) {
        std::uint64_t suppressed = 0;
        if (accept_error_log_.allow(now_ms_ * 1000000, suppressed)) {
            log_warn("shard {}: accept on {}: {} ({} more since the last report)", options_.id,
                     listeners_[listener].name, std::strerror(-result), suppressed);
        }
    }
    if (still_armed) {
        return;
    }
    if (stopping_) {
        listeners_[listener].fd.reset();  // no request refers to it any more
        --listeners_open_;
    } else if (result < 0 && result != -ECANCELED && result != -EMFILE && result != -ENFILE) {
        // An unexpected error: retrying at once could spin; wait a little.
        io_uring_sqe* sqe = ring_->next_sqe();
        io_uring_prep_timeout(sqe, &accept_retry_delay_, 0, 0);
        io_uring_sqe_set_data64(sqe, encode_user_data(Op::accept_retry, listener));
    } else {
        arm_accept(listener);
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
    ShardStats::add(stats_.rejected_no_fd, turned_away);
    std::uint64_t suppressed = 0;
    if (accept_error_log_.allow(now_ms_ * 1000000, suppressed)) {
        log_warn(
            "shard {}: out of file descriptors: closed {} new client(s) on {} "
            "({} more reports suppressed)",
            options_.id, turned_away, listeners_[listener].name, suppressed);
    }
}

void Shard::begin_stop() noexcept {
    stopping_ = true;
    stop_deadline_ms_ = now_ms_ + options_.shutdown_grace_ms;
    for (std::uint32_t i = 0; i < listeners_.size(); ++i) {
        io_uring_sqe* sqe = ring_->next_sqe();
        io_uring_prep_cancel64(sqe, encode_user_data(Op::accept, i), 0);
        io_uring_sqe_set_data64(sqe, encode_user_data(Op::accept_cancel, i));
    }
    log_debug("shard {}: stopping with {} connections open", options_.id,
              stats_.active.load(std::memory_order_relaxed));
}

void Shard::on_tick() noexcept {
    if (stopping_ && now_ms_ >= stop_deadline_ms_) {
        // Grace is over: close whatever is still open.
        RelayContext relay = context();
        for (std::uint32_t slot = 0; slot < slab_.size(); ++slot) {
            Connection& connection = slab_[slot];
            if (connection.in_use() && !connection.closing() &&
                connection.close(relay, Connection::Ending::graceful) ==
                    Connection::Progress::finished) {
                release(slot);
            }
        }
    }
    if (now_ms_ >= next_idle_scan_ms_) {
        next_idle_scan_ms_ = now_ms_ + idle_scan_interval_ms_;
        pipes_->trim();
        RelayContext relay = context();
        for (std::uint32_t slot = 0; slot < slab_.size(); ++slot) {
            Connection& connection = slab_[slot];
            if (!connection.in_use() || connection.closing()) {
                continue;
            }
            const unsigned idle_ms = connection.pool()->config().idle_timeout_ms;
            if (idle_ms > 0 && now_ms_ - connection.last_active_ms() >= idle_ms) {
                ShardStats::add(stats_.idle_timeouts, 1);
                if (connection.close(relay, Connection::Ending::graceful) ==
                    Connection::Progress::finished) {
                    release(slot);
                }
            }
        }
    }
    arm_tick();
}

void Shard::release(std::uint32_t slot) noexcept {
    free_slots_.push_back(slot);
}

}  // namespace ringlb
