// SPDX-License-Identifier: MIT
// Ring: a full submission queue that cannot be flushed fails the one request, boundedly.
#include <catch2/catch.hpp>

#include <liburing.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>

#include "ringlb/io/ring.hpp"

// Each test uses a ring set up with IORING_SETUP_R_DISABLED: the kernel refuses every
// submission to it (EBADFD) until it is enabled, the state of a ring whose io_uring_enter
// keeps failing, reached without touching the kernel's limits.

TEST_CASE("next_sqe hands out every free slot, then returns null when the flush fails") {
    ringlb::Ring ring(8, IORING_SETUP_R_DISABLED);
    const unsigned slots = io_uring_sq_space_left(ring.raw());
    REQUIRE(slots >= 8);
    for (unsigned i = 0; i < slots; ++i) {
        io_uring_sqe* sqe = ring.next_sqe();
        REQUIRE(sqe != nullptr);
        io_uring_prep_nop(sqe);
    }
    const auto started = std::chrono::steady_clock::now();
    CHECK(ring.next_sqe() == nullptr);  // before the fix: spins here forever
    CHECK(ring.next_sqe() == nullptr);
    // Bounded: a few submit attempts, not a wait (generous for a loaded machine).
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
}

TEST_CASE("make_room asks for several slots at once and fails without taking any") {
    ringlb::Ring ring(8, IORING_SETUP_R_DISABLED);
    const unsigned slots = io_uring_sq_space_left(ring.raw());
    for (unsigned i = 0; i + 1 < slots; ++i) {
        io_uring_prep_nop(ring.next_sqe());
    }
    REQUIRE(io_uring_sq_space_left(ring.raw()) == 1);
    CHECK_FALSE(ring.make_room(2));  // a linked pair would not fit
    CHECK(io_uring_sq_space_left(ring.raw()) == 1);
    CHECK(ring.make_room(1));
}

TEST_CASE("once the kernel takes submissions again, a full queue is flushed and reused") {
    ringlb::Ring ring(8, IORING_SETUP_R_DISABLED);
    const unsigned slots = io_uring_sq_space_left(ring.raw());
    for (unsigned i = 0; i < slots; ++i) {
        io_uring_prep_nop(ring.next_sqe());
    }
    REQUIRE(ring.next_sqe() == nullptr);
    // liburing 2.3 declares io_uring_enable_rings but does not export it: the raw call.
    REQUIRE(::syscall(__NR_io_uring_register, ring.raw()->ring_fd, IORING_REGISTER_ENABLE_RINGS,
                      nullptr, 0) == 0);
    io_uring_sqe* sqe = ring.next_sqe();  // flushes the queued NOPs, then has room
    REQUIRE(sqe != nullptr);
    io_uring_prep_nop(sqe);
    CHECK(io_uring_submit(ring.raw()) >= 1);
}
