// SPDX-License-Identifier: MIT
// Access log: one logfmt line per finished connection, to a file or stderr; SIGUSR1 reopens.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "temp_dir.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// One access log line, split into its time and its key=value fields in order.
struct AccessLine final {
    std::string time;
    std::vector<std::pair<std::string, std::string>> fields;
    [[nodiscard]] std::string get(const std::string& key) const {
        for (const auto& [name, value] : fields) {
            if (name == key) {
                return value;
            }
        }
        return "(absent)";
    }
};

AccessLine parse_line(const std::string& text) {
    AccessLine line;
    std::istringstream words(text);
    words >> line.time;
    std::string word;
    while (words >> word) {
        const std::size_t equals = word.find('=');
        if (equals == std::string::npos) {
            throw HarnessError("access log field without '=': \"" + word + "\" in \"" + text +
                               "\"");
        }
        line.fields.emplace_back(word.substr(0, equals), word.substr(equals + 1));
    }
    return line;
}

std::vector<std::string> read_lines(const std::string& path) {
    std::vector<std::string> lines;
    std::ifstream file(path);
    std::string line;
    while (std::getline(file, line)) {
        lines.push_back(line);
    }
    return lines;
}

// Polls `path` until it holds at least `count` lines (the writer flushes about every 50 ms);
// returns what it holds then, or at the deadline.
std::vector<std::string> wait_for_lines(const std::string& path, std::size_t count,
                                        milliseconds timeout = 5000ms) {
    const Deadline deadline = deadline_in(timeout);
    for (;;) {
        std::vector<std::string> lines = read_lines(path);
        if (lines.size() >= count || Clock::now() >= deadline) {
            return lines;
        }
        std::this_thread::sleep_for(10ms);
    }
}

std::string local_address(int fd) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0) {
        throw HarnessError("getsockname failed");
    }
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(address.sin_port));
}

// One echoed connection of `bytes` bytes; returns the client address ringlb saw.
std::string echo_connection(std::uint16_t port, std::uint64_t bytes) {
    ringlb::UniqueFd fd = connect_to(port);
    const std::string client = local_address(fd.get());
    const DuplexResult result = duplex_transfer(fd.get(), bytes, bytes, deadline_in(5s));
    if (result.received != bytes) {
        throw HarnessError("echo came back short");
    }
    return client;
}

// Listener "web" writing its access log to `access_log`, over one backend.
std::string one_listener_config(const std::string& access_log, const std::string& backend) {
    return "[global]\nworkers = 2\n" +
           listener_table("web", "p", "access_log = \"" + access_log + "\"") +
           pool_table("p", {backend});
}

const std::vector<std::string> kFieldOrder = {"client",    "listener",    "backend", "bytes_in",
                                              "bytes_out", "duration_ms", "end"};

// The lines by client address; fails the test on a malformed line or a client seen twice.
std::map<std::string, AccessLine> by_client(const std::vector<std::string>& lines) {
    const std::regex time(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
    std::map<std::string, AccessLine> result;
    for (const std::string& text : lines) {
        INFO("line: " << text);
        const AccessLine line = parse_line(text);
        CHECK(std::regex_match(line.time, time));
        std::vector<std::string> keys;
        for (const auto& [key, value] : line.fields) {
            keys.push_back(key);
        }
        CHECK(keys == kFieldOrder);
        CHECK(std::regex_match(line.get("duration_ms"), std::regex(R"(\d+)")));
        CHECK(result.emplace(line.get("client"), line).second);
    }
    return result;
}

}  // namespace

