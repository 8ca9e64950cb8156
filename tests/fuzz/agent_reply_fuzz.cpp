// SPDX-License-Identifier: MIT
// libFuzzer target: an agent's reply on arbitrary bytes. agent_line stays inside them (ASan),
// and the verdict parse_agent_reply makes is sane: a share within range, unknown words no more
// than the words, and a reply that says the same thing twice changes nothing the second time.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "ringlb/health/agent_reply.hpp"

namespace {

void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "broken invariant: %s\n", what);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view received(reinterpret_cast<const char*>(data),
                                    std::min(size, ringlb::kMaxAgentReply));
    for (bool closed : {false, true}) {
        const auto line = ringlb::agent_line(received, closed);
        if (!line) {
            check(!closed, "a closed agent's reply always has its line");
            continue;
        }
        check(line->empty() || (line->data() >= received.data() &&
                                line->data() + line->size() <= received.data() + received.size()),
              "the line is inside the bytes read");
        const ringlb::AgentReply once = ringlb::parse_agent_reply(*line, {});
        check(once.verdict.weight_percent <= ringlb::kMaxAgentPercent, "the share is in range");
        check(once.unknown_words <= line->size(), "no more unknown words than bytes");
        check(once.unknown_words == 0 || !once.first_unknown.empty(), "an unknown word is named");
        const ringlb::AgentReply twice = ringlb::parse_agent_reply(*line, once.verdict);
        check(twice.verdict == once.verdict, "the same reply twice changes nothing");
        (void)ringlb::describe_agent(once.verdict);
    }
    return 0;
}
