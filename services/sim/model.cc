#include "services/sim/model.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace advisor::sim {
namespace {

// The seed's fixed timeouts (docs/design.md, "Cold start").
constexpr uint32_t kStaticDirectTimeoutMs = 15000;
constexpr uint32_t kStaticFallbackTimeoutMs = 5000;

// The oracle's coarse grid step; the best grid point is then refined to the millisecond within one
// step on either side.
constexpr uint32_t kOracleGridMs = 100;

// Draws are whole milliseconds, as reports are: at least 1 ms, and far below uint32 overflow.
uint32_t ToMs(double ms) {
  constexpr double kMaxMs = 1e9;
  return static_cast<uint32_t>(
      std::clamp(std::llround(std::min(ms, kMaxMs)), 1LL, static_cast<long long>(kMaxMs)));
}

NatType PickType(const Scenario& scenario, double u) {
  double total = 0;
  for (NatType type : kTrueNatTypes) total += scenario.nat_mix[static_cast<int>(type)];
  double cumulative = 0;
  for (NatType type : kTrueNatTypes) {
    const double share = scenario.nat_mix[static_cast<int>(type)];
    cumulative += share;
    if (share > 0 && u * total < cumulative) return type;
  }
  // Rounding can leave u * total just at the sum: the last type with a share takes it.
  for (auto it = kTrueNatTypes.rbegin(); it != kTrueNatTypes.rend(); ++it) {
    if (scenario.nat_mix[static_cast<int>(*it)] > 0) return *it;
  }
  return NatType::kOpen;
}

// P(X <= x) and E[X; X <= x] for a log-normal X; a sigma of 0 is a point mass at the median.
double Cdf(const LogNormal& dist, double x) {
  if (x <= 0) return 0;
  if (dist.sigma <= 0) return x >= dist.median_ms ? 1 : 0;
  const double z = (std::log(x) - std::log(dist.median_ms)) / dist.sigma;
  return 0.5 * std::erfc(-z / std::sqrt(2.0));
}

double PartialMean(const LogNormal& dist, double x) {
  if (x <= 0) return 0;
  if (dist.sigma <= 0) return x >= dist.median_ms ? dist.median_ms : 0;
  const double mu = std::log(dist.median_ms);
  const double s2 = dist.sigma * dist.sigma;
  const double z = (std::log(x) - mu - s2) / dist.sigma;
  return std::exp(mu + s2 / 2) * 0.5 * std::erfc(-z / std::sqrt(2.0));
}

// The relay tried after `start_ms`, with `left_ms` of the budget left. Adds its share to `out`,
// weighted by `weight`, the chance of getting there.
void AddRelay(const Scenario& scenario, double weight, double start_ms, double left_ms,
              Expected& out) {
  const double on_time = Cdf(scenario.relay_time, left_ms);
  const double success = scenario.relay_success * on_time;
  out.success += weight * success;
  out.mean_time_ms +=
      weight *
      (scenario.relay_success * (start_ms * on_time + PartialMean(scenario.relay_time, left_ms)) +
       (1 - success) * scenario.budget_ms);
  out.relay_share += weight;
}

// SplitMix64's finaliser: a well-mixed 64-bit hash, so that neighbouring sessions land on
// unrelated installs.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::vector<Session> DrawSessions(const Scenario& scenario, int64_t count, uint64_t seed,
                                  int64_t installs) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<Session> sessions;
  sessions.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int64_t i = 0; i < count; ++i) {
    Session s;
    s.index = i;
    s.phase = scenario.PhaseOf(i);
    // Every session makes the same draws in the same order whatever it gets, so that one session's
    // values never shift another's.
    s.local = PickType(scenario, uniform(rng));
    s.remote = PickType(scenario, uniform(rng));
    s.local_reported = uniform(rng) < scenario.misreport ? NatType::kUnknown : s.local;
    s.remote_reported = uniform(rng) < scenario.misreport ? NatType::kUnknown : s.remote;
    const PairTruth& truth = scenario.phases[s.phase].pairs[s.true_pair().Index()];
    s.direct_possible = uniform(rng) < truth.direct_success;
    s.direct_ms =
        ToMs(truth.direct_time.median_ms * std::exp(truth.direct_time.sigma * normal(rng)));
    s.relay_ok = uniform(rng) < scenario.relay_success;
    s.relay_ms =
        ToMs(scenario.relay_time.median_ms * std::exp(scenario.relay_time.sigma * normal(rng)));
    if (installs > 1) {
      s.install = static_cast<int64_t>(Mix(Mix(seed) ^ static_cast<uint64_t>(i)) %
                                       static_cast<uint64_t>(installs));
    }
    sessions.push_back(s);
  }
  return sessions;
}

