// SPDX-License-Identifier: MIT
// Graceful stop: SIGTERM stops accepting, lets running transfers finish within the grace
// period, closes what is left after it and exits 0.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstring>
#include <thread>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// Whether connects to `port` are refused (the listener closed) before a deadline that only
// bounds a hang; the caller holds a connection open, so "before it is done" is the order.
bool refused_soon(std::uint16_t port) {
    int last_error = 0;
    for (const Deadline refuse_by = deadline_in(10s); Clock::now() < refuse_by;) {
        last_error = try_connect(port, 500ms).error;
        if (last_error == ECONNREFUSED) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    UNSCOPED_INFO("last connect to the stopping listener: "
                  << (last_error == 0 ? "accepted" : std::strerror(last_error)));
    return false;
}

}  // namespace

TEST_CASE(
    "on SIGTERM a running transfer completes byte-exact, new connections are refused, "
    "and ringlb exits 0") {
    constexpr std::uint64_t kBytes = 64 * 1024 * 1024;
    constexpr std::size_t kFirstPart = 1024 * 1024;
    BackendOptions options;
    options.mode = "source";
    options.bytes = kBytes;
    Backend source = start_backend(options);
    Ringlb lb =
        start_ringlb(SimpleConfig({source.address()}).global("shutdown_grace_ms = 20000").text());

    // The client reads 1 MiB and then stops reading: the rest of the 64 MiB is stuck behind
    // it, so the transfer is certainly in progress when the signal comes.
    ringlb::UniqueFd fd = connect_to(lb.port);
    const std::string first = read_exact(fd.get(), kFirstPart, deadline_in(10s));

    const std::size_t before_signal = lb.process->line_count();
    lb.process->signal(SIGTERM);
    lb.process->wait_for_line(R"(\bstopping\b)", 2s, before_signal);

    // The listener closes while the transfer is still held up behind this client (it has
    // not read on): new connects are refused before the running one is done.
    CHECK(refused_soon(lb.port));

    const ReadResult rest = read_until_close(fd.get(), deadline_in(30s));
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("received " << first.size() + rest.data.size() << " of " << kBytes << " bytes, eof "
                     << rest.eof << ", error " << rest.error);
    CHECK(rest.eof);
    CHECK(first.size() + rest.data.size() == kBytes);
    Fnv1a64 hash;
    hash.update(first);
    hash.update(rest.data);
    CHECK(hash.value() == stream_hash(0, kBytes));

    // Our side is done too; with no connection left ringlb need not wait out the grace (20 s;
    // the deadline is well below it).
    fd.reset();
    const ExitStatus status = lb.process->require_exit(10s);
    INFO("ringlb " << status.to_string());
    CHECK(status.exited_with(0));
    CHECK(!lb.process->find_lines(R"(\bstopped\b)", before_signal).empty());
}

TEST_CASE("on SIGTERM an idle connection is closed after shutdown_grace_ms and ringlb exits 0") {
    constexpr int kGraceMs = 300;
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()})
                                 .global("shutdown_grace_ms = " + std::to_string(kGraceMs))
                                 .text());

    ringlb::UniqueFd fd = connect_to(lb.port);
    send_all(fd.get(), "x", deadline_in(5s));
    REQUIRE(read_exact(fd.get(), 1, deadline_in(5s)) == "x");

    // The connection holds ringlb for the grace period (a lower bound: load cannot make it
    // shorter), then is closed; the deadline only bounds a hang.
    const auto signalled = Clock::now();
    lb.process->signal(SIGTERM);
    const auto status = lb.process->wait_exit(milliseconds(kGraceMs) + 10s);
    const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - signalled);
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("ringlb " << (status ? status->to_string() : "still running") << " after "
                   << elapsed.count() << " ms");
    REQUIRE(status.has_value());
    CHECK(status->exited_with(0));
    CHECK(elapsed >= milliseconds(kGraceMs));

    // ringlb is gone, and the idle connection with it.
    const ReadResult result = read_until_close(fd.get(), deadline_in(1s));
    CHECK(result.closed());
}

TEST_CASE("SIGINT stops ringlb as SIGTERM does: listeners closed, connections finish, exit 0") {
    Backend echo = start_backend("echo");
    Ringlb lb =
        start_ringlb(SimpleConfig({echo.address()}).global("shutdown_grace_ms = 20000").text());

    ringlb::UniqueFd fd = connect_to(lb.port);
    send_all(fd.get(), "before", deadline_in(5s));
    REQUIRE(read_exact(fd.get(), 6, deadline_in(5s)) == "before");

    const std::size_t before_signal = lb.process->line_count();
    lb.process->signal(SIGINT);
    lb.process->wait_for_line(R"(\bstopping signal=Interrupt\b)", 2s, before_signal);

    // New clients are refused while the open connection still runs...
    CHECK(refused_soon(lb.port));
    // ...while the open connection keeps relaying within the grace period.
    send_all(fd.get(), "after", deadline_in(5s));
    CHECK(read_exact(fd.get(), 5, deadline_in(5s)) == "after");

    // It ends when the client ends it, and then ringlb has nothing left to wait for.
    shutdown_write(fd.get());
    CHECK(read_until_close(fd.get(), deadline_in(5s)).eof);
    fd.reset();
    const ExitStatus status = lb.process->require_exit(5s);
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(status.exited_with(0));
    CHECK_FALSE(lb.process->find_lines(R"(\bstopped$)", before_signal).empty());
}
