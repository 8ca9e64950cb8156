// SPDX-License-Identifier: MIT
// Integration-test harness: processes, backends, ringlb, TCP clients and /proc counters.
#include "harness.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

namespace ringlb::test {

std::string ringlb_binary() {
    return RINGLB_BINARY;
}
std::string backend_binary() {
    return RINGLB_TESTBACKEND_BINARY;
}
std::string source_dir() {
    return RINGLB_SOURCE_DIR;
}

namespace {

[[noreturn]] void fail_errno(std::string_view what) {
    throw HarnessError(fmt::format("{}: {}", what, std::strerror(errno)));
}

// Milliseconds left until `deadline` for poll(2): never negative.
int poll_timeout(Deadline deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

// Waits for `events` on fd until the deadline; false when the deadline passed first.
bool wait_for(int fd, short events, Deadline deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, poll_timeout(deadline));
        if (n > 0) {
            return true;
        }
        if (n < 0 && errno != EINTR) {
            fail_errno("poll");
        }
        if (Clock::now() >= deadline) {
            return false;
        }
    }
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

std::size_t count_entries(const std::string& directory) {
    DIR* dir = ::opendir(directory.c_str());
    if (dir == nullptr) {
        fail_errno("opendir " + directory);
    }
    std::size_t count = 0;
    while (const dirent* entry = ::readdir(dir)) {
        if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) {
            ++count;
        }
    }
    ::closedir(dir);
    return count;
}

}  // namespace

std::string ExitStatus::to_string() const {
    if (signal != 0) {
        return fmt::format("killed by signal {} ({})", signal, ::strsignal(signal));
    }
    return fmt::format("exit status {}", code);
}

// ---------------------------------------------------------------------------------------
// Process

Process::Process(std::string name, std::vector<std::string> argv) : name_(std::move(name)) {
    int out[2];
    int err[2];
    int exec_error[2];
    if (::pipe2(out, O_CLOEXEC) < 0 || ::pipe2(err, O_CLOEXEC) < 0 ||
        ::pipe2(exec_error, O_CLOEXEC) < 0) {
        fail_errno("pipe2");
    }
    std::vector<char*> args;
    for (auto& arg : argv) {
        args.push_back(arg.data());
    }
    args.push_back(nullptr);
    const pid_t parent = ::getpid();

    pid_ = ::fork();
    if (pid_ < 0) {
        fail_errno("fork");
    }
    if (pid_ == 0) {
        // Child: async-signal-safe calls only (the parent has threads).
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) {
            ::_exit(127);
        }
        const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        ::dup2(null_fd, 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        // Only 0, 1, 2 survive exec: a stray inherited descriptor would skew fd counts and
        // could keep a test's socket alive.
        ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
        // The test process ignores SIGPIPE; the child must not inherit that, or a test of
        // ringlb's own SIGPIPE handling would pass for the wrong reason.
        struct sigaction action {};
        action.sa_handler = SIG_DFL;
        for (int signo = 1; signo < NSIG; ++signo) {
            ::sigaction(signo, &action, nullptr);
        }
        sigset_t none;
        ::sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execv(args[0], args.data());
        const int error = errno;
        (void)!::write(exec_error[1], &error, sizeof error);
        ::_exit(127);
    }

    ::close(out[1]);
    ::close(err[1]);
    ::close(exec_error[1]);
    int error = 0;
    const ssize_t n = ::read(exec_error[0], &error, sizeof error);
    ::close(exec_error[0]);
    if (n == sizeof error) {
        ::close(out[0]);
        ::close(err[0]);
        reap(0);
        errno = error;
        fail_errno(fmt::format("exec {}", argv.front()));
    }
    int stop[2];
    if (::pipe2(stop, O_CLOEXEC) < 0) {
        fail_errno("pipe2");
    }
    // Both ends live as long as this object: a write to the stop pipe after the reader has
    // ended must not raise SIGPIPE.
    stop_read_ = UniqueFd(stop[0]);
    stop_reader_ = UniqueFd(stop[1]);
    reader_ = std::thread([this, out_fd = out[0], err_fd = err[0], stop_fd = stop[0]] {
        read_output(out_fd, err_fd, stop_fd);
    });
}

Process::~Process() {
    const bool judged_by_test = finished_.has_value();
    const std::string problems = finish();
    if (!problems.empty() && !judged_by_test) {
        // Reported through Catch2 without throwing (this may run while a failed REQUIRE
        // unwinds): the running test case fails and the others go on.
        FAIL_CHECK(fmt::format("{} (pid {}) ended badly: {}\n--- last lines of its output ---\n{}",
                               name_, pid_, problems, tail(60)));
    }
}

std::string Process::finish() {
    if (finished_) {
        return *finished_;
    }
    std::string problems;
    if (pid_ > 0 && clean_stop_timeout_ && !reap(WNOHANG)) {
        ::kill(pid_, SIGTERM);
        const Deadline deadline = deadline_in(*clean_stop_timeout_);
        while (!reap(WNOHANG) && Clock::now() < deadline) {
            std::this_thread::sleep_for(milliseconds(2));
        }
        if (!status_) {
            problems += fmt::format("it did not exit within {} ms of SIGTERM; ",
                                    clean_stop_timeout_->count());
        } else if (!status_->exited_with(0)) {
            problems +=
                fmt::format("SIGTERM ended it with {}, not exit status 0; ", status_->to_string());
        }
    } else if (pid_ > 0 && clean_stop_timeout_ && status_ && !status_seen_ &&
               !status_->exited_with(0)) {
        // It ended before the test was over and the test never looked at how.
        problems += fmt::format("it ended by itself with {}; ", status_->to_string());
    }
    if (pid_ > 0 && !reap(WNOHANG)) {
        ::kill(pid_, SIGKILL);
        reap(0);
    }
    join_reader();
    const std::string report = sanitizer_report(lines());
    if (!report.empty()) {
        problems += "its stderr holds a sanitizer report:\n" + report;
    }
    finished_ = problems;
    return problems;
}

