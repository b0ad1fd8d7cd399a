// Advice quality: the figures of the advisor and of the three baselines on the same drawn sessions,
// overall, before and after warm-up, per phase and per true NAT pair, and how fast the advisor
// recovers after a phase change.
#ifndef ADVISOR_SERVICES_SIM_EVALUATION_H_
#define ADVISOR_SERVICES_SIM_EVALUATION_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "services/sim/model.h"
#include "services/sim/scenario.h"

namespace advisor::sim {

// The first share of a run's sessions counts as warm-up: the advisor starts with no history.
inline constexpr double kWarmUpShare = 0.1;
// After a phase change the changed pair's sessions are cut into windows of this many sessions; a
// last window under half of it is left out.
inline constexpr int64_t kWindowSessions = 1000;
// A window's regret below this counts as recovered from a phase change.
inline constexpr double kRecoveredRegret = 0.10;

// p95 by nearest rank (the smallest value with at least 95 % of the values at or below it); 0 for
// no values.
uint32_t Percentile95(std::vector<uint32_t> values);

// The cost: mean session time (time to connect, or the budget when not connected) plus the
// relay's price per relayed session times the share of sessions that tried the relay.
double Cost(double mean_time_ms, double relay_share, double relay_cost_ms);

// (advisor − oracle) / oracle and (static − advisor) / static; 0 when the reference is 0.
double Regret(double advisor_cost, double oracle_cost);
double Gain(double advisor_cost, double static_cost);

struct Figures {
  int64_t sessions = 0;
  double success_rate = 0;
  double mean_connect_ms = 0;   // over connected sessions
  uint32_t p95_connect_ms = 0;  // over connected sessions
  double relay_share = 0;
  double mean_time_ms = 0;  // over all sessions, the budget for those not connected
  double cost = 0;
};

// Accumulates played sessions into Figures.
class FiguresBuilder {
 public:
  void Add(const Played& played, uint32_t budget_ms);
  Figures Build(double relay_cost_ms) const;

 private:
  int64_t sessions_ = 0;
  int64_t relayed_ = 0;
  double time_sum_ = 0;
  std::vector<uint32_t> connect_ms_;
};

enum class Policy : uint8_t { kAdvisor, kStaticTree, kTurnOnly, kOracle };
inline constexpr int kPolicyCount = 4;
inline constexpr std::array<Policy, kPolicyCount> kPolicies = {
    Policy::kAdvisor, Policy::kStaticTree, Policy::kTurnOnly, Policy::kOracle};
// "advisor", "static_tree", "turn_only", "oracle".
std::string_view PolicyName(Policy policy);

// The four policies on one set of sessions.
struct Comparison {
  std::array<Figures, kPolicyCount> policy{};
  double regret = 0;  // advisor vs oracle
  double gain = 0;    // advisor vs static tree
  const Figures& of(Policy p) const { return policy[static_cast<int>(p)]; }
};

struct PhaseFigures {
  int phase = 0;
  int64_t from_session = 0;  // [from, to) in session indices
  int64_t to_session = 0;
  Comparison figures;
};

struct PairFigures {
  NatPair pair;
  Comparison figures;
};

struct Window {
  int64_t from = 0;  // [from, to) in sessions of the changed pair since the change
  int64_t to = 0;
  double advisor_cost = 0;
  double static_cost = 0;
  double oracle_cost = 0;
  double regret = 0;
};

// How the advisor did on one changed pair after a phase change.
struct PhaseChange {
  int phase = 0;
  int64_t at_session = 0;
  NatPair pair;
  std::vector<Window> windows;
  // Sessions of the pair until the end of the first window with regret under kRecoveredRegret.
  std::optional<int64_t> recovered_after;
  // The highest regret of any later window: whether the recovery held.
  double worst_regret_after = 0;
};

struct Evaluation {
  int64_t sessions = 0;  // evaluated
  int64_t excluded = 0;  // sessions without an answer from the advisor (RPC error)
  Comparison overall;
  int64_t warm_up_sessions = 0;  // session indices [0, warm_up_sessions) are the warm-up
  Comparison warm_up;
  Comparison after_warm_up;
  std::vector<PhaseFigures> phases;  // the phases the run reached
  std::vector<PairFigures> pairs;    // true pairs that occurred, in NatPair index order
  std::vector<PhaseChange> changes;
  std::vector<std::vector<OracleChoice>> oracle;  // [phase][NatPair::Index()]
  SuccessPrice success_price;                     // from the model, not from the sessions
};

// Plays every session under the four policies. `advisor[i]` is what the advisor told session i, or
// nullopt when the session got no answer; such sessions are left out for every policy alike.
Evaluation Evaluate(const Scenario& scenario, std::span<const Session> sessions,
                    std::span<const std::optional<Choice>> advisor);

}  // namespace advisor::sim

#endif  // ADVISOR_SERVICES_SIM_EVALUATION_H_
