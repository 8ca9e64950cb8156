// SPDX-License-Identifier: MIT
// The shard event loop: accept, dispatch completions to connections, timers, reload, stop.
#include "ringlb/shard/shard.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "ringlb/base/clock.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/proxy/proxy_protocol.hpp"

namespace ringlb {

namespace {
constexpr unsigned kRingEntries = 4096;
constexpr std::uint64_t kTickMs = 100;
// io_uring_enter failing with a transient error (out of memory, a busy completion queue)
// for this long means the ring will not recover: the shard gives up.
constexpr std::uint64_t kRingFailureMs = 5000;

// Errors of io_uring_enter that may pass by themselves; any other means the ring is unusable
// (EBADF, EBADFD, EFAULT, EINVAL, ENXIO, EOWNERDEAD...).
bool transient_ring_error(int error) noexcept {
    return error == EAGAIN || error == EBUSY || error == ENOMEM || error == EINTR || error == ETIME;
}
}  // namespace

Shard::Shard(ShardOptions options, std::unique_ptr<ShardUpdate> initial, EpochDomain& epochs,
             ShardServices services)
    : options_(std::move(options)),
      epochs_(epochs),
      services_(services),
      wake_fd_(eventfd(0, EFD_CLOEXEC)),
      reserve_fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)),
      initial_(std::move(initial)) {
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
    scratch_.resize(std::max<std::size_t>(kProxyHeaderMax, 256));
    tick_interval_.tv_nsec = static_cast<long long>(kTickMs) * 1000000;
    accept_retry_delay_.tv_nsec = 100 * 1000000;
}

Shard::~Shard() {
    request_stop();
    join();
    delete mailbox_.exchange(nullptr);
}

void Shard::start(std::uint64_t timeout_ms) {
    std::future<void> started = started_.get_future();
    finished_.store(false, std::memory_order_relaxed);
    thread_ = std::thread([this] { run(); });
    if (started.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) {
        throw ShardStuck(
            fmt::format("shard {} did not start within {} ms", options_.id, timeout_ms));
    }
    started.get();  // rethrows a start-up failure of the shard thread
}

void Shard::request_stop(bool immediately) noexcept {
    if (immediately) {
        stop_immediately_.store(true, std::memory_order_relaxed);
    }
    stop_requested_.store(true);
    std::uint64_t one = 1;
    (void)!::write(wake_fd_.get(), &one, sizeof(one));
}

bool Shard::post_update(std::unique_ptr<ShardUpdate>& update) noexcept {
    ShardUpdate* expected = nullptr;
    if (!mailbox_.compare_exchange_strong(expected, update.get())) {
        return false;
    }
    update.release();
    std::uint64_t one = 1;
    (void)!::write(wake_fd_.get(), &one, sizeof(one));
    return true;
}

void Shard::join() noexcept {
    if (thread_.joinable()) {
        thread_.join();
    }
}

RelayContext Shard::context() noexcept {
    return RelayContext{*ring_,
                        *pipes_,
                        stats_,
                        options_.features.cancel_fd_all,
                        now_ms_,
                        *services_.clients,
                        services_.access_log,
                        std::span<std::uint8_t>(scratch_)};
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
        epochs_.enter(options_.id);
        apply(std::move(initial_));
        arm_wake();
        arm_tick();
        if (!wake_armed_ || !tick_armed_) {
            throw std::runtime_error("the new ring has no room for the shard's own requests");
        }
        io_uring_submit(ring_->raw());
        started = true;
        started_.set_value();
        loop();
    } catch (const std::exception& error) {
        if (!started) {
            started_.set_exception(std::current_exception());
        } else {
            failure_ = error.what();
            log_error("shard {}: died: {}", options_.id, failure_);
        }
    } catch (...) {
        if (!started) {
            started_.set_exception(std::current_exception());
        } else {
            failure_ = "an unknown exception";
            log_error("shard {}: died: {}", options_.id, failure_);
        }
    }
    epochs_.leave(options_.id);
    finished_.store(true, std::memory_order_release);
}

