// SPDX-License-Identifier: MIT
// libFuzzer target: load_config_string on arbitrary bytes never crashes, throws or hangs, and
// its result keeps the loader's contract (a config exactly when there is no error).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "ringlb/base/socket_address.hpp"
#include "ringlb/loader/loader.hpp"

namespace {

using ringlb::config::Config;
using ringlb::config::LoadResult;

constexpr std::string_view kSource = "fuzz.toml";

// Reports a broken invariant and aborts, which libFuzzer records as a crash with the input.
[[noreturn]] void violated(const char* what) {
    std::fprintf(stderr, "config_fuzz: invariant violated: %s\n", what);
    std::abort();
}

void check(bool condition, const char* what) {
    if (!condition) {
        violated(what);
    }
}

bool in_range(unsigned value, unsigned min, unsigned max) {
    return value >= min && value <= max;
}

// What the header promises of a valid config: ranges, non-empty lists, resolved pool names.
void check_config(const Config& config) {
    check(config.source == kSource, "config.source is the name given");
    check(config.global.workers <= 1024, "workers in 0..1024");
    check(in_range(config.global.pipe_size, 4096, 16 * 1024 * 1024), "pipe_size in range");
    check(!config.listeners.empty(), "a valid config has a listener");
    for (const auto& listener : config.listeners) {
        check(listener.pool_index < config.pools.size(), "pool_index names a pool");
        check(config.pools[listener.pool_index].name == listener.pool,
              "pool_index is the pool named");
        // A bind that was accepted prints as text that parses back to the same address.
        auto again = ringlb::SocketAddress::parse(listener.bind.to_string());
        check(again.has_value() && *again == listener.bind, "bind round-trips through text");
    }
    for (const auto& pool : config.pools) {
        check(!pool.name.empty(), "a pool has a name");
        check(!pool.backends.empty(), "a pool has a backend");
        check(in_range(pool.connect_timeout_ms, 1, 600000), "connect_timeout_ms in range");
        check(pool.retries <= 100, "retries in range");
        if (pool.health) {
            check(pool.health->timeout_ms <= pool.health->interval_ms,
                  "health timeout within interval");
            check(in_range(pool.health->rise, 1, 1000) && in_range(pool.health->fall, 1, 1000),
                  "rise and fall in range");
        }
        for (const auto& backend : pool.backends) {
            check(in_range(backend.weight, 1, 1000), "weight in range");
            check(in_range(backend.port, 1, 65535), "backend port in 1..65535");
            if (backend.host.empty()) {
                auto parsed = ringlb::SocketAddress::parse(backend.address_text);
                check(parsed.has_value() && *parsed == backend.address,
                      "address_text is the backend's address");
                check(backend.address.port() == backend.port, "the address carries the port");
            } else {
                // Loaded with HostNames::keep_unresolved: the name and port are kept, and the
                // address stays unset until a resolver fills it.
                check(backend.address_text.starts_with(backend.host + ":"),
                      "a host-name backend keeps its name and port");
            }
        }
    }
}

// Whether `text` holds a code point that toml++ 3.3.0's is_non_ascii_horizontal_whitespace()
// sends to TOML_UNREACHABLE (marzer/tomlplusplus#190, #295; fixed upstream by PR #305): one
// in U+00A1..U+0499, U+2C5E..U+3057 (but U+3000) or U+FB26..U+FEFE, met outside a string or
// after a line-ending backslash. Debian's GCC-built library reports such text as a TOML error
// (tests/unit/config_regression_test.cpp checks every one of them), but the instrumented
// header-only parser stops at UBSan's check, so the fuzzer skips these inputs. Remove once the
// toml++ in use has the fix.
bool hits_toml_unreachable(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto lead = static_cast<unsigned char>(text[i]);
        char32_t c = 0;
        if (lead >= 0xC2 && lead <= 0xDF && i + 1 < text.size()) {
            c = static_cast<char32_t>(((lead & 0x1Fu) << 6) |
                                      (static_cast<unsigned char>(text[i + 1]) & 0x3Fu));
        } else if (lead >= 0xE0 && lead <= 0xEF && i + 2 < text.size()) {
            c = static_cast<char32_t>(((lead & 0x0Fu) << 12) |
                                      ((static_cast<unsigned char>(text[i + 1]) & 0x3Fu) << 6) |
                                      (static_cast<unsigned char>(text[i + 2]) & 0x3Fu));
        }
        if ((c >= 0xA1 && c <= 0x499) || (c >= 0x2C5E && c <= 0x3057 && c != 0x3000) ||
            (c >= 0xFB26 && c <= 0xFEFE)) {
            return true;
        }
    }
    return false;
}

void check_result(const LoadResult& result) {
    // The contract of LoadResult: a config exactly when there is no error.
    check(result.config.has_value() == result.errors.empty(), "config set iff errors empty");
    for (const auto& error : result.errors) {
        check(error.source == kSource, "a diagnostic names the source");
        check(!error.message.empty(), "a diagnostic has a message");
        check(!error.to_string().empty(), "a diagnostic prints");
    }
    if (result.config) {
        check_config(*result.config);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (hits_toml_unreachable(text)) {
        return -1;  // not added to the corpus
    }
    // load_config_string is noexcept: an escaping exception terminates, which is a crash here.
    LoadResult result = ringlb::config::load_config_string(
        text, kSource, ringlb::config::HostNames::keep_unresolved);
    check_result(result);
    // The loader keeps no state between calls: the same bytes give the same answer.
    LoadResult again = ringlb::config::load_config_string(
        text, kSource, ringlb::config::HostNames::keep_unresolved);
    check(again.errors.size() == result.errors.size() &&
              again.config.has_value() == result.config.has_value(),
          "loading is deterministic");
    for (std::size_t i = 0; i < result.errors.size(); ++i) {
        check(again.errors[i].to_string() == result.errors[i].to_string(),
              "loading is deterministic");
    }
    return 0;
}
