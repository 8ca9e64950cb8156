// SPDX-License-Identifier: MIT
// TokenBucket: a byte-rate limit (listener.upload_bytes_per_s / download_bytes_per_s) that
// says how much one direction of a connection may read now and how long to wait for more.
#pragma once

#include <algorithm>
#include <cstdint>

namespace ringlb {

// Bytes per second with a depth of 100 ms of the rate (at least one byte): a connection that
// was quiet may read that much at once, and a paused one resumes with up to that much. The
// bucket starts full. take() may overdraw it (a copy-mode receive reads what arrived); the
// debt is paid back before the next read. Not thread-safe: one connection's shard owns it.
class TokenBucket final {
  public:
    static constexpr std::uint64_t kNsPerS = 1000000000;

    // Sets the rate (0 = unlimited) and fills the bucket.
    void reset(std::uint64_t bytes_per_s, std::uint64_t now_ns) noexcept {
        rate_ = bytes_per_s;
        depth_ = std::max<std::uint64_t>(bytes_per_s / 10, 1);
        tokens_ = static_cast<std::int64_t>(depth_);
        fraction_ = 0;
        last_ns_ = now_ns;
    }
    [[nodiscard]] bool limited() const noexcept { return rate_ != 0; }
    [[nodiscard]] std::uint64_t depth() const noexcept { return depth_; }

    // The bytes that may be read now (0 while in debt), after adding what the time since
    // the last call earned.
    [[nodiscard]] std::uint64_t available(std::uint64_t now_ns) noexcept {
        refill(now_ns);
        return tokens_ > 0 ? static_cast<std::uint64_t>(tokens_) : 0;
    }
    void take(std::uint64_t bytes) noexcept { tokens_ -= static_cast<std::int64_t>(bytes); }

    // Nanoseconds until `wanted` bytes (capped at the depth) are available; call after
    // available(). At least one millisecond, so that a slow rate never spins.
    [[nodiscard]] std::uint64_t wait_ns(std::uint64_t wanted) const noexcept {
        const auto target = static_cast<std::int64_t>(std::min(wanted, depth_));
        if (tokens_ >= target) {
            return 0;
        }
        // (bytes missing) * 1e9 / rate, less the fraction of a byte already earned.
        const Wide missing = static_cast<Wide>(target - tokens_) * kNsPerS - fraction_;
        const auto ns = static_cast<std::uint64_t>((missing + rate_ - 1) / rate_);
        return std::max<std::uint64_t>(ns, 1000000);
    }

  private:
    __extension__ using Wide = unsigned __int128;

    void refill(std::uint64_t now_ns) noexcept {
        if (now_ns <= last_ns_) {
            return;
        }
        const std::uint64_t elapsed = std::min<std::uint64_t>(now_ns - last_ns_, 100 * kNsPerS);
        last_ns_ = now_ns;
        // Whole bytes earned; the rest (in byte-nanoseconds) is kept so the rate is exact.
        const Wide earned = static_cast<Wide>(elapsed) * rate_ + fraction_;
        fraction_ = static_cast<std::uint64_t>(earned % kNsPerS);
        // At most 100 s of at most 1 TiB/s: well inside 63 bits.
        const auto bytes = static_cast<std::int64_t>(earned / kNsPerS);
        if (tokens_ + bytes > static_cast<std::int64_t>(depth_)) {
            tokens_ = static_cast<std::int64_t>(depth_);  // full: what it earned beyond is lost
            fraction_ = 0;
        } else {
            tokens_ += bytes;
        }
    }

    std::uint64_t rate_ = 0;      // bytes per second; 0 = unlimited
    std::uint64_t depth_ = 1;     // bytes the bucket holds when full
    std::int64_t tokens_ = 0;     // bytes that may be read; negative after an overdraw
    std::uint64_t fraction_ = 0;  // earned but not yet a whole byte, in byte * ns / s
    std::uint64_t last_ns_ = 0;   // monotonic time of the last refill
};

}  // namespace ringlb
