// SPDX-License-Identifier: MIT
// The access log's record helpers, its shard-to-writer rings and its writer thread.
#include "ringlb/access/access_log.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <system_error>

#include "ringlb/base/clock.hpp"
#include "ringlb/base/log.hpp"

namespace ringlb {

namespace {

constexpr int kWakeIntervalMs = 50;
constexpr std::size_t kFlushThreshold = 64 * 1024;  // bytes gathered before one write(2)
constexpr int kFileFlags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC;
constexpr mode_t kFileMode = 0640;

// Copies text into a fixed array, cutting at a UTF-8 character boundary so a truncated name
// is still valid text, and always NUL-terminates.
void copy_truncated(std::string_view text, char* out, std::size_t size) noexcept {
    std::size_t length = std::min(text.size(), size - 1);
    if (length < text.size()) {
        while (length > 0 && (static_cast<unsigned char>(text[length]) & 0xC0) == 0x80) {
            --length;  // text[length] continues a character that would be cut in half
        }
    }
    std::memcpy(out, text.data(), length);
    out[length] = '\0';
}

// Writes "a.b.c.d:port" or "[v6]:port" (or "-" for anything else) into out, NUL-terminated;
// returns the length. Never allocates.
std::size_t format_address(const SocketAddress& address, char* out, std::size_t size) noexcept {
    char host[INET6_ADDRSTRLEN] = {};
    int length = -1;
    if (address.family() == AF_INET) {
        const auto* in4 = reinterpret_cast<const sockaddr_in*>(address.data());
        if (inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host)) != nullptr) {
            length = std::snprintf(out, size, "%s:%u", host, address.port());
        }
    } else if (address.family() == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address.data());
        if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)) != nullptr) {
            length = std::snprintf(out, size, "[%s]:%u", host, address.port());
        }
    }
    if (length < 0) {
        length = std::snprintf(out, size, "-");
    }
    return std::min(static_cast<std::size_t>(length), size - 1);
}

std::string_view bounded(const char* chars, std::size_t size) noexcept {
    return {chars, ::strnlen(chars, size)};
}

bool needs_quoting(std::string_view value) noexcept {
    if (value.empty()) {
        return true;
    }
    return std::any_of(value.begin(), value.end(), [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte <= 0x20 || byte == 0x7F || c == '"' || c == '=' || c == '\\';
    });
}

void append(fmt::memory_buffer& out, std::string_view text) {
    out.append(text.data(), text.data() + text.size());
}

// A logfmt value: bare when it can be, else quoted with \" \\ \n \r \t and \xHH escapes.
void append_value(fmt::memory_buffer& out, std::string_view value) {
    if (!needs_quoting(value)) {
        append(out, value);
        return;
    }
    out.push_back('"');
    for (char c : value) {
        auto byte = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                append(out, "\\\"");
                break;
            case '\\':
                append(out, "\\\\");
                break;
            case '\n':
                append(out, "\\n");
                break;
            case '\r':
                append(out, "\\r");
                break;
            case '\t':
                append(out, "\\t");
                break;
            default:
                if (byte < 0x20 || byte == 0x7F) {
                    fmt::format_to(std::back_inserter(out), "\\x{:02x}", byte);
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
}

void append_timestamp(fmt::memory_buffer& out, std::int64_t ns) {
    constexpr std::int64_t kNsPerSecond = 1'000'000'000;
    std::int64_t seconds = ns / kNsPerSecond;
    std::int64_t remainder = ns % kNsPerSecond;
    if (remainder < 0) {
        remainder += kNsPerSecond;
        --seconds;
    }
    auto time = static_cast<time_t>(seconds);
    tm utc{};
    if (gmtime_r(&time, &utc) == nullptr) {
        out.push_back('-');
        return;
    }
    fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                   utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                   utc.tm_sec, remainder / 1'000'000);
}

std::size_t round_up_to_power_of_two(std::size_t value) noexcept {
    std::size_t result = 1;
    while (result < value && result <= std::numeric_limits<std::size_t>::max() / 2) {
        result *= 2;
    }
    return result;
}

// Writes all of data to fd, riding out EINTR, short writes and a non-blocking fd that is
// briefly full. Returns false when bytes were lost.
bool write_all(int fd, const char* data, std::size_t length) noexcept {
    while (length > 0) {
        ssize_t written = ::write(fd, data, length);
        if (written > 0) {
            data += written;
            length -= static_cast<std::size_t>(written);
            continue;
        }
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd writable{fd, POLLOUT, 0};
            if (::poll(&writable, 1, 1000) > 0) {
                continue;
            }
        }
        return false;
    }
    return true;
}

