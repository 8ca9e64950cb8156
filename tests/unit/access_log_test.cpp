// SPDX-License-Identifier: MIT
// Access log: the shard-to-writer ring, the line format, reopening for logrotate, and flushing.
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "../support/temp_dir.hpp"
#include "ringlb/access/access_log.hpp"

namespace {

using ringlb::AccessLogBuffer;
using ringlb::AccessLogWriter;
using ringlb::AccessRecord;
using ringlb::SocketAddress;
using ringlb::test::TempDir;

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

// Splits a logfmt line into its leading timestamp (key "time") and key=value pairs, undoing
// the quoting. Fails the test on anything malformed.
std::map<std::string, std::string> parse_line(const std::string& line) {
    std::map<std::string, std::string> fields;
    std::size_t position = line.find(' ');
    REQUIRE(position != std::string::npos);
    fields["time"] = line.substr(0, position);
    while (position < line.size()) {
        REQUIRE(line[position] == ' ');
        ++position;
        std::size_t equals = line.find('=', position);
        REQUIRE(equals != std::string::npos);
        std::string key = line.substr(position, equals - position);
        position = equals + 1;
        std::string value;
        if (position < line.size() && line[position] == '"') {
            ++position;
            while (true) {
                REQUIRE(position < line.size());
                char c = line[position++];
                if (c == '"') {
                    break;
                }
                if (c == '\\') {
                    REQUIRE(position < line.size());
                    char escaped = line[position++];
                    if (escaped == 'n') {
                        value += '\n';
                    } else if (escaped == 'x') {
                        REQUIRE(position + 2 <= line.size());
                        value +=
                            static_cast<char>(std::stoi(line.substr(position, 2), nullptr, 16));
                        position += 2;
                    } else {
                        value += escaped;
                    }
                } else {
                    value += c;
                }
            }
        } else {
            std::size_t end = line.find(' ', position);
            if (end == std::string::npos) {
                end = line.size();
            }
            value = line.substr(position, end - position);
            position = end;
        }
        REQUIRE(fields.count(key) == 0);
        fields[key] = value;
    }
    return fields;
}

AccessRecord numbered(std::uint64_t number, std::uint16_t destination = 0) {
    AccessRecord record;
    record.end_time_ns = 1'700'000'000'000'000'000;
    record.client = *SocketAddress::parse("10.0.0.1:40000");
    record.set_listener("web");
    record.set_backend("127.0.0.1:9001");
    record.bytes_in = number;
    record.bytes_out = number * 2;
    record.destination = destination;
    return record;
}

std::string format(const AccessRecord& record) {
    fmt::memory_buffer out;
    ringlb::format_access_record(record, out);
    return fmt::to_string(out);
}

// Waits until condition() holds (a readiness check on the writer's counters, not a timed
// sleep); fails after 5 s.
template <typename Condition>
void wait_until(Condition condition) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!condition()) {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        std::this_thread::yield();
    }
}

std::vector<std::uint64_t> bytes_in_of(const std::vector<std::string>& lines) {
    std::vector<std::uint64_t> numbers;
    for (const auto& line : lines) {
        numbers.push_back(std::stoull(parse_line(line).at("bytes_in")));
    }
    return numbers;
}

}  // namespace

TEST_CASE("the buffer pops records in push order, across the wrap-around") {
    AccessLogBuffer buffer(4);
    REQUIRE(buffer.capacity() == 4);
    AccessRecord out;
    CHECK_FALSE(buffer.pop(out));

    std::uint64_t next_pushed = 0;
    std::uint64_t next_popped = 0;
    // 3 in, 2 out, repeatedly: the indices pass the end of the ring several times.
    for (int round = 0; round < 10; ++round) {
        for (int i = 0; i < 3; ++i) {
            REQUIRE(buffer.push(numbered(next_pushed++)));
        }
        for (int i = 0; i < 2; ++i) {
            REQUIRE(buffer.pop(out));
            CHECK(out.bytes_in == next_popped++);
        }
        while (buffer.pop(out)) {
            CHECK(out.bytes_in == next_popped++);
        }
    }
    CHECK(next_popped == 30);
    CHECK(buffer.dropped() == 0);
}