TEST_CASE("access_log = PATH: one line per finished connection with its figures") {
    Backend echo = start_backend("echo");
    const std::string refused = "127.0.0.1:" + std::to_string(refused_port());
    TempDir dir("ringlb-log");
    const std::string log = dir.path() + "/access.log";
    const std::string logged = "access_log = \"" + log + "\"";
    Ringlb lb = start_ringlb("[global]\nworkers = 2\n" + listener_table("web", "web", logged) +
                             listener_table("dead", "dead", logged) +
                             listener_table("quiet", "web") + pool_table("web", {echo.address()}) +
                             pool_table("dead", {refused}, "retries = 0"));
    INFO("ringlb output:\n" << lb.process->tail());

    std::map<std::string, std::uint64_t> sent;  // client -> bytes each way
    for (std::uint64_t i = 0; i < 5; ++i) {
        const std::uint64_t bytes = 100 * i + 7;
        sent[echo_connection(lb.port_of("web"), bytes)] = bytes;
    }
    // One held for a while, to see duration_ms measure it.
    std::string held_client;
    {
        ringlb::UniqueFd fd = connect_to(lb.port_of("web"));
        held_client = local_address(fd.get());
        send_all(fd.get(), "x\n", deadline_in(2s));
        REQUIRE(read_line(fd.get(), deadline_in(2s)) == "x\n");
        std::this_thread::sleep_for(300ms);  // the duration being measured, not a wait
    }
    // One that cannot reach a backend.
    std::string failed_client;
    {
        ringlb::UniqueFd fd = connect_to(lb.port_of("dead"));
        failed_client = local_address(fd.get());
        REQUIRE(read_until_close(fd.get(), deadline_in(3s)).closed());
    }
    // Connections on a listener without an access log write nothing.
    for (int i = 0; i < 3; ++i) {
        (void)echo_connection(lb.port_of("quiet"), 10);
    }

    const std::vector<std::string> lines = wait_for_lines(log, 7);
    INFO("log:\n"
         << [&] {
                std::string all;
                for (const auto& line : lines) {
                    all += line + "\n";
                }
                return all;
            }());
    REQUIRE(lines.size() >= 7);
    // Give a wrongly logged "quiet" connection the same chance to show up before counting.
    CHECK(wait_for_lines(log, 8, 200ms).size() == 7);
    const auto lines_by_client = by_client(lines);

    for (const auto& [client, bytes] : sent) {
        INFO("client " << client);
        REQUIRE(lines_by_client.count(client) == 1);
        const AccessLine& line = lines_by_client.at(client);
        CHECK(line.get("listener") == "web");
        CHECK(line.get("backend") == echo.address());
        CHECK(line.get("bytes_in") == std::to_string(bytes));
        CHECK(line.get("bytes_out") == std::to_string(bytes));
        CHECK(line.get("end") == "client_closed");
    }
    REQUIRE(lines_by_client.count(held_client) == 1);
    const AccessLine& held = lines_by_client.at(held_client);
    CHECK(held.get("bytes_in") == "2");
    CHECK(held.get("bytes_out") == "2");
    // ringlb stamps connections with the coarse monotonic clock (one tick, up to 4 ms at
    // HZ=250, on each end), so 300 ms held may read a few milliseconds short.
    CHECK(std::stoul(held.get("duration_ms")) >= 290);
    CHECK(std::stoul(held.get("duration_ms")) < 5000);

    REQUIRE(lines_by_client.count(failed_client) == 1);
    const AccessLine& failed = lines_by_client.at(failed_client);
    CHECK(failed.get("listener") == "dead");
    CHECK(failed.get("bytes_in") == "0");
    CHECK(failed.get("bytes_out") == "0");
    CHECK(failed.get("end") == "connect_failed");
}

TEST_CASE("access_log = \"stderr\": the line appears in ringlb's output") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(one_listener_config("stderr", echo.address()));

    const std::string client = echo_connection(lb.port, 1234);
    const LineMatch match = lb.process->wait_for_line(
        R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z client=)" + regex_escape(client) +
            " listener=web backend=" + regex_escape(echo.address()) +
            R"( bytes_in=1234 bytes_out=1234 duration_ms=\d+ end=client_closed$)",
        5000ms);
    CHECK(lb.process->lines()[match.index].from_stderr);
}