// Writes whole lines to stderr, which the log lines of every thread share: a pipe or a
// socket (a terminal, journald) keeps a write(2) of at most PIPE_BUF bytes in one piece, so
// each write carries whole lines up to that size and a log line can only fall between them.
// A single line longer than PIPE_BUF goes out on its own.
bool write_whole_lines(int fd, const char* data, std::size_t length) noexcept {
    while (length > 0) {
        std::string_view rest(data, length);
        std::size_t chunk = length;
        if (chunk > PIPE_BUF) {
            std::size_t last_newline = rest.substr(0, PIPE_BUF).rfind('\n');
            chunk = last_newline != std::string_view::npos
                        ? last_newline + 1
                        : std::min(rest.find('\n'), length - 1) + 1;
        }
        if (!write_all(fd, data, chunk)) {
            return false;
        }
        data += chunk;
        length -= chunk;
    }
    return true;
}

}  // namespace

void AccessRecord::set_listener(std::string_view name) noexcept {
    copy_truncated(name, listener, sizeof(listener));
}

void AccessRecord::set_backend(std::string_view name) noexcept {
    copy_truncated(name, backend, sizeof(backend));
}

std::int64_t realtime_ns() noexcept {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

void format_access_record(const AccessRecord& record, fmt::memory_buffer& out) {
    char client[INET6_ADDRSTRLEN + 16];
    std::size_t client_length = format_address(record.client, client, sizeof(client));
    append_timestamp(out, record.end_time_ns);
    append(out, " client=");
    append(out, std::string_view(client, client_length));
    append(out, " listener=");
    append_value(out, bounded(record.listener, sizeof(record.listener)));
    append(out, " backend=");
    append_value(out, bounded(record.backend, sizeof(record.backend)));
    fmt::format_to(std::back_inserter(out),
                   " bytes_in={} bytes_out={} duration_ms={} end=", record.bytes_in,
                   record.bytes_out, record.duration_ms);
    append_value(out, record.interim ? std::string_view("open") : termination_name(record.ending));
    out.push_back('\n');
}

// ---- AccessLogBuffer ----

AccessLogBuffer::AccessLogBuffer(std::size_t capacity)
    : slots_(std::make_unique<AccessRecord[]>(round_up_to_power_of_two(capacity))),
      mask_(round_up_to_power_of_two(capacity) - 1) {}

bool AccessLogBuffer::push(const AccessRecord& record) noexcept {
    std::uint64_t write = write_index_.load(std::memory_order_relaxed);
    if (write - cached_read_index_ > mask_) {
        // Acquire: the consumer finished copying the slot out before it published the index.
        cached_read_index_ = read_index_.load(std::memory_order_acquire);
        if (write - cached_read_index_ > mask_) {
            // Only this thread writes the counter, so a plain load/store pair is enough.
            dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            return false;
        }
    }
    slots_[write & mask_] = record;
    write_index_.store(write + 1, std::memory_order_release);  // publishes the slot's bytes
    return true;
}

bool AccessLogBuffer::pop(AccessRecord& out) noexcept {
    std::uint64_t read = read_index_.load(std::memory_order_relaxed);
    if (read == cached_write_index_) {
        cached_write_index_ = write_index_.load(std::memory_order_acquire);
        if (read == cached_write_index_) {
            return false;
        }
    }
    out = slots_[read & mask_];
    read_index_.store(read + 1, std::memory_order_release);  // the slot may be reused now
    return true;
}

// ---- AccessLogWriter ----

int AccessLogWriter::Destination::fd() const noexcept {
    return file.valid() ? file.get() : STDERR_FILENO;
}

AccessLogWriter::AccessLogWriter(const std::vector<std::string>& destinations) {
    for (const auto& name : destinations) {
        add_destination(name);
    }
    wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_fd_) {
        throw std::system_error(errno, std::generic_category(), "access log: eventfd");
    }
}