std::string sanitizer_report(const std::vector<OutputLine>& output) {
    // The first line of every report each sanitizer prints ("==PID==ERROR: AddressSanitizer:",
    // "WARNING: ThreadSanitizer:", "FILE:LINE:COL: runtime error:" from UBSan) and the
    // "SUMMARY:" line that ends it; everything from the first such line on is the report.
    static const std::regex start(
        R"((ERROR|WARNING): (Address|Leak|Thread|UndefinedBehavior|Memory)Sanitizer\b|)"
        R"(: runtime error: |^SUMMARY: \w*Sanitizer\b)");
    std::string report;
    bool in_report = false;
    std::size_t kept = 0;
    for (const OutputLine& line : output) {
        if (!line.from_stderr) {
            continue;
        }
        in_report = in_report || std::regex_search(line.text, start);
        if (in_report && kept < 80) {
            report += "  " + line.text + "\n";
            ++kept;
        }
    }
    return report;
}

void Process::read_output(int out_fd, int err_fd, int stop_fd) {
    pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    std::string partial[2];
    int open_count = 2;
    char buffer[16384];
    while (open_count > 0) {
        if (::poll(fds, 3, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (fds[2].revents != 0) {
            // join_reader gave up waiting for the end of the output: a process the child
            // left behind still holds the pipes. Keep what was read.
            std::vector<OutputLine> rest;
            for (int i = 0; i < 2; ++i) {
                if (!partial[i].empty()) {
                    rest.push_back({i == 1, std::move(partial[i])});
                }
                if (fds[i].fd >= 0) {
                    ::close(fds[i].fd);
                }
            }
            std::lock_guard lock(mutex_);
            for (auto& line : rest) {
                lines_.push_back(std::move(line));
            }
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) {
                continue;
            }
            const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            std::vector<OutputLine> complete;
            if (n <= 0) {
                if (!partial[i].empty()) {
                    complete.push_back({i == 1, std::move(partial[i])});
                    partial[i].clear();
                }
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_count;
            } else {
                partial[i].append(buffer, static_cast<std::size_t>(n));
                std::size_t start = 0;
                for (std::size_t nl; (nl = partial[i].find('\n', start)) != std::string::npos;
                     start = nl + 1) {
                    complete.push_back({i == 1, partial[i].substr(start, nl - start)});
                }
                partial[i].erase(0, start);
            }
            if (!complete.empty()) {
                std::lock_guard lock(mutex_);
                for (auto& line : complete) {
                    lines_.push_back(std::move(line));
                }
                changed_.notify_all();
            }
        }
    }
    std::lock_guard lock(mutex_);
    output_closed_ = true;
    changed_.notify_all();
}

std::optional<LineMatch> Process::try_wait_for_line(const std::string& pattern,
                                                    milliseconds timeout, std::size_t from) {
    const std::regex re(pattern);
    const Deadline deadline = deadline_in(timeout);
    std::unique_lock lock(mutex_);
    std::size_t next = from;
    for (;;) {
        for (; next < lines_.size(); ++next) {
            std::smatch match;
            if (std::regex_search(lines_[next].text, match, re)) {
                LineMatch result;
                result.index = next;
                for (const auto& group : match) {
                    result.groups.push_back(group.str());
                }
                return result;
            }
        }
        if (output_closed_) {
            return std::nullopt;
        }
        if (changed_.wait_until(lock, deadline) == std::cv_status::timeout &&
            next == lines_.size()) {
            return std::nullopt;
        }
    }
}

LineMatch Process::wait_for_line(const std::string& pattern, milliseconds timeout,
                                 std::size_t from) {
    if (auto match = try_wait_for_line(pattern, timeout, from)) {
        return *match;
    }
    bool closed = false;
    {
        std::lock_guard lock(mutex_);
        closed = output_closed_;
    }
    throw HarnessError(
        fmt::format("{} (pid {}): no line matching /{}/ {}\n--- last lines of its output ---\n{}",
                    name_, pid_, pattern,
                    closed ? "before its output ended (process exited?)"
                           : fmt::format("within {} ms", timeout.count()),
                    tail()));
}

std::vector<LineMatch> Process::find_lines(const std::string& pattern, std::size_t from) const {
    const std::regex re(pattern);
    std::vector<LineMatch> found;
    std::lock_guard lock(mutex_);
    for (std::size_t i = from; i < lines_.size(); ++i) {
        std::smatch match;
        if (std::regex_search(lines_[i].text, match, re)) {
            LineMatch result;
            result.index = i;
            for (const auto& group : match) {
                result.groups.push_back(group.str());
            }
            found.push_back(std::move(result));
        }
    }
    return found;
}

std::size_t Process::line_count() const {
    std::lock_guard lock(mutex_);
    return lines_.size();
}

std::vector<OutputLine> Process::lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
}

