// SPDX-License-Identifier: MIT
// [pool.discovery]: backends from the SRV records a real DNS server (dnsmasq, started here on
// loopback) answers: backends added, re-weighted and removed, priority tiers failing over and
// back, the resolver stopping (the set is kept) — all under continuous load with zero failed
// client connections — an answer too big for UDP (fetched over TCP), NXDOMAIN emptying the
// pool, /status and /metrics, and --check not querying anything.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kName = "_app._tcp.service.test";
constexpr const char* kOtherName = "_other._tcp.service.test";

struct Srv final {
    std::uint16_t port;
    unsigned priority = 0;
    unsigned weight = 1;
};

// A port free for both UDP and TCP on 127.0.0.1, below the kernel's ephemeral range: dnsmasq
// serves both on one port and cannot pick one and tell it, and it is restarted on the same
// port while the load's thousands of connections take ephemeral ports, one of which could
// otherwise take dnsmasq's TCP port in between.
std::uint16_t free_dns_port() {
    unsigned low = 32768;
    {
        std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
        range >> low;
    }
    if (low <= 10000) {
        throw HarnessError("the ephemeral port range starts too low for a fixed DNS port");
    }
    std::random_device random;
    for (int attempt = 0; attempt < 100; ++attempt) {
        const auto port = static_cast<std::uint16_t>(10000 + random() % (low - 10000));
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(port);
        ringlb::UniqueFd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        ringlb::UniqueFd tcp(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (::bind(udp.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
            ::bind(tcp.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
            return port;
        }
    }
    throw HarnessError("no port free for both UDP and TCP on 127.0.0.1");
}

// dnsmasq answering for service.test on its own port: the SRV records of kName (targets
// "be.service.test" = 127.0.0.1), NXDOMAIN for any other name of the domain. dnsmasq reads
// srv-host lines only when it starts, so a new answer is a restart on the same port; ringlb
// meanwhile sees the resolver unreachable and keeps its set.
class Dns final {
  public:
    Dns() : port_(free_dns_port()), binary_(require_command("dnsmasq", "dnsmasq-base")) {}

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] Process& process() { return *process_; }

    // (Re)starts dnsmasq serving `records` (and `other` for kOtherName), and waits until it
    // is up.
    void serve(const std::vector<Srv>& records, const std::vector<Srv>& other = {}) {
        stop();
        std::string text = fmt::format(
            "port={}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
            "no-negcache\nlocal=/service.test/\nlog-facility=-\nlog-queries\npid-file=\n"
            "user=root\nhost-record=be.service.test,127.0.0.1\n",
            port_);
        for (const Srv& record : records) {
            text += fmt::format("srv-host={},be.service.test,{},{},{}\n", kName, record.port,
                                record.priority, record.weight);
        }
        for (const Srv& record : other) {
            text += fmt::format("srv-host={},be.service.test,{},{},{}\n", kOtherName, record.port,
                                record.priority, record.weight);
        }
        config_ = std::make_unique<TempFile>(text, ".conf");
        process_ = std::make_unique<Process>(
            "dnsmasq", std::vector<std::string>{binary_, "--keep-in-foreground",
                                                "--conf-file=" + config_->path()});
        process_->wait_for_line("started, version", 10s);
    }
    // Stops it (SIGTERM) and waits until it is gone: its port refuses from then on.
    void stop() {
        if (process_) {
            process_->signal(SIGTERM);
            (void)process_->require_exit(10s);
            process_.reset();
        }
    }

  private:
    std::uint16_t port_;
    std::string binary_;
    std::unique_ptr<TempFile> config_;
    std::unique_ptr<Process> process_;
};

std::string config(const Dns& dns, const std::string& pool_extra = "",
                   const std::string& name = kName, unsigned interval_ms = 1000) {
    return SimpleConfig({})
        .global("\n[admin]\nbind = \"127.0.0.1:0\"\n")
        .pool(fmt::format("algorithm = \"weighted_round_robin\"\nretries = 2\n{}\n"
                          "[pool.discovery]\ndns_srv = \"{}\"\nresolver = \"127.0.0.1:{}\"\n"
                          "interval_ms = {}\n",
                          pool_extra, name, dns.port(), interval_ms))
        .text();
}

constexpr const char* kHealth =
    "[pool.health]\ninterval_ms = 100\ntimeout_ms = 100\nrise = 1\nfall = 1\n";

std::string address_pattern(std::uint16_t port) {
    return fmt::format("127\\.0\\.0\\.1:{}\\b", port);
}

// New connections one after the other, each reading its greeting and closing, from a thread
// of its own until stopped: where each landed, when it started, and every failure.
class Load final {
  public:
    explicit Load(std::uint16_t port)
        : thread_([this, port] {
              while (!stop_.load()) {
                  const auto started = Clock::now();
                  try {
                      HeldConnection held = open_held(port, 5000ms);
                      std::lock_guard lock(mutex_);
                      results_.push_back({started, held.backend});
                  } catch (const std::exception& error) {
                      std::lock_guard lock(mutex_);
                      failures_.push_back(error.what());
                  }
              }
          }) {}
    ~Load() { finish(); }

    void finish() {
        stop_.store(true);
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    // Counts by backend of the first `count` connections started at `since` or later, once
    // there are that many (throws after 20 s).
    std::map<std::string, int> counts_since(Clock::time_point since, int count) {
        const Deadline deadline = deadline_in(20s);
        for (;;) {
            std::map<std::string, int> counts;
            int total = 0;
            {
                std::lock_guard lock(mutex_);
                for (const auto& [started, backend] : results_) {
                    // The load is sequential: results come in the order they started.
                    if (started >= since && total < count) {
                        ++counts[backend];
                        ++total;
                    }
                }
            }
            if (total >= count) {
                return counts;
            }
            if (Clock::now() > deadline) {
                throw HarnessError(fmt::format("only {} of {} connections in 20 s: {}", total,
                                               count, describe_counts(counts)));
            }
            std::this_thread::sleep_for(10ms);  // waiting for the load thread's progress
        }
    }
    [[nodiscard]] std::vector<std::string> failures() {
        std::lock_guard lock(mutex_);
        return failures_;
    }
    [[nodiscard]] std::size_t total() {
        std::lock_guard lock(mutex_);
        return results_.size() + failures_.size();
    }

  private:
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::vector<std::pair<Clock::time_point, std::string>> results_;
    std::vector<std::string> failures_;
    std::thread thread_;
};

double discovery_queries(const AdminClient& admin, const std::string& result) {
    return get_metrics(admin).at("ringlb_discovery_queries_total",
                                 {{"pool", "p"}, {"result", result}});
}

// The discovered backends /status lists for pool "p": address -> "weight/priority/origin".
std::map<std::string, std::string> status_backends(const AdminClient& admin) {
    const Json status = parse_json(admin.get("/status").body);
    std::map<std::string, std::string> found;
    for (const Json& pool : status.at("pools").array) {
        if (pool.at("name").string != "p") {
            continue;
        }
        for (const Json& backend : pool.at("backends").array) {
            found[backend.at("address").string] =
                fmt::format("{}/{}/{}", backend.at("weight").number, backend.at("priority").number,
                            backend.at("origin").string);
        }
    }
    return found;
}

// A DNS query for `name` (type SRV) sent to dnsmasq over UDP, waiting for its answer: dnsmasq
// answers in the order queries come, so once this one is answered every earlier query is in
// its log.
void query_and_wait(std::uint16_t port, const std::string& name) {
    std::vector<unsigned char> query{0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    std::size_t start = 0;
    while (start < name.size()) {
        const std::size_t dot = std::min(name.find('.', start), name.size());
        query.push_back(static_cast<unsigned char>(dot - start));
        query.insert(query.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
                     name.begin() + static_cast<std::ptrdiff_t>(dot));
        start = dot + 1;
    }
    for (unsigned char byte : {0, 0, 33, 0, 1}) {
        query.push_back(byte);
    }
    ringlb::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::sendto(fd.get(), query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&address),
                     sizeof(address)) == static_cast<ssize_t>(query.size()));
    pollfd readable{fd.get(), POLLIN, 0};
    REQUIRE(::poll(&readable, 1, 5000) == 1);
}

}  // namespace

TEST_CASE(
    "discovered backends are added, re-weighted, removed and fail over between priority tiers "
    "under load, and survive the resolver stopping, with no failed connection") {
    Backend a = start_greet_backend("a");
    Backend b = start_greet_backend("b");
    Backend c = start_greet_backend("c");
    Backend d = start_greet_backend("d");
    Dns dns;
    dns.serve({{a.port}, {b.port}});
    Ringlb lb = start_ringlb(config(dns, kHealth));
    AdminClient admin(admin_port(*lb.process));
    lb.process->wait_for_line("discovery changed pool=p backends=2 ", 10s);

    Load load(lb.port);
    auto counts = load.counts_since(Clock::now(), 40);
    INFO("ringlb output:\n" << lb.process->tail(40));
    CHECK(counts["a"] == 20);
    CHECK(counts["b"] == 20);
    CHECK(status_backends(admin) ==
          std::map<std::string, std::string>{{a.address(), "1/0/dns_srv"},
                                             {b.address(), "1/0/dns_srv"}});

    // Added: probed first, then served. A connection is kept open on c across its removal.
    std::size_t from = lb.process->line_count();
    dns.serve({{a.port}, {b.port}, {c.port}});
    lb.process->wait_for_line(
        "discovery changed pool=p backends=3 added=" + address_pattern(c.port), 10s, from);
    lb.process->wait_for_line("backend up pool=p backend=" + address_pattern(c.port), 10s, from);
    auto since = Clock::now();
    counts = load.counts_since(since, 60);
    CHECK(counts["c"] == 20);
    HeldConnection on_c = open_held(lb.port);
    for (int i = 0; i < 60 && on_c.backend != "c"; ++i) {
        on_c = open_held(lb.port);
    }
    REQUIRE(on_c.backend == "c");

    // Re-weighted: a's SRV weight 8 of 10.
    from = lb.process->line_count();
    dns.serve({{a.port, 0, 8}, {b.port}, {c.port}});
    lb.process->wait_for_line("discovery changed pool=p backends=3 added=- removed=- updated=1",
                              10s, from);
    since = Clock::now();
    counts = load.counts_since(since, 100);
    CHECK(counts["a"] >= 75);  // exactly 8 of every 10 in the weighted sequence
    CHECK(counts["b"] <= 13);
    CHECK(counts["c"] <= 13);
    CHECK(status_backends(admin).at(a.address()) == "8/0/dns_srv");

    // Removed: no new connection goes to c; the open one goes on.
    from = lb.process->line_count();
    dns.serve({{a.port}, {b.port}});
    lb.process->wait_for_line(
        "discovery changed pool=p backends=2 added=- removed=" + address_pattern(c.port), 10s,
        from);
    since = Clock::now();
    counts = load.counts_since(since, 40);
    CHECK(counts["c"] == 0);
    send_all(on_c.fd.get(), "still here\n", deadline_in(5s));
    CHECK(read_line(on_c.fd.get(), deadline_in(5s)) == "still here\n");
    on_c.fd.reset();

    // Priority: d (priority 1) waits while a or b is usable.
    from = lb.process->line_count();
    dns.serve({{a.port}, {b.port}, {d.port, 1, 1}});
    lb.process->wait_for_line(
        "discovery changed pool=p backends=3 added=" + address_pattern(d.port), 10s, from);
    lb.process->wait_for_line("backend up pool=p backend=" + address_pattern(d.port), 10s, from);
    since = Clock::now();
    counts = load.counts_since(since, 40);
    CHECK(counts["d"] == 0);
    CHECK(status_backends(admin).at(d.address()) == "1/1/dns_srv");

    // The whole of tier 0 drained (as an operator, or a registry marking it, would): d takes
    // over; one of tier 0 back: it gives the traffic back. (Tier 0 going down by health checks
    // is checked below, without load: a backend that stops listening resets the connections
    // still in its accept queue, which no balancer can hide.)
    const auto action = [&](const Backend& backend, const std::string& verb) {
        const HttpReply reply =
            admin.post(fmt::format("/pools/p/backends/{}/{}", backend.address(), verb));
        REQUIRE(reply.status == 200);
    };
    action(a, "drain");
    action(b, "drain");
    since = Clock::now();
    counts = load.counts_since(since, 30);
    CHECK(counts["d"] == 30);
    action(a, "enable");
    since = Clock::now();
    counts = load.counts_since(since, 30);
    CHECK(counts["a"] == 30);
    action(b, "enable");

    // The resolver stops: queries fail, are counted, logged once, and the set stays.
    const auto before = status_backends(admin);
    const double failed_before =
        discovery_queries(admin, "error") + discovery_queries(admin, "timeout");
    from = lb.process->line_count();
    dns.stop();
    lb.process->wait_for_line("discovery failed pool=p dns_srv=_app\\._tcp\\.service\\.test", 10s,
                              from);
    (void)wait_for_metrics(
        admin,
        [&](const Metrics& metrics) {
            return metrics.at("ringlb_discovery_queries_total",
                              {{"pool", "p"}, {"result", "error"}}) +
                       metrics.at("ringlb_discovery_queries_total",
                                  {{"pool", "p"}, {"result", "timeout"}}) >=
                   failed_before + 3;
        },
        20s);
    CHECK(discovery_queries(admin, "error") + discovery_queries(admin, "timeout") >=
          failed_before + 3);
    CHECK(lb.process->find_lines("discovery failed pool=p", from).size() == 1);
    CHECK(status_backends(admin) == before);
    since = Clock::now();
    counts = load.counts_since(since, 40);
    CHECK(counts["a"] + counts["b"] == 40);

    from = lb.process->line_count();
    dns.serve({{a.port}, {b.port}, {d.port, 1, 1}});
    lb.process->wait_for_line("discovery answers again pool=p", 10s, from);
    CHECK(discovery_queries(admin, "success") > 0);

    load.finish();
    INFO("connections: " << load.total());
    CHECK(load.failures() == std::vector<std::string>{});

    // Tier 0 down by health checks: d serves; a back up: a serves again.
    from = lb.process->line_count();
    a.pause();
    b.pause();
    lb.process->wait_for_line("backend down pool=p backend=" + address_pattern(a.port), 10s, from);
    lb.process->wait_for_line("backend down pool=p backend=" + address_pattern(b.port), 10s, from);
    CHECK(short_connections(lb.port, 6) == std::map<std::string, int>{{"d", 6}});
    from = lb.process->line_count();
    a.resume();
    lb.process->wait_for_line("backend up pool=p backend=" + address_pattern(a.port), 10s, from);
    CHECK(short_connections(lb.port, 6) == std::map<std::string, int>{{"a", 6}});
    // Every discovered backend is in /metrics like a static one, with where it came from.
    const Metrics metrics = get_metrics(admin);
    CHECK(metrics.at("ringlb_backend_info", {{"pool", "p"},
                                             {"backend", d.address()},
                                             {"origin", "dns_srv"},
                                             {"priority", "1"}}) == 1);
    CHECK(
        metrics.find("ringlb_backend_connections_total", {{"pool", "p"}, {"backend", d.address()}})
            .value_or(0) >= 30);
}

TEST_CASE("an SRV answer too big for UDP is fetched over TCP: every record counts") {
    Dns dns;
    std::vector<Srv> records;
    for (std::uint16_t i = 0; i < 100; ++i) {
        records.push_back({static_cast<std::uint16_t>(30000 + i), 0, 1});
    }
    dns.serve(records);
    Ringlb lb = start_ringlb(config(dns));
    AdminClient admin(admin_port(*lb.process));
    lb.process->wait_for_line("discovery changed pool=p backends=100 ", 10s);
    CHECK(status_backends(admin).size() == 100);
}

TEST_CASE("NXDOMAIN empties the pool (new clients are closed at once) and records fill it again") {
    Backend a = start_greet_backend("a");
    Dns dns;
    dns.serve({{a.port}});
    Ringlb lb = start_ringlb(config(dns));
    AdminClient admin(admin_port(*lb.process));
    lb.process->wait_for_line("discovery changed pool=p backends=1 ", 10s);
    CHECK(open_held(lb.port).backend == "a");
    CHECK(admin.get("/healthz").status == 200);

    std::size_t from = lb.process->line_count();
    dns.serve({});  // the name no longer exists: NXDOMAIN under local=/service.test/
    lb.process->wait_for_line("discovery pool=p dns_srv=_app\\._tcp\\.service\\.test: .*NXDOMAIN",
                              10s, from);
    CHECK(discovery_queries(admin, "empty") >= 1);
    CHECK(status_backends(admin).empty());
    ringlb::UniqueFd client = connect_to(lb.port);
    const ReadResult result = read_until_close(client.get(), deadline_in(5s));
    CHECK(result.closed());
    CHECK(result.data.empty());
    client.reset();

    from = lb.process->line_count();
    dns.serve({{a.port}});
    lb.process->wait_for_line("discovery changed pool=p backends=1 ", 10s, from);
    CHECK(open_held(lb.port).backend == "a");
}

TEST_CASE("--check validates [pool.discovery] without sending a query") {
    Dns dns;
    dns.serve({{9}});
    TempFile file(config(dns));
    const RunResult checked =
        run_process({ringlb_binary(), "--check", "--config", file.path()}, 10s);
    INFO(checked.stdout_text << checked.stderr_text);
    CHECK(checked.status.exited_with(0));
    // dnsmasq answers in order: once it answered this query, anything --check sent is logged.
    query_and_wait(dns.port(), "_sentinel._tcp.service.test");
    dns.process().wait_for_line("query\\[SRV\\] _sentinel\\._tcp\\.service\\.test", 5s);
    CHECK(dns.process().find_lines("query\\[SRV\\] _app\\._tcp").empty());

    TempFile bad(SimpleConfig({})
                     .pool("[pool.discovery]\ndns_srv = \"not a name!\"\nresolver = \"nowhere\"\n"
                           "interval_ms = 10\n")
                     .text());
    const RunResult refused = run_process({ringlb_binary(), "--check", "--config", bad.path()});
    INFO(refused.stderr_text);
    CHECK(refused.status.exited_with(2));
    CHECK(refused.stderr_text.find("dns_srv") != std::string::npos);
    CHECK(refused.stderr_text.find("resolver") != std::string::npos);
    CHECK(refused.stderr_text.find("interval_ms") != std::string::npos);
}

TEST_CASE(
    "a reload applies a new dns_srv at once and keeps the discovered set across other changes") {
    Backend a = start_greet_backend("a");
    Backend b = start_greet_backend("b");
    Dns dns;
    dns.serve({{a.port}}, {{b.port}});
    Ringlb lb = start_ringlb(config(dns));
    AdminClient admin(admin_port(*lb.process));
    lb.process->wait_for_line(
        "discovery changed pool=p backends=1 added=" + address_pattern(a.port), 10s);
    CHECK(open_held(lb.port).backend == "a");

    std::size_t from = lb.process->line_count();
    reload_ringlb(lb, config(dns, "", kOtherName));
    lb.process->wait_for_line("discovery changed pool=p backends=1 added=" +
                                  address_pattern(b.port) + " removed=" + address_pattern(a.port),
                              10s, from);
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(open_held(lb.port).backend == "b");

    // A new interval (and a new health table) only: the same discovery goes on, its backend
    // serves without a gap.
    from = lb.process->line_count();
    reload_ringlb(
        lb, config(dns, "[pool.health]\ninterval_ms = 100\ntimeout_ms = 100\n", kOtherName, 2000));
    CHECK(open_held(lb.port).backend == "b");
    CHECK(lb.process->find_lines("discovery pool=p dns_srv=", from).empty());
    CHECK(lb.process->find_lines("discovery changed", from).empty());
    CHECK(status_backends(admin) ==
          std::map<std::string, std::string>{{b.address(), "1/0/dns_srv"}});
}
