// SPDX-License-Identifier: MIT
// Process orchestration: resources, listeners, shard and health threads, signals, stop.
#include "ringlb/app/server.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "ringlb/app/privileges.hpp"
#include "ringlb/health/health_checker.hpp"
#include "ringlb/io/ring.hpp"
#include "ringlb/io/socket.hpp"
#include "ringlb/log.hpp"
#include "ringlb/pool/backend_pool.hpp"
#include "ringlb/pool/epoch.hpp"
#include "ringlb/shard/shard.hpp"

namespace ringlb {

namespace {
constexpr int kListenBacklog = 4096;
constexpr std::size_t kMaxSlotsPerShard = 65536;

// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
            if (CPU_ISSET(cpu, &set)) {
                cpus.push_back(cpu);
            }
        }
    }
    return cpus;
}

// Raises the soft fd limit to the hard one, as nginx's worker_rlimit_nofile would, and
// returns the limit in force.
rlim_t raise_fd_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return 1024;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised{limit.rlim_max, limit.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        }
    }
    return limit.rlim_cur;
}

// Connection slots per shard, from the fd budget: what is left of the limit after the
// descriptors every shard holds from start-up (ring, eventfds, reserve fd, listeners and
// its initial pipes), at two descriptors per connection (its sockets; an idle connection
// holds no pipe). When transfers in flight take pipes from the same budget, accept fails
// with EMFILE and the shard turns the excess away (Shard::shed_load) instead of letting it
// wait in the listen queue.
std::size_t slots_per_shard(rlim_t fd_limit, unsigned workers, std::size_t listeners) {
    constexpr std::size_t kFdsPerConnection = 2;
    constexpr std::size_t kProcessFds = 32;  // stdio, health probes, logs, slack
    const std::size_t per_shard_fixed = 8 + listeners + 2 * kShardInitialPipes;
    const std::size_t fixed = kProcessFds + workers * per_shard_fixed;
    const std::size_t limit = static_cast<std::size_t>(fd_limit);
    const std::size_t budget = limit > fixed ? limit - fixed : 0;
    const std::size_t per_shard = budget / kFdsPerConnection / std::max(workers, 1u);
    return std::clamp<std::size_t>(per_shard, 1, kMaxSlotsPerShard);
}

sigset_t control_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return set;
}
}  // namespace

int run_server(const config::Config& config) {
    // Signals: every thread inherits this mask, so only the main thread's sigwait sees them.
    // A peer that vanishes must cost one connection, never the process: ignore SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    sigset_t signals = control_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    std::vector<int> cpus = allowed_cpus();
    unsigned workers = config.global.workers;
    if (workers == 0) {
        workers = static_cast<unsigned>(std::max<std::size_t>(cpus.size(), 1));
    }
    const rlim_t fd_limit = raise_fd_limit();
    const std::size_t slots = slots_per_shard(fd_limit, workers, config.listeners.size());

    log_info(
        "ringlb {} starting: config={} workers={} listeners={} pools={} fd_limit={} "
        "slots_per_worker={} pipe_size={}",
        RINGLB_VERSION, config.source, workers, config.listeners.size(), config.pools.size(),
        fd_limit, slots, config.global.pipe_size);
    try {
        RingFeatures features = Ring::probe();
        log_info("io_uring: {}", features.describe());
        if (!features.multishot_accept) {
            log_warn("io_uring: no multishot accept (kernel < 5.19); re-arming single accepts");
        }

        std::vector<std::unique_ptr<BackendPool>> pools;
        std::vector<BackendPool*> pool_pointers;
        for (const config::PoolConfig& pool : config.pools) {
            pools.push_back(std::make_unique<BackendPool>(pool));
            pool_pointers.push_back(pools.back().get());
            log_info("pool {} algorithm={} backends={} health={}", pool.name,
                     config::algorithm_name(pool.algorithm), pool.backends.size(),
                     pool.health ? "on" : "off");
        }

        // One SO_REUSEPORT socket per listener per shard. Port 0: the first bind picks the
        // port, the other shards join it.
        std::vector<std::vector<ShardListener>> per_shard(workers);
        for (const config::ListenerConfig& listener : config.listeners) {
            SocketAddress address = listener.bind;
            for (unsigned shard = 0; shard < workers; ++shard) {
                UniqueFd fd = make_listener(address, kListenBacklog);
                if (shard == 0) {
                    address = local_address(fd.get());
                }
                per_shard[shard].push_back(
                    ShardListener{std::move(fd), pools[listener.pool_index].get(), listener.name});
            }
            log_info("listening listener={} address={} pool={}", listener.name, address.to_string(),
                     listener.pool);
        }

        // Everything that needs root (binding, the fd limit) is done: give root up.
        drop_privileges(config.global);

        EpochDomain epochs(workers);
        std::vector<std::unique_ptr<Shard>> shards;
        for (unsigned i = 0; i < workers; ++i) {
            ShardOptions options;
            options.id = i;
            options.cpu = cpus.empty() ? -1 : cpus[i % cpus.size()];
            options.features = features;
            options.slots = slots;
            options.shutdown_grace_ms = config.global.shutdown_grace_ms;
            options.pipe_size = config.global.pipe_size;
            shards.push_back(std::make_unique<Shard>(options, std::move(per_shard[i]), epochs));
        }
        for (auto& shard : shards) {
            shard->start();
        }
        HealthChecker health(pool_pointers, epochs);
        const bool any_health = std::any_of(config.pools.begin(), config.pools.end(),
                                            [](const auto& pool) { return pool.health; });
        if (any_health) {
            health.start();
        }
        log_info("ready workers={}", workers);

        for (;;) {
            int signal_number = 0;
            if (sigwait(&signals, &signal_number) != 0) {
                continue;
            }
            if (signal_number == SIGHUP) {
                log_warn(
                    "SIGHUP received: configuration reload is not available in this "
                    "version; still running the loaded configuration");
                continue;
            }
            std::uint64_t open = 0;
            for (const auto& shard : shards) {
                open += shard->stats().active.load(std::memory_order_relaxed);
            }
            log_info("stopping signal={} listeners=closed connections={} grace_ms={}",
                     strsignal(signal_number), open, config.global.shutdown_grace_ms);
            break;
        }
        for (auto& shard : shards) {
            shard->request_stop();
        }
        for (auto& shard : shards) {
            shard->join();
        }
        health.stop();
        log_info("stopped");
        return 0;
    } catch (const std::exception& error) {
        log_error("start-up failed: {}", error.what());
        return 1;
    }
}

}  // namespace ringlb
