// SPDX-License-Identifier: MIT
// A health probe's state machine: connect, write the PROXY header and the request, read the
// reply until it passes, fails, or the control thread's deadline ends it.
#include "probe.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "probe_socket.hpp"
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

ProbeOutcome connect_failure(int error) noexcept {
    if (error == ECONNREFUSED) {
        return {CheckResult::refused, 0};
    }
    if (error == ETIMEDOUT) {
        return {CheckResult::connect_timeout, 0};
    }
    return {CheckResult::error, static_cast<std::uint32_t>(error)};
}

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
    }
    return true;
}

short Probe::events() const noexcept {
    return phase_ == Phase::reading ? POLLIN : POLLOUT;
}

std::optional<ProbeOutcome> Probe::begin(UniqueFd socket, const SocketAddress& address) {
    fd_ = std::move(socket);
    phase_ = Phase::connecting;
    written_ = 0;
    received_ = 0;
    return connected(start_connect(fd_.get(), address));
}

std::optional<ProbeOutcome> Probe::advance(short revents) {
    if (phase_ == Phase::connecting) {
        return connected(finish_connect(fd_.get(), revents));
    }
    if (phase_ == Phase::writing) {
        return write_some();
    }
    return read_some();
}

std::optional<ProbeOutcome> Probe::connected(ProbeStep step) {
    if (step.result == ProbeStep::Result::wait) {
        return std::nullopt;
    }
    if (step.result != ProbeStep::Result::done) {
        return end(connect_failure(step.error));
    }
    phase_ = Phase::writing;
    return write_some();
}

std::optional<ProbeOutcome> Probe::write_some() {
    const ProbeStep step = write_rest(fd_.get(), request_, written_);
    const bool connect_only = health_.type == config::HealthCheckType::connect;
    switch (step.result) {
        case ProbeStep::Result::wait:
            return std::nullopt;
        case ProbeStep::Result::done:
            if (connect_only) {
                return end({CheckResult::passed, 0});
            }
            break;
        case ProbeStep::Result::peer_gone:
            if (connect_only) {
                return end({CheckResult::error, static_cast<std::uint32_t>(step.error)});
            }
            break;  // a backend that closed early (a banner and goodbye) still has its say
        case ProbeStep::Result::failed:
            return end({CheckResult::error, static_cast<std::uint32_t>(step.error)});
    }
    phase_ = Phase::reading;
    return read_some();
}

std::optional<ProbeOutcome> Probe::read_some() {
    for (;;) {
        bool complete = received_ == kMaxCheckReply;
        if (!complete) {
            const ProbeStep step = read_once(fd_.get(), reply_.get(), kMaxCheckReply, received_);
            if (step.result == ProbeStep::Result::wait) {
                return std::nullopt;
            }
            if (step.result == ProbeStep::Result::failed) {
                return end({CheckResult::error, static_cast<std::uint32_t>(step.error)});
            }
            complete = step.result == ProbeStep::Result::peer_gone || received_ == kMaxCheckReply;
        }
        const ReplyJudgment judgment =
            judge_reply(health_, std::string_view(reply_.get(), received_), complete);
        switch (judgment.verdict) {
            case ReplyVerdict::passed:
                return end({CheckResult::passed, 0});
            case ReplyVerdict::bad_status:
                return end({CheckResult::bad_status, judgment.status});
            case ReplyVerdict::unexpected:
                return end(
                    {received_ == 0 ? CheckResult::closed : CheckResult::unexpected_reply, 0});
            case ReplyVerdict::need_more:
                if (complete) {
                    return end({CheckResult::closed, 0});
                }
                break;
        }
    }
}

ProbeOutcome Probe::expire() noexcept {
    return end(
        {phase_ == Phase::connecting ? CheckResult::connect_timeout : CheckResult::reply_timeout,
         0});
}

void Probe::abandon() noexcept {
    fd_.reset();
}

ProbeOutcome Probe::end(ProbeOutcome outcome) noexcept {
    fd_.reset();
    return outcome;
}

}  // namespace ringlb
