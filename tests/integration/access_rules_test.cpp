// SPDX-License-Identifier: MIT
// listener.allow / listener.deny: denied clients are closed before any backend is contacted.
#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "admin_client.hpp"
#include "harness.hpp"
#include "owned_listener.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;
using ringlb::UniqueFd;

namespace {

struct ListenerSpec final {
    std::string name;
    std::string bind;
    std::string rules;  // allow/deny lines
};

// The given listeners plus a rule-free "probe", all on pool "p" with one backend, and the
// admin API on port 0.
std::string config(const std::vector<ListenerSpec>& listeners, const std::string& backend) {
    std::string text = "[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:0\"\n\n";
    for (const ListenerSpec& listener : listeners) {
        text += fmt::format("[[listener]]\nname = \"{}\"\nbind = \"{}\"\npool = \"p\"\n{}\n\n",
                            listener.name, listener.bind, listener.rules);
    }
    text += "[[listener]]\nname = \"probe\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\n";
    return text + "[[pool]]\nname = \"p\"\n" + backends_toml({backend});
}

// Polls the listener's "denied" rejections until they equal `expected` (bounded); returns the
// last value read.
double denied_count(const AdminClient& admin, const std::string& listener, double expected) {
    return wait_for_rejected(admin, listener, "denied", expected);
}

class Checker final {
  public:
    Checker(Ringlb& lb, OwnedListener& backend) : lb_(lb), backend_(backend) {}
    Checker(const Checker&) = delete;
    Checker& operator=(const Checker&) = delete;
    // The admitted connections end before ringlb is stopped.
    ~Checker() {
        clients_.clear();
        backend_.close_held();
    }

    // The client's bytes reach the backend, and the client is not closed.
    void admitted(const std::string& listener, const std::string& source,
                  const std::string& destination = "127.0.0.1") {
        INFO("client " << source << " on listener " << listener << " must be served");
        UniqueFd client = connect_from(source, destination, lb_.port_of(listener));
        const std::string marker = fmt::format("admitted #{} from {}", ++sequence_, source);
        send_all(client.get(), marker, deadline_in(2s));
        // Were an earlier, denied client's connection waiting at the backend, this would read
        // that one (its marker, or nothing) instead.
        CHECK(backend_.accept_and_read(marker.size(), deadline_in(3s)) == marker);
        const ReadResult open = read_until_close(client.get(), deadline_in(50ms));
        CHECK(open.timed_out);
        clients_.push_back(std::move(client));
    }

    // The client is closed without a byte, and (checked by the next admitted() or by
    // backend_untouched()) no connection reached the backend.
    void denied(const std::string& listener, const std::string& source,
                const std::string& destination = "127.0.0.1") {
        INFO("client " << source << " on listener " << listener << " must be closed");
        UniqueFd client = connect_from(source, destination, lb_.port_of(listener));
        send_all(client.get(), fmt::format("denied #{} from {}", ++sequence_, source),
                 deadline_in(2s));
        const ReadResult result = read_until_close(client.get(), deadline_in(2s));
        CHECK(result.closed());
        CHECK_FALSE(result.timed_out);
        CHECK(result.data.empty());
    }

    // Only the probe's connection, sent last, arrives: nothing from a denied client.
    void backend_untouched() {
        admitted("probe", "127.0.0.1");
        CHECK(backend_.idle());
    }

  private:
    Ringlb& lb_;
    OwnedListener& backend_;
    int sequence_ = 0;
    std::vector<UniqueFd> clients_;
};

}  // namespace