std::string Process::output() const {
    std::string text;
    std::lock_guard lock(mutex_);
    for (const auto& line : lines_) {
        text += line.text;
        text += '\n';
    }
    return text;
}

std::string Process::tail(std::size_t count) const {
    std::string text;
    std::lock_guard lock(mutex_);
    const std::size_t first = lines_.size() > count ? lines_.size() - count : 0;
    for (std::size_t i = first; i < lines_.size(); ++i) {
        text += lines_[i].from_stderr ? "  [err] " : "  [out] ";
        text += lines_[i].text;
        text += '\n';
    }
    if (text.empty()) {
        text = "  (no output)\n";
    }
    return text;
}

void Process::signal(int signo) {
    if (running()) {
        ::kill(pid_, signo);
    }
}

bool Process::reap(int options) {
    if (status_) {
        return true;
    }
    int raw = 0;
    pid_t r;
    do {
        r = ::waitpid(pid_, &raw, options);
    } while (r < 0 && errno == EINTR);
    if (r != pid_) {
        return false;
    }
    ExitStatus status;
    if (WIFEXITED(raw)) {
        status.code = WEXITSTATUS(raw);
    } else if (WIFSIGNALED(raw)) {
        status.signal = WTERMSIG(raw);
    }
    status_ = status;
    return true;
}

bool Process::running() {
    return !reap(WNOHANG);
}

void Process::join_reader() {
    if (!reader_.joinable()) {
        return;
    }
    {
        // The child is gone; its output ends once every process holding the pipes has closed
        // them, which a grandchild left running (strace -f's tracee, a shell's background
        // job) may never do: then stop reading after a while rather than hang the test.
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, milliseconds(5000), [&] { return output_closed_; });
    }
    const char byte = 1;
    (void)!::write(stop_reader_.get(), &byte, 1);
    reader_.join();
}

std::optional<ExitStatus> Process::wait_exit(milliseconds timeout) {
    const Deadline deadline = deadline_in(timeout);
    while (!reap(WNOHANG)) {
        if (Clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(milliseconds(2));
    }
    join_reader();
    status_seen_ = true;
    return status_;
}

ExitStatus Process::require_exit(milliseconds timeout) {
    if (auto status = wait_exit(timeout)) {
        return *status;
    }
    throw HarnessError(fmt::format("{} (pid {}) did not exit within {} ms\n--- last lines ---\n{}",
                                   name_, pid_, timeout.count(), tail()));
}

void Process::kill() {
    if (pid_ > 0 && !reap(WNOHANG)) {
        ::kill(pid_, SIGKILL);
        reap(0);
    }
    join_reader();
    status_seen_ = true;
}

RunResult run_process(const std::vector<std::string>& argv, milliseconds timeout) {
    Process process(argv.front(), argv);
    RunResult result;
    result.status = process.require_exit(timeout);
    for (const auto& line : process.lines()) {
        (line.from_stderr ? result.stderr_text : result.stdout_text) += line.text + "\n";
    }
    return result;
}

void run_checked(const std::vector<std::string>& argv, milliseconds timeout) {
    const RunResult result = run_process(argv, timeout);
    if (!result.status.exited_with(0)) {
        std::string command;
        for (const auto& arg : argv) {
            command += arg + " ";
        }
        throw HarnessError(command + "failed: " + result.status.to_string() + "\n" +
                           result.stderr_text);
    }
}

// ---------------------------------------------------------------------------------------
// TempFile

TempFile::TempFile(std::string_view text, std::string_view suffix) {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern =
        fmt::format("{}/ringlb-test-XXXXXX{}", dir && *dir ? dir : "/tmp", suffix);
    const int fd = ::mkstemps(pattern.data(), static_cast<int>(suffix.size()));
    if (fd < 0) {
        fail_errno("mkstemps " + pattern);
    }
    UniqueFd file(fd);
    path_ = pattern;
    for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(file.get(), text.data() + done, text.size() - done);
        if (n < 0) {
            fail_errno("write " + path_);
        }
        done += static_cast<std::size_t>(n);
    }
}

TempFile::~TempFile() {
    ::unlink(path_.c_str());
}

// ---------------------------------------------------------------------------------------
// Backends and ringlb

std::string backends_toml(const std::vector<std::string>& addresses) {
    std::string text;
    for (const auto& address : addresses) {
        text += fmt::format("\n  [[pool.backend]]\n  address = \"{}\"\n", address);
    }
    return text;
}

std::string backend_table(const std::string& address, const std::string& settings) {
    std::string text = fmt::format("\n  [[pool.backend]]\n  address = \"{}\"\n", address);
    if (!settings.empty()) {
        text += settings;
        text += '\n';
    }
    return text;
}

std::string listener_table(const std::string& name, const std::string& pool,
                           const std::string& settings) {
    return fmt::format("\n[[listener]]\nname = \"{}\"\nbind = \"127.0.0.1:0\"\npool = \"{}\"\n{}\n",
                       name, pool, settings);
}

std::string pool_table(const std::string& name, const std::vector<std::string>& backends,
                       const std::string& settings) {
    return fmt::format("\n[[pool]]\nname = \"{}\"\n{}\n{}", name, settings,
                       backends_toml(backends));
}

