// SPDX-License-Identifier: MIT
// [[listener.route]] through the real binary with real TLS: Python ssl clients naming different
// servers reach TLS backends with different certificates and complete their handshakes end to
// end; clients without a match, without a name or without TLS reach the listener's pool (or
// are closed without one); a ClientHello over several records, a late one, PROXY headers both
// ways, and a reload of the routes.
#include <fmt/format.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "admin_client.hpp"
#include "harness.hpp"
#include "temp_dir.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;
using ringlb::UniqueFd;

namespace {

std::string tool(const std::string& name) {
    const std::string path = find_on_path(name);
    if (path.empty()) {
        // A failed precondition is a failure: scripts/lib/common.sh TEST_PACKAGES installs it.
        throw HarnessError(name + " is not installed (Debian package " + name + ")");
    }
    return path;
}

std::string peer_script() {
    return source_dir() + "/tests/integration/tls_peer.py";
}

// One CA and, per backend, a certificate it signed with the backend's name as CN (and the
// DNS names it serves as SAN), so that a client sees which backend finished its handshake.
class Pki final {
  public:
    Pki() {
        const std::string openssl = tool("openssl");
        run_checked({openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=ringlb sni test CA",
                     "-days", "2", "-keyout", dir_.file("ca.key"), "-out", ca()});
    }
    [[nodiscard]] std::string ca() const { return dir_.file("ca.crt"); }
    // Makes NAME.crt and NAME.key for `dns` (a SAN such as "*.example.org").
    void issue(const std::string& name, const std::string& dns) const {
        const std::string openssl = tool("openssl");
        const std::string ext = dir_.file(name + ".ext");
        std::ofstream(ext) << "subjectAltName=DNS:" << dns << "\nextendedKeyUsage=serverAuth\n";
        run_checked({openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-subj", "/CN=" + name, "-keyout", key(name), "-out",
                     dir_.file(name + ".csr")});
        run_checked({openssl, "x509", "-req", "-in", dir_.file(name + ".csr"), "-CA", ca(),
                     "-CAkey", dir_.file("ca.key"), "-CAcreateserial", "-days", "2", "-extfile",
                     ext, "-out", cert(name)});
    }
    [[nodiscard]] std::string cert(const std::string& name) const {
        return dir_.file(name + ".crt");
    }
    [[nodiscard]] std::string key(const std::string& name) const {
        return dir_.file(name + ".key");
    }

