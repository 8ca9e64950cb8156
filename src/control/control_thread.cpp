// SPDX-License-Identifier: MIT
// The control thread: health probes (probe.cpp) on a poll(2) loop, rise/fall, slow-start ramps,
// host-name re-resolution, DNS SRV discovery, live-set publication.
#include "ringlb/control/control_thread.hpp"

#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "agent_probe.hpp"
#include "probe.hpp"
#include "ringlb/base/clock.hpp"
#include "ringlb/base/escape.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/base/name_lookup.hpp"
#include "ringlb/health/agent_reply.hpp"
#include "ringlb/health/health_state.hpp"
#include "ringlb/io/socket.hpp"
#include "srv_discovery.hpp"

namespace ringlb {

namespace {
constexpr std::uint64_t kRampStepMs = 100;

// Forgets a backend's agent verdict (its agent was turned off); returns whether it had one
// other than the default.
bool forget_agent(Backend& backend) noexcept {
    const bool had =
        backend.agent_weight_percent.load(std::memory_order_relaxed) != 100 ||
        backend.agent_state.load(std::memory_order_relaxed) != config::BackendState::active ||
        backend.agent_down.load(std::memory_order_relaxed);
    backend.clear_agent();
    return had;
}

}  // namespace

// One backend of one pool under watch: probes when the pool has health checks, and/or
// re-resolution when its address is a host name.
struct ControlThread::Target {
    BackendPool* pool;
    std::shared_ptr<Backend> backend;
    std::optional<config::HealthConfig> settings;  // absent: no probes
    HealthState state;
    std::uint64_t next_due_ms = 0;      // when the next probe starts
    std::uint64_t started_ms = 0;       // when the last probe started
    std::uint64_t deadline_ms = 0;      // when the probe in flight times out
    std::uint64_t next_resolve_ms = 0;  // when the host name is resolved again
    Probe probe;                        // in flight from start_probe to finish_probe
    // The agent check, when settings->agent_port is not 0.
    AgentProbe agent{};                   // in flight from start_agent to finish_agent
    unsigned agent_port = 0;              // the port `agent` was configured for; 0 = none
    std::uint64_t agent_next_due_ms = 0;  // when the next agent probe starts
    std::uint64_t agent_deadline_ms = 0;  // when the agent probe in flight times out
    bool agent_answering = true;          // its last probe got a line (for logging changes)
    bool agent_unknown_logged = false;    // a reply with unknown words was logged once

    [[nodiscard]] bool has_agent() const noexcept { return settings && settings->agent_port != 0; }

    // Follows the pool's settings (reload): a probe in flight under other settings is dropped
    // and the next one starts at once. Another agent port or agent_send keeps the agent's
    // verdict until the new agent answers (adopt() clears the verdict of an agent turned off).
    void configure(std::uint64_t now) {
        if (!has_agent()) {
            agent.abandon();
            agent_port = 0;
        }
        if (!settings) {
            return;
        }
        const auto send_proxy = settings->send_proxy.value_or(pool->config().send_proxy);
        if (probe.configure(*settings, send_proxy, backend->name) && probe.in_flight()) {
            probe.abandon();
            next_due_ms = now;
        }
        if (has_agent() &&
            (agent.configure(settings->agent_send) || agent_port != settings->agent_port)) {
            agent.abandon();
            agent_port = settings->agent_port;
            agent_next_due_ms = now;
            agent_answering = true;  // a new agent that does not answer is logged
        }
    }
};

// One pool's DNS SRV discovery, bound to the pool of the generation in force.
struct ControlThread::Discovery {
    BackendPool* pool;
    std::shared_ptr<DiscoveryStats> stats;
    std::unique_ptr<SrvDiscovery> srv;
};

ControlThread::ControlThread(EpochDomain& epochs)
    : epochs_(epochs), wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!wake_) {
        throw std::system_error(errno, std::generic_category(), "eventfd");
    }
}

ControlThread::~ControlThread() {
    stop();
}

void ControlThread::watch(std::shared_ptr<Generation> generation) {
    {
        std::lock_guard lock(mailbox_lock_);
        mailbox_ = std::move(generation);
    }
    std::uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof(one));
}

void ControlThread::start() {
    thread_ = std::thread([this] { run(); });
}

