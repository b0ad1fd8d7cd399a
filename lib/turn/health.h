// The TURN health state machine of the seed, as pure logic: probe results in, health out.
//
// A success makes a server healthy at once and clears its failures; failures count up, and at the
// threshold the server turns unhealthy and is skipped for `unhealthy_for` (each further failure
// extends that). Like Envoy's health checker, a failure below the threshold is reported as
// ChangePending: the status has not moved yet but will if the failures go on.
#ifndef ADVISOR_LIB_TURN_HEALTH_H_
#define ADVISOR_LIB_TURN_HEALTH_H_

#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace advisor::turn {

struct HealthConfig {
  int failure_threshold = 3;                        // consecutive failures that make it unhealthy
  absl::Duration unhealthy_for = absl::Minutes(5);  // how long an unhealthy server is skipped
  double latency_smoothing = 0.3;                   // EWMA weight of the newest latency
  double success_smoothing = 0.1;                   // EWMA weight of the newest result
};

enum class HealthStatus : uint8_t { kUnknown = 0, kHealthy = 1, kUnhealthy = 2 };
std::string_view HealthStatusName(HealthStatus status);  // "unknown", "healthy", "unhealthy"

enum class HealthTransition : uint8_t {
  kUnchanged,      // the status is what it was
  kChanged,        // the status moved (healthy ↔ unhealthy, or out of unknown)
  kChangePending,  // a failure below the threshold: not yet unhealthy
};

struct HealthState {
  HealthStatus status = HealthStatus::kUnknown;
  int consecutive_failures = 0;
  double last_latency_ms = 0;
  double smoothed_latency_ms = 0;  // EWMA over successful checks
  double success_rate = 0;         // EWMA over all checks
  std::string last_error;          // empty after a success
  absl::Time last_check = absl::InfinitePast();
  absl::Time unhealthy_until = absl::InfinitePast();
  friend bool operator==(const HealthState&, const HealthState&) = default;
};

// Folds one check into `state`. `latency_ms` is used only when `ok`.
HealthTransition RecordCheck(HealthState& state, bool ok, double latency_ms, std::string_view error,
                             absl::Time now, const HealthConfig& config);

// Whether GetStrategy may offer the server at `now`: not while it is unhealthy and its skip period
// runs.
bool Usable(const HealthState& state, absl::Time now);

}  // namespace advisor::turn

#endif  // ADVISOR_LIB_TURN_HEALTH_H_
