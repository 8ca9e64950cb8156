// SPDX-License-Identifier: MIT
// The names of the termination reasons, as the access log writes them and the metric labels them.
#include "ringlb/access/termination.hpp"

namespace ringlb {

std::string_view termination_name(Termination reason) noexcept {
    switch (reason) {
        case Termination::client_closed:
            return "client_closed";
        case Termination::backend_closed:
            return "backend_closed";
        case Termination::client_reset:
            return "client_reset";
        case Termination::backend_reset:
            return "backend_reset";
        case Termination::idle_timeout:
            return "idle_timeout";
        case Termination::max_duration:
            return "max_duration";
        case Termination::backend_down:
            return "backend_down";
        case Termination::connect_failed:
            return "connect_failed";
        case Termination::no_backend:
            return "no_backend";
        case Termination::queue_timeout:
            return "queue_timeout";
        case Termination::no_route:
            return "no_route";
        case Termination::denied:
            return "denied";
        case Termination::client_limit:
            return "client_limit";
        case Termination::rate_limited:
            return "rate_limited";
        case Termination::proxy_protocol:
            return "proxy_protocol";
        case Termination::shutdown:
            return "shutdown";
        case Termination::ring_full:
            return "ring_full";
        case Termination::internal_error:
            return "internal_error";
        case Termination::count_:
            break;
    }
    return "?";
}

}  // namespace ringlb
