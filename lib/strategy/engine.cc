#include "lib/strategy/engine.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

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

// Cold-start direct timeouts (DESIGN.md §4). A pair relaxed from TURN_ONLY has no direct timeout of
// its own and starts from the TURN_FALLBACK one: the shortest the seed ever gives a risky pair.
constexpr uint32_t kDirectTimeoutMs = 15000;
constexpr uint32_t kFallbackTimeoutMs = 5000;

// ICE candidate pool sizes (the seed's "NAT-specific pool size"), by the strategy given. DIRECT
// needs little pre-gathering: host and server-reflexive candidates are quick. TURN_FALLBACK
// pre-gathers more so that the relay candidates are ready the moment the direct timeout fires.
// Relay-only ICE gathers relay candidates only, and each pre-gathered one holds a TURN allocation,
// so one is enough.
constexpr uint32_t kDirectPoolSize = 2;
constexpr uint32_t kFallbackPoolSize = 4;
constexpr uint32_t kRelayOnlyPoolSize = 1;

// The last connect-time bucket is open-ended; for the median it is read as [30 s, 60 s].
constexpr double kLastBucketUpperMs = 60000;

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

// StrFormat rather than StrCat: this absl's string_view is its own type, not std::string_view.
std::string PairName(NatPair pair) {
  return absl::StrFormat("%s × %s", NatTypeName(pair.a), NatTypeName(pair.b));
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
      d.ice_candidate_pool_size = kDirectPoolSize;
      d.expected_success_rate = kDirectPriorSuccess;
      d.expected_connect_time_ms = kDirectPriorConnectMs;
      break;
    case Strategy::kTurnOnly:
      d.ice_candidate_pool_size = kRelayOnlyPoolSize;
      d.expected_success_rate = kTurnOnlyPriorSuccess;
      d.expected_connect_time_ms = kTurnOnlyPriorConnectMs;
      break;
    case Strategy::kTurnFallback:
    case Strategy::kUnspecified:
      d.ice_candidate_pool_size = kFallbackPoolSize;
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
      const double lo = i == 0 ? 0.0 : kConnectTimeBoundsMs[i - 1];
      const double hi = i < static_cast<int>(kConnectTimeBoundsMs.size()) ? kConnectTimeBoundsMs[i]
                                                                          : kLastBucketUpperMs;
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

}  // namespace

History AgeHistory(std::span<const BucketAggregate> buckets, absl::Time now,
                   absl::Duration bucket_width, absl::Duration half_life) {
  History history;
  for (const BucketAggregate& bucket : buckets) {
    // A row with a strategy outside the enum cannot be filed anywhere; skipping it keeps the tables
    // in bounds.
    if (static_cast<int>(bucket.strategy) >= kStrategyCount) continue;
    const absl::Duration age = now - (bucket.bucket_start + bucket_width);
    double weight = 1.0;
    if (age > absl::ZeroDuration()) {
      // A non-positive half-life is the limit of ever faster decay: every closed bucket weighs 0.
      weight =
          half_life > absl::ZeroDuration() ? std::exp2(-absl::FDivDuration(age, half_life)) : 0.0;
    }
    history.at(bucket.pair, bucket.strategy).Add(bucket.counts, weight);
  }
  return history;
}

