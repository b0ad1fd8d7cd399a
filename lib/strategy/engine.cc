#include "lib/strategy/engine.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/strategy/cost.h"

namespace advisor::strategy {
namespace {

// Priors: what a decision promises before the fleet has said anything about a (pair, strategy).
// They are round guesses, not measurements, ordered the way the strategies behave; fleet figures
// replace them once the strategy has min_samples aged sessions for the pair.
// DIRECT between cone NATs connects within a few round trips of gathering; what fails is mostly
// firewalls that the NAT type does not reveal.
constexpr double kDirectPriorSuccess = 0.90;
constexpr uint32_t kDirectPriorConnectMs = 1500;
// TURN_FALLBACK rescues most failed direct attempts with the relay, but those first wait out the
// direct timeout, which pulls the typical connect time up.
constexpr double kFallbackPriorSuccess = 0.95;
constexpr uint32_t kFallbackPriorConnectMs = 3000;
// TURN_ONLY: a relay allocation nearly always works and nothing has to fail before it is tried.
constexpr double kTurnOnlyPriorSuccess = 0.99;
constexpr uint32_t kTurnOnlyPriorConnectMs = 900;

// What the cost model believes about direct connection before a pair has history, by cold-start
// rule: round guesses in line with the table (a cone pair connects like the DIRECT prior; a
// symmetric side makes direct a coin toss, two make it rare), with the same spread of connect
// times. Only their shape matters much: prior_weight pseudo-attempts are soon outweighed.
constexpr double kPriorSigma = 0.6;
constexpr DirectPrior kConeDirectPrior = {kDirectPriorSuccess, kDirectPriorConnectMs, kPriorSigma};
constexpr DirectPrior kRiskyDirectPrior = {0.5, 2000, kPriorSigma};
constexpr DirectPrior kBothSymmetricDirectPrior = {0.1, 2000, kPriorSigma};
constexpr RelayPrior kRelayPrior = {kTurnOnlyPriorSuccess, kTurnOnlyPriorConnectMs};

// Cold-start direct timeouts (DESIGN.md §4). A pair held on TURN_ONLY by thin history explores
// direct-first with the TURN_FALLBACK one: the shortest the seed ever gives a risky pair.
constexpr uint32_t kDirectTimeoutMs = 15000;
constexpr uint32_t kFallbackTimeoutMs = 5000;

// The ICE candidate pool size of every answer. Each pooled gathering session holds one TURN
// allocation per TURN url, and a browser takes the pooled session for its first gathering: a pool
// of one pre-gathers without any call holding more than one allocation per TURN transport (the
// seed's larger, NAT-specific pools made up to eight, and a few calls exhausted a relay's ports).
// Browsers refuse to change the pool size once gathering has begun, so the fallback configuration
// uses the same.
constexpr uint32_t kPoolSize = 1;

// The rows of the cold-start table, in the order they are tried.
enum class ColdRule { kBlocked, kUnknown, kBothSymmetric, kOneSymmetric, kConeOrOpen };

ColdRule ColdRuleOf(NatPair pair) {
  auto either = [pair](NatType t) { return pair.a == t || pair.b == t; };
  if (either(NatType::kBlocked)) return ColdRule::kBlocked;
  if (either(NatType::kUnknown)) return ColdRule::kUnknown;
  if (pair.a == NatType::kSymmetric && pair.b == NatType::kSymmetric) {
    return ColdRule::kBothSymmetric;
  }
  if (either(NatType::kSymmetric)) return ColdRule::kOneSymmetric;
  return ColdRule::kConeOrOpen;
}

Strategy ColdStrategy(ColdRule rule) {
  switch (rule) {
    case ColdRule::kBlocked:
    case ColdRule::kBothSymmetric:
      return Strategy::kTurnOnly;
    case ColdRule::kUnknown:
    case ColdRule::kOneSymmetric:
      return Strategy::kTurnFallback;
    case ColdRule::kConeOrOpen:
      return Strategy::kDirect;
  }
  return Strategy::kTurnFallback;
}

absl::string_view RuleText(ColdRule rule) {
  switch (rule) {
    case ColdRule::kBlocked:
      return "one side has UDP blocked → TURN_ONLY over TCP with relay-only ICE";
    case ColdRule::kUnknown:
      return "a side is unknown or reported with low confidence → conservative TURN_FALLBACK "
             "with a 5 s direct timeout";
    case ColdRule::kBothSymmetric:
      return "both sides symmetric → TURN_ONLY with relay-only ICE";
    case ColdRule::kOneSymmetric:
      return "one side symmetric → TURN_FALLBACK with a 5 s direct timeout";
    case ColdRule::kConeOrOpen:
      return "both sides cone or open → DIRECT with a 15 s timeout";
  }
  return "";
}

// Strategies in reasons are spelt as in the API, upper case.
absl::string_view Upper(Strategy strategy) {
  switch (strategy) {
    case Strategy::kDirect:
      return "DIRECT";
    case Strategy::kTurnFallback:
      return "TURN_FALLBACK";
    case Strategy::kTurnOnly:
      return "TURN_ONLY";
    case Strategy::kUnspecified:
      break;
  }
  return "UNSPECIFIED";
}

// Rounded down to 0.1 %, so that a rate just under a threshold never prints as the threshold
// itself; the tolerance keeps binary fractions such as 15 / 50 from printing as 29.9 %.
std::string Percent(double fraction) {
  return absl::StrFormat("%g%%", std::floor(fraction * 1000 + 1e-9) / 10);
}

// Strategy-dependent fields, with the priors as expected figures and no direct timeout yet.
Decision Shape(NatPair pair, Strategy strategy, bool blocked) {
  Decision d;
  d.pair = pair;
  d.strategy = strategy;
  d.preferred_transport = blocked ? Transport::kTcp : Transport::kUdp;
  d.relay_only = strategy == Strategy::kTurnOnly;
  switch (strategy) {
    case Strategy::kDirect:
      d.ice_candidate_pool_size = kPoolSize;
      d.expected_success_rate = kDirectPriorSuccess;
      d.expected_connect_time_ms = kDirectPriorConnectMs;
      break;
    case Strategy::kTurnOnly:
      d.ice_candidate_pool_size = kPoolSize;
      d.expected_success_rate = kTurnOnlyPriorSuccess;
      d.expected_connect_time_ms = kTurnOnlyPriorConnectMs;
      break;
    case Strategy::kTurnFallback:
    case Strategy::kUnspecified:
      d.ice_candidate_pool_size = kPoolSize;
      d.expected_success_rate = kFallbackPriorSuccess;
      d.expected_connect_time_ms = kFallbackPriorConnectMs;
      break;
  }
  return d;
}

uint32_t ColdTimeoutMs(Strategy cold) {
  switch (cold) {
    case Strategy::kDirect:
      return kDirectTimeoutMs;
    case Strategy::kTurnOnly:
      return 0;
    case Strategy::kTurnFallback:
    case Strategy::kUnspecified:
      break;
  }
  return kFallbackTimeoutMs;
}

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

std::string Verdict(Strategy cold, Strategy chosen) {
  if (cold == chosen) return absl::StrCat("the cold-start ", Upper(cold), " stands");
  // Strategy values are ordered by how much they rely on the relay.
  const absl::string_view verb = chosen > cold ? "escalated" : "relaxed";
  return absl::StrCat(verb, " ", Upper(cold), " → ", Upper(chosen));
}

DirectPrior DirectPriorOf(ColdRule rule) {
  switch (rule) {
    case ColdRule::kConeOrOpen:
      return kConeDirectPrior;
    case ColdRule::kBothSymmetric:
      return kBothSymmetricDirectPrior;
    case ColdRule::kUnknown:
    case ColdRule::kOneSymmetric:
    case ColdRule::kBlocked:
      break;
  }
  return kRiskyDirectPrior;
}

// "3 s", "0.5 s".
std::string Secs(double ms) { return absl::StrFormat("%g s", ms / 1000); }

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
  std::string clamp_note;
  if (clamped != raw) {
    clamp_note = absl::StrFormat(", clamped to %g–%g s", absl::ToDoubleSeconds(config.min_timeout),
                                 absl::ToDoubleSeconds(config.max_timeout));
  }
  d.reasons.push_back(absl::StrFormat(
      "direct timeout for %s adapted from %d ms to %d ms: ×%g per direct success (%g recent) "
      "and ×%g per direct failure or timeout (%g recent)%s",
      name, t0, d.direct_timeout_ms, config.success_factor, std::round(successes * 10) / 10,
      config.failure_factor, std::round(failures * 10) / 10, clamp_note));
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
    d.reasons.push_back(absl::StrFormat(
        "expected success %s%s from %d recent %s sessions of %s", Percent(d.expected_success_rate),
        median.has_value()
            ? absl::StrFormat(" and median connect time %d ms", d.expected_connect_time_ms)
            : std::string(" (connect time is the prior: no connect times recorded)"),
        std::llround(mine.sessions), Upper(d.strategy), name));
  } else {
    d.reasons.push_back(absl::StrFormat(
        "expected success %s and connect time %d ms are the %s priors: %s has %d of the %g recent "
        "%s sessions needed to use its own figures",
        Percent(d.expected_success_rate), d.expected_connect_time_ms, Upper(d.strategy), name,
        std::llround(mine.sessions), config.min_samples, Upper(d.strategy)));
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

// "TURN_ONLY", or "direct first for 3 s (DIRECT: estimated direct success by then 95.1%, at or
// above 90%)".
std::string OptionText(const OptionEstimate& option, const EngineConfig& config) {
  if (option.timeout_ms == 0) return "TURN_ONLY";
  const Strategy label = LabelOf(option, config);
  return absl::StrFormat("direct first for %s (%s: estimated direct success by then %s, %s %s)",
                         Secs(option.timeout_ms), Upper(label), Percent(option.direct_success),
                         label == Strategy::kDirect ? "at or above" : "below",
                         Percent(config.direct_label_above));
}

std::string EstimateText(const std::string& name, const DirectCurve& direct,
                         const RelayEstimate& relay, std::span<const OptionEstimate> direct_first,
                         const EngineConfig& config) {
  std::string by;
  for (const OptionEstimate& option : direct_first) {
    absl::StrAppend(&by, by.empty() ? "" : ", ", Percent(option.direct_success), " within ",
                    Secs(option.timeout_ms));
  }
  std::string tail;
  if (direct.horizon < 0) {
    tail = " (no attempt reports how long it waited, so no direct success is assumed)";
  } else if (kConnectTimeBoundsMs[direct.horizon] < direct_first.back().timeout_ms) {
    tail = absl::StrFormat(" (none assumed past %s: no attempt was watched longer)",
                           Secs(kConnectTimeBoundsMs[direct.horizon]));
  }
  return absl::StrFormat(
      "fleet direct success for %s over %d recent direct attempts, each timed-out one counted as "
      "far as it waited and %g prior pseudo-attempts mixed in: %s%s; the relay connects %s of the "
      "time in %d ms on average (%d recent relay attempts and the prior)",
      name, std::llround(direct.attempts), config.prior_weight, by, tail, Percent(relay.success),
      std::llround(relay.mean_ms), std::llround(relay.attempts));
}

std::string CostText(const OptionEstimate& relay_only, std::span<const OptionEstimate> direct_first,
                     const CostModel& model) {
  std::string direct;
  for (const OptionEstimate& option : direct_first) {
    absl::StrAppend(&direct, direct.empty() ? "" : ", ", Secs(option.timeout_ms), " ",
                    std::llround(option.cost), " ms");
  }
  const std::string failure =
      model.failure_cost_ms > 0 ? absl::StrFormat(" and %g ms more", model.failure_cost_ms) : "";
  return absl::StrFormat(
      "expected cost per session (mean connect time, a failure counting the %s budget%s, plus %g "
      "ms per session that tries the relay): TURN_ONLY %d ms; direct first for %s",
      Secs(model.budget_ms), failure, model.relay_cost_ms, std::llround(relay_only.cost), direct);
}

std::string FiguresText(const std::string& name, const Decision& d) {
  return absl::StrFormat(
      "expected success %s and mean connect time %d ms for %s%s on %s, from the same estimates",
      Percent(d.expected_success_rate), d.expected_connect_time_ms, Upper(d.strategy),
      d.strategy == Strategy::kTurnOnly
          ? std::string()
          : absl::StrFormat(" with a %s direct timeout", Secs(d.direct_timeout_ms)),
      name);
}

// Advice for a pair whose history has too few direct attempts: the cold-start strategy with the
// seed's timeout rule, and for a pair held on TURN_ONLY by its rule, exploration with direct-first
// so that direct attempts can accumulate at all.
Advice ThinAdvice(NatPair p, const std::string& name, ColdRule rule, const AgedCounts& pooled,
                  const History& history, const EngineConfig& config) {
  const Strategy cold = ColdStrategy(rule);
  const double n = pooled.direct_attempts;
  Advice advice;
  Decision& d = advice.decision;
  d = Shape(p, cold, rule == ColdRule::kBlocked);
  if (std::llround(pooled.sessions) == 0 && std::llround(n) == 0) {
    d.reasons.push_back(absl::StrCat("no fleet history for ", name,
                                     " yet: using the cold-start rule '", RuleText(rule), "'"));
  } else {
    d.reasons.push_back(absl::StrFormat(
        "fleet history for %s is too thin to move the decision (%d of the %g recent direct "
        "attempts needed): using the cold-start rule '%s'",
        name, std::llround(n), config.min_samples, RuleText(rule)));
  }
  if (cold != Strategy::kTurnOnly) SeedTimeout(d, cold, pooled, name, config);
  MeasuredFigures(d, history, name, config);

  const double share = RelayOnlyExploreShare(pooled.sessions, config);
  if (cold == Strategy::kTurnOnly && rule != ColdRule::kBlocked && share > 0 &&
      pooled.sessions >= config.min_samples) {
    Decision e = Shape(p, Strategy::kTurnFallback, /*blocked=*/false);
    e.direct_timeout_ms = kFallbackTimeoutMs;
    e.reasons.push_back(absl::StrFormat(
        "exploration (%s of answers for %s): direct first for %s (TURN_FALLBACK) instead of "
        "TURN_ONLY, so that the fleet measures direct connection: it has %d of the %g recent "
        "direct attempts needed to judge it",
        Percent(share), name, Secs(kFallbackTimeoutMs), std::llround(n), config.min_samples));
    MeasuredFigures(e, history, name, config);
    advice.exploration = std::move(e);
    advice.exploration_probability = share;
  }
  return advice;
}

// A pair with a blocked side and enough history: still TURN_ONLY over TCP, saying what was seen.
Decision BlockedDecision(NatPair p, const std::string& name, const AgedCounts& pooled,
                         const History& history, const EngineConfig& config) {
  Decision d = Shape(p, Strategy::kTurnOnly, /*blocked=*/true);
  // UDP cannot carry a direct path however well others did; direct successes here come from
  // misreported NAT types.
  d.reasons.push_back(absl::StrFormat(
      "fleet direct success for %s is %s over %d recent attempts, but one side has UDP blocked: "
      "%s (a blocked side never relaxes)",
      name, Percent(pooled.direct_successes / pooled.direct_attempts),
      std::llround(pooled.direct_attempts), Verdict(Strategy::kTurnOnly, Strategy::kTurnOnly)));
  MeasuredFigures(d, history, name, config);
  return d;
}

// Advice from the cost model: the cheapest option, and the exploration variant beside it.
Advice ModelAdvice(NatPair p, const std::string& name, ColdRule rule, const AgedCounts& pooled,
                   const EngineConfig& config) {
  const DirectCurve direct = EstimateDirect(pooled, DirectPriorOf(rule), config.prior_weight);
  const RelayEstimate relay = EstimateRelay(pooled, kRelayPrior, config.prior_weight);
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

  const std::string estimates = EstimateText(name, direct, relay, direct_first, config);
  const std::string costs = CostText(relay_only, direct_first, model);
  Advice advice;
  Decision& d = advice.decision;
  d = FromOption(p, chosen, config);
  d.reasons = {estimates,
               absl::StrCat(costs, "; the lowest is ", OptionText(chosen, config), ": ",
                            Verdict(ColdStrategy(rule), d.strategy)),
               FiguresText(name, d)};

  // The option next to the chosen one that the chosen one stops the fleet from measuring: direct
  // connection for a pair on TURN_ONLY, the next bucket of connect times for a direct-first pair.
  const OptionEstimate* variant = nullptr;
  double share = 0;
  std::string purpose;
  if (relay_wins) {
    variant = &direct_first[best];
    share = RelayOnlyExploreShare(pooled.sessions, config);
    purpose = "so that the fleet keeps measuring whether direct connection works";
  } else if (best + 1 < direct_first.size() && config.explore_share > 0) {
    variant = &direct_first[best + 1];
    share = std::min(1.0, config.explore_share);
    purpose = absl::StrCat("to measure direct success past ", Secs(chosen.timeout_ms));
  }
  if (variant != nullptr && share > 0) {
    Decision e = FromOption(p, *variant, config);
    e.reasons = {
        absl::StrFormat("exploration (%s of answers for %s): %s instead of %s, %s; "
                        "expected cost %d ms against %d ms",
                        Percent(share), name, OptionText(*variant, config),
                        relay_wins ? std::string("TURN_ONLY")
                                   : absl::StrCat("direct first for ", Secs(chosen.timeout_ms)),
                        purpose, std::llround(variant->cost), std::llround(chosen.cost)),
        estimates, costs, FiguresText(name, e)};
    advice.exploration = std::move(e);
    advice.exploration_probability = share;
  }
  return advice;
}

}  // namespace

History AgeHistory(std::span<const BucketAggregate> buckets, absl::Time now,
                   absl::Duration bucket_width, absl::Duration half_life, double sample_half_life) {
  // Weight by age in time. A row with a strategy outside the enum cannot be filed anywhere: it
  // weighs nothing and is skipped below, which keeps the tables in bounds.
  std::vector<double> weight(buckets.size(), 0.0);
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (static_cast<int>(buckets[i].strategy) >= kStrategyCount) continue;
    const absl::Duration age = now - (buckets[i].bucket_start + bucket_width);
    weight[i] = 1.0;
    if (age > absl::ZeroDuration()) {
      // A non-positive half-life is the limit of ever faster decay: every closed bucket weighs 0.
      weight[i] =
          half_life > absl::ZeroDuration() ? std::exp2(-absl::FDivDuration(age, half_life)) : 0.0;
    }
  }

