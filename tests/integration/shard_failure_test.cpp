// SPDX-License-Identifier: MIT
// A shard that dies or sticks is fatal: ringlb logs why and exits 1 (for the service manager
// to restart it), promptly, also when a reload comes meanwhile. The fault is a real one from
// the kernel, injected by strace into one shard thread's io_uring_enter: no hook in ringlb.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <thread>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// ringlb run by the test itself (not through start_ringlb): it is expected to exit with
// status 1, which the test reaps and checks.
struct DyingRinglb final {
    std::unique_ptr<TempFile> config;
    std::unique_ptr<Process> process;
    std::uint16_t port = 0;
};

DyingRinglb start(const std::string& reply_backend) {
    DyingRinglb lb;
    lb.config = std::make_unique<TempFile>(SimpleConfig({reply_backend}).workers(2).text());
    lb.process = std::make_unique<Process>(
        "ringlb", std::vector<std::string>{ringlb_binary(), "--config", lb.config->path()});
    lb.process->wait_for_line(R"(\bready workers=2\b)", 10s);
    const LineMatch listening =
        lb.process->wait_for_line(R"(\blistening listener=\S+ address=\S*:(\d+))", 2s);
    lb.port = static_cast<std::uint16_t>(std::stoul(listening.groups[1]));
    return lb;
}

// The thread id of `pid`'s thread named `name` (its /proc comm), or throws.
pid_t thread_named(pid_t pid, const std::string& name) {
    const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(tasks.c_str()), &::closedir);
    if (!dir) {
        throw HarnessError("cannot list " + tasks);
    }
    while (const dirent* entry = ::readdir(dir.get())) {
        if (entry->d_name[0] == '.') {
            continue;
        }
        std::ifstream comm(tasks + "/" + entry->d_name + "/comm");
        std::string text;
        if (std::getline(comm, text) && text == name) {
            return static_cast<pid_t>(std::stol(entry->d_name));
        }
    }
    throw HarnessError("no thread named " + name + " in process " + std::to_string(pid));
}

// The scheduler state of one thread of `pid` (the third field of /proc/PID/task/TID/stat):
// 'S' sleeping, 'R' running, 't' stopped by its tracer...
char thread_state(pid_t pid, pid_t thread) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/task/" + std::to_string(thread) +
                       "/stat");
    std::string text;
    std::getline(stat, text);
    const auto close = text.rfind(')');  // the name in parentheses may hold spaces
    return close != std::string::npos && close + 2 < text.size() ? text[close + 2] : '?';
}

// strace attached to one thread, injecting `fault` (strace's -e inject= syntax after the
// syscall name) into its io_uring_enter calls. Waits until strace is attached.
std::unique_ptr<Process> inject_into(pid_t thread, const std::string& fault) {
    require_root("to ptrace a shard of a process that is not our child");
    const std::string strace = require_command("strace", "strace");
    auto tracer = std::make_unique<Process>(
        "strace",
        std::vector<std::string>{strace, "-p", std::to_string(thread), "-e", "trace=io_uring_enter",
                                 "-e", "inject=io_uring_enter:" + fault, "-o", "/dev/null"});
    // strace announces the attachment on stderr; -o sends the trace itself elsewhere.
    tracer->wait_for_line(R"(Process \d+ attached)", 5s);
    return tracer;
}

}  // namespace

TEST_CASE("a shard whose ring fails dies, and ringlb exits 1 at once with the reason") {
    Backend backend = start_reply_backend("r");
    DyingRinglb lb = start(backend.address());
    REQUIRE(fetch(lb.port) == "r\n");

    const pid_t shard = thread_named(lb.process->pid(), "ringlb-shard-1");
    const auto tracer = inject_into(shard, "error=EBADF:when=1");

    const auto started = Clock::now();
    const std::optional<ExitStatus> status = lb.process->wait_exit(10s);
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
    INFO("ringlb output:\n" << lb.process->tail());
    REQUIRE(status.has_value());  // no hang
    INFO("ringlb " << status->to_string() << " after " << took.count() << " ms");
    CHECK(status->exited_with(1));
    CHECK_FALSE(
        lb.process->find_lines(R"(error +shard 1: died: io_uring_enter: Bad file descriptor$)")
            .empty());
    CHECK_FALSE(lb.process
                    ->find_lines(R"(error +shard 1 died: io_uring_enter: Bad file descriptor; )"
                                 R"(exiting with status 1 so that the service manager restarts)")
                    .empty());
    // With no grace for a broken process: a detection pass (200 ms) and a tick (100 ms).
    CHECK(took < 5s);
}