RawCounts CountsOf(const Outcome& outcome) {
  RawCounts c;
  c.sessions = 1;
  for (const Attempt& attempt : outcome.attempts) {
    switch (attempt.path) {
      case Path::kDirect:
        ++c.direct_attempts;
        if (attempt.result == AttemptResult::kSucceeded) {
          ++c.direct_successes;
          ++c.direct_ms_hist[ConnectTimeBucket(attempt.duration_ms)];
        } else if (attempt.result == AttemptResult::kTimedOut) {
          ++c.direct_timeouts;
        } else if (attempt.result == AttemptResult::kFailed) {
          ++c.direct_failures;
        }
        break;
      case Path::kRelay:
        ++c.relay_attempts;
        if (attempt.result == AttemptResult::kSucceeded) ++c.relay_successes;
        break;
      case Path::kUnspecified:
        // Validation refuses these; an attempt on no known path says nothing about either path.
        break;
    }
  }
  if (outcome.connected) {
    c.connected = 1;
    c.connect_ms_sum = outcome.time_to_connect_ms;
    ++c.connect_ms_hist[ConnectTimeBucket(outcome.time_to_connect_ms)];
  }
  return c;
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

Decision Decide(NatPair pair, const History& history, const EngineConfig& config) {
  const NatPair p = NatPair::FromIndex(pair.Index());
  const std::string name = PairName(p);
  const ColdRule rule = ColdRuleOf(p);
  const Strategy cold = ColdStrategy(rule);
  const bool blocked = rule == ColdRule::kBlocked;

  // Direct attempts happen under DIRECT and TURN_FALLBACK alike; their outcome depends on the NATs,
  // not on what was advised, so the pair's direct statistics are pooled over every strategy.
  AgedCounts pooled;
  for (const AgedCounts& counts : history.counts[p.Index()]) pooled.Add(counts);
  const double n = pooled.direct_attempts;
  const double successes = pooled.direct_successes;
  const double failures = pooled.direct_timeouts + pooled.direct_failures;

  std::string strategy_reason;
  Strategy chosen = cold;
  if (!(n > 0 && n >= config.min_samples)) {
    if (std::llround(pooled.sessions) == 0 && std::llround(n) == 0) {
      strategy_reason = absl::StrCat("no fleet history for ", name,
                                     " yet: using the cold-start rule '", RuleText(rule), "'");
    } else {
      strategy_reason = absl::StrFormat(
          "fleet history for %s is too thin to move the decision (%d of the %g recent direct "
          "attempts needed): using the cold-start rule '%s'",
          name, std::llround(n), config.min_samples, RuleText(rule));
    }
  } else {
    const double rate = successes / n;
    const std::string measured =
        absl::StrFormat("fleet direct success for %s is %s over %d recent attempts", name,
                        Percent(rate), std::llround(n));
    if (blocked) {
      // UDP cannot carry a direct path however well others did; direct successes here come from
      // misreported NAT types.
      strategy_reason =
          absl::StrCat(measured, ", but one side has UDP blocked: ", Verdict(cold, cold),
                       " (a blocked side never relaxes)");
    } else if (rate < config.turn_only_below) {
      chosen = Strategy::kTurnOnly;
      strategy_reason = absl::StrCat(measured, " (below ", Percent(config.turn_only_below),
                                     "): ", Verdict(cold, chosen));
    } else if (rate < config.escalate_below) {
      chosen = cold == Strategy::kDirect ? Strategy::kTurnFallback : cold;
      strategy_reason = absl::StrCat(measured, " (below ", Percent(config.escalate_below),
                                     "): ", Verdict(cold, chosen));
    } else if (rate >= config.relax_above) {
      chosen = Strategy::kDirect;
      strategy_reason = absl::StrCat(measured, " (at or above ", Percent(config.relax_above),
                                     "): ", Verdict(cold, chosen));
    } else {
      strategy_reason =
          absl::StrCat(measured, " (between ", Percent(config.escalate_below), " and ",
                       Percent(config.relax_above), "): ", Verdict(cold, chosen));
    }
  }

  Decision d = Shape(p, chosen, blocked);
  d.reasons.push_back(std::move(strategy_reason));

  if (chosen != Strategy::kTurnOnly) {
    const uint32_t t0 = cold == Strategy::kTurnOnly ? kFallbackTimeoutMs : ColdTimeoutMs(cold);
    d.direct_timeout_ms = t0;
    // Less than one aged attempt is no evidence, and this keeps a pair whose history has faded away
    // on exactly the cold-start timeout.
    if (n >= 1) {
      // The seed's per-attempt ×0.9 / ×1.2 steps, summed in log space: the product no longer
      // depends on the order of outcomes or on how they were batched, and cannot overflow. The
      // clamp comes once, at the end; fmax/fmin also turn a NaN (non-positive factor) into the
      // lower bound.
      const double lo = std::log(absl::ToDoubleMilliseconds(config.min_timeout));
      const double hi =
          std::log(std::min(absl::ToDoubleMilliseconds(config.max_timeout),
                            static_cast<double>(std::numeric_limits<uint32_t>::max())));
      const double raw = std::log(static_cast<double>(t0)) +
                         successes * std::log(config.success_factor) +
                         failures * std::log(config.failure_factor);
      const double clamped = std::fmin(std::fmax(raw, lo), hi);
      d.direct_timeout_ms = static_cast<uint32_t>(std::llround(std::exp(clamped)));
      std::string clamp_note;
      if (clamped != raw) {
        clamp_note =
            absl::StrFormat(", clamped to %g–%g s", absl::ToDoubleSeconds(config.min_timeout),
                            absl::ToDoubleSeconds(config.max_timeout));
      }
      d.reasons.push_back(absl::StrFormat(
          "direct timeout for %s adapted from %d ms to %d ms: ×%g per direct success (%g recent) "
          "and ×%g per direct failure or timeout (%g recent)%s",
          name, t0, d.direct_timeout_ms, config.success_factor, std::round(successes * 10) / 10,
          config.failure_factor, std::round(failures * 10) / 10, clamp_note));
    }
  }

  const AgedCounts& mine = history.at(p, chosen);
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
        std::llround(mine.sessions), Upper(chosen), name));
  } else {
    d.reasons.push_back(absl::StrFormat(
        "expected success %s and connect time %d ms are the %s priors: %s has %d of the %g recent "
        "%s sessions needed to use its own figures",
        Percent(d.expected_success_rate), d.expected_connect_time_ms, Upper(chosen), name,
        std::llround(mine.sessions), config.min_samples, Upper(chosen)));
  }

  d.history_samples = static_cast<uint64_t>(std::llround(pooled.sessions));
  return d;
}

std::vector<Decision> DecideAll(const History& history, const EngineConfig& config) {
  std::vector<Decision> decisions;
  decisions.reserve(kNatPairCount);
  for (int i = 0; i < kNatPairCount; ++i) {
    decisions.push_back(Decide(NatPair::FromIndex(i), history, config));
  }
  return decisions;
}

}  // namespace advisor::strategy