TEST_CASE("a full buffer drops new records, counts them and keeps the old ones") {
    AccessLogBuffer buffer(3);  // rounded up to 4
    REQUIRE(buffer.capacity() == 4);
    for (std::uint64_t i = 0; i < 4; ++i) {
        REQUIRE(buffer.push(numbered(i)));
    }
    CHECK_FALSE(buffer.push(numbered(4)));
    CHECK_FALSE(buffer.push(numbered(5)));
    CHECK(buffer.dropped() == 2);

    AccessRecord out;
    for (std::uint64_t i = 0; i < 4; ++i) {
        REQUIRE(buffer.pop(out));
        CHECK(out.bytes_in == i);
    }
    CHECK_FALSE(buffer.pop(out));
    CHECK(buffer.push(numbered(6)));  // room again after the drain
    CHECK(buffer.dropped() == 2);
}

TEST_CASE("a record formats as one logfmt line") {
    AccessRecord record;
    record.end_time_ns = 1'795'910'341'123'456'789;  // 2026-11-28T23:59:01.123456789Z
    record.client = *SocketAddress::parse("1.2.3.4:5678");
    record.set_listener("web");
    record.set_backend("127.0.0.1:9001");
    record.bytes_in = 123;
    record.bytes_out = 456;
    record.duration_ms = 12;
    record.ending = ringlb::Termination::client_closed;
    CHECK(format(record) ==
          "2026-11-28T23:59:01.123Z client=1.2.3.4:5678 listener=web backend=127.0.0.1:9001 "
          "bytes_in=123 bytes_out=456 duration_ms=12 end=client_closed\n");

    AccessRecord refused;
    refused.end_time_ns = 0;
    refused.client = *SocketAddress::parse("[2001:db8::1]:443");
    refused.set_listener("v6");
    refused.ending = ringlb::Termination::no_backend;
    CHECK(format(refused) ==
          "1970-01-01T00:00:00.000Z client=[2001:db8::1]:443 listener=v6 backend=- bytes_in=0 "
          "bytes_out=0 duration_ms=0 end=no_backend\n");
}

TEST_CASE("an interim record says end=open with the figures so far") {
    AccessRecord record;
    record.end_time_ns = 0;
    record.client = *SocketAddress::parse("1.2.3.4:5678");
    record.set_listener("web");
    record.set_backend("127.0.0.1:9001");
    record.bytes_in = 10;
    record.bytes_out = 20000;
    record.duration_ms = 61000;
    record.ending = ringlb::Termination::idle_timeout;  // not used while it is open
    record.interim = true;
    CHECK(format(record) ==
          "1970-01-01T00:00:00.000Z client=1.2.3.4:5678 listener=web backend=127.0.0.1:9001 "
          "bytes_in=10 bytes_out=20000 duration_ms=61000 end=open\n");
}

TEST_CASE("every termination reason has its own name, a bare logfmt value and a label value") {
    std::set<std::string_view> names;
    for (std::size_t i = 0; i < ringlb::kTerminationCount; ++i) {
        const std::string_view name = ringlb::termination_name(static_cast<ringlb::Termination>(i));
        INFO(i << ": " << name);
        CHECK(names.insert(name).second);
        CHECK(name != "?");
        CHECK(name != "open");  // what interim lines say
        CHECK(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos);
    }
    CHECK(names.size() == ringlb::kTerminationCount);
}

TEST_CASE("names with spaces, quotes or newlines are quoted so they cannot forge a line") {
    AccessRecord record = numbered(1);
    record.set_listener("my web\nbytes_in=999 \"x\"");
    std::string line = format(record);
    CHECK(line.find('\n') == line.size() - 1);
    auto fields = parse_line(line.substr(0, line.size() - 1));
    CHECK(fields.at("listener") == "my web\nbytes_in=999 \"x\"");
    CHECK(fields.at("bytes_in") == "1");

    record.set_listener("");
    CHECK(parse_line(format(record).substr(0, format(record).size() - 1)).at("listener").empty());
    CHECK(format(record).find("listener=\"\" ") != std::string::npos);
}

