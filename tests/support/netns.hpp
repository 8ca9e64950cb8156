// SPDX-License-Identifier: MIT
// A network namespace made by a test (lo up, deleted at the end), for what needs a network of
// its own: nft rules that drop packets, extra addresses, routes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ringlb::test {

class Process;

// Needs root and iproute2; nft() needs nftables. Construction throws HarnessError (a test
// failure with the reason) when the namespace cannot be made.
class NetNamespace final {
  public:
    // The name is "ringlb-TAG-PID", unique per test process.
    explicit NetNamespace(const std::string& tag);
    NetNamespace(const NetNamespace&) = delete;
    NetNamespace& operator=(const NetNamespace&) = delete;
    ~NetNamespace();

    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    // argv prefixed with "ip netns exec NAME": run in the namespace (ip execs it, so a
    // Process of it has the command's own pid).
    [[nodiscard]] std::vector<std::string> exec(std::vector<std::string> argv) const;
    // Runs a command in the namespace that must exit 0; returns its stdout.
    std::string run(std::vector<std::string> argv) const;
    // `nft ARGS...` in the namespace; returns its stdout.
    std::string nft(std::vector<std::string> args) const;
    // Drops (and counts) the TCP SYNs to `port` inside the namespace: connects to it hang as
    // behind a firewall that drops packets, until stop_dropping() removes the rule.
    void drop_syns_to(std::uint16_t port) const;
    void stop_dropping() const;
    // How many SYNs the rule has dropped so far.
    [[nodiscard]] std::uint64_t dropped_syns() const;
    // Runs `body` on a thread that has joined this namespace, so the harness's client helpers
    // (which connect to 127.0.0.1) reach what listens inside; rethrows what it threw.
    void run_inside(const std::function<void()>& body) const;

  private:
    std::string name_;
    mutable bool has_drop_chain_ = false;
};

// A greet backend (as start_greet_backend) listening on 127.0.0.1:PORT inside `ns`, once it
// says so.
[[nodiscard]] std::unique_ptr<Process> start_greet_backend_in(const NetNamespace& ns,
                                                              std::uint16_t port,
                                                              const std::string& name);

}  // namespace ringlb::test