std::uint16_t AccessLogWriter::add_destination(const std::string& name) {
    if (name.empty() || name == "off") {
        throw std::invalid_argument(
            fmt::format("access log: \"{}\" is not a destination (stderr or a path)", name));
    }
    if (auto found = find_destination(name)) {
        return *found;
    }
    // Opened without the lock: the writer goes on writing meanwhile. Only one thread adds.
    UniqueFd file;
    if (name != "stderr") {
        file.reset(::open(name.c_str(), kFileFlags, kFileMode));
        if (!file) {
            throw std::system_error(errno, std::generic_category(),
                                    fmt::format("access log {}: cannot open", name));
        }
    }
    std::lock_guard lock(mutex_);
    auto free_slot = std::find_if(destinations_.begin(), destinations_.end(),
                                  [](const Destination& slot) { return slot.name.empty(); });
    if (free_slot != destinations_.end()) {
        free_slot->name = name;
        free_slot->file = std::move(file);
        return static_cast<std::uint16_t>(free_slot - destinations_.begin());
    }
    if (destinations_.size() > std::numeric_limits<std::uint16_t>::max()) {
        throw std::invalid_argument("access log: more than 65535 destinations");
    }
    destinations_.push_back(Destination{name, std::move(file), fmt::memory_buffer()});
    return static_cast<std::uint16_t>(destinations_.size() - 1);
}

std::vector<std::string> AccessLogWriter::keep_only(const std::vector<std::string>& names) {
    std::vector<std::string> closed;
    std::lock_guard lock(mutex_);
    for (const auto& destination : destinations_) {
        if (!destination.name.empty() &&
            std::find(names.begin(), names.end(), destination.name) == names.end()) {
            closed.push_back(destination.name);
        }
    }
    if (closed.empty()) {
        return closed;
    }
    // Whatever is buffered was pushed while its destination was named: write it first.
    drain_all();
    for (auto& destination : destinations_) {
        if (std::find(closed.begin(), closed.end(), destination.name) != closed.end()) {
            destination.name.clear();
            destination.file.reset();
        }
    }
    return closed;
}

std::vector<std::string> AccessLogWriter::destinations() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> names;
    for (const auto& destination : destinations_) {
        names.push_back(destination.name);
    }
    return names;
}

AccessLogWriter::~AccessLogWriter() {
    stop();
}

AccessLogBuffer& AccessLogWriter::add_buffer(std::size_t capacity) {
    if (started_) {
        throw std::logic_error("access log: add_buffer() after start()");
    }
    buffers_.push_back(std::make_unique<AccessLogBuffer>(capacity));
    return *buffers_.back();
}

void AccessLogWriter::start() {
    if (started_ || stopped_) {
        return;
    }
    thread_ = std::thread([this] { run(); });
    started_ = true;
}

void AccessLogWriter::request_reopen() noexcept {
    reopen_requested_.store(true, std::memory_order_release);
    wake();
}

void AccessLogWriter::stop() noexcept {
    if (stopped_) {
        return;
    }
    stopped_ = true;
    if (!thread_.joinable()) {
        // Never started: the buffers still hold whatever was pushed; write it here.
        std::lock_guard lock(mutex_);
        drain_all();
        report_drops(true);
        return;
    }
    stop_requested_.store(true, std::memory_order_release);
    wake();
    try {
        thread_.join();
    } catch (const std::system_error& error) {
        log_error("access log: cannot join the writer thread: {}", error.what());
    }
}

std::optional<std::uint16_t> AccessLogWriter::find_destination(
    std::string_view destination) const noexcept {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < destinations_.size(); ++i) {
        if (destinations_[i].name == destination) {
            return static_cast<std::uint16_t>(i);
        }
    }
    return std::nullopt;
}

