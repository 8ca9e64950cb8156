// SPDX-License-Identifier: MIT
// systemd's notify protocol (Type=notify): READY=1 once ringlb serves, RELOADING=1 then READY=1
// around every reload, STOPPING=1 on SIGTERM, and an unusable NOTIFY_SOCKET only warns.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <string>

#include "harness.hpp"
#include "temp_dir.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// A unix datagram socket standing in for systemd's notify socket, at a file path under
// $TMPDIR or, for a name starting with '@', in the abstract namespace.
class NotifySocket final {
  public:
    explicit NotifySocket(bool abstract)
        : name_(abstract ? "@ringlb-notify-test-" + std::to_string(::getpid())
                         : dir_.file("notify")) {
        fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        REQUIRE(fd_.valid());
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        REQUIRE(name_.size() < sizeof(address.sun_path));
        std::memcpy(address.sun_path, name_.data(), name_.size());
        if (abstract) {
            address.sun_path[0] = '\0';
        }
        const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() +
                                                   (abstract ? 0 : 1));
        REQUIRE(::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), length) == 0);
    }

    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    // The next datagram, or "" when none arrives within the timeout.
    [[nodiscard]] std::string next(milliseconds timeout) {
        pollfd readable{fd_.get(), POLLIN, 0};
        if (::poll(&readable, 1, static_cast<int>(timeout.count())) <= 0) {
            return "";
        }
        char message[4096];
        const ssize_t got = ::recv(fd_.get(), message, sizeof(message), MSG_DONTWAIT);
        REQUIRE(got > 0);
        return std::string(message, static_cast<std::size_t>(got));
    }

  private:
    TempDir dir_{"ringlb-notify"};  // holds the socket file; unused for "@name"
    std::string name_;
    ringlb::UniqueFd fd_;
};

bool has_line(const std::string& message, const std::string& line) {
    return ("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos;
}

// The value of NAME=... in a notify message, or "".
std::string value_of(const std::string& message, const std::string& name) {
    const std::string key = "\n" + name + "=";
    const std::string text = "\n" + message;
    const std::size_t at = text.find(key);
    if (at == std::string::npos) {
        return "";
    }
    const std::size_t start = at + key.size();
    return text.substr(start, text.find('\n', start) - start);
}

std::uint64_t monotonic_usec() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000 +
           static_cast<std::uint64_t>(now.tv_nsec) / 1000;
}

}  // namespace

TEST_CASE(
    "with NOTIFY_SOCKET ringlb reports ready, each reload and its stop to the service "
    "manager") {
    const bool abstract = GENERATE(false, true);
    CAPTURE(abstract);
    NotifySocket notify(abstract);
    Backend a = start_reply_backend("a");
    Backend b = start_reply_backend("b");
    Ringlb lb = start_ringlb(SimpleConfig({a.address()}).text(), {}, 10s,
                             {"NOTIFY_SOCKET=" + notify.name()});
    INFO("ringlb output:\n" << lb.process->tail());

    // READY=1 names ringlb's own pid; by then the listener serves.
    const std::string ready = notify.next(5s);
    CHECK(has_line(ready, "READY=1"));
    CHECK(value_of(ready, "MAINPID") == std::to_string(lb.process->pid()));
    CHECK(value_of(ready, "STATUS").starts_with("serving generation=1 listeners=1 pools=1"));
    CHECK(fetch(lb.port) == "a\n");
    CHECK(notify.next(100ms).empty());  // exactly one message for start-up

    // A reload is framed by RELOADING=1 (with the time it began) and READY=1.
    const std::uint64_t before = monotonic_usec();
    reload_ringlb(lb, SimpleConfig({b.address()}).text());
    const std::uint64_t after = monotonic_usec();
    const std::string reloading = notify.next(5s);
    CHECK(has_line(reloading, "RELOADING=1"));
    const std::string started = value_of(reloading, "MONOTONIC_USEC");
    REQUIRE_FALSE(started.empty());
    CHECK(std::stoull(started) >= before);
    CHECK(std::stoull(started) <= after);
    const std::string reloaded = notify.next(5s);
    CHECK(has_line(reloaded, "READY=1"));
    CHECK(value_of(reloaded, "STATUS").starts_with("serving generation=2"));
    CHECK(fetch(lb.port) == "b\n");

    // A reload that fails still ends in READY=1: the previous configuration serves on.
    CHECK_THROWS_AS(reload_ringlb(lb, "[[listener]]\nbind = 7\n"), HarnessError);
    CHECK(has_line(notify.next(5s), "RELOADING=1"));
    const std::string kept = notify.next(5s);
    CHECK(has_line(kept, "READY=1"));
    CHECK(value_of(kept, "STATUS").starts_with("serving generation=2"));
    CHECK(value_of(kept, "STATUS").find("reload failed") != std::string::npos);
    CHECK(fetch(lb.port) == "b\n");

    lb.process->signal(SIGTERM);
    CHECK(notify.next(5s) == "STOPPING=1");
    CHECK(lb.process->require_exit(15s).exited_with(0));
}

TEST_CASE("an unusable NOTIFY_SOCKET is a warning, and ringlb serves all the same") {
    const std::string value = GENERATE(std::string("relative/notify"),
                                       std::string("/nonexistent-dir/notify"), std::string(""));
    CAPTURE(value);
    Backend a = start_reply_backend("a");
    Ringlb lb =
        start_ringlb(SimpleConfig({a.address()}).text(), {}, 10s, {"NOTIFY_SOCKET=" + value});
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK_FALSE(lb.process->find_lines(R"(warn .*NOTIFY_SOCKET=")").empty());
    CHECK(fetch(lb.port) == "a\n");
    lb.process->signal(SIGTERM);
    CHECK(lb.process->require_exit(15s).exited_with(0));
}