void ControlThread::stop() noexcept {
    stopping_.store(true, std::memory_order_relaxed);
    std::uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof(one));
    if (thread_.joinable()) {
        thread_.join();
    }
}

void ControlThread::adopt(std::shared_ptr<Generation> generation, std::uint64_t now) {
    std::vector<std::unique_ptr<Target>> targets;
    std::vector<std::shared_ptr<Backend>> cleared;  // agent verdicts a reload turned off
    for (const auto& pool : generation->pools) {
        const auto& health = pool->config().health;
        for (const auto& backend : pool->members()) {
            if ((!health || health->agent_port == 0) && forget_agent(*backend)) {
                cleared.push_back(backend);  // published by the refresh below
            }
            if (!health && backend->host.empty()) {
                continue;
            }
            auto old = std::find_if(targets_.begin(), targets_.end(), [&](const auto& target) {
                return target && target->backend == backend;
            });
            if (old != targets_.end() && (*old)->settings.has_value() == health.has_value()) {
                Target& kept = **old;
                kept.pool = pool.get();
                kept.settings = health;
                // The new settings apply now: the state keeps its streak under the new
                // rise/fall; a shorter interval or timeout does not wait for the schedule the
                // old one set (nor does a shorter re-resolution interval).
                if (health) {
                    kept.state.set_thresholds(health->rise, health->fall);
                    kept.next_due_ms =
                        std::min(kept.next_due_ms, kept.started_ms + health->interval_ms);
                    if (kept.probe.in_flight()) {
                        kept.deadline_ms = kept.started_ms + health->timeout_ms;
                    }
                    kept.agent_next_due_ms =
                        std::min(kept.agent_next_due_ms, now + health->agent_interval_ms);
                    kept.configure(now);
                }
                kept.next_resolve_ms =
                    std::min(kept.next_resolve_ms, now + pool->config().resolve_interval_ms);
                targets.push_back(std::move(*old));
                continue;
            }
            const unsigned rise = health ? health->rise : 1;
            const unsigned fall = health ? health->fall : 1;
            auto target = std::make_unique<Target>(
                Target{pool.get(), backend, health, HealthState(rise, fall), now, 0, 0,
                       now + pool->config().resolve_interval_ms, Probe{}});
            target->configure(now);
            targets.push_back(std::move(target));
        }
    }
    targets_ = std::move(targets);  // probes of dropped targets close with them
    ramping_.clear();
    generation_ = std::move(generation);
    for (const auto& pool : generation_->pools) {
        if (pool->refresh(now, epochs_)) {
            ramping_.push_back(pool.get());
        }
    }
    for (const auto& backend : cleared) {
        log_info("agent verdict cleared pool={} backend={}: the agent check is off", backend->pool,
                 backend->name);
    }
    adopt_discoveries(now);
}

void ControlThread::adopt_discoveries(std::uint64_t now) {
    std::vector<std::unique_ptr<Discovery>> kept;
    for (std::size_t p = 0; p < generation_->pools.size(); ++p) {
        BackendPool& pool = *generation_->pools[p];
        const auto& settings = pool.config().discovery;
        if (!settings) {
            continue;
        }
        auto same = std::find_if(discoveries_.begin(), discoveries_.end(), [&](const auto& d) {
            return d && d->pool->name() == pool.name() &&
                   d->srv->config().dns_srv == settings->dns_srv &&
                   d->srv->config().resolver == settings->resolver;
        });
        if (same != discoveries_.end()) {
            // The same question to the same server: its schedule and last answer go on. The
            // answer is applied to the new pool at once, so that what main carried over
            // matches it exactly.
            Discovery& discovery = **same;
            discovery.pool = &pool;
            discovery.stats = generation_->discovery[p];
            discovery.srv->set_interval(settings->interval_ms);
            if (const auto& last = discovery.srv->last_good()) {
                publish_discovered(discovery, *last, now);
            }
            kept.push_back(std::move(*same));
            continue;
        }
        try {
            kept.push_back(std::make_unique<Discovery>(
                Discovery{&pool, generation_->discovery[p],
                          std::make_unique<SrvDiscovery>(pool.name(), *settings)}));
            log_info("discovery pool={} dns_srv={} resolver={} interval_ms={}", pool.name(),
                     settings->dns_srv,
                     settings->resolver ? settings->resolver->to_string() : "/etc/resolv.conf",
                     settings->interval_ms);
        } catch (const std::exception& error) {
            log_error("discovery pool={} dns_srv={}: cannot start: {}", pool.name(),
                      settings->dns_srv, error.what());
        }
    }
    discoveries_ = std::move(kept);  // queries of dropped ones are cancelled with them
}