std::uint64_t AccessLogWriter::dropped() const noexcept {
    std::uint64_t total = misrouted_.load(std::memory_order_relaxed);
    for (const auto& buffer : buffers_) {
        total += buffer->dropped();
    }
    return total;
}

void AccessLogWriter::wake() noexcept {
    std::uint64_t one = 1;
    if (::write(wake_fd_.get(), &one, sizeof(one)) < 0) {
        // EAGAIN: the counter is already non-zero, so the writer is woken anyway.
    }
}

void AccessLogWriter::run() noexcept {
    pthread_setname_np(pthread_self(), "ringlb-access");
    for (;;) {
        pollfd woken{wake_fd_.get(), POLLIN, 0};
        if (::poll(&woken, 1, kWakeIntervalMs) > 0) {
            std::uint64_t count = 0;
            if (::read(wake_fd_.get(), &count, sizeof(count)) < 0) {
                // EAGAIN: another wake-up was consumed already; nothing to do.
            }
        }
        // Read before draining: every record pushed before stop() was called is then
        // visible to the drain below, which is the last one.
        bool stopping = stop_requested_.load(std::memory_order_acquire);
        std::lock_guard lock(mutex_);
        if (reopen_requested_.exchange(false, std::memory_order_acq_rel)) {
            reopen_files();
        }
        drain_all();
        report_drops(stopping);
        if (stopping) {
            return;
        }
    }
}

void AccessLogWriter::drain_all() noexcept {
    try {
        AccessRecord record;
        std::uint64_t lines = 0;
        for (auto& buffer : buffers_) {
            while (buffer->pop(record)) {
                if (record.destination >= destinations_.size() ||
                    destinations_[record.destination].name.empty()) {
                    misrouted_.fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                Destination& destination = destinations_[record.destination];
                format_access_record(record, destination.pending);
                ++lines;
                if (destination.pending.size() >= kFlushThreshold) {
                    flush(destination);
                }
            }
        }
        for (auto& destination : destinations_) {
            flush(destination);
        }
        lines_written_.fetch_add(lines, std::memory_order_release);
    } catch (const std::exception& error) {
        // Only allocation can fail here; the lines gathered so far are lost, nothing else.
        log_error("access log: {}", error.what());
        for (auto& destination : destinations_) {
            destination.pending.clear();
        }
    }
}

void AccessLogWriter::flush(Destination& destination) noexcept {
    if (destination.pending.size() == 0) {
        return;
    }
    bool written =
        destination.file
            ? write_all(destination.fd(), destination.pending.data(), destination.pending.size())
            : write_whole_lines(destination.fd(), destination.pending.data(),
                                destination.pending.size());
    if (!written) {
        int error = errno;
        write_errors_.fetch_add(1, std::memory_order_relaxed);
        std::uint64_t suppressed = 0;
        if (write_warning_.allow(monotonic_ns(), suppressed)) {
            log_warn("access log {}: write failed, lines lost: {} ({} more failures not logged)",
                     destination.name, std::strerror(error), suppressed);
        }
    }
    destination.pending.clear();
}

void AccessLogWriter::reopen_files() noexcept {
    for (auto& destination : destinations_) {
        if (!destination.file) {
            continue;  // stderr is never reopened, a closed slot has nothing to reopen
        }
        flush(destination);
        UniqueFd reopened(::open(destination.name.c_str(), kFileFlags, kFileMode));
        if (!reopened) {
            log_warn("access log {}: cannot reopen, still writing to the old file: {}",
                     destination.name, std::strerror(errno));
            continue;
        }
        destination.file = std::move(reopened);
    }
    reopens_.fetch_add(1, std::memory_order_release);
}

void AccessLogWriter::report_drops(bool final) noexcept {
    std::uint64_t total = dropped();
    if (total == drops_reported_) {
        return;
    }
    std::uint64_t suppressed = 0;
    if (!drop_warning_.allow(monotonic_ns(), suppressed) && !final) {
        return;  // the next warning reports these too
    }
    log_warn("access log: {} records dropped (buffer full or unknown destination), {} in total",
             total - drops_reported_, total);
    drops_reported_ = total;
}

}  // namespace ringlb
