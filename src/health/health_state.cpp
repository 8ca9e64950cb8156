// SPDX-License-Identifier: MIT
// The rise/fall counting of consecutive health-check results.
#include "ringlb/health/health_state.hpp"

namespace ringlb {

HealthState::Transition HealthState::record(bool success) noexcept {
    if (success == up_) {
        streak_ = 0;  // a result that confirms the current state resets the count
        return Transition::none;
    }
    ++streak_;
    if (streak_ < (up_ ? fall_ : rise_)) {
        return Transition::none;
    }
    up_ = !up_;
    streak_ = 0;
    return up_ ? Transition::went_up : Transition::went_down;
}

}  // namespace ringlb