void ControlThread::note_ramping(BackendPool& pool, bool ramping) {
    if (ramping && std::find(ramping_.begin(), ramping_.end(), &pool) == ramping_.end()) {
        ramping_.push_back(&pool);
    }
}

void ControlThread::publish_discovered(Discovery& discovery,
                                       const std::vector<DiscoveredBackend>& backends,
                                       std::uint64_t now) {
    BackendPool& pool = *discovery.pool;
    const auto& health = pool.config().health;
    // The first answer's backends start up, as static ones do at start-up (a restarted ringlb
    // serves at once); later ones are probed first.
    const bool first = !discovery.stats->answered.load(std::memory_order_relaxed);
    const MembershipChange change = pool.set_discovered(backends, !health || first, now, epochs_);
    discovery.stats->answered.store(true, std::memory_order_relaxed);
    if (!change.any()) {
        return;
    }
    std::erase_if(targets_, [&](const auto& target) {
        return std::find(change.removed.begin(), change.removed.end(), target->backend) !=
               change.removed.end();
    });
    if (health) {
        for (const auto& backend : change.added) {
            const HealthState state =
                first ? HealthState(health->rise, health->fall)
                      : HealthState::awaiting_first_probe(health->rise, health->fall);
            targets_.push_back(std::make_unique<Target>(
                Target{&pool, backend, health, state, now, 0, 0, 0, Probe{}}));
            targets_.back()->configure(now);
        }
    }
    note_ramping(pool, pool.refresh(now, epochs_));
    std::string added;
    for (const auto& backend : change.added) {
        added += (added.empty() ? "" : ",") + backend->name;
    }
    std::string removed;
    for (const auto& backend : change.removed) {
        removed += (removed.empty() ? "" : ",") + backend->name;
    }
    log_info("discovery changed pool={} backends={} added={} removed={} updated={}", pool.name(),
             pool.discovered().size(), added.empty() ? "-" : added, removed.empty() ? "-" : removed,
             change.updated);
    if (pool.live_count() == 0) {
        log_error("pool {} has no live backend: new clients are closed until one is up",
                  pool.name());
    }
}

void ControlThread::apply_discovery(Discovery& discovery, std::uint64_t now) {
    std::optional<DiscoveryOutcome> outcome = discovery.srv->take_outcome(now);
    if (!outcome) {
        return;
    }
    BackendPool& pool = *discovery.pool;
    const DiscoveryResult before = discovery.srv->last_logged;
    discovery.srv->last_logged = outcome->result;
    discovery.stats->count(outcome->result);
    const std::string& name = discovery.srv->config().dns_srv;
    switch (outcome->result) {
        case DiscoveryResult::success:
            if (before != DiscoveryResult::success && before != DiscoveryResult::count_) {
                log_info("discovery answers again pool={} dns_srv={}", pool.name(), name);
            }
            publish_discovered(discovery, outcome->backends, now);
            break;
        case DiscoveryResult::empty:
            publish_discovered(discovery, {}, now);
            if (before != DiscoveryResult::empty) {
                log_error(
                    "discovery pool={} dns_srv={}: {} (NXDOMAIN or no SRV record): the pool "
                    "has no discovered backend",
                    pool.name(), name, outcome->detail);
            }
            break;
        case DiscoveryResult::timeout:
        case DiscoveryResult::error:
        case DiscoveryResult::count_:
            // Once per change of state: a resolver that is down for an hour is one line.
            if (before != outcome->result) {
                log_warn(
                    "discovery failed pool={} dns_srv={} result={} reason=\"{}\": keeping "
                    "the last answer ({} backends)",
                    pool.name(), name, discovery_result_name(outcome->result), outcome->detail,
                    pool.discovered().size());
            }
            if (!discovery.stats->answered.load(std::memory_order_relaxed)) {
                // Nothing to keep at start-up: /healthz says 503 until an answer comes.
                log_debug("discovery pool={}: still no answer", pool.name());
            }
            break;
    }
}

