// SPDX-License-Identifier: MIT
// ringlb-seccomp-exec: runs a program under the seccomp filters systemd would build for the
// unit's SystemCallFilter=, RestrictAddressFamilies=, MemoryDenyWriteExecute=,
// RestrictNamespaces= and LockPersonality= (plus NoNewPrivileges= and UMask=), so that tests
// can run ringlb inside its service sandbox without systemd as PID 1.
//
// Usage: ringlb-seccomp-exec --syscalls FILE [--errno N | --kill] [--families F,F...]
//            [--deny-write-execute] [--restrict-namespaces] [--lock-personality]
//            [--umask OCTAL] -- PROGRAM [ARG...]
// FILE holds the allowed system call names, one per line (names this architecture does not
// have are skipped, as systemd skips them). Anything else gets errno N (systemd's
// SystemCallErrorNumber=), or with --kill ends the process with SIGSYS, which a test sees.
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& message) {
    std::fprintf(stderr, "ringlb-seccomp-exec: %s\n", message.c_str());
    std::exit(125);
}

void check(int result, const std::string& what) {
    if (result < 0) {
        die(what + ": " + std::strerror(-result));
    }
}

int family_number(const std::string& name) {
    if (name == "AF_UNIX") {
        return AF_UNIX;
    }
    if (name == "AF_INET") {
        return AF_INET;
    }
    if (name == "AF_INET6") {
        return AF_INET6;
    }
    if (name == "AF_NETLINK") {
        return AF_NETLINK;
    }
    if (name == "AF_PACKET") {
        return AF_PACKET;
    }
    die("unknown address family " + name);
}

struct Options {
    std::string syscalls_file;
    bool kill = false;
    int error_number = EPERM;
    std::set<int> families;
    bool restrict_families = false;
    bool deny_write_execute = false;
    bool restrict_namespaces = false;
    bool lock_personality = false;
    int umask_value = -1;
    std::vector<char*> command;
};

Options parse(int argc, char** argv) {
    Options options;
    int i = 1;
    auto value = [&](const char* flag) -> std::string {
        if (i + 1 >= argc) {
            die(std::string(flag) + " needs a value");
        }
        return argv[++i];
    };
    for (; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--") {
            ++i;
            break;
        }
        if (arg == "--syscalls") {
            options.syscalls_file = value("--syscalls");
        } else if (arg == "--errno") {
            options.error_number = std::atoi(value("--errno").c_str());
        } else if (arg == "--kill") {
            options.kill = true;
        } else if (arg == "--families") {
            options.restrict_families = true;
            std::string list = value("--families");
            for (std::size_t start = 0; start <= list.size();) {
                std::size_t comma = list.find(',', start);
                options.families.insert(family_number(list.substr(start, comma - start)));
                if (comma == std::string::npos) {
                    break;
                }
                start = comma + 1;
            }
        } else if (arg == "--deny-write-execute") {
            options.deny_write_execute = true;
        } else if (arg == "--restrict-namespaces") {
            options.restrict_namespaces = true;
        } else if (arg == "--lock-personality") {
            options.lock_personality = true;
        } else if (arg == "--umask") {
            options.umask_value =
                static_cast<int>(std::strtol(value("--umask").c_str(), nullptr, 8));
        } else {
            die("unknown option " + arg);
        }
    }
    for (; i < argc; ++i) {
        options.command.push_back(argv[i]);
    }
    if (options.syscalls_file.empty() || options.command.empty()) {
        die("usage: ringlb-seccomp-exec --syscalls FILE [options] -- PROGRAM [ARG...]");
    }
    options.command.push_back(nullptr);
    return options;
}

// A condition on system call argument `arg`: what libseccomp's SCMP_A0..SCMP_A5 macros build,
// without their C99 compound literals (which C++ compilers warn about).
scmp_arg_cmp arg_cmp(unsigned arg, scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) {
    scmp_arg_cmp cmp{};
    cmp.arg = arg;
    cmp.op = op;
    cmp.datum_a = a;
    cmp.datum_b = b;
    return cmp;
}

