// SPDX-License-Identifier: MIT
// Measures how a relay thread should move bytes between two loopback TCP connections.
//
// Usage: splice_modes [--quick]
//
// Topology: writer thread -> TCP connection 1 -> [relay thread, own io_uring] -> TCP
// connection 2 -> reader thread. The relay waits for readiness with one-shot
// IORING_OP_POLL_ADD and then moves bytes in one of three ways:
//   A  splice(2) called directly, socket -> pipe -> socket (SPLICE_F_MOVE|SPLICE_F_NONBLOCK),
//      what ringlb's Connection::pump does; -EAGAIN arms the poll again.
//   B  the same state machine, but every splice is an IORING_OP_SPLICE request (io-wq).
//   C  recv(2)/send(2) through a 64 KiB user-space buffer: the copying baseline.
// Workloads: bulk (2 GiB in 1 MiB writes) and small (200,000 64-byte messages, each sent
// only after the reader got the previous one). Relay CPU = process CPU (RUSAGE_SELF, which
// includes io-wq workers) minus the writer, reader and thread-count sampler threads
// (RUSAGE_THREAD each). Each (workload, mode) runs 3 times, modes alternating; medians.
// --quick: 256 MiB and 20,000 messages.

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/core.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

enum class Mode { direct_splice, uring_splice, copy };
enum class Workload { bulk, small };

constexpr std::size_t kSpliceChunk = 1 << 20;  // as ringlb's kSpliceChunk
constexpr std::size_t kCopyBuffer = 64 << 10;  // = default pipe capacity
constexpr std::size_t kWriteSize = 1 << 20;
constexpr std::size_t kMessageSize = 64;
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
constexpr int kRepeats = 3;
// Threads alive during a run besides io-wq workers: main, writer, reader, sampler, relay.
constexpr int kBaseThreads = 5;

[[noreturn]] void die(std::string_view what, int error) {
    fmt::print(stderr, "splice_modes: {}: {}\n", what, std::strerror(error));
    std::exit(1);
}

const char* mode_name(Mode mode) {
    switch (mode) {
        case Mode::direct_splice:
            return "A splice(2)";
        case Mode::uring_splice:
            return "B uring-splice";
        case Mode::copy:
            return "C recv/send";
    }
    return "?";
}

double cpu_seconds(const rusage& usage) {
    auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
    return secs(usage.ru_utime) + secs(usage.ru_stime);
}

double cpu_now(int who) {
    rusage usage{};
    if (getrusage(who, &usage) != 0) {
        die("getrusage", errno);
    }
    return cpu_seconds(usage);
}

int count_threads() {
    DIR* dir = opendir("/proc/self/task");
    if (dir == nullptr) {
        return -1;
    }
    int count = 0;
    while (dirent* entry = readdir(dir)) {
        if (entry->d_name[0] != '.') {
            ++count;
        }
    }
    closedir(dir);
    return count;
}

void set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        die("fcntl O_NONBLOCK", errno);
    }
}

void set_nodelay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        die("TCP_NODELAY", errno);
    }
}

// Returns {connecting end, accepted end} of a fresh loopback TCP connection, both blocking.
std::pair<int, int> tcp_pair() {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) {
        die("socket", errno);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(listener, 1) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        die("listen", errno);
    }
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client < 0 || connect(client, reinterpret_cast<sockaddr*>(&address), sizeof(address))) {
        die("connect", errno);
    }
    int server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (server < 0) {
        die("accept", errno);
    }
    close(listener);
    set_nodelay(client);
    set_nodelay(server);
    return {client, server};
}

// The thread under test: moves src -> dst until EOF on src, then shuts dst for writing.
class Relay {
  public:
    Relay(Mode mode, int src, int dst) : mode_(mode), src_(src), dst_(dst) {
        int fds[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
            die("pipe2", errno);
        }
        pipe_read_ = fds[0];
        pipe_write_ = fds[1];
        if (int result = io_uring_queue_init(64, &ring_, 0); result < 0) {
            die("io_uring_queue_init", -result);
        }
        if (mode_ == Mode::copy) {
            buffer_.resize(kCopyBuffer);
        }
    }
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;
    ~Relay() {
        io_uring_queue_exit(&ring_);
        close(pipe_read_);
        close(pipe_write_);
    }

