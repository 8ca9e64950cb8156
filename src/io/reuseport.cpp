// SPDX-License-Identifier: MIT
// The reuseport steering program: SO_ATTACH_REUSEPORT_CBPF with "load random (or CPU); modulo
// the group's size; return it" (the return value indexes the group's sockets in the order
// they joined it; an index out of range falls back to the hash).
#include "ringlb/io/reuseport.hpp"

#include <linux/filter.h>
#include <sys/socket.h>

#include <cerrno>

namespace ringlb {

int steer_reuseport_group(int fd, SteerBy by, unsigned sockets) noexcept {
    if (sockets == 0) {
        return -EINVAL;
    }
    const auto ancillary = static_cast<__u32>(SKF_AD_OFF) +
                           static_cast<__u32>(by == SteerBy::cpu ? SKF_AD_CPU : SKF_AD_RANDOM);
    sock_filter code[] = {
        {BPF_LD | BPF_W | BPF_ABS, 0, 0, ancillary},
        {BPF_ALU | BPF_MOD | BPF_K, 0, 0, sockets},
        {BPF_RET | BPF_A, 0, 0, 0},
    };
    sock_fprog program{static_cast<unsigned short>(sizeof(code) / sizeof(code[0])), code};
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof(program)) != 0) {
        return -errno;
    }
    return 0;
}

}  // namespace ringlb
