// SPDX-License-Identifier: MIT
// ProbeSocket: the life every control-thread probe shares (health and agent checks): a
// non-blocking connect, the request written in full, the reply read until it is judged, each
// step stopping where poll(2) must wait. Private to src/control/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ringlb/base/socket_address.hpp"
#include "ringlb/base/unique_fd.hpp"
#include "ringlb/pool/check_result.hpp"

namespace ringlb {

struct ProbeOutcome final {
    CheckResult result = CheckResult::passed;
    std::uint32_t detail = 0;  // errno for `error`, the HTTP status for `bad_status`
    std::string_view line;     // agent checks: the reply's line, valid until the next begin()
};

// How a failed connect (`error`, an errno) ends a probe: refused, connect_timeout or error.
[[nodiscard]] ProbeOutcome connect_failure(int error) noexcept;

// The state machine; a subclass says what is written (request_), where the reply goes
// (reply_, capacity_) and how it is judged.
class ProbeSocket {
  public:
    [[nodiscard]] bool in_flight() const noexcept { return static_cast<bool>(fd_); }
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    // What poll(2) should wait for: POLLOUT while connecting or writing, POLLIN while reading.
    [[nodiscard]] short events() const noexcept;
    // Connects `socket` (a fresh non-blocking TCP socket) to `address`; the outcome when the
    // probe ended at once.
    [[nodiscard]] std::optional<ProbeOutcome> begin(UniqueFd socket, const SocketAddress& address);
    // poll(2) reported `revents` on fd(): moves as far as the socket allows; the outcome once
    // the probe ended (its socket is closed then).
    [[nodiscard]] std::optional<ProbeOutcome> advance(short revents);
    // The probe's deadline passed: closes it.
    [[nodiscard]] ProbeOutcome expire() noexcept;
    // Closes a probe in flight without a result (its settings changed).
    void abandon() noexcept { fd_.reset(); }

  protected:
    ProbeSocket() = default;
    ProbeSocket(ProbeSocket&&) = default;  // moved with its Target, never copied
    ProbeSocket& operator=(ProbeSocket&&) = default;
    ~ProbeSocket() = default;

    // The request is out, or the peer closed or reset first (`peer_gone`, with its errno):
    // the outcome now, or nullopt to read the reply.
    [[nodiscard]] virtual std::optional<ProbeOutcome> written(bool peer_gone, int error) = 0;
    // The reply so far; `complete`: nothing more will come (closed, reset, or capacity_
    // bytes read). The outcome, or nullopt to read on (when not complete).
    [[nodiscard]] virtual std::optional<ProbeOutcome> judge(std::string_view reply,
                                                            bool complete) = 0;

    std::string request_;            // written in full after the connect
    std::unique_ptr<char[]> reply_;  // capacity_ bytes; may be null when written() never reads
    std::size_t capacity_ = 0;

  private:
    enum class Phase { connecting, writing, reading };
    [[nodiscard]] std::optional<ProbeOutcome> connected(int error, bool ready);
    [[nodiscard]] std::optional<ProbeOutcome> write_some();
    [[nodiscard]] std::optional<ProbeOutcome> read_some();
    [[nodiscard]] ProbeOutcome end(ProbeOutcome outcome) noexcept;

    UniqueFd fd_;
    Phase phase_ = Phase::connecting;
    std::size_t written_ = 0;
    std::size_t received_ = 0;
};

}  // namespace ringlb
