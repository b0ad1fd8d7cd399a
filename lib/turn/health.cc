#include "lib/turn/health.h"

namespace advisor::turn {
namespace {

double Ewma(double previous, double sample, double weight) {
  return weight * sample + (1 - weight) * previous;
}

}  // namespace

std::string_view HealthStatusName(HealthStatus status) {
  switch (status) {
    case HealthStatus::kUnknown:
      return "unknown";
    case HealthStatus::kHealthy:
      return "healthy";
    case HealthStatus::kUnhealthy:
      return "unhealthy";
  }
  return "unknown";
}

HealthTransition RecordCheck(HealthState& state, bool ok, double latency_ms, std::string_view error,
                             absl::Time now, const HealthConfig& config) {
  // The first check has no history to smooth against: it sets the rate outright, so that one
  // success reads as 100% rather than as a weighted step up from an arbitrary 0.
  const bool first_check = state.last_check == absl::InfinitePast();
  state.last_check = now;
  state.success_rate = first_check
                           ? (ok ? 1.0 : 0.0)
                           : Ewma(state.success_rate, ok ? 1.0 : 0.0, config.success_smoothing);

  if (ok) {
    // Likewise for latency: 0 means no successful check has been measured yet (a real round trip
    // never takes 0 ms), and the first sample is taken as is.
    state.smoothed_latency_ms =
        state.smoothed_latency_ms == 0
            ? latency_ms
            : Ewma(state.smoothed_latency_ms, latency_ms, config.latency_smoothing);
    state.last_latency_ms = latency_ms;
    state.consecutive_failures = 0;
    state.last_error.clear();
    state.unhealthy_until = absl::InfinitePast();
    const HealthStatus before = state.status;
    state.status = HealthStatus::kHealthy;
    return before == HealthStatus::kHealthy ? HealthTransition::kUnchanged
                                            : HealthTransition::kChanged;
  }

  ++state.consecutive_failures;
  // An empty last_error means "the last check succeeded", so a failure always leaves some text.
  state.last_error = error.empty() ? std::string("check failed") : std::string(error);
  // A server already unhealthy stays so on every further failure, even if the threshold was raised
  // meanwhile: it has not shown a single success since it was taken out.
  if (state.consecutive_failures >= config.failure_threshold ||
      state.status == HealthStatus::kUnhealthy) {
    state.unhealthy_until = now + config.unhealthy_for;
    const HealthStatus before = state.status;
    state.status = HealthStatus::kUnhealthy;
    return before == HealthStatus::kUnhealthy ? HealthTransition::kUnchanged
                                              : HealthTransition::kChanged;
  }
  return HealthTransition::kChangePending;
}

bool Usable(const HealthState& state, absl::Time now) {
  return state.status != HealthStatus::kUnhealthy || now >= state.unhealthy_until;
}

}  // namespace advisor::turn
