// SPDX-License-Identifier: MIT
// The names the config schema's enumerations have in files, logs and metrics.
#include "ringlb/config/config.hpp"

namespace ringlb::config {

std::string_view algorithm_name(Algorithm algorithm) noexcept {
    switch (algorithm) {
        case Algorithm::round_robin:
            return "round_robin";
        case Algorithm::weighted_round_robin:
            return "weighted_round_robin";
        case Algorithm::least_connections:
            return "least_connections";
        case Algorithm::random_two:
            return "random_two";
        case Algorithm::maglev:
            return "maglev";
    }
    return "?";
}

std::string_view backend_state_name(BackendState state) noexcept {
    switch (state) {
        case BackendState::active:
            return "active";
        case BackendState::drain:
            return "drain";
        case BackendState::disabled:
            return "disabled";
    }
    return "?";
}

std::string_view splice_name(Splice mode) noexcept {
    return mode == Splice::always ? "always" : "auto";
}

std::string_view shard_steering_name(ShardSteering steering) noexcept {
    switch (steering) {
        case ShardSteering::random:
            return "random";
        case ShardSteering::cpu:
            return "cpu";
        case ShardSteering::hash:
            return "hash";
    }
    return "random";
}

std::string_view on_backend_down_name(OnBackendDown policy) noexcept {
    switch (policy) {
        case OnBackendDown::keep:
            return "keep";
        case OnBackendDown::close:
            return "close";
    }
    return "?";
}

std::string_view send_proxy_name(SendProxy version) noexcept {
    switch (version) {
        case SendProxy::none:
            return "none";
        case SendProxy::v1:
            return "v1";
        case SendProxy::v2:
            return "v2";
    }
    return "?";
}

std::string_view health_check_type_name(HealthCheckType type) noexcept {
    switch (type) {
        case HealthCheckType::connect:
            return "connect";
        case HealthCheckType::send_expect:
            return "send_expect";
        case HealthCheckType::http:
            return "http";
    }
    return "?";
}

}  // namespace ringlb::config
