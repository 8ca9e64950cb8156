// SPDX-License-Identifier: MIT
// SrvAnswer: the SRV records of a DNS response, the addresses its additional section gives, and
// the backends they make.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ringlb/base/socket_address.hpp"
#include "ringlb/pool/backend_pool.hpp"

namespace ringlb {

// One SRV record (RFC 2782): the service runs on `target`:`port`.
struct SrvRecord final {
    std::string target;  // lower case, without the trailing dot
    std::uint16_t priority = 0;
    std::uint16_t weight = 0;
    std::uint16_t port = 0;
    std::uint32_t ttl = 0;  // seconds
};

// An address record of the additional section: what `name` resolves to (port 0).
struct AddressRecord final {
    std::string name;  // lower case, without the trailing dot
    SocketAddress address;
    std::uint32_t ttl = 0;
};

struct SrvAnswer final {
    std::vector<SrvRecord> records;  // in answer order; a "." target (no service) is left out
    std::vector<AddressRecord> additional;  // A and AAAA records only
};

// Reads a whole DNS response message, as a resolver library hands it over, with glibc's
// parser (ns_initparse, ns_parserr, dn_expand); only the fixed SRV fields are read here, after
// checking the record's length. nullopt when the message is malformed. Never reads outside
// `message`, whatever it holds (fuzzed: tests/fuzz/srv_answer_fuzz.cpp).
[[nodiscard]] std::optional<SrvAnswer> parse_srv_answer(std::span<const unsigned char> message);

// The backends an answer makes: each record's port on each address of its target (`addresses`
// maps canonical target names to what they resolved to; a target without addresses makes
// none), with the record's priority, and its weight as a backend weight: 0 counts as 1 (RFC
// 2782's "lowest share"), values above 1000 (ringlb's largest weight) count as 1000. Records
// for the same address and port: the first counts.
[[nodiscard]] std::vector<DiscoveredBackend> backends_from_records(
    std::span<const SrvRecord> records,
    const std::map<std::string, std::vector<SocketAddress>>& addresses);

// `name` as answers are compared: lower case, without a trailing dot.
[[nodiscard]] std::string canonical_dns_name(std::string_view name);

}  // namespace ringlb
