// SPDX-License-Identifier: MIT
// A shard's provided-buffer ring (IORING_REGISTER_PBUF_RING) and its per-direction queues.
#include "ringlb/io/buffer_ring.hpp"

#include <sys/mman.h>

#include <cerrno>

namespace ringlb {

BufferRing::BufferRing(io_uring& ring, unsigned count, unsigned size, std::uint16_t group)
    : ring_(ring), count_(count), size_(size), group_(group) {}

std::unique_ptr<BufferRing> BufferRing::create(io_uring& ring, unsigned count, unsigned size,
                                               std::uint16_t group, int& error) noexcept {
    if (count == 0 || (count & (count - 1)) != 0 || count > 32768) {
        error = -EINVAL;
        return nullptr;
    }
    std::unique_ptr<BufferRing> self;
    try {
        self.reset(new BufferRing(ring, count, size, group));
        self->next_.assign(count, BufferQueue::kNone);
        self->length_.assign(count, 0);
    } catch (...) {
        error = -ENOMEM;
        return nullptr;
    }
    // The ring's entries must be page-aligned: a mapping of their own.
    self->entries_bytes_ = count * sizeof(io_uring_buf);
    void* entries = ::mmap(nullptr, self->entries_bytes_, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (entries == MAP_FAILED) {
        error = -errno;
        return nullptr;
    }
    self->entries_ = static_cast<io_uring_buf_ring*>(entries);
    self->buffers_bytes_ = static_cast<std::size_t>(count) * size;
    void* buffers = ::mmap(nullptr, self->buffers_bytes_, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (buffers == MAP_FAILED) {
        error = -errno;
        return nullptr;
    }
    self->buffers_ = static_cast<std::uint8_t*>(buffers);
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<std::uint64_t>(entries);
    registration.ring_entries = count;
    registration.bgid = group;
    int result = io_uring_register_buf_ring(&ring, &registration, 0);
    if (result < 0) {
        error = result;
        return nullptr;
    }
    self->registered_ = true;
    io_uring_buf_ring_init(self->entries_);
    for (unsigned id = 0; id < count; ++id) {
        io_uring_buf_ring_add(self->entries_, self->data(static_cast<std::uint16_t>(id)), size,
                              static_cast<unsigned short>(id), io_uring_buf_ring_mask(count),
                              static_cast<int>(id));
    }
    io_uring_buf_ring_advance(self->entries_, static_cast<int>(count));
    self->available_ = count;
    error = 0;
    return self;
}

BufferRing::~BufferRing() {
    if (registered_) {
        (void)io_uring_unregister_buf_ring(&ring_, group_);
    }
    if (buffers_ != nullptr) {
        ::munmap(buffers_, buffers_bytes_);
    }
    if (entries_ != nullptr) {
        ::munmap(entries_, entries_bytes_);
    }
}

void BufferRing::taken(std::uint16_t id) noexcept {
    (void)id;
    --available_;
}

void BufferRing::give_back(std::uint16_t id) noexcept {
    io_uring_buf_ring_add(entries_, data(id), size_, id, io_uring_buf_ring_mask(count_), 0);
    io_uring_buf_ring_advance(entries_, 1);
    ++available_;
}

void BufferRing::push(BufferQueue& queue, std::uint16_t id, std::uint32_t length) noexcept {
    length_[id] = length;
    next_[id] = BufferQueue::kNone;
    if (queue.tail == BufferQueue::kNone) {
        queue.head = id;
    } else {
        next_[queue.tail] = id;
    }
    queue.tail = id;
    ++queue.count;
}

void BufferRing::pop(BufferQueue& queue) noexcept {
    const std::uint16_t id = queue.head;
    queue.head = next_[id];
    if (queue.head == BufferQueue::kNone) {
        queue.tail = BufferQueue::kNone;
    }
    --queue.count;
    give_back(id);
}

void BufferRing::clear(BufferQueue& queue) noexcept {
    while (!queue.empty()) {
        pop(queue);
    }
}

}  // namespace ringlb
