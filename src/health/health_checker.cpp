// SPDX-License-Identifier: MIT
// The health-probe thread: TCP connect probes on a poll(2) loop, rise/fall, publication.
#include "ringlb/health/health_checker.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "ringlb/clock.hpp"
#include "ringlb/health/health_state.hpp"
#include "ringlb/io/socket.hpp"
#include "ringlb/log.hpp"

namespace ringlb {

// One backend under watch.
struct HealthChecker::Target {
    BackendPool* pool;
    std::uint32_t backend;  // index in pool->backends()
    const config::HealthConfig* settings;
    HealthState state;
    std::uint64_t next_due_ms = 0;  // when the next probe starts
    std::uint64_t deadline_ms = 0;  // when the probe in flight times out
    UniqueFd probe;                 // the probe's socket while one is in flight
};

HealthChecker::HealthChecker(std::vector<BackendPool*> pools, EpochDomain& epochs)
    : pools_(std::move(pools)), epochs_(epochs), wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!wake_) {
        throw std::system_error(errno, std::generic_category(), "eventfd");
    }
    for (BackendPool* pool : pools_) {
        const auto& health = pool->config().health;
        if (!health) {
            continue;
        }
        for (std::uint32_t i = 0; i < pool->backends().size(); ++i) {
            targets_.push_back(std::make_unique<Target>(Target{
                pool, i, &*health, HealthState(health->rise, health->fall), 0, 0, UniqueFd{}}));
        }
    }
}

HealthChecker::~HealthChecker() {
    stop();
}

void HealthChecker::start() {
    thread_ = std::thread([this] { run(); });
}

void HealthChecker::stop() noexcept {
    stopping_.store(true, std::memory_order_relaxed);
    std::uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof(one));
    if (thread_.joinable()) {
        thread_.join();
    }
}

void HealthChecker::run() noexcept {
    pthread_setname_np(pthread_self(), "ringlb-health");
    auto publish = [this](BackendPool* pool) {
        std::vector<std::uint32_t> live;
        for (const auto& target : targets_) {
            if (target->pool == pool && target->state.up()) {
                live.push_back(target->backend);
            }
        }
        if (live.empty()) {
            log_error("pool {} has no live backend: new clients are closed until one is up",
                      pool->name());
        }
        try {
            pool->publish(std::move(live), epochs_);
        } catch (const std::exception& error) {
            log_error("pool {}: cannot publish live set: {}", pool->name(), error.what());
        }
    };
    auto finish = [&](Target& target, int error) {
        target.probe.reset();
        const Backend& backend = target.pool->backends()[target.backend];
        switch (target.state.record(error == 0)) {
            // Publish first, then log: once the line is out, every new connection already
            // sees the new live set (tests and operators act on the line).
            case HealthState::Transition::went_down:
                publish(target.pool);
                log_warn("backend down pool={} backend={} reason=\"{}\" failures={}",
                         target.pool->name(), backend.name, std::strerror(error),
                         target.settings->fall);
                break;
            case HealthState::Transition::went_up:
                publish(target.pool);
                log_info("backend up pool={} backend={} successes={}", target.pool->name(),
                         backend.name, target.settings->rise);
                break;
            case HealthState::Transition::none:
                if (error != 0) {
                    log_debug("probe failed pool={} backend={} reason=\"{}\"", target.pool->name(),
                              backend.name, std::strerror(error));
                }
                break;
        }
    };
    auto start_probe = [&](Target& target, std::uint64_t now) {
        const Backend& backend = target.pool->backends()[target.backend];
        target.next_due_ms = now + target.settings->interval_ms;
        int fd = make_stream_socket(backend.address.family());
        if (fd < 0) {
            finish(target, -fd);
            return;
        }
        target.probe.reset(fd);
        if (::connect(fd, backend.address.data(), backend.address.length()) == 0) {
            finish(target, 0);
        } else if (errno == EINPROGRESS) {
            target.deadline_ms = now + target.settings->timeout_ms;
        } else {
            finish(target, errno);
        }
    };

    std::vector<pollfd> fds;
    std::vector<Target*> polled;
    fds.reserve(targets_.size() + 1);
    polled.reserve(targets_.size());
    while (!stopping_.load(std::memory_order_relaxed)) {
        std::uint64_t now = monotonic_ms();
        std::uint64_t wake_at = now + 1000;
        fds.clear();
        polled.clear();
        fds.push_back(pollfd{wake_.get(), POLLIN, 0});
        for (const auto& target : targets_) {
            if (!target->probe && now >= target->next_due_ms) {
                start_probe(*target, now);
            }
            if (target->probe) {
                fds.push_back(pollfd{target->probe.get(), POLLOUT, 0});
                polled.push_back(target.get());
                wake_at = std::min(wake_at, target->deadline_ms);
            } else {
                wake_at = std::min(wake_at, target->next_due_ms);
            }
        }
        int timeout = wake_at > now ? static_cast<int>(wake_at - now) : 0;
        if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
            log_error("health poll failed: {}", std::strerror(errno));
        }
        if (fds[0].revents != 0) {
            break;
        }
        now = monotonic_ms();
        for (std::size_t i = 0; i < polled.size(); ++i) {
            Target& target = *polled[i];
            if (fds[i + 1].revents != 0) {
                int error = 0;
                socklen_t length = sizeof(error);
                if (getsockopt(target.probe.get(), SOL_SOCKET, SO_ERROR, &error, &length) < 0) {
                    error = errno;
                }
                finish(target, error);
            } else if (now >= target.deadline_ms) {
                finish(target, ETIMEDOUT);
            }
        }
        epochs_.reclaim();
    }
    for (const auto& target : targets_) {
        target->probe.reset();
    }
}

}  // namespace ringlb
