// SPDX-License-Identifier: MIT
// Unit tests for the admin HTTP server over real loopback sockets and plain POSIX clients.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "ringlb/admin/http_server.hpp"

using ringlb::HttpHandler;
using ringlb::HttpRequest;
using ringlb::HttpResponse;
using ringlb::HttpServer;
using ringlb::HttpServerLimits;
using ringlb::UniqueFd;

namespace {

// Every wait in these tests is bounded by this, so that a broken server fails a test instead
// of hanging it.
constexpr int kPatienceMs = 5000;

using Clock = std::chrono::steady_clock;

std::int64_t elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

UniqueFd loopback_listener(unsigned& port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    REQUIRE(::listen(fd.get(), SOMAXCONN) == 0);
    socklen_t length = sizeof(address);
    REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port = ntohs(address.sin_port);
    return fd;
}

// A server on an ephemeral loopback port, started, stopped when the test ends.
struct TestServer {
    explicit TestServer(HttpHandler handler, std::optional<std::string> token = std::nullopt,
                        HttpServerLimits limits = {}) {
        UniqueFd listener = loopback_listener(port);
        server = std::make_unique<HttpServer>(std::move(listener), ringlb::HttpAuth{token, {}},
                                              std::move(handler), limits);
        server->start();
    }
    unsigned port = 0;
    std::unique_ptr<HttpServer> server;
};

UniqueFd connect_to(unsigned port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    return fd;
}

void send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        REQUIRE(sent > 0);
        bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
}

// What one wait for the server brought.
enum class Arrival { bytes, closed, timed_out };

// Waits within the time left for what is available and appends it to `buffer`: some bytes,
// the end of the stream (EOF or reset), or nothing before the deadline.
Arrival receive_once(int fd, std::string& buffer, Clock::time_point deadline) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    pollfd waiting{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&waiting, 1, left) != 1) {
        return Arrival::timed_out;
    }
    char chunk[4096];
    ssize_t received = ::recv(fd, chunk, sizeof(chunk), 0);
    if (received <= 0) {
        return Arrival::closed;
    }
    buffer.append(chunk, static_cast<std::size_t>(received));
    return Arrival::bytes;
}

// Reads what is available within the time left; false on EOF, error or timeout.
bool receive_some(int fd, std::string& buffer, Clock::time_point deadline) {
    return receive_once(fd, buffer, deadline) == Arrival::bytes;
}

struct Response {
    int status = 0;
    std::string reason;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;

    [[nodiscard]] std::string header(const std::string& name) const {
        auto found = headers.find(name);
        return found == headers.end() ? std::string() : found->second;
    }
};

std::string lower(std::string text) {
    for (char& c : text) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return text;
}

// Reads exactly one response from `fd`; bytes after it stay in `buffer`. nullopt when none
// arrives whole within kPatienceMs. `head_only`: the response to a HEAD has no body.
std::optional<Response> read_response(int fd, std::string& buffer, bool head_only = false) {
    Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(kPatienceMs);
    std::size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!receive_some(fd, buffer, deadline)) {
            return std::nullopt;
        }
    }
    Response response;
    std::string head = buffer.substr(0, head_end);
    std::size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    REQUIRE(status_line.substr(0, 9) == "HTTP/1.1 ");
    response.status = std::stoi(status_line.substr(9, 3));
    response.reason = status_line.size() > 13 ? status_line.substr(13) : "";
    while (line_end != std::string::npos) {
        std::size_t start = line_end + 2;
        line_end = head.find("\r\n", start);
        std::string line = head.substr(
            start, line_end == std::string::npos ? std::string::npos : line_end - start);
        std::size_t colon = line.find(':');
        REQUIRE(colon != std::string::npos);
        std::size_t value = line.find_first_not_of(' ', colon + 1);
        response.headers[lower(line.substr(0, colon))] =
            value == std::string::npos ? "" : line.substr(value);
    }
    buffer.erase(0, head_end + 4);
    std::size_t length = 0;
    if (!head_only && response.headers.count("content-length") != 0) {
        length = std::stoul(response.headers["content-length"]);
    }
    while (buffer.size() < length) {
        if (!receive_some(fd, buffer, deadline)) {
            return std::nullopt;
        }
    }
    response.body = buffer.substr(0, length);
    buffer.erase(0, length);
    return response;
}

std::optional<Response> read_response(int fd) {
    std::string buffer;
    return read_response(fd, buffer);
}

