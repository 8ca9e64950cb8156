// SPDX-License-Identifier: MIT
// BufferRing: a shard's provided-buffer ring, into which multishot receives write small
// messages, and the queues that hold a buffer until its send has completed.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace ringlb {

// The buffers received for one direction of a connection and not yet sent, oldest first:
// linked through the BufferRing, so that a queue is three integers and never allocates.
struct BufferQueue final {
    static constexpr std::uint16_t kNone = 0xffff;
    std::uint16_t head = kNone;
    std::uint16_t tail = kNone;
    std::uint16_t count = 0;
    [[nodiscard]] bool empty() const noexcept { return count == 0; }
};

class BufferRing final {
  public:
    // Maps `count` buffers of `size` bytes (count a power of two, at most 32768), faulted in
    // now so that the first clients do not grow the process, and registers them with `ring`
    // as buffer group `group`. Returns null with `error` set (-errno) when the kernel refuses
    // (before 5.19 it has no buffer rings). Must be called, like the destructor, on the thread
    // that submits to `ring` (IORING_SETUP_SINGLE_ISSUER).
    [[nodiscard]] static std::unique_ptr<BufferRing> create(io_uring& ring, unsigned count,
                                                            unsigned size, std::uint16_t group,
                                                            int& error) noexcept;
    BufferRing(const BufferRing&) = delete;
    BufferRing& operator=(const BufferRing&) = delete;
    ~BufferRing();

    [[nodiscard]] std::uint16_t group() const noexcept { return group_; }
    [[nodiscard]] unsigned buffer_size() const noexcept { return size_; }
    [[nodiscard]] unsigned count() const noexcept { return count_; }
    [[nodiscard]] std::uint8_t* data(std::uint16_t id) noexcept {
        return buffers_ + static_cast<std::size_t>(id) * size_;
    }
    // Buffers the kernel may fill now (handed back and not taken since).
    [[nodiscard]] unsigned available() const noexcept { return available_; }

    // A completion took buffer `id`: it is ours until give_back.
    void taken(std::uint16_t id) noexcept;
    // Hands buffer `id` back to the kernel.
    void give_back(std::uint16_t id) noexcept;

    // Appends buffer `id` holding `length` bytes to `queue`.
    void push(BufferQueue& queue, std::uint16_t id, std::uint32_t length) noexcept;
    [[nodiscard]] std::uint32_t length(std::uint16_t id) const noexcept { return length_[id]; }
    // Removes the oldest buffer of `queue` and hands it back to the kernel.
    void pop(BufferQueue& queue) noexcept;
    // Hands every buffer of `queue` back (its connection is gone).
    void clear(BufferQueue& queue) noexcept;

  private:
    BufferRing(io_uring& ring, unsigned count, unsigned size, std::uint16_t group);

    io_uring& ring_;
    io_uring_buf_ring* entries_ = nullptr;  // the ring shared with the kernel
    std::uint8_t* buffers_ = nullptr;       // count_ * size_ bytes
    std::size_t entries_bytes_ = 0;
    std::size_t buffers_bytes_ = 0;
    unsigned count_;
    unsigned size_;
    unsigned available_ = 0;
    std::uint16_t group_;
    bool registered_ = false;
    std::vector<std::uint16_t> next_;    // next buffer in the same queue, or kNone
    std::vector<std::uint32_t> length_;  // bytes a queued buffer holds
};

}  // namespace ringlb
