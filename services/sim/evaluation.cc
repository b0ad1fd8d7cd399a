#include "services/sim/evaluation.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace advisor::sim {
namespace {

// The four policies' builders for one group of sessions.
struct Group {
  std::array<FiguresBuilder, kPolicyCount> policy;

  void Add(const std::array<Played, kPolicyCount>& played, uint32_t budget_ms) {
    for (int i = 0; i < kPolicyCount; ++i) policy[i].Add(played[i], budget_ms);
  }
  Comparison Build(double relay_cost_ms) const {
    Comparison out;
    for (int i = 0; i < kPolicyCount; ++i) out.policy[i] = policy[i].Build(relay_cost_ms);
    out.regret = Regret(out.of(Policy::kAdvisor).cost, out.of(Policy::kOracle).cost);
    out.gain = Gain(out.of(Policy::kAdvisor).cost, out.of(Policy::kStaticTree).cost);
    return out;
  }
};

// Windows of one changed pair after a phase change, filled session by session.
struct ChangeTracker {
  int phase = 0;
  NatPair pair;
  std::vector<Group> windows;
  int64_t seen = 0;

  void Add(const std::array<Played, kPolicyCount>& played, uint32_t budget_ms) {
    if (seen % kWindowSessions == 0) windows.emplace_back();
    windows.back().Add(played, budget_ms);
    ++seen;
  }
};

PhaseChange BuildChange(const ChangeTracker& tracker, const Scenario& scenario) {
  PhaseChange out;
  out.phase = tracker.phase;
  out.at_session = scenario.phases[tracker.phase].at_session;
  out.pair = tracker.pair;
  for (size_t i = 0; i < tracker.windows.size(); ++i) {
    const Comparison c = tracker.windows[i].Build(scenario.relay_cost_ms);
    // A last window of a few sessions says nothing about the regret; it is left out.
    if (i > 0 && c.of(Policy::kAdvisor).sessions < kWindowSessions / 2) break;
    Window w;
    w.from = static_cast<int64_t>(i) * kWindowSessions;
    w.to = w.from + c.of(Policy::kAdvisor).sessions;
    w.advisor_cost = c.of(Policy::kAdvisor).cost;
    w.static_cost = c.of(Policy::kStaticTree).cost;
    w.oracle_cost = c.of(Policy::kOracle).cost;
    w.regret = c.regret;
    if (out.recovered_after) {
      out.worst_regret_after = std::max(out.worst_regret_after, w.regret);
    } else if (w.regret < kRecoveredRegret) {
      out.recovered_after = w.to;
    }
    out.windows.push_back(w);
  }
  return out;
}

}  // namespace

uint32_t Percentile95(std::vector<uint32_t> values) {
  if (values.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(0.95 * static_cast<double>(values.size())));
  const size_t index = std::max<size_t>(rank, 1) - 1;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index),
                   values.end());
  return values[index];
}

double Cost(double mean_time_ms, double relay_share, double relay_cost_ms) {
  return mean_time_ms + relay_cost_ms * relay_share;
}

double Regret(double advisor_cost, double oracle_cost) {
  return oracle_cost > 0 ? (advisor_cost - oracle_cost) / oracle_cost : 0;
}

double Gain(double advisor_cost, double static_cost) {
  return static_cost > 0 ? (static_cost - advisor_cost) / static_cost : 0;
}

void FiguresBuilder::Add(const Played& played, uint32_t budget_ms) {
  ++sessions_;
  if (played.relay_attempted) ++relayed_;
  if (played.connected) {
    connect_ms_.push_back(played.time_to_connect_ms);
    time_sum_ += played.time_to_connect_ms;
  } else {
    time_sum_ += budget_ms;
  }
}