TEST_CASE("allow: only clients inside an allow block are served") {
    OwnedListener backend;
    Ringlb lb = start_ringlb(
        config({{"in", "127.0.0.1:0", "allow = [\"127.0.0.2/32\"]"}}, backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    Checker check(lb, backend);

    check.denied("in", "127.0.0.1");
    check.admitted("in", "127.0.0.2");
    check.denied("in", "127.0.0.3");
    check.backend_untouched();
    CHECK(denied_count(AdminClient(admin_port(*lb.process)), "in", 2) == 2);
    CHECK(denied_count(AdminClient(admin_port(*lb.process)), "probe", 0) == 0);
}

TEST_CASE("deny: a client inside a deny block is closed before any backend is contacted") {
    OwnedListener backend;
    Ringlb lb = start_ringlb(
        config({{"in", "127.0.0.1:0", "deny = [\"127.0.0.3/32\"]"}}, backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    Checker check(lb, backend);

    check.denied("in", "127.0.0.3");
    check.admitted("in", "127.0.0.1");
    check.admitted("in", "127.0.0.2");
    check.denied("in", "127.0.0.3");
    check.backend_untouched();
    CHECK(denied_count(AdminClient(admin_port(*lb.process)), "in", 2) == 2);
}

TEST_CASE("deny wins over allow, whichever block is more specific") {
    OwnedListener backend;
    Ringlb lb = start_ringlb(config(
        {{"wide_allow", "127.0.0.1:0", "allow = [\"127.0.0.0/8\"]\ndeny = [\"127.0.0.3\"]"},
         {"wide_deny", "127.0.0.1:0", "allow = [\"127.0.0.3/32\"]\ndeny = [\"127.0.0.0/8\"]"}},
        backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    Checker check(lb, backend);

    check.denied("wide_allow", "127.0.0.3");
    check.admitted("wide_allow", "127.0.0.2");
    check.denied("wide_deny", "127.0.0.3");
    check.denied("wide_deny", "127.0.0.2");
    check.backend_untouched();
    const AdminClient admin(admin_port(*lb.process));
    CHECK(denied_count(admin, "wide_allow", 1) == 1);
    CHECK(denied_count(admin, "wide_deny", 2) == 2);
}

TEST_CASE("IPv6 blocks on an IPv6 listener") {
    OwnedListener backend;
    Ringlb lb = start_ringlb(config(
        {{"v6_deny", "[::1]:0", "deny = [\"::1/128\"]"},
         {"v6_allow", "[::1]:0", "allow = [\"::1\"]\ndeny = [\"2001:db8::/32\", \"127.0.0.0/8\"]"},
         {"v6_deny_wide", "[::1]:0", "deny = [\"::/0\"]"},
         // IPv4 blocks say nothing about an IPv6 client: it is outside this allow list.
         {"v4_blocks_only", "[::1]:0", "allow = [\"0.0.0.0/0\"]"}},
        backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    Checker check(lb, backend);

    check.denied("v6_deny", "::1", "::1");
    check.admitted("v6_allow", "::1", "::1");
    check.denied("v6_deny_wide", "::1", "::1");
    check.denied("v4_blocks_only", "::1", "::1");
    check.backend_untouched();
    const AdminClient admin(admin_port(*lb.process));
    CHECK(denied_count(admin, "v6_deny", 1) == 1);
    CHECK(denied_count(admin, "v6_allow", 0) == 0);
    CHECK(denied_count(admin, "v6_deny_wide", 1) == 1);
    CHECK(denied_count(admin, "v4_blocks_only", 1) == 1);
}

TEST_CASE("IPv4 clients match IPv4-mapped IPv6 blocks, and ::1 matches no IPv4 block") {
    OwnedListener backend;
    Ringlb lb = start_ringlb(config({{"mapped", "127.0.0.1:0", "deny = [\"::ffff:127.0.0.3/128\"]"},
                                     {"v4_other_v6", "127.0.0.1:0", "deny = [\"2001:db8::/32\"]"},
                                     {"v6", "[::1]:0", "deny = [\"0.0.0.0/0\"]"}},
                                    backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    Checker check(lb, backend);

    check.denied("mapped", "127.0.0.3");
    check.admitted("mapped", "127.0.0.2");
    check.admitted("v4_other_v6", "127.0.0.2");
    check.admitted("v6", "::1", "::1");
    check.backend_untouched();
    const AdminClient admin(admin_port(*lb.process));
    CHECK(denied_count(admin, "mapped", 1) == 1);
    CHECK(denied_count(admin, "v4_other_v6", 0) == 0);
    CHECK(denied_count(admin, "v6", 0) == 0);
}