  // Weight by the pair's sessions reported since: walk each pair's parts from the newest, every
  // (bucket start, arrival) at once, counting the (time-aged) sessions of the newer ones.
  if (sample_half_life < std::numeric_limits<double>::infinity()) {
    std::vector<size_t> order(buckets.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::ranges::sort(order, [&](size_t x, size_t y) {
      const int px = buckets[x].pair.Index();
      const int py = buckets[y].pair.Index();
      if (px != py) return px < py;
      if (buckets[x].bucket_start != buckets[y].bucket_start) {
        return buckets[x].bucket_start > buckets[y].bucket_start;
      }
      return buckets[x].arrived > buckets[y].arrived;
    });
    double newer = 0;
    for (size_t begin = 0; begin < order.size();) {
      const BucketAggregate& first = buckets[order[begin]];
      if (begin == 0 || buckets[order[begin - 1]].pair.Index() != first.pair.Index()) newer = 0;
      size_t end = begin;
      double sessions = 0;
      while (end < order.size() && buckets[order[end]].pair.Index() == first.pair.Index() &&
             buckets[order[end]].bucket_start == first.bucket_start &&
             buckets[order[end]].arrived == first.arrived) {
        sessions += weight[order[end]] * static_cast<double>(buckets[order[end]].counts.sessions);
        ++end;
      }
      // As with the time half-life, a non-positive one weighs every older bucket 0. NaN counts as
      // no ageing by volume at all.
      const double factor = newer <= 0             ? 1.0
                            : sample_half_life > 0 ? std::exp2(-newer / sample_half_life)
                                                   : 0.0;
      for (size_t k = begin; k < end; ++k) weight[order[k]] *= factor;
      newer += sessions;
      begin = end;
    }
  }

  History history;
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (static_cast<int>(buckets[i].strategy) >= kStrategyCount) continue;
    history.at(buckets[i].pair, buckets[i].strategy).Add(buckets[i].counts, weight[i]);
  }
  return history;
}

NatType EffectiveType(NatType reported, float confidence, const EngineConfig& config) {
  // Written as !(>=) so that a NaN confidence counts as below the threshold.
  if (!(confidence >= config.min_confidence)) return NatType::kUnknown;
  if (static_cast<int>(reported) >= kNatTypeCount) return NatType::kUnknown;
  return reported;
}

Decision ColdStart(NatPair pair) {
  // Through the index so that an unordered pair, or a type outside the enum, takes its normal form.
  const NatPair p = NatPair::FromIndex(pair.Index());
  const ColdRule rule = ColdRuleOf(p);
  const Strategy strategy = ColdStrategy(rule);
  Decision d = Shape(p, strategy, rule == ColdRule::kBlocked);
  d.direct_timeout_ms = ColdTimeoutMs(strategy);
  d.reasons.push_back(absl::StrCat("cold start for ", PairName(p), ": ", RuleText(rule)));
  return d;
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