TEST_CASE("over-long names are cut at a character boundary and stay terminated") {
    AccessRecord record;
    std::string long_name(200, 'a');
    record.set_backend(long_name);
    CHECK(std::string(record.backend) == std::string(ringlb::kAccessBackendNameSize - 1, 'a'));

    // 62 ASCII bytes, then a 2-byte character that would straddle the 63-byte limit.
    std::string name = std::string(62, 'b') + "\xC3\xA9" + "tail";
    record.set_listener(name);
    CHECK(std::string(record.listener) == std::string(62, 'b'));
}

TEST_CASE("the writer writes exact lines to a file") {
    TempDir dir("ringlb-access");
    std::string path = dir.file("access.log");
    AccessLogWriter writer({path});
    auto& buffer = writer.add_buffer(16);
    writer.start();

    AccessRecord first = numbered(10);
    first.end_time_ns = 1'795'910'341'123'000'000;
    first.duration_ms = 7;
    first.ending = ringlb::Termination::backend_reset;
    AccessRecord second = numbered(20);
    second.client = *SocketAddress::parse("[::1]:1234");
    second.set_backend("-");
    second.ending = ringlb::Termination::connect_failed;
    REQUIRE(buffer.push(first));
    REQUIRE(buffer.push(second));
    writer.stop();

    auto lines = read_lines(path);
    REQUIRE(lines.size() == 2);
    auto one = parse_line(lines[0]);
    CHECK(one.at("time") == "2026-11-28T23:59:01.123Z");
    CHECK(one.at("client") == "10.0.0.1:40000");
    CHECK(one.at("listener") == "web");
    CHECK(one.at("backend") == "127.0.0.1:9001");
    CHECK(one.at("bytes_in") == "10");
    CHECK(one.at("bytes_out") == "20");
    CHECK(one.at("duration_ms") == "7");
    CHECK(one.at("end") == "backend_reset");
    CHECK(one.size() == 8);
    auto two = parse_line(lines[1]);
    CHECK(two.at("client") == "[::1]:1234");
    CHECK(two.at("backend") == "-");
    CHECK(two.at("end") == "connect_failed");
    CHECK(writer.lines_written() == 2);

    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777 & ~0640) == 0);  // never wider than 0640 (umask may narrow it)
}

TEST_CASE("records go to the destination they name") {
    TempDir dir("ringlb-access");
    AccessLogWriter writer({dir.file("a.log"), dir.file("b.log")});
    REQUIRE(writer.find_destination(dir.file("b.log")) == std::uint16_t{1});
    CHECK_FALSE(writer.find_destination("nowhere.log"));
    auto& buffer = writer.add_buffer(8);
    writer.start();
    REQUIRE(buffer.push(numbered(1, 0)));
    REQUIRE(buffer.push(numbered(2, 1)));
    REQUIRE(buffer.push(numbered(3, 0)));
    REQUIRE(buffer.push(numbered(4, 7)));  // no such destination: dropped and counted
    writer.stop();
    CHECK(bytes_in_of(read_lines(dir.file("a.log"))) == std::vector<std::uint64_t>{1, 3});
    CHECK(bytes_in_of(read_lines(dir.file("b.log"))) == std::vector<std::uint64_t>{2});
    CHECK(writer.dropped() == 1);
}

TEST_CASE("a destination that cannot be opened fails construction and names the path") {
    TempDir dir("ringlb-access");
    std::string path = dir.file("missing-dir/access.log");
    try {
        AccessLogWriter writer({path});
        FAIL("the writer was constructed");
    } catch (const std::system_error& error) {
        CHECK(std::string(error.what()).find(path) != std::string::npos);
        CHECK(error.code().value() == ENOENT);
    }
    CHECK_THROWS_AS(AccessLogWriter({"off"}), std::invalid_argument);
    CHECK_THROWS_AS(AccessLogWriter({""}), std::invalid_argument);
}

