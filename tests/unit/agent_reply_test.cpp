// SPDX-License-Identifier: MIT
// Agent check replies without I/O: finding the line, the words HAProxy's agents write and how
// they combine with the agent's earlier verdict; the weight share a live set gives.
#include <catch2/catch.hpp>

#include <string>

#include "ringlb/health/agent_reply.hpp"
#include "ringlb/pool/eligibility.hpp"

using ringlb::agent_line;
using ringlb::AgentVerdict;
using ringlb::parse_agent_reply;
using ringlb::config::BackendState;

namespace {

AgentVerdict verdict_of(std::string_view line, AgentVerdict before = {}) {
    return parse_agent_reply(line, before).verdict;
}

}  // namespace

TEST_CASE("agent_line reads up to the first line end, or all once the agent closed") {
    CHECK(agent_line("up\n", false) == "up");
    CHECK(agent_line("75% drain\r\nignored\n", false) == "75% drain");
    CHECK_FALSE(agent_line("75% dr", false).has_value());
    CHECK(agent_line("75% drain", true) == "75% drain");
    CHECK(agent_line("", true) == "");
    CHECK(agent_line(std::string(ringlb::kMaxAgentReply, 'x'), false) == "");
}

TEST_CASE("each word sets its part of the verdict, case-insensitively") {
    CHECK(verdict_of("down") == AgentVerdict{100, BackendState::active, true});
    CHECK(verdict_of("FAIL") == AgentVerdict{100, BackendState::active, true});
    CHECK(verdict_of("stopped") == AgentVerdict{100, BackendState::active, true});
    CHECK(verdict_of("Drain") == AgentVerdict{100, BackendState::drain, false});
    CHECK(verdict_of("maint") == AgentVerdict{100, BackendState::disabled, false});
    CHECK(verdict_of("50%") == AgentVerdict{50, BackendState::active, false});
    CHECK(verdict_of("0%") == AgentVerdict{0, BackendState::active, false});
    CHECK(verdict_of("250%") == AgentVerdict{250, BackendState::active, false});
}

TEST_CASE("combinations as HAProxy reads them: spaces, commas and tabs separate words") {
    CHECK(verdict_of("75% drain") == AgentVerdict{75, BackendState::drain, false});
    CHECK(verdict_of("up,ready,\t60%") == AgentVerdict{60, BackendState::active, false});
    CHECK(verdict_of("  down   maint  ") == AgentVerdict{100, BackendState::disabled, true});
    // A later word of the same kind wins.
    CHECK(verdict_of("drain ready 10% 20%") == AgentVerdict{20, BackendState::active, false});
    // "#" starts a description.
    CHECK(verdict_of("down # disk full, drain") == AgentVerdict{100, BackendState::active, true});
}

TEST_CASE("a reply changes only the parts it names: up clears down, ready clears drain/maint") {
    const AgentVerdict drained_down{75, BackendState::drain, true};
    CHECK(verdict_of("up", drained_down) == AgentVerdict{75, BackendState::drain, false});
    CHECK(verdict_of("ready", drained_down) == AgentVerdict{75, BackendState::active, true});
    CHECK(verdict_of("100%", drained_down) == AgentVerdict{100, BackendState::drain, true});
    CHECK(verdict_of("", drained_down) == drained_down);
}

TEST_CASE("unknown words are counted and ignored; odd percentages are unknown or clamped") {
    auto reply = parse_agent_reply("up sleepy 5x% % -3% 40%", {});
    CHECK(reply.verdict == AgentVerdict{40, BackendState::active, false});
    CHECK(reply.unknown_words == 4);
    CHECK(reply.first_unknown == "sleepy");
    CHECK(verdict_of("99999999999999999999%").weight_percent == ringlb::kMaxAgentPercent);
}

TEST_CASE("describe_agent names the verdict in the agent's words") {
    CHECK(ringlb::describe_agent({}) == "100% ready up");
    CHECK(ringlb::describe_agent({75, BackendState::drain, true}) == "75% drain down");
    CHECK(ringlb::describe_agent({0, BackendState::disabled, false}) == "0% maint up");
}

TEST_CASE("the agent's share of the weight: at least 1 above 0 %, at most the maximum weight") {
    CHECK(ringlb::agent_weight(10, 100) == 10);
    CHECK(ringlb::agent_weight(10, 50) == 5);
    CHECK(ringlb::agent_weight(10, 1) == 1);
    CHECK(ringlb::agent_weight(10, 0) == 0);
    CHECK(ringlb::agent_weight(10, 300) == 30);
    CHECK(ringlb::agent_weight(1000, 200) == ringlb::kMaxBackendWeight);
}

TEST_CASE("the agent's verdict and the operator's state: the more restrictive wins") {
    ringlb::BackendStates backend;
    CHECK(ringlb::usable(backend));
    backend.agent_down = true;
    CHECK_FALSE(ringlb::usable(backend));
    backend.agent_down = false;
    backend.agent = BackendState::drain;
    CHECK_FALSE(ringlb::usable(backend));
    backend.agent = BackendState::active;
    backend.agent_weight_percent = 0;
    CHECK_FALSE(ringlb::usable(backend));
    backend.agent_weight_percent = 50;
    backend.admin = BackendState::drain;  // the agent says ready; the operator's drain holds
    CHECK_FALSE(ringlb::usable(backend));
    // An agent that takes the only primary out hands its traffic to the backup tier.
    ringlb::BackendStates primary;
    primary.agent = BackendState::disabled;
    ringlb::BackendStates backup;
    backup.backup = true;
    const std::vector<ringlb::BackendStates> pool{primary, backup};
    CHECK(ringlb::takes_new_connections(pool) == std::vector<bool>{false, true});
}