// A probe takes the path the pool's connections take: their mark (policy routing) and a
// source address of theirs (an agent runs on the backend's host, so it does too).
int ControlThread::probe_socket(const Target& target, const SocketAddress& address,
                                UniqueFd& socket) {
    const int fd = make_stream_socket(address.family());
    if (fd < 0) {
        return fd;
    }
    socket.reset(fd);
    const config::PoolConfig& pool = target.pool->config();
    TcpOptions marked;
    marked.mark = pool.tcp.mark;
    int prepared = apply_tcp_options(fd, marked, TcpOptions{});
    if (prepared == 0 && !pool.source.empty()) {
        const SocketAddress* source = target.pool->next_source(address.family());
        prepared = source == nullptr ? -EAFNOSUPPORT : bind_source(fd, *source);
    }
    return prepared;
}

void ControlThread::start_probe(Target& target, std::uint64_t now) {
    target.started_ms = now;
    target.next_due_ms = now + target.settings->interval_ms;
    if (target.backend->state.load(std::memory_order_relaxed) == config::BackendState::disabled) {
        return;  // an operator took it out: no probes until it is enabled again
    }
    const SocketAddress address = with_port(target.backend->address(), target.settings->port);
    UniqueFd socket;
    if (const int prepared = probe_socket(target, address, socket); prepared < 0) {
        finish_probe(target, {CheckResult::error, static_cast<std::uint32_t>(-prepared), {}}, now);
        return;
    }
    target.deadline_ms = now + target.settings->timeout_ms;
    if (auto outcome = target.probe.begin(std::move(socket), address)) {
        finish_probe(target, *outcome, now);
    }
}

void ControlThread::finish_probe(Target& target, ProbeOutcome outcome, std::uint64_t now) {
    Backend& backend = *target.backend;
    BackendPool& pool = *target.pool;
    backend.record_check(outcome.result, outcome.detail);
    const bool passed = outcome.result == CheckResult::passed;
    backend.last_check_ms.store(now, std::memory_order_relaxed);  // for /status
    switch (target.state.record(passed)) {
        // Publish first, then log: once the line is out, every new connection already sees
        // the new live set (tests and operators act on the line).
        case HealthState::Transition::went_down:
            backend.healthy.store(false, std::memory_order_relaxed);
            pool.note_backend_down();
            publish(pool, now);
            log_warn("backend down pool={} backend={} reason=\"{}\" failures={}", pool.name(),
                     backend.name, describe_check(outcome.result, outcome.detail),
                     target.settings->fall);
            if (pool.live_count() == 0) {
                log_error("pool {} has no live backend: new clients are closed until one is up",
                          pool.name());
            }
            break;
        case HealthState::Transition::went_up:
            backend.healthy.store(true, std::memory_order_relaxed);
            backend.up_since_ms.store(now, std::memory_order_relaxed);
            publish(pool, now);
            log_info("backend up pool={} backend={} successes={}", pool.name(), backend.name,
                     target.settings->rise);
            break;
        case HealthState::Transition::none:
            if (!passed) {
                log_debug("probe failed pool={} backend={} reason=\"{}\"", pool.name(),
                          backend.name, describe_check(outcome.result, outcome.detail));
            }
            break;
    }
}

void ControlThread::publish(BackendPool& pool, std::uint64_t now) {
    try {
        note_ramping(pool, pool.refresh(now, epochs_));
    } catch (const std::exception& failure) {
        log_error("pool {}: cannot publish live set: {}", pool.name(), failure.what());
    }
}

void ControlThread::start_agent(Target& target, std::uint64_t now) {
    target.agent_next_due_ms = now + target.settings->agent_interval_ms;
    if (target.backend->state.load(std::memory_order_relaxed) == config::BackendState::disabled) {
        return;  // an operator took it out: no probes until it is enabled again
    }
    const SocketAddress address = with_port(target.backend->address(), target.settings->agent_port);
    UniqueFd socket;
    if (const int prepared = probe_socket(target, address, socket); prepared < 0) {
        finish_agent(target, {CheckResult::error, static_cast<std::uint32_t>(-prepared), {}}, now);
        return;
    }
    target.agent_deadline_ms = now + target.settings->timeout_ms;
    if (auto outcome = target.agent.begin(std::move(socket), address)) {
        finish_agent(target, *outcome, now);
    }
}

