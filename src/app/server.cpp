// SPDX-License-Identifier: MIT
// Process orchestration: start everything, wait for signals, reload and stop, in order.
#include "ringlb/app/server.hpp"

#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "access_log_files.hpp"
#include "admin_endpoint.hpp"
#include "fd_budget.hpp"
#include "listener_sockets.hpp"
#include "ringlb/access/client_table.hpp"
#include "ringlb/app/privileges.hpp"
#include "ringlb/app/service_notifier.hpp"
#include "ringlb/base/clock.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/control/control_thread.hpp"
#include "ringlb/io/ring.hpp"
#include "ringlb/loader/loader.hpp"
#include "ringlb/runtime/control.hpp"
#include "ringlb/runtime/generation.hpp"
#include "ringlb/shard/shard.hpp"
#include "shard_group.hpp"
#include "socket_checks.hpp"

namespace ringlb {

namespace {
constexpr std::size_t kClientTableSize = 65536;
// How often the main thread looks for retired generations to free and for dead shards.
constexpr long kHousekeepingNs = 200 * 1000000L;

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

unsigned workers_of(const config::Config& config) {
    if (config.global.workers != 0) {
        return config.global.workers;
    }
    return static_cast<unsigned>(std::max<std::size_t>(allowed_cpus().size(), 1));
}

// Signals: every thread inherits this mask, so only the main thread's sigwait sees them.
// A peer that vanishes must cost one connection, never the process: ignore SIGPIPE.
// Returns the signals main waits for.
sigset_t block_control_signals() noexcept {
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

// What this kernel's io_uring offers the shards, as the log says it once.
RingFeatures probe_ring() {
    RingFeatures features = Ring::probe();
    log_info("io_uring: {}", features.describe());
    if (!features.msg_ring) {
        log_warn(
            "io_uring: no IORING_OP_MSG_RING between rings (kernel < 5.18); a shard whose slots "
            "are full closes new clients instead of handing them to another shard");
    }
    if (!features.multishot_accept) {
        log_warn("io_uring: no multishot accept (kernel < 5.19); re-arming single accepts");
    }
    return features;
}

void log_pools(const Generation& generation) {
    for (const auto& pool : generation.pools) {
        log_info("pool {} algorithm={} backends={} health={}", pool->name(),
                 config::algorithm_name(pool->config().algorithm), pool->size(),
                 pool->config().health ? "on" : "off");
    }
}

// A reload applies the command line's overrides again, as the start did.
void apply_command_line(config::Config& config, const CliOptions& options) {
    if (options.workers) {
        config.global.workers = *options.workers;
    }
    if (options.log_level) {
        config.global.log_level = *options.log_level;
    }
}

void warn_about_restart_only_settings(const config::Config& config, const config::Config& old,
                                      unsigned workers) {
    if (workers_of(config) != workers || config.global.pipe_size != old.global.pipe_size ||
        config.global.splice != old.global.splice || config.global.user != old.global.user ||
        config.global.group != old.global.group ||
        config.global.batch_wait_us != old.global.batch_wait_us) {
        log_warn(
            "reload: workers, pipe_size, splice, batch_wait_us, user and group take effect only "
            "at a restart");
    }
    if (config.global.shard_steering != old.global.shard_steering) {
        log_warn(
            "reload: shard_steering applies to listeners bound from now on; the sockets kept "
            "keep their program until a restart");
    }
}

// A kept listening socket cannot go back to the kernel's keepalive value once one was set (no
// "unset" in the socket API): say so when a reload removes one while keepalive stays on.
void warn_about_kept_keepalive(const config::Config& config, const config::Config& old) {
    for (const auto& listener : config.listeners) {
        for (const auto& before : old.listeners) {
            if (listener_key(before) != listener_key(listener) || !listener.tcp.keepalive()) {
                continue;
            }
            const TcpOptions& was = before.tcp;
            const TcpOptions& now = listener.tcp;
            if ((was.keepalive_idle_s != 0 && now.keepalive_idle_s == 0) ||
                (was.keepalive_interval_s != 0 && now.keepalive_interval_s == 0) ||
                (was.keepalive_count != 0 && now.keepalive_count == 0)) {
                log_warn(
                    "reload: listener {}: a keepalive_* value removed from the file keeps its "
                    "previous value on the listening socket until a restart; set it explicitly",
                    listener.name);
            }
        }
    }
}

void log_reloaded(const std::string& path, const Generation& generation) {
    std::size_t backends = 0;
    for (const auto& pool : generation.pools) {
        backends += pool->size();
    }
    log_info("reloaded config={} generation={} listeners={} pools={} backends={}", path,
             generation.id, generation.listeners.size(), generation.pools.size(), backends);
}

// Everything run_server starts, and the reload that swaps generations under it.
class Server final {
  public:
    Server(const config::Config& config, CliOptions options)
        : options_(std::move(options)),
          notifier_(ServiceNotifier::from_environment()),
          workers_(workers_of(config)),
          epochs_(workers_),
          control_(epochs_),
          listeners_(workers_),
          access_logs_(workers_, control_),
          admin_(control_) {}

    int run(const config::Config& config);

  private:
    // Raises the fd limit and returns the connection slots it leaves each shard, after
    // logging the start-up line with them.
    std::size_t plan_connection_slots(const config::Config& config);
    // Opens, binds and starts everything `config` asks for, giving root up once bound.
    // Throws what failed; stop_threads(true) then stops what was started.
    void start(const config::Config& config, std::size_t slots);
    void start_shards(const config::Config& config,
                      std::vector<std::unique_ptr<ShardUpdate>> updates,
                      const RingFeatures& features, std::size_t slots);
    // Waits for signals, reloading on SIGHUP and reopening access logs on SIGUSR1, with
    // housekeeping in between. Returns "" after SIGTERM or SIGINT, or why a shard broke.
    std::string serve(const sigset_t& signals);
    // After SIGTERM or SIGINT: keeps serving, listeners open and /healthz 503, for
    // global.shutdown_delay_ms (a second SIGTERM or SIGINT cuts it short). Returns "" or why a
    // shard broke.
    std::string delay_stop(const sigset_t& signals, int signal_number);
    // After SIGTERM or SIGINT: stops with the grace period of the configuration in force.
    // Returns the exit status.
    int stop();
    void reload();
    bool load_new_generation();
    // The file of the command line read again with its overrides, or nothing (the reload
    // failed, every error logged).
    std::optional<config::Config> read_config_again();
    void housekeeping() noexcept;
    // The service manager's one-line status: what is being served.
    std::string serving_status() const;
    // Stops the shards (with the grace period of the configuration in force, or at once) and
    // then the other threads.
    void stop_threads(bool immediately) noexcept;
    // A broken shard is fatal: the listeners it holds would leave clients hanging. Logs why,
    // stops everything at once and returns the exit status (1) for the service manager to
    // restart ringlb.
    int fail(const std::string& why) noexcept;

    CliOptions options_;
    ServiceNotifier notifier_;
    unsigned workers_;
    EpochDomain epochs_;
    Control control_;
    ListenerSockets listeners_;
    AccessLogFiles access_logs_;
    std::unique_ptr<ClientTable> clients_;
    ShardGroup shards_;
    std::unique_ptr<ControlThread> health_;
    AdminEndpoint admin_;
    std::vector<std::shared_ptr<Generation>> retired_;
    std::uint64_t next_generation_ = 1;
};

int Server::run(const config::Config& config) {
    const sigset_t signals = block_control_signals();
    const std::size_t slots = plan_connection_slots(config);
    try {
        start(config, slots);
        log_info("ready workers={}", workers_);
        notifier_.ready(serving_status());
        if (std::string broken = serve(signals); !broken.empty()) {
            return fail(broken);
        }
        return stop();
    } catch (const std::exception& error) {
        log_error("start-up failed: {}", error.what());
        stop_threads(true);  // the shards started so far
        return 1;
    }
}

std::size_t Server::plan_connection_slots(const config::Config& config) {
    const rlim_t fd_limit = raise_fd_limit();
    const std::size_t slots = slots_per_shard(fd_limit, workers_, config.listeners.size());
    log_info(
        "ringlb {} starting: config={} workers={} listeners={} pools={} fd_limit={} "
        "slots_per_worker={} pipe_size={} splice={} batch_wait_us={} max_connections={}",
        RINGLB_VERSION, config.source, workers_, config.listeners.size(), config.pools.size(),
        fd_limit, slots, config.global.pipe_size, config::splice_name(config.global.splice),
        config.global.batch_wait_us, config.global.max_connections);
    warn_if_fd_limit_short(config.global.max_connections, fd_limit, workers_,
                           config.listeners.size());
    return slots;
}

void Server::start(const config::Config& config, std::size_t slots) {
    const RingFeatures features = probe_ring();
    if (config.global.splice == config::Splice::automatic && !features.recv_multishot) {
        log_warn(
            "io_uring: no multishot receive into a buffer ring (kernel < 6.0); "
            "small messages are spliced like bulk (splice = \"always\")");
    }
    if (config.global.batch_wait_us > 0 && !features.min_wait) {
        log_warn(
            "io_uring: no minimum wait for a batch of completions (kernel < 6.12); "
            "batch_wait_us = {} is ignored and every completion is handled at once",
            config.global.batch_wait_us);
    }
    access_logs_.open(config);
    clients_ = std::make_unique<ClientTable>(kClientTableSize);
    control_.clients = clients_.get();
    control_.max_connections.store(config.global.max_connections);

    auto generation = std::make_shared<Generation>(config, nullptr, access_logs_.destinations(),
                                                   next_generation_++, monotonic_ms(), workers_);
    log_pools(*generation);
    check_socket_settings(config);
    auto sockets = listeners_.bind_new(config);
    if (config.admin) {
        admin_.open(*config.admin);
        warn_about_admin(config.admin);
    }

    // Everything that needs root (binding, the fd limit) is done: give root up.
    drop_privileges(config.global, uses_marks(config));
    check_socket_settings(config);  // what the process kept suffices for every new socket

    listeners_.record(sockets);
    start_shards(config, listeners_.shard_updates(*generation, sockets, access_logs_.buffers()),
                 features, slots);
    control_.set_generation(generation);
    health_ = std::make_unique<ControlThread>(epochs_);
    health_->watch(generation);
    health_->start();
    admin_.start();
}

void Server::start_shards(const config::Config& config,
                          std::vector<std::unique_ptr<ShardUpdate>> updates,
                          const RingFeatures& features, std::size_t slots) {
    const std::vector<int> cpus = allowed_cpus();
    const std::vector<AccessLogBuffer*>& access_buffers = access_logs_.buffers();
    for (unsigned i = 0; i < workers_; ++i) {
        ShardOptions shard_options;
        shard_options.id = i;
        shard_options.cpu = cpus.empty() ? -1 : cpus[i % cpus.size()];
        shard_options.features = features;
        shard_options.slots = slots;
        shard_options.pipe_size = config.global.pipe_size;
        shard_options.copy_small_messages =
            config.global.splice == config::Splice::automatic && features.recv_multishot;
        shard_options.batch_wait_us = features.min_wait ? config.global.batch_wait_us : 0;
        ShardServices services;
        services.clients = clients_.get();
        services.access_log = access_buffers.empty() ? nullptr : access_buffers[i];
        services.open_connections = &control_.open_connections;
        services.max_connections = &control_.max_connections;
        services.waiters = &shards_.waiters();
        services.peers = shards_.peers(workers_);
        services.peer_count = workers_;
        const Shard& shard = shards_.add(shard_options, std::move(updates[i]), epochs_, services);
        control_.shard_stats.push_back(&shard.stats());
    }
    shards_.start();
}

std::string Server::serve(const sigset_t& signals) {
    for (;;) {
        if (std::string broken = shards_.broken(); !broken.empty()) {
            return broken;
        }
        timespec wait{0, kHousekeepingNs};
        const int signal_number = sigtimedwait(&signals, nullptr, &wait);
        if (signal_number < 0) {
            housekeeping();
            continue;
        }
        if (signal_number == SIGHUP) {
            reload();
            continue;
        }
        if (signal_number == SIGUSR1) {
            access_logs_.reopen();
            continue;
        }
        // /healthz answers 503 from now on: whatever routes clients here can stop doing so
        // while the listeners still accept (global.shutdown_delay_ms).
        control_.shutting_down.store(true);
        notifier_.stopping();
        if (std::string broken = delay_stop(signals, signal_number); !broken.empty()) {
            return broken;
        }
        log_info("stopping signal={} listeners=closed connections={} grace_ms={}",
                 strsignal(signal_number), control_.open_connections.load(),
                 control_.generation()->config.global.shutdown_grace_ms);
        return {};
    }
}

std::string Server::delay_stop(const sigset_t& signals, int signal_number) {
    const unsigned delay_ms = control_.generation()->config.global.shutdown_delay_ms;
    if (delay_ms == 0) {
        return {};
    }
    log_info("stopping signal={} healthz=503 listeners=open delay_ms={}", strsignal(signal_number),
             delay_ms);
    // +1: monotonic_ms() truncates, and the delay is a minimum the routing layer relies on.
    const std::uint64_t until = monotonic_ms() + delay_ms + 1;
    for (std::uint64_t now = monotonic_ms(); now < until; now = monotonic_ms()) {
        if (std::string broken = shards_.broken(); !broken.empty()) {
            return broken;
        }
        const std::uint64_t wait_ms =
            std::min<std::uint64_t>(until - now, kHousekeepingNs / 1000000);
        timespec wait{static_cast<time_t>(wait_ms / 1000),
                      static_cast<long>(wait_ms % 1000) * 1000000L};
        const int next = sigtimedwait(&signals, nullptr, &wait);
        if (next < 0) {
            housekeeping();
        } else if (next == SIGUSR1) {
            access_logs_.reopen();
        } else if (next == SIGHUP) {
            log_warn("reload ignored: stopping");
        } else {
            // A second SIGTERM or SIGINT: the operator does not want to wait.
            log_info("stopping signal={}: delay cut short", strsignal(next));
            break;
        }
    }
    return {};
}

int Server::stop() {
    control_.shutting_down.store(true);
    stop_threads(false);
    if (std::string broken = shards_.broken(); !broken.empty()) {
        log_error("stopped with a dead shard: {}", broken);
        return 1;
    }
    log_info("stopped");
    return 0;
}

void Server::stop_threads(bool immediately) noexcept {
    shards_.stop(immediately, immediately || !control_.generation()
                                  ? 0
                                  : control_.generation()->config.global.shutdown_grace_ms);
    if (health_) {
        health_->stop();
    }
    admin_.stop();
    access_logs_.stop();
}

int Server::fail(const std::string& why) noexcept {
    log_error("{}; exiting with status 1 so that the service manager restarts ringlb", why);
    notifier_.stopping();
    control_.shutting_down.store(true);
    stop_threads(true);
    log_info("stopped");
    return 1;
}

std::string Server::serving_status() const {
    std::shared_ptr<Generation> generation = control_.generation();
    return fmt::format("serving generation={} listeners={} pools={} workers={}", generation->id,
                       generation->listeners.size(), generation->pools.size(), workers_);
}

// SIGHUP, framed for the service manager: RELOADING=1, then READY=1 whatever the outcome
// (a failed reload leaves the previous configuration serving).
void Server::reload() {
    notifier_.reloading();
    const bool loaded = load_new_generation();
    notifier_.ready(loaded ? serving_status()
                           : serving_status() + "; the last reload failed, see the log");
}

// A new generation from the file, or the old one kept with every error logged.
bool Server::load_new_generation() {
    std::optional<config::Config> loaded = read_config_again();
    if (!loaded) {
        return false;
    }
    const config::Config& config = *loaded;
    if (std::string broken = shards_.broken(); !broken.empty()) {
        control_.reloads_failed.fetch_add(1);
        log_error("reload failed: {}", broken);
        return false;
    }
    std::shared_ptr<Generation> previous = control_.generation();
    const config::Config& old = previous->config;
    warn_about_restart_only_settings(config, old, workers_);
    warn_about_kept_keepalive(config, old);
    const bool admin_changed = admin_settings_changed(config.admin, old.admin);
    try {
        // Binding may fail (address in use): do it before building the generation, which
        // already applies the file's settings to the backends it carries over.
        check_socket_settings(config);  // marks and sources, before anything changes
        auto sockets = listeners_.bind_new(config);
        // A new admin address is bound now too; an unchanged one keeps its socket.
        UniqueFd admin_socket = AdminEndpoint::bind_if_moved(config.admin, old.admin);
        // New access log files are opened now (one that cannot be fails the reload); files
        // no generation names any more are closed by housekeeping.
        access_logs_.open(config);
        auto generation =
            std::make_shared<Generation>(config, previous.get(), access_logs_.destinations(),
                                         next_generation_, monotonic_ms(), workers_);
        auto updates = listeners_.shard_updates(*generation, sockets, access_logs_.buffers());
        ++next_generation_;
        listeners_.record(sockets);
        listeners_.forget_unused(config);
        set_log_level(config.global.log_level);
        control_.max_connections.store(config.global.max_connections);
        // A dead or stuck shard fails the reload, and main then exits.
        if (!shards_.hand_over(updates, generation->id)) {
            // The shards that adopted it use it: it lives as long as the process.
            retired_.push_back(std::move(generation));
            control_.reloads_failed.fetch_add(1);
            log_error("reload failed: {}", shards_.broken());
            return false;
        }
        control_.set_generation(generation);
        health_->watch(generation);
        if (admin_changed) {
            admin_.replace(config.admin, std::move(admin_socket));
        }
        retired_.push_back(std::move(previous));
        control_.reloads_succeeded.fetch_add(1);
        log_reloaded(options_.config_path, *generation);
        warn_about_admin(config.admin);
        return true;
    } catch (const std::exception& error) {
        control_.reloads_failed.fetch_add(1);
        log_error("reload failed: {}; still running the previous configuration", error.what());
        access_logs_.close_unused(retired_);  // any file this reload opened
        return false;
    }
}

std::optional<config::Config> Server::read_config_again() {
    const std::string& path = options_.config_path;
    config::LoadResult loaded = config::load_config_file(path);
    if (!loaded.config) {
        for (const config::Diagnostic& error : loaded.errors) {
            log_error("reload: {}", error.to_string());
        }
        control_.reloads_failed.fetch_add(1);
        log_error("reload failed: {} error(s) in {}; still running the previous configuration",
                  loaded.errors.size(), path);
        return std::nullopt;
    }
    apply_command_line(*loaded.config, options_);
    return std::move(loaded.config);
}

// Frees generations that no shard uses for new connections and no connection holds, and
// then the access log files only they named.
void Server::housekeeping() noexcept {
    const std::size_t freed =
        std::erase_if(retired_, [&](const std::shared_ptr<Generation>& generation) {
            // Acquire: a connection logs its access record before it lets go of its generation.
            return shards_.all_past(generation->id) &&
                   generation->connections.load(std::memory_order_acquire) == 0;
        });
    if (freed > 0) {
        access_logs_.close_unused(retired_);
    }
    epochs_.reclaim();
}

}  // namespace

int run_server(const config::Config& config, const CliOptions& options) {
    Server server(config, options);
    return server.run(config);
}

}  // namespace ringlb
