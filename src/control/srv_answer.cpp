// SPDX-License-Identifier: MIT
// Reading the SRV records and additional addresses out of a DNS response with glibc's parser.
#include "ringlb/control/srv_answer.hpp"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <climits>
#include <cstring>

namespace ringlb {

namespace {

constexpr std::size_t kSrvFixedBytes = 6;   // priority, weight, port
constexpr std::uint32_t kMaxWeight = 1000;  // a backend's weight range is 1..1000

// The owner name of `rr`, canonical.
std::string owner_of(ns_rr& rr) {
    return canonical_dns_name(ns_rr_name(rr));
}

std::optional<SocketAddress> address_of(const ns_rr& rr) {
    const unsigned char* data = ns_rr_rdata(rr);
    const std::size_t length = ns_rr_rdlen(rr);
    if (ns_rr_type(rr) == ns_t_a && length == 4) {
        sockaddr_in v4{};
        v4.sin_family = AF_INET;
        std::memcpy(&v4.sin_addr, data, 4);
        return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&v4), sizeof(v4));
    }
    if (ns_rr_type(rr) == ns_t_aaaa && length == 16) {
        sockaddr_in6 v6{};
        v6.sin6_family = AF_INET6;
        std::memcpy(&v6.sin6_addr, data, 16);
        return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&v6), sizeof(v6));
    }
    return std::nullopt;
}

}  // namespace

std::string canonical_dns_name(std::string_view name) {
    std::string out(name);
    if (!out.empty() && out.back() == '.') {
        out.pop_back();
    }
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

std::optional<SrvAnswer> parse_srv_answer(std::span<const unsigned char> message) {
    if (message.size() > INT_MAX) {
        return std::nullopt;
    }
    ns_msg parsed{};
    if (ns_initparse(message.data(), static_cast<int>(message.size()), &parsed) < 0) {
        return std::nullopt;
    }
    SrvAnswer answer;
    const int answers = ns_msg_count(parsed, ns_s_an);
    for (int i = 0; i < answers; ++i) {
        ns_rr rr{};
        if (ns_parserr(&parsed, ns_s_an, i, &rr) < 0) {
            return std::nullopt;
        }
        if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in) {
            continue;  // a CNAME on the way, or something we did not ask for
        }
        const unsigned char* data = ns_rr_rdata(rr);
        const std::size_t length = ns_rr_rdlen(rr);
        if (length < kSrvFixedBytes + 1) {
            return std::nullopt;
        }
        SrvRecord record;
        record.priority = static_cast<std::uint16_t>(ns_get16(data));
        record.weight = static_cast<std::uint16_t>(ns_get16(data + 2));
        record.port = static_cast<std::uint16_t>(ns_get16(data + 4));
        record.ttl = ns_rr_ttl(rr);
        char target[NS_MAXDNAME];
        // The name may point back into the message (compression); dn_expand checks every
        // pointer against the message's bounds.
        const int used = dn_expand(ns_msg_base(parsed), ns_msg_end(parsed), data + kSrvFixedBytes,
                                   target, sizeof(target));
        if (used < 0 || static_cast<std::size_t>(used) > length - kSrvFixedBytes) {
            return std::nullopt;
        }
        record.target = canonical_dns_name(target);
        if (record.target.empty()) {
            continue;  // "." : the service is decidedly not available there (RFC 2782)
        }
        answer.records.push_back(std::move(record));
    }
    const int additional = ns_msg_count(parsed, ns_s_ar);
    for (int i = 0; i < additional; ++i) {
        ns_rr rr{};
        if (ns_parserr(&parsed, ns_s_ar, i, &rr) < 0) {
            return std::nullopt;
        }
        if (ns_rr_class(rr) != ns_c_in) {
            continue;  // the EDNS OPT pseudo-record, among others
        }
        if (auto address = address_of(rr)) {
            answer.additional.push_back(AddressRecord{owner_of(rr), *address, ns_rr_ttl(rr)});
        }
    }
    return answer;
}

std::vector<DiscoveredBackend> backends_from_records(
    std::span<const SrvRecord> records,
    const std::map<std::string, std::vector<SocketAddress>>& addresses) {
    std::vector<DiscoveredBackend> backends;
    for (const SrvRecord& record : records) {
        const auto found = addresses.find(record.target);
        if (found == addresses.end()) {
            continue;
        }
        for (const SocketAddress& address : found->second) {
            sockaddr_storage storage{};
            std::memcpy(&storage, address.data(), address.length());
            if (address.family() == AF_INET) {
                reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(record.port);
            } else if (address.family() == AF_INET6) {
                reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(record.port);
            } else {
                continue;
            }
            DiscoveredBackend backend;
            backend.address = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&storage),
                                                           address.length());
            backend.weight = std::clamp<std::uint32_t>(record.weight, 1, kMaxWeight);
            backend.priority = record.priority;
            const bool seen = std::any_of(
                backends.begin(), backends.end(),
                [&](const DiscoveredBackend& other) { return other.address == backend.address; });
            if (!seen) {
                backends.push_back(backend);
            }
        }
    }
    return backends;
}

}  // namespace ringlb
