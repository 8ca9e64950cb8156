// SPDX-License-Identifier: MIT
// Protocol health checks without I/O: expect_status ranges, the request a check writes and the
// judgment of the reply it reads.
#include <catch2/catch.hpp>

#include <string>

#include "ringlb/config/config.hpp"
#include "ringlb/health/check_protocol.hpp"

using ringlb::ReplyVerdict;
using ringlb::config::HealthCheckType;
using ringlb::config::HealthConfig;
using ringlb::config::StatusRange;

namespace {

std::vector<StatusRange> ranges(std::string_view text) {
    std::string error;
    auto parsed = ringlb::config::parse_status_ranges(text, error);
    INFO(error);
    REQUIRE(parsed);
    return *parsed;
}

std::string error_of(std::string_view text) {
    std::string error;
    CHECK_FALSE(ringlb::config::parse_status_ranges(text, error));
    return error;
}

HealthConfig send_expect(std::string send, std::string expect) {
    HealthConfig health;
    health.type = HealthCheckType::send_expect;
    health.send = std::move(send);
    health.expect = std::move(expect);
    return health;
}

HealthConfig http(std::string_view statuses = "200-399") {
    HealthConfig health;
    health.type = HealthCheckType::http;
    health.expect_status = ranges(statuses);
    return health;
}

}  // namespace

TEST_CASE("expect_status takes a code, a range, or a list of them") {
    CHECK(ranges("200") == std::vector<StatusRange>{{200, 200}});
    CHECK(ranges("200-299") == std::vector<StatusRange>{{200, 299}});
    CHECK(ranges(" 200 - 299 , 301,404") ==
          std::vector<StatusRange>{{200, 299}, {301, 301}, {404, 404}});
    CHECK(ranges("100-599") == std::vector<StatusRange>{{100, 599}});

    const auto list = ranges("200-299,503");
    CHECK(ringlb::config::status_in(list, 200));
    CHECK(ringlb::config::status_in(list, 299));
    CHECK(ringlb::config::status_in(list, 503));
    CHECK_FALSE(ringlb::config::status_in(list, 300));
    CHECK_FALSE(ringlb::config::status_in(list, 199));
    CHECK_FALSE(ringlb::config::status_in(list, 502));
}

TEST_CASE("expect_status errors name the bad part") {
    CHECK(error_of("") ==
          "\"\" is not a status code (100..599) nor a range of them such as \"200-399\"");
    CHECK(error_of("2xx") ==
          "\"2xx\" is not a status code (100..599) nor a range of them such as \"200-399\"");
    CHECK(error_of("200,,300").find("\"\" is not a status code") == 0);
    CHECK(error_of("99").find("\"99\" is not") == 0);
    CHECK(error_of("600").find("\"600\" is not") == 0);
    CHECK(error_of("2000").find("\"2000\" is not") == 0);
    CHECK(error_of("200-").find("\"200-\" is not") == 0);
    CHECK(error_of("+20").find("\"+20\" is not") == 0);
    CHECK(error_of("399-200") == "\"399-200\" runs backwards");
}

TEST_CASE("the request: send as it is, an HTTP GET with Host, nothing for connect") {
    CHECK(ringlb::check_request(HealthConfig{}, "10.0.0.1:80").empty());
    CHECK(ringlb::check_request(send_expect("PING\r\n", "+PONG"), "10.0.0.1:80") == "PING\r\n");
    HealthConfig get = http();
    get.http_path = "/healthz?full=1";
    CHECK(ringlb::check_request(get, "10.0.0.1:80") ==
          "GET /healthz?full=1 HTTP/1.1\r\nHost: 10.0.0.1:80\r\nConnection: close\r\n"
          "User-Agent: ringlb-health\r\n\r\n");
    get.http_host = "api.example";
    CHECK(ringlb::check_request(get, "10.0.0.1:80").find("\r\nHost: api.example\r\n") !=
          std::string::npos);
}

TEST_CASE("send_expect passes when the reply contains expect, anywhere, and fails at its end") {
    const HealthConfig redis = send_expect("INFO replication\r\n", "role:master");
    auto verdict = [&](std::string_view received, bool complete) {
        return ringlb::judge_reply(redis, received, complete).verdict;
    };
    CHECK(verdict("", false) == ReplyVerdict::need_more);
    CHECK(verdict("$120\r\n# Replication\r\nrole:mas", false) == ReplyVerdict::need_more);
    CHECK(verdict("$120\r\n# Replication\r\nrole:master\r\n", false) == ReplyVerdict::passed);
    CHECK(verdict("$120\r\n# Replication\r\nrole:slave\r\n", true) == ReplyVerdict::unexpected);
    CHECK(verdict("", true) == ReplyVerdict::unexpected);
    // Binary bytes and NULs are compared as they are.
    const HealthConfig binary = send_expect("", std::string("\0ok", 3));
    CHECK(ringlb::judge_reply(binary, std::string("x\0ok", 4), false).verdict ==
          ReplyVerdict::passed);
    CHECK(ringlb::judge_reply(binary, "xok", true).verdict == ReplyVerdict::unexpected);
}

TEST_CASE("http judges the status line") {
    const HealthConfig check = http("200-399");
    auto judge = [&](std::string_view received, bool complete = false) {
        return ringlb::judge_reply(check, received, complete);
    };
    CHECK(judge("HTTP/1.1 200 OK\r\n").verdict == ReplyVerdict::passed);
    CHECK(judge("HTTP/1.0 302 Found\r\n").verdict == ReplyVerdict::passed);
    CHECK(judge("HTTP/1.1 204\r\n").verdict == ReplyVerdict::passed);
    const auto unavailable = judge("HTTP/1.1 503 Service Unavailable\r\n");
    CHECK(unavailable.verdict == ReplyVerdict::bad_status);
    CHECK(unavailable.status == 503);
    CHECK(judge("HTTP/1.1 404 Not Found").verdict == ReplyVerdict::bad_status);
    // Not there yet.
    CHECK(judge("").verdict == ReplyVerdict::need_more);
    CHECK(judge("HTTP/1.").verdict == ReplyVerdict::need_more);
    CHECK(judge("HTTP/1.1 200").verdict == ReplyVerdict::need_more);
    // Never will be.
    CHECK(judge("HTTP/1.1 200", true).verdict == ReplyVerdict::unexpected);
    CHECK(judge("", true).verdict == ReplyVerdict::unexpected);
    // Not HTTP.
    CHECK(judge("+PONG\r\n").verdict == ReplyVerdict::unexpected);
    CHECK(judge("HTTP/1.1 2000 OK\r\n").verdict == ReplyVerdict::unexpected);
    CHECK(judge("HTTP/1.1 20x OK\r\n").verdict == ReplyVerdict::unexpected);
    CHECK(judge("HTTP/11 200 OK\r\n").verdict == ReplyVerdict::unexpected);
    CHECK(judge("http/1.1 200 OK\r\n").verdict == ReplyVerdict::unexpected);
}

TEST_CASE("connect checks pass whatever comes") {
    CHECK(ringlb::judge_reply(HealthConfig{}, "", true).verdict == ReplyVerdict::passed);
}