// True when the server closes the connection (EOF or reset) within kPatienceMs, after any
// further bytes, which are appended to `rest`.
bool closed_by_server(int fd, std::string* rest = nullptr) {
    Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(kPatienceMs);
    std::string ignored;
    std::string& buffer = rest != nullptr ? *rest : ignored;
    for (;;) {
        const Arrival arrival = receive_once(fd, buffer, deadline);
        if (arrival != Arrival::bytes) {
            return arrival == Arrival::closed;
        }
    }
}

// Sends one request on a new connection and reads one response.
std::optional<Response> round_trip(unsigned port, std::string_view request) {
    UniqueFd client = connect_to(port);
    send_all(client.get(), request);
    return read_response(client.get());
}

std::string get(std::string_view target, std::string_view extra_headers = "") {
    return fmt::format("GET {} HTTP/1.1\r\nHost: localhost\r\n{}\r\n", target, extra_headers);
}

HttpResponse ok(std::string body) {
    HttpResponse response;
    response.status = 200;
    response.body = std::move(body);
    return response;
}

}  // namespace

TEST_CASE("a GET reaches the handler with its method, path and query") {
    std::mutex mutex;
    std::string seen_method;
    std::string seen_path;
    std::string seen_query;
    TestServer server([&](const HttpRequest& request) {
        std::lock_guard lock(mutex);
        seen_method = request.method;
        seen_path = request.path;
        seen_query = request.query;
        HttpResponse response = ok("ringlb_up 1\n");
        response.content_type = "text/plain; version=0.0.4";
        return response;
    });
    auto response = round_trip(server.port, get("/metrics?pool=api&x"));
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(response->reason == "OK");
    CHECK(response->body == "ringlb_up 1\n");
    CHECK(response->header("content-length") == "12");
    CHECK(response->header("content-type") == "text/plain; version=0.0.4");
    CHECK(response->header("connection") == "keep-alive");
    CHECK_FALSE(response->header("date").empty());
    std::lock_guard lock(mutex);
    CHECK(seen_method == "GET");
    CHECK(seen_path == "/metrics");
    CHECK(seen_query == "pool=api&x");
}

TEST_CASE("a handler's 404 and its extra headers are passed through") {
    TestServer server([](const HttpRequest&) {
        HttpResponse response;
        response.status = 404;
        response.body = "no such route\n";
        response.headers.emplace_back("Cache-Control", "no-store");
        return response;
    });
    auto response = round_trip(server.port, get("/nope"));
    REQUIRE(response);
    CHECK(response->status == 404);
    CHECK(response->reason == "Not Found");
    CHECK(response->body == "no such route\n");
    CHECK(response->header("cache-control") == "no-store");
    CHECK(response->header("content-type") == "text/plain; charset=utf-8");
}

TEST_CASE("with a token, only the right bearer token reaches the handler") {
    std::atomic<int> calls{0};
    TestServer server(
        [&](const HttpRequest&) {
            ++calls;
            return ok("secret\n");
        },
        std::string("s3cr3t-t0ken"));

    auto missing = round_trip(server.port, get("/status"));
    REQUIRE(missing);
    CHECK(missing->status == 401);
    CHECK(missing->reason == "Unauthorized");
    CHECK(missing->header("www-authenticate").rfind("Bearer", 0) == 0);
    CHECK(missing->body.find("secret") == std::string::npos);

    for (std::string wrong : {"Bearer s3cr3t-t0kex", "Bearer s3cr3t-t0ke", "Bearer s3cr3t-t0ken2",
                              "Basic czNjcjN0LXQwa2Vu", "s3cr3t-t0ken", "Bearer", "Bearer "}) {
        INFO(wrong);
        auto response = round_trip(server.port, get("/status", "Authorization: " + wrong + "\r\n"));
        REQUIRE(response);
        CHECK(response->status == 401);
        CHECK(response->header("www-authenticate").rfind("Bearer", 0) == 0);
    }
    CHECK(calls == 0);

    // GET / (the stats page, which holds no data) is served to anyone; nothing else is.
    auto page = round_trip(server.port, get("/"));
    REQUIRE(page);
    CHECK(page->status == 200);
    CHECK(calls == 1);
    for (std::string other : {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                              "GET //status HTTP/1.1\r\nHost: x\r\n\r\n"}) {
        INFO(other);
        auto refused = round_trip(server.port, other);
        REQUIRE(refused);
        CHECK(refused->status == 401);
    }
    CHECK(calls == 1);

    auto right = round_trip(server.port, get("/status", "Authorization: Bearer s3cr3t-t0ken\r\n"));
    REQUIRE(right);
    CHECK(right->status == 200);
    CHECK(right->body == "secret\n");
    auto scheme_any_case =
        round_trip(server.port, get("/status", "authorization: bEaReR  s3cr3t-t0ken\r\n"));
    REQUIRE(scheme_any_case);
    CHECK(scheme_any_case->status == 200);
    CHECK(calls == 3);  // and the page above
}

