// SPDX-License-Identifier: MIT
// Backend addresses: a re-resolved address replaces the old one, which is freed through the
// epoch domain once no shard can still read it, so DNS round robin does not grow memory.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>

#include "ringlb/base/epoch.hpp"
#include "ringlb/pool/backend.hpp"

namespace {

ringlb::config::BackendConfig backend_config() {
    ringlb::config::BackendConfig config;
    config.address = *ringlb::SocketAddress::parse("10.0.0.1:80");
    config.address_text = "backend.example:80";
    config.host = "backend.example";
    config.port = 80;
    return config;
}

// The n-th of a round robin of distinct addresses, as DNS might answer them.
ringlb::SocketAddress nth_address(unsigned n) {
    return *ringlb::SocketAddress::parse("10." + std::to_string((n >> 16) & 255) + "." +
                                         std::to_string((n >> 8) & 255) + "." +
                                         std::to_string(n & 255) + ":80");
}

}  // namespace

TEST_CASE("10,000 address changes under a reading shard leave one address, not 10,001") {
    ringlb::EpochDomain epochs(1);
    ringlb::Backend backend(backend_config(), "p", 1);

    // A shard: each pass reads the address (as a connect would) between enter and leave.
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> passes{0};
    std::atomic<bool> bad_read{false};
    std::thread shard([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            epochs.enter(0);
            const ringlb::SocketAddress& address = backend.address();
            if (address.port() != 80) {
                bad_read.store(true);  // a freed address (ASan would report it first)
            }
            epochs.leave(0);
            passes.fetch_add(1, std::memory_order_relaxed);
        }
    });
    for (unsigned n = 0; n < 10000; ++n) {
        backend.set_address(nth_address(n), epochs);  // control thread: retires the old one
        if (n % 16 == 0) {
            epochs.reclaim();  // main's housekeeping and the health loop both do this
        }
    }
    stop.store(true);
    shard.join();

    INFO("reader passes: " << passes.load());
    CHECK_FALSE(bad_read.load());
    // Every replaced address is freed once no reader can hold it: the current one remains.
    CHECK(epochs.reclaim() == 0);
    CHECK(epochs.freed() == 10000);
    CHECK(backend.address() == nth_address(9999));
}

TEST_CASE("a replaced address lives until the shard that may read it leaves its pass") {
    ringlb::EpochDomain epochs(1);
    ringlb::Backend backend(backend_config(), "p", 1);

    epochs.enter(0);
    const ringlb::SocketAddress& seen = backend.address();
    backend.set_address(nth_address(7), epochs);
    epochs.reclaim();
    // Still inside its pass: the shard may go on using what it read.
    CHECK(epochs.freed() == 0);
    CHECK(seen == *ringlb::SocketAddress::parse("10.0.0.1:80"));
    CHECK(backend.address() == nth_address(7));
    epochs.leave(0);
    CHECK(epochs.reclaim() == 0);
    CHECK(epochs.freed() == 1);
}

TEST_CASE("address_snapshot gives threads outside the epoch domain a copy") {
    ringlb::EpochDomain epochs(1);
    ringlb::Backend backend(backend_config(), "p", 1);
    const ringlb::SocketAddress copy = backend.address_snapshot();
    backend.set_address(nth_address(1), epochs);
    epochs.reclaim();
    CHECK(copy == *ringlb::SocketAddress::parse("10.0.0.1:80"));
    CHECK(backend.address_snapshot() == nth_address(1));
}
