// SPDX-License-Identifier: MIT
// The non-blocking socket steps every control-thread probe takes (health and agent checks):
// connect, write a request in full, read a reply, each stopping where poll(2) must wait.
// Private to src/control/.
#pragma once

#include <cstddef>
#include <string_view>

#include "ringlb/base/socket_address.hpp"

namespace ringlb {

// What a step came to: done, wait for poll, the peer closed or reset (peer_gone), or failed
// (`error`: the errno).
struct ProbeStep final {
    enum class Result { done, wait, peer_gone, failed };
    Result result = Result::done;
    int error = 0;
};

// connect(2) of the non-blocking `fd`: done when connected at once, wait while in progress.
[[nodiscard]] ProbeStep start_connect(int fd, const SocketAddress& address) noexcept;
// A connecting `fd` on which poll reported `revents`: done, wait, or failed with SO_ERROR.
[[nodiscard]] ProbeStep finish_connect(int fd, short revents) noexcept;
// Writes `data` from `written` on (advancing it): done once all is out, wait while the
// socket is full, peer_gone on EPIPE or ECONNRESET.
[[nodiscard]] ProbeStep write_rest(int fd, std::string_view data, std::size_t& written) noexcept;
// One recv(2) into buffer[received, capacity) (advancing `received`): done when bytes came,
// wait when none are there, peer_gone on EOF or a reset. `received` < `capacity`.
[[nodiscard]] ProbeStep read_once(int fd, char* buffer, std::size_t capacity,
                                  std::size_t& received) noexcept;

}  // namespace ringlb