  private:
    TempDir dir_{"ringlb-sni"};
};

// A TLS backend (tls_peer.py server) with its own certificate; it also serves plain text.
struct TlsBackend final {
    std::unique_ptr<Process> process;
    std::uint16_t port = 0;
    [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

TlsBackend start_tls_backend(const Pki& pki, const std::string& name, bool proxy = false) {
    std::vector<std::string> argv = {tool("python3"), "-u",         peer_script(), "server", name,
                                     pki.cert(name),  pki.key(name)};
    if (proxy) {
        argv.push_back("--proxy");
    }
    TlsBackend backend;
    backend.process = std::make_unique<Process>("tls backend " + name, argv);
    const LineMatch match = backend.process->wait_for_line(R"(^listening (\d+)$)", 10000ms);
    backend.port = static_cast<std::uint16_t>(std::stoul(match.groups[1]));
    return backend;
}

// What a client saw: the certificate's CN and the backend's line.
struct Handshake final {
    std::string cn;
    std::string version;
    std::string line;  // "NAME sni=SNI proxy=LINE tls=VERSION"
};

// Runs a tls_peer.py client naming `sni` ("-": none) and returns what it saw; throws
// HarnessError (with its stderr) when the handshake or the echo after it failed.
Handshake tls_client(std::uint16_t port, const std::string& sni, const Pki& pki,
                     const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {tool("python3"),      peer_script(), "client",
                                     std::to_string(port), sni,           pki.ca()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const RunResult result = run_process(argv, 30000ms);
    if (!result.status.exited_with(0)) {
        throw HarnessError("TLS client for \"" + sni + "\" failed: " + result.status.to_string() +
                           "\n" + result.stderr_text + result.stdout_text);
    }
    static const std::regex pattern(R"(^ok cn=(\S+) version=(\S+) line=(.*)\n?$)");
    std::smatch match;
    if (!std::regex_match(result.stdout_text, match, pattern)) {
        throw HarnessError("TLS client for \"" + sni +
                           "\": unexpected output: " + result.stdout_text);
    }
    return Handshake{match[1], match[2], match[3]};
}

// A plain-text client: sends a line and returns the backend's greeting, then checks the echo.
std::string plain_client(std::uint16_t port) {
    UniqueFd client = connect_to(port);
    const Deadline deadline = deadline_in(10s);
    send_all(client.get(), "hello in plain text\n", deadline);
    const std::string greeting = read_line(client.get(), deadline);
    CHECK(read_line(client.get(), deadline) == "hello in plain text\n");
    return greeting;
}

using Labels = std::map<std::string, std::string>;

// Three TLS backends, each in a pool of its own: "api" (api.example.com), "org"
// (*.example.org) and "default" (default.example.net), the listener's pool.
struct ThreeTlsPools final {
    Pki pki;
    TlsBackend api;
    TlsBackend org;
    TlsBackend fallback;

    explicit ThreeTlsPools(bool proxy_backends = false) {
        pki.issue("api", "api.example.com");
        pki.issue("org", "*.example.org");
        pki.issue("default", "default.example.net");
        api = start_tls_backend(pki, "api", proxy_backends);
        org = start_tls_backend(pki, "org", proxy_backends);
        fallback = start_tls_backend(pki, "default", proxy_backends);
    }

    // The three pools, each with `pool_settings`.
    [[nodiscard]] std::string pools(const std::string& pool_settings = "") const {
        return pool_table("api", {api.address()}, pool_settings) +
               pool_table("org", {org.address()}, pool_settings) +
               pool_table("default", {fallback.address()}, pool_settings);
    }
};

const std::string kRoutes = R"(
[[listener.route]]
sni = ["api.example.com"]
pool = "api"

[[listener.route]]
sni = ["*.example.org", "api.example.com"]
pool = "org"
)";

std::string admin_and_listener(const std::string& settings, bool with_pool = true) {
    return "[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:0\"\n\n[[listener]]\nname = "
           "\"tls\"\nbind = \"127.0.0.1:0\"\n" +
           std::string(with_pool ? "pool = \"default\"\n" : "") + settings + "\n";
}

}  // namespace

TEST_CASE("routes by TLS server name: each name reaches its pool with a completed handshake") {
    ThreeTlsPools tls;
    Ringlb lb = start_ringlb(admin_and_listener(kRoutes) + tls.pools());
    INFO("ringlb output:\n" << lb.process->tail());
    AdminClient admin{admin_port(*lb.process)};

    struct Case {
        std::string sni;
        std::string cn;  // the certificate (and backend) expected
    };
    const std::vector<Case> cases = {
        {"api.example.com", "api"},          // exact; the first route wins over the second
        {"API.Example.COM", "api"},          // case-insensitive
        {"www.example.org", "org"},          // one leading wildcard label
        {"a.b.example.org", "org"},          // the wildcard takes more than one label
        {"example.org", "default"},          // "*." needs a label before the suffix
        {"unknown.example.com", "default"},  // no route: the listener's pool
        {"-", "default"},                    // no server_name extension at all
    };
    for (const Case& c : cases) {
        INFO("server name " << c.sni);
        const Handshake seen = tls_client(lb.port, c.sni, tls.pki);
        CHECK(seen.cn == c.cn);
        // The backend saw the same name in the ClientHello it parsed itself: every byte of
        // it reached the backend unchanged.
        CHECK(seen.line.rfind(c.cn + " sni=" + c.sni + " ", 0) == 0);
        CHECK(seen.line.find(" tls=TLSv1.") != std::string::npos);
    }
    // Not TLS at all: the listener's pool at once, every byte delivered.
    CHECK(plain_client(lb.port) == "default sni=- proxy=- tls=plain\n");

    const Labels routed{{"listener", "tls"}, {"result", "routed"}};
    const Labels fallback{{"listener", "tls"}, {"result", "default"}};
    CHECK(wait_for_sample(admin, "ringlb_tls_routing_total", routed, 4) == 4);
    CHECK(wait_for_sample(admin, "ringlb_tls_routing_total", fallback, 4) == 4);
    CHECK(get_metrics(admin).at("ringlb_tls_routing_total",
                                {{"listener", "tls"}, {"result", "timeout"}}) == 0);

    // /status shows the routes as loaded (names in lower case) and what they did.
    const Json status = parse_json(admin.get("/status").body);
    const Json& listener = status.at("listeners").array.at(0);
    CHECK(listener.at("pool").string == "default");
    CHECK(listener.at("tls_inspect_timeout_ms").number == 3000);
    REQUIRE(listener.at("routes").array.size() == 2);
    CHECK(listener.at("routes").array[0].at("pool").string == "api");
    CHECK(listener.at("routes").array[1].at("sni").array[0].string == "*.example.org");
    CHECK(listener.at("routed").number == 4);
}

TEST_CASE("a ClientHello over several records, sent record by record, is routed") {
    ThreeTlsPools tls;
    Ringlb lb = start_ringlb(admin_and_listener(kRoutes) + tls.pools());
    INFO("ringlb output:\n" << lb.process->tail());
    // Records of 64 bytes of handshake data: a ClientHello of Python's ssl is several hundred.
    for (const std::string size : {"64", "200"}) {
        INFO("records of " << size << " bytes");
        const Handshake api = tls_client(lb.port, "api.example.com", tls.pki, {"--records", size});
        CHECK(api.cn == "api");
        const Handshake org = tls_client(lb.port, "x.example.org", tls.pki, {"--records", size});
        CHECK(org.cn == "org");
    }
}

TEST_CASE("a ClientHello that does not come in time: the listener's pool, no byte lost") {
    Backend fallback = start_greet_backend("default");
    Backend api = start_greet_backend("api");
    Ringlb lb = start_ringlb(
        admin_and_listener("tls_inspect_timeout_ms = 300\n[[listener.route]]\nsni = "
                           "[\"api.example.com\"]\npool = \"api\"\n") +
        pool_table("api", {api.address()}) + pool_table("default", {fallback.address()}));
    INFO("ringlb output:\n" << lb.process->tail());
    AdminClient admin{admin_port(*lb.process)};

    // A client that waits for the server to speak first, and one that sent the first bytes
    // of a TLS record and stalls: both reach the listener's pool after the timeout.
    UniqueFd silent = connect_to(lb.port);
    UniqueFd stalled = connect_to(lb.port);
    const Deadline deadline = deadline_in(10s);
    send_all(stalled.get(), "\x16\x03\x01", deadline);
    CHECK(read_line(silent.get(), deadline) == "default\n");
    CHECK(read_line(stalled.get(), deadline) == "default\n");
    // The three bytes were only looked at: the backend echoes them ahead of the rest.
    send_all(stalled.get(), "rest\n", deadline);
    CHECK(read_exact(stalled.get(), 8, deadline) == "\x16\x03\x01rest\n");
    CHECK(wait_for_sample(admin, "ringlb_tls_routing_total",
                          {{"listener", "tls"}, {"result", "timeout"}}, 2) == 2);
}

TEST_CASE("a listener with routes and no pool closes the clients no route takes") {
    ThreeTlsPools tls;
    Ringlb lb = start_ringlb(admin_and_listener(kRoutes, false) + tls.pools());
    INFO("ringlb output:\n" << lb.process->tail());
    AdminClient admin{admin_port(*lb.process)};

    CHECK(tls_client(lb.port, "api.example.com", tls.pki).cn == "api");
    // Plain text and an unknown name: closed without a backend.
    UniqueFd plain = connect_to(lb.port);
    const Deadline deadline = deadline_in(10s);
    send_all(plain.get(), "hello\n", deadline);
    const ReadResult result = read_until_close(plain.get(), deadline);
    CHECK(result.closed());
    CHECK(result.data.empty());
    CHECK_THROWS_AS(tls_client(lb.port, "unknown.example.com", tls.pki), HarnessError);
    CHECK(wait_for_rejected(admin, "tls", "no_route", 2) == 2);
    CHECK(parse_json(admin.get("/status").body).at("listeners").array.at(0).at("pool").string ==
          "");
}

TEST_CASE("routes with accept_proxy (the header first) and send_proxy (to the route's pool)") {
    ThreeTlsPools tls(true);  // backends read a PROXY v1 line first
    Ringlb lb = start_ringlb(
        admin_and_listener("accept_proxy = true\nproxy_trusted = [\"127.0.0.0/8\"]\n" + kRoutes) +
        tls.pools("send_proxy = \"v1\""));
    INFO("ringlb output:\n" << lb.process->tail());

    const std::string header = fmt::format("PROXY TCP4 192.0.2.7 127.0.0.1 5555 {}", lb.port);
    const std::string forwarded = fmt::format("PROXY_TCP4_192.0.2.7_127.0.0.1_5555_{}", lb.port);
    const Handshake api = tls_client(lb.port, "api.example.com", tls.pki, {"--proxy", header});
    CHECK(api.cn == "api");
    CHECK(api.line == "api sni=api.example.com proxy=" + forwarded + " tls=" + api.version);
    // Over several records after the header too.
    const Handshake org =
        tls_client(lb.port, "www.example.org", tls.pki, {"--proxy", header, "--records", "100"});
    CHECK(org.cn == "org");
    CHECK(org.line.find("proxy=" + forwarded) != std::string::npos);
    const Handshake other = tls_client(lb.port, "-", tls.pki, {"--proxy", header});
    CHECK(other.cn == "default");
    CHECK(other.line.find("proxy=" + forwarded) != std::string::npos);
}

TEST_CASE("a reload applies new routes and tls_inspect_timeout_ms") {
    ThreeTlsPools tls;
    const std::string pools = tls.pools();
    Ringlb lb = start_ringlb(admin_and_listener(kRoutes) + pools);
    INFO("ringlb output:\n" << lb.process->tail());
    AdminClient admin{admin_port(*lb.process)};
    CHECK(tls_client(lb.port, "api.example.com", tls.pki).cn == "api");

    reload_ringlb(lb, admin_and_listener("tls_inspect_timeout_ms = 1500\n[[listener.route]]\n"
                                         "sni = [\"API.example.com\"]\npool = \"org\"\n") +
                          pools);
    CHECK(tls_client(lb.port, "api.example.com", tls.pki).cn == "org");
    CHECK(tls_client(lb.port, "www.example.org", tls.pki).cn == "default");
    const Json status = parse_json(admin.get("/status").body);
    const Json& listener = status.at("listeners").array.at(0);
    CHECK(listener.at("tls_inspect_timeout_ms").number == 1500);
    REQUIRE(listener.at("routes").array.size() == 1);
    CHECK(listener.at("routes").array[0].at("sni").array[0].string == "api.example.com");
    CHECK(listener.at("routes").array[0].at("pool").string == "org");
}

TEST_CASE("a client that shuts down its side after half a ClientHello is routed at once") {
    Backend fallback = start_greet_backend("default");
    Backend api = start_greet_backend("api");
    // A deadline far beyond the test's own: only the end of the client's bytes can decide.
    Ringlb lb = start_ringlb(
        admin_and_listener("tls_inspect_timeout_ms = 60000\n[[listener.route]]\nsni = "
                           "[\"api.example.com\"]\npool = \"api\"\n") +
        pool_table("api", {api.address()}) + pool_table("default", {fallback.address()}));
    INFO("ringlb output:\n" << lb.process->tail());
    AdminClient admin{admin_port(*lb.process)};

    UniqueFd client = connect_to(lb.port);
    const Deadline deadline = deadline_in(10s);
    // A record header and the first bytes of a ClientHello, then EOF.
    const std::string partial("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
    send_all(client.get(), partial, deadline);
    shutdown_write(client.get());
    CHECK(read_line(client.get(), deadline) == "default\n");
    CHECK(read_exact(client.get(), partial.size(), deadline) == partial);
    CHECK(wait_for_sample(admin, "ringlb_tls_routing_total",
                          {{"listener", "tls"}, {"result", "default"}}, 1) == 1);
    CHECK(get_metrics(admin).at("ringlb_tls_routing_total",
                                {{"listener", "tls"}, {"result", "timeout"}}) == 0);
}