    void run() {
        step();
        while (!done_) {
            io_uring_cqe* cqe = nullptr;
            int result = io_uring_submit_and_wait(&ring_, 1);
            if (result < 0 && result != -EINTR) {
                die("io_uring_submit_and_wait", -result);
            }
            unsigned head;
            unsigned seen = 0;
            std::vector<std::pair<std::uint64_t, int>> completions;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                completions.emplace_back(cqe->user_data, cqe->res);
                ++seen;
            }
            io_uring_cq_advance(&ring_, seen);
            for (auto [tag, res] : completions) {
                on_completion(static_cast<Tag>(tag), res);
            }
        }
    }

  private:
    enum class Tag : std::uint64_t { poll = 1, splice_in, splice_out };

    io_uring_sqe* sqe() {
        io_uring_sqe* entry = io_uring_get_sqe(&ring_);
        if (entry == nullptr) {
            io_uring_submit(&ring_);
            entry = io_uring_get_sqe(&ring_);
        }
        if (entry == nullptr) {
            die("io_uring_get_sqe", EBUSY);
        }
        return entry;
    }

    void arm_poll(int fd, unsigned events) {
        io_uring_sqe* entry = sqe();
        io_uring_prep_poll_add(entry, fd, events);
        io_uring_sqe_set_data64(entry, static_cast<std::uint64_t>(Tag::poll));
    }

    void finish() {
        if (shutdown(dst_, SHUT_WR) != 0) {
            die("shutdown", errno);
        }
        done_ = true;
    }

    void step() {
        switch (mode_) {
            case Mode::direct_splice:
                return step_direct();
            case Mode::uring_splice:
                return step_uring();
            case Mode::copy:
                return step_copy();
        }
    }

    // Mode A: as ringlb's Connection::pump, minus its per-connection budget.
    void step_direct() {
        for (;;) {
            if (in_pipe_ > 0) {
                ssize_t moved = splice(pipe_read_, nullptr, dst_, nullptr, in_pipe_, kSpliceFlags);
                if (moved > 0) {
                    in_pipe_ -= static_cast<std::size_t>(moved);
                    continue;
                }
                if (moved < 0 && errno == EINTR) {
                    continue;
                }
                if (moved < 0 && errno == EAGAIN) {
                    return arm_poll(dst_, POLLOUT);
                }
                die("splice pipe->dst", moved < 0 ? errno : EPIPE);
            }
            if (eof_) {
                return finish();
            }
            ssize_t moved = splice(src_, nullptr, pipe_write_, nullptr, kSpliceChunk, kSpliceFlags);
            if (moved > 0) {
                in_pipe_ += static_cast<std::size_t>(moved);
            } else if (moved == 0) {
                eof_ = true;
            } else if (errno == EAGAIN) {
                return arm_poll(src_, POLLIN);
            } else if (errno != EINTR) {
                die("splice src->pipe", errno);
            }
        }
    }

    // Mode B: the same state machine, one IORING_OP_SPLICE in flight at a time.
    void step_uring() {
        if (in_pipe_ > 0) {
            io_uring_sqe* entry = sqe();
            io_uring_prep_splice(entry, pipe_read_, -1, dst_, -1, static_cast<unsigned>(in_pipe_),
                                 kSpliceFlags);
            io_uring_sqe_set_data64(entry, static_cast<std::uint64_t>(Tag::splice_out));
            return;
        }
        if (eof_) {
            return finish();
        }
        io_uring_sqe* entry = sqe();
        io_uring_prep_splice(entry, src_, -1, pipe_write_, -1, kSpliceChunk, kSpliceFlags);
        io_uring_sqe_set_data64(entry, static_cast<std::uint64_t>(Tag::splice_in));
    }

    // Mode C: plain recv/send through a user-space buffer.
    void step_copy() {
        for (;;) {
            if (buffered_ > sent_) {
                ssize_t moved = send(dst_, buffer_.data() + sent_, buffered_ - sent_,
                                     MSG_DONTWAIT | MSG_NOSIGNAL);
                if (moved > 0) {
                    sent_ += static_cast<std::size_t>(moved);
                    continue;
                }
                if (moved < 0 && errno == EINTR) {
                    continue;
                }
                if (moved < 0 && errno == EAGAIN) {
                    return arm_poll(dst_, POLLOUT);
                }
                die("send", moved < 0 ? errno : EPIPE);
            }
            buffered_ = sent_ = 0;
            if (eof_) {
                return finish();
            }
            ssize_t moved = recv(src_, buffer_.data(), buffer_.size(), MSG_DONTWAIT);
            if (moved > 0) {
                buffered_ = static_cast<std::size_t>(moved);
            } else if (moved == 0) {
                eof_ = true;
            } else if (errno == EAGAIN) {
                return arm_poll(src_, POLLIN);
            } else if (errno != EINTR) {
                die("recv", errno);
            }
        }
    }

    void on_completion(Tag tag, int res) {
        switch (tag) {
            case Tag::poll:
                if (res < 0) {
                    die("poll", -res);
                }
                return step();
            case Tag::splice_in:
                if (res > 0) {
                    in_pipe_ += static_cast<std::size_t>(res);
                } else if (res == 0) {
                    eof_ = true;
                } else if (res == -EAGAIN) {
                    return arm_poll(src_, POLLIN);
                } else if (res != -EINTR) {
                    die("uring splice src->pipe", -res);
                }
                return step();
            case Tag::splice_out:
                if (res > 0) {
                    in_pipe_ -= static_cast<std::size_t>(res);
                } else if (res == -EAGAIN) {
                    return arm_poll(dst_, POLLOUT);
                } else if (res != -EINTR) {
                    die("uring splice pipe->dst", res < 0 ? -res : EPIPE);
                }
                return step();
        }
    }

    Mode mode_;
    int src_;
    int dst_;
    int pipe_read_ = -1;
    int pipe_write_ = -1;
    io_uring ring_{};
    std::size_t in_pipe_ = 0;
    bool eof_ = false;
    bool done_ = false;
    std::vector<char> buffer_;
    std::size_t buffered_ = 0;
    std::size_t sent_ = 0;
};

