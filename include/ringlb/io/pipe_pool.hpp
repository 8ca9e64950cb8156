// SPDX-License-Identifier: MIT
// PipePool: a shard's reusable pipes, so that splicing costs no pipe creation per connection
// and an idle connection holds no pipe at all.
#pragma once

#include <cstddef>
#include <vector>

namespace ringlb {

// The two ends of a kernel pipe. Plain ints: the PipePool owns and closes them.
struct Pipe final {
    int read_fd = -1;
    int write_fd = -1;
    [[nodiscard]] bool valid() const noexcept { return read_fd >= 0; }
};

class PipePool final {
  public:
    // Creates `initial` pipes now; more are created on demand, up to `limit` in all.
    // `pipe_size` bytes are asked of F_SETPIPE_SZ (0 keeps the kernel default).
    PipePool(std::size_t initial, std::size_t limit, int pipe_size);
    PipePool(const PipePool&) = delete;
    PipePool& operator=(const PipePool&) = delete;
    ~PipePool();

    // Hands out an empty pipe. Returns -errno (e.g. -EMFILE, or -ENOSPC past the limit)
    // when none can be had; the caller then ends that one connection. Shard thread only.
    [[nodiscard]] int acquire(Pipe& pipe) noexcept;
    // Takes back a pipe; `empty` says whether all bytes were read out of it. A pipe that
    // still holds bytes is closed rather than reused, so no stale byte can leak into
    // another connection. Shard thread only.
    void release(Pipe& pipe, bool empty) noexcept;

    // Closes the idle pipes beyond the initial number that no connection needed since the
    // last trim (the free list's low-water mark), so that a burst's pipes go away once the
    // burst is over, while a steady load keeps what it uses. Shard thread, periodically.
    void trim() noexcept;

    [[nodiscard]] std::size_t idle() const noexcept { return free_.size(); }
    // Bytes one pipe holds (F_GETPIPE_SZ of the pool's pipes).
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] std::size_t open() const noexcept { return open_; }

  private:
    [[nodiscard]] int create(Pipe& pipe) noexcept;

    std::vector<Pipe> free_;     // reserved to `limit` at start-up: push/pop never allocate
    std::size_t open_ = 0;       // pipes in existence, free or lent out
    std::size_t initial_;        // pipes kept even when idle
    std::size_t low_water_ = 0;  // fewest idle pipes seen since the last trim
    std::size_t limit_;
    int pipe_size_;
    std::size_t capacity_ = 65536;  // the kernel default until a pipe says otherwise
    bool size_refused_ = false;     // F_SETPIPE_SZ failed once (logged once)
};

}  // namespace ringlb
