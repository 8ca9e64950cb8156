// SPDX-License-Identifier: MIT
// DNS SRV answers: the records and additional addresses read out of whole response messages
// (built here byte by byte, with name compression as servers send it), malformed messages
// refused, and the backends an answer makes (ports, weights, priorities).
#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ringlb/control/srv_answer.hpp"

using ringlb::SocketAddress;

namespace {

// Builds a DNS response message: header, one question, then resource records.
class Message final {
  public:
    explicit Message(std::uint16_t answers, std::uint16_t additional = 0) {
        put16(0x1234);  // id
        put16(0x8180);  // response, recursion desired and available, NOERROR
        put16(1);
        put16(answers);
        put16(0);
        put16(additional);
        question_at_ = bytes.size();
        name("_app._tcp.service.test");
        put16(33);  // SRV
        put16(1);   // IN
    }
    // The offset of the question's name, for compression pointers.
    [[nodiscard]] std::size_t question() const { return question_at_; }

    void name(const std::string& text) {
        std::size_t start = 0;
        while (start < text.size()) {
            std::size_t dot = text.find('.', start);
            if (dot == std::string::npos) {
                dot = text.size();
            }
            bytes.push_back(static_cast<unsigned char>(dot - start));
            bytes.insert(bytes.end(), text.begin() + static_cast<std::ptrdiff_t>(start),
                         text.begin() + static_cast<std::ptrdiff_t>(dot));
            start = dot + 1;
        }
        bytes.push_back(0);
    }
    void pointer(std::size_t offset) { put16(static_cast<std::uint16_t>(0xc000 | offset)); }
    // An SRV record owned by the question's name (compressed), its target spelled out.
    void srv(std::uint16_t priority, std::uint16_t weight, std::uint16_t port,
             const std::string& target, std::uint32_t ttl = 30) {
        pointer(question_at_);
        put16(33);
        put16(1);
        put32(ttl);
        const std::size_t length_at = bytes.size();
        put16(0);
        put16(priority);
        put16(weight);
        put16(port);
        name(target);
        patch_length(length_at);
    }
    void a(const std::string& owner, std::uint8_t last, std::uint32_t ttl = 30) {
        name(owner);
        put16(1);
        put16(1);
        put32(ttl);
        put16(4);
        for (unsigned char byte : {127, 0, 0}) {
            bytes.push_back(byte);
        }
        bytes.push_back(last);
    }
    void aaaa_loopback(const std::string& owner) {
        name(owner);
        put16(28);
        put16(1);
        put32(30);
        put16(16);
        for (int i = 0; i < 15; ++i) {
            bytes.push_back(0);
        }
        bytes.push_back(1);
    }
    void put16(std::uint16_t value) {
        bytes.push_back(static_cast<unsigned char>(value >> 8));
        bytes.push_back(static_cast<unsigned char>(value & 0xff));
    }
    void put32(std::uint32_t value) {
        put16(static_cast<std::uint16_t>(value >> 16));
        put16(static_cast<std::uint16_t>(value & 0xffff));
    }
    void patch_length(std::size_t at) {
        const std::size_t length = bytes.size() - at - 2;
        bytes[at] = static_cast<unsigned char>(length >> 8);
        bytes[at + 1] = static_cast<unsigned char>(length & 0xff);
    }

    std::vector<unsigned char> bytes;

  private:
    std::size_t question_at_ = 0;
};

SocketAddress ip(const std::string& text) {
    return *SocketAddress::parse(text);
}

}  // namespace

TEST_CASE("an SRV answer gives each record's target, port, priority, weight and TTL") {
    Message message(2);
    message.srv(10, 60, 8080, "Web-1.Service.Test", 120);
    message.srv(20, 0, 8081, "web-2.service.test", 15);
    const auto answer = ringlb::parse_srv_answer(message.bytes);
    REQUIRE(answer);
    REQUIRE(answer->records.size() == 2);
    CHECK(answer->records[0].target == "web-1.service.test");
    CHECK(answer->records[0].priority == 10);
    CHECK(answer->records[0].weight == 60);
    CHECK(answer->records[0].port == 8080);
    CHECK(answer->records[0].ttl == 120);
    CHECK(answer->records[1].target == "web-2.service.test");
    CHECK(answer->records[1].priority == 20);
    CHECK(answer->records[1].weight == 0);
    CHECK(answer->records[1].ttl == 15);
    CHECK(answer->additional.empty());
}

TEST_CASE("a compressed SRV target and the additional section's A and AAAA records are read") {
    Message message(1, 3);
    // Target "_app._tcp.service.test" spelled by a pointer to the question (odd, but legal).
    message.pointer(message.question());  // owner
    message.put16(33);
    message.put16(1);
    message.put32(30);
    const std::size_t length_at = message.bytes.size();
    message.put16(0);
    message.put16(0);
    message.put16(5);
    message.put16(9000);
    message.bytes.push_back(2);
    message.bytes.push_back('b');
    message.bytes.push_back('e');
    message.pointer(message.question() + 10);  // "service.test"
    message.patch_length(length_at);
    message.a("be.service.test", 7, 5);
    message.aaaa_loopback("be.service.test");
    // The EDNS OPT pseudo-record (class = payload size): not an address.
    message.bytes.push_back(0);
    message.put16(41);
    message.put16(1232);
    message.put32(0);
    message.put16(0);

    const auto answer = ringlb::parse_srv_answer(message.bytes);
    REQUIRE(answer);
    REQUIRE(answer->records.size() == 1);
    CHECK(answer->records[0].target == "be.service.test");
    CHECK(answer->records[0].port == 9000);
    REQUIRE(answer->additional.size() == 2);
    CHECK(answer->additional[0].name == "be.service.test");
    CHECK(answer->additional[0].address == ip("127.0.0.7:0"));
    CHECK(answer->additional[0].ttl == 5);
    CHECK(answer->additional[1].address == ip("[::1]:0"));
}