TEST_CASE("a reload that arrives just after a shard died does not hang: ringlb exits 1") {
    Backend backend = start_reply_backend("r");
    Backend other = start_reply_backend("o");
    DyingRinglb lb = start(backend.address());

    const pid_t shard = thread_named(lb.process->pid(), "ringlb-shard-1");
    const auto tracer = inject_into(shard, "error=EBADF:when=1");
    lb.process->wait_for_line(R"(shard 1: died:)", 5s);
    // At once, before main's next look at its shards (every 200 ms) most of the time; if it
    // looked first, ringlb is already on its way out, which must end the same.
    {
        std::ofstream file(lb.config->path(), std::ios::trunc);
        file << SimpleConfig({other.address()}).workers(2).text();
    }
    lb.process->signal(SIGHUP);
    const std::optional<ExitStatus> status = lb.process->wait_exit(10s);
    INFO("ringlb output:\n" << lb.process->tail());
    REQUIRE(status.has_value());
    CHECK(status->exited_with(1));
    CHECK_FALSE(lb.process->find_lines(R"(shard 1 died: .*exiting with status 1)").empty());
    // The path taken, for the record (both end in the exit above).
    const bool by_reload = !lb.process->find_lines(R"(reload failed: shard 1 died)").empty();
    UNSCOPED_INFO("the dead shard was found by " << (by_reload ? "the reload" : "main's check"));
    CHECK(lb.process->find_lines(R"(\breloaded config=)").empty());
}

TEST_CASE("a shard stuck in the kernel fails a reload within its bound and ringlb exits 1") {
    Backend backend = start_reply_backend("r");
    DyingRinglb lb = start(backend.address());

    const pid_t shard = thread_named(lb.process->pid(), "ringlb-shard-1");
    // The shard's next io_uring_enter is held for two minutes: it neither dies nor answers.
    const std::unique_ptr<Process> tracer = inject_into(shard, "delay_enter=120000000:when=1");
    // It is held once the thread sits in its tracer's stop for good: the io_uring_enter it was
    // in when strace attached returns by the shard's next tick (at most 1 s) and the next
    // one is held. (Every traced system call stops the thread for a moment, so one look is
    // not enough: the stop must last.) A reload sent before that would be adopted in between.
    const Deadline held_by = deadline_in(10s);
    auto stopped_since = Clock::now();
    bool held = false;
    while (!held && Clock::now() < held_by) {
        if (thread_state(lb.process->pid(), shard) != 't') {
            stopped_since = Clock::now();
        }
        held = Clock::now() - stopped_since >= 300ms;
        std::this_thread::sleep_for(5ms);
    }
    REQUIRE(held);
    const std::size_t before = lb.process->line_count();
    lb.process->signal(SIGHUP);
    // kShardAdoptMs (10 s) for the reload, then kShardStopMarginMs (5 s) for the stop; the
    // margin covers a loaded machine, and a hang would take the full two minutes.
    const std::optional<LineMatch> gave_up = lb.process->try_wait_for_line(
        R"(error +shard 1 did not end within 5000 ms of the stop; exiting without it)", 40s,
        before);
    INFO("ringlb output:\n" << lb.process->tail());
    REQUIRE(gave_up.has_value());
    CHECK_FALSE(lb.process
                    ->find_lines(R"(reload failed: shard 1 did not take the new configuration )"
                                 R"(within 10000 ms: it is stuck)",
                                 before)
                    .empty());
    // The stuck thread is strace's to release: the process is not reaped before strace
    // lets go of it (its delay would last two minutes).
    tracer->kill();
    const std::optional<ExitStatus> status = lb.process->wait_exit(10s);
    REQUIRE(status.has_value());
    CHECK(status->exited_with(1));
}

// Kills the children of a process (strace's tracee) when it goes out of scope: if strace
// ended first, an orphaned ringlb would keep the output pipes open and the test would wait.
struct KillChildren final {
    pid_t parent;
    ~KillChildren() {
        std::ifstream children("/proc/" + std::to_string(parent) + "/task/" +
                               std::to_string(parent) + "/children");
        pid_t child = 0;
        while (children >> child) {
            ::kill(child, SIGKILL);
        }
    }
};

TEST_CASE("a shard whose ring cannot be set up fails the start-up: exit 1, reason, no hang") {
    const std::string strace = require_command("strace", "strace");
    Backend backend = start_reply_backend("r");
    TempFile config(SimpleConfig({backend.address()}).workers(2).text());
    // strace counts calls per thread: the first io_uring_setup of each thread fails, as the
    // kernel fails it when memory is short. Main's probe then falls back to its next flags;
    // shard 0, which sets up its own ring in its thread, cannot. strace exits with ringlb's
    // status.
    Process traced(
        "strace(ringlb)",
        {strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace=io_uring_setup", "-e",
         "inject=io_uring_setup:error=ENOMEM:when=1", ringlb_binary(), "--config", config.path()});
    const KillChildren guard{traced.pid()};
    const std::optional<ExitStatus> status = traced.wait_exit(20s);
    INFO("ringlb output:\n" << traced.tail());
    REQUIRE(status.has_value());
    CHECK(status->exited_with(1));
    CHECK_FALSE(
        traced.find_lines(R"(io_uring set-up flags 0x\w+ refused \(Cannot allocate memory\))")
            .empty());
    CHECK_FALSE(
        traced.find_lines(R"(error +start-up failed: io_uring_queue_init: Cannot allocate memory$)")
            .empty());
    CHECK(traced.find_lines(R"(\bready workers=)").empty());
}