std::string SimpleConfig::text() const {
    return fmt::format(
        "[global]\nworkers = {}\n{}\n\n"
        "[[listener]]\nname = \"in\"\nbind = \"{}\"\npool = \"p\"\n\n"
        "[[pool]]\nname = \"p\"\n{}\n{}",
        workers_, global_, bind_, pool_, backends_toml(backends_));
}

std::string Backend::address() const {
    return fmt::format("127.0.0.1:{}", port);
}

void Backend::pause() {
    const std::size_t from = process->line_count();
    process->signal(SIGUSR1);
    process->wait_for_line("^paused$", milliseconds(5000), from);
}

void Backend::resume() {
    const std::size_t from = process->line_count();
    process->signal(SIGUSR2);
    process->wait_for_line("^resumed$", milliseconds(5000), from);
}

Backend start_backend(const BackendOptions& options) {
    std::vector<std::string> argv = {backend_binary(), "--mode", options.mode, "--listen",
                                     fmt::format("127.0.0.1:{}", options.port)};
    if (options.reply) {
        argv.insert(argv.end(), {"--reply", *options.reply});
    }
    if (options.bytes) {
        argv.insert(argv.end(), {"--bytes", std::to_string(*options.bytes)});
    }
    if (options.seed) {
        argv.insert(argv.end(), {"--seed", std::to_string(*options.seed)});
    }
    if (options.request) {
        argv.insert(argv.end(), {"--request", *options.request});
    }
    if (options.delay_ms) {
        argv.insert(argv.end(), {"--delay-ms", std::to_string(*options.delay_ms)});
    }
    if (options.log_received) {
        argv.emplace_back("--log-received");
    }
    if (options.report) {
        argv.emplace_back("--report");
    }
    if (options.drain_ms) {
        argv.insert(argv.end(), {"--drain-ms", std::to_string(*options.drain_ms)});
    }
    Backend backend;
    backend.process = std::make_unique<Process>(fmt::format("backend({})", options.mode), argv);
    const auto match =
        backend.process->wait_for_line(R"(^listening 127\.0\.0\.1:(\d+)$)", milliseconds(5000));
    backend.port = static_cast<std::uint16_t>(std::stoul(match.groups[1]));
    return backend;
}

Backend start_backend(std::string mode) {
    BackendOptions options;
    options.mode = std::move(mode);
    return start_backend(options);
}

Backend start_reply_backend(std::string reply) {
    BackendOptions options;
    options.mode = "reply";
    options.reply = std::move(reply);
    return start_backend(options);
}

Backend start_greet_backend(std::string name) {
    BackendOptions options;
    options.mode = "greet";
    options.reply = std::move(name);
    return start_backend(options);
}

std::uint16_t Ringlb::port_of(const std::string& listener) const {
    const auto it = ports.find(listener);
    if (it == ports.end()) {
        throw HarnessError(fmt::format("ringlb logged no listening line for listener {}\n{}",
                                       listener, process ? process->tail() : ""));
    }
    return it->second;
}

Ringlb start_ringlb(const std::string& config_text, const std::vector<std::string>& extra_args,
                    milliseconds timeout, const std::vector<std::string>& environment) {
    std::vector<std::string> wrapper;
    if (!environment.empty()) {
        wrapper.push_back(find_on_path("env"));
        wrapper.insert(wrapper.end(), environment.begin(), environment.end());
    }
    return start_ringlb_under(wrapper, config_text, extra_args, timeout);
}

Ringlb start_ringlb_under(const std::vector<std::string>& wrapper, const std::string& config_text,
                          const std::vector<std::string>& extra_args, milliseconds timeout) {
    Ringlb ringlb;
    ringlb.config = std::make_unique<TempFile>(config_text);
    std::vector<std::string> argv = wrapper;
    argv.insert(argv.end(), {ringlb_binary(), "--config", ringlb.config->path()});
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    ringlb.process = std::make_unique<Process>("ringlb", argv);
    ringlb.process->expect_clean_stop();
    ringlb.process->wait_for_line(R"(\bready workers=\d+)", timeout);

    // One "listening" line per [[listener]] table of the config.
    std::size_t listeners = 0;
    for (std::size_t at = 0; (at = config_text.find("[[listener]]", at)) != std::string::npos;
         ++at) {
        ++listeners;
    }
    const std::string pattern = R"(\blistening listener=(\S+) address=\S*:(\d+) pool=\S+)";
    std::size_t from = 0;
    for (std::size_t i = 0; i < std::max<std::size_t>(listeners, 1); ++i) {
        const auto match = ringlb.process->wait_for_line(pattern, milliseconds(2000), from);
        from = match.index + 1;
        const auto port = static_cast<std::uint16_t>(std::stoul(match.groups[2]));
        ringlb.ports.emplace(match.groups[1], port);
        if (i == 0) {
            ringlb.port = port;
        }
    }
    return ringlb;
}

