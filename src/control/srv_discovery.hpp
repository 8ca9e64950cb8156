// SPDX-License-Identifier: MIT
// SrvDiscovery: one pool's DNS SRV queries on the control thread, through c-ares, without
// blocking it. Private to src/control/.
#pragma once

#include <poll.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ringlb/config/config.hpp"
#include "ringlb/control/srv_answer.hpp"
#include "ringlb/pool/backend_pool.hpp"
#include "ringlb/runtime/discovery_stats.hpp"

struct ares_channeldata;
struct ares_addrinfo;

namespace ringlb {

// What one round (the SRV query, then the addresses of targets the answer did not give) ended
// with. On timeout or error the pool keeps its last good set.
struct DiscoveryOutcome final {
    DiscoveryResult result = DiscoveryResult::error;
    std::vector<DiscoveredBackend> backends;  // success only
    std::uint32_t ttl_s = 0;                  // success: the shortest TTL of the records used
    std::string detail;                       // why, for the log, when it is not a success
};

// Owns a c-ares channel set up for the pool's resolver (or /etc/resolv.conf's nameservers).
// Control thread only. c-ares retries a truncated UDP answer over TCP by itself.
class SrvDiscovery final {
  public:
    // Throws std::runtime_error when the channel cannot be made (e.g. no nameserver).
    SrvDiscovery(std::string pool, const config::DiscoveryConfig& config);
    SrvDiscovery(const SrvDiscovery&) = delete;
    SrvDiscovery& operator=(const SrvDiscovery&) = delete;
    ~SrvDiscovery();  // cancels what is in flight

    [[nodiscard]] const config::DiscoveryConfig& config() const noexcept { return config_; }
    // A reload's new interval: applies from the next round.
    void set_interval(unsigned interval_ms) noexcept { config_.interval_ms = interval_ms; }

    // Starts a round when none is in flight and one is due at `now`.
    void start_if_due(std::uint64_t now);
    // Appends the channel's sockets with the events c-ares waits for.
    void add_poll_fds(std::vector<pollfd>& fds) const;
    // The earliest time the loop must call process() again (a c-ares deadline, or the next
    // round), given it will wait at most until `latest`.
    [[nodiscard]] std::uint64_t wake_at(std::uint64_t now, std::uint64_t latest) const;
    // Lets c-ares read, write and time out: `fds` are the entries add_poll_fds appended,
    // after poll(2).
    void process(const pollfd* fds, std::size_t count);
    // The outcome of a round that ended, once; the next round is scheduled from `now`.
    [[nodiscard]] std::optional<DiscoveryOutcome> take_outcome(std::uint64_t now);

    // The last successful answer's backends: applied again to a reloaded pool at once.
    [[nodiscard]] const std::optional<std::vector<DiscoveredBackend>>& last_good() const noexcept {
        return last_good_;
    }
    // How the last round ended (count_ before the first), for logging changes only.
    DiscoveryResult last_logged = DiscoveryResult::count_;

  private:
    struct Lookup;
    static void on_srv(void* self, int status, int timeouts, unsigned char* answer, int length);
    static void on_addresses(void* lookup, int status, int timeouts, ares_addrinfo* result);
    void finish(DiscoveryOutcome outcome);
    void complete_round();

    std::string pool_;
    config::DiscoveryConfig config_;
    ares_channeldata* channel_ = nullptr;
    bool in_flight_ = false;
    std::uint64_t next_round_ms_ = 0;  // 0: at once
    std::uint64_t round_ = 0;          // id of the round in flight
    std::optional<DiscoveryOutcome> outcome_;
    std::optional<std::vector<DiscoveredBackend>> last_good_;

    // The round in flight.
    std::vector<SrvRecord> records_;
    std::map<std::string, std::vector<SocketAddress>> addresses_;  // target -> addresses
    std::uint32_t ttl_s_ = 0;
    std::size_t pending_lookups_ = 0;
    std::optional<DiscoveryOutcome> failure_;  // a target lookup failed: the round fails
};

}  // namespace ringlb
