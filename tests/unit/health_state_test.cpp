// SPDX-License-Identifier: MIT
// The rise/fall state machine of backend health checks.
#include <catch2/catch.hpp>

#include "ringlb/health/health_state.hpp"

using Transition = ringlb::HealthState::Transition;

TEST_CASE("a backend starts up and goes down after exactly `fall` failures in a row") {
    ringlb::HealthState state(2, 3);
    CHECK(state.up());
    CHECK(state.record(false) == Transition::none);
    CHECK(state.record(false) == Transition::none);
    CHECK(state.up());
    CHECK(state.record(false) == Transition::went_down);
    CHECK_FALSE(state.up());
    CHECK(state.record(false) == Transition::none);
}

TEST_CASE("a success between failures resets the fall count") {
    ringlb::HealthState state(2, 3);
    CHECK(state.record(false) == Transition::none);
    CHECK(state.record(false) == Transition::none);
    CHECK(state.record(true) == Transition::none);
    CHECK(state.record(false) == Transition::none);
    CHECK(state.record(false) == Transition::none);
    CHECK(state.up());
    CHECK(state.record(false) == Transition::went_down);
}

TEST_CASE("a down backend comes up after exactly `rise` successes in a row") {
    ringlb::HealthState state(2, 1);
    CHECK(state.record(false) == Transition::went_down);
    CHECK(state.record(true) == Transition::none);
    CHECK(state.record(false) == Transition::none);  // broken streak
    CHECK(state.record(true) == Transition::none);
    CHECK_FALSE(state.up());
    CHECK(state.record(true) == Transition::went_up);
    CHECK(state.up());
}

TEST_CASE("rise and fall of 1 flip on every changed result") {
    ringlb::HealthState state(1, 1);
    CHECK(state.record(false) == Transition::went_down);
    CHECK(state.record(true) == Transition::went_up);
    CHECK(state.record(true) == Transition::none);
    CHECK(state.record(false) == Transition::went_down);
}

TEST_CASE("zero rise or fall is treated as one") {
    ringlb::HealthState state(0, 0);
    CHECK(state.record(false) == Transition::went_down);
    CHECK(state.record(true) == Transition::went_up);
}

TEST_CASE("new thresholds keep the state and the streak so far") {
    ringlb::HealthState state(2, 1000);
    for (int i = 0; i < 5; ++i) {
        CHECK(state.record(false) == Transition::none);
    }
    CHECK(state.streak() == 5);
    state.set_thresholds(2, 3);  // a reload lowers fall below the streak
    CHECK(state.up());
    CHECK(state.record(false) == Transition::went_down);
    state.set_thresholds(1000, 3);
    CHECK(state.record(true) == Transition::none);
    state.set_thresholds(2, 3);  // and rise
    CHECK(state.record(true) == Transition::went_up);
}
