// SPDX-License-Identifier: MIT
// A health probe's state machine: connect, write the PROXY header and the request, read the
// reply until it passes, fails, or the control thread's deadline ends it.
#include "probe.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
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
    if (::connect(fd_.get(), address.data(), address.length()) == 0) {
        phase_ = Phase::writing;
        return write_some();
    }
    if (errno == EINPROGRESS) {
        return std::nullopt;
    }
    return end(connect_failure(errno));
}

std::optional<ProbeOutcome> Probe::advance(short revents) {
    if (phase_ == Phase::connecting) {
        int error = 0;
        socklen_t length = sizeof(error);
        if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &length) < 0) {
            error = errno;
        }
        if (error != 0) {
            return end(connect_failure(error));
        }
        if ((revents & POLLOUT) == 0) {
            return std::nullopt;
        }
        phase_ = Phase::writing;
        return write_some();
    }
    if (phase_ == Phase::writing) {
        return write_some();
    }
    return read_some();
}

std::optional<ProbeOutcome> Probe::write_some() {
    while (written_ < request_.size()) {
        const ssize_t n = ::send(fd_.get(), request_.data() + written_, request_.size() - written_,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return std::nullopt;  // poll says when there is room
            }
            // A backend that closed early (a banner and goodbye) still has its say.
            if (health_.type != config::HealthCheckType::connect &&
                (errno == EPIPE || errno == ECONNRESET)) {
                phase_ = Phase::reading;
                return read_some();
            }
            return end({CheckResult::error, static_cast<std::uint32_t>(errno)});
        }
        written_ += static_cast<std::size_t>(n);
    }
    if (health_.type == config::HealthCheckType::connect) {
        return end({CheckResult::passed, 0});
    }
    phase_ = Phase::reading;
    return read_some();
}

std::optional<ProbeOutcome> Probe::read_some() {
    for (;;) {
        bool complete = received_ == kMaxCheckReply;
        if (!complete) {
            const ssize_t n = ::recv(fd_.get(), reply_.get() + received_,
                                     kMaxCheckReply - received_, MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    return std::nullopt;
                }
                if (errno != ECONNRESET) {
                    return end({CheckResult::error, static_cast<std::uint32_t>(errno)});
                }
                complete = true;  // a reset ends the reply like a close
            } else if (n == 0) {
                complete = true;
            } else {
                received_ += static_cast<std::size_t>(n);
                complete = received_ == kMaxCheckReply;
            }
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
