// SPDX-License-Identifier: MIT
// Config loader: defaults, every class of error with its exact place, and robustness to junk.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringlb/loader/loader.hpp"

namespace {

using ringlb::config::LoadResult;

// Joins lines with '\n', so that a test reads with explicit line numbers: line N is item N.
std::string lines(std::initializer_list<std::string_view> items) {
    std::string text;
    for (std::string_view item : items) {
        text.append(item);
        text.push_back('\n');
    }
    return text;
}

LoadResult load(const std::string& text) {
    return ringlb::config::load_config_string(text, "test.toml");
}

// Every diagnostic as "FILE:LINE:COL: message", in the order the loader returned them.
std::vector<std::string> errors_of(const LoadResult& result) {
    std::vector<std::string> out;
    for (const auto& error : result.errors) {
        out.push_back(error.to_string());
    }
    return out;
}

// A valid config's pool section, appended to texts that test listeners.
constexpr std::string_view kPoolApi[] = {
    "[[pool]]",
    "name = \"api\"",
    "  [[pool.backend]]",
    "  address = \"127.0.0.1:9001\"",
};

std::string with_pool_api(std::initializer_list<std::string_view> items) {
    std::string text = lines(items);
    for (std::string_view line : kPoolApi) {
        text.append(line);
        text.push_back('\n');
    }
    return text;
}

// A file in /tmp with the given content, removed when the test ends.
class TempFile final {
  public:
    explicit TempFile(std::string_view content) {
        int fd = ::mkstemp(path_);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, content.data(), content.size()) ==
                static_cast<ssize_t>(content.size()));
        ::close(fd);
    }
    ~TempFile() { ::unlink(path_); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    [[nodiscard]] std::string path() const { return path_; }

  private:
    char path_[32] = "/tmp/ringlb-config-test-XXXXXX";
};

// A failed DNS lookup must not wait out resolver timeouts on a machine without a reachable
// name server: one try, one second. Set before the first lookup, when glibc reads it.
const bool kResolverBounded = ::setenv("RES_OPTIONS", "timeout:1 attempts:1", 1) == 0;

std::string read_whole_file(const std::string& path) {
    std::string text;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) {
        text.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return text;
}

}  // namespace

TEST_CASE("a minimal file gets every documented default") {
    auto result = load(lines({
        "[[listener]]",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"app\"",
        "[[pool]]",
        "name = \"app\"",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
    }));
    REQUIRE(errors_of(result).empty());
    REQUIRE(result.config);
    const auto& config = *result.config;
    CHECK(config.source == "test.toml");
    CHECK(config.global.workers == 0);
    CHECK(config.global.shutdown_grace_ms == 10000);
    CHECK(config.global.log_level == ringlb::LogLevel::info);
    CHECK(config.global.pipe_size == 1048576);
    CHECK(config.global.splice == ringlb::config::Splice::automatic);

    REQUIRE(config.listeners.size() == 1);
    const auto& listener = config.listeners[0];
    CHECK(listener.name == "127.0.0.1:8080");
    CHECK(listener.bind.to_string() == "127.0.0.1:8080");
    CHECK(listener.pool == "app");
    CHECK(listener.pool_index == 0);

    REQUIRE(config.pools.size() == 1);
    const auto& pool = config.pools[0];
    CHECK(pool.name == "app");
    CHECK(pool.algorithm == ringlb::config::Algorithm::round_robin);
    CHECK(pool.connect_timeout_ms == 1000);
    CHECK(pool.idle_timeout_ms == 300000);
    CHECK(pool.retries == 2);
    CHECK_FALSE(pool.health);
    REQUIRE(pool.backends.size() == 1);
    CHECK(pool.backends[0].address.to_string() == "127.0.0.1:9001");
    CHECK(pool.backends[0].address_text == "127.0.0.1:9001");
    CHECK(pool.backends[0].weight == 1);
}

TEST_CASE("every key given is read into the config") {
    auto result = load(lines({
        "[global]",                            // 1
        "workers = 4",                         // 2
        "shutdown_grace_ms = 2500",            // 3
        "log_level = \"debug\"",               // 4
        "[[listener]]",                        // 5
        "name = \"web\"",                      // 6
        "bind = \"0.0.0.0:80\"",               // 7
        "pool = \"second\"",                   // 8
        "[[listener]]",                        // 9
        "name = \"other\"",                    // 10
        "bind = \"0.0.0.0:81\"",               // 11
        "pool = \"first\"",                    // 12
        "[[pool]]",                            // 13
        "name = \"first\"",                    // 14
        "  [[pool.backend]]",                  // 15
        "  address = \"10.0.0.1:80\"",         // 16
        "[[pool]]",                            // 17
        "name = \"second\"",                   // 18
        "algorithm = \"round_robin\"",         // 19
        "connect_timeout_ms = 250",            // 20
        "idle_timeout_ms = 0",                 // 21
        "retries = 0",                         // 22
        "  [pool.health]",                     // 23
        "  interval_ms = 750",                 // 24
        "  timeout_ms = 700",                  // 25
        "  rise = 5",                          // 26
        "  fall = 6",                          // 27
        "  [[pool.backend]]",                  // 28
        "  address = \"[2001:db8::1]:8080\"",  // 29
        "  weight = 7",                        // 30
        "  [[pool.backend]]",                  // 31
        "  address = \"10.0.0.2:8080\"",       // 32
    }));
    REQUIRE(errors_of(result).empty());
    const auto& config = *result.config;
    CHECK(config.global.workers == 4);
    CHECK(config.global.shutdown_grace_ms == 2500);
    CHECK(config.global.log_level == ringlb::LogLevel::debug);
    REQUIRE(config.listeners.size() == 2);
    CHECK(config.listeners[0].name == "web");
    CHECK(config.listeners[0].pool_index == 1);
    CHECK(config.listeners[1].pool_index == 0);
    REQUIRE(config.pools.size() == 2);
    const auto& pool = config.pools[1];
    CHECK(pool.name == "second");
    CHECK(pool.connect_timeout_ms == 250);
    CHECK(pool.idle_timeout_ms == 0);
    CHECK(pool.retries == 0);
    REQUIRE(pool.health);
    CHECK(pool.health->interval_ms == 750);
    CHECK(pool.health->timeout_ms == 700);
    CHECK(pool.health->rise == 5);
    CHECK(pool.health->fall == 6);
    REQUIRE(pool.backends.size() == 2);
    CHECK(pool.backends[0].address.to_string() == "[2001:db8::1]:8080");
    CHECK(pool.backends[0].address_text == "[2001:db8::1]:8080");
    CHECK(pool.backends[0].weight == 7);
    CHECK(pool.backends[1].weight == 1);
}

TEST_CASE("an empty health table gets the default probe settings") {
    auto result = load(with_pool_api({
        "[[listener]]",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"checked\"",
        "  [pool.health]",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
    }));
    REQUIRE(errors_of(result).empty());
    const auto& health = result.config->pools[0].health;
    REQUIRE(health);
    CHECK(health->interval_ms == 2000);
    CHECK(health->timeout_ms == 1000);
    CHECK(health->rise == 2);
    CHECK(health->fall == 3);
}

TEST_CASE("health timeout defaults to the interval when the interval is shorter") {
    auto result = load(lines({
        "[[listener]]",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"api\"",
        "health.interval_ms = 500",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
    }));
    REQUIRE(errors_of(result).empty());
    REQUIRE(result.config->pools[0].health);
    CHECK(result.config->pools[0].health->interval_ms == 500);
    CHECK(result.config->pools[0].health->timeout_ms == 500);
}

TEST_CASE("the bounds of every range are accepted") {
    auto low = load(lines({
        "[global]",
        "workers = 0",
        "shutdown_grace_ms = 0",
        "pipe_size = 4096",
        "splice = \"always\"",
        "batch_wait_us = 0",
        "[[listener]]",
        "bind = \"127.0.0.1:0\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"api\"",
        "connect_timeout_ms = 1",
        "idle_timeout_ms = 0",
        "retries = 0",
        "  [pool.health]",
        "  interval_ms = 100",
        "  timeout_ms = 1",
        "  rise = 1",
        "  fall = 1",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:1\"",
        "  weight = 1",
    }));
    CHECK(errors_of(low).empty());
    auto high = load(lines({
        "[global]",
        "workers = 1024",
        "shutdown_grace_ms = 3600000",
        "pipe_size = 16777216",
        "batch_wait_us = 10000",
        "[[listener]]",
        "bind = \"127.0.0.1:65535\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"api\"",
        "connect_timeout_ms = 600000",
        "idle_timeout_ms = 86400000",
        "retries = 100",
        "  [pool.health]",
        "  interval_ms = 3600000",
        "  timeout_ms = 3600000",
        "  rise = 1000",
        "  fall = 1000",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:65535\"",
        "  weight = 1000",
    }));
    REQUIRE(errors_of(high).empty());
    CHECK(high.config->global.workers == 1024);
    CHECK(high.config->pools[0].idle_timeout_ms == 86400000);
    CHECK(high.config->pools[0].backends[0].weight == 1000);
}

TEST_CASE("inline tables and inline arrays of tables are accepted") {
    auto result = load(lines({
        "listener = [{ name = \"web\", bind = \"127.0.0.1:8080\", pool = \"api\" }]",
        "pool = [{ name = \"api\", health = { rise = 4 }, backend = [{ address = "
        "\"127.0.0.1:9001\", weight = 3 }] }]",
    }));
    REQUIRE(errors_of(result).empty());
    CHECK(result.config->listeners[0].name == "web");
    CHECK(result.config->pools[0].health->rise == 4);
    CHECK(result.config->pools[0].backends[0].weight == 3);
}

TEST_CASE("an IPv6 bind parses") {
    auto result = load(with_pool_api({
        "[[listener]]",
        "bind = \"[::1]:8443\"",
        "pool = \"api\"",
    }));
    REQUIRE(errors_of(result).empty());
    const auto& bind = result.config->listeners[0].bind;
    CHECK(bind.family() == AF_INET6);
    CHECK(bind.port() == 8443);
    CHECK(result.config->listeners[0].name == "[::1]:8443");
}

TEST_CASE("bind port 0 is allowed and leaves the choice to the kernel") {
    auto result = load(with_pool_api({
        "[[listener]]",
        "bind = \"127.0.0.1:0\"",
        "pool = \"api\"",
    }));
    REQUIRE(errors_of(result).empty());
    CHECK(result.config->listeners[0].bind.port() == 0);
}

