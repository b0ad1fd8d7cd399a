// A fleet scenario for advisor-sim: who the clients are (NAT mix, how often they misreport) and the
// hidden truth the advisor has to learn — per NAT pair the odds that a direct connection works and
// how long it takes, the relay's odds and time, and how those change during the run (phases).
//
// Scenario files are JSON:
//   { "name": "steady", "sessions": 100000,
//     "nat_mix": {"open": 0.05, "full_cone": 0.3, ...},      // shares of the six NAT types, sum 1
//     "misreport": 0.03,                                     // chance a side reports unknown
//     "default_pair": {"direct_success": 0.9, "direct_time_ms": {"median": 1500, "sigma": 0.5}},
//     "pairs": [{"a": "port_restricted_cone", "b": "symmetric", "direct_success": 0.3,
//                "direct_time_ms": {"median": 3000, "sigma": 0.6}}],
//     "relay": {"success": 0.995, "time_ms": {"median": 900, "sigma": 0.4}},
//     "relay_cost_ms": 2000, "budget_ms": 30000,
//     "phases": [{"at_session": 50000, "pairs": [...]}] }
// Pairs are unordered. A pair not listed behaves like default_pair, except that a pair with a
// `blocked` side never connects directly unless it is listed. A pair entry may leave out
// direct_success or direct_time_ms: at the top level the missing field comes from that default, in
// a phase from the pair's values in the phase before. Phases accumulate: each applies its
// overrides on top of the previous phase from `at_session` (a 0-based session index) on.
// "description" is allowed anywhere as free text; any other unknown key is an error, because a
// misspelt key would otherwise silently fall back to a default. So is a key given twice in one
// object. The format is the SimScenario message of proto/connectivity/advisor/formats/sim.proto.
#ifndef ADVISOR_SERVICES_SIM_SCENARIO_H_
#define ADVISOR_SERVICES_SIM_SCENARIO_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/strategy/types.h"

namespace advisor::sim {

using strategy::kNatPairCount;
using strategy::kNatTypeCount;
using strategy::NatPair;
using strategy::NatType;
using strategy::PairName;

// Attempts and budgets are reported in ms and the API refuses durations over 10 minutes.
inline constexpr uint32_t kMaxBudgetMs = 600000;

// A log-normal duration: ln(X) ~ Normal(ln(median_ms), sigma).
struct LogNormal {
  double median_ms = 1;
  double sigma = 0;
};

// The hidden truth of one unordered NAT pair.
struct PairTruth {
  double direct_success = 0;  // chance that a direct connection is possible at all
  LogNormal direct_time;      // how long it takes when it is
};

// The truth table in force from session `at_session` on.
struct Phase {
  int64_t at_session = 0;
  std::array<PairTruth, kNatPairCount> pairs{};  // indexed by NatPair::Index()
  // The pairs whose truth differs from the previous phase (empty for the first phase).
  std::vector<NatPair> changed;
};

struct Scenario {
  std::string name;
  int64_t sessions = 0;
  std::array<double, kNatTypeCount> nat_mix{};  // indexed by NatType; kUnknown is always 0
  double misreport = 0;
  double relay_success = 0;
  LogNormal relay_time;
  double relay_cost_ms = 0;
  uint32_t budget_ms = 0;
  std::vector<Phase> phases;  // phases[0] starts at session 0; at_session strictly increases

  // Index into `phases` of the phase that session `session` belongs to.
  int PhaseOf(int64_t session) const;
};

// The six NAT types a client can truly have (every type but kUnknown), in enum order.
inline constexpr std::array<NatType, 6> kTrueNatTypes = {
    NatType::kOpen,      NatType::kFullCone, NatType::kRestrictedCone, NatType::kPortRestrictedCone,
    NatType::kSymmetric, NatType::kBlocked};

// Parses and validates a scenario. Errors are InvalidArgument and name the offending key as a path,
// e.g. "phases[0].pairs[1].direct_success: must be in [0, 1], got 1.5".
absl::StatusOr<Scenario> ParseScenario(std::string_view json_text);

// Reads and parses a scenario file; errors start with the path of the file.
absl::StatusOr<Scenario> LoadScenario(const std::string& path);

}  // namespace advisor::sim

#endif  // ADVISOR_SERVICES_SIM_SCENARIO_H_
