// SPDX-License-Identifier: MIT
// Privilege drop: started as root with global.user, ringlb serves as that user with no
// capability beyond CAP_SYS_RESOURCE; started as root without it, it warns.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// The value of a "Key:\t..." line of /proc/PID/task/TID/status.
std::string status_field(const std::string& path, const std::string& key) {
    std::ifstream status(path);
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(key + ":", 0) == 0) {
            return line.substr(key.size() + 1);
        }
    }
    return {};
}

}  // namespace

TEST_CASE("with user = \"nobody\" every thread runs as nobody and the relay still works") {
    require_root("switching to user nobody");
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()}).global("user = \"nobody\"").text());
    lb.process->wait_for_line(R"(dropped privileges: user=nobody)", 5s);

    const std::string task_dir = "/proc/" + std::to_string(lb.process->pid()) + "/task";
    std::size_t tasks = 0;
    for (const auto& task : std::filesystem::directory_iterator(task_dir)) {
        const std::string status = task.path().string() + "/status";
        INFO(status);
        CHECK(status_field(status, "Uid") == "\t65534\t65534\t65534\t65534");
        CHECK(status_field(status, "Gid") == "\t65534\t65534\t65534\t65534");
        const unsigned long long effective =
            std::stoull(status_field(status, "CapEff"), nullptr, 16);
        CHECK((effective & ~(1ULL << 24)) == 0);  // at most CAP_SYS_RESOURCE (bit 24)
        ++tasks;
    }
    CHECK(tasks >= 3);  // main + 2 shards

    ringlb::UniqueFd fd = connect_to(lb.port);
    send_all(fd.get(), "still serving", deadline_in(5s));
    CHECK(read_exact(fd.get(), 13, deadline_in(5s)) == "still serving");
}

TEST_CASE("started as root without global.user ringlb warns that it keeps root") {
    require_root("switching to user nobody");
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()}).text());
    CHECK(!lb.process->find_lines(R"(warn .*running as root: set global\.user)").empty());
}
