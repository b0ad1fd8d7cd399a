// PickTurnServer: usable servers only, healthy before unknown, the client's region first, then the
// lowest latency, and ties broken on the id whatever the order.
#include "lib/turn/selection.h"

#include <gtest/gtest.h>

#include <vector>

namespace advisor::turn {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

HealthState Healthy(double latency_ms) {
  HealthState state;
  state.status = HealthStatus::kHealthy;
  state.smoothed_latency_ms = latency_ms;
  state.last_check = kNow - absl::Seconds(30);
  return state;
}

HealthState Unhealthy(absl::Time until) {
  HealthState state;
  state.status = HealthStatus::kUnhealthy;
  state.consecutive_failures = 3;
  state.unhealthy_until = until;
  return state;
}

TEST(PickTurnServer, NoCandidatesOrNoneUsable) {
  EXPECT_EQ(PickTurnServer({}, "", kNow), -1);
  std::vector<Candidate> all_down = {{"a", "eu", Unhealthy(kNow + absl::Minutes(4))}};
  EXPECT_EQ(PickTurnServer(all_down, "eu", kNow), -1);
}

TEST(PickTurnServer, HealthyBeforeUnknownThenLowestLatency) {
  std::vector<Candidate> candidates = {
      {"never-probed", "", HealthState{}},
      {"slow", "", Healthy(80)},
      {"fast", "", Healthy(20)},
  };
  EXPECT_EQ(PickTurnServer(candidates, "", kNow), 2);
  candidates[2].health = Unhealthy(kNow + absl::Minutes(5));
  EXPECT_EQ(PickTurnServer(candidates, "", kNow), 1);  // fails over to the next healthy one
  candidates[1].health = Unhealthy(kNow + absl::Minutes(5));
  EXPECT_EQ(PickTurnServer(candidates, "", kNow), 0);  // then to one never probed
}

TEST(PickTurnServer, SkipPeriodEndsAfterFiveMinutes) {
  std::vector<Candidate> candidates = {{"only", "", Unhealthy(kNow + absl::Minutes(5))}};
  EXPECT_EQ(PickTurnServer(candidates, "", kNow + absl::Minutes(4)), -1);
  EXPECT_EQ(PickTurnServer(candidates, "", kNow + absl::Minutes(5)), 0);
}

TEST(PickTurnServer, RegionFirstAmongEquallyHealthy) {
  std::vector<Candidate> candidates = {
      {"us-1", "us", Healthy(10)},
      {"eu-1", "eu", Healthy(40)},
      {"eu-2", "eu", Unhealthy(kNow + absl::Minutes(1))},
  };
  EXPECT_EQ(PickTurnServer(candidates, "eu", kNow), 1);
  EXPECT_EQ(PickTurnServer(candidates, "us", kNow), 0);
  EXPECT_EQ(PickTurnServer(candidates, "", kNow), 0);    // no region: lowest latency
  EXPECT_EQ(PickTurnServer(candidates, "ap", kNow), 0);  // no server there: lowest latency
  candidates[1].health = Unhealthy(kNow + absl::Minutes(5));
  EXPECT_EQ(PickTurnServer(candidates, "eu", kNow), 0);  // a healthy server elsewhere beats none
}

TEST(PickTurnServer, TiesBreakOnIdWhateverTheOrder) {
  std::vector<Candidate> forward = {{"b", "", Healthy(10)}, {"a", "", Healthy(10)}};
  std::vector<Candidate> backward = {{"a", "", Healthy(10)}, {"b", "", Healthy(10)}};
  EXPECT_EQ(forward[PickTurnServer(forward, "", kNow)].id, "a");
  EXPECT_EQ(backward[PickTurnServer(backward, "", kNow)].id, "a");
}

}  // namespace
}  // namespace advisor::turn
