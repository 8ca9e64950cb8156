// SPDX-License-Identifier: MIT
// A health probe: the PROXY header and the check's request it writes, and how the reply is
// judged (the socket's steps are ProbeSocket's).
#include "probe.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "ringlb/health/check_protocol.hpp"
#include "ringlb/proxy/proxy_protocol.hpp"

namespace ringlb {

namespace {

// A check has no client to speak for: v1 says UNKNOWN, v2 uses the LOCAL command with no
// addresses, as HAProxy's checks do; the backend then takes the connection as the proxy's own.
std::string proxy_header(config::SendProxy version) {
    switch (version) {
        case config::SendProxy::none:
            return {};
        case config::SendProxy::v1:
            return "PROXY UNKNOWN\r\n";
        case config::SendProxy::v2: {
            std::string header(kProxyV2Signature.begin(), kProxyV2Signature.end());
            header += static_cast<char>(0x20 | kProxyV2CommandLocal);
            header += '\0';  // AF_UNSPEC, UNSPEC
            header += '\0';  // no address block
            header += '\0';
            return header;
        }
    }
    return {};
}

}  // namespace

SocketAddress with_port(const SocketAddress& address, unsigned port) noexcept {
    if (port == 0) {
        return address;
    }
    sockaddr_storage storage{};
    std::memcpy(&storage, address.data(), address.length());
    const auto network_port = htons(static_cast<std::uint16_t>(port));
    if (storage.ss_family == AF_INET6) {
        reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = network_port;
    } else {
        reinterpret_cast<sockaddr_in*>(&storage)->sin_port = network_port;
    }
    return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage),
                                        address.length());
}

bool Probe::configure(const config::HealthConfig& health, config::SendProxy send_proxy,
                      const std::string& address_text) {
    if (configured_ && health == health_ && send_proxy == send_proxy_ &&
        address_text == address_text_) {
        return false;
    }
    configured_ = true;
    health_ = health;
    send_proxy_ = send_proxy;
    address_text_ = address_text;
    request_ = proxy_header(send_proxy) + check_request(health, address_text);
    if (health.type != config::HealthCheckType::connect && !reply_) {
        reply_ = std::make_unique<char[]>(kMaxCheckReply);
        capacity_ = kMaxCheckReply;
    }
    return true;
}

std::optional<ProbeOutcome> Probe::written(bool peer_gone, int error) {
    if (health_.type != config::HealthCheckType::connect) {
        return std::nullopt;
    }
    if (peer_gone) {
        return ProbeOutcome{CheckResult::error, static_cast<std::uint32_t>(error), {}};
    }
    return ProbeOutcome{CheckResult::passed, 0, {}};
}

std::optional<ProbeOutcome> Probe::judge(std::string_view reply, bool complete) {
    const ReplyJudgment judgment = judge_reply(health_, reply, complete);
    switch (judgment.verdict) {
        case ReplyVerdict::passed:
            return ProbeOutcome{CheckResult::passed, 0, {}};
        case ReplyVerdict::bad_status:
            return ProbeOutcome{CheckResult::bad_status, judgment.status, {}};
        case ReplyVerdict::unexpected:
            return ProbeOutcome{
                reply.empty() ? CheckResult::closed : CheckResult::unexpected_reply, 0, {}};
        case ReplyVerdict::need_more:
            break;
    }
    return std::nullopt;  // complete: ProbeSocket ends it as closed
}

}  // namespace ringlb
