// SPDX-License-Identifier: MIT
// The shard thread and its event loop: start, adopting a generation, dispatching completions,
// the tick (idle scans, shutdown grace) and stop. Shard's other member functions live in
// listeners.cpp (its listening sockets) and accept_gate.cpp (global.max_connections).
#include "ringlb/shard/shard.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "ringlb/base/clock.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/inspect/client_hello.hpp"
#include "ringlb/proxy/proxy_parser.hpp"

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
    scratch_.resize(std::max<std::size_t>({kProxyHeaderMax, kClientHelloMax, 256}));
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
                        options_.id,
                        options_.features.cancel_fd_all,
                        now_ms_,
                        *services_.clients,
                        services_.access_log,
                        std::span<std::uint8_t>(scratch_),
                        buffers_.get(),
                        services_.waiters != nullptr
                            ? std::span<const int>(services_.waiters->wake_fds)
                            : std::span<const int>()};
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
        if (options_.copy_small_messages) {
            int error = 0;
            buffers_ = BufferRing::create(*ring_->raw(), kShardBuffers, kShardBufferSize, 0, error);
            if (!buffers_) {
                log_warn("shard {}: no buffer ring for small messages ({}); splicing them",
                         options_.id, std::strerror(-error));
            }
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
        publish_room();
        if (services_.peers != nullptr && options_.features.msg_ring) {
            services_.peers[options_.id].ring_fd.store(ring_->raw()->ring_fd,
                                                       std::memory_order_release);
        }
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
    buffers_.reset();  // unregistered by the ring's only submitter (SINGLE_ISSUER)
    epochs_.leave(options_.id);
    finished_.store(true, std::memory_order_release);
}

