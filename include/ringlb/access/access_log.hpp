// SPDX-License-Identifier: MIT
// Access log: records that shards push into lock-free rings, written as logfmt lines by one thread.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "ringlb/access/termination.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/base/socket_address.hpp"
#include "ringlb/base/unique_fd.hpp"

namespace ringlb {

inline constexpr std::size_t kAccessListenerNameSize = 64;
inline constexpr std::size_t kAccessBackendNameSize = 128;

// One finished connection, or one still open (an interim line,
// listener.access_log_interval_ms). Plain bytes only (no heap), so a shard can fill one on
// its stack and copy it into a ring without allocating.
struct AccessRecord {
    std::int64_t end_time_ns = 0;  // CLOCK_REALTIME when the connection ended (or now, interim)
    SocketAddress client;          // address and port the client connected from
    std::uint64_t bytes_in = 0;    // client -> backend (so far, interim)
    std::uint64_t bytes_out = 0;   // backend -> client (so far, interim)
    std::uint64_t duration_ms = 0;
    Termination ending = Termination::client_closed;  // why it ended; ignored when interim
    bool interim = false;           // still open: the line says end=open and the figures so far
    std::uint16_t destination = 0;  // index into AccessLogWriter's destinations
    // NUL-terminated, cut at a UTF-8 character boundary when too long.
    char listener[kAccessListenerNameSize] = {};
    char backend[kAccessBackendNameSize] = {'-'};  // "-" when no backend was chosen

    void set_listener(std::string_view name) noexcept;
    void set_backend(std::string_view name) noexcept;
};
static_assert(std::is_trivially_copyable_v<AccessRecord>);

// CLOCK_REALTIME in nanoseconds, for AccessRecord::end_time_ns.
[[nodiscard]] std::int64_t realtime_ns() noexcept;

// Appends the record as one logfmt line ending in '\n':
// `2026-11-28T23:59:01.123Z client=1.2.3.4:5678 listener=web backend=127.0.0.1:9001
// bytes_in=123 bytes_out=456 duration_ms=12 end=client_closed` (end= is termination_name, or
// "open" on an interim line). Names that are empty or hold spaces,
// quotes, '=', '\' or control bytes are quoted and escaped, so a name can never forge a line.
// May allocate (the buffer grows): call it on the writer thread, not on a shard.
void format_access_record(const AccessRecord& record, fmt::memory_buffer& out);

// Bounded single-producer (one shard) / single-consumer (the writer thread) ring of records.
// push() never blocks or allocates; when the ring is full the record is dropped and counted.
class alignas(64) AccessLogBuffer final {
  public:
    static constexpr std::size_t kDefaultCapacity = 4096;

    // capacity is rounded up to a power of two (at least 1). Allocates: call at start-up.
    explicit AccessLogBuffer(std::size_t capacity = kDefaultCapacity);
    AccessLogBuffer(const AccessLogBuffer&) = delete;
    AccessLogBuffer& operator=(const AccessLogBuffer&) = delete;

    // Producer thread only. Returns false (and counts a drop) when the ring is full.
    bool push(const AccessRecord& record) noexcept;
    // Consumer thread only. Returns false when the ring is empty.
    [[nodiscard]] bool pop(AccessRecord& out) noexcept;

    [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }
    // Records refused because the ring was full; any thread may read it.
    [[nodiscard]] std::uint64_t dropped() const noexcept {
        return dropped_.load(std::memory_order_relaxed);
    }

  private:
    std::unique_ptr<AccessRecord[]> slots_;
    std::size_t mask_;

    // Producer side, on its own cache line so the consumer's stores do not bounce it.
    alignas(64) std::atomic<std::uint64_t> write_index_{0};
    std::uint64_t cached_read_index_ = 0;  // last read_index_ the producer saw
    std::atomic<std::uint64_t> dropped_{0};

    // Consumer side.
    alignas(64) std::atomic<std::uint64_t> read_index_{0};
    std::uint64_t cached_write_index_ = 0;  // last write_index_ the consumer saw
};

// Owns the log destinations and the thread "ringlb-access" that drains every shard's buffer
// about every 50 ms and writes whole lines with write(2) in large chunks.
class AccessLogWriter final {
  public:
    // Each destination is "stderr" or a file path, opened O_APPEND|O_CREAT with mode 0640, at
    // indices 0, 1, ... in order. Throws like add_destination.
    explicit AccessLogWriter(const std::vector<std::string>& destinations);
    ~AccessLogWriter();
    AccessLogWriter(const AccessLogWriter&) = delete;
    AccessLogWriter& operator=(const AccessLogWriter&) = delete;