void reload_ringlb(Ringlb& ringlb, const std::string& config_text, milliseconds timeout) {
    const std::string& path = ringlb.config->path();
    {
        UniqueFd file(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
        if (!file) {
            fail_errno("open " + path);
        }
        for (std::size_t done = 0; done < config_text.size();) {
            const ssize_t n =
                ::write(file.get(), config_text.data() + done, config_text.size() - done);
            if (n < 0) {
                fail_errno("write " + path);
            }
            done += static_cast<std::size_t>(n);
        }
    }
    const std::size_t from = ringlb.process->line_count();
    ringlb.process->signal(SIGHUP);
    const LineMatch match = ringlb.process->wait_for_line(
        R"(\b(reloaded config=\S+ generation=\d+|reload failed))", timeout, from);
    if (match.groups[1] == "reload failed") {
        throw HarnessError(fmt::format("ringlb refused the new config:\n{}\n--- config ---\n{}",
                                       ringlb.process->tail(), config_text));
    }
}

std::uint16_t refused_port() {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address = loopback(0);
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
        fail_errno("bind 127.0.0.1:0");
    }
    socklen_t length = sizeof address;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
    return ntohs(address.sin_port);
}

Blackhole::Blackhole() {
    listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address = loopback(0);
    if (!listener_ ||
        ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0 ||
        ::listen(listener_.get(), 0) < 0) {
        fail_errno("blackhole listener");
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    // Fill the accept queue until a connect no longer completes: from then on every SYN is
    // dropped.
    for (int i = 0; i < 16; ++i) {
        ConnectResult result = try_connect(port_, milliseconds(200));
        const bool hung = result.error == ETIMEDOUT;
        fillers_.push_back(std::move(result.fd));
        if (hung) {
            return;
        }
    }
    throw HarnessError("blackhole: the accept queue never filled up");
}

// ---------------------------------------------------------------------------------------
// TCP clients

namespace {

// A numeric address of either family ("127.0.0.1", "::1") and a port, ready for bind or
// connect.
struct SocketAddressText final {
    sockaddr_storage storage{};
    socklen_t length = 0;
    std::string text;  // "127.0.0.1:80", "[::1]:80", for messages

    SocketAddressText(const std::string& ip, std::uint16_t port)
        : text(ip.find(':') == std::string::npos ? fmt::format("{}:{}", ip, port)
                                                 : fmt::format("[{}]:{}", ip, port)) {
        addrinfo hints{};
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        if (::getaddrinfo(ip.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) {
            throw HarnessError(fmt::format("not a numeric IP address: \"{}\"", ip));
        }
        std::memcpy(&storage, found->ai_addr, found->ai_addrlen);
        length = found->ai_addrlen;
        ::freeaddrinfo(found);
    }
    [[nodiscard]] int family() const noexcept { return storage.ss_family; }
    [[nodiscard]] const sockaddr* get() const noexcept {
        return reinterpret_cast<const sockaddr*>(&storage);
    }
};

UniqueFd stream_socket(int family) {
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        fail_errno("socket");
    }
    return fd;
}

// A non-blocking socket bound to `source` (port 0). The port is left to connect(), which
// only needs the whole 4-tuple to be unique, so that many sockets from many addresses do not
// run out of ports.
UniqueFd socket_from(const std::string& source) {
    const SocketAddressText local(source, 0);
    UniqueFd fd = stream_socket(local.family());
    const int one = 1;
    (void)::setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (::bind(fd.get(), local.get(), local.length) < 0) {
        fail_errno("bind " + source);
    }
    return fd;
}

// Connects the non-blocking `result.fd` to `destination` within the timeout.
void finish_connect(ConnectResult& result, const SocketAddressText& destination,
                    milliseconds timeout) {
    if (::connect(result.fd.get(), destination.get(), destination.length) == 0) {
        return;
    }
    if (errno != EINPROGRESS) {
        result.error = errno;
        return;
    }
    if (!wait_for(result.fd.get(), POLLOUT, deadline_in(timeout))) {
        result.error = ETIMEDOUT;
        return;
    }
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(result.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    result.error = error;
}

UniqueFd connected_or_throw(ConnectResult result, const std::string& what) {
    if (result.error != 0) {
        throw HarnessError(fmt::format("connect {}: {}", what, std::strerror(result.error)));
    }
    return std::move(result.fd);
}

}  // namespace

ConnectResult try_connect_ip(const std::string& ip, std::uint16_t port, milliseconds timeout) {
    const SocketAddressText destination(ip, port);
    ConnectResult result;
    result.fd = stream_socket(destination.family());
    finish_connect(result, destination, timeout);
    return result;
}

ConnectResult try_connect(std::uint16_t port, milliseconds timeout) {
    return try_connect_ip("127.0.0.1", port, timeout);
}

ConnectResult try_connect_from(const std::string& source, const std::string& destination,
                               std::uint16_t port, milliseconds timeout) {
    const SocketAddressText target(destination, port);
    ConnectResult result;
    result.fd = socket_from(source);
    finish_connect(result, target, timeout);
    return result;
}

ConnectResult try_connect_from(const std::string& source, std::uint16_t port,
                               milliseconds timeout) {
    return try_connect_from(source, "127.0.0.1", port, timeout);
}

UniqueFd connect_ip(const std::string& ip, std::uint16_t port, milliseconds timeout) {
    return connected_or_throw(try_connect_ip(ip, port, timeout), SocketAddressText(ip, port).text);
}

UniqueFd connect_to(std::uint16_t port, milliseconds timeout) {
    return connect_ip("127.0.0.1", port, timeout);
}

UniqueFd connect_from(const std::string& source, const std::string& destination, std::uint16_t port,
                      milliseconds timeout) {
    return connected_or_throw(try_connect_from(source, destination, port, timeout),
                              SocketAddressText(destination, port).text + " from " + source);
}

UniqueFd connect_from(const std::string& source, std::uint16_t port, milliseconds timeout) {
    return connect_from(source, "127.0.0.1", port, timeout);
}

std::uint16_t local_port(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0) {
        fail_errno("getsockname");
    }
    return address.ss_family == AF_INET6
               ? ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port)
               : ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

void send_all(int fd, std::string_view data, Deadline deadline) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n >= 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fail_errno("send");
        }
        if (!wait_for(fd, POLLOUT, deadline)) {
            throw HarnessError(
                fmt::format("send: deadline passed with {} bytes still unsent", data.size()));
        }
    }
}

