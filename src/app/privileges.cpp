// SPDX-License-Identifier: MIT
// setgid/setuid with one capability kept, by raw capset(2): libcap is not a dependency.
#include "ringlb/app/privileges.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "ringlb/base/log.hpp"

namespace ringlb {

namespace {
void check(int result, const char* what) {
    if (result != 0) {
        throw std::system_error(errno, std::generic_category(), what);
    }
}

// Leaves CAP_SYS_RESOURCE, and CAP_NET_ADMIN when `net_admin`, permitted and effective if the
// process has them, nothing else. Returns the names of those kept ("" for none): some sandboxes
// withhold them even from root.
std::string keep_only(bool net_admin) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    check(static_cast<int>(syscall(SYS_capget, &header, data)), "capget");
    __user_cap_data_struct kept[_LINUX_CAPABILITY_U32S_3] = {};
    std::string names;
    auto keep = [&](int capability, const char* name) {
        const int index = CAP_TO_INDEX(capability);
        const __u32 mask = CAP_TO_MASK(capability);
        if ((data[index].permitted & mask) != 0) {
            kept[index].permitted |= mask;
            kept[index].effective |= mask;
            names += names.empty() ? name : std::string(",") + name;
        }
    };
    keep(CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE");
    if (net_admin) {
        keep(CAP_NET_ADMIN, "CAP_NET_ADMIN");  // SO_MARK on every new backend socket
    }
    check(static_cast<int>(syscall(SYS_capset, &header, kept)), "capset");
    return names;
}
}  // namespace

void drop_privileges(const config::GlobalConfig& global, bool keep_net_admin) {
    if (!global.user && !global.group) {
        if (geteuid() == 0) {
            log_warn(
                "running as root: set global.user (and global.group) to drop privileges "
                "after binding");
        }
        return;
    }
    if (geteuid() != 0) {
        const bool same_user = !global.user || geteuid() == global.uid;
        const bool same_group = !global.group || getegid() == global.gid;
        if (same_user && same_group) {
            return;  // already who the config asks for
        }
        throw std::system_error(EPERM, std::generic_category(),
                                "global.user/group need ringlb to be started as root");
    }
    // Keep the permitted set across setuid so that one capability can be kept afterwards.
    check(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)");
    const gid_t gid = global.gid;
    check(setgroups(1, &gid), "setgroups");
    check(setgid(gid), "setgid");
    if (global.user) {
        check(setuid(global.uid), "setuid");
    }
    const std::string kept = keep_only(keep_net_admin);
    check(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)");
    log_info("dropped privileges: user={} uid={} gid={} capabilities={}",
             global.user.value_or("root"), getuid(), getgid(), kept.empty() ? "none" : kept);
    if (kept.find("CAP_SYS_RESOURCE") == std::string::npos) {
        log_warn(
            "CAP_SYS_RESOURCE was not available to keep: pipes beyond the user's "
            "pipe-user-pages-soft quota fall back to small sizes");
    }
}

}  // namespace ringlb