Played Play(const Session& session, Choice choice, uint32_t budget_ms) {
  Played out;
  uint32_t relay_start = 0;
  if (choice.strategy != Strategy::kTurnOnly) {
    const uint32_t timeout = std::clamp<uint32_t>(choice.timeout_ms, 1, budget_ms);
    if (session.direct_possible && session.direct_ms <= timeout) {
      out.attempts.push_back({Path::kDirect, Result::kSucceeded, session.direct_ms});
      out.connected = true;
      out.time_to_connect_ms = session.direct_ms;
      return out;
    }
    out.attempts.push_back({Path::kDirect, Result::kTimedOut, timeout});
    // A direct attempt that used the whole budget leaves no time for the relay.
    if (timeout >= budget_ms) return out;
    relay_start = timeout;
  }
  const uint32_t left = budget_ms - relay_start;
  out.relay_attempted = true;
  if (session.relay_ok && session.relay_ms <= left) {
    out.attempts.push_back({Path::kRelay, Result::kSucceeded, session.relay_ms});
    out.connected = true;
    out.time_to_connect_ms = relay_start + session.relay_ms;
  } else if (!session.relay_ok) {
    out.attempts.push_back({Path::kRelay, Result::kFailed, std::min(session.relay_ms, left)});
  } else {
    out.attempts.push_back({Path::kRelay, Result::kTimedOut, left});
  }
  return out;
}

Choice StaticTree(NatPair reported) {
  auto either = [reported](NatType t) { return reported.a == t || reported.b == t; };
  if (either(NatType::kBlocked)) return {Strategy::kTurnOnly, 0};
  if (either(NatType::kUnknown)) return {Strategy::kTurnFallback, kStaticFallbackTimeoutMs};
  if (reported.a == NatType::kSymmetric && reported.b == NatType::kSymmetric) {
    return {Strategy::kTurnOnly, 0};
  }
  if (either(NatType::kSymmetric)) return {Strategy::kTurnFallback, kStaticFallbackTimeoutMs};
  return {Strategy::kDirect, kStaticDirectTimeoutMs};
}

Expected ExpectedOutcome(const PairTruth& truth, const Scenario& scenario, Choice choice) {
  Expected out;
  const double budget = scenario.budget_ms;
  if (choice.strategy == Strategy::kTurnOnly) {
    AddRelay(scenario, 1.0, 0, budget, out);
  } else {
    const double timeout = std::clamp<double>(choice.timeout_ms, 1, budget);
    const double direct = truth.direct_success * Cdf(truth.direct_time, timeout);
    out.success = direct;
    out.mean_time_ms = truth.direct_success * PartialMean(truth.direct_time, timeout);
    if (timeout < budget) {
      AddRelay(scenario, 1 - direct, timeout, budget - timeout, out);
    } else {
      out.mean_time_ms += (1 - direct) * budget;
    }
  }
  out.cost = out.mean_time_ms + scenario.relay_cost_ms * out.relay_share;
  return out;
}

namespace {

// The options the oracle's search and the success price start from: TURN_ONLY first, then direct
// first (as TURN_FALLBACK) with every timeout on the coarse grid below the budget, and the budget.
std::vector<OracleChoice> CoarseOptions(const PairTruth& truth, const Scenario& scenario) {
  std::vector<OracleChoice> options;
  auto add = [&](Choice choice) {
    options.push_back({choice, ExpectedOutcome(truth, scenario, choice)});
  };
  add({Strategy::kTurnOnly, 0});
  for (uint32_t t = kOracleGridMs; t < scenario.budget_ms; t += kOracleGridMs) {
    add({Strategy::kTurnFallback, t});
  }
  add({Strategy::kTurnFallback, scenario.budget_ms});
  return options;
}

}  // namespace