void ControlThread::finish_agent(Target& target, const ProbeOutcome& outcome, std::uint64_t now) {
    Backend& backend = *target.backend;
    BackendPool& pool = *target.pool;
    backend.record_agent_check(outcome.result, outcome.detail);
    backend.last_agent_check_ms.store(now, std::memory_order_relaxed);
    if (outcome.result != CheckResult::passed) {
        // A dead agent changes nothing: the backend keeps the agent's last verdict. Logged
        // once per change, not once per probe.
        if (target.agent_answering) {
            log_warn(
                "agent not answering pool={} backend={} port={} reason=\"{}\": keeping its "
                "last verdict",
                pool.name(), backend.name, target.settings->agent_port,
                describe_check(outcome.result, outcome.detail));
        }
        target.agent_answering = false;
        return;
    }
    if (!target.agent_answering) {
        log_info("agent answers again pool={} backend={} port={}", pool.name(), backend.name,
                 target.settings->agent_port);
        target.agent_answering = true;
    }
    const AgentVerdict before{backend.agent_weight_percent.load(std::memory_order_relaxed),
                              backend.agent_state.load(std::memory_order_relaxed),
                              backend.agent_down.load(std::memory_order_relaxed)};
    const AgentReply reply = parse_agent_reply(outcome.line, before);
    if (reply.unknown_words > 0) {
        backend.agent_unknown_words.fetch_add(reply.unknown_words, std::memory_order_relaxed);
        if (!target.agent_unknown_logged) {
            target.agent_unknown_logged = true;
            log_warn(
                "agent reply with unknown words pool={} backend={} word=\"{}\" reply=\"{}\": "
                "ignored (logged once; counted in /status agent_unknown_words)",
                pool.name(), backend.name, json_escape(reply.first_unknown),
                json_escape(outcome.line));
        }
    }
    if (reply.verdict == before) {
        return;
    }
    backend.agent_weight_percent.store(reply.verdict.weight_percent, std::memory_order_relaxed);
    backend.agent_state.store(reply.verdict.state, std::memory_order_relaxed);
    backend.agent_down.store(reply.verdict.down, std::memory_order_relaxed);
    // Publish first, then log, as for health transitions.
    publish(pool, now);
    log_info("agent verdict pool={} backend={} agent=\"{}\" was=\"{}\" reply=\"{}\"", pool.name(),
             backend.name, describe_agent(reply.verdict), describe_agent(before),
             json_escape(outcome.line));
    if (pool.live_count() == 0) {
        log_error("pool {} has no live backend: new clients are closed until one is up",
                  pool.name());
    }
}

// Host names are looked up here, never on a shard; getaddrinfo may block this thread for a
// while, which only delays probes.
void ControlThread::resolve_due(std::uint64_t now) {
    for (const auto& target : targets_) {
        Backend& backend = *target->backend;
        if (backend.host.empty() || now < target->next_resolve_ms) {
            continue;
        }
        target->next_resolve_ms = now + target->pool->config().resolve_interval_ms;
        const auto looked_up = look_up_host(backend.host, backend.port);
        const auto* address = std::get_if<SocketAddress>(&looked_up);
        if (address == nullptr) {
            log_warn("pool {} backend {}: cannot resolve; keeping {} ({})", target->pool->name(),
                     backend.name, backend.address().to_string(), std::get<std::string>(looked_up));
            continue;
        }
        if (!(*address == backend.address())) {
            log_info("backend address changed pool={} backend={} from={} to={}",
                     target->pool->name(), backend.name, backend.address().to_string(),
                     address->to_string());
            backend.set_address(*address, epochs_);
        }
    }
}

void ControlThread::refresh_ramps(std::uint64_t now) {
    if (ramping_.empty() || now < next_ramp_ms_) {
        return;
    }
    next_ramp_ms_ = now + kRampStepMs;
    std::erase_if(ramping_, [&](BackendPool* pool) { return !pool->refresh(now, epochs_); });
}

