// SPDX-License-Identifier: MIT
// HealthState: the rise/fall state machine of one backend's health checks.
#pragma once

namespace ringlb {

class HealthState final {
  public:
    enum class Transition { none, went_up, went_down };

    // A backend starts up; `rise` successes in a row bring a down backend up, `fall`
    // failures in a row take an up backend down (both at least 1).
    HealthState(unsigned rise, unsigned fall) noexcept
        : rise_(rise > 0 ? rise : 1), fall_(fall > 0 ? fall : 1) {}

    // A backend that joined a running pool (DNS discovery): down until its first probe
    // succeeds, as Envoy treats new hosts; after a failure it needs `rise` successes like any
    // backend that is down.
    [[nodiscard]] static HealthState awaiting_first_probe(unsigned rise, unsigned fall) noexcept {
        HealthState state(rise, fall);
        state.up_ = false;
        state.streak_ = state.rise_ - 1;
        return state;
    }

    // A reload's new thresholds: the state and the streak so far are kept, so a streak that
    // already reaches a lowered threshold changes the state at the next result that extends it.
    void set_thresholds(unsigned rise, unsigned fall) noexcept {
        rise_ = rise > 0 ? rise : 1;
        fall_ = fall > 0 ? fall : 1;
    }

    // Records one probe result and says whether the backend changed state.
    [[nodiscard]] Transition record(bool success) noexcept;

    [[nodiscard]] bool up() const noexcept { return up_; }
    // Consecutive results of the kind that would change the state (0 when steady).
    [[nodiscard]] unsigned streak() const noexcept { return streak_; }

  private:
    unsigned rise_;
    unsigned fall_;
    bool up_ = true;
    unsigned streak_ = 0;
};

}  // namespace ringlb
