// SPDX-License-Identifier: MIT
// io_uring set-up with feature probing and fallbacks for older kernels.
#include "ringlb/io/ring.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

#include "ringlb/base/log.hpp"
#include "ringlb/io/buffer_ring.hpp"

namespace ringlb {

std::string RingFeatures::describe() const {
    return fmt::format(
        "single_issuer={} defer_taskrun={} coop_taskrun={} fast_poll={} multishot_accept={} "
        "cancel_fd_all={} recv_multishot={} msg_ring={} min_wait={}",
        (setup_flags & IORING_SETUP_SINGLE_ISSUER) != 0,
        (setup_flags & IORING_SETUP_DEFER_TASKRUN) != 0,
        (setup_flags & IORING_SETUP_COOP_TASKRUN) != 0,
        (kernel_features & IORING_FEAT_FAST_POLL) != 0, multishot_accept, cancel_fd_all,
        recv_multishot, msg_ring, min_wait);
}

namespace {

// IORING_FEAT_MIN_TIMEOUT (Linux 6.12), newer than liburing 2.3's headers.
constexpr unsigned kFeatureMinTimeout = 1U << 15;

// Sends one IORING_MSG_DATA message from `ring` to a second ring set up with `flags` and
// waits (100 ms at most) for it there: whether shards can hand clients to each other.
bool msg_ring_works(io_uring& ring, unsigned flags) noexcept {
    std::unique_ptr<io_uring_probe, decltype(&io_uring_free_probe)> probe(
        io_uring_get_probe_ring(&ring), &io_uring_free_probe);
    if (!probe || !io_uring_opcode_supported(probe.get(), IORING_OP_MSG_RING)) {
        return false;
    }
    io_uring target{};
    io_uring_params params{};
    params.flags = flags;
    if (io_uring_queue_init_params(8, &target, &params) < 0) {
        return false;
    }
    constexpr std::uint64_t kData = 0x5eed;
    bool delivered = false;
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring)) {
        io_uring_prep_msg_ring(sqe, target.ring_fd, 7, kData, 0);
        io_uring_cqe* cqe = nullptr;
        if (io_uring_submit_and_wait(&ring, 1) == 1 && io_uring_peek_cqe(&ring, &cqe) == 0) {
            const bool sent = cqe->res == 0;
            io_uring_cqe_seen(&ring, cqe);
            __kernel_timespec wait{0, 100000000};
            if (sent && io_uring_wait_cqe_timeout(&target, &cqe, &wait) == 0) {
                delivered = cqe->user_data == kData && cqe->res == 7;
                io_uring_cqe_seen(&target, cqe);
            }
        }
    }
    io_uring_queue_exit(&target);
    return delivered;
}

}  // namespace

Ring::Ring(unsigned entries, unsigned setup_flags) {
    io_uring_params params{};
    params.flags = setup_flags;
    int result = io_uring_queue_init_params(entries, &ring_, &params);
    if (result < 0) {
        throw std::system_error(-result, std::generic_category(), "io_uring_queue_init");
    }
    // Registering the ring fd saves an fdget/fdput per io_uring_enter (liburing 2.2+, 5.18).
    registered_fd_ = io_uring_register_ring_fd(&ring_) == 1;
    if (!registered_fd_) {
        log_debug("io_uring_register_ring_fd refused; using the plain ring fd");
    }
}

Ring::~Ring() {
    io_uring_queue_exit(&ring_);
}

RingFeatures Ring::probe() {
    RingFeatures features;
    // Preferred: one issuer thread per ring and task work run only when we ask for
    // completions (6.1). Fallbacks: cooperative task work (5.19), then nothing special.
    const unsigned candidates[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int last_error = 0;
    for (unsigned flags : candidates) {
        io_uring ring{};
        io_uring_params params{};
        params.flags = flags;
        int result = io_uring_queue_init_params(8, &ring, &params);
        if (result < 0) {
            last_error = -result;
            log_warn("io_uring set-up flags {:#x} refused ({}); falling back", flags,
                     std::strerror(-result));
            continue;
        }
        features.setup_flags = flags;
        features.kernel_features = params.features;
        std::unique_ptr<io_uring_probe, decltype(&io_uring_free_probe)> probe(
            io_uring_get_probe_ring(&ring), &io_uring_free_probe);
        // Multishot accept and cancel-by-fd-all both arrived in 5.19, together with
        // IORING_OP_SOCKET; the opcode probe cannot see flags, so the opcode stands in.
        bool kernel_5_19 = probe && io_uring_opcode_supported(probe.get(), IORING_OP_SOCKET);
        features.multishot_accept = kernel_5_19;
        features.cancel_fd_all = kernel_5_19;
        // Multishot receive arrived in 6.0 with IORING_OP_SEND_ZC (the opcode stands in for
        // the flag again); buffer rings in 5.19: register one to be sure.
        if (probe && io_uring_opcode_supported(probe.get(), IORING_OP_SEND_ZC) &&
            io_uring_opcode_supported(probe.get(), IORING_OP_SEND)) {
            int error = 0;
            features.recv_multishot = BufferRing::create(ring, 8, 4096, 0, error) != nullptr;
        }
        features.msg_ring = msg_ring_works(ring, flags);
        features.min_wait = (params.features & kFeatureMinTimeout) != 0;
        io_uring_queue_exit(&ring);
        return features;
    }
    throw std::system_error(last_error, std::generic_category(), "io_uring is not available");
}

io_uring_sqe* Ring::next_sqe() noexcept {
    return make_room(1) ? io_uring_get_sqe(&ring_) : nullptr;
}

bool Ring::make_room(unsigned count) noexcept {
    for (int attempt = 0; io_uring_sq_space_left(&ring_) < count; ++attempt) {
        if (attempt == kFlushAttempts) {
            return false;
        }
        // Whatever it returns, the space left says whether the kernel took anything.
        (void)io_uring_submit(&ring_);
    }
    return true;
}

int Ring::submit_and_wait(unsigned wait_nr) noexcept {
    return io_uring_submit_and_wait(&ring_, wait_nr);
}

int Ring::submit_and_wait_batch(unsigned wait_nr, unsigned min_wait_us) noexcept {
    // What io_uring_submit does first: publish the queued entries to the kernel's tail (no
    // SQPOLL thread reads it concurrently, so a plain store suffices, as liburing does).
    io_uring_sq& sq = ring_.sq;
    const unsigned tail = sq.sqe_tail;
    if (sq.sqe_head != tail) {
        sq.sqe_head = tail;
        IO_URING_WRITE_ONCE(*sq.ktail, tail);
    }
    const unsigned to_submit = tail - IO_URING_READ_ONCE(*sq.khead);
    // Since 6.12 the field liburing 2.3 calls `pad` is min_wait_usec; no signal mask, no
    // overall timeout (the shard's tick is a timeout request of its own).
    io_uring_getevents_arg arg{};
    arg.pad = min_wait_us;
    const int fd = registered_fd_ ? ring_.enter_ring_fd : ring_.ring_fd;
    const unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG |
                           (registered_fd_ ? IORING_ENTER_REGISTERED_RING : 0U);
    const long result =
        syscall(__NR_io_uring_enter, fd, to_submit, wait_nr, flags, &arg, sizeof(arg));
    return result < 0 ? -errno : static_cast<int>(result);
}

int Ring::limit_workers(unsigned bounded, unsigned unbounded) noexcept {
    unsigned values[2] = {bounded, unbounded};
    return io_uring_register_iowq_max_workers(&ring_, values);
}

}  // namespace ringlb
