#include "lib/turn/selection.h"

#include <limits>
#include <tuple>

namespace advisor::turn {
namespace {

// Lower is better.
int StatusRank(HealthStatus status) {
  switch (status) {
    case HealthStatus::kHealthy:
      return 0;
    case HealthStatus::kUnknown:
      return 1;
    case HealthStatus::kUnhealthy:
      return 2;
  }
  return 3;
}

}  // namespace

int PickTurnServer(std::span<const Candidate> candidates, std::string_view region, absl::Time now) {
  int best = -1;
  auto key = [&](const Candidate& c) {
    const bool elsewhere = !region.empty() && c.region != region;
    // A server never measured has no latency: it sorts after every measured one of its rank.
    const double latency = c.health.smoothed_latency_ms > 0
                               ? c.health.smoothed_latency_ms
                               : std::numeric_limits<double>::infinity();
    return std::make_tuple(StatusRank(c.health.status), elsewhere, latency, c.id);
  };
  for (int i = 0; i < static_cast<int>(candidates.size()); ++i) {
    if (!Usable(candidates[i].health, now)) continue;
    if (best < 0 || key(candidates[i]) < key(candidates[best])) best = i;
  }
  return best;
}

}  // namespace advisor::turn