TEST_CASE("logrotate: after a rename and SIGUSR1 new lines go to a new file, none lost") {
    Backend echo = start_backend("echo");
    TempDir dir("ringlb-log");
    const std::string log = dir.path() + "/access.log";
    const std::string rotated = log + ".1";
    Ringlb lb = start_ringlb(one_listener_config(log, echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());

    std::set<std::string> first_batch;
    for (int i = 0; i < 3; ++i) {
        first_batch.insert(echo_connection(lb.port, 50));
    }
    REQUIRE(wait_for_lines(log, 3).size() == 3);

    REQUIRE(std::rename(log.c_str(), rotated.c_str()) == 0);
    const std::size_t before = lb.process->line_count();
    lb.process->signal(SIGUSR1);
    lb.process->wait_for_line("SIGUSR1", 3000ms, before);
    // The writer thread reopens the path (creating it) as soon as it is woken.
    const Deadline reopened = deadline_in(3s);
    while (::access(log.c_str(), F_OK) != 0 && Clock::now() < reopened) {
        std::this_thread::sleep_for(10ms);
    }
    REQUIRE(::access(log.c_str(), F_OK) == 0);

    std::set<std::string> second_batch;
    for (int i = 0; i < 4; ++i) {
        second_batch.insert(echo_connection(lb.port, 60));
    }
    const std::vector<std::string> new_lines = wait_for_lines(log, 4);
    // Anything wrongly sent to the old file would have been written by now too.
    const std::vector<std::string> old_lines = read_lines(rotated);

    std::set<std::string> in_old;
    for (const auto& [client, line] : by_client(old_lines)) {
        in_old.insert(client);
    }
    std::set<std::string> in_new;
    for (const auto& [client, line] : by_client(new_lines)) {
        in_new.insert(client);
        CHECK(line.get("bytes_in") == "60");
    }
    CHECK(in_old == first_batch);
    CHECK(in_new == second_batch);
    CHECK(lb.process->running());
}

TEST_CASE("a reload starts, moves and stops the access log; a file it cannot open fails it") {
    Backend echo = start_backend("echo");
    TempDir dir("ringlb-log");
    const std::string first = dir.path() + "/first.log";
    const std::string second = dir.path() + "/second.log";
    Ringlb lb = start_ringlb(one_listener_config("off", echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    (void)echo_connection(lb.port, 10);

    // Off at start-up, on after a reload: the writer and the shards' buffers come into being.
    reload_ringlb(lb, one_listener_config(first, echo.address()));
    const std::string logged_first = echo_connection(lb.port, 20);
    std::vector<std::string> lines = wait_for_lines(first, 1);
    REQUIRE(lines.size() == 1);
    CHECK(parse_line(lines[0]).get("client") == logged_first);
    CHECK(parse_line(lines[0]).get("bytes_in") == "20");

    // Moved: new lines go to the second file, and the first is closed once no connection of
    // the generation that named it is left.
    reload_ringlb(lb, one_listener_config(second, echo.address()));
    lb.process->wait_for_line("access log closed destination=" + regex_escape(first), 5s);
    const std::string logged_second = echo_connection(lb.port, 30);
    lines = wait_for_lines(second, 1);
    REQUIRE(lines.size() == 1);
    CHECK(parse_line(lines[0]).get("client") == logged_second);

    // A destination that cannot be opened fails the reload; the second file keeps logging.
    CHECK_THROWS_AS(
        reload_ringlb(lb, one_listener_config(dir.path() + "/no-such-dir/x.log", echo.address())),
        HarnessError);
    const std::string still_second = echo_connection(lb.port, 40);
    lines = wait_for_lines(second, 2);
    REQUIRE(lines.size() == 2);
    CHECK(parse_line(lines[1]).get("client") == still_second);

    // Off again: nothing more is written anywhere.
    reload_ringlb(lb, one_listener_config("off", echo.address()));
    lb.process->wait_for_line("access log closed destination=" + regex_escape(second), 5s);
    (void)echo_connection(lb.port, 50);
    lb.process->signal(SIGTERM);
    CHECK(lb.process->require_exit(15s).exited_with(0));
    // Exactly the connections made while each file was named: none before, none after.
    CHECK(read_lines(first).size() == 1);
    CHECK(read_lines(second).size() == 2);
}