ReadResult read_until_close(int fd, Deadline deadline) {
    ReadResult result;
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            result.data.append(buffer, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) {
            result.eof = true;
            return result;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            result.error = errno;
            return result;
        }
        if (!wait_for(fd, POLLIN, deadline)) {
            result.timed_out = true;
            return result;
        }
    }
}

std::string read_until_eof(int fd, Deadline deadline) {
    ReadResult result = read_until_close(fd, deadline);
    if (result.error != 0) {
        throw HarnessError(fmt::format("read: {} after {} bytes", std::strerror(result.error),
                                       result.data.size()));
    }
    if (result.timed_out) {
        throw HarnessError(
            fmt::format("read: no EOF before the deadline ({} bytes read)", result.data.size()));
    }
    return std::move(result.data);
}

std::string read_exact(int fd, std::size_t n, Deadline deadline) {
    std::string data(n, '\0');
    std::size_t done = 0;
    while (done < n) {
        const ssize_t r = ::recv(fd, data.data() + done, n - done, 0);
        if (r > 0) {
            done += static_cast<std::size_t>(r);
            continue;
        }
        if (r == 0) {
            throw HarnessError(fmt::format("read: EOF after {} of {} bytes", done, n));
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fail_errno(fmt::format("read (after {} of {} bytes)", done, n));
        }
        if (!wait_for(fd, POLLIN, deadline)) {
            throw HarnessError(fmt::format("read: deadline passed after {} of {} bytes", done, n));
        }
    }
    return data;
}

std::string read_line(int fd, Deadline deadline) {
    std::string line;
    char c = 0;
    for (;;) {
        const ssize_t r = ::recv(fd, &c, 1, 0);
        if (r == 1) {
            line += c;
            if (c == '\n') {
                return line;
            }
            continue;
        }
        if (r == 0) {
            throw HarnessError(fmt::format("read_line: EOF after \"{}\"", line));
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fail_errno("read_line");
        }
        if (!wait_for(fd, POLLIN, deadline)) {
            throw HarnessError(fmt::format("read_line: deadline passed after \"{}\"", line));
        }
    }
}

void shutdown_write(int fd) {
    if (::shutdown(fd, SHUT_WR) < 0) {
        fail_errno("shutdown(SHUT_WR)");
    }
}

void reset_close(UniqueFd& fd) {
    const linger option{1, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &option, sizeof option);
    fd.reset();
}

DuplexResult duplex_transfer(int fd, std::uint64_t seed, std::uint64_t bytes, Deadline deadline) {
    DuplexResult result;
    Fnv1a64 hash;
    std::string chunk(256 * 1024, '\0');
    std::string incoming(256 * 1024, '\0');
    bool write_open = true;
    if (bytes == 0) {
        shutdown_write(fd);
        write_open = false;
    }
    for (;;) {
        pollfd p{fd, static_cast<short>(POLLIN | (write_open ? POLLOUT : 0)), 0};
        const int n = ::poll(&p, 1, poll_timeout(deadline));
        if (n < 0 && errno != EINTR) {
            fail_errno("poll");
        }
        if (n == 0 && Clock::now() >= deadline) {
            throw HarnessError(
                fmt::format("duplex transfer: deadline passed (sent {} of {}, received {})",
                            result.sent, bytes, result.received));
        }
        if (write_open && (p.revents & (POLLOUT | POLLERR)) != 0) {
            const std::size_t size = static_cast<std::size_t>(
                std::min<std::uint64_t>(chunk.size(), bytes - result.sent));
            fill_stream(seed, result.sent,
                        std::span<std::byte>(reinterpret_cast<std::byte*>(chunk.data()), size));
            const ssize_t w = ::send(fd, chunk.data(), size, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                fail_errno(fmt::format("duplex transfer: send (sent {}, received {})", result.sent,
                                       result.received));
            }
            if (w > 0) {
                result.sent += static_cast<std::uint64_t>(w);
                if (result.sent == bytes) {
                    shutdown_write(fd);
                    write_open = false;
                }
            }
        }
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            const ssize_t r = ::recv(fd, incoming.data(), incoming.size(), 0);
            if (r == 0) {
                if (write_open) {
                    throw HarnessError(fmt::format(
                        "duplex transfer: EOF before all was sent (sent {} of {}, received {})",
                        result.sent, bytes, result.received));
                }
                result.received_hash = hash.value();
                return result;
            }
            if (r < 0 && errno != EAGAIN && errno != EINTR) {
                fail_errno(fmt::format("duplex transfer: recv (sent {}, received {})", result.sent,
                                       result.received));
            }
            if (r > 0) {
                hash.update(std::string_view(incoming.data(), static_cast<std::size_t>(r)));
                result.received += static_cast<std::uint64_t>(r);
            }
        }
    }
}