TEST_CASE("a malformed request gets 400 and the connection is closed") {
    std::atomic<int> calls{0};
    TestServer server([&](const HttpRequest&) {
        ++calls;
        return ok("x");
    });
    UniqueFd client = connect_to(server.port);
    send_all(client.get(), "GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string buffer;
    auto response = read_response(client.get(), buffer);
    REQUIRE(response);
    CHECK(response->status == 400);
    CHECK(response->reason == "Bad Request");
    CHECK(response->header("connection") == "close");
    CHECK(closed_by_server(client.get()));
    CHECK(calls == 0);
}

TEST_CASE("over-limit and unsupported requests get 431, 413, 501 and 505") {
    TestServer server([](const HttpRequest&) { return ok("fine"); });

    std::string huge =
        "GET / HTTP/1.1\r\nHost: x\r\nX-Huge: " + std::string(10000, 'h') + "\r\n\r\n";
    auto headers = round_trip(server.port, huge);
    REQUIRE(headers);
    CHECK(headers->status == 431);
    CHECK(headers->header("connection") == "close");

    // The server is still serving.
    auto next = round_trip(server.port, get("/"));
    REQUIRE(next);
    CHECK(next->status == 200);

    auto body =
        round_trip(server.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
                                    std::string(5000, 'b'));
    REQUIRE(body);
    CHECK(body->status == 413);

    auto chunked = round_trip(
        server.port, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    REQUIRE(chunked);
    CHECK(chunked->status == 501);
    CHECK(chunked->reason == "Not Implemented");

    auto version = round_trip(server.port, "GET / HTTP/2.0\r\nHost: x\r\n\r\n");
    REQUIRE(version);
    CHECK(version->status == 505);
}

TEST_CASE("a handler that throws or returns an unsendable response gives 500, not a crash") {
    TestServer server([](const HttpRequest& request) -> HttpResponse {
        if (request.path == "/throw") {
            throw std::runtime_error("boom");
        }
        if (request.path == "/inject") {
            HttpResponse response = ok("x");
            response.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: b");
            return response;
        }
        if (request.path == "/length") {
            HttpResponse response = ok("x");
            response.headers.emplace_back("content-length", "99");
            return response;
        }
        return ok("alive");
    });
    for (std::string path : {"/throw", "/inject", "/length"}) {
        INFO(path);
        auto response = round_trip(server.port, get(path));
        REQUIRE(response);
        CHECK(response->status == 500);
        CHECK(response->reason == "Internal Server Error");
        CHECK(response->header("set-cookie").empty());
    }
    auto alive = round_trip(server.port, get("/"));
    REQUIRE(alive);
    CHECK(alive->body == "alive");
}

TEST_CASE("a client that stalls mid-request does not hold up another") {
    TestServer server([](const HttpRequest& request) { return ok(std::string(request.path)); });
    UniqueFd stalled = connect_to(server.port);
    send_all(stalled.get(), "GET /slow HTTP/1.1\r\nHost: x\r\nX-Partial: ");

    Clock::time_point start = Clock::now();
    auto other = round_trip(server.port, get("/fast"));
    REQUIRE(other);
    CHECK(other->body == "/fast");
    CHECK(elapsed_ms(start) < 2000);

    // The stalled client was only waited for, not dropped: it can still finish.
    send_all(stalled.get(), "yes\r\n\r\n");
    auto late = read_response(stalled.get());
    REQUIRE(late);
    CHECK(late->body == "/slow");
}

TEST_CASE("a client that does not read a large response does not hold up another") {
    constexpr std::size_t kBigBody = 8 * 1024 * 1024;  // far more than the socket buffers take
    TestServer server([](const HttpRequest& request) {
        if (request.path == "/big") {
            std::string body(kBigBody, 'x');
            for (std::size_t i = 0; i < body.size(); i += 4096) {
                body[i] = static_cast<char>('a' + (i / 4096) % 26);
            }
            return ok(std::move(body));
        }
        return ok("small");
    });
    UniqueFd reluctant = connect_to(server.port);
    send_all(reluctant.get(), get("/big"));

    Clock::time_point start = Clock::now();
    auto other = round_trip(server.port, get("/small"));
    REQUIRE(other);
    CHECK(other->body == "small");
    CHECK(elapsed_ms(start) < 2000);

    // Partial writes resumed where they stopped: every byte arrives, in order.
    std::string buffer;
    auto big = read_response(reluctant.get(), buffer);
    REQUIRE(big);
    REQUIRE(big->body.size() == kBigBody);
    bool intact = true;
    for (std::size_t i = 0; i < kBigBody; i += 4096) {
        intact = intact && big->body[i] == static_cast<char>('a' + (i / 4096) % 26);
    }
    CHECK(intact);
}

TEST_CASE("a request that does not arrive in time gets 408; an idle connection is closed") {
    HttpServerLimits limits;
    limits.request_timeout_ms = 300;
    TestServer server([](const HttpRequest&) { return ok("x"); }, std::nullopt, limits);

    UniqueFd partial = connect_to(server.port);
    send_all(partial.get(), "GET / HTTP/1.1\r\n");
    Clock::time_point start = Clock::now();
    std::string buffer;
    auto response = read_response(partial.get(), buffer);
    REQUIRE(response);
    CHECK(response->status == 408);
    CHECK(elapsed_ms(start) >= 200);
    CHECK(closed_by_server(partial.get()));

    UniqueFd idle = connect_to(server.port);
    std::string said;
    CHECK(closed_by_server(idle.get(), &said));
    CHECK(said.empty());
}

TEST_CASE("100 requests one after another, on new and on one kept-alive connection") {
    std::atomic<int> calls{0};
    TestServer server([&](const HttpRequest& request) {
        ++calls;
        return ok(std::string(request.query));
    });
    for (int i = 0; i < 100; ++i) {
        auto response = round_trip(server.port, get("/n?" + std::to_string(i)));
        REQUIRE(response);
        REQUIRE(response->body == std::to_string(i));
    }
    UniqueFd client = connect_to(server.port);
    std::string buffer;
    for (int i = 0; i < 100; ++i) {
        send_all(client.get(), get("/k?" + std::to_string(i)));
        auto response = read_response(client.get(), buffer);
        REQUIRE(response);
        REQUIRE(response->body == std::to_string(i));
        REQUIRE(response->header("connection") == "keep-alive");
    }
    CHECK(calls == 200);
}

TEST_CASE("pipelined requests are answered in order") {
    TestServer server([](const HttpRequest& request) { return ok(std::string(request.path)); });
    UniqueFd client = connect_to(server.port);
    send_all(client.get(), get("/one") +
                               "POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
                               "GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::string buffer;
    for (std::string expected : {"/one", "/two", "/three"}) {
        auto response = read_response(client.get(), buffer);
        REQUIRE(response);
        CHECK(response->body == expected);
    }
    CHECK(closed_by_server(client.get()));
}

TEST_CASE("HTTP/1.0 and Connection: close get one response, then the server closes") {
    TestServer server([](const HttpRequest&) { return ok("bye"); });
    for (std::string request :
         {std::string("GET / HTTP/1.0\r\n\r\n"), get("/", "Connection: close\r\n")}) {
        UniqueFd client = connect_to(server.port);
        send_all(client.get(), request);
        std::string buffer;
        auto response = read_response(client.get(), buffer);
        REQUIRE(response);
        CHECK(response->header("connection") == "close");
        CHECK(response->body == "bye");
        std::string rest;
        CHECK(closed_by_server(client.get(), &rest));
        CHECK(buffer.empty());
        CHECK(rest.empty());
    }
}

TEST_CASE("HEAD gets the headers of a GET and no body") {
    TestServer server([](const HttpRequest&) { return ok("0123456789"); });
    UniqueFd client = connect_to(server.port);
    send_all(client.get(), "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string buffer;
    auto head = read_response(client.get(), buffer, true);
    REQUIRE(head);
    CHECK(head->status == 200);
    CHECK(head->header("content-length") == "10");
    // No body bytes slipped in: the next response on the connection parses cleanly.
    send_all(client.get(), get("/"));
    auto next = read_response(client.get(), buffer);
    REQUIRE(next);
    CHECK(next->status == 200);
    CHECK(next->body == "0123456789");
}

TEST_CASE("Expect: 100-continue gets an interim response before the body is sent") {
    TestServer server([](const HttpRequest& request) { return ok(std::string(request.body)); });
    UniqueFd client = connect_to(server.port);
    send_all(
        client.get(),
        "POST /drain HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    std::string buffer;
    auto interim = read_response(client.get(), buffer);
    REQUIRE(interim);
    CHECK(interim->status == 100);
    send_all(client.get(), "body");
    auto final_response = read_response(client.get(), buffer);
    REQUIRE(final_response);
    CHECK(final_response->status == 200);
    CHECK(final_response->body == "body");
}

TEST_CASE("the 65th simultaneous client gets 503 while the first 64 are still served") {
    TestServer server([](const HttpRequest&) { return ok("served"); });
    std::vector<UniqueFd> clients;
    for (int i = 0; i < 64; ++i) {
        clients.push_back(connect_to(server.port));
    }
    // Connections are accepted in order, so this one comes after the 64 others.
    UniqueFd extra = connect_to(server.port);
    auto refused = read_response(extra.get());
    REQUIRE(refused);
    CHECK(refused->status == 503);
    CHECK(refused->reason == "Service Unavailable");
    CHECK(refused->header("connection") == "close");

    send_all(clients.front().get(), get("/"));
    auto first = read_response(clients.front().get());
    REQUIRE(first);
    CHECK(first->body == "served");
    send_all(clients.back().get(), get("/"));
    auto last = read_response(clients.back().get());
    REQUIRE(last);
    CHECK(last->body == "served");

    // Once a slot is free, a new client is served again.
    clients.pop_back();
    Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(kPatienceMs);
    // The server may not have noticed the close yet: a refusal (503, or a reset when the
    // request crosses the refusing close) is retried until the deadline.
    std::optional<Response> again;
    do {
        again = round_trip(server.port, get("/"));
    } while ((!again || again->status == 503) && Clock::now() < deadline);
    REQUIRE(again);
    CHECK(again->status == 200);
}

TEST_CASE("stop() returns promptly with clients connected, and they see the close") {
    TestServer server([](const HttpRequest&) { return ok("x"); });
    UniqueFd idle = connect_to(server.port);
    UniqueFd partial = connect_to(server.port);
    send_all(partial.get(), "GET / HTTP/1.1\r\n");
    UniqueFd served = connect_to(server.port);
    send_all(served.get(), get("/"));
    REQUIRE(read_response(served.get()));  // the server is up and looping

    Clock::time_point start = Clock::now();
    server.server->stop();
    CHECK(elapsed_ms(start) < 1000);
    CHECK(closed_by_server(idle.get()));
    CHECK(closed_by_server(partial.get()));
    server.server->stop();  // again: harmless
}

TEST_CASE("stop() from inside the handler does not deadlock") {
    HttpServer* self = nullptr;
    TestServer server([&](const HttpRequest&) {
        self->stop();
        return ok("stopping");
    });
    self = server.server.get();
    auto response = round_trip(server.port, get("/"));
    REQUIRE(response);
    CHECK(response->body == "stopping");
    Clock::time_point start = Clock::now();
    server.server.reset();  // joins the thread that has been asked to stop
    CHECK(elapsed_ms(start) < 1000);
}

TEST_CASE("the server thread is named ringlb-admin") {
    auto thread_named = [](const std::string& name) {
        DIR* tasks = ::opendir("/proc/self/task");
        REQUIRE(tasks != nullptr);
        bool found = false;
        while (dirent* entry = ::readdir(tasks)) {
            std::ifstream comm(std::string("/proc/self/task/") + entry->d_name + "/comm");
            std::string line;
            if (std::getline(comm, line) && line == name) {
                found = true;
            }
        }
        ::closedir(tasks);
        return found;
    };
    CHECK_FALSE(thread_named("ringlb-admin"));
    TestServer server([](const HttpRequest&) { return ok("x"); });
    REQUIRE(round_trip(server.port, get("/")));
    CHECK(thread_named("ringlb-admin"));
}

TEST_CASE("invalid set-up is refused at construction") {
    unsigned port = 0;
    auto handler = [](const HttpRequest&) { return ok("x"); };
    using ringlb::HttpAuth;
    CHECK_THROWS_AS(HttpServer(loopback_listener(port), HttpAuth{std::string(""), {}}, handler),
                    std::invalid_argument);
    CHECK_THROWS_AS(
        HttpServer(loopback_listener(port), HttpAuth{std::string("two words"), {}}, handler),
        std::invalid_argument);
    CHECK_THROWS_AS(
        HttpServer(loopback_listener(port), HttpAuth{{}, std::string("two words")}, handler),
        std::invalid_argument);
    CHECK_THROWS_AS(HttpServer(UniqueFd(), HttpAuth{}, handler), std::invalid_argument);
    CHECK_THROWS_AS(HttpServer(loopback_listener(port), HttpAuth{}, HttpHandler()),
                    std::invalid_argument);
    CHECK(ringlb::http_reason_phrase(431) == "Request Header Fields Too Large");
    CHECK(ringlb::http_reason_phrase(499) == "Client Error");
}
