// SPDX-License-Identifier: MIT
// The loader's lookups in the system: the user and group databases, and files read whole.
#include "lookups.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "ringlb/base/unique_fd.hpp"

namespace ringlb::config::loader {

std::optional<std::pair<unsigned, unsigned>> lookup_user(const std::string& name) {
    std::array<char, 4096> buffer{};
    passwd entry{};
    passwd* found = nullptr;
    if (name.empty() ||
        getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr) {
        return std::nullopt;
    }
    return std::pair<unsigned, unsigned>{found->pw_uid, found->pw_gid};
}

std::optional<unsigned> lookup_group(const std::string& name) {
    std::array<char, 4096> buffer{};
    group entry{};
    group* found = nullptr;
    if (name.empty() ||
        getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr) {
        return std::nullopt;
    }
    return found->gr_gid;
}

std::string read_file(const std::string& path, std::string& text, std::size_t max_bytes,
                      bool regular_only) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0)));
    if (!fd) {
        return std::strerror(errno);
    }
    struct stat status {};
    if (regular_only && (::fstat(fd.get(), &status) != 0 || !S_ISREG(status.st_mode))) {
        return "not a regular file";
    }
    std::array<char, 65536> buffer;
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return std::strerror(errno);
        }
        if (n == 0) {
            return {};
        }
        if (text.size() + static_cast<std::size_t>(n) > max_bytes) {
            return fmt::format("file is larger than {} bytes", max_bytes);
        }
        text.append(buffer.data(), static_cast<std::size_t>(n));
    }
}

}  // namespace ringlb::config::loader