DuplexResult drain_hashing(int fd, Deadline deadline) {
    DuplexResult result;
    Fnv1a64 hash;
    std::string incoming(256 * 1024, '\0');
    for (;;) {
        const ssize_t r = ::recv(fd, incoming.data(), incoming.size(), 0);
        if (r > 0) {
            hash.update(std::string_view(incoming.data(), static_cast<std::size_t>(r)));
            result.received += static_cast<std::uint64_t>(r);
            continue;
        }
        if (r == 0) {
            result.received_hash = hash.value();
            return result;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fail_errno(fmt::format("recv after {} bytes", result.received));
        }
        if (!wait_for(fd, POLLIN, deadline)) {
            throw HarnessError(
                fmt::format("read: no EOF before the deadline ({} bytes read)", result.received));
        }
    }
}

std::string fetch(std::uint16_t port, milliseconds timeout) {
    const Deadline deadline = deadline_in(timeout);
    UniqueFd fd = connect_to(port, timeout);
    return read_until_eof(fd.get(), deadline);
}

std::string fetch_from(const std::string& source, std::uint16_t port, milliseconds timeout) {
    const Deadline deadline = deadline_in(timeout);
    UniqueFd fd = connect_from(source, port, timeout);
    return read_until_eof(fd.get(), deadline);
}

std::map<std::string, int> fetch_counts(std::uint16_t port, int count) {
    std::map<std::string, int> counts;
    for (int i = 0; i < count; ++i) {
        ++counts[fetch(port)];
    }
    return counts;
}

std::vector<std::string> fetch_each_from(const std::vector<std::string>& sources,
                                         std::uint16_t port, std::size_t parallel,
                                         milliseconds timeout) {
    struct InFlight {
        std::size_t index = 0;  // into sources
        UniqueFd fd;
        bool connected = false;
    };
    const Deadline deadline = deadline_in(timeout);
    const sockaddr_in target = loopback(port);
    std::vector<std::string> replies(sources.size());
    std::vector<InFlight> flights;
    std::vector<pollfd> fds;
    std::size_t next = 0;
    std::size_t done = 0;
    char buffer[4096];
    auto fail = [&](const InFlight& flight, std::string_view what, int error) {
        throw HarnessError(fmt::format("fetch from {} to 127.0.0.1:{}: {}: {} ({} of {} done)",
                                       sources[flight.index], port, what, std::strerror(error),
                                       done, sources.size()));
    };
    parallel = std::max<std::size_t>(parallel, 1);
    while (next < sources.size() || !flights.empty()) {
        while (next < sources.size() && flights.size() < parallel) {
            InFlight flight;
            flight.index = next++;
            flight.fd = socket_from(sources[flight.index]);
            if (::connect(flight.fd.get(), reinterpret_cast<const sockaddr*>(&target),
                          sizeof target) == 0) {
                flight.connected = true;
            } else if (errno != EINPROGRESS) {
                fail(flight, "connect", errno);
            }
            flights.push_back(std::move(flight));
        }
        fds.clear();
        for (const InFlight& flight : flights) {
            fds.push_back(
                {flight.fd.get(), static_cast<short>(flight.connected ? POLLIN : POLLOUT), 0});
        }
        const int n = ::poll(fds.data(), fds.size(), poll_timeout(deadline));
        if (n < 0 && errno != EINTR) {
            fail_errno("poll");
        }
        if (n <= 0 && Clock::now() >= deadline) {
            throw HarnessError(fmt::format(
                "fetch_each_from: deadline passed with {} of {} replies complete, {} in flight",
                done, sources.size(), flights.size()));
        }
        for (std::size_t i = fds.size(); i-- > 0;) {
            if (fds[i].revents == 0) {
                continue;
            }
            InFlight& flight = flights[i];
            bool finished = false;
            if (!flight.connected) {
                int error = 0;
                socklen_t length = sizeof error;
                ::getsockopt(flight.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
                if (error != 0) {
                    fail(flight, "connect", error);
                }
                flight.connected = true;
            } else {
                for (;;) {
                    const ssize_t r = ::recv(flight.fd.get(), buffer, sizeof buffer, 0);
                    if (r > 0) {
                        replies[flight.index].append(buffer, static_cast<std::size_t>(r));
                        continue;
                    }
                    if (r == 0) {
                        finished = true;
                    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                        fail(flight, "recv", errno);
                    }
                    break;
                }
            }
            if (finished) {
                ++done;
                flights[i] = std::move(flights.back());
                flights.pop_back();
            }
        }
    }
    return replies;
}

// ---------------------------------------------------------------------------------------
// Where connections land on greet backends

HeldConnection open_held(std::uint16_t port, milliseconds timeout) {
    const Deadline deadline = deadline_in(timeout);
    HeldConnection held;
    held.fd = connect_to(port, timeout);
    std::string line = read_line(held.fd.get(), deadline);
    line.pop_back();
    held.backend = std::move(line);
    return held;
}

std::map<std::string, int> short_connections(std::uint16_t port, int count) {
    std::map<std::string, int> counts;
    for (int i = 0; i < count; ++i) {
        ++counts[open_held(port).backend];
    }
    return counts;
}

// ---------------------------------------------------------------------------------------
// Failure messages and patterns

std::string describe_counts(const std::map<std::string, int>& counts) {
    std::string text;
    for (const auto& [key, n] : counts) {
        text += fmt::format("\"{}\"={} ", key.substr(0, key.find('\n')), n);
    }
    return text;
}

std::string regex_escape(std::string_view text) {
    static constexpr std::string_view kSpecial = R"(\^$.|?*+()[]{})";
    std::string escaped;
    for (const char c : text) {
        if (kSpecial.find(c) != std::string_view::npos) {
            escaped += '\\';
        }
        escaped += c;
    }
    return escaped;
}

// ---------------------------------------------------------------------------------------
// /proc

std::size_t thread_count(pid_t pid) {
    return count_entries(fmt::format("/proc/{}/task", pid));
}

std::size_t fd_count(pid_t pid) {
    return count_entries(fmt::format("/proc/{}/fd", pid));
}

void require_root(const std::string& why) {
    if (::geteuid() != 0) {
        throw HarnessError("this test needs root (" + why +
                           "): run it as root, as scripts/test and CI do");
    }
}

std::string require_command(const std::string& command, const std::string& package) {
    std::string path = find_on_path(command);
    if (path.empty()) {
        throw HarnessError(command +
                           " is not installed: scripts/test installs it (Debian package " +
                           package + ")");
    }
    return path;
}

std::string find_on_path(const std::string& command) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (!dir.empty() && ::access((dir + "/" + command).c_str(), X_OK) == 0) {
            return dir + "/" + command;
        }
    }
    return "";
}

