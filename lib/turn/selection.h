// Which TURN server to offer: the ranking of GetStrategy, as pure logic.
//
// Usable servers only (an unhealthy one is skipped for its whole skip period); among them healthy
// before never-probed before those whose skip period just ran out, then — when the client said
// where it is — servers of its region first, then the lowest smoothed latency, then the id so that
// ties are stable across replicas.
#ifndef ADVISOR_LIB_TURN_SELECTION_H_
#define ADVISOR_LIB_TURN_SELECTION_H_

#include <span>
#include <string_view>

#include "absl/time/time.h"
#include "lib/turn/health.h"

namespace advisor::turn {

struct Candidate {
  std::string_view id;
  std::string_view region;  // the server's region; "" for any
  HealthState health;       // as the prober of the client's region sees it, or the global view
};

// Index of the best candidate for a client in `region` ("" when unknown) at `now`; -1 when none is
// usable.
int PickTurnServer(std::span<const Candidate> candidates, std::string_view region, absl::Time now);

}  // namespace advisor::turn

#endif  // ADVISOR_LIB_TURN_SELECTION_H_