void Shard::loop() {
    unsigned arrivals = 0;  // completions of the last pass that brought bytes or a client
    while (!(stopping_ && listeners_open_ == 0 && free_slots_.size() == slab_.size())) {
        // With global.batch_wait_us, a pass that found bytes from two sockets or more (the
        // shard serves concurrent traffic) lets the next batch gather for up to that long,
        // so that its sends leave together and wake their readers once. A lone client's
        // request and its answer never arrive together, so it is never held.
        const bool batch = options_.batch_wait_us > 0 && arrivals >= 2;
        epochs_.leave(options_.id);  // blocking: hold no live set while asleep
        int result = batch ? ring_->submit_and_wait_batch(kBatchCompletions, options_.batch_wait_us)
                           : ring_->submit_and_wait(1);
        epochs_.enter(options_.id);
        now_ms_ = monotonic_ms(CLOCK_MONOTONIC_COARSE);
        if (result < 0 && result != -EINTR && result != -ETIME) {
            check_ring_error(-result);
        } else {
            failing_since_ms_ = 0;
        }
        unsigned seen = 0;
        arrivals = 0;
        unsigned head;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(ring_->raw(), head, cqe) {
            arrivals += is_arrival(user_data_op(cqe->user_data)) ? 1 : 0;
            dispatch(cqe->user_data, cqe->res, cqe->flags);
            ++seen;
        }
        io_uring_cq_advance(ring_->raw(), seen);
        ShardStats::add(stats_.loop_passes, 1);
        ShardStats::add(stats_.completions, seen);
        if (batch) {
            ShardStats::add(stats_.batched_waits, 1);
        }
        // The tick's scans judge idleness: only once every completion of this pass has been
        // handled, or a shard that was held up (a loaded machine, a stopped process) would
        // close as idle a connection whose bytes wait right behind the tick in this batch.
        if (tick_due_) {
            tick_due_ = false;
            on_tick();
        }
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
    log_throttled(LogLevel::error, "shard {}: io_uring_enter: {} ({} more since the last report)",
                  options_.id, std::strerror(error));
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

// Adopts a generation: its listeners, its access log and the idle timeouts of its pools.
// Connections keep the generation they started with.
void Shard::apply(std::unique_ptr<ShardUpdate> update) {
    if (update->access_log != nullptr) {
        services_.access_log = update->access_log;
    }
    Generation& generation = *update->generation;
    adopt_listeners(generation, update->listeners);
    std::uint64_t shortest = UINT64_MAX;
    for (const auto& pool : generation.pools) {
        for (std::uint64_t limit : {std::uint64_t{pool->config().idle_timeout_ms},
                                    pool->config().max_connection_duration_ms}) {
            if (limit > 0) {
                shortest = std::min(shortest, limit);
            }
        }
    }
    for (const ListenerRuntime& listener : generation.listeners) {
        if (listener.config.access_log_interval_ms > 0 && listener.access_log >= 0) {
            shortest = std::min<std::uint64_t>(shortest, listener.config.access_log_interval_ms);
        }
    }
    // Scan for idle and old connections (and due interim access-log lines) often enough to
    // honour the shortest limit or interval within ~10%.
    idle_scan_interval_ms_ = std::clamp<std::uint64_t>(shortest / 10, kTickMs, 1000);
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
            serve_waiters();  // ... or a backend place for a waiting client
            arm_wake();
            return;
        case Op::tick:
            tick_armed_ = false;
            tick_due_ = true;  // run by loop() after the rest of this pass's completions
            return;
        case Op::handoff:
            on_handoff(user_data, result);
            return;
        case Op::handoff_sent:
            on_handoff_sent(user_data, result);
            return;
        default:
            break;
    }
    if (index >= slab_.size() || !slab_[index].in_use()) {
        return;  // cannot happen: a slot is freed only after its last completion
    }
    RelayContext relay = context();
    if (slab_[index].on_completion(op, result, flags, relay) == Connection::Progress::finished) {
        release(index);
    } else if (slab_[index].take_queue_request()) {
        enqueue(index);
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

void Shard::begin_stop() noexcept {
    stopping_ = true;
    publish_room();  // none: take no more hand-offs
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
    expire_waiters();
    serve_waiters();  // places that freed without a close (a reload, an admin change)
    if (stopping_ && now_ms_ >= stop_deadline_ms_) {
        // Grace is over: close whatever is still open.
        close_waiters();
        RelayContext relay = context();
        for (std::uint32_t slot = 0; slot < slab_.size(); ++slot) {
            Connection& connection = slab_[slot];
            if (connection.in_use() && !connection.closing() &&
                connection.close(relay, Connection::Ending::graceful, Termination::shutdown) ==
                    Connection::Progress::finished) {
                release(slot);
            }
        }
    }
    close_for_down_backends();
    if (now_ms_ >= next_idle_scan_ms_) {
        next_idle_scan_ms_ = now_ms_ + idle_scan_interval_ms_;
        pipes_->trim();
        RelayContext relay = context();
        for (std::uint32_t slot = 0; slot < slab_.size(); ++slot) {
            Connection& connection = slab_[slot];
            if (!connection.in_use() || connection.closing()) {
                continue;
            }
            const std::uint64_t max_ms = connection.max_duration_ms();
            if (max_ms > 0 && now_ms_ - connection.started_ms() >= max_ms) {
                // Long-lived clients reconnect and meet the backends as they are now.
                ShardStats::add(stats_.max_duration_closes, 1);
                if (connection.close(relay, Connection::Ending::graceful,
                                     Termination::max_duration) == Connection::Progress::finished) {
                    release(slot);
                }
                continue;
            }
            connection.log_interim(relay);
            const unsigned idle_ms = connection.idle_timeout_ms();
            if (idle_ms > 0 && now_ms_ - connection.last_active_ms() >= idle_ms) {
                ShardStats::add(stats_.idle_timeouts, 1);
                if (connection.close(relay, Connection::Ending::graceful,
                                     Termination::idle_timeout) == Connection::Progress::finished) {
                    release(slot);
                }
            }
        }
    }
    arm_tick();
}

void Shard::close_for_down_backends() noexcept {
    if (generation_ == nullptr) {
        return;
    }
    std::uint64_t downs = 0;
    for (const auto& pool : generation_->pools) {
        if (pool->config().on_backend_down == config::OnBackendDown::close) {
            downs += pool->backend_downs();
        }
    }
    if (downs == seen_backend_downs_) {
        return;
    }
    // A backend went down (or a reload changed the pools, which only costs this scan): its
    // clients are closed at once, both sides, and reconnect to a live backend.
    seen_backend_downs_ = downs;
    RelayContext relay = context();
    for (std::uint32_t slot = 0; slot < slab_.size(); ++slot) {
        Connection& connection = slab_[slot];
        if (connection.in_use() && connection.relays_to_down_backend() &&
            connection.close(relay, Connection::Ending::graceful, Termination::backend_down) ==
                Connection::Progress::finished) {
            release(slot);
        }
    }
}

// Starts a connection for a client that holds a place; without a free slot, hands it to a
// shard with room, unless it was `handed` here already.
void Shard::serve(std::uint32_t listener, UniqueFd client, bool handed) noexcept {
    ListenerSlot& slot = listeners_[listener];
    if (free_slots_.empty() && !handed && hand_off(listener, client)) {
        return;  // the other shard owns it and its place now
    }
    if (free_slots_.empty()) {
        slot.runtime->stats->reject(Rejection::no_slot);
        return_place();
        log_throttled(LogLevel::warn,
                      "shard {}: all {} connection slots in use; closing new clients "
                      "({} more since the last report)",
                      options_.id, slab_.size());
        return;  // closed by `client`
    }
    const std::uint32_t connection = free_slots_.back();
    free_slots_.pop_back();
    publish_room();
    ShardStats::add(stats_.connections, 1);
    RelayContext relay = context();
    if (slab_[connection].start(client.release(), *slot.runtime, *generation_, relay) ==
        Connection::Progress::finished) {
        release(connection);
    } else if (slab_[connection].take_queue_request()) {
        enqueue(connection);
    }
}

void Shard::release(std::uint32_t slot) noexcept {
    free_slots_.push_back(slot);
    publish_room();
    return_place();
    resume_paused();
    if (waiting_ > 0) {
        serve_waiters();  // a backend place may have freed with the slot
    }
}

}  // namespace ringlb