void ControlThread::run() noexcept {
    pthread_setname_np(pthread_self(), "ringlb-control");
    std::vector<pollfd> fds;
    std::vector<Target*> polled;
    std::vector<Target*> agents;  // those with an agent probe in fds
    while (!stopping_.load(std::memory_order_relaxed)) {
        std::uint64_t now = monotonic_ms();
        std::shared_ptr<Generation> next;
        {
            std::lock_guard lock(mailbox_lock_);
            next = std::move(mailbox_);
        }
        if (next) {
            try {
                adopt(std::move(next), now);
            } catch (const std::exception& error) {
                log_error("health: cannot adopt the new configuration: {}", error.what());
            }
        }
        resolve_due(now);
        refresh_ramps(now);
        std::uint64_t wake_at = std::min(now + 1000, check_ejections(now));
        if (!ramping_.empty()) {
            wake_at = std::min(wake_at, next_ramp_ms_);
        }
        fds.clear();
        polled.clear();
        fds.push_back(pollfd{wake_.get(), POLLIN, 0});
        // DNS sockets first: [1, 1 + dns) are theirs, discovery by discovery.
        std::vector<std::size_t> dns_fds;
        for (const auto& discovery : discoveries_) {
            discovery->srv->start_if_due(now);
            const std::size_t before = fds.size();
            discovery->srv->add_poll_fds(fds);
            dns_fds.push_back(fds.size() - before);
            wake_at = discovery->srv->wake_at(now, wake_at);
        }
        const std::size_t first_probe = fds.size();
        for (const auto& target : targets_) {
            if (!target->backend->host.empty()) {
                wake_at = std::min(wake_at, target->next_resolve_ms);
            }
            if (!target->settings) {
                continue;
            }
            if (!target->probe.in_flight() && now >= target->next_due_ms) {
                start_probe(*target, now);
            }
            if (target->probe.in_flight()) {
                fds.push_back(pollfd{target->probe.fd(), target->probe.events(), 0});
                polled.push_back(target.get());
                wake_at = std::min(wake_at, target->deadline_ms);
            } else {
                wake_at = std::min(wake_at, target->next_due_ms);
            }
        }
        const std::size_t first_agent = fds.size();
        agents.clear();
        for (const auto& target : targets_) {
            if (!target->has_agent()) {
                continue;
            }
            if (!target->agent.in_flight() && now >= target->agent_next_due_ms) {
                start_agent(*target, now);
            }
            if (target->agent.in_flight()) {
                fds.push_back(pollfd{target->agent.fd(), target->agent.events(), 0});
                agents.push_back(target.get());
                wake_at = std::min(wake_at, target->agent_deadline_ms);
            } else {
                wake_at = std::min(wake_at, target->agent_next_due_ms);
            }
        }
        int timeout = wake_at > now ? static_cast<int>(wake_at - now) : 0;
        if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
            log_error("health poll failed: {}", std::strerror(errno));
        }
        if (fds[0].revents != 0) {
            std::uint64_t drained = 0;
            (void)!::read(wake_.get(), &drained, sizeof(drained));
        }
        now = monotonic_ms();
        // Probes first: their sockets close here, so no number c-ares is about to look at
        // can be one of theirs reused.
        for (std::size_t i = 0; i < polled.size(); ++i) {
            Target& target = *polled[i];
            if (const short revents = fds[first_probe + i].revents; revents != 0) {
                if (auto outcome = target.probe.advance(revents)) {
                    finish_probe(target, *outcome, now);
                    continue;
                }
            }
            if (now >= target.deadline_ms) {
                finish_probe(target, target.probe.expire(), now);
            }
        }
        for (std::size_t i = 0; i < agents.size(); ++i) {
            Target& target = *agents[i];
            if (const short revents = fds[first_agent + i].revents; revents != 0) {
                if (auto outcome = target.agent.advance(revents)) {
                    finish_agent(target, *outcome, now);
                    continue;
                }
            }
            if (now >= target.agent_deadline_ms) {
                finish_agent(target, target.agent.expire(), now);
            }
        }
        std::size_t at = 1;
        for (std::size_t d = 0; d < discoveries_.size(); ++d) {
            discoveries_[d]->srv->process(fds.data() + at, dns_fds[d]);
            at += dns_fds[d];
            apply_discovery(*discoveries_[d], now);
        }
        if (generation_) {
            for (const auto& pool : generation_->pools) {
                pool->release_departed(epochs_);
            }
        }
        epochs_.reclaim();
    }
    discoveries_.clear();
    targets_.clear();
}

}  // namespace ringlb
