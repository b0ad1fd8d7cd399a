// The simulated client: how sessions are drawn from a scenario and how a strategy plays out against
// a drawn session, plus the baselines the advisor is measured against (the seed's static tree,
// always TURN_ONLY, and the oracle that knows the hidden odds).
//
// Each session's hidden outcome is drawn once — whether a direct path exists and how long it would
// take, whether the relay works and how long it takes — so that the advisor and every baseline are
// judged on exactly the same sessions; only the strategy and timeout differ.
#ifndef ADVISOR_SERVICES_SIM_MODEL_H_
#define ADVISOR_SERVICES_SIM_MODEL_H_

#include <cstdint>
#include <vector>

#include "lib/strategy/types.h"
#include "services/sim/scenario.h"

namespace advisor::sim {

using strategy::Strategy;

// One pair of clients and the hidden outcome of their connection.
struct Session {
  int64_t index = 0;
  int phase = 0;
  NatType local = NatType::kOpen;  // true types
  NatType remote = NatType::kOpen;
  NatType local_reported = NatType::kOpen;  // kUnknown (confidence 0) when misreported
  NatType remote_reported = NatType::kOpen;
  bool direct_possible = false;
  uint32_t direct_ms = 0;  // how long the direct path takes to connect, if it exists
  bool relay_ok = false;
  uint32_t relay_ms = 0;  // how long the relay takes to connect, or to fail
  int64_t install = 0;    // which install of the app ran it: its identity towards the server

  NatPair true_pair() const { return NatPair::Of(local, remote); }
  NatPair reported_pair() const { return NatPair::Of(local_reported, remote_reported); }
};

// Enough installs that, with the server's default cap of 3 reports per identity, pair and hourly
// bucket, almost no honest report of the shipped scenarios (at most 200,000 sessions, all in one
// hour) is capped: an install then has about 2 sessions in the whole run, spread over the pairs.
inline constexpr int64_t kDefaultInstalls = 100'000;

// Draws sessions [0, count) from `scenario` with a generator seeded by `seed`: the same scenario,
// count and seed always give the same sessions. Each session's install is uniform in
// [0, installs), hashed from the seed and the session's index rather than drawn from the
// generator, so that the number of installs never changes the sessions' outcomes.
std::vector<Session> DrawSessions(const Scenario& scenario, int64_t count, uint64_t seed,
                                  int64_t installs = 1);

// What a client does: a strategy and, unless TURN_ONLY, how long it tries direct first.
struct Choice {
  Strategy strategy = Strategy::kTurnOnly;
  uint32_t timeout_ms = 0;
  friend bool operator==(const Choice&, const Choice&) = default;
};

// One connection attempt, in the terms of ReportOutcomeRequest.
enum class Path : uint8_t { kDirect, kRelay };
enum class Result : uint8_t { kSucceeded, kTimedOut, kFailed };
struct Attempt {
  Path path = Path::kDirect;
  Result result = Result::kSucceeded;
  uint32_t duration_ms = 0;
  friend bool operator==(const Attempt&, const Attempt&) = default;
};

// How a session went.
struct Played {
  std::vector<Attempt> attempts;
  bool connected = false;
  uint32_t time_to_connect_ms = 0;  // 0 unless connected
  bool relay_attempted = false;
};

// Plays `choice` against the hidden outcome of `session` within `budget_ms`:
//  - DIRECT and TURN_FALLBACK (and an unspecified strategy) try direct for T = the timeout, at
//  least
//    1 ms and at most the budget. If the direct path exists and takes d <= T: connected at d. Else
//    the direct attempt times out at T and, if time is left, the relay is tried: connected at
//    T + relay time if the relay works and that is within the budget, otherwise the relay attempt
//    fails (relay broken) or times out (too slow) and the session is not connected.
//  - TURN_ONLY relays at once: connected at the relay time if the relay works within the budget.
Played Play(const Session& session, Choice choice, uint32_t budget_ms);

// The seed's static decision tree (docs/design.md, "Cold start") on the reported pair, with its
// fixed timeouts: blocked → TURN_ONLY; unknown → TURN_FALLBACK 5 s; both symmetric → TURN_ONLY; one
// symmetric → TURN_FALLBACK 5 s; both cone or open → DIRECT 15 s.
Choice StaticTree(NatPair reported);

// Expected figures of a choice for a pair, computed from the model rather than from draws.
struct Expected {
  double success = 0;       // chance of connecting
  double mean_time_ms = 0;  // time to connect, or the budget when not connected
  double relay_share = 0;   // chance of a relay attempt
  double cost = 0;          // mean_time_ms + relay_cost_ms × relay_share
};
Expected ExpectedOutcome(const PairTruth& truth, const Scenario& scenario, Choice choice);

// The oracle's pick for a pair: TURN_ONLY, or direct first (reported as TURN_FALLBACK, which plays
// like DIRECT) with the timeout that minimises the expected cost, searched on a 100 ms grid from
// 100 ms to the budget and then refined to the millisecond around the best grid point.
struct OracleChoice {
  Choice choice;
  Expected expected;
};
OracleChoice Oracle(const PairTruth& truth, const Scenario& scenario);

// The oracle's picks for every phase and pair: [phase][NatPair::Index()].
std::vector<std::vector<OracleChoice>> OracleTable(const Scenario& scenario);

// What connecting as often as the static tree costs. The static tree's extra successes come from
// trying direct first, and for long, where the cheaper choice relays: whenever the relay itself
// fails sometimes, matching them means paying in time and relays. Computed from the model over a
// whole run (pairs weighted by how often the NAT mix draws them, phases by their length, true types
// as if no client misreported): the expected figures of the static tree, of the oracle, and of the
// cheapest choices per phase and pair whose success over the run is at least the static tree's.
// Those are found by pricing each failure at `failure_price_ms` on top of the cost, with the
// smallest price that reaches the static tree's success (searched to 0.1 %). The static tree's own
// choices are among the options (the oracle's 100 ms grid), so some price always reaches it.
// `oracle` is OracleTable(scenario).
struct SuccessPrice {
  Expected static_tree;
  Expected oracle;
  Expected matched;
  double failure_price_ms = 0;
};
SuccessPrice PriceOfStaticSuccess(const Scenario& scenario,
                                  const std::vector<std::vector<OracleChoice>>& oracle);

}  // namespace advisor::sim

#endif  // ADVISOR_SERVICES_SIM_MODEL_H_
