// SPDX-License-Identifier: MIT
// A pool's DNS SRV discovery round on a c-ares channel: the SRV query, the addresses of its
// targets, and the backends they make.
#include "srv_discovery.hpp"

#include <ares.h>
#include <arpa/nameser.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "ringlb/base/clock.hpp"

namespace ringlb {

namespace {

constexpr int kTimeoutMs = 1000;  // per try; c-ares doubles it on each further try
constexpr int kTries = 2;
constexpr std::uint64_t kMinIntervalMs = 1000;

// c-ares' process-wide initialisation, once: every channel is made on the control thread.
void initialise_cares() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (int status = ares_library_init(ARES_LIB_INIT_ALL); status != ARES_SUCCESS) {
            throw std::runtime_error(std::string("c-ares: ") + ares_strerror(status));
        }
    });
}

DiscoveryOutcome failure(DiscoveryResult result, std::string detail) {
    DiscoveryOutcome outcome;
    outcome.result = result;
    outcome.detail = std::move(detail);
    return outcome;
}

// How a c-ares status ends a round: nullopt for a status that is not an answer at all (the
// channel is being destroyed).
std::optional<DiscoveryResult> result_of(int status) {
    switch (status) {
        case ARES_SUCCESS:
            return DiscoveryResult::success;
        case ARES_ENOTFOUND:  // NXDOMAIN
        case ARES_ENODATA:    // the name exists, with no record of that type
            return DiscoveryResult::empty;
        case ARES_ETIMEOUT:
            return DiscoveryResult::timeout;
        case ARES_EDESTRUCTION:
        case ARES_ECANCELLED:
            return std::nullopt;
        default:
            return DiscoveryResult::error;
    }
}

}  // namespace

// One address lookup of a round: who asked and for which target.
struct SrvDiscovery::Lookup final {
    SrvDiscovery* owner;
    std::uint64_t round;
    std::string target;
};

SrvDiscovery::SrvDiscovery(std::string pool, const config::DiscoveryConfig& config)
    : pool_(std::move(pool)), config_(config) {
    initialise_cares();
    ares_options options{};
    int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS | ARES_OPT_DOMAINS;
    options.timeout = kTimeoutMs;
    options.tries = kTries;
    // Names are absolute: no search domains (a target must not turn into target.example).
    options.flags = ARES_FLAG_NOSEARCH;
    options.domains = nullptr;
    options.ndomains = 0;
    char lookups[] = "b";  // DNS only: an explicit resolver is the whole truth, not /etc/hosts
    if (config_.resolver) {
        mask |= ARES_OPT_LOOKUPS;
        options.lookups = lookups;
    }
    ares_channel channel = nullptr;
    if (int status = ares_init_options(&channel, &options, mask); status != ARES_SUCCESS) {
        throw std::runtime_error(std::string("c-ares channel: ") + ares_strerror(status));
    }
    channel_ = channel;
    if (config_.resolver) {
        const std::string server = config_.resolver->to_string();
        if (int status = ares_set_servers_ports_csv(channel_, server.c_str());
            status != ARES_SUCCESS) {
            ares_destroy(channel_);
            throw std::runtime_error("c-ares resolver " + server + ": " + ares_strerror(status));
        }
    }
}

SrvDiscovery::~SrvDiscovery() {
    // Every callback runs now with ARES_EDESTRUCTION and touches nothing but its own context.
    ares_destroy(channel_);
}

void SrvDiscovery::start_if_due(std::uint64_t now) {
    if (in_flight_ || outcome_ || now < next_round_ms_) {
        return;
    }
    in_flight_ = true;
    ++round_;
    records_.clear();
    addresses_.clear();
    ttl_s_ = UINT32_MAX;
    pending_lookups_ = 0;
    failure_.reset();
    // May call on_srv before it returns (an immediate failure).
    ares_query(channel_, config_.dns_srv.c_str(), ns_c_in, ns_t_srv, &SrvDiscovery::on_srv, this);
}

void SrvDiscovery::on_srv(void* self, int status, int /*timeouts*/, unsigned char* answer,
                          int length) {
    auto& discovery = *static_cast<SrvDiscovery*>(self);
    const std::optional<DiscoveryResult> result = result_of(status);
    if (!result) {
        return;
    }
    if (*result != DiscoveryResult::success) {
        discovery.finish(failure(*result, ares_strerror(status)));
        return;
    }
    std::optional<SrvAnswer> parsed =
        parse_srv_answer({answer, static_cast<std::size_t>(std::max(length, 0))});
    if (!parsed) {
        discovery.finish(failure(DiscoveryResult::error, "malformed DNS answer"));
        return;
    }
    if (parsed->records.empty()) {
        discovery.finish(failure(DiscoveryResult::empty, "no SRV record"));
        return;
    }
    for (const SrvRecord& record : parsed->records) {
        discovery.ttl_s_ = std::min(discovery.ttl_s_, record.ttl);
    }
    discovery.records_ = std::move(parsed->records);
    // Targets the additional section resolves need no further query.
    for (const AddressRecord& known : parsed->additional) {
        discovery.addresses_[known.name].push_back(known.address);
        discovery.ttl_s_ = std::min(discovery.ttl_s_, known.ttl);
    }
    std::vector<std::string> targets;
    for (const SrvRecord& record : discovery.records_) {
        if (!discovery.addresses_.contains(record.target) &&
            std::find(targets.begin(), targets.end(), record.target) == targets.end()) {
            targets.push_back(record.target);
        }
    }
    discovery.pending_lookups_ = targets.size();
    if (targets.empty()) {
        discovery.complete_round();
        return;
    }
    for (const std::string& target : targets) {
        ares_addrinfo_hints hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        auto* lookup = new Lookup{&discovery, discovery.round_, target};
        // The callback owns `lookup` from here; it may run before this returns.
        ares_getaddrinfo(discovery.channel_, (target + ".").c_str(), nullptr, &hints,
                         &SrvDiscovery::on_addresses, lookup);
    }
}

