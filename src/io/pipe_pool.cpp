// SPDX-License-Identifier: MIT
// A per-shard free list of pipes for splice.
#include "ringlb/io/pipe_pool.hpp"

#include "ringlb/base/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace ringlb {

PipePool::PipePool(std::size_t initial, std::size_t limit, int pipe_size)
    : initial_(std::min(initial, limit)), limit_(limit), pipe_size_(pipe_size) {
    free_.reserve(limit);
    for (std::size_t i = 0; i < initial && i < limit; ++i) {
        Pipe pipe;
        int result = create(pipe);
        if (result < 0) {
            throw std::system_error(-result, std::generic_category(), "pipe2");
        }
        free_.push_back(pipe);
    }
    low_water_ = free_.size();
}

PipePool::~PipePool() {
    for (Pipe& pipe : free_) {
        ::close(pipe.read_fd);
        ::close(pipe.write_fd);
    }
}

int PipePool::create(Pipe& pipe) noexcept {
    if (open_ >= limit_) {
        return -ENOSPC;
    }
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        return -errno;
    }
    if (pipe_size_ > 0) {
        // Best effort: above pipe-max-size (or the user's pipe page quota) the default stays.
        if (fcntl(fds[1], F_SETPIPE_SZ, pipe_size_) < 0 && !size_refused_) {
            size_refused_ = true;
            log_warn("pipe_size {} refused by the kernel ({}); pipes keep their default size",
                     pipe_size_, std::strerror(errno));
        }
    }
    if (int size = fcntl(fds[1], F_GETPIPE_SZ); size > 0) {
        capacity_ = static_cast<std::size_t>(size);
    }
    pipe.read_fd = fds[0];
    pipe.write_fd = fds[1];
    ++open_;
    return 0;
}

int PipePool::acquire(Pipe& pipe) noexcept {
    if (!free_.empty()) {
        pipe = free_.back();
        free_.pop_back();
        low_water_ = std::min(low_water_, free_.size());
        return 0;
    }
    low_water_ = 0;
    return create(pipe);
}

void PipePool::trim() noexcept {
    std::size_t excess = free_.size() > initial_ ? free_.size() - initial_ : 0;
    for (std::size_t unused = std::min(excess, low_water_); unused > 0; --unused) {
        Pipe pipe = free_.back();
        free_.pop_back();
        ::close(pipe.read_fd);
        ::close(pipe.write_fd);
        --open_;
    }
    low_water_ = free_.size();
}

void PipePool::release(Pipe& pipe, bool empty) noexcept {
    if (!pipe.valid()) {
        return;
    }
    if (empty) {
        free_.push_back(pipe);
    } else {
        ::close(pipe.read_fd);
        ::close(pipe.write_fd);
        --open_;
    }
    pipe = Pipe{};
}

}  // namespace ringlb
