// SPDX-License-Identifier: MIT
// The admin endpoint over TLS through the real binary, checked with real curl and openssl
// against certificates the test makes: verification, TLS 1.2+, rotation by reload, and
// malformed, fuzzed or stalled handshakes that never hold up other clients.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/socket.h>

#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "admin_client.hpp"
#include "harness.hpp"
#include "owned_listener.hpp"
#include "temp_dir.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

std::string tool(const std::string& name) {
    const std::string path = find_on_path(name);
    if (path.empty()) {
        // A failed precondition is a failure: scripts/lib/common.sh installs both.
        throw HarnessError(name + " is not installed (Debian package " + name + ")");
    }
    return path;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    REQUIRE(out.good());
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A CA, and a server certificate for IP 127.0.0.1 signed by it, made with openssl(1) in
// `dir` as NAME-ca.crt, NAME.crt, NAME.key (P-256 keys: quick to make).
struct Pki final {
    std::string ca;
    std::string cert;
    std::string key;
};
Pki make_pki(const TempDir& dir, const std::string& name) {
    const std::string openssl = tool("openssl");
    Pki pki{dir.file(name + "-ca.crt"), dir.file(name + ".crt"), dir.file(name + ".key")};
    const std::string ca_key = dir.file(name + "-ca.key");
    const std::string csr = dir.file(name + ".csr");
    const std::string extensions = dir.file(name + ".ext");
    write_file(extensions, "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    run_checked({openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-subj", "/CN=ringlb test CA " + name, "-days", "2", "-keyout", ca_key,
                 "-out", pki.ca});
    run_checked({openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", pki.key, "-out", csr});
    run_checked({openssl, "x509", "-req", "-in", csr, "-CA", pki.ca, "-CAkey", ca_key,
                 "-CAcreateserial", "-days", "2", "-extfile", extensions, "-out", pki.cert});
    return pki;
}

std::string tls_admin(const std::string& cert, const std::string& key,
                      const std::string& more = "") {
    return "\n[admin]\nbind = \"127.0.0.1:0\"\ntls_cert_file = \"" + cert +
           "\"\ntls_key_file = \"" + key + "\"\n" + more;
}

struct Curl final {
    int exit_code = -1;
    std::string body;
    std::string error;
};
// curl https://127.0.0.1:PORT/PATH trusting only `ca`.
Curl curl_get(std::uint16_t port, const std::string& path, const std::string& ca,
              const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {tool("curl"), "--silent", "--show-error", "--max-time", "20",
                                     "--cacert",   ca,         "--fail"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("https://127.0.0.1:" + std::to_string(port) + path);
    const RunResult result = run_process(argv, 30000ms);
    return Curl{result.status.code, result.stdout_text, result.stderr_text};
}

// `openssl s_client` to the port with extra options; true when the handshake succeeded.
bool s_client_connects(std::uint16_t port, const std::vector<std::string>& options,
                       const std::string& ca) {
    std::vector<std::string> argv = {tool("openssl"),
                                     "s_client",
                                     "-connect",
                                     "127.0.0.1:" + std::to_string(port),
                                     "-CAfile",
                                     ca,
                                     "-verify_return_error"};
    argv.insert(argv.end(), options.begin(), options.end());
    const RunResult result = run_process(argv, 30000ms);  // stdin is /dev/null: it ends
    return result.status.exited_with(0) &&
           result.stdout_text.find("Verify return code: 0 (ok)") != std::string::npos;
}

// The bytes of a real ClientHello: what `openssl s_client` sends to a listener of ours.
std::string capture_client_hello() {
    OwnedListener listener;
    Process client("s_client", {tool("openssl"), "s_client", "-connect",
                                "127.0.0.1:" + std::to_string(listener.port())});
    ringlb::UniqueFd accepted = listener.accept(deadline_in(5s));
    // A TLS record: 5 header bytes, then its length.
    std::string hello = read_exact(accepted.get(), 5, deadline_in(5s));
    const std::size_t length =
        (static_cast<unsigned char>(hello[3]) << 8) | static_cast<unsigned char>(hello[4]);
    hello += read_exact(accepted.get(), length, deadline_in(5s));
    accepted.reset();
    client.kill();
    return hello;
}

}  // namespace

TEST_CASE("curl with the right CA gets /metrics over TLS; a wrong CA and clear text fail") {
    TempDir dir;
    const Pki pki = make_pki(dir, "one");
    const Pki other = make_pki(dir, "other");
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()}).text() + tls_admin(pki.cert, pki.key));
    INFO("ringlb output:\n" << lb.process->tail());
    lb.process->wait_for_line(R"(admin listening address=127\.0\.0\.1:\d+ tls=on)", 2000ms);
    const std::uint16_t port = admin_port(*lb.process);

    const Curl good = curl_get(port, "/metrics", pki.ca);
    INFO("curl: " << good.exit_code << " " << good.error);
    REQUIRE(good.exit_code == 0);
    CHECK(parse_metrics(good.body).at("ringlb_admin_tls_handshake_failures_total") == 0);
    // Keep-alive over TLS: two requests on one connection.
    const Curl twice = curl_get(port, "/healthz", pki.ca,
                                {"https://127.0.0.1:" + std::to_string(port) + "/status"});
    CHECK(twice.exit_code == 0);
    CHECK(twice.body.find("ok\n") != std::string::npos);
    CHECK(twice.body.find("\"pools\"") != std::string::npos);

    // A client trusting another CA refuses the server (curl: 60, peer certificate).
    const Curl refused = curl_get(port, "/metrics", other.ca);
    CHECK(refused.exit_code == 60);
    CHECK(refused.body.empty());

    // Clear text to the TLS port gets no HTTP answer, only a closed connection.
    const RawExchange plain = exchange_raw(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_FALSE(plain.reply);
    CHECK(plain.data.find("ringlb_") == std::string::npos);
    CHECK((plain.eof || plain.error != 0));

    // TLS 1.2 and 1.3 are served; 1.1 is refused by the server (the client is told to offer it
    // at security level 0, so the refusal cannot come from the client's own policy).
    CHECK(s_client_connects(port, {"-tls1_2"}, pki.ca));
    CHECK(s_client_connects(port, {"-tls1_3"}, pki.ca));
    CHECK_FALSE(s_client_connects(port, {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"}, pki.ca));
    CHECK_FALSE(s_client_connects(port, {"-tls1", "-cipher", "DEFAULT@SECLEVEL=0"}, pki.ca));

    // With a token too: TLS carries the bearer token.
    const std::string token_file = dir.file("token");
    write_file(token_file, "tls-token\n");
    reload_ringlb(lb, SimpleConfig({echo.address()}).text() +
                          tls_admin(pki.cert, pki.key, "token_file = \"" + token_file + "\"\n"));
    CHECK(curl_get(port, "/metrics", pki.ca).exit_code == 22);  // --fail: HTTP 401
    CHECK(curl_get(port, "/metrics", pki.ca, {"-H", "Authorization: Bearer tls-token"}).exit_code ==
          0);
}

TEST_CASE("a reload re-reads the certificate and key; a bad pair keeps the running one") {
    TempDir dir;
    const Pki first = make_pki(dir, "first");
    const Pki second = make_pki(dir, "second");
    // The files the config names: rotated in place, as certbot or an operator would.
    const std::string cert = dir.file("admin.crt");
    const std::string key = dir.file("admin.key");
    write_file(cert, read_file(first.cert));
    write_file(key, read_file(first.key));
    Backend echo = start_backend("echo");
    const std::string text = SimpleConfig({echo.address()}).text() + tls_admin(cert, key);
    Ringlb lb = start_ringlb(text);
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t port = admin_port(*lb.process);
    REQUIRE(curl_get(port, "/healthz", first.ca).exit_code == 0);
    REQUIRE(curl_get(port, "/healthz", second.ca).exit_code == 60);

    write_file(cert, read_file(second.cert));
    write_file(key, read_file(second.key));
    reload_ringlb(lb, text);
    CHECK(curl_get(port, "/healthz", second.ca).exit_code == 0);
    CHECK(curl_get(port, "/healthz", first.ca).exit_code == 60);

    // A key that does not match the certificate: the reload fails at tls_key_file and the
    // endpoint keeps serving the second certificate.
    write_file(key, read_file(first.key));
    const std::size_t before = lb.process->line_count();
    lb.process->signal(SIGHUP);
    lb.process->wait_for_line(
        R"(reload: \S+:\d+:\d+: admin tls_key_file ".*": the private key does not match)", 5000ms,
        before);
    lb.process->wait_for_line(R"(reload failed: 1 error)", 5000ms, before);
    CHECK(curl_get(port, "/healthz", second.ca).exit_code == 0);

    // And --check says the same with exit 2.
    const RunResult check =
        run_process({ringlb_binary(), "--check", "--config", lb.config->path()});
    CHECK(check.status.exited_with(2));
    CHECK(check.stderr_text.find("the private key does not match") != std::string::npos);
}

TEST_CASE("garbage, fuzzed and stalled handshakes never hold up the admin loop") {
    TempDir dir;
    const Pki pki = make_pki(dir, "fuzz");
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()}).text() + tls_admin(pki.cert, pki.key));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t port = admin_port(*lb.process);
    const std::string hello = capture_client_hello();
    REQUIRE(hello.size() > 50);
    REQUIRE(hello[0] == 0x16);  // a handshake record

    // Stalled: a record header announcing 16 KiB that never comes, half a ClientHello, a
    // whole ClientHello and then silence, and a connection that sends nothing.
    std::vector<ringlb::UniqueFd> stalled;
    for (const std::string& bytes : {std::string("\x16\x03\x01\x40\x00", 5),
                                     hello.substr(0, hello.size() / 2), hello, std::string()}) {
        stalled.push_back(connect_to(port));
        if (!bytes.empty()) {
            send_all(stalled.back().get(), bytes, deadline_in(2s));
        }
    }
    const auto stalled_at = Clock::now();

    // Fuzzed: the ClientHello with random bytes flipped, truncated or extended, and random
    // bytes; each is sent, then the write side is shut. The server must end every one of
    // them (an alert, a close, or a handshake it carries on with until our EOF).
    std::mt19937 random(20240517);
    std::size_t ended = 0;
    const int kCases = 300;
    for (int i = 0; i < kCases; ++i) {
        std::string bytes = hello;
        switch (i % 4) {
            case 0:  // flip a few bytes anywhere
                for (int flips = 1 + static_cast<int>(random() % 4); flips > 0; --flips) {
                    bytes[random() % bytes.size()] = static_cast<char>(random());
                }
                break;
            case 1:  // flip bytes in the record and handshake headers only
                bytes[random() % 9] = static_cast<char>(random());
                break;
            case 2:  // truncate
                bytes.resize(random() % bytes.size());
                break;
            default:  // random bytes, starting like a handshake record half the time
                bytes.assign(1 + random() % 600, '\0');
                for (char& c : bytes) {
                    c = static_cast<char>(random());
                }
                if (random() % 2 == 0) {
                    bytes[0] = 0x16;
                }
        }
        ringlb::UniqueFd fd = connect_to(port);
        try {
            send_all(fd.get(), bytes, deadline_in(2s));
        } catch (const HarnessError&) {
            // The server closed early on garbage: fine.
        }
        try {
            shutdown_write(fd.get());
        } catch (const HarnessError&) {
            // Already reset by the server.
        }
        const ReadResult result = read_until_close(fd.get(), deadline_in(10s));
        if (result.closed()) {
            ++ended;
        }
    }
    CHECK(ended == kCases);

    // All the while the stalled handshakes are open, a real client is served.
    const Curl good = curl_get(port, "/healthz", pki.ca);
    CHECK(good.exit_code == 0);
    CHECK(good.body == "ok\n");

    // The stalled ones are closed by the handshake deadline (5 s), not left to linger.
    for (auto& fd : stalled) {
        const ReadResult result = read_until_close(fd.get(), deadline_in(15s));
        CHECK(result.closed());
    }
    const auto closed_after =
        std::chrono::duration_cast<milliseconds>(Clock::now() - stalled_at).count();
    INFO("stalled handshakes closed after " << closed_after << " ms");
    CHECK(closed_after >= 4000);  // not before the deadline (5 s from accept)
    stalled.clear();

    const Curl metrics = curl_get(port, "/metrics", pki.ca);
    REQUIRE(metrics.exit_code == 0);
    CHECK(parse_metrics(metrics.body).at("ringlb_admin_tls_handshake_failures_total") >= 4);
}
