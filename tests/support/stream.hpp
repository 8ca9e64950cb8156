// SPDX-License-Identifier: MIT
// The seeded byte stream and the FNV-1a-64 hash shared by the test backend and the tests.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringlb::test {

// splitmix64: a good 64-bit mixer, so that word i of a stream is computable on its own.
[[nodiscard]] constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Fills `out` with bytes [offset, offset + out.size()) of the pseudo-random stream named by
// `seed`. The stream is counter-based: any slice can be produced without the bytes before
// it, so neither side has to keep a copy of what it sends.
inline void fill_stream(std::uint64_t seed, std::uint64_t offset,
                        std::span<std::byte> out) noexcept {
    const std::uint64_t key = splitmix64(seed ^ 0x5eed5eed5eed5eedULL);
    std::size_t i = 0;
    while (i < out.size()) {
        const std::uint64_t position = offset + i;
        const std::uint64_t word = splitmix64(key + position / 8);
        for (unsigned b = position % 8; b < 8 && i < out.size(); ++b, ++i) {
            out[i] = static_cast<std::byte>(word >> (8 * b));
        }
    }
}

// Bytes [offset, offset + length) of stream `seed`, as a string.
[[nodiscard]] inline std::string stream_slice(std::uint64_t seed, std::uint64_t offset,
                                              std::size_t length) {
    std::string text(length, '\0');
    fill_stream(seed, offset,
                std::span<std::byte>(reinterpret_cast<std::byte*>(text.data()), text.size()));
    return text;
}

// Incremental FNV-1a, 64-bit.
class Fnv1a64 final {
  public:
    static constexpr std::uint64_t kOffsetBasis = 0xcbf29ce484222325ULL;
    static constexpr std::uint64_t kPrime = 0x100000001b3ULL;

    void update(std::span<const std::byte> bytes) noexcept {
        std::uint64_t h = hash_;
        for (const std::byte b : bytes) {
            h ^= static_cast<std::uint64_t>(b);
            h *= kPrime;
        }
        hash_ = h;
    }
    void update(std::string_view text) noexcept {
        update(std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()),
                                          text.size()));
    }
    [[nodiscard]] std::uint64_t value() const noexcept { return hash_; }

  private:
    std::uint64_t hash_ = kOffsetBasis;
};

[[nodiscard]] inline std::uint64_t fnv1a64(std::string_view text) noexcept {
    Fnv1a64 hash;
    hash.update(text);
    return hash.value();
}

// FNV-1a-64 and length of the first `length` bytes of stream `seed`, computed in chunks.
[[nodiscard]] inline std::uint64_t stream_hash(std::uint64_t seed, std::uint64_t length) {
    Fnv1a64 hash;
    std::byte chunk[64 * 1024];
    for (std::uint64_t offset = 0; offset < length;) {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(sizeof chunk, length - offset));
        fill_stream(seed, offset, std::span<std::byte>(chunk, n));
        hash.update(std::span<const std::byte>(chunk, n));
        offset += n;
    }
    return hash.value();
}

}  // namespace ringlb::test