OracleChoice Oracle(const PairTruth& truth, const Scenario& scenario) {
  const std::vector<OracleChoice> coarse = CoarseOptions(truth, scenario);
  OracleChoice best = coarse.front();
  OracleChoice direct;
  direct.expected.cost = INFINITY;
  auto consider = [&](const OracleChoice& option) {
    if (option.expected.cost < direct.expected.cost) direct = option;
  };
  for (size_t i = 1; i < coarse.size(); ++i) consider(coarse[i]);
  const uint32_t center = direct.choice.timeout_ms;
  const uint32_t low = center > kOracleGridMs ? center - kOracleGridMs : 1;
  const uint32_t high = std::min(scenario.budget_ms, center + kOracleGridMs);
  for (uint32_t t = low; t <= high; ++t) {
    const Choice choice{Strategy::kTurnFallback, t};
    consider({choice, ExpectedOutcome(truth, scenario, choice)});
  }
  if (direct.expected.cost < best.expected.cost) best = direct;
  return best;
}

std::vector<std::vector<OracleChoice>> OracleTable(const Scenario& scenario) {
  std::vector<std::vector<OracleChoice>> table;
  for (const Phase& phase : scenario.phases) {
    std::vector<OracleChoice> row;
    row.reserve(kNatPairCount);
    for (int i = 0; i < kNatPairCount; ++i) row.push_back(Oracle(phase.pairs[i], scenario));
    table.push_back(std::move(row));
  }
  return table;
}

namespace {

// One phase's pair, with its share of the run and its options on the oracle's coarse grid.
struct WeighedPair {
  double weight = 0;
  std::vector<OracleChoice> options;
};

void AddWeighted(Expected& into, const Expected& e, double weight) {
  into.success += weight * e.success;
  into.mean_time_ms += weight * e.mean_time_ms;
  into.relay_share += weight * e.relay_share;
  into.cost += weight * e.cost;
}

// The run's expected figures when every pair takes its option minimising cost + price × failure.
Expected AtPrice(const std::vector<WeighedPair>& pairs, double price) {
  Expected total;
  for (const WeighedPair& p : pairs) {
    const Expected* best = &p.options.front().expected;
    for (const OracleChoice& option : p.options) {
      const Expected& e = option.expected;
      if (e.cost + price * (1 - e.success) < best->cost + price * (1 - best->success)) best = &e;
    }
    AddWeighted(total, *best, p.weight);
  }
  return total;
}

}  // namespace

SuccessPrice PriceOfStaticSuccess(const Scenario& scenario,
                                  const std::vector<std::vector<OracleChoice>>& oracle) {
  std::array<double, kNatPairCount> mix{};
  for (NatType a : kTrueNatTypes) {
    for (NatType b : kTrueNatTypes) {
      mix[NatPair::Of(a, b).Index()] +=
          scenario.nat_mix[static_cast<int>(a)] * scenario.nat_mix[static_cast<int>(b)];
    }
  }
  double mix_total = 0;
  for (double m : mix) mix_total += m;

  std::vector<WeighedPair> pairs;
  SuccessPrice out;
  for (size_t k = 0; k < scenario.phases.size(); ++k) {
    const Phase& phase = scenario.phases[k];
    const int64_t end =
        k + 1 < scenario.phases.size() ? scenario.phases[k + 1].at_session : scenario.sessions;
    const double share = static_cast<double>(std::max<int64_t>(0, end - phase.at_session)) /
                         static_cast<double>(std::max<int64_t>(1, scenario.sessions));
    for (int i = 0; i < kNatPairCount; ++i) {
      if (mix[i] <= 0 || share <= 0) continue;
      const PairTruth& truth = phase.pairs[i];
      WeighedPair p;
      p.weight = share * mix[i] / mix_total;
      p.options = CoarseOptions(truth, scenario);
      AddWeighted(out.static_tree,
                  ExpectedOutcome(truth, scenario, StaticTree(NatPair::FromIndex(i))), p.weight);
      AddWeighted(out.oracle, oracle[k][i].expected, p.weight);
      pairs.push_back(std::move(p));
    }
  }
  const double goal = out.static_tree.success * (1 - 1e-12);
  out.matched = AtPrice(pairs, 0);
  if (out.matched.success >= goal) return out;
  // Doubles the price until it buys the static tree's success (a hair less: sums over pairs round),
  // then bisects.
  double low = 0;
  double high = std::max(1.0, static_cast<double>(scenario.budget_ms));
  for (int i = 0; i < 64 && AtPrice(pairs, high).success < goal; ++i) {
    low = high;
    high *= 2;
  }
  while (high - low > 1e-3 * high) {
    const double mid = (low + high) / 2;
    if (AtPrice(pairs, mid).success >= goal) {
      high = mid;
    } else {
      low = mid;
    }
  }
  out.failure_price_ms = high;
  out.matched = AtPrice(pairs, high);
  return out;
}

}  // namespace advisor::sim