void SrvDiscovery::on_addresses(void* context, int status, int /*timeouts*/,
                                ares_addrinfo* result) {
    std::unique_ptr<Lookup> lookup(static_cast<Lookup*>(context));
    const std::optional<DiscoveryResult> outcome = result_of(status);
    if (!outcome) {
        if (result != nullptr) {
            ares_freeaddrinfo(result);
        }
        return;  // the channel is going away: `owner` must not be touched
    }
    SrvDiscovery& discovery = *lookup->owner;
    if (lookup->round != discovery.round_ || !discovery.in_flight_) {
        if (result != nullptr) {
            ares_freeaddrinfo(result);
        }
        return;
    }
    if (*outcome == DiscoveryResult::success && result != nullptr) {
        auto& addresses = discovery.addresses_[lookup->target];
        for (ares_addrinfo_node* node = result->nodes; node != nullptr; node = node->ai_next) {
            if (node->ai_addr == nullptr) {
                continue;
            }
            SocketAddress address = SocketAddress::from_sockaddr(node->ai_addr, node->ai_addrlen);
            if (address.family() == AF_INET || address.family() == AF_INET6) {
                addresses.push_back(address);
                discovery.ttl_s_ = std::min(discovery.ttl_s_,
                                            static_cast<std::uint32_t>(std::max(node->ai_ttl, 0)));
            }
        }
    } else if (*outcome == DiscoveryResult::timeout || *outcome == DiscoveryResult::error) {
        // Without this target's addresses the set would lose backends that may well be
        // there: the round fails and the last good set stays.
        if (!discovery.failure_) {
            discovery.failure_ =
                failure(*outcome, "target " + lookup->target + ": " + ares_strerror(status));
        }
    }
    // (A target that does not exist contributes no backend.)
    if (result != nullptr) {
        ares_freeaddrinfo(result);
    }
    if (--discovery.pending_lookups_ == 0) {
        discovery.complete_round();
    }
}

void SrvDiscovery::complete_round() {
    if (failure_) {
        finish(std::move(*failure_));
        return;
    }
    DiscoveryOutcome outcome;
    outcome.result = DiscoveryResult::success;
    outcome.ttl_s = ttl_s_;
    outcome.backends = backends_from_records(records_, addresses_);
    if (outcome.backends.empty()) {
        finish(failure(DiscoveryResult::empty, "no SRV target has an address"));
        return;
    }
    finish(std::move(outcome));
}

void SrvDiscovery::finish(DiscoveryOutcome outcome) {
    in_flight_ = false;
    if (outcome.result == DiscoveryResult::success) {
        last_good_ = outcome.backends;
    } else if (outcome.result == DiscoveryResult::empty) {
        last_good_ = std::vector<DiscoveredBackend>{};
    }
    outcome_ = std::move(outcome);
}

std::optional<DiscoveryOutcome> SrvDiscovery::take_outcome(std::uint64_t now) {
    if (!outcome_) {
        return std::nullopt;
    }
    std::optional<DiscoveryOutcome> outcome = std::move(outcome_);
    outcome_.reset();
    // Sooner than the interval when the answer's records expire sooner (never below 1 s, so
    // that a TTL of 0 does not become a query loop).
    std::uint64_t wait = config_.interval_ms;
    if (outcome->result == DiscoveryResult::success) {
        wait = std::clamp<std::uint64_t>(std::uint64_t{outcome->ttl_s} * 1000, kMinIntervalMs,
                                         config_.interval_ms);
    }
    next_round_ms_ = now + wait;
    return outcome;
}

void SrvDiscovery::add_poll_fds(std::vector<pollfd>& fds) const {
    ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
    const int bits = ares_getsock(channel_, sockets, ARES_GETSOCK_MAXNUM);
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) {
            events |= POLLIN;
        }
        if (ARES_GETSOCK_WRITABLE(bits, i)) {
            events |= POLLOUT;
        }
        if (events == 0) {
            break;  // the sockets come first, in order
        }
        fds.push_back(pollfd{sockets[i], events, 0});
    }
}

std::uint64_t SrvDiscovery::wake_at(std::uint64_t now, std::uint64_t latest) const {
    std::uint64_t wake = latest;
    if (!in_flight_ && !outcome_) {
        wake = std::min(wake, std::max(next_round_ms_, now));
    }
    if (outcome_) {
        wake = now;
    }
    if (in_flight_) {
        timeval max{static_cast<time_t>((latest - std::min(latest, now)) / 1000),
                    static_cast<suseconds_t>((latest - std::min(latest, now)) % 1000 * 1000)};
        timeval next{};
        if (const timeval* until = ares_timeout(channel_, &max, &next)) {
            wake = std::min(wake, now + static_cast<std::uint64_t>(until->tv_sec) * 1000 +
                                      static_cast<std::uint64_t>(until->tv_usec + 999) / 1000);
        }
    }
    return wake;
}

void SrvDiscovery::process(const pollfd* fds, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        if (fds[i].revents == 0) {
            continue;
        }
        const bool readable = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
        const bool writable = (fds[i].revents & (POLLOUT | POLLERR | POLLHUP)) != 0;
        ares_process_fd(channel_, readable ? fds[i].fd : ARES_SOCKET_BAD,
                        writable ? fds[i].fd : ARES_SOCKET_BAD);
    }
    // Deadlines (a try that timed out is sent again, or the query fails).
    ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

}  // namespace ringlb
