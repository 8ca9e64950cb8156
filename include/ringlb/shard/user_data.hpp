// SPDX-License-Identifier: MIT
// The layout of io_uring user_data: which request a completion belongs to.
#pragma once

#include <cstdint>

namespace ringlb {

// Bits 0-7 say what the request was; bits 8-39 say whose it is: a connection slot for the
// connection requests, a listener index for accepts; 0 for the shard's own requests. A
// hand-off also carries its generation in bits 40-63 (handoff_user_data).
enum class Op : std::uint8_t {
    accept,           // multishot accept on listener `index`
    connect,          // connect of slot `index` to its backend
    connect_timeout,  // the linked timeout guarding that connect
    client_in,        // poll: client readable (client -> backend direction can read)
    client_out,       // poll: client writable (backend -> client direction can write)
    backend_in,       // poll: backend readable
    backend_out,      // poll: backend writable
    cancel,           // an async cancel issued by slot `index` while it closes
    accept_cancel,    // the shard's cancel of listener `index`'s accept at stop
    wake,             // read on the shard's eventfd: another thread wants attention
    tick,             // the shard's periodic timer (idle timeouts, shutdown grace)
    accept_retry,     // timer before re-arming an accept that failed
    proxy_in,         // poll: client readable while its PROXY header is awaited
    proxy_timeout,    // the linked timeout bounding that wait (listener.proxy_timeout_ms)
    proxy_retry,      // short timer before looking again at an incomplete PROXY header
    hello_in,         // poll: the client sent (more of) its TLS ClientHello
    hello_timeout,    // the linked timeout bounding that wait (listener.tls_inspect_timeout_ms)
    client_recv,      // multishot receive from the client into the shard's buffer ring
    backend_recv,     // multishot receive from the backend into the shard's buffer ring
    client_send,      // send of a received buffer to the client
    backend_send,     // send of a received buffer to the backend
    upload_wait,      // timer: the client -> backend bandwidth limit has bytes again
    download_wait,    // timer: the backend -> client bandwidth limit has bytes again
    handoff,          // a client another shard passed on (IORING_OP_MSG_RING; res = its fd)
    handoff_sent,     // that message's completion at the sender (index = the client's fd,
                      // bits 40-63 = the receiving shard)
};

// Whether a completion of `op` brought bytes or a client (a readiness poll, a receive, an
// accept or a hand-off): how a shard tells that it serves concurrent traffic.
[[nodiscard]] constexpr bool is_arrival(Op op) noexcept {
    switch (op) {
        case Op::accept:
        case Op::client_in:
        case Op::backend_in:
        case Op::proxy_in:
        case Op::hello_in:
        case Op::client_recv:
        case Op::backend_recv:
        case Op::handoff:
            return true;
        default:
            return false;
    }
}

[[nodiscard]] constexpr std::uint64_t encode_user_data(Op op, std::uint32_t index) noexcept {
    return (static_cast<std::uint64_t>(index) << 8) | static_cast<std::uint8_t>(op);
}
// Op::handoff: the listener's index in the generation and the generation id's low 24 bits
// (user_data_generation reads bits 40-63, also the receiver of an Op::handoff_sent).
[[nodiscard]] constexpr std::uint64_t handoff_user_data(std::uint32_t listener,
                                                        std::uint64_t generation) noexcept {
    return ((generation & 0xffffff) << 40) | encode_user_data(Op::handoff, listener);
}
[[nodiscard]] constexpr std::uint64_t user_data_generation(std::uint64_t data) noexcept {
    return data >> 40;
}
[[nodiscard]] constexpr Op user_data_op(std::uint64_t data) noexcept {
    return static_cast<Op>(data & 0xff);
}
[[nodiscard]] constexpr std::uint32_t user_data_index(std::uint64_t data) noexcept {
    return static_cast<std::uint32_t>((data >> 8) & 0xffffffff);
}

}  // namespace ringlb