TEST_CASE("port 65536 is rejected for a bind and for a backend") {
    auto result = load(lines({
        "[[listener]]",                 // 1
        "name = \"web\"",               // 2
        "bind = \"127.0.0.1:65536\"",   // 3
        "pool = \"api\"",               // 4
        "[[pool]]",                     // 5
        "name = \"api\"",               // 6
        "  [[pool.backend]]",           // 7
        "  address = \"[::1]:65536\"",  // 8
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:3:8: listener \"web\": bind port must be between 0 and 65535, got 65536",
              "test.toml:8:13: pool \"api\": backend address port must be between 1 and 65535, "
              "got 65536",
          });
    CHECK_FALSE(result.config);
}

TEST_CASE("unknown key is reported with its line and column") {
    auto result = load(lines({
        "extra = 1",                       // 1
        "[global]",                        // 2
        "wokers = 2",                      // 3
        "[[listener]]",                    // 4
        "bind = \"127.0.0.1:8080\"",       // 5
        "pool = \"api\"",                  // 6
        "port = 80",                       // 7
        "[[pool]]",                        // 8
        "name = \"api\"",                  // 9
        "retry = 3",                       // 10
        "  [pool.health]",                 // 11
        "  intervall_ms = 500",            // 12
        "  [[pool.backend]]",              // 13
        "  address = \"127.0.0.1:9001\"",  // 14
        "  wieght = 2",                    // 15
    }));
    CHECK(errors_of(result) == std::vector<std::string>{
                                   "test.toml:1:1: unknown key \"extra\" in the top-level table",
                                   "test.toml:3:1: unknown key \"wokers\" in [global]",
                                   "test.toml:7:1: unknown key \"port\" in [[listener]]",
                                   "test.toml:10:1: unknown key \"retry\" in [[pool]]",
                                   "test.toml:12:3: unknown key \"intervall_ms\" in [pool.health]",
                                   "test.toml:15:3: unknown key \"wieght\" in [[pool.backend]]",
                               });
    CHECK_FALSE(result.config);
}

TEST_CASE("a value of the wrong type is reported with its line and column") {
    auto result = load(lines({
        "[global]",                        // 1
        "workers = \"2\"",                 // 2
        "shutdown_grace_ms = 1.5",         // 3
        "log_level = 3",                   // 4
        "[[listener]]",                    // 5
        "bind = 8080",                     // 6
        "pool = \"api\"",                  // 7
        "[[pool]]",                        // 8
        "name = \"api\"",                  // 9
        "retries = \"2\"",                 // 10
        "connect_timeout_ms = true",       // 11
        "  [[pool.backend]]",              // 12
        "  address = \"127.0.0.1:9001\"",  // 13
        "  weight = 1.0",                  // 14
        "  [[pool.backend]]",              // 15
        "  address = 9002",                // 16
    }));
    CHECK(
        errors_of(result) ==
        std::vector<std::string>{
            "test.toml:2:11: key \"workers\" must be an integer, got string",
            "test.toml:3:21: key \"shutdown_grace_ms\" must be an integer, got float",
            "test.toml:4:13: key \"log_level\" must be a string, got integer",
            "test.toml:6:8: listener #1: key \"bind\" must be a string, got integer",
            "test.toml:10:11: pool \"api\": key \"retries\" must be an integer, got string",
            "test.toml:11:22: pool \"api\": key \"connect_timeout_ms\" must be an integer, got "
            "boolean",
            "test.toml:14:12: pool \"api\": backend key \"weight\" must be an integer, got float",
            "test.toml:16:13: pool \"api\": backend key \"address\" must be a string, got integer",
        });
}

TEST_CASE("a table where an array of tables is expected is an error") {
    auto result = load(lines({
        "[listener]",                      // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"api\"",                  // 3
        "[[pool]]",                        // 4
        "name = \"api\"",                  // 5
        "  [pool.backend]",                // 6
        "  address = \"127.0.0.1:9001\"",  // 7
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:1:1: key \"listener\" must be an array of tables ([[listener]]), got "
              "table",
              "test.toml:6:3: pool \"api\": key \"backend\" must be an array of tables "
              "([[pool.backend]]), got table",
          });
}

TEST_CASE("an array where a table is expected, and a non-table entry, are errors") {
    auto result = load(lines({
        "listener = [1, { bind = \"127.0.0.1:8080\", pool = \"api\" }]",  // 1
        "[[global]]",                                                     // 2
        "workers = 1",                                                    // 3
        "[[pool]]",                                                       // 4
        "name = \"api\"",                                                 // 5
        "  [[pool.health]]",                                              // 6
        "  rise = 2",                                                     // 7
        "  [[pool.backend]]",                                             // 8
        "  address = \"127.0.0.1:9001\"",                                 // 9
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:1:13: each entry of \"listener\" must be a table ([[listener]]), got "
              "integer",
              "test.toml:2:1: key \"global\" must be a table ([global]), got array",
              "test.toml:6:3: pool \"api\": key \"health\" must be a table ([pool.health]), got "
              "array",
          });
}

TEST_CASE("an integer beyond the int64 range is a parse error at its place") {
    auto result = load(lines({
        "[global]",
        "workers = 99999999999999999999",
    }));
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].line == 2);
    CHECK(result.errors[0].column == 31);
    CHECK(result.errors[0].message ==
          "not valid TOML: Error while parsing decimal integer: '99999999999999999999' is not "
          "representable in 64 bits");
    CHECK_FALSE(result.config);
}

TEST_CASE("out-of-range values are reported with the allowed range") {
    auto result = load(lines({
        "[global]",                         // 1
        "workers = 1025",                   // 2
        "shutdown_grace_ms = -1",           // 3
        "[[listener]]",                     // 4
        "bind = \"127.0.0.1:8080\"",        // 5
        "pool = \"api\"",                   // 6
        "[[pool]]",                         // 7
        "name = \"api\"",                   // 8
        "connect_timeout_ms = 0",           // 9
        "idle_timeout_ms = 86400001",       // 10
        "retries = 101",                    // 11
        "  [pool.health]",                  // 12
        "  interval_ms = 99",               // 13
        "  timeout_ms = 0",                 // 14
        "  rise = 0",                       // 15
        "  fall = 1001",                    // 16
        "  [[pool.backend]]",               // 17
        "  address = \"127.0.0.1:9001\"",   // 18
        "  weight = 0",                     // 19
        "  [[pool.backend]]",               // 20
        "  address = \"127.0.0.1:9002\"",   // 21
        "  weight = -9223372036854775808",  // 22
    }));
    CHECK(
        errors_of(result) ==
        std::vector<std::string>{
            "test.toml:2:11: workers must be between 0 and 1024, got 1025",
            "test.toml:3:21: shutdown_grace_ms must be between 0 and 3600000, got -1",
            "test.toml:9:22: pool \"api\": connect_timeout_ms must be between 1 and 600000, got 0",
            "test.toml:10:19: pool \"api\": idle_timeout_ms must be between 0 and 86400000, got "
            "86400001",
            "test.toml:11:11: pool \"api\": retries must be between 0 and 100, got 101",
            "test.toml:13:17: pool \"api\": health interval_ms must be between 100 and 3600000, "
            "got 99",
            "test.toml:14:16: pool \"api\": health timeout_ms must be between 1 and 3600000, got "
            "0",
            "test.toml:15:10: pool \"api\": health rise must be between 1 and 1000, got 0",
            "test.toml:16:10: pool \"api\": health fall must be between 1 and 1000, got 1001",
            "test.toml:19:12: pool \"api\": backend weight must be between 1 and 1000, got 0",
            "test.toml:22:12: pool \"api\": backend weight must be between 1 and 1000, got "
            "-9223372036854775808",
        });
}

TEST_CASE("protocol health checks load with their keys") {
    auto result = load(lines({
        "[[listener]]",                         // 1
        "bind = \"127.0.0.1:8080\"",            // 2
        "pool = \"redis\"",                     // 3
        "[[pool]]",                             // 4
        "name = \"redis\"",                     // 5
        "send_proxy = \"v1\"",                  // 6
        "  [pool.health]",                      // 7
        "  type = \"send_expect\"",             // 8
        "  send = \"INFO replication\\r\\n\"",  // 9
        "  expect = \"role:master\"",           // 10
        "  port = 6380",                        // 11
        "  [[pool.backend]]",                   // 12
        "  address = \"127.0.0.1:6379\"",       // 13
        "[[pool]]",                             // 14
        "name = \"web\"",                       // 15
        "  [pool.health]",                      // 16
        "  type = \"http\"",                    // 17
        "  http_path = \"/healthz\"",           // 18
        "  http_host = \"web.example\"",        // 19
        "  expect_status = \"200-299,301\"",    // 20
        "  send_proxy = \"none\"",              // 21
        "  [[pool.backend]]",                   // 22
        "  address = \"127.0.0.1:8081\"",       // 23
    }));
    REQUIRE(errors_of(result) == std::vector<std::string>{});
    const auto& redis = *result.config->pools[0].health;
    CHECK(redis.type == ringlb::config::HealthCheckType::send_expect);
    CHECK(redis.send == "INFO replication\r\n");
    CHECK(redis.expect == "role:master");
    CHECK(redis.port == 6380);
    CHECK_FALSE(redis.send_proxy);  // follows the pool's
    const auto& web = *result.config->pools[1].health;
    CHECK(web.type == ringlb::config::HealthCheckType::http);
    CHECK(web.http_path == "/healthz");
    CHECK(web.http_host == "web.example");
    CHECK(web.expect_status == std::vector<ringlb::config::StatusRange>{{200, 299}, {301, 301}});
    CHECK(web.send_proxy == ringlb::config::SendProxy::none);
    // Defaults.
    const ringlb::config::HealthConfig plain;
    CHECK(plain.type == ringlb::config::HealthCheckType::connect);
    CHECK(plain.http_path == "/");
    CHECK(plain.expect_status == std::vector<ringlb::config::StatusRange>{{200, 399}});
    CHECK(plain.port == 0);
}

TEST_CASE("protocol health check keys are checked where they are written") {
    auto result = load(lines({
        "[[listener]]",                    // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"a\"",                    // 3
        "[[pool]]",                        // 4
        "name = \"a\"",                    // 5
        "  [pool.health]",                 // 6
        "  send = \"PING\"",               // 7
        "  http_path = \"/\"",             // 8
        "  port = 70000",                  // 9
        "  [[pool.backend]]",              // 10
        "  address = \"127.0.0.1:9001\"",  // 11
        "[[pool]]",                        // 12
        "name = \"b\"",                    // 13
        "  [pool.health]",                 // 14
        "  type = \"send_expect\"",        // 15
        "  [[pool.backend]]",              // 16
        "  address = \"127.0.0.1:9001\"",  // 17
        "[[pool]]",                        // 18
        "name = \"c\"",                    // 19
        "  [pool.health]",                 // 20
        "  type = \"http\"",               // 21
        "  http_path = \"healthz\"",       // 22
        "  http_host = \"a b\"",           // 23
        "  expect_status = \"200-2xx\"",   // 24
        "  expect = \"x\"",                // 25
        "  send_proxy = \"v3\"",           // 26
        "  [[pool.backend]]",              // 27
        "  address = \"127.0.0.1:9001\"",  // 28
        "[[pool]]",                        // 29
        "name = \"d\"",                    // 30
        "  [pool.health]",                 // 31
        "  type = \"redis\"",              // 32
        "  [[pool.backend]]",              // 33
        "  address = \"127.0.0.1:9001\"",  // 34
        "[[pool]]",                        // 35
        "name = \"e\"",                    // 36
        "  [pool.health]",                 // 37
        "  type = \"send_expect\"",        // 38
        "  expect = \"\"",                 // 39
        "  [[pool.backend]]",              // 40
        "  address = \"127.0.0.1:9001\"",  // 41
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:7:10: pool \"a\": health send is only for type = \"send_expect\" (type "
              "is \"connect\")",
              "test.toml:8:15: pool \"a\": health http_path is only for type = \"http\" (type is "
              "\"connect\")",
              "test.toml:9:10: pool \"a\": health port must be between 1 and 65535, got 70000",
              "test.toml:14:3: pool \"b\": missing required key \"expect\" in [pool.health]",
              "test.toml:22:15: pool \"c\": health http_path \"healthz\" must start with \"/\" "
              "and hold no space or control character",
              "test.toml:23:15: pool \"c\": health http_host \"a b\" must be non-empty and hold "
              "no space or control character",
              "test.toml:24:19: pool \"c\": health expect_status: \"200-2xx\" is not a status "
              "code (100..599) nor a range of them such as \"200-399\"",
              "test.toml:25:12: pool \"c\": health expect is only for type = \"send_expect\" "
              "(type is \"http\")",
              "test.toml:26:16: pool \"c\": health send_proxy \"v3\" is not supported; "
              "supported: none, v1, v2",
              "test.toml:32:10: pool \"d\": health type \"redis\" is not supported; supported: "
              "connect, send_expect, http",
              "test.toml:39:12: pool \"e\": health expect must not be empty: every reply would "
              "pass; use type = \"connect\" for that",
          });
}

TEST_CASE("agent checks load with their defaults: off, the health interval, nothing sent") {
    auto result = load(lines({
        "[[listener]]",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"a\"",
        "[[pool]]",
        "name = \"a\"",
        "health.interval_ms = 700",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
        "[[pool]]",
        "name = \"b\"",
        "  [pool.health]",
        "  agent_port = 9999",
        "  agent_interval_ms = 1500",
        "  agent_send = \"status\\n\"",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
    }));
    REQUIRE(errors_of(result).empty());
    const auto& off = *result.config->pools[0].health;
    CHECK(off.agent_port == 0);
    CHECK(off.agent_interval_ms == 700);
    CHECK(off.agent_send.empty());
    const auto& on = *result.config->pools[1].health;
    CHECK(on.agent_port == 9999);
    CHECK(on.agent_interval_ms == 1500);
    CHECK(on.agent_send == "status\n");
}

TEST_CASE("agent check keys are checked where they are written") {
    auto result = load(lines({
        "[[listener]]",                                       // 1
        "bind = \"127.0.0.1:8080\"",                          // 2
        "pool = \"a\"",                                       // 3
        "[[pool]]",                                           // 4
        "name = \"a\"",                                       // 5
        "  [pool.health]",                                    // 6
        "  agent_port = 65536",                               // 7
        "  agent_interval_ms = 50",                           // 8
        "  [[pool.backend]]",                                 // 9
        "  address = \"127.0.0.1:9001\"",                     // 10
        "[[pool]]",                                           // 11
        "name = \"b\"",                                       // 12
        "  [pool.health]",                                    // 13
        "  timeout_ms = 800",                                 // 14
        "  agent_port = 9999",                                // 15
        "  agent_interval_ms = 500",                          // 16
        "  agent_send = 7",                                   // 17
        "  [[pool.backend]]",                                 // 18
        "  address = \"127.0.0.1:9001\"",                     // 19
        "[[pool]]",                                           // 20
        "name = \"c\"",                                       // 21
        "  [pool.health]",                                    // 22
        "  agent_send = \"status\"",                          // 23
        "  [[pool.backend]]",                                 // 24
        "  address = \"127.0.0.1:9001\"",                     // 25
        "[[pool]]",                                           // 26
        "name = \"d\"",                                       // 27
        "  [pool.health]",                                    // 28
        "  agent_port = 0",                                   // 29
        "  agent_send = \"status\"",                          // 30
        "  [[pool.backend]]",                                 // 31
        "  address = \"127.0.0.1:9001\"",                     // 32
        "[[pool]]",                                           // 33
        "name = \"e\"",                                       // 34
        "  [pool.health]",                                    // 35
        "  agent_port = 1",                                   // 36
        "  agent_send = \"" + std::string(1025, 'x') + "\"",  // 37
        "  [[pool.backend]]",                                 // 38
        "  address = \"127.0.0.1:9001\"",                     // 39
    }));
    CHECK(
        errors_of(result) ==
        std::vector<std::string>{
            "test.toml:7:16: pool \"a\": health agent_port must be between 0 and 65535, got "
            "65536",
            "test.toml:8:23: pool \"a\": health agent_interval_ms must be between 100 and "
            "3600000, got 50",
            "test.toml:16:23: pool \"b\": health agent_interval_ms (500) must not be less than "
            "timeout_ms (800), which agent probes follow too",
            "test.toml:17:16: pool \"b\": health key \"agent_send\" must be a string, got integer",
            "test.toml:23:16: pool \"c\": health agent_send needs agent_port",
            "test.toml:37:16: pool \"e\": health agent_send is 1025 bytes long; at most 1024",
        });
}

TEST_CASE("a health timeout longer than the interval is an error") {
    auto result = load(lines({
        "[[listener]]",                    // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"api\"",                  // 3
        "[[pool]]",                        // 4
        "name = \"api\"",                  // 5
        "  [pool.health]",                 // 6
        "  interval_ms = 1000",            // 7
        "  timeout_ms = 1500",             // 8
        "  [[pool.backend]]",              // 9
        "  address = \"127.0.0.1:9001\"",  // 10
        "[[pool]]",                        // 11
        "name = \"default-interval\"",     // 12
        "health.timeout_ms = 2001",        // 13
        "  [[pool.backend]]",              // 14
        "  address = \"127.0.0.1:9001\"",  // 15
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:8:16: pool \"api\": health timeout_ms (1500) must not exceed interval_ms "
              "(1000)",
              "test.toml:13:21: pool \"default-interval\": health timeout_ms (2001) must not "
              "exceed interval_ms (2000)",
          });
}

TEST_CASE("a rejected health interval is reported alone, not with the timeout") {
    auto result = load(lines({
        "[[listener]]",                    // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"api\"",                  // 3
        "[[pool]]",                        // 4
        "name = \"api\"",                  // 5
        "  [pool.health]",                 // 6
        "  interval_ms = 5000000",         // 7
        "  timeout_ms = 3000",             // 8
        "  [[pool.backend]]",              // 9
        "  address = \"127.0.0.1:9001\"",  // 10
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:7:17: pool \"api\": health interval_ms must be between 100 and 3600000, "
              "got 5000000",
          });
}

TEST_CASE("an empty bind is reported as an invalid address") {
    auto result = load(with_pool_api({
        "[[listener]]",
        "bind = \"\"",
        "pool = \"api\"",
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:2:8: listener #1: bind \"\" is not a valid address; expected a numeric "
              "\"IPv4:port\" or \"[IPv6]:port\"",
          });
}

TEST_CASE("an unknown log level or algorithm is rejected") {
    auto result = load(lines({
        "[global]",                        // 1
        "log_level = \"verbose\"",         // 2
        "[[listener]]",                    // 3
        "bind = \"127.0.0.1:8080\"",       // 4
        "pool = \"api\"",                  // 5
        "[[pool]]",                        // 6
        "name = \"api\"",                  // 7
        "algorithm = \"least_conn\"",      // 8
        "  [[pool.backend]]",              // 9
        "  address = \"127.0.0.1:9001\"",  // 10
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:2:13: log_level \"verbose\" is not one of trace, debug, info, warn, error",
              "test.toml:8:13: pool \"api\": algorithm \"least_conn\" is not supported; supported: "
              "round_robin, weighted_round_robin, least_connections, random_two, maglev",
          });
}

TEST_CASE("a missing required key is reported at its enclosing table") {
    auto result = load(lines({
        "[[listener]]",                 // 1
        "name = \"web\"",               // 2
        "[[listener]]",                 // 3
        "bind = \"127.0.0.1:8081\"",    // 4
        "[[pool]]",                     // 5
        "algorithm = \"round_robin\"",  // 6
        "  [[pool.backend]]",           // 7
        "  weight = 2",                 // 8
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:1:1: listener \"web\": missing required key \"bind\" in [[listener]]",
              "test.toml:1:1: listener \"web\": missing required key \"pool\" in [[listener]]",
              "test.toml:3:1: listener \"127.0.0.1:8081\": missing required key \"pool\" in "
              "[[listener]]",
              "test.toml:5:1: pool #1: missing required key \"name\" in [[pool]]",
              "test.toml:7:3: pool #1: missing required key \"address\" in [[pool.backend]]",
          });
}

TEST_CASE("an empty name is rejected") {
    auto result = load(lines({
        "[[listener]]",                    // 1
        "name = \"\"",                     // 2
        "bind = \"127.0.0.1:8080\"",       // 3
        "pool = \"api\"",                  // 4
        "[[pool]]",                        // 5
        "name = \"\"",                     // 6
        "  [[pool.backend]]",              // 7
        "  address = \"127.0.0.1:9001\"",  // 8
    }));
    CHECK(errors_of(result) == std::vector<std::string>{
                                   "test.toml:2:8: listener #1: name must not be empty",
                                   "test.toml:4:8: listener #1: pool \"api\" is not defined",
                                   "test.toml:6:8: pool #1: name must not be empty",
                               });
}

TEST_CASE("a control character in a listener or pool name is an error at the name") {
    auto result = load(lines({
        R"([[listener]])",                  // 1
        R"(name = "we\tb")",                // 2
        R"(bind = "127.0.0.1:8080")",       // 3
        R"(pool = "a\u0001pi")",            // 4
        R"([[pool]])",                      // 5
        R"(name = "a\u0001pi")",            // 6
        R"(  [[pool.backend]])",            // 7
        R"(  address = "127.0.0.1:9001")",  // 8
        R"([[listener]])",                  // 9
        R"(name = "ok\u009b[2J")",          // 10
        R"(bind = "127.0.0.1:8081")",       // 11
        R"(pool = "a\u0001pi")",            // 12
    }));
    const std::string why = "; names appear in logs and metrics and may not";
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              R"(test.toml:2:8: listener #1: name "we\tb" contains the control character U+0009 )"
              R"((byte 3))" +
                  why,
              R"(test.toml:6:8: pool #1: name "a\u0001pi" contains the control character U+0001 )"
              R"((byte 2))" +
                  why,
              R"(test.toml:10:8: listener #2: name "ok\u009b[2J" contains the control character )"
              R"(U+009B (byte 3))" +
                  why,
          });
}

TEST_CASE("names with quotes, backslashes and non-ASCII letters are accepted as they are") {
    auto result = load(lines({
        R"([[listener]])",                  // 1
        R"(name = 'we"b\ café ☕')",         // 2
        R"(bind = "127.0.0.1:8080")",       // 3
        R"(pool = 'p"o\ol naïve')",         // 4
        R"([[pool]])",                      // 5
        R"(name = 'p"o\ol naïve')",         // 6
        R"(  [[pool.backend]])",            // 7
        R"(  address = "127.0.0.1:9001")",  // 8
    }));
    REQUIRE(errors_of(result).empty());
    CHECK(result.config->listeners[0].name == "we\"b\\ café ☕");
    CHECK(result.config->pools[0].name == "p\"o\\ol naïve");
}

TEST_CASE("a duplicate pool name is reported at the second one") {
    auto result = load(lines({
        "[[listener]]",                    // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"api\"",                  // 3
        "[[pool]]",                        // 4
        "name = \"api\"",                  // 5
        "  [[pool.backend]]",              // 6
        "  address = \"127.0.0.1:9001\"",  // 7
        "[[pool]]",                        // 8
        "name = \"api\"",                  // 9
        "  [[pool.backend]]",              // 10
        "  address = \"127.0.0.1:9002\"",  // 11
    }));
    CHECK(errors_of(result) == std::vector<std::string>{
                                   "test.toml:9:8: duplicate pool name \"api\" (first at line 5)",
                               });
}

TEST_CASE("a duplicate listener name or bind address is reported; port 0 binds may repeat") {
    auto result = load(with_pool_api({
        "[[listener]]",               // 1
        "name = \"web\"",             // 2
        "bind = \"127.0.0.1:8080\"",  // 3
        "pool = \"api\"",             // 4
        "[[listener]]",               // 5
        "name = \"web\"",             // 6
        "bind = \"127.0.0.1:8081\"",  // 7
        "pool = \"api\"",             // 8
        "[[listener]]",               // 9
        "name = \"other\"",           // 10
        "bind = \"127.0.0.1:8080\"",  // 11
        "pool = \"api\"",             // 12
        "[[listener]]",               // 13
        "bind = \"127.0.0.1:0\"",     // 14
        "pool = \"api\"",             // 15
        "[[listener]]",               // 16
        "name = \"ephemeral\"",       // 17
        "bind = \"127.0.0.1:0\"",     // 18
        "pool = \"api\"",             // 19
        "[[listener]]",               // 20
        "bind = \"127.0.0.1:0\"",     // 21
        "pool = \"api\"",             // 22
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:6:8: duplicate listener name \"web\" (first at line 2)",
              "test.toml:11:8: listener \"other\": bind address 127.0.0.1:8080 is already used by "
              "listener \"web\"",
              "test.toml:21:8: duplicate listener name \"127.0.0.1:0\" (first at line 14); a "
              "listener without a name is named after its bind",
          });
}

TEST_CASE("a duplicate backend address within one pool is an error, across pools it is not") {
    auto result = load(lines({
        "[[listener]]",                     // 1
        "bind = \"127.0.0.1:8080\"",        // 2
        "pool = \"api\"",                   // 3
        "[[pool]]",                         // 4
        "name = \"api\"",                   // 5
        "  [[pool.backend]]",               // 6
        "  address = \"127.0.0.1:9001\"",   // 7
        "  [[pool.backend]]",               // 8
        "  address = \"[::1]:9001\"",       // 9
        "  [[pool.backend]]",               // 10
        "  address = \"127.0.0.1:09001\"",  // 11
        "  [[pool.backend]]",               // 12
        "  address = \"[0::1]:9001\"",      // 13
        "[[pool]]",                         // 14
        "name = \"other\"",                 // 15
        "  [[pool.backend]]",               // 16
        "  address = \"127.0.0.1:9001\"",   // 17
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:11:13: pool \"api\": duplicate backend address \"127.0.0.1:09001\" (first "
              "at line 7)",
              "test.toml:13:13: pool \"api\": duplicate backend address \"[0::1]:9001\" (first at "
              "line 9)",
          });
}

TEST_CASE("a listener naming an undefined pool is reported at the pool value") {
    auto result = load(with_pool_api({
        "[[listener]]",
        "name = \"web\"",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"apx\"",
    }));
    CHECK(errors_of(result) == std::vector<std::string>{
                                   "test.toml:4:8: listener \"web\": pool \"apx\" is not defined",
                               });
}

TEST_CASE("an unparsable address is reported with the expected syntax") {
    auto result = load(lines({
        "[[listener]]",                 // 1
        "bind = \"localhost:8080\"",    // 2
        "pool = \"api\"",               // 3
        "[[listener]]",                 // 4
        "name = \"v6\"",                // 5
        "bind = \"[::1]8080\"",         // 6
        "pool = \"api\"",               // 7
        "[[pool]]",                     // 8
        "name = \"api\"",               // 9
        "  [[pool.backend]]",           // 10
        "  address = \"127.0.0.1\"",    // 11
        "  [[pool.backend]]",           // 12
        "  address = \"127.0.0.1:0\"",  // 13
        "  [[pool.backend]]",           // 14
        "  address = \"::1:80\"",       // 15
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:2:8: listener \"localhost:8080\": bind \"localhost:8080\" is not a valid "
              "address; expected a numeric \"IPv4:port\" or \"[IPv6]:port\"",
              "test.toml:6:8: listener \"v6\": bind \"[::1]8080\" is not a valid address; expected "
              "a numeric \"IPv4:port\" or \"[IPv6]:port\"",
              "test.toml:11:13: pool \"api\": backend address \"127.0.0.1\" is not a valid "
              "address; expected a numeric \"IPv4:port\", \"[IPv6]:port\" or \"hostname:port\"",
              "test.toml:13:13: pool \"api\": backend address port must be between 1 and 65535, "
              "got 0",
              "test.toml:15:13: pool \"api\": backend address \"::1:80\" is not a valid address; "
              "expected a numeric \"IPv4:port\", \"[IPv6]:port\" or \"hostname:port\"",
          });
}

TEST_CASE("a pool without backends is an error") {
    auto result = load(lines({
        "[[listener]]",               // 1
        "bind = \"127.0.0.1:8080\"",  // 2
        "pool = \"api\"",             // 3
        "[[pool]]",                   // 4
        "name = \"api\"",             // 5
        "[[pool]]",                   // 6
        "name = \"empty\"",           // 7
        "backend = []",               // 8
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:4:1: pool \"api\": at least one [[pool.backend]] is required",
              "test.toml:8:11: pool \"empty\": at least one [[pool.backend]] is required",
          });
}

TEST_CASE("a file without a listener is an error") {
    SECTION("no listener key") {
        auto result = load(lines({"[[pool]]", "name = \"api\"", "  [[pool.backend]]",
                                  "  address = \"127.0.0.1:9001\""}));
        CHECK(errors_of(result) == std::vector<std::string>{
                                       "test.toml:1:1: at least one [[listener]] is required",
                                   });
    }
    SECTION("an empty listener array") {
        auto result = load(with_pool_api({"listener = []"}));
        CHECK(errors_of(result) == std::vector<std::string>{
                                       "test.toml:1:12: at least one [[listener]] is required",
                                   });
    }
    SECTION("an empty file") {
        auto result = load("");
        CHECK(errors_of(result) == std::vector<std::string>{
                                       "test.toml:1:1: at least one [[listener]] is required",
                                   });
    }
}

TEST_CASE("several errors in one file are all reported, in file order") {
    auto result = load(lines({
        "[[listener]]",                    // 1
        "name = \"web\"",                  // 2
        "bind = \"127.0.0.1:99999\"",      // 3
        "pool = \"apx\"",                  // 4
        "[[pool]]",                        // 5
        "name = \"api\"",                  // 6
        "retries = -1",                    // 7
        "  [[pool.backend]]",              // 8
        "  address = \"127.0.0.1:9001\"",  // 9
        "  wieght = 2",                    // 10
        "[global]",                        // 11
        "workers = 5000",                  // 12
        "mystery = true",                  // 13
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:3:8: listener \"web\": bind port must be between 0 and 65535, got 99999",
              "test.toml:4:8: listener \"web\": pool \"apx\" is not defined",
              "test.toml:7:11: pool \"api\": retries must be between 0 and 100, got -1",
              "test.toml:10:3: unknown key \"wieght\" in [[pool.backend]]",
              "test.toml:12:11: workers must be between 0 and 1024, got 5000",
              "test.toml:13:1: unknown key \"mystery\" in [global]",
          });
    CHECK_FALSE(result.config);
}

TEST_CASE("a file that is not TOML yields one error with the parser's place") {
    SECTION("prose") {
        auto result = load("this is not a config\n");
        REQUIRE(result.errors.size() == 1);
        CHECK(result.errors[0].line == 1);
        CHECK(result.errors[0].column > 0);
        CHECK(result.errors[0].message.rfind("not valid TOML: ", 0) == 0);
        CHECK_FALSE(result.config);
    }
    SECTION("JSON") {
        auto result = load("{\n  \"listener\": []\n}\n");
        REQUIRE(result.errors.size() == 1);
        CHECK(result.errors[0].line == 1);
        CHECK(result.errors[0].column == 1);
        CHECK(result.errors[0].message.rfind("not valid TOML: ", 0) == 0);
    }
    SECTION("a duplicate key") {
        auto result = load(lines({"[global]", "workers = 1", "workers = 2"}));
        REQUIRE(result.errors.size() == 1);
        CHECK(result.errors[0].line == 3);
        CHECK(result.errors[0].message.rfind("not valid TOML: ", 0) == 0);
    }
}

TEST_CASE("random bytes never crash and always yield at least one error") {
    std::mt19937 random(20240611);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> length(0, 400);
    for (int i = 0; i < 200; ++i) {
        std::string text(static_cast<std::size_t>(length(random)), '\0');
        for (char& c : text) {
            c = static_cast<char>(byte(random));
        }
        auto result = load(text);
        INFO("input " << i);
        CHECK_FALSE(result.errors.empty());
        CHECK_FALSE(result.config);
        for (const auto& error : result.errors) {
            CHECK_FALSE(error.to_string().empty());
        }
    }
}

TEST_CASE("mutated configs never crash and carry a config exactly when error-free") {
    std::string demo = read_whole_file(RINGLB_SOURCE_DIR "/configs/demo.toml");
    std::mt19937 random(7);
    std::uniform_int_distribution<std::size_t> where(0, demo.size() - 1);
    std::uniform_int_distribution<int> count(1, 4);
    const std::string_view alphabet = "[]{}=\".,#\n 0123456789-_abcxyz:\\\x01\xff";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    int with_config = 0;
    for (int i = 0; i < 300; ++i) {
        std::string text = demo;
        for (int n = count(random); n > 0; --n) {
            text[where(random)] = alphabet[pick(random)];
        }
        auto result = load(text);
        INFO("mutation " << i << ":\n" << text);
        CHECK(result.config.has_value() == result.errors.empty());
        with_config += result.config.has_value() ? 1 : 0;
    }
    CHECK(with_config < 300);
}

TEST_CASE("an unreadable file is reported with the system's reason") {
    SECTION("missing file") {
        auto result = ringlb::config::load_config_file("/nonexistent/ringlb.toml");
        CHECK(errors_of(result) ==
              std::vector<std::string>{
                  "/nonexistent/ringlb.toml: cannot read: No such file or directory",
              });
        CHECK_FALSE(result.config);
    }
    SECTION("a directory") {
        std::string path = RINGLB_SOURCE_DIR "/configs";
        auto result = ringlb::config::load_config_file(path);
        CHECK(errors_of(result) ==
              std::vector<std::string>{path + ": cannot read: Is a directory"});
    }
}

TEST_CASE("a file of binary bytes is reported against its path") {
    char path[] = "/tmp/ringlb-config-test-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    const char bytes[] = {'\x7f', 'E', 'L', 'F', '\0', '\x01', '\xfe', '\n', '\x00', '='};
    REQUIRE(::write(fd, bytes, sizeof(bytes)) == static_cast<ssize_t>(sizeof(bytes)));
    ::close(fd);
    auto result = ringlb::config::load_config_file(path);
    ::unlink(path);
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].source == path);
    CHECK(result.errors[0].line >= 1);
    CHECK_FALSE(result.config);
}

TEST_CASE("a diagnostic prints as FILE:LINE:COL: message, or FILE: message without a place") {
    ringlb::config::Diagnostic placed{"a.toml", 12, 5, "pool \"api\": oops"};
    CHECK(placed.to_string() == "a.toml:12:5: pool \"api\": oops");
    ringlb::config::Diagnostic unplaced{"a.toml", 0, 0, "cannot read: Permission denied"};
    CHECK(unplaced.to_string() == "a.toml: cannot read: Permission denied");
}

TEST_CASE("the algorithm has its config name") {
    CHECK(ringlb::config::algorithm_name(ringlb::config::Algorithm::round_robin) == "round_robin");
}

TEST_CASE("every file in configs/ loads with no error") {
    int files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(RINGLB_SOURCE_DIR "/configs")) {
        if (entry.path().extension() != ".toml") {
            continue;
        }
        ++files;
        auto result = ringlb::config::load_config_file(entry.path().string());
        INFO(entry.path().string());
        CHECK(errors_of(result) == std::vector<std::string>{});
        REQUIRE(result.config);
        CHECK(result.config->source == entry.path().string());
    }
    CHECK(files >= 3);
}

TEST_CASE("demo.toml describes the documented demo set-up") {
    auto result = ringlb::config::load_config_file(RINGLB_SOURCE_DIR "/configs/demo.toml");
    REQUIRE(result.config);
    const auto& config = *result.config;
    CHECK(config.global.workers == 2);
    REQUIRE(config.listeners.size() == 1);
    CHECK(config.listeners[0].name == "demo");
    CHECK(config.listeners[0].bind.to_string() == "127.0.0.1:8080");
    REQUIRE(config.pools.size() == 1);
    const auto& pool = config.pools[0];
    CHECK(pool.name == "demo");
    REQUIRE(pool.health);
    CHECK(pool.health->interval_ms == 500);
    CHECK(pool.health->timeout_ms == 300);
    CHECK(pool.health->rise == 2);
    CHECK(pool.health->fall == 2);
    REQUIRE(pool.backends.size() == 3);
    CHECK(pool.backends[0].address_text == "127.0.0.1:9001");
    CHECK(pool.backends[1].address_text == "127.0.0.1:9002");
    CHECK(pool.backends[2].address_text == "127.0.0.1:9003");
}

TEST_CASE("pipe_size outside 4 KiB..16 MiB is rejected with its place") {
    auto result = load(lines({
        "[global]",          // 1
        "pipe_size = 4095",  // 2
        "[[listener]]",
        "bind = \"127.0.0.1:0\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"api\"",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:1\"",
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:2:13: pipe_size must be between 4096 and 16777216, got 4095"});
}

TEST_CASE("batch_wait_us defaults to 50, and above 10000 is rejected with its place") {
    auto fine = load(lines({
        "[global]",
        "batch_wait_us = 0",
        "[[listener]]",
        "bind = \"127.0.0.1:0\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"api\"",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:1\"",
    }));
    REQUIRE(errors_of(fine).empty());
    CHECK(fine.config->global.batch_wait_us == 0);
    auto plain = load(lines({
        "[global]",
        "workers = 1",
        "[[listener]]",
        "bind = \"127.0.0.1:0\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"api\"",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:1\"",
    }));
    REQUIRE(errors_of(plain).empty());
    CHECK(plain.config->global.batch_wait_us == 50);
    auto result = load(lines({
        "[global]",               // 1
        "batch_wait_us = 10001",  // 2
        "[[listener]]",
        "bind = \"127.0.0.1:0\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"api\"",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:1\"",
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:2:17: batch_wait_us must be between 0 and 10000, got 10001"});
}

TEST_CASE("global.splice is auto or always, and anything else is rejected with its place") {
    auto always = load(lines({
        "[global]",
        "splice = \"always\"",
        "[[listener]]",
        "bind = \"127.0.0.1:0\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"api\"",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:1\"",
    }));
    REQUIRE(errors_of(always).empty());
    CHECK(always.config->global.splice == ringlb::config::Splice::always);
    auto wrong = load(lines({
        "[global]",            // 1
        "splice = \"never\"",  // 2
        "[[listener]]",
        "bind = \"127.0.0.1:0\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"api\"",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:1\"",
    }));
    CHECK(errors_of(wrong) ==
          std::vector<std::string>{
              "test.toml:2:10: splice \"never\" is not supported; supported: auto, always"});
}

TEST_CASE("global.user and global.group resolve to ids, and unknown names are errors") {
    auto known = load(lines({
        "[global]",
        "user = \"nobody\"",
        "[[listener]]",
        "bind = \"127.0.0.1:0\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"api\"",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:1\"",
    }));
    REQUIRE(errors_of(known).empty());
    CHECK(known.config->global.user == "nobody");
    CHECK(known.config->global.uid == 65534);

    auto unknown = load(lines({
        "[global]",                          // 1
        "user = \"no-such-user-ringlb\"",    // 2
        "group = \"no-such-group-ringlb\"",  // 3
        "[[listener]]",
        "bind = \"127.0.0.1:0\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"api\"",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:1\"",
    }));
    CHECK(errors_of(unknown) ==
          std::vector<std::string>{
              "test.toml:2:8: user \"no-such-user-ringlb\" does not exist on this machine",
              "test.toml:3:9: group \"no-such-group-ringlb\" does not exist on this machine",
          });
}

// ---- Traffic-control and operations keys -------------------------------------------------

TEST_CASE("the traffic-control and operations keys get their documented defaults") {
    auto result = load(lines({
        "[[listener]]",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"app\"",
        "[[pool]]",
        "name = \"app\"",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
    }));
    REQUIRE(errors_of(result).empty());
    const auto& config = *result.config;
    CHECK(config.global.max_connections == 0);
    CHECK_FALSE(config.admin);
    const auto& listener = config.listeners[0];
    CHECK_FALSE(listener.accept_proxy);
    CHECK(listener.proxy_trusted.empty());
    CHECK(listener.proxy_timeout_ms == 3000);
    CHECK(listener.allow.empty());
    CHECK(listener.deny.empty());
    CHECK(listener.max_connections_per_client == 0);
    CHECK(listener.new_connections_per_client_per_s == 0);
    CHECK(listener.new_connections_per_client_burst == 0);
    CHECK(listener.access_log == "off");
    const auto& pool = config.pools[0];
    CHECK(pool.maglev_table_size == 65537);
    CHECK(pool.slow_start_ms == 0);
    CHECK(pool.send_proxy == ringlb::config::SendProxy::none);
    CHECK(pool.resolve_interval_ms == 30000);
    const auto& backend = pool.backends[0];
    CHECK(backend.host.empty());
    CHECK(backend.port == 9001);
    CHECK(backend.max_connections == 0);
    CHECK(backend.state == ringlb::config::BackendState::active);
}

TEST_CASE("every traffic-control and operations key given is read into the config") {
    TempFile token("  s3cret-Token_42  \r\nsecond line is ignored\n");
    auto result = load(lines({
        "[global]",
        "max_connections = 250000",
        "[admin]",
        "bind = \"127.0.0.1:9900\"",
        "token_file = \"" + token.path() + "\"",
        "[[listener]]",
        "name = \"web\"",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"api\"",
        "accept_proxy = true",
        "proxy_trusted = [\"10.0.0.0/8\", \"2001:db8::/32\"]",
        "proxy_timeout_ms = 500",
        "allow = [\"192.168.0.0/16\", \"::1\"]",
        "deny = [\"192.168.66.0/24\"]",
        "max_connections_per_client = 100",
        "new_connections_per_client_per_s = 20",
        "new_connections_per_client_burst = 40",
        "access_log = \"/var/log/ringlb/web.log\"",
        "[[pool]]",
        "name = \"api\"",
        "algorithm = \"maglev\"",
        "maglev_table_size = 251",
        "slow_start_ms = 30000",
        "send_proxy = \"v2\"",
        "resolve_interval_ms = 5000",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
        "  max_connections = 5000",
        "  state = \"drain\"",
        "  [[pool.backend]]",
        "  address = \"[::1]:9002\"",
        "  state = \"disabled\"",
        "  [[pool.backend]]",
        "  address = \"localhost:9003\"",
        "  state = \"active\"",
    }));
    REQUIRE(errors_of(result) == std::vector<std::string>{});
    const auto& config = *result.config;
    CHECK(config.global.max_connections == 250000);

    REQUIRE(config.admin);
    CHECK(config.admin->bind.to_string() == "127.0.0.1:9900");
    CHECK(config.admin->token_file == token.path());
    CHECK(config.admin->token == "s3cret-Token_42");

    const auto& listener = config.listeners[0];
    CHECK(listener.accept_proxy);
    REQUIRE(listener.proxy_trusted.size() == 2);
    CHECK(listener.proxy_trusted[0].text == "10.0.0.0/8");
    CHECK(listener.proxy_trusted[1].family == AF_INET6);
    CHECK(listener.proxy_timeout_ms == 500);
    REQUIRE(listener.allow.size() == 2);
    CHECK(listener.allow[0].prefix == 16);
    CHECK(listener.allow[1].prefix == 128);
    REQUIRE(listener.deny.size() == 1);
    CHECK(listener.deny[0].text == "192.168.66.0/24");
    CHECK(listener.max_connections_per_client == 100);
    CHECK(listener.new_connections_per_client_per_s == 20);
    CHECK(listener.new_connections_per_client_burst == 40);
    CHECK(listener.access_log == "/var/log/ringlb/web.log");

    const auto& pool = config.pools[0];
    CHECK(pool.algorithm == ringlb::config::Algorithm::maglev);
    CHECK(pool.maglev_table_size == 251);
    CHECK(pool.slow_start_ms == 30000);
    CHECK(pool.send_proxy == ringlb::config::SendProxy::v2);
    CHECK(pool.resolve_interval_ms == 5000);
    REQUIRE(pool.backends.size() == 3);
    CHECK(pool.backends[0].max_connections == 5000);
    CHECK(pool.backends[0].state == ringlb::config::BackendState::drain);
    CHECK(pool.backends[0].port == 9001);
    CHECK(pool.backends[1].state == ringlb::config::BackendState::disabled);
    CHECK(pool.backends[1].port == 9002);
    CHECK(pool.backends[1].host.empty());
    CHECK(pool.backends[2].state == ringlb::config::BackendState::active);
    CHECK(pool.backends[2].host == "localhost");
    CHECK(pool.backends[2].port == 9003);
    CHECK(pool.backends[2].address_text == "localhost:9003");
}

TEST_CASE("global.max_connections is bounded at 10000000") {
    auto high = load(with_pool_api({
        "[global]",
        "max_connections = 10000000",
        "[[listener]]",
        "bind = \"127.0.0.1:0\"",
        "pool = \"api\"",
    }));
    REQUIRE(errors_of(high).empty());
    CHECK(high.config->global.max_connections == 10000000);

    auto bad = load(with_pool_api({
        "[global]",                    // 1
        "max_connections = 10000001",  // 2
        "[[listener]]",                // 3
        "bind = \"127.0.0.1:0\"",      // 4
        "pool = \"api\"",              // 5
    }));
    CHECK(errors_of(bad) ==
          std::vector<std::string>{
              "test.toml:2:19: max_connections must be between 0 and 10000000, got 10000001",
          });
}

TEST_CASE("an admin table without token_file has no token") {
    auto result = load(with_pool_api({
        "[[listener]]",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"api\"",
        "[admin]",
        "bind = \"[::1]:0\"",
    }));
    REQUIRE(errors_of(result).empty());
    REQUIRE(result.config->admin);
    CHECK(result.config->admin->bind.family() == AF_INET6);
    CHECK(result.config->admin->bind.port() == 0);
    CHECK_FALSE(result.config->admin->token_file);
    CHECK(result.config->admin->token.empty());
}

TEST_CASE("an admin bind off loopback needs a token, or allow_without_token = true") {
    TempFile token("operator-token\n");
    TempFile read_token("read-token\n");
    auto load_admin = [](std::initializer_list<std::string_view> admin_lines) {
        // Lines 1-3 the listener, 4-7 the pool, 8 [admin], 9 onwards `admin_lines`.
        std::string text = with_pool_api({
            "[[listener]]",
            "bind = \"127.0.0.1:8080\"",
            "pool = \"api\"",
        });
        text += "[admin]\n" + lines(admin_lines);
        return load(text);
    };
    const std::string open_error =
        "is not a loopback address and no token is set: anyone who reaches it could drain or "
        "disable every backend. Set token_file (and read_token_file for scrapers), or write "
        "allow_without_token = true to serve it open";
    CHECK(errors_of(load_admin({"bind = \"0.0.0.0:9900\""})) ==
          std::vector<std::string>{"test.toml:9:8: admin bind 0.0.0.0:9900 " + open_error});
    CHECK(errors_of(load_admin({"bind = \"[::]:9900\""})) ==
          std::vector<std::string>{"test.toml:9:8: admin bind [::]:9900 " + open_error});
    CHECK(errors_of(load_admin({"bind = \"10.1.2.3:9900\"", "allow_without_token = false"})) ==
          std::vector<std::string>{"test.toml:9:8: admin bind 10.1.2.3:9900 " + open_error});
    for (const char* loopback :
         {"127.0.0.1:9900", "127.200.0.1:0", "[::1]:9900", "[::ffff:127.0.0.1]:9900"}) {
        INFO(loopback);
        auto result = load_admin({"bind = \"" + std::string(loopback) + "\""});
        CHECK(errors_of(result).empty());
        REQUIRE(result.config);
        CHECK_FALSE(result.config->admin->open_to_network());
    }
    auto open = load_admin({"bind = \"0.0.0.0:9900\"", "allow_without_token = true"});
    REQUIRE(errors_of(open).empty());
    CHECK(open.config->admin->allow_without_token);
    CHECK(open.config->admin->open_to_network());

    auto with_token =
        load_admin({"bind = \"0.0.0.0:9900\"", "token_file = \"" + token.path() + "\""});
    REQUIRE(errors_of(with_token).empty());
    CHECK(with_token.config->admin->token == "operator-token");
    CHECK_FALSE(with_token.config->admin->open_to_network());

    auto read_only =
        load_admin({"bind = \"0.0.0.0:9900\"", "read_token_file = \"" + read_token.path() + "\""});
    REQUIRE(errors_of(read_only).empty());
    CHECK(read_only.config->admin->read_token == "read-token");
    CHECK_FALSE(read_only.config->admin->token_file);

    CHECK(errors_of(load_admin({"bind = \"127.0.0.1:9900\"", "allow_without_token = \"yes\""})) ==
          std::vector<std::string>{"test.toml:10:23: admin key \"allow_without_token\" must be a "
                                   "boolean (true or false), got string"});
}

TEST_CASE("read_token_file: read like token_file, and never the operator's token") {
    TempFile token("same-token\n");
    TempFile same(" same-token \n");
    auto result = load(with_pool_api({
        "[[listener]]",                               // 1
        "bind = \"127.0.0.1:8080\"",                  // 2
        "pool = \"api\"",                             // 3
        "[admin]",                                    // 4
        "bind = \"127.0.0.1:9900\"",                  // 5
        "token_file = \"" + token.path() + "\"",      // 6
        "read_token_file = \"" + same.path() + "\"",  // 7
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:7:19: admin read_token_file holds the same token as token_file: the "
              "read token must differ, or it would allow everything"});
    auto missing = load(with_pool_api({
        "[[listener]]",                             // 1
        "bind = \"127.0.0.1:8080\"",                // 2
        "pool = \"api\"",                           // 3
        "[admin]",                                  // 4
        "bind = \"127.0.0.1:9900\"",                // 5
        "read_token_file = \"/nonexistent/read\"",  // 6
    }));
    CHECK(errors_of(missing) ==
          std::vector<std::string>{"test.toml:6:19: admin read_token_file \"/nonexistent/read\": "
                                   "cannot read: No such file or directory"});
}

TEST_CASE("tls_cert_file and tls_key_file: both or neither, readable, PEM, a matching pair") {
    TempFile not_pem("this is not a certificate\n");
    auto load_tls = [](std::initializer_list<std::string_view> admin_lines) {
        // Lines 1-3 the listener, 4-7 the pool, 8-9 [admin] and its bind, then `admin_lines`.
        std::string text = with_pool_api({
            "[[listener]]",
            "bind = \"127.0.0.1:8080\"",
            "pool = \"api\"",
        });
        text += "[admin]\nbind = \"127.0.0.1:9900\"\n" + lines(admin_lines);
        return load(text);
    };
    CHECK(errors_of(load_tls({"tls_cert_file = \"" + not_pem.path() + "\""})) ==
          std::vector<std::string>{
              "test.toml:10:17: admin tls_cert_file needs tls_key_file as well"});
    CHECK(errors_of(load_tls({"tls_key_file = \"" + not_pem.path() + "\""})) ==
          std::vector<std::string>{
              "test.toml:10:16: admin tls_key_file needs tls_cert_file as well"});
    CHECK(errors_of(load_tls(
              {"tls_cert_file = \"/nonexistent/crt\"", "tls_key_file = \"/nonexistent/key\""})) ==
          std::vector<std::string>{
              "test.toml:10:17: admin tls_cert_file \"/nonexistent/crt\": cannot read: No such "
              "file or directory",
              "test.toml:11:16: admin tls_key_file \"/nonexistent/key\": cannot read: No such "
              "file or directory"});
    auto garbage = load_tls({"tls_cert_file = \"" + not_pem.path() + "\"",
                             "tls_key_file = \"" + not_pem.path() + "\""});
    REQUIRE(errors_of(garbage).size() == 1);
    CHECK(errors_of(garbage)[0].rfind("test.toml:10:17: admin tls_cert_file \"" + not_pem.path() +
                                          "\": no PEM certificate found",
                                      0) == 0);
    CHECK(errors_of(load_tls({"tls_cert_file = \"/etc\"", "tls_key_file = \"/etc\""})) ==
          std::vector<std::string>{
              "test.toml:10:17: admin tls_cert_file \"/etc\": cannot read: not a regular file",
              "test.toml:11:16: admin tls_key_file \"/etc\": cannot read: not a regular file"});
}

TEST_CASE("admin errors are reported at their key: bind, unknown keys, a listener's address") {
    auto result = load(with_pool_api({
        "[[listener]]",               // 1
        "name = \"web\"",             // 2
        "bind = \"127.0.0.1:8080\"",  // 3
        "pool = \"api\"",             // 4
        "[admin]",                    // 5
        "bind = \"127.0.0.1:8080\"",  // 6
        "port = 9900",                // 7
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:6:8: admin bind address 127.0.0.1:8080 is already used by listener "
              "\"web\"",
              "test.toml:7:1: unknown key \"port\" in [admin]",
          });

    auto missing = load(with_pool_api({
        "[[listener]]",               // 1
        "bind = \"127.0.0.1:8080\"",  // 2
        "pool = \"api\"",             // 3
        "[admin]",                    // 4
        "token_file = \"\"",          // 5
    }));
    CHECK(errors_of(missing) == std::vector<std::string>{
                                    "test.toml:4:1: missing required key \"bind\" in [admin]",
                                    "test.toml:5:14: admin token_file must not be empty",
                                });

    auto bad_bind = load(with_pool_api({
        "[[listener]]",               // 1
        "bind = \"127.0.0.1:8080\"",  // 2
        "pool = \"api\"",             // 3
        "[admin]",                    // 4
        "bind = \"localhost:9900\"",  // 5
    }));
    CHECK(errors_of(bad_bind) ==
          std::vector<std::string>{
              "test.toml:5:8: admin bind \"localhost:9900\" is not a valid address; expected a "
              "numeric \"IPv4:port\" or \"[IPv6]:port\"",
          });

    auto not_table = load(with_pool_api({
        "admin = \"127.0.0.1:9900\"",  // 1
        "[[listener]]",                // 2
        "bind = \"127.0.0.1:8080\"",   // 3
        "pool = \"api\"",              // 4
    }));
    CHECK(errors_of(not_table) ==
          std::vector<std::string>{
              "test.toml:1:9: key \"admin\" must be a table ([admin]), got string",
          });
}

TEST_CASE("an unreadable, empty or unusable token file is an error at token_file") {
    auto load_with_token_file = [](const std::string& path) {
        return load(with_pool_api({
            "[[listener]]",                   // 1
            "bind = \"127.0.0.1:8080\"",      // 2
            "pool = \"api\"",                 // 3
            "[admin]",                        // 4
            "bind = \"127.0.0.1:9900\"",      // 5
            "token_file = \"" + path + "\"",  // 6
        }));
    };
    SECTION("missing file") {
        auto result = load_with_token_file("/nonexistent/ringlb-token");
        CHECK(errors_of(result) ==
              std::vector<std::string>{
                  "test.toml:6:14: admin token_file \"/nonexistent/ringlb-token\": cannot read: "
                  "No such file or directory",
              });
    }
    SECTION("empty file") {
        TempFile token("");
        auto result = load_with_token_file(token.path());
        CHECK(errors_of(result) ==
              std::vector<std::string>{"test.toml:6:14: admin token_file \"" + token.path() +
                                       "\": the first line holds no token"});
    }
    SECTION("a blank first line, even with a token below it") {
        TempFile token(" \t \nsecret\n");
        auto result = load_with_token_file(token.path());
        CHECK(errors_of(result) ==
              std::vector<std::string>{"test.toml:6:14: admin token_file \"" + token.path() +
                                       "\": the first line holds no token"});
    }
    SECTION("a token with a space inside") {
        TempFile token("two words\n");
        auto result = load_with_token_file(token.path());
        CHECK(errors_of(result) ==
              std::vector<std::string>{"test.toml:6:14: admin token_file \"" + token.path() +
                                       "\": the token must be printable ASCII without spaces"});
    }
    SECTION("a directory, or a device that could block the load") {
        auto directory = load_with_token_file("/tmp");
        CHECK(errors_of(directory) ==
              std::vector<std::string>{
                  "test.toml:6:14: admin token_file \"/tmp\": cannot read: not a regular file"});
        auto device = load_with_token_file("/dev/zero");
        CHECK(errors_of(device) ==
              std::vector<std::string>{"test.toml:6:14: admin token_file \"/dev/zero\": cannot "
                                       "read: not a regular file"});
    }
    SECTION("a file far too large for a token") {
        TempFile token(std::string(70000, 'a'));
        auto result = load_with_token_file(token.path());
        CHECK(errors_of(result) ==
              std::vector<std::string>{"test.toml:6:14: admin token_file \"" + token.path() +
                                       "\": cannot read: file is larger than 65536 bytes"});
    }
    SECTION("a token without a trailing newline is read whole") {
        TempFile token("abc");
        auto result = load_with_token_file(token.path());
        REQUIRE(errors_of(result).empty());
        CHECK(result.config->admin->token == "abc");
    }
}

TEST_CASE("accept_proxy needs a non-empty proxy_trusted, and proxy_trusted needs accept_proxy") {
    auto result = load(with_pool_api({
        "[[listener]]",                      // 1
        "name = \"a\"",                      // 2
        "bind = \"127.0.0.1:8080\"",         // 3
        "pool = \"api\"",                    // 4
        "accept_proxy = true",               // 5
        "[[listener]]",                      // 6
        "name = \"b\"",                      // 7
        "bind = \"127.0.0.1:8081\"",         // 8
        "pool = \"api\"",                    // 9
        "accept_proxy = true",               // 10
        "proxy_trusted = []",                // 11
        "[[listener]]",                      // 12
        "name = \"c\"",                      // 13
        "bind = \"127.0.0.1:8082\"",         // 14
        "pool = \"api\"",                    // 15
        "proxy_trusted = [\"10.0.0.0/8\"]",  // 16
        "[[listener]]",                      // 17
        "name = \"d\"",                      // 18
        "bind = \"127.0.0.1:8083\"",         // 19
        "pool = \"api\"",                    // 20
        "accept_proxy = \"yes\"",            // 21
        "proxy_trusted = [\"10.0.0.0/8\"]",  // 22
        "[[listener]]",                      // 23
        "name = \"e\"",                      // 24
        "bind = \"127.0.0.1:8084\"",         // 25
        "pool = \"api\"",                    // 26
        "accept_proxy = false",              // 27
        "proxy_trusted = [\"10.0.0.0/8\"]",  // 28
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:5:16: listener \"a\": accept_proxy = true requires proxy_trusted, the "
              "address blocks of the peers allowed to send a PROXY header",
              "test.toml:11:17: listener \"b\": proxy_trusted must not be empty when "
              "accept_proxy = true",
              "test.toml:16:17: listener \"c\": proxy_trusted has no effect unless accept_proxy = "
              "true",
              "test.toml:21:16: listener \"d\": key \"accept_proxy\" must be a boolean (true or "
              "false), got string",
              "test.toml:28:17: listener \"e\": proxy_trusted has no effect unless accept_proxy = "
              "true",
          });
}

TEST_CASE("proxy_timeout_ms is bounded to 1..60000") {
    auto result = load(with_pool_api({
        "[[listener]]",               // 1
        "name = \"a\"",               // 2
        "bind = \"127.0.0.1:8080\"",  // 3
        "pool = \"api\"",             // 4
        "proxy_timeout_ms = 0",       // 5
        "[[listener]]",               // 6
        "name = \"b\"",               // 7
        "bind = \"127.0.0.1:8081\"",  // 8
        "pool = \"api\"",             // 9
        "proxy_timeout_ms = 60001",   // 10
        "[[listener]]",               // 11
        "name = \"c\"",               // 12
        "bind = \"127.0.0.1:8082\"",  // 13
        "pool = \"api\"",             // 14
        "proxy_timeout_ms = 60000",   // 15
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:5:20: listener \"a\": proxy_timeout_ms must be between 1 and 60000, got 0",
              "test.toml:10:20: listener \"b\": proxy_timeout_ms must be between 1 and 60000, got "
              "60001",
          });
}

TEST_CASE("each bad address block of allow, deny or proxy_trusted is reported at its place") {
    auto result = load(with_pool_api({
        "[[listener]]",                                                     // 1
        "name = \"web\"",                                                   // 2
        "bind = \"127.0.0.1:8080\"",                                        // 3
        "pool = \"api\"",                                                   // 4
        "allow = [\"10.0.0.0/8\", \"10.1.2.3/8\", 7, \"2001:db8::1/32\"]",  // 5
        "deny = [\"192.168.0.0/33\", \"example.com\", \"::/0\"]",           // 6
        "accept_proxy = true",                                              // 7
        "proxy_trusted = [\"127.0.0.1/32\", \"127.0.0.1/\"]",               // 8
        "[[listener]]",                                                     // 9
        "name = \"other\"",                                                 // 10
        "bind = \"127.0.0.1:8081\"",                                        // 11
        "pool = \"api\"",                                                   // 12
        "allow = \"10.0.0.0/8\"",                                           // 13
        "deny = []",                                                        // 14
        "[[listener]]",                                                     // 15
        "name = \"empty\"",                                                 // 16
        "bind = \"127.0.0.1:8082\"",                                        // 17
        "pool = \"api\"",                                                   // 18
        "allow = []",                                                       // 19
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:5:24: listener \"web\": allow entry \"10.1.2.3/8\" has address bits set "
              "beyond its /8 prefix; did you mean \"10.0.0.0/8\"?",
              "test.toml:5:38: listener \"web\": each entry of \"allow\" must be a string (an "
              "address block), got integer",
              "test.toml:5:41: listener \"web\": allow entry \"2001:db8::1/32\" has address bits "
              "set beyond its /32 prefix; did you mean \"2001:db8::/32\"?",
              "test.toml:6:9: listener \"web\": deny entry \"192.168.0.0/33\" is not a valid "
              "address block; expected \"IPv4/prefix\", \"IPv6/prefix\" or a single address",
              "test.toml:6:27: listener \"web\": deny entry \"example.com\" is not a valid "
              "address block; expected \"IPv4/prefix\", \"IPv6/prefix\" or a single address",
              "test.toml:8:34: listener \"web\": proxy_trusted entry \"127.0.0.1/\" is not a "
              "valid address block; expected \"IPv4/prefix\", \"IPv6/prefix\" or a single "
              "address",
              "test.toml:13:9: listener \"other\": key \"allow\" must be an array of address "
              "blocks (strings), got string",
              "test.toml:19:9: listener \"empty\": allow must not be empty; remove it to accept "
              "every client",
          });
}

TEST_CASE("the per-client limits are bounded to 0..1000000, and a burst needs a rate") {
    auto high = load(with_pool_api({
        "[[listener]]",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"api\"",
        "max_connections_per_client = 1000000",
        "new_connections_per_client_per_s = 1000000",
        "new_connections_per_client_burst = 1000000",
    }));
    REQUIRE(errors_of(high).empty());
    CHECK(high.config->listeners[0].max_connections_per_client == 1000000);
    CHECK(high.config->listeners[0].new_connections_per_client_per_s == 1000000);
    CHECK(high.config->listeners[0].new_connections_per_client_burst == 1000000);

    auto bad = load(with_pool_api({
        "[[listener]]",                                // 1
        "name = \"a\"",                                // 2
        "bind = \"127.0.0.1:8080\"",                   // 3
        "pool = \"api\"",                              // 4
        "max_connections_per_client = 1000001",        // 5
        "new_connections_per_client_per_s = -1",       // 6
        "new_connections_per_client_burst = 1000001",  // 7
        "[[listener]]",                                // 8
        "name = \"b\"",                                // 9
        "bind = \"127.0.0.1:8081\"",                   // 10
        "pool = \"api\"",                              // 11
        "new_connections_per_client_burst = 10",       // 12
    }));
    CHECK(errors_of(bad) ==
          std::vector<std::string>{
              "test.toml:5:30: listener \"a\": max_connections_per_client must be between 0 and "
              "1000000, got 1000001",
              "test.toml:6:36: listener \"a\": new_connections_per_client_per_s must be between 0 "
              "and 1000000, got -1",
              "test.toml:7:36: listener \"a\": new_connections_per_client_burst must be between 0 "
              "and 1000000, got 1000001",
              "test.toml:12:36: listener \"b\": new_connections_per_client_burst has no effect "
              "while new_connections_per_client_per_s is 0 (no rate limit)",
          });
}

TEST_CASE("access_log takes off, stderr or a path, and must not be empty") {
    auto good = load(with_pool_api({
        "[[listener]]",
        "name = \"a\"",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"api\"",
        "access_log = \"stderr\"",
        "[[listener]]",
        "name = \"b\"",
        "bind = \"127.0.0.1:8081\"",
        "pool = \"api\"",
        "access_log = \"off\"",
    }));
    REQUIRE(errors_of(good).empty());
    CHECK(good.config->listeners[0].access_log == "stderr");
    CHECK(good.config->listeners[1].access_log == "off");

    auto bad = load(with_pool_api({
        "[[listener]]",               // 1
        "name = \"a\"",               // 2
        "bind = \"127.0.0.1:8080\"",  // 3
        "pool = \"api\"",             // 4
        "access_log = \"\"",          // 5
        "[[listener]]",               // 6
        "name = \"b\"",               // 7
        "bind = \"127.0.0.1:8081\"",  // 8
        "pool = \"api\"",             // 9
        "access_log = false",         // 10
    }));
    CHECK(errors_of(bad) ==
          std::vector<std::string>{
              "test.toml:5:14: listener \"a\": access_log must not be empty; use \"off\", "
              "\"stderr\" or a file path",
              "test.toml:10:14: listener \"b\": key \"access_log\" must be a string, got boolean",
          });
}

TEST_CASE("a path with a NUL character is refused rather than cut short") {
    auto result = load(with_pool_api({
        "[admin]",                               // 1
        "bind = \"127.0.0.1:0\"",                // 2
        "token_file = \"/etc/passwd\\u0000x\"",  // 3
        "[[listener]]",                          // 4
        "name = \"a\"",                          // 5
        "bind = \"127.0.0.1:8080\"",             // 6
        "pool = \"api\"",                        // 7
        "access_log = \"/tmp/a\\u0000b\"",       // 8
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:3:14: admin token_file must not contain a NUL character",
              "test.toml:8:14: listener \"a\": access_log must not contain a NUL character",
          });
}

TEST_CASE("every algorithm name is accepted") {
    using ringlb::config::Algorithm;
    for (auto [name, algorithm] :
         {std::pair{"round_robin", Algorithm::round_robin},
          std::pair{"weighted_round_robin", Algorithm::weighted_round_robin},
          std::pair{"least_connections", Algorithm::least_connections},
          std::pair{"random_two", Algorithm::random_two}, std::pair{"maglev", Algorithm::maglev}}) {
        INFO(name);
        auto result = load(lines({
            "[[listener]]",
            "bind = \"127.0.0.1:8080\"",
            "pool = \"api\"",
            "[[pool]]",
            "name = \"api\"",
            std::string("algorithm = \"") + name + "\"",
            "  [[pool.backend]]",
            "  address = \"127.0.0.1:9001\"",
        }));
        REQUIRE(errors_of(result).empty());
        CHECK(result.config->pools[0].algorithm == algorithm);
        CHECK(ringlb::config::algorithm_name(algorithm) == name);
    }
}

TEST_CASE("maglev_table_size must be a prime in 7..1000003 and hold every backend") {
    auto bounds = load(with_pool_api({
        "[[listener]]",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"api\"",
        "[[pool]]",
        "name = \"small\"",
        "maglev_table_size = 7",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
        "[[pool]]",
        "name = \"large\"",
        "maglev_table_size = 1000003",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
    }));
    REQUIRE(errors_of(bounds).empty());
    CHECK(bounds.config->pools[0].maglev_table_size == 7);
    CHECK(bounds.config->pools[1].maglev_table_size == 1000003);

    auto bad = load(lines({
        "[[listener]]",                    // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"a\"",                    // 3
        "[[pool]]",                        // 4
        "name = \"a\"",                    // 5
        "maglev_table_size = 65536",       // 6
        "  [[pool.backend]]",              // 7
        "  address = \"127.0.0.1:9001\"",  // 8
        "[[pool]]",                        // 9
        "name = \"b\"",                    // 10
        "maglev_table_size = 5",           // 11
        "  [[pool.backend]]",              // 12
        "  address = \"127.0.0.1:9001\"",  // 13
        "[[pool]]",                        // 14
        "name = \"c\"",                    // 15
        "maglev_table_size = 1000033",     // 16
        "  [[pool.backend]]",              // 17
        "  address = \"127.0.0.1:9001\"",  // 18
        "[[pool]]",                        // 19
        "name = \"d\"",                    // 20
        "algorithm = \"maglev\"",          // 21
        "maglev_table_size = 7",           // 22
        "backend = [{ address = \"127.0.0.1:1\" }, { address = \"127.0.0.1:2\" }, "
        "{ address = \"127.0.0.1:3\" }, { address = \"127.0.0.1:4\" }, "
        "{ address = \"127.0.0.1:5\" }, { address = \"127.0.0.1:6\" }, "
        "{ address = \"127.0.0.1:7\" }, { address = \"127.0.0.1:8\" }]",  // 23
    }));
    CHECK(errors_of(bad) ==
          std::vector<std::string>{
              "test.toml:6:21: pool \"a\": maglev_table_size 65536 is not a prime number; the "
              "next prime is 65537",
              "test.toml:11:21: pool \"b\": maglev_table_size must be between 7 and 1000003, got 5",
              "test.toml:16:21: pool \"c\": maglev_table_size must be between 7 and 1000003, got "
              "1000033",
              "test.toml:22:21: pool \"d\": maglev_table_size (7) must be at least the number of "
              "backends (8)",
          });
}

TEST_CASE("slow_start_ms, send_proxy and resolve_interval_ms are read and checked") {
    auto good = load(lines({
        "[[listener]]",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"a\"",
        "[[pool]]",
        "name = \"a\"",
        "slow_start_ms = 3600000",
        "send_proxy = \"v1\"",
        "resolve_interval_ms = 1000",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
        "[[pool]]",
        "name = \"b\"",
        "send_proxy = \"none\"",
        "resolve_interval_ms = 86400000",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
    }));
    REQUIRE(errors_of(good).empty());
    CHECK(good.config->pools[0].slow_start_ms == 3600000);
    CHECK(good.config->pools[0].send_proxy == ringlb::config::SendProxy::v1);
    CHECK(good.config->pools[0].resolve_interval_ms == 1000);
    CHECK(good.config->pools[1].send_proxy == ringlb::config::SendProxy::none);
    CHECK(good.config->pools[1].resolve_interval_ms == 86400000);

    auto bad = load(lines({
        "[[listener]]",                    // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"a\"",                    // 3
        "[[pool]]",                        // 4
        "name = \"a\"",                    // 5
        "slow_start_ms = 3600001",         // 6
        "send_proxy = \"v3\"",             // 7
        "resolve_interval_ms = 999",       // 8
        "  [[pool.backend]]",              // 9
        "  address = \"127.0.0.1:9001\"",  // 10
        "[[pool]]",                        // 11
        "name = \"b\"",                    // 12
        "send_proxy = 2",                  // 13
        "resolve_interval_ms = 86400001",  // 14
        "  [[pool.backend]]",              // 15
        "  address = \"127.0.0.1:9001\"",  // 16
    }));
    CHECK(errors_of(bad) ==
          std::vector<std::string>{
              "test.toml:6:17: pool \"a\": slow_start_ms must be between 0 and 3600000, got "
              "3600001",
              "test.toml:7:14: pool \"a\": send_proxy \"v3\" is not supported; supported: none, "
              "v1, v2",
              "test.toml:8:23: pool \"a\": resolve_interval_ms must be between 1000 and 86400000, "
              "got 999",
              "test.toml:13:14: pool \"b\": key \"send_proxy\" must be a string, got integer",
              "test.toml:14:23: pool \"b\": resolve_interval_ms must be between 1000 and "
              "86400000, got 86400001",
          });
}

TEST_CASE("pool.on_backend_down is keep by default, close when asked, and nothing else") {
    auto good = load(lines({
        "[[listener]]",                    // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"a\"",                    // 3
        "[[pool]]",                        // 4
        "name = \"a\"",                    // 5
        "on_backend_down = \"close\"",     // 6
        "  [[pool.backend]]",              // 7
        "  address = \"127.0.0.1:9001\"",  // 8
        "[[pool]]",                        // 9
        "name = \"b\"",                    // 10
        "  [[pool.backend]]",              // 11
        "  address = \"127.0.0.1:9001\"",  // 12
    }));
    REQUIRE(good.config);
    CHECK(good.config->pools[0].on_backend_down == ringlb::config::OnBackendDown::close);
    CHECK(good.config->pools[1].on_backend_down == ringlb::config::OnBackendDown::keep);

    auto bad = load(lines({
        "[[listener]]",                    // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"a\"",                    // 3
        "[[pool]]",                        // 4
        "name = \"a\"",                    // 5
        "on_backend_down = \"shutdown\"",  // 6
        "  [[pool.backend]]",              // 7
        "  address = \"127.0.0.1:9001\"",  // 8
    }));
    CHECK(errors_of(bad) ==
          std::vector<std::string>{
              "test.toml:6:19: pool \"a\": on_backend_down \"shutdown\" is not supported; "
              "supported: keep, close",
          });
}

TEST_CASE("[pool.passive] is read, defaults to off, and rejects bad values") {
    auto good = load(lines({
        "[[listener]]",                    // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"a\"",                    // 3
        "[[pool]]",                        // 4
        "name = \"a\"",                    // 5
        "[pool.passive]",                  // 6
        "consecutive_failures = 5",        // 7
        "ejection_ms = 1000",              // 8
        "max_ejected_percent = 100",       // 9
        "  [[pool.backend]]",              // 10
        "  address = \"127.0.0.1:9001\"",  // 11
        "[[pool]]",                        // 12
        "name = \"b\"",                    // 13
        "  [[pool.backend]]",              // 14
        "  address = \"127.0.0.1:9001\"",  // 15
    }));
    REQUIRE(good.config);
    CHECK(good.config->pools[0].passive.consecutive_failures == 5);
    CHECK(good.config->pools[0].passive.ejection_ms == 1000);
    CHECK(good.config->pools[0].passive.max_ejected_percent == 100);
    CHECK(good.config->pools[1].passive.consecutive_failures == 0);
    CHECK(good.config->pools[1].passive.ejection_ms == 30000);
    CHECK(good.config->pools[1].passive.max_ejected_percent == 50);

    auto bad = load(lines({
        "[[listener]]",                    // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"a\"",                    // 3
        "[[pool]]",                        // 4
        "name = \"a\"",                    // 5
        "[pool.passive]",                  // 6
        "consecutive_failures = 1001",     // 7
        "ejection_ms = 99",                // 8
        "max_ejected_percent = 101",       // 9
        "ejection = 5",                    // 10
        "  [[pool.backend]]",              // 11
        "  address = \"127.0.0.1:9001\"",  // 12
    }));
    const std::vector<std::string> errors = errors_of(bad);
    const auto reported = [&](const std::string& wanted) {
        return std::any_of(errors.begin(), errors.end(), [&](const std::string& error) {
            return error.find(wanted) != std::string::npos;
        });
    };
    for (const std::string& error : errors) {
        UNSCOPED_INFO(error);
    }
    CHECK(errors.size() == 4);
    CHECK(
        reported("test.toml:7:24: pool \"a\": passive consecutive_failures must be between 0 "
                 "and 1000, got 1001"));
    CHECK(
        reported("test.toml:8:15: pool \"a\": passive ejection_ms must be between 100 and "
                 "3600000, got 99"));
    CHECK(
        reported("test.toml:9:23: pool \"a\": passive max_ejected_percent must be between 0 "
                 "and 100, got 101"));
    CHECK(reported("unknown key \"ejection\" in [pool.passive]"));
}

TEST_CASE("a host-name backend is resolved at load, a numeric one keeps no host") {
    auto result = load(with_pool_api({
        "[[listener]]",
        "bind = \"127.0.0.1:8080\"",
        "pool = \"names\"",
        "[[pool]]",
        "name = \"names\"",
        "  [[pool.backend]]",
        "  address = \"localhost:8443\"",
        "  [[pool.backend]]",
        "  address = \"LocalHost:8444\"",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:8445\"",
    }));
    REQUIRE(errors_of(result) == std::vector<std::string>{});
    const auto& backends = result.config->pools[0].backends;
    REQUIRE(backends.size() == 3);
    CHECK(backends[0].host == "localhost");
    CHECK(backends[0].port == 8443);
    CHECK(backends[0].address.port() == 8443);
    // localhost is 127.0.0.1 or ::1, whichever the system lists first.
    std::string resolved = backends[0].address.to_string();
    CHECK((resolved == "127.0.0.1:8443" || resolved == "[::1]:8443"));
    CHECK(backends[1].host == "LocalHost");
    CHECK(backends[1].address.port() == 8444);
    CHECK(backends[2].host.empty());
    CHECK(backends[2].port == 8445);
}

TEST_CASE("a host name that does not resolve is an error at the address") {
    // .invalid is reserved (RFC 2606): it never resolves.
    auto result = load(with_pool_api({
        "[[listener]]",                                    // 1
        "bind = \"127.0.0.1:8080\"",                       // 2
        "pool = \"api\"",                                  // 3
        "[[pool]]",                                        // 4
        "name = \"names\"",                                // 5
        "  [[pool.backend]]",                              // 6
        "  address = \"no-such-host.ringlb.invalid:80\"",  // 7
    }));
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].line == 7);
    CHECK(result.errors[0].column == 13);
    CHECK_THAT(
        result.errors[0].message,
        Catch::StartsWith("pool \"names\": cannot resolve host \"no-such-host.ringlb.invalid\": "));
    CHECK(result.errors[0].message.size() >
          std::string_view("pool \"names\": cannot resolve host \"no-such-host.ringlb.invalid\": ")
              .size());
    CHECK_FALSE(result.config);
}

TEST_CASE("a backend address that is neither numeric nor a host name is refused unresolved") {
    auto result = load(with_pool_api({
        "[[listener]]",                      // 1
        "bind = \"127.0.0.1:8080\"",         // 2
        "pool = \"api\"",                    // 3
        "[[pool]]",                          // 4
        "name = \"names\"",                  // 5
        "  [[pool.backend]]",                // 6
        "  address = \"10.0.0.300:80\"",     // 7
        "  [[pool.backend]]",                // 8
        "  address = \"127.1:80\"",          // 9
        "  [[pool.backend]]",                // 10
        "  address = \"bad!name:80\"",       // 11
        "  [[pool.backend]]",                // 12
        "  address = \"-lead.example:80\"",  // 13
        "  [[pool.backend]]",                // 14
        "  address = \"localhost\"",         // 15
        "  [[pool.backend]]",                // 16
        "  address = \"localhost:http\"",    // 17
        "  [[pool.backend]]",                // 18
        "  address = \"localhost:0\"",       // 19
        "  [[pool.backend]]",                // 20
        "  address = \"a..b:80\"",           // 21
    }));
    const std::string expected =
        " is not a valid address; expected a numeric \"IPv4:port\", \"[IPv6]:port\" or "
        "\"hostname:port\"";
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:7:13: pool \"names\": backend address \"10.0.0.300:80\"" + expected,
              "test.toml:9:13: pool \"names\": backend address \"127.1:80\"" + expected,
              "test.toml:11:13: pool \"names\": backend address \"bad!name:80\"" + expected,
              "test.toml:13:13: pool \"names\": backend address \"-lead.example:80\"" + expected,
              "test.toml:15:13: pool \"names\": backend address \"localhost\"" + expected,
              "test.toml:17:13: pool \"names\": backend address \"localhost:http\"" + expected,
              "test.toml:19:13: pool \"names\": backend address port must be between 1 and "
              "65535, got 0",
              "test.toml:21:13: pool \"names\": backend address \"a..b:80\"" + expected,
          });
}

TEST_CASE("two backends of a pool with the same host-name address are an error") {
    auto result = load(with_pool_api({
        "[[listener]]",                    // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"api\"",                  // 3
        "[[pool]]",                        // 4
        "name = \"names\"",                // 5
        "  [[pool.backend]]",              // 6
        "  address = \"localhost:9001\"",  // 7
        "  [[pool.backend]]",              // 8
        "  address = \"localhost:9002\"",  // 9
        "  [[pool.backend]]",              // 10
        "  address = \"localhost:9001\"",  // 11
        "  [[pool.backend]]",              // 12
        "  address = \"LOCALHOST:9002\"",  // 13
        "  [[pool.backend]]",              // 14
        "  address = \"127.0.0.1:9001\"",  // 15
    }));
    // A host name and a numeric address may meet at one address today and part tomorrow.
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:11:13: pool \"names\": duplicate backend address \"localhost:9001\" "
              "(first at line 7)",
              "test.toml:13:13: pool \"names\": duplicate backend address \"LOCALHOST:9002\" "
              "(first at line 9)",
          });
}

TEST_CASE("backend max_connections and state are read and checked") {
    auto result = load(with_pool_api({
        "[[listener]]",                    // 1
        "bind = \"127.0.0.1:8080\"",       // 2
        "pool = \"api\"",                  // 3
        "[[pool]]",                        // 4
        "name = \"b\"",                    // 5
        "  [[pool.backend]]",              // 6
        "  address = \"127.0.0.1:9001\"",  // 7
        "  max_connections = 1000001",     // 8
        "  state = \"drained\"",           // 9
        "  [[pool.backend]]",              // 10
        "  address = \"127.0.0.1:9002\"",  // 11
        "  max_connections = 1000000",     // 12
        "  state = true",                  // 13
    }));
    CHECK(errors_of(result) ==
          std::vector<std::string>{
              "test.toml:8:21: pool \"b\": backend max_connections must be between 0 and "
              "1000000, got 1000001",
              "test.toml:9:11: pool \"b\": backend state \"drained\" is not supported; "
              "supported: active, drain, disabled",
              "test.toml:13:11: pool \"b\": backend key \"state\" must be a string, got boolean",
          });
}

TEST_CASE("the backend state and send_proxy values have their config names") {
    using ringlb::config::BackendState;
    using ringlb::config::SendProxy;
    CHECK(ringlb::config::backend_state_name(BackendState::active) == "active");
    CHECK(ringlb::config::backend_state_name(BackendState::drain) == "drain");
    CHECK(ringlb::config::backend_state_name(BackendState::disabled) == "disabled");
    CHECK(ringlb::config::send_proxy_name(SendProxy::none) == "none");
    CHECK(ringlb::config::send_proxy_name(SendProxy::v1) == "v1");
    CHECK(ringlb::config::send_proxy_name(SendProxy::v2) == "v2");
}

TEST_CASE("unknown keys of the new tables are reported like any other") {
    auto result = load(with_pool_api({
        "[admin]",                         // 1
        "bind = \"127.0.0.1:0\"",          // 2
        "tokenfile = \"x\"",               // 3
        "[[listener]]",                    // 4
        "bind = \"127.0.0.1:8080\"",       // 5
        "pool = \"api\"",                  // 6
        "accept_proxy_v2 = true",          // 7
        "[[pool]]",                        // 8
        "name = \"b\"",                    // 9
        "send_proxy_version = \"v2\"",     // 10
        "  [[pool.backend]]",              // 11
        "  address = \"127.0.0.1:9002\"",  // 12
        "  drain = true",                  // 13
    }));
    CHECK(errors_of(result) == std::vector<std::string>{
                                   "test.toml:3:1: unknown key \"tokenfile\" in [admin]",
                                   "test.toml:7:1: unknown key \"accept_proxy_v2\" in [[listener]]",
                                   "test.toml:10:1: unknown key \"send_proxy_version\" in [[pool]]",
                                   "test.toml:13:3: unknown key \"drain\" in [[pool.backend]]",
                               });
}

TEST_CASE("known_keys lists every value key, dotted, once, and no table") {
    auto keys = ringlb::config::known_keys();
    auto has = [&](std::string_view key) {
        return std::find(keys.begin(), keys.end(), key) != keys.end();
    };
    for (std::string_view key :
         {"global.workers", "global.max_connections", "global.splice", "admin.bind",
          "admin.token_file", "listener.bind", "listener.accept_proxy", "listener.access_log",
          "pool.name", "pool.maglev_table_size", "pool.resolve_interval_ms",
          "pool.health.interval_ms", "pool.health.fall", "pool.backend.address",
          "pool.backend.state", "listener.tls_inspect_timeout_ms", "listener.route.sni",
          "listener.route.pool", "pool.backend.backup"}) {
        INFO(key);
        CHECK(has(key));
    }
    for (std::string_view table : {"global", "admin", "listener", "pool", "pool.health",
                                   "pool.backend", "listener.route", "workers", "address"}) {
        INFO(table);
        CHECK_FALSE(has(table));
    }
    auto sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
    // 50, issue 12 items 4-6: shard_steering, upload/download rates,
    // max_connection_duration_ms; issue 11: backend.backup; issue 12 items 2-3: 13 socket keys;
    // issue 13: listener.access_log_interval_ms; issue 11 item 1: 8 pool.health keys (type,
    // send, expect, http_path, http_host, expect_status, port, send_proxy); items 3 and 5:
    // pool.on_backend_down and 3 pool.passive keys; item 2: pool.health.agent_port,
    // agent_interval_ms, agent_send; item 6: pool.queue_timeout_ms; issue 16: global.batch_wait_us
    CHECK(keys.size() == 86);
}

TEST_CASE("configs/full.toml and configs/minimal.toml load, and full.toml shows every key") {
    auto minimal = ringlb::config::load_config_file(RINGLB_SOURCE_DIR "/configs/minimal.toml");
    CHECK(errors_of(minimal) == std::vector<std::string>{});
    auto full = ringlb::config::load_config_file(RINGLB_SOURCE_DIR "/configs/full.toml");
    REQUIRE(errors_of(full) == std::vector<std::string>{});
    CHECK(full.config->admin);

    // Each key appears as "key =" at the start of a line, set or commented out ("# key =").
    std::string text = read_whole_file(RINGLB_SOURCE_DIR "/configs/full.toml");
    for (const std::string& dotted : ringlb::config::known_keys()) {
        std::string key = dotted.substr(dotted.rfind('.') + 1);
        bool found = false;
        for (std::size_t at = text.find(key + " = "); at != std::string::npos && !found;
             at = text.find(key + " = ", at + 1)) {
            std::size_t line_start = text.rfind('\n', at) + 1;
            std::string_view before = std::string_view(text).substr(line_start, at - line_start);
            found = before.find_first_not_of(" #") == std::string_view::npos;
        }
        INFO(dotted);
        CHECK(found);
    }
}

TEST_CASE("listener routes by TLS server name are read, lower case, in order") {
    auto result = load(with_pool_api({
        "[[listener]]",
        "name = \"tls\"",
        "bind = \"127.0.0.1:8443\"",
        "tls_inspect_timeout_ms = 500",
        "  [[listener.route]]",
        "  sni = [\"API.example.com\", \"*.Example.org\"]",
        "  pool = \"api\"",
        "  [[listener.route]]",
        "  sni = [\"x_y-1.example\"]",
        "  pool = \"api\"",
    }));
    REQUIRE(errors_of(result).empty());
    const auto& listener = result.config->listeners.at(0);
    CHECK(listener.pool.empty());  // no default pool: unmatched clients are closed
    CHECK(listener.tls_inspect_timeout_ms == 500);
    REQUIRE(listener.routes.size() == 2);
    CHECK(listener.routes[0].sni == std::vector<std::string>{"api.example.com", "*.example.org"});
    CHECK(listener.routes[0].pool == "api");
    CHECK(listener.routes[1].sni == std::vector<std::string>{"x_y-1.example"});
    // The default.
    auto plain = load(with_pool_api({"[[listener]]", "bind = \"127.0.0.1:1\"", "pool = \"api\""}));
    REQUIRE(errors_of(plain).empty());
    CHECK(plain.config->listeners.at(0).tls_inspect_timeout_ms == 3000);
    CHECK(plain.config->listeners.at(0).routes.empty());
}

TEST_CASE("malformed routes are reported at their place, all at once") {
    auto result = load(with_pool_api({
        "[[listener]]",                                                     // 1
        "name = \"tls\"",                                                   // 2
        "bind = \"127.0.0.1:8443\"",                                        // 3
        "tls_inspect_timeout_ms = 0",                                       // 4
        "  [[listener.route]]",                                             // 5
        "  sni = [\"ok.example\", \"a..b\", 7, \"*.\", \"**.x\", \"x.\"]",  // 6
        "  pool = \"nope\"",                                                // 7
        "  [[listener.route]]",                                             // 8
        "  sni = []",                                                       // 9
        "  pool = \"api\"",                                                 // 10
        "  port = 1",                                                       // 11
        "  [[listener.route]]",                                             // 12
        "  sni = \"api.example\"",                                          // 13
        "  [[listener.route]]",                                             // 14
        "  pool = \"api\"",                                                 // 15
    }));
    CHECK(
        errors_of(result) ==
        std::vector<std::string>{
            "test.toml:4:26: listener \"tls\": tls_inspect_timeout_ms must be between 1 and 60000, "
            "got 0",
            "test.toml:6:24: listener \"tls\": route sni entry \"a..b\" is not a server name; "
            "expected \"host.example.com\" or \"*.example.com\"",
            "test.toml:6:32: listener \"tls\": route sni entry integer is not a server name; "
            "expected \"host.example.com\" or \"*.example.com\"",
            "test.toml:6:35: listener \"tls\": route sni entry \"*.\" is not a server name; "
            "expected \"host.example.com\" or \"*.example.com\"",
            "test.toml:6:41: listener \"tls\": route sni entry \"**.x\" is not a server name; "
            "expected \"host.example.com\" or \"*.example.com\"",
            "test.toml:6:49: listener \"tls\": route sni entry \"x.\" is not a server name; "
            "expected \"host.example.com\" or \"*.example.com\"",
            "test.toml:7:10: listener \"tls\": route pool \"nope\" is not defined",
            "test.toml:9:9: listener \"tls\": route sni must list at least one server name",
            "test.toml:11:3: unknown key \"port\" in [[listener.route]]",
            "test.toml:12:3: listener \"tls\": missing required key \"pool\" in [[listener.route]]",
            "test.toml:13:9: listener \"tls\": route key \"sni\" must be an array of server names "
            "(strings), got string",
            "test.toml:14:3: listener \"tls\": missing required key \"sni\" in [[listener.route]]",
        });
}

TEST_CASE("[pool.discovery] is read, and a pool with discovery needs no static backend") {
    auto result = load(lines({
        "[[listener]]",                               // 1
        "bind = \"127.0.0.1:8080\"",                  // 2
        "pool = \"api\"",                             // 3
        "[[pool]]",                                   // 4
        "name = \"api\"",                             // 5
        "  [pool.discovery]",                         // 6
        "  dns_srv = \"_api._tcp.service.consul.\"",  // 7
        "  resolver = \"127.0.0.1:8600\"",            // 8
        "  interval_ms = 1000",                       // 9
        "[[pool]]",                                   // 10
        "name = \"defaults\"",                        // 11
        "  [pool.discovery]",                         // 12
        "  dns_srv = \"_web._tcp.web.ns.svc.cluster.local\"",
    }));
    REQUIRE(errors_of(result) == std::vector<std::string>{});
    const auto& api = result.config->pools[0];
    REQUIRE(api.discovery);
    CHECK(api.backends.empty());
    CHECK(api.discovery->dns_srv == "_api._tcp.service.consul.");
    REQUIRE(api.discovery->resolver);
    CHECK(api.discovery->resolver->to_string() == "127.0.0.1:8600");
    CHECK(api.discovery->interval_ms == 1000);
    const auto& defaults = result.config->pools[1];
    REQUIRE(defaults.discovery);
    CHECK_FALSE(defaults.discovery->resolver);
    CHECK(defaults.discovery->interval_ms == 5000);
}

TEST_CASE("[pool.discovery] errors are reported with their places, all at once") {
    auto result = load(lines({
        "[[listener]]",                     // 1
        "bind = \"127.0.0.1:8080\"",        // 2
        "pool = \"api\"",                   // 3
        "[[pool]]",                         // 4
        "name = \"api\"",                   // 5
        "  [pool.discovery]",               // 6
        "  dns_srv = \"not a name\"",       // 7
        "  resolver = \"dns.example:53\"",  // 8
        "  interval_ms = 999",              // 9
        "  ttl = 5",                        // 10
        "[[pool]]",                         // 11
        "name = \"missing\"",               // 12
        "  [pool.discovery]",               // 13
        "  interval_ms = 1000",             // 14
    }));
    const auto errors = errors_of(result);
    INFO(Catch::Detail::stringify(errors));
    REQUIRE(errors.size() == 5);
    CHECK(errors[0].starts_with("test.toml:7:13: pool \"api\": discovery dns_srv \"not a name\""));
    CHECK(errors[1].starts_with("test.toml:8:14: pool \"api\": "));
    CHECK(errors[2] ==
          "test.toml:9:17: pool \"api\": discovery interval_ms must be between 1000 "
          "and 86400000, got 999");
    CHECK(errors[3].starts_with("test.toml:10:3: unknown key \"ttl\""));
    CHECK(errors[4] ==
          "test.toml:13:3: pool \"missing\": missing required key \"dns_srv\" in [pool.discovery]");
}

TEST_CASE("issue 12 keys: shard steering, bandwidth limits, connection lifetime") {
    auto result = load(lines({
        "[global]",
        "shard_steering = \"cpu\"",
        "[[listener]]",
        "bind = \"127.0.0.1:1\"",
        "pool = \"p\"",
        "upload_bytes_per_s = 1048576",
        "download_bytes_per_s = 2048",
        "[[pool]]",
        "name = \"p\"",
        "max_connection_duration_ms = 60000",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
    }));
    REQUIRE(errors_of(result).empty());
    CHECK(result.config->global.shard_steering == ringlb::config::ShardSteering::cpu);
    CHECK(result.config->listeners.at(0).upload_bytes_per_s == 1048576);
    CHECK(result.config->listeners.at(0).download_bytes_per_s == 2048);
    CHECK(result.config->pools.at(0).max_connection_duration_ms == 60000);

    auto defaults =
        load(with_pool_api({"[[listener]]", "bind = \"127.0.0.1:1\"", "pool = \"api\""}));
    REQUIRE(errors_of(defaults).empty());
    CHECK(defaults.config->global.shard_steering == ringlb::config::ShardSteering::random);
    CHECK(defaults.config->listeners.at(0).upload_bytes_per_s == 0);
    CHECK(defaults.config->listeners.at(0).download_bytes_per_s == 0);
    CHECK(defaults.config->pools.at(0).max_connection_duration_ms == 0);

    auto bad = load(lines({
        "[global]",
        "shard_steering = \"least\"",
        "[[listener]]",
        "name = \"in\"",
        "bind = \"127.0.0.1:1\"",
        "pool = \"p\"",
        "upload_bytes_per_s = -1",
        "[[pool]]",
        "name = \"p\"",
        "max_connection_duration_ms = 31536000001",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
    }));
    CHECK(errors_of(bad) ==
          std::vector<std::string>{
              "test.toml:2:18: shard_steering \"least\" is not supported; supported: random, "
              "cpu, hash",
              "test.toml:7:22: listener \"in\": upload_bytes_per_s must be between 0 and "
              "1099511627776, got -1",
              "test.toml:10:30: pool \"p\": max_connection_duration_ms must be between 0 and "
              "31536000000, got 31536000001",
          });
}

TEST_CASE("pool.queue_timeout_ms is off by default, read in milliseconds, and bounded") {
    auto defaults =
        load(with_pool_api({"[[listener]]", "bind = \"127.0.0.1:1\"", "pool = \"api\""}));
    REQUIRE(errors_of(defaults).empty());
    CHECK(defaults.config->pools.at(0).queue_timeout_ms == 0);

    auto good = load(lines({
        "[[listener]]",
        "bind = \"127.0.0.1:1\"",
        "pool = \"p\"",
        "[[pool]]",
        "name = \"p\"",
        "queue_timeout_ms = 2500",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
        "  max_connections = 10",
    }));
    REQUIRE(errors_of(good).empty());
    CHECK(good.config->pools.at(0).queue_timeout_ms == 2500);

    auto bad = load(lines({
        "[[listener]]",
        "bind = \"127.0.0.1:1\"",
        "pool = \"p\"",
        "[[pool]]",
        "name = \"p\"",
        "queue_timeout_ms = 3600001",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
    }));
    CHECK(errors_of(bad) == std::vector<std::string>{
                                "test.toml:6:20: pool \"p\": queue_timeout_ms must be between 0 "
                                "and 3600000, got 3600001",
                            });
}

TEST_CASE("socket options and source addresses are read, with their defaults") {
    auto defaults =
        load(with_pool_api({"[[listener]]", "bind = \"127.0.0.1:80\"", "pool = \"api\""}));
    REQUIRE(errors_of(defaults).empty());
    const auto& plain = defaults.config->listeners[0];
    CHECK(plain.backlog == 4096);
    CHECK(plain.tcp_fastopen == 0);
    CHECK(plain.tcp == ringlb::TcpOptions{});
    CHECK(plain.tcp.nodelay);
    CHECK_FALSE(plain.tcp.keepalive());
    CHECK(defaults.config->pools[0].source.empty());

    auto result = load(lines({
        "[[listener]]",
        "bind = \"127.0.0.1:80\"",
        "pool = \"api\"",
        "backlog = 100",
        "tcp_fastopen = 16",
        "keepalive_count = 3",
        "tcp_nodelay = false",
        "mark = 4294967295",
        "[[pool]]",
        "name = \"api\"",
        "source = [\"127.0.0.2\", \"::1\", \"127.0.0.3\"]",
        "keepalive_idle_s = 30",
        "mark = 7",
        "  [[pool.backend]]",
        "  address = \"127.0.0.1:9001\"",
        "  [[pool.backend]]",
        "  address = \"[::1]:9001\"",
    }));
    REQUIRE(errors_of(result).empty());
    const auto& listener = result.config->listeners[0];
    CHECK(listener.backlog == 100);
    CHECK(listener.tcp_fastopen == 16);
    CHECK(listener.tcp.keepalive());  // any keepalive key turns it on
    CHECK(listener.tcp.keepalive_count == 3);
    CHECK(listener.tcp.keepalive_idle_s == 0);
    CHECK_FALSE(listener.tcp.nodelay);
    CHECK(listener.tcp.mark == 4294967295u);
    const auto& pool = result.config->pools[0];
    REQUIRE(pool.source.size() == 3);
    CHECK(pool.source[1].family() == AF_INET6);
    CHECK(pool.tcp.keepalive_idle_s == 30);
    CHECK(pool.tcp.mark == 7);
}

TEST_CASE("bad source addresses and socket option values are errors at their place") {
    auto result = load(lines({
        "[[listener]]",                                                  // 1
        "bind = \"127.0.0.1:80\"",                                       // 2
        "pool = \"api\"",                                                // 3
        "backlog = 0",                                                   // 4
        "keepalive_count = 128",                                         // 5
        "[[pool]]",                                                      // 6
        "name = \"api\"",                                                // 7
        "source = [\"127.0.0.2:80\", 5, \"127.0.0.3\", \"127.0.0.3\"]",  // 8
        "keepalive_idle_s = 32768",                                      // 9
        "  [[pool.backend]]",                                            // 10
        "  address = \"[::1]:9001\"",                                    // 11
        "[[pool]]",                                                      // 12
        "name = \"empty\"",                                              // 13
        "source = []",                                                   // 14
        "  [[pool.backend]]",                                            // 15
        "  address = \"127.0.0.1:9001\"",                                // 16
    }));
    const auto errors = errors_of(result);
    std::string all;
    for (const std::string& error : errors) {
        all += error + "\n";
    }
    INFO(all);
    auto has = [&](const std::string& start, const std::string& part) {
        return std::any_of(errors.begin(), errors.end(), [&](const std::string& e) {
            return e.find(start) != std::string::npos && e.find(part) != std::string::npos;
        });
    };
    CHECK(has(":4:", "backlog must be between 1 and 65535"));
    CHECK(has(":5:", "keepalive_count must be between 0 and 127"));
    CHECK(has(":8:", "\"127.0.0.2:80\" is not a numeric IP address without a port"));
    CHECK(has(":8:", "source entry integer"));
    CHECK(has(":8:", "duplicate source address \"127.0.0.3\""));
    CHECK(has(":9:", "keepalive_idle_s must be between 0 and 32767"));
    // A v4 source cannot reach a v6 backend: an error at the backend's address.
    CHECK(has(":11:", "backend \"[::1]:9001\" is IPv6 but source has no IPv6 address"));
    CHECK(has(":14:", "source must list between 1 and 64 addresses"));
}