    // One per shard, before start(); the reference stays valid for the writer's lifetime.
    AccessLogBuffer& add_buffer(std::size_t capacity = AccessLogBuffer::kDefaultCapacity);
    // Starts the writer thread (throws std::system_error if it cannot). A second call does
    // nothing.
    void start();
    // Asks the writer thread to reopen every file (after logrotate renamed them). Only sets
    // an atomic flag and writes an eventfd, both async-signal-safe; callable from any thread.
    void request_reopen() noexcept;
    // Writes everything still buffered, then joins the thread. Call after the shards stopped
    // pushing. Idempotent; also flushes (on the calling thread) when start() never ran.
    void stop() noexcept;

    // Opens `name` ("stderr" or a file path) as a destination, or finds it open already, and
    // returns the index to put in AccessRecord::destination. Any thread, also while the
    // writer runs: a reload adds files this way. Throws std::system_error naming the path
    // when a file cannot be opened, and std::invalid_argument for an empty name, "off", or
    // more than 65,535 destinations.
    std::uint16_t add_destination(const std::string& name);
    // Closes every destination not named in `names`, after writing the lines already
    // buffered for it; its index may then be reused by add_destination, and records still
    // naming it are dropped and counted. Any thread: for the files no configuration in
    // force names any more. Returns the names it closed.
    std::vector<std::string> keep_only(const std::vector<std::string>& names);
    // The index to put in AccessRecord::destination for a destination string, if open.
    [[nodiscard]] std::optional<std::uint16_t> find_destination(
        std::string_view destination) const noexcept;
    // The open destinations by index; "" at an index that is free.
    [[nodiscard]] std::vector<std::string> destinations() const;

    // Lines formatted and handed to write(2) so far.
    [[nodiscard]] std::uint64_t lines_written() const noexcept {
        return lines_written_.load(std::memory_order_acquire);
    }
    // Records lost: dropped by full buffers plus records naming a destination that does not
    // exist.
    [[nodiscard]] std::uint64_t dropped() const noexcept;
    // Reopen passes completed by the writer thread.
    [[nodiscard]] std::uint64_t reopens() const noexcept {
        return reopens_.load(std::memory_order_acquire);
    }
    // write(2) calls that failed (bytes lost), e.g. a full disk.
    [[nodiscard]] std::uint64_t write_errors() const noexcept {
        return write_errors_.load(std::memory_order_relaxed);
    }

  private:
    struct Destination {
        std::string name;  // "stderr" or the path as configured; empty: a closed slot
        UniqueFd file;     // invalid for stderr
        fmt::memory_buffer pending;

        [[nodiscard]] int fd() const noexcept;
    };

    void run() noexcept;
    void drain_all() noexcept;
    void flush(Destination& destination) noexcept;
    void reopen_files() noexcept;
    void report_drops(bool final) noexcept;
    void wake() noexcept;

    // Held by the writer thread for each whole pass, and by add_destination and keep_only:
    // the destinations, and the consumer side of every buffer, belong to whoever holds it.
    mutable std::mutex mutex_;
    std::vector<Destination> destinations_;
    std::vector<std::unique_ptr<AccessLogBuffer>> buffers_;
    UniqueFd wake_fd_;  // eventfd: request_reopen() and stop() cut the 50 ms wait short
    std::thread thread_;
    bool started_ = false;
    bool stopped_ = false;

    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> reopen_requested_{false};
    std::atomic<std::uint64_t> lines_written_{0};
    std::atomic<std::uint64_t> misrouted_{0};
    std::atomic<std::uint64_t> reopens_{0};
    std::atomic<std::uint64_t> write_errors_{0};

    // Writer thread only. Warnings about lost lines come at most every 10 s.
    static constexpr std::uint64_t kWarningIntervalMs = 10000;
    std::uint64_t drops_reported_ = 0;
    RateLimiter drop_warning_{kWarningIntervalMs};
    RateLimiter write_warning_{kWarningIntervalMs};
};

}  // namespace ringlb