TEST_CASE("a \".\" target (service not offered there) and records of other types are left out") {
    Message message(3);
    message.srv(0, 1, 80, "");  // the root name: RFC 2782's "decidedly not available"
    // A CNAME on the way to the records.
    message.pointer(message.question());
    message.put16(5);
    message.put16(1);
    message.put32(30);
    const std::size_t length_at = message.bytes.size();
    message.put16(0);
    message.name("alias.service.test");
    message.patch_length(length_at);
    message.srv(0, 1, 81, "real.service.test");
    const auto answer = ringlb::parse_srv_answer(message.bytes);
    REQUIRE(answer);
    REQUIRE(answer->records.size() == 1);
    CHECK(answer->records[0].target == "real.service.test");
}

TEST_CASE("malformed answers are refused, never read past their end") {
    Message whole(1, 1);
    whole.srv(0, 1, 80, "be.service.test");
    whole.a("be.service.test", 1);
    REQUIRE(ringlb::parse_srv_answer(whole.bytes));

    SECTION("cut anywhere") {
        for (std::size_t length = 0; length < whole.bytes.size(); ++length) {
            const std::vector<unsigned char> cut(
                whole.bytes.begin(), whole.bytes.begin() + static_cast<std::ptrdiff_t>(length));
            INFO("length " << length);
            CHECK_FALSE(ringlb::parse_srv_answer(cut));
        }
    }
    SECTION("an SRV record too short for its fixed fields") {
        Message message(1);
        message.pointer(message.question());
        message.put16(33);
        message.put16(1);
        message.put32(30);
        message.put16(4);
        message.put32(0);
        CHECK_FALSE(ringlb::parse_srv_answer(message.bytes));
    }
    SECTION("a target name running past the record's length") {
        Message message(1);
        message.srv(0, 1, 80, "be.service.test");
        // Shrink the record's length so that the name ends outside it.
        const std::size_t length_at = message.bytes.size() - (6 + 17) - 2;
        message.bytes[length_at + 1] = 8;
        message.bytes.resize(length_at + 2 + 8);
        CHECK_FALSE(ringlb::parse_srv_answer(message.bytes));
    }
    SECTION("a compression pointer out of the message") {
        Message message(1);
        message.pointer(message.question());
        message.put16(33);
        message.put16(1);
        message.put32(30);
        message.put16(8);
        message.put16(0);
        message.put16(1);
        message.put16(80);
        message.pointer(0x3fff);
        CHECK_FALSE(ringlb::parse_srv_answer(message.bytes));
    }
    SECTION("garbage") {
        const std::vector<unsigned char> garbage(64, 0xff);
        CHECK_FALSE(ringlb::parse_srv_answer(garbage));
    }
}

TEST_CASE("each record makes one backend per address of its target, with the record's port") {
    std::vector<ringlb::SrvRecord> records(3);
    records[0] = {"a.test", 0, 10, 8080, 30};
    records[1] = {"b.test", 1, 20, 9090, 30};
    records[2] = {"gone.test", 0, 5, 7070, 30};  // its target has no address
    const std::map<std::string, std::vector<SocketAddress>> addresses{
        {"a.test", {ip("10.0.0.1:0"), ip("[2001:db8::1]:0")}},
        {"b.test", {ip("10.0.0.2:0")}},
    };
    const auto backends = ringlb::backends_from_records(records, addresses);
    REQUIRE(backends.size() == 3);
    CHECK(backends[0].address == ip("10.0.0.1:8080"));
    CHECK(backends[0].weight == 10);
    CHECK(backends[0].priority == 0);
    CHECK(backends[1].address == ip("[2001:db8::1]:8080"));
    CHECK(backends[2].address == ip("10.0.0.2:9090"));
    CHECK(backends[2].weight == 20);
    CHECK(backends[2].priority == 1);
}

TEST_CASE("SRV weight 0 counts as 1, weights above 1000 as 1000, and a repeated address once") {
    std::vector<ringlb::SrvRecord> records(3);
    records[0] = {"a.test", 0, 0, 80, 30};
    records[1] = {"b.test", 0, 65535, 81, 30};
    records[2] = {"a.test", 3, 7, 80, 30};  // the same address and port again
    const std::map<std::string, std::vector<SocketAddress>> addresses{
        {"a.test", {ip("10.0.0.1:0")}}, {"b.test", {ip("10.0.0.2:0")}}};
    const auto backends = ringlb::backends_from_records(records, addresses);
    REQUIRE(backends.size() == 2);
    CHECK(backends[0].weight == 1);
    CHECK(backends[0].priority == 0);
    CHECK(backends[1].weight == 1000);
}

TEST_CASE("DNS names compare in lower case without the trailing dot") {
    CHECK(ringlb::canonical_dns_name("Be.Service.TEST.") == "be.service.test");
    CHECK(ringlb::canonical_dns_name(".") == "");
}