// Allows `name` when `allowed` has it: unconditionally, or only under `conditions` (each
// entry a separate rule: any one of them allows).
void allow(scmp_filter_ctx context, const std::set<std::string>& allowed, const char* name,
           const std::vector<std::vector<scmp_arg_cmp>>& conditions = {}) {
    if (allowed.count(name) == 0) {
        return;
    }
    const int number = seccomp_syscall_resolve_name(name);
    if (number == __NR_SCMP_ERROR) {
        return;
    }
    if (conditions.empty()) {
        check(seccomp_rule_add(context, SCMP_ACT_ALLOW, number, 0), std::string("allow ") + name);
        return;
    }
    for (const auto& rule : conditions) {
        check(seccomp_rule_add_array(context, SCMP_ACT_ALLOW, number,
                                     static_cast<unsigned>(rule.size()), rule.data()),
              std::string("allow ") + name + " conditionally");
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options options = parse(argc, argv);

    std::set<std::string> allowed;
    std::ifstream list(options.syscalls_file);
    if (!list) {
        die("cannot read " + options.syscalls_file);
    }
    for (std::string line; std::getline(list, line);) {
        if (!line.empty()) {
            allowed.insert(line);
        }
    }

    scmp_filter_ctx context =
        seccomp_init(options.kill ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ERRNO(options.error_number));
    if (context == nullptr) {
        die("seccomp_init failed");
    }
    // SystemCallArchitectures=native: the context has only the native architecture, and a
    // system call of another ABI is killed (libseccomp's default for a foreign architecture).

    // The system calls some setting narrows by argument get conditional rules below.
    std::set<std::string> conditional;
    if (options.restrict_families) {
        conditional.insert("socket");
    }
    if (options.deny_write_execute) {
        conditional.insert({"mmap", "mprotect", "pkey_mprotect", "shmat"});
    }
    if (options.restrict_namespaces) {
        conditional.insert({"clone", "clone3", "unshare", "setns"});
    }
    if (options.lock_personality) {
        conditional.insert("personality");
    }
    std::size_t added = 0;
    for (const std::string& name : allowed) {
        if (conditional.count(name) != 0) {
            continue;
        }
        const int number = seccomp_syscall_resolve_name(name.c_str());
        if (number == __NR_SCMP_ERROR) {
            continue;  // no such call on this architecture
        }
        // A pseudo number (a call another ABI has) is refused with -EDOM or -EINVAL: skip it.
        if (seccomp_rule_add(context, SCMP_ACT_ALLOW, number, 0) == 0) {
            ++added;
        }
    }
    if (added == 0) {
        die("no system call of " + options.syscalls_file + " exists here");
    }

    if (options.restrict_families) {
        // RestrictAddressFamilies=: socket() of another family gets EAFNOSUPPORT, as systemd
        // does it.
        std::vector<std::vector<scmp_arg_cmp>> rules;
        for (int family : options.families) {
            rules.push_back({arg_cmp(0, SCMP_CMP_EQ, static_cast<scmp_datum_t>(family))});
        }
        allow(context, allowed, "socket", rules);
        if (allowed.count("socket") != 0) {
            for (int family = 0; family < AF_MAX; ++family) {
                if (options.families.count(family) == 0) {
                    const scmp_arg_cmp same_family =
                        arg_cmp(0, SCMP_CMP_EQ, static_cast<scmp_datum_t>(family));
                    check(seccomp_rule_add_array(context, SCMP_ACT_ERRNO(EAFNOSUPPORT),
                                                 SCMP_SYS(socket), 1, &same_family),
                          "socket family rule");
                }
            }
        }
    }
    if (options.deny_write_execute) {
        // MemoryDenyWriteExecute=: no mapping both writable and executable, no making memory
        // executable later.
        allow(context, allowed, "mmap",
              {{arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)},
               {arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_WRITE, 0)}});
        allow(context, allowed, "mprotect", {{arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}});
        allow(context, allowed, "pkey_mprotect", {{arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}});
        allow(context, allowed, "shmat", {{arg_cmp(2, SCMP_CMP_MASKED_EQ, SHM_EXEC, 0)}});
    }
    if (options.restrict_namespaces) {
        // RestrictNamespaces=yes: no new namespaces and no joining one. clone3 passes its
        // flags in memory a filter cannot read, so systemd makes it ENOSYS and the C library
        // falls back to clone.
        constexpr scmp_datum_t kNamespaces = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                             CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                             CLONE_NEWNET | CLONE_NEWTIME;
        allow(context, allowed, "clone", {{arg_cmp(0, SCMP_CMP_MASKED_EQ, kNamespaces, 0)}});
        allow(context, allowed, "unshare", {{arg_cmp(0, SCMP_CMP_MASKED_EQ, kNamespaces, 0)}});
        if (allowed.count("clone3") != 0) {
            check(seccomp_rule_add(context, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");
        }
    }
    if (options.lock_personality) {
        // LockPersonality=: the personality may be read, not changed.
        allow(context, allowed, "personality",
              {{arg_cmp(0, SCMP_CMP_EQ, 0xffffffffU)}, {arg_cmp(0, SCMP_CMP_EQ, PER_LINUX)}});
    }

    if (options.umask_value >= 0) {
        ::umask(static_cast<mode_t>(options.umask_value));
    }
    // NoNewPrivileges=yes (also what lets an unprivileged process load a filter).
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        die(std::string("PR_SET_NO_NEW_PRIVS: ") + std::strerror(errno));
    }
    check(seccomp_load(context), "seccomp_load");
    seccomp_release(context);
    ::execv(options.command[0], options.command.data());
    // execve itself may be what the filter refuses.
    std::fprintf(stderr, "ringlb-seccomp-exec: exec %s: %s\n", options.command[0],
                 std::strerror(errno));
    return 126;
}