void Shard::loop() {
    while (!(stopping_ && listeners_open_ == 0 && free_slots_.size() == slab_.size())) {
        epochs_.leave(options_.id);  // blocking: hold no live set while asleep
        int result = ring_->submit_and_wait(1);
        epochs_.enter(options_.id);
        now_ms_ = monotonic_ms(CLOCK_MONOTONIC_COARSE);
        if (result < 0 && result != -EINTR && result != -ETIME) {
            check_ring_error(-result);
        } else {
            failing_since_ms_ = 0;
        }
        unsigned seen = 0;
        unsigned head;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(ring_->raw(), head, cqe) {
            dispatch(cqe->user_data, cqe->res, cqe->flags);
            ++seen;
        }
        io_uring_cq_advance(ring_->raw(), seen);
        if (!wake_armed_ || !tick_armed_) {
            rearm_own();
        }
    }
}

// A failed io_uring_enter: a transient error is retried (and logged at a rate limit) for up
// to kRingFailureMs; anything else, or a transient error that lasts, ends the shard.
void Shard::check_ring_error(int error) {
    if (!transient_ring_error(error)) {
        throw std::system_error(error, std::generic_category(), "io_uring_enter");
    }
    if (failing_since_ms_ == 0) {
        failing_since_ms_ = now_ms_;
    } else if (now_ms_ - failing_since_ms_ >= kRingFailureMs) {
        throw std::system_error(
            error, std::generic_category(),
            fmt::format("io_uring_enter failed for {} ms in a row", now_ms_ - failing_since_ms_));
    }
    std::uint64_t suppressed = 0;
    if (accept_error_log_.allow(now_ms_ * 1000000, suppressed)) {
        log_error("shard {}: io_uring_enter: {} ({} more since the last report)", options_.id,
                  std::strerror(error), suppressed);
    }
}

// The eventfd read (updates, stop) and the tick (timers, retries) must always be in flight:
// without a slot for them at the end of a pass, when the queue has just been flushed, the
// ring is unusable and the shard gives up rather than sleep without them.
void Shard::rearm_own() {
    if (!wake_armed_) {
        arm_wake();
    }
    if (!tick_armed_) {
        arm_tick();
    }
    if (!wake_armed_ || !tick_armed_) {
        throw std::runtime_error("no submission slot for the shard's wake-up or timer");
    }
}