struct Result {
    double wall = 0;        // seconds
    double relay_cpu = 0;   // seconds: process - writer - reader - sampler
    double relay_self = 0;  // seconds: the relay thread's own RUSAGE_THREAD
    int peak_threads = 0;
};

void write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        ssize_t written = write(fd, data, size);
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("write", errno);
        }
        data += written;
        size -= static_cast<std::size_t>(written);
    }
}

Result run_once(Mode mode, Workload workload, std::uint64_t bulk_bytes, std::uint64_t messages) {
    // Plain variables, not structured bindings: lambdas below capture them (clang 14 cannot
    // capture a structured binding).
    auto writer_pair = tcp_pair();
    auto reader_pair = tcp_pair();
    auto& writer_fd = writer_pair.first;
    auto& relay_src = writer_pair.second;
    auto& relay_dst = reader_pair.first;
    auto& reader_fd = reader_pair.second;
    set_nonblocking(relay_src);
    set_nonblocking(relay_dst);
    int ping = eventfd(0, EFD_CLOEXEC);  // reader -> writer: "got the previous message"
    if (ping < 0) {
        die("eventfd", errno);
    }

    std::latch ready(5);  // writer, reader, sampler, relay, main
    std::latch measured(1);
    std::atomic<bool> sampling{true};
    std::atomic<int> peak{0};
    double writer_cpu = 0;
    double reader_cpu = 0;
    double sampler_cpu = 0;
    double relay_self = 0;

    std::thread relay_thread([&] {
        Relay relay(mode, relay_src, relay_dst);  // ring and io-wq belong to this thread
        ready.arrive_and_wait();
        double start = cpu_now(RUSAGE_THREAD);
        relay.run();
        relay_self = cpu_now(RUSAGE_THREAD) - start;
        measured.wait();  // tear the ring down only after main took its sample
    });
    std::thread writer([&] {
        std::vector<char> data(workload == Workload::bulk ? kWriteSize : kMessageSize, 'x');
        ready.arrive_and_wait();
        double start = cpu_now(RUSAGE_THREAD);
        if (workload == Workload::bulk) {
            for (std::uint64_t left = bulk_bytes; left > 0;) {
                std::size_t size =
                    static_cast<std::size_t>(std::min<std::uint64_t>(left, kWriteSize));
                write_all(writer_fd, data.data(), size);
                left -= size;
            }
        } else {
            for (std::uint64_t i = 0; i < messages; ++i) {
                std::memcpy(data.data(), &i, sizeof(i));
                write_all(writer_fd, data.data(), kMessageSize);
                std::uint64_t token;
                if (read(ping, &token, sizeof(token)) != sizeof(token)) {
                    die("eventfd read", errno);
                }
            }
        }
        shutdown(writer_fd, SHUT_WR);
        writer_cpu = cpu_now(RUSAGE_THREAD) - start;
    });
    std::thread reader([&] {
        std::vector<char> data(workload == Workload::bulk ? kWriteSize : kMessageSize);
        ready.arrive_and_wait();
        double start = cpu_now(RUSAGE_THREAD);
        std::uint64_t total = 0;
        if (workload == Workload::bulk) {
            for (;;) {
                ssize_t got = read(reader_fd, data.data(), data.size());
                if (got < 0 && errno == EINTR) {
                    continue;
                }
                if (got < 0) {
                    die("read", errno);
                }
                if (got == 0) {
                    break;
                }
                total += static_cast<std::uint64_t>(got);
            }
            if (total != bulk_bytes) {
                fmt::print(stderr, "splice_modes: bulk got {} of {} bytes\n", total, bulk_bytes);
                std::exit(1);
            }
        } else {
            for (std::uint64_t i = 0; i < messages; ++i) {
                std::size_t have = 0;
                while (have < kMessageSize) {
                    ssize_t got = read(reader_fd, data.data() + have, kMessageSize - have);
                    if (got <= 0) {
                        if (got < 0 && errno == EINTR) {
                            continue;
                        }
                        die("read message", got < 0 ? errno : EPIPE);
                    }
                    have += static_cast<std::size_t>(got);
                }
                std::uint64_t index;
                std::memcpy(&index, data.data(), sizeof(index));
                if (index != i) {
                    fmt::print(stderr, "splice_modes: message {} arrived as {}\n", i, index);
                    std::exit(1);
                }
                std::uint64_t token = 1;
                if (write(ping, &token, sizeof(token)) != sizeof(token)) {
                    die("eventfd write", errno);
                }
            }
            char tail;
            if (read(reader_fd, &tail, 1) != 0) {
                die("expected EOF", EPROTO);
            }
        }
        reader_cpu = cpu_now(RUSAGE_THREAD) - start;
    });
    std::thread sampler([&] {
        ready.arrive_and_wait();
        double start = cpu_now(RUSAGE_THREAD);
        while (sampling.load(std::memory_order_relaxed)) {
            peak.store(std::max(peak.load(), count_threads()));
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        peak.store(std::max(peak.load(), count_threads()));
        sampler_cpu = cpu_now(RUSAGE_THREAD) - start;
    });

    double process_start = cpu_now(RUSAGE_SELF);
    auto wall_start = std::chrono::steady_clock::now();
    ready.arrive_and_wait();
    writer.join();
    reader.join();
    auto wall_end = std::chrono::steady_clock::now();
    sampling = false;
    sampler.join();
    double process_cpu = cpu_now(RUSAGE_SELF) - process_start;
    measured.count_down();
    relay_thread.join();

    for (int fd : {writer_fd, relay_src, relay_dst, reader_fd, ping}) {
        close(fd);
    }
    Result result;
    result.wall = std::chrono::duration<double>(wall_end - wall_start).count();
    result.relay_cpu = process_cpu - writer_cpu - reader_cpu - sampler_cpu;
    result.relay_self = relay_self;
    result.peak_threads = peak.load();
    return result;
}

template <typename F>
double median(const std::vector<Result>& results, F field) {
    std::vector<double> values;
    for (const Result& result : results) {
        values.push_back(static_cast<double>(field(result)));
    }
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--quick") {
            quick = true;
        } else {
            fmt::print(stderr, "usage: splice_modes [--quick]\n");
            return 2;
        }
    }
    const std::uint64_t bulk_bytes = quick ? (256ULL << 20) : (2ULL << 30);
    const std::uint64_t messages = quick ? 20'000 : 200'000;
    const double gib = static_cast<double>(bulk_bytes) / (1ULL << 30);
    const Mode modes[] = {Mode::direct_splice, Mode::uring_splice, Mode::copy};

    fmt::print("splice_modes: bulk {} MiB in {} KiB writes; small {} x {} B ping-pong; {} runs\n",
               bulk_bytes >> 20, kWriteSize >> 10, messages, kMessageSize, kRepeats);
    fmt::print("cpus {}, pipe = kernel default, splice chunk {} KiB, copy buffer {} KiB\n",
               std::thread::hardware_concurrency(), kSpliceChunk >> 10, kCopyBuffer >> 10);
    fmt::print("threads: {} = main+writer+reader+sampler+relay; more = io-wq workers\n\n",
               kBaseThreads);

    std::map<std::pair<int, int>, std::vector<Result>> all;
    for (Workload workload : {Workload::bulk, Workload::small}) {
        for (int rep = 0; rep < kRepeats; ++rep) {
            for (Mode mode : modes) {
                Result r = run_once(mode, workload, bulk_bytes, messages);
                all[{static_cast<int>(workload), static_cast<int>(mode)}].push_back(r);
                if (workload == Workload::bulk) {
                    fmt::print(
                        "run bulk  {:<15} #{}: {:7.3f} s {:8.0f} MiB/s relay cpu {:6.3f} s"
                        " (relay thread {:6.3f}) peak threads {}\n",
                        mode_name(mode), rep + 1, r.wall,
                        static_cast<double>(bulk_bytes >> 20) / r.wall, r.relay_cpu, r.relay_self,
                        r.peak_threads);
                } else {
                    fmt::print(
                        "run small {:<15} #{}: {:7.3f} s {:8.0f} msg/s relay cpu {:6.3f} s"
                        " (relay thread {:6.3f}) peak threads {}\n",
                        mode_name(mode), rep + 1, r.wall, static_cast<double>(messages) / r.wall,
                        r.relay_cpu, r.relay_self, r.peak_threads);
                }
                std::fflush(stdout);
            }
        }
    }

    auto wall = [](const Result& r) { return r.wall; };
    auto cpu = [](const Result& r) { return r.relay_cpu; };
    auto self = [](const Result& r) { return r.relay_self; };
    auto threads = [](const Result& r) { return r.peak_threads; };

    fmt::print("\nmedians, bulk ({} MiB)\n", bulk_bytes >> 20);
    fmt::print("{:<15} {:>8} {:>9} {:>12} {:>15} {:>14} {:>12}\n", "mode", "wall s", "MiB/s",
               "relay cpu s", "relay cpu s/GiB", "relay thread s", "peak threads");
    for (Mode mode : modes) {
        const auto& results = all[{static_cast<int>(Workload::bulk), static_cast<int>(mode)}];
        double w = median(results, wall);
        double c = median(results, cpu);
        fmt::print("{:<15} {:8.3f} {:9.0f} {:12.3f} {:15.3f} {:14.3f} {:12.0f}\n", mode_name(mode),
                   w, static_cast<double>(bulk_bytes >> 20) / w, c, c / gib, median(results, self),
                   median(results, threads));
    }
    fmt::print("\nmedians, small ({} x {} B)\n", messages, kMessageSize);
    fmt::print("{:<15} {:>8} {:>9} {:>8} {:>12} {:>14} {:>14} {:>12}\n", "mode", "wall s", "msg/s",
               "us/msg", "relay cpu s", "relay cpu us/msg", "relay thread s", "peak threads");
    for (Mode mode : modes) {
        const auto& results = all[{static_cast<int>(Workload::small), static_cast<int>(mode)}];
        double w = median(results, wall);
        double c = median(results, cpu);
        double n = static_cast<double>(messages);
        fmt::print("{:<15} {:8.3f} {:9.0f} {:8.2f} {:12.3f} {:16.2f} {:14.3f} {:12.0f}\n",
                   mode_name(mode), w, n / w, w / n * 1e6, c, c / n * 1e6, median(results, self),
                   median(results, threads));
    }
    return 0;
}