TEST_CASE("after a rename and request_reopen, new records land in a new file at the same path") {
    TempDir dir("ringlb-access");
    std::string path = dir.file("access.log");
    std::string rotated = dir.file("access.log.1");
    AccessLogWriter writer({path});
    auto& buffer = writer.add_buffer(64);
    writer.start();

    for (std::uint64_t i = 0; i < 3; ++i) {
        REQUIRE(buffer.push(numbered(i)));
    }
    wait_until([&] { return writer.lines_written() == 3; });
    std::filesystem::rename(path, rotated);  // what logrotate does before its SIGUSR1
    for (std::uint64_t i = 3; i < 6; ++i) {
        REQUIRE(buffer.push(numbered(i)));  // in flight during the rotation: either file
    }
    writer.request_reopen();
    wait_until([&] { return writer.reopens() == 1; });
    for (std::uint64_t i = 6; i < 9; ++i) {
        REQUIRE(buffer.push(numbered(i)));
    }
    writer.stop();

    auto old_numbers = bytes_in_of(read_lines(rotated));
    auto new_numbers = bytes_in_of(read_lines(path));
    REQUIRE(old_numbers.size() >= 3);
    CHECK(std::vector<std::uint64_t>(old_numbers.begin(), old_numbers.begin() + 3) ==
          std::vector<std::uint64_t>{0, 1, 2});
    REQUIRE(new_numbers.size() >= 3);
    CHECK(std::vector<std::uint64_t>(new_numbers.end() - 3, new_numbers.end()) ==
          std::vector<std::uint64_t>{6, 7, 8});
    // Nothing lost and nothing twice: the old file then the new one hold 0..8 in order.
    std::vector<std::uint64_t> all = old_numbers;
    all.insert(all.end(), new_numbers.begin(), new_numbers.end());
    CHECK(all == std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE("stop writes every record still buffered") {
    TempDir dir("ringlb-access");
    std::string path = dir.file("access.log");
    AccessLogWriter writer({path});
    auto& first_shard = writer.add_buffer(1024);
    auto& second_shard = writer.add_buffer(1024);
    writer.start();
    for (std::uint64_t i = 0; i < 1000; ++i) {
        REQUIRE(first_shard.push(numbered(i)));
        REQUIRE(second_shard.push(numbered(100'000 + i)));
    }
    writer.stop();
    CHECK(read_lines(path).size() == 2000);
    CHECK(writer.lines_written() == 2000);
    CHECK(writer.dropped() == 0);
}

TEST_CASE("stop without start still writes what was pushed") {
    TempDir dir("ringlb-access");
    std::string path = dir.file("access.log");
    {
        AccessLogWriter writer({path});
        auto& buffer = writer.add_buffer(8);
        REQUIRE(buffer.push(numbered(5)));
    }  // the destructor stops
    CHECK(bytes_in_of(read_lines(path)) == std::vector<std::uint64_t>{5});
}

TEST_CASE("100k records from a producer thread are each written exactly once, in order") {
    constexpr std::uint64_t kRecords = 100'000;
    // Big enough to hold everything: nothing may be dropped. Small: drops are allowed, but
    // written + dropped must account for every push.
    std::size_t capacity = GENERATE(std::size_t{131'072}, std::size_t{64});
    CAPTURE(capacity);
    TempDir dir("ringlb-access");
    std::string path = dir.file("access.log");
    AccessLogWriter writer({path});
    auto& buffer = writer.add_buffer(capacity);
    writer.start();
    std::uint64_t accepted = 0;
    std::thread producer([&] {
        for (std::uint64_t i = 0; i < kRecords; ++i) {
            accepted += buffer.push(numbered(i)) ? 1 : 0;
        }
    });
    producer.join();
    writer.stop();

    auto numbers = bytes_in_of(read_lines(path));
    CHECK(numbers.size() == accepted);
    CHECK(writer.lines_written() == accepted);
    CHECK(accepted + buffer.dropped() == kRecords);
    CHECK(std::is_sorted(numbers.begin(), numbers.end()));
    CHECK(std::adjacent_find(numbers.begin(), numbers.end()) == numbers.end());  // no repeats
    if (capacity >= kRecords) {
        CHECK(buffer.dropped() == 0);
        REQUIRE(numbers.size() == kRecords);
        CHECK(numbers.back() == kRecords - 1);
    }
}

TEST_CASE("stderr gets whole lines, in writes no larger than PIPE_BUF") {
    // A SOCK_SEQPACKET pair in place of fd 2 keeps each write(2) a message of its own, so the
    // reader sees exactly how the writer cut its output.
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) == 0);
    int saved_stderr = ::dup(STDERR_FILENO);
    REQUIRE(saved_stderr >= 0);
    std::vector<std::string> messages;
    std::thread reader([&] {
        std::vector<char> message(1 << 16);
        while (true) {
            ssize_t got = ::recv(pair[1], message.data(), message.size(), 0);
            if (got <= 0) {
                break;
            }
            messages.emplace_back(message.data(), static_cast<std::size_t>(got));
        }
    });
    constexpr std::uint64_t kRecords = 3000;
    {
        REQUIRE(::dup2(pair[0], STDERR_FILENO) == STDERR_FILENO);
        AccessLogWriter writer({"stderr"});
        auto& buffer = writer.add_buffer(4096);
        for (std::uint64_t i = 0; i < kRecords; ++i) {
            REQUIRE(buffer.push(numbered(i)));
        }
        writer.start();
        writer.stop();
        ::dup2(saved_stderr, STDERR_FILENO);
    }
    ::close(saved_stderr);
    ::close(pair[0]);  // the last write end: the reader sees the end
    reader.join();
    ::close(pair[1]);

    std::string all;
    for (const auto& message : messages) {
        CHECK(message.size() <= PIPE_BUF);
        CHECK(message.back() == '\n');
        all += message;
    }
    CHECK(messages.size() > 1);  // the 64 KiB batches were cut
    std::vector<std::string> lines;
    for (std::size_t start = 0; start < all.size();) {
        std::size_t end = all.find('\n', start);
        lines.push_back(all.substr(start, end - start));
        start = end + 1;
    }
    auto numbers = bytes_in_of(lines);
    REQUIRE(numbers.size() == kRecords);
    CHECK(numbers.front() == 0);
    CHECK(numbers.back() == kRecords - 1);
    CHECK(std::is_sorted(numbers.begin(), numbers.end()));
}

TEST_CASE(
    "add_destination opens a file while the writer runs; a name open already keeps its "
    "index") {
    TempDir dir("ringlb-access");
    AccessLogWriter writer({dir.file("a.log")});
    auto& buffer = writer.add_buffer(64);
    writer.start();
    CHECK(writer.add_destination(dir.file("a.log")) == 0);
    const std::uint16_t b = writer.add_destination(dir.file("b.log"));
    CHECK(b == 1);
    CHECK(writer.find_destination(dir.file("b.log")) == b);
    REQUIRE(buffer.push(numbered(7, b)));
    REQUIRE(buffer.push(numbered(8, 0)));
    CHECK_THROWS_AS(writer.add_destination(dir.file("missing/c.log")), std::system_error);
    CHECK_THROWS_AS(writer.add_destination("off"), std::invalid_argument);
    writer.stop();
    CHECK(bytes_in_of(read_lines(dir.file("b.log"))) == std::vector<std::uint64_t>{7});
    CHECK(bytes_in_of(read_lines(dir.file("a.log"))) == std::vector<std::uint64_t>{8});
}

TEST_CASE("keep_only writes what was buffered for a file, closes it and frees its index") {
    TempDir dir("ringlb-access");
    AccessLogWriter writer({dir.file("a.log"), dir.file("b.log")});
    auto& buffer = writer.add_buffer(64);
    writer.start();
    // Pushed while "a.log" was named: written even though it is closed right after.
    REQUIRE(buffer.push(numbered(1, 0)));
    REQUIRE(buffer.push(numbered(2, 1)));
    writer.keep_only({dir.file("b.log")});
    CHECK(bytes_in_of(read_lines(dir.file("a.log"))) == std::vector<std::uint64_t>{1});
    CHECK_FALSE(writer.find_destination(dir.file("a.log")));

    // A record still naming the closed index is dropped and counted, not written anywhere.
    REQUIRE(buffer.push(numbered(3, 0)));
    wait_until([&] { return writer.dropped() == 1; });
    // The freed index goes to the next new file.
    CHECK(writer.add_destination(dir.file("c.log")) == 0);
    REQUIRE(buffer.push(numbered(4, 0)));
    writer.stop();
    CHECK(bytes_in_of(read_lines(dir.file("a.log"))) == std::vector<std::uint64_t>{1});
    CHECK(bytes_in_of(read_lines(dir.file("b.log"))) == std::vector<std::uint64_t>{2});
    CHECK(bytes_in_of(read_lines(dir.file("c.log"))) == std::vector<std::uint64_t>{4});
}