// Adopts a generation: kept listeners point at their new settings, new ones start
// accepting, removed ones are cancelled and closed. Connections keep the generation they
// started with.
void Shard::apply(std::unique_ptr<ShardUpdate> update) {
    if (update->access_log != nullptr) {
        services_.access_log = update->access_log;
    }
    Generation& generation = *update->generation;
    std::vector<bool> kept(listeners_.size(), false);
    for (ShardUpdate::Listener& wanted : update->listeners) {
        ListenerRuntime* runtime = &generation.listeners[wanted.runtime];
        auto existing = std::find_if(listeners_.begin(), listeners_.end(), [&](const auto& slot) {
            return slot.fd && !slot.removing && slot.key == wanted.key;
        });
        if (existing != listeners_.end()) {
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
    std::uint64_t shortest_idle = UINT64_MAX;
    for (const auto& pool : generation.pools) {
        if (pool->config().idle_timeout_ms > 0) {
            shortest_idle = std::min<std::uint64_t>(shortest_idle, pool->config().idle_timeout_ms);
        }
    }
    // Scan for idle connections often enough to honour the shortest timeout within ~10%.
    idle_scan_interval_ms_ = std::clamp<std::uint64_t>(shortest_idle / 10, kTickMs, 1000);
    generation_ = &generation;
    adopted_.store(generation.id, std::memory_order_release);
}

void Shard::dispatch(std::uint64_t user_data, int result, unsigned flags) noexcept {
    const Op op = user_data_op(user_data);
    const std::uint32_t index = user_data_index(user_data);
    switch (op) {
        case Op::accept:
            on_accept(index, result, flags);
            return;
        case Op::accept_retry:
            listeners_[index].armed = false;
            if (stopping_ || listeners_[index].removing) {
                close_listener(index);
            } else {
                arm_accept(index);
            }
            return;
        case Op::accept_cancel:
            return;  // the accept's own final completion settles the listener
        case Op::wake:
            wake_armed_ = false;
            if (ShardUpdate* update = mailbox_.exchange(nullptr)) {
                try {
                    apply(std::unique_ptr<ShardUpdate>(update));
                } catch (const std::exception& error) {
                    log_error("shard {}: cannot adopt the new configuration: {}", options_.id,
                              error.what());
                }
            }
            if (stop_requested_.load() && !stopping_) {
                begin_stop();
            }
            resume_paused();  // another shard may have freed a place
            arm_wake();
            return;
        case Op::tick:
            tick_armed_ = false;
            on_tick();
            return;
        default:
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

// Every open connection holds a place in the process-wide count, taken when its accept
// completes. Under global.max_connections a shard that finds no place left keeps that one
// client "parked" (accepted but not served) and stops accepting on that listener: later
// clients wait in the kernel's backlog, as with a full accept queue. Whichever shard frees a
// place wakes the waiting ones (AcceptWaiters), and each retries on its 100 ms tick as well.
bool Shard::take_place() noexcept {
    const std::uint64_t limit = services_.max_connections->load(std::memory_order_relaxed);
    std::uint64_t open = services_.open_connections->load(std::memory_order_relaxed);
    do {
        if (limit != 0 && open >= limit) {
            return false;
        }
    } while (!services_.open_connections->compare_exchange_weak(open, open + 1,
                                                                std::memory_order_relaxed));
    return true;
}

void Shard::return_place() noexcept {
    services_.open_connections->fetch_sub(1, std::memory_order_relaxed);
    if (services_.waiters->waiting.load(std::memory_order_relaxed) != 0) {
        services_.waiters->wake(options_.id);
    }
}

void AcceptWaiters::wake(unsigned self) noexcept {
    const std::uint64_t mask = waiting.load(std::memory_order_relaxed);
    for (unsigned shard = 0; shard < wake_fds.size() && shard < 64; ++shard) {
        if (shard != self && (mask & (1ull << shard)) != 0) {
            std::uint64_t one = 1;
            (void)!::write(wake_fds[shard], &one, sizeof(one));
        }
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

void Shard::park(std::uint32_t listener, UniqueFd client) noexcept {
    ListenerSlot& slot = listeners_[listener];
    slot.parked = std::move(client);
    ++parked_;
    if (options_.id < 64) {
        services_.waiters->waiting.fetch_or(1ull << options_.id, std::memory_order_relaxed);
    }
    // A place may have freed up between the failed take and the flag: look once more.
    resume_paused();
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

void Shard::resume_paused() noexcept {
    for (std::uint32_t i = 0; i < listeners_.size() && parked_ > 0; ++i) {
        ListenerSlot& slot = listeners_[i];
        if (!slot.parked || !take_place()) {
            continue;
        }
        --parked_;
        serve(i, std::move(slot.parked));
        if (!stopping_ && !slot.removing) {
            arm_accept(i);
        }
    }
    if (parked_ == 0 && options_.id < 64 &&
        (services_.waiters->waiting.load(std::memory_order_relaxed) & (1ull << options_.id)) != 0) {
        services_.waiters->waiting.fetch_and(~(1ull << options_.id), std::memory_order_relaxed);
    }
}

// Starts a connection for a client that holds a place.
void Shard::serve(std::uint32_t listener, UniqueFd client) noexcept {
    ListenerSlot& slot = listeners_[listener];
    if (free_slots_.empty()) {
        slot.runtime->stats->reject(Rejection::no_slot);
        return_place();
        std::uint64_t suppressed = 0;
        if (accept_error_log_.allow(now_ms_ * 1000000, suppressed)) {
            log_warn(
                "shard {}: all {} connection slots in use; closing new clients "
                "({} more since the last report)",
                options_.id, slab_.size(), suppressed);
        }
        return;  // closed by `client`
    }
    const std::uint32_t connection = free_slots_.back();
    free_slots_.pop_back();
    RelayContext relay = context();
    if (slab_[connection].start(client.release(), *slot.runtime, *generation_, relay) ==
        Connection::Progress::finished) {
        release(connection);
    }
}

void Shard::arm_wake() noexcept {
    io_uring_sqe* sqe = ring_->next_sqe();
    if (sqe == nullptr) {
        ShardStats::add(stats_.ring_full, 1);  // the end of the loop pass tries again
        return;
    }
    io_uring_prep_read(sqe, wake_fd_.get(), &wake_value_, sizeof(wake_value_), 0);
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::wake, 0));
    wake_armed_ = true;
}

void Shard::arm_tick() noexcept {
    io_uring_sqe* sqe = ring_->next_sqe();
    if (sqe == nullptr) {
        ShardStats::add(stats_.ring_full, 1);  // the end of the loop pass tries again
        return;
    }
    io_uring_prep_timeout(sqe, &tick_interval_, 0, 0);
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::tick, 0));
    tick_armed_ = true;
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
        std::uint64_t suppressed = 0;
        if (accept_error_log_.allow(now_ms_ * 1000000, suppressed)) {
            log_warn("shard {}: accept on {}: {} ({} more since the last report)", options_.id,
                     slot.key, std::strerror(-result), suppressed);
        }
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
    std::uint64_t suppressed = 0;
    if (accept_error_log_.allow(now_ms_ * 1000000, suppressed)) {
        log_warn(
            "shard {}: out of file descriptors: closed {} new client(s) on {} "
            "({} more reports suppressed)",
            options_.id, turned_away, listeners_[listener].key, suppressed);
    }
}

void Shard::begin_stop() noexcept {
    stopping_ = true;
    // The grace of the configuration in force: a reload may have changed it.
    stop_deadline_ms_ = stop_immediately_.load(std::memory_order_relaxed)
                            ? now_ms_
                            : now_ms_ + generation_->config.global.shutdown_grace_ms;
    for (std::uint32_t i = 0; i < listeners_.size(); ++i) {
        if (listeners_[i].fd && !listeners_[i].removing) {
            cancel_accept(i);
        }
    }
    log_debug("shard {}: stopping with {} connections open", options_.id,
              slab_.size() - free_slots_.size());
}

void Shard::on_tick() noexcept {
    resume_paused();
    if (stop_immediately_.load(std::memory_order_relaxed) && stopping_) {
        stop_deadline_ms_ = std::min(stop_deadline_ms_, now_ms_);
    }
    if (!stopping_) {
        // An accept that found no submission slot is armed again here.
        for (std::uint32_t i = 0; i < listeners_.size(); ++i) {
            const ListenerSlot& slot = listeners_[i];
            if (slot.fd && !slot.armed && !slot.parked && !slot.removing) {
                arm_accept(i);
            }
        }
    }
    if (stopping_ && now_ms_ >= stop_deadline_ms_) {
        // Grace is over: close whatever is still open.
        RelayContext relay = context();
        for (std::uint32_t slot = 0; slot < slab_.size(); ++slot) {
            Connection& connection = slab_[slot];
            if (connection.in_use() && !connection.closing() &&
                connection.close(relay, Connection::Ending::graceful, "shutdown") ==
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
            const unsigned idle_ms = connection.idle_timeout_ms();
            if (idle_ms > 0 && now_ms_ - connection.last_active_ms() >= idle_ms) {
                ShardStats::add(stats_.idle_timeouts, 1);
                if (connection.close(relay, Connection::Ending::graceful, "idle_timeout") ==
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
    return_place();
    resume_paused();
}

}  // namespace ringlb