Figures FiguresBuilder::Build(double relay_cost_ms) const {
  Figures f;
  f.sessions = sessions_;
  if (sessions_ == 0) return f;
  const double n = static_cast<double>(sessions_);
  double connect_sum = 0;
  for (uint32_t ms : connect_ms_) connect_sum += ms;
  f.success_rate = static_cast<double>(connect_ms_.size()) / n;
  f.mean_connect_ms =
      connect_ms_.empty() ? 0 : connect_sum / static_cast<double>(connect_ms_.size());
  f.p95_connect_ms = Percentile95(connect_ms_);
  f.relay_share = static_cast<double>(relayed_) / n;
  f.mean_time_ms = time_sum_ / n;
  f.cost = Cost(f.mean_time_ms, f.relay_share, relay_cost_ms);
  return f;
}

std::string_view PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kAdvisor:
      return "advisor";
    case Policy::kStaticTree:
      return "static_tree";
    case Policy::kTurnOnly:
      return "turn_only";
    case Policy::kOracle:
      return "oracle";
  }
  return "?";
}

Evaluation Evaluate(const Scenario& scenario, std::span<const Session> sessions,
                    std::span<const std::optional<Choice>> advisor) {
  Evaluation out;
  out.oracle = OracleTable(scenario);
  out.success_price = PriceOfStaticSuccess(scenario, out.oracle);
  const uint32_t budget = scenario.budget_ms;
  const int64_t count = static_cast<int64_t>(sessions.size());
  out.warm_up_sessions = static_cast<int64_t>(std::ceil(kWarmUpShare * static_cast<double>(count)));

  Group overall, warm_up, after_warm_up;
  std::vector<Group> phases(scenario.phases.size());
  std::vector<Group> pairs(kNatPairCount);
  // Trackers by (phase, pair index), for the pairs each phase changed.
  std::map<std::pair<int, int>, ChangeTracker> changes;
  for (size_t p = 1; p < scenario.phases.size(); ++p) {
    for (NatPair pair : scenario.phases[p].changed) {
      changes[{static_cast<int>(p), pair.Index()}] = {static_cast<int>(p), pair, {}, 0};
    }
  }

  for (int64_t i = 0; i < count; ++i) {
    const Session& s = sessions[i];
    if (!advisor[i]) {
      ++out.excluded;
      continue;
    }
    const NatPair pair = s.true_pair();
    const std::array<Played, kPolicyCount> played = {
        Play(s, *advisor[i], budget),
        Play(s, StaticTree(s.reported_pair()), budget),
        Play(s, {Strategy::kTurnOnly, 0}, budget),
        Play(s, out.oracle[s.phase][pair.Index()].choice, budget),
    };
    ++out.sessions;
    overall.Add(played, budget);
    (s.index < out.warm_up_sessions ? warm_up : after_warm_up).Add(played, budget);
    phases[s.phase].Add(played, budget);
    pairs[pair.Index()].Add(played, budget);
    if (auto it = changes.find({s.phase, pair.Index()}); it != changes.end()) {
      it->second.Add(played, budget);
    }
  }

  const double relay_cost = scenario.relay_cost_ms;
  out.overall = overall.Build(relay_cost);
  out.warm_up = warm_up.Build(relay_cost);
  out.after_warm_up = after_warm_up.Build(relay_cost);
  for (size_t p = 0; p < scenario.phases.size(); ++p) {
    const int64_t from = scenario.phases[p].at_session;
    if (from >= count) break;
    const int64_t to =
        p + 1 < scenario.phases.size() ? std::min(count, scenario.phases[p + 1].at_session) : count;
    out.phases.push_back({static_cast<int>(p), from, to, phases[p].Build(relay_cost)});
  }
  for (int i = 0; i < kNatPairCount; ++i) {
    const Comparison c = pairs[i].Build(relay_cost);
    if (c.of(Policy::kAdvisor).sessions > 0) out.pairs.push_back({NatPair::FromIndex(i), c});
  }
  for (const auto& [key, tracker] : changes) {
    if (tracker.seen > 0) out.changes.push_back(BuildChange(tracker, scenario));
  }
  return out;
}

}  // namespace advisor::sim
