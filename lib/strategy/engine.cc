// The decision itself (engine.h): for each pair, the cold-start answer while its history is thin,
// TURN_ONLY for a blocked side, and otherwise the option the cost model finds cheapest; and beside
// each, the exploration variant that keeps data coming for the options not chosen.
//
// The cold-start table is in cold_start.cc, the wording of the reasons in explanation.cc, and the
// ageing that produces a History in ageing.cc; this file holds what is chosen from them.
#include "lib/strategy/engine.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "lib/strategy/ageing.h"
#include "lib/strategy/cold_start.h"
#include "lib/strategy/cost.h"
#include "lib/strategy/explanation.h"
#include "lib/strategy/types.h"

namespace advisor::strategy {
namespace {

// The cold-start table's names are used unqualified; the reasons are spelt internal::…Reason and
// internal::…Text, so that every sentence a decision gives is visibly built in explanation.cc.
using internal::ColdRelayPrior;
using internal::ColdRule;
using internal::ColdRuleOf;
using internal::ColdStrategy;
using internal::ColdTimeoutMs;
using internal::DirectPriorOf;
using internal::kFallbackTimeoutMs;
using internal::Shape;

// Median of a connect-time histogram, interpolating linearly inside the bucket that holds it.
std::optional<double> MedianMs(const std::array<double, kConnectTimeBuckets>& hist) {
  double total = 0;
  for (double h : hist) total += h;
  if (!(total > 0)) return std::nullopt;
  const double half = total / 2;
  double below = 0;
  for (int i = 0; i < kConnectTimeBuckets; ++i) {
    if (hist[i] <= 0) continue;
    if (below + hist[i] >= half) {
      const double lo = BucketLowerMs(i);
      const double hi = BucketUpperMs(i);
      return lo + (half - below) / hist[i] * (hi - lo);
    }
    below += hist[i];
  }
  // Not reached: the buckets sum to `total`, which is at least `half`.
  return std::nullopt;
}

uint32_t RoundMs(double ms) {
  return static_cast<uint32_t>(
      std::llround(std::clamp(ms, 0.0, static_cast<double>(std::numeric_limits<uint32_t>::max()))));
}

// The direct timeouts the cost model weighs: the histogram's bounds inside [min_timeout,
// max_timeout], and the two limits themselves. On a bound the estimate needs no interpolation, and
// the attempts timed out there are censored exactly where a bucket ends. A timeout past the connect
// budget would only wait on a session that has already failed.
std::vector<uint32_t> CandidateTimeouts(const EngineConfig& config) {
  constexpr double kMaxMs = std::numeric_limits<uint32_t>::max();
  const double lo =
      std::clamp(std::round(absl::ToDoubleMilliseconds(config.min_timeout)), 1.0, kMaxMs);
  const double hi = std::clamp(
      std::round(absl::ToDoubleMilliseconds(std::min(config.max_timeout, config.connect_budget))),
      lo, kMaxMs);
  std::vector<uint32_t> timeouts = {static_cast<uint32_t>(lo)};
  for (const uint32_t bound : kConnectTimeBoundsMs) {
    if (bound > lo && bound < hi) timeouts.push_back(bound);
  }
  if (hi > lo) timeouts.push_back(static_cast<uint32_t>(hi));
  return timeouts;
}

// A pair on TURN_ONLY gets direct attempts from exploration alone. Were they to age below
// min_samples, the pair would fall back to its cold-start rule — for a cone pair, DIRECT for every
// session — so it explores enough to keep about twice min_samples of them in view, within
// kMaxExploreShare.
double RelayOnlyExploreShare(double sessions, const EngineConfig& config) {
  if (!(config.explore_share > 0)) return 0;
  const double keep = sessions > 0 ? 2 * config.min_samples / sessions : kMaxExploreShare;
  return std::min(1.0, std::max(config.explore_share, std::min(kMaxExploreShare, keep)));
}

// The seed's ×0.9 / ×1.2 timeout rule over the pair's aged direct counts, from the cold-start
// timeout of `cold` (a direct-first strategy).
void SeedTimeout(Decision& d, Strategy cold, const AgedCounts& pooled, const std::string& name,
                 const EngineConfig& config) {
  const uint32_t t0 = ColdTimeoutMs(cold);
  d.direct_timeout_ms = t0;
  // Too few attempts are no evidence (and could all come from one client), and this keeps a pair
  // whose history has faded away on exactly the cold-start timeout.
  if (!(pooled.direct_attempts >= std::max(1.0, config.min_timeout_samples))) return;
  const double successes = pooled.direct_successes;
  const double failures = pooled.direct_timeouts + pooled.direct_failures;
  // The seed's per-attempt steps, summed in log space: the product no longer depends on the order
  // of outcomes or on how they were batched, and cannot overflow. The clamp comes once, at the end;
  // fmax/fmin also turn a NaN (non-positive factor) into the lower bound.
  const double lo = std::log(absl::ToDoubleMilliseconds(config.min_timeout));
  const double hi = std::log(std::min(absl::ToDoubleMilliseconds(config.max_timeout),
                                      static_cast<double>(std::numeric_limits<uint32_t>::max())));
  const double raw = std::log(static_cast<double>(t0)) +
                     successes * std::log(config.success_factor) +
                     failures * std::log(config.failure_factor);
  const double clamped = std::fmin(std::fmax(raw, lo), hi);
  d.direct_timeout_ms = static_cast<uint32_t>(std::llround(std::exp(clamped)));
  d.reasons.push_back(internal::SeedTimeoutReason(name, t0, d.direct_timeout_ms, successes,
                                                  failures, clamped != raw, config));
}

// Expected figures of a decision taken without the cost model: the strategy's own recent sessions
// for the pair when it has min_samples of them, else the strategy's priors.
void MeasuredFigures(Decision& d, const History& history, const std::string& name,
                     const EngineConfig& config) {
  const AgedCounts& mine = history.at(d.pair, d.strategy);
  if (mine.sessions > 0 && mine.sessions >= config.min_samples) {
    d.expected_success_rate = mine.connected / mine.sessions;
    const std::optional<double> median = MedianMs(mine.connect_ms_hist);
    if (median.has_value()) {
      d.expected_connect_time_ms = static_cast<uint32_t>(std::llround(*median));
    }
    d.reasons.push_back(
        internal::MeasuredFiguresReason(d, mine.sessions, median.has_value(), name));
  } else {
    d.reasons.push_back(internal::PriorFiguresReason(d, mine.sessions, name, config));
  }
}

Strategy LabelOf(const OptionEstimate& option, const EngineConfig& config) {
  if (option.timeout_ms == 0) return Strategy::kTurnOnly;
  return option.direct_success >= config.direct_label_above ? Strategy::kDirect
                                                            : Strategy::kTurnFallback;
}

// The decision that gives `option`, with the option's estimates as its expected figures.
Decision FromOption(NatPair pair, const OptionEstimate& option, const EngineConfig& config) {
  Decision d = Shape(pair, LabelOf(option, config), /*blocked=*/false);
  d.direct_timeout_ms = option.timeout_ms;
  d.expected_success_rate = option.success;
  d.expected_connect_time_ms = RoundMs(option.connect_ms);
  return d;
}

// Advice for a pair whose history has too few direct attempts: the cold-start strategy with the
// seed's timeout rule, and for a pair held on TURN_ONLY by its rule, exploration with direct-first
// so that direct attempts can accumulate at all.
Advice ThinAdvice(NatPair p, const std::string& name, ColdRule rule, const AgedCounts& pooled,
                  const History& history, const EngineConfig& config) {
  const Strategy cold = ColdStrategy(rule);
  Advice advice;
  Decision& d = advice.decision;
  d = Shape(p, cold, rule == ColdRule::kBlocked);
  d.reasons.push_back(internal::ThinHistoryReason(name, rule, pooled, config));
  if (cold != Strategy::kTurnOnly) SeedTimeout(d, cold, pooled, name, config);
  MeasuredFigures(d, history, name, config);

  const double share = RelayOnlyExploreShare(pooled.sessions, config);
  if (cold == Strategy::kTurnOnly && rule != ColdRule::kBlocked && share > 0 &&
      pooled.sessions >= config.min_samples) {
    Decision e = Shape(p, Strategy::kTurnFallback, /*blocked=*/false);
    e.direct_timeout_ms = kFallbackTimeoutMs;
    e.reasons.push_back(internal::ThinExplorationReason(share, name, kFallbackTimeoutMs,
                                                        pooled.direct_attempts, config));
    MeasuredFigures(e, history, name, config);
    advice.exploration = std::move(e);
    advice.exploration_probability = share;
  }
  return advice;
}

// A pair with a blocked side and enough history: still TURN_ONLY over TCP, saying what was seen.
// UDP cannot carry a direct path however well others did; direct successes here come from
// misreported NAT types.
Decision BlockedDecision(NatPair p, const std::string& name, const AgedCounts& pooled,
                         const History& history, const EngineConfig& config) {
  Decision d = Shape(p, Strategy::kTurnOnly, /*blocked=*/true);
  d.reasons.push_back(internal::BlockedReason(name, pooled));
  MeasuredFigures(d, history, name, config);
  return d;
}

// Advice from the cost model: the cheapest option, and the exploration variant beside it.
Advice ModelAdvice(NatPair p, const std::string& name, ColdRule rule, const AgedCounts& pooled,
                   const EngineConfig& config) {
  const DirectCurve direct = EstimateDirect(pooled, DirectPriorOf(rule), config.prior_weight);
  const RelayEstimate relay = EstimateRelay(pooled, ColdRelayPrior(), config.prior_weight);
  const CostModel model = {.relay_cost_ms = config.relay_cost_ms,
                           .budget_ms = absl::ToDoubleMilliseconds(config.connect_budget),
                           .failure_cost_ms = config.failure_cost_ms};
  const OptionEstimate relay_only = RelayOnly(relay, model);
  std::vector<OptionEstimate> direct_first;
  for (const uint32_t timeout : CandidateTimeouts(config)) {
    direct_first.push_back(DirectFirst(direct, relay, timeout, model));
  }
  size_t best = 0;
  for (size_t i = 1; i < direct_first.size(); ++i) {
    if (direct_first[i].cost < direct_first[best].cost) best = i;
  }
  const bool relay_wins = relay_only.cost < direct_first[best].cost;
  const OptionEstimate& chosen = relay_wins ? relay_only : direct_first[best];

  const std::string estimates = internal::EstimateText(name, direct, relay, direct_first, config);
  const std::string costs = internal::CostText(relay_only, direct_first, model);
  Advice advice;
  Decision& d = advice.decision;
  d = FromOption(p, chosen, config);
  d.reasons = {estimates,
               internal::ChoiceReason(costs, chosen, d.strategy, ColdStrategy(rule), config),
               internal::FiguresText(name, d)};

  // The option next to the chosen one that the chosen one stops the fleet from measuring: direct
  // connection for a pair on TURN_ONLY, the next bucket of connect times for a direct-first pair.
  const OptionEstimate* variant = nullptr;
  double share = 0;
  if (relay_wins) {
    variant = &direct_first[best];
    share = RelayOnlyExploreShare(pooled.sessions, config);
  } else if (best + 1 < direct_first.size() && config.explore_share > 0) {
    variant = &direct_first[best + 1];
    share = std::min(1.0, config.explore_share);
  }
  if (variant != nullptr && share > 0) {
    Decision e = FromOption(p, *variant, config);
    e.reasons = {internal::ModelExplorationReason(share, name, *variant, e.strategy, chosen,
                                                  relay_wins, config),
                 estimates, costs, internal::FiguresText(name, e)};
    advice.exploration = std::move(e);
    advice.exploration_probability = share;
  }
  return advice;
}

}  // namespace

NatType EffectiveType(NatType reported, float confidence, const EngineConfig& config) {
  // Written as !(>=) so that a NaN confidence counts as below the threshold.
  if (!(confidence >= config.min_confidence)) return NatType::kUnknown;
  if (static_cast<int>(reported) >= kNatTypeCount) return NatType::kUnknown;
  return reported;
}

Advice Advise(NatPair pair, const History& history, const EngineConfig& config) {
  // Through the index so that an unordered pair, or a type outside the enum, takes its normal form.
  const NatPair p = NatPair::FromIndex(pair.Index());
  const std::string name = PairName(p);
  const ColdRule rule = ColdRuleOf(p);

  // Direct attempts happen under DIRECT and TURN_FALLBACK alike; their outcome depends on the NATs,
  // not on what was advised, so the pair's direct (and relay) statistics are pooled over every
  // strategy.
  AgedCounts pooled;
  for (const AgedCounts& counts : history.counts[p.Index()]) pooled.Add(counts);
  const double n = pooled.direct_attempts;

  Advice advice;
  if (!(n > 0 && n >= config.min_samples)) {
    advice = ThinAdvice(p, name, rule, pooled, history, config);
  } else if (rule == ColdRule::kBlocked) {
    advice.decision = BlockedDecision(p, name, pooled, history, config);
  } else {
    advice = ModelAdvice(p, name, rule, pooled, config);
  }
  // Every answer, exploration included, says how many of the pair's sessions informed it.
  const auto samples = static_cast<uint64_t>(std::llround(pooled.sessions));
  advice.decision.history_samples = samples;
  if (advice.exploration) advice.exploration->history_samples = samples;
  return advice;
}

Decision Decide(NatPair pair, const History& history, const EngineConfig& config) {
  return Advise(pair, history, config).decision;
}

std::vector<Advice> DecideAll(const History& history, const EngineConfig& config) {
  std::vector<Advice> advice;
  advice.reserve(kNatPairCount);
  for (int i = 0; i < kNatPairCount; ++i) {
    advice.push_back(Advise(NatPair::FromIndex(i), history, config));
  }
  return advice;
}

}  // namespace advisor::strategy
