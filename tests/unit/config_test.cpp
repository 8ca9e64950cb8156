// SPDX-License-Identifier: MIT
// Config loader: defaults, every class of error with its exact place, and robustness to junk.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/config/config.hpp"

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
              "round_robin",
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
              "address; expected a numeric \"IPv4:port\" or \"[IPv6]:port\"",
              "test.toml:13:13: pool \"api\": backend address port must be between 1 and 65535, "
              "got 0",
              "test.toml:15:13: pool \"api\": backend address \"::1:80\" is not a valid address; "
              "expected a numeric \"IPv4:port\" or \"[IPv6]:port\"",
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