std::size_t vm_rss_kib(pid_t pid) {
    const std::string path = fmt::format("/proc/{}/status", pid);
    std::ifstream status(path);
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            std::istringstream fields(line.substr(6));
            std::size_t kib = 0;
            fields >> kib;
            return kib;
        }
    }
    throw HarnessError("no VmRSS line in " + path);
}

FdTable fd_table(pid_t pid) {
    const std::string directory = fmt::format("/proc/{}/fd", pid);
    DIR* dir = ::opendir(directory.c_str());
    if (dir == nullptr) {
        fail_errno("opendir " + directory);
    }
    FdTable table;
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.') {
            continue;
        }
        char target[256];
        const std::string link = directory + "/" + entry->d_name;
        const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
        // An fd closed between readdir and readlink is simply left out.
        if (n >= 0) {
            table.emplace(std::atoi(entry->d_name),
                          std::string(target, static_cast<std::size_t>(n)));
        }
    }
    ::closedir(dir);
    return table;
}

std::string fd_table_diff(const FdTable& before, const FdTable& after) {
    std::string text;
    for (const auto& [fd, target] : before) {
        const auto it = after.find(fd);
        if (it == after.end()) {
            text += fmt::format("fd {}: {} -> (closed)\n", fd, target);
        } else if (it->second != target) {
            text += fmt::format("fd {}: {} -> {}\n", fd, target, it->second);
        }
    }
    for (const auto& [fd, target] : after) {
        if (before.find(fd) == before.end()) {
            text += fmt::format("fd {}: (none) -> {}\n", fd, target);
        }
    }
    return text.empty() ? "(no difference)\n" : text;
}

namespace {

struct FdKinds final {
    std::size_t sockets = 0;
    std::size_t pipes = 0;
    std::size_t other = 0;
};

FdKinds classify(const FdTable& table) {
    FdKinds kinds;
    for (const auto& [fd, target] : table) {
        if (target.rfind("socket:", 0) == 0) {
            ++kinds.sockets;
        } else if (target.rfind("pipe:", 0) == 0) {
            ++kinds.pipes;
        } else {
            ++kinds.other;
        }
    }
    return kinds;
}

}  // namespace

std::string wait_fds_settled(pid_t pid, const FdTable& before, std::size_t pipe_fd_allowance,
                             milliseconds timeout) {
    const FdKinds expected = classify(before);
    const Deadline deadline = deadline_in(timeout);
    for (;;) {
        const FdTable now = fd_table(pid);
        const FdKinds kinds = classify(now);
        if (kinds.sockets == expected.sockets && kinds.other == expected.other &&
            kinds.pipes <= expected.pipes + pipe_fd_allowance) {
            return {};
        }
        if (Clock::now() >= deadline) {
            return fmt::format(
                "after {} ms: sockets {} (before {}), pipe ends {} (before {}, allowed up to {}), "
                "other {} (before {}); changes:\n{}",
                timeout.count(), kinds.sockets, expected.sockets, kinds.pipes, expected.pipes,
                expected.pipes + pipe_fd_allowance, kinds.other, expected.other,
                fd_table_diff(before, now));
        }
        std::this_thread::sleep_for(milliseconds(10));
    }
}

std::size_t wait_fd_count(pid_t pid, std::size_t expected, milliseconds timeout) {
    const Deadline deadline = deadline_in(timeout);
    for (;;) {
        const std::size_t count = fd_count(pid);
        if (count == expected || Clock::now() >= deadline) {
            return count;
        }
        std::this_thread::sleep_for(milliseconds(10));
    }
}

std::size_t raise_fd_limit(std::size_t wanted) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) < 0) {
        fail_errno("getrlimit");
    }
    const rlim_t target = std::min<rlim_t>(wanted, limit.rlim_max);
    if (limit.rlim_cur < target) {
        limit.rlim_cur = target;
        if (::setrlimit(RLIMIT_NOFILE, &limit) < 0) {
            fail_errno("setrlimit");
        }
    }
    return limit.rlim_cur;
}

}  // namespace ringlb::test
