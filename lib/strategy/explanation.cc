// The wording of every reason a decision gives (explanation.h). Figures are rounded for reading:
// rates down to 0.1 %, times to whole milliseconds or to seconds as "%g s", aged counts to whole
// numbers (or to a tenth in the seed's timeout rule, where fractions of an attempt add up).
#include "lib/strategy/explanation.h"

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/strategy/cold_start.h"
#include "lib/strategy/cost.h"
#include "lib/strategy/engine.h"
#include "lib/strategy/types.h"

namespace advisor::strategy::internal {
namespace {

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

// Strategies in reasons are spelt as in the API, upper case: StrategyName's, raised. (This absl's
// string_view is its own type, not std::string_view.)
std::string Upper(Strategy strategy) {
  const std::string_view name = StrategyName(strategy);
  return absl::AsciiStrToUpper(absl::string_view(name.data(), name.size()));
}

// Rounded down to 0.1 %, so that a rate just under a threshold never prints as the threshold
// itself; the tolerance keeps binary fractions such as 15 / 50 from printing as 29.9 %.
std::string Percent(double fraction) {
  return absl::StrFormat("%g%%", std::floor(fraction * 1000 + 1e-9) / 10);
}

// "3 s", "0.5 s".
std::string Secs(double ms) { return absl::StrFormat("%g s", ms / 1000); }

std::string Verdict(Strategy cold, Strategy chosen) {
  if (cold == chosen) return absl::StrCat("the cold-start ", Upper(cold), " stands");
  // Strategy values are ordered by how much they rely on the relay.
  const absl::string_view verb = chosen > cold ? "escalated" : "relaxed";
  return absl::StrCat(verb, " ", Upper(cold), " → ", Upper(chosen));
}

// "TURN_ONLY", or "direct first for 3 s (DIRECT: estimated direct success by then 95.1%, at or
// above 90%)".
std::string OptionText(const OptionEstimate& option, Strategy label, const EngineConfig& config) {
  if (option.timeout_ms == 0) return "TURN_ONLY";
  return absl::StrFormat("direct first for %s (%s: estimated direct success by then %s, %s %s)",
                         Secs(option.timeout_ms), Upper(label), Percent(option.direct_success),
                         label == Strategy::kDirect ? "at or above" : "below",
                         Percent(config.direct_label_above));
}

}  // namespace

std::string ColdStartReason(const std::string& name, ColdRule rule) {
  return absl::StrCat("cold start for ", name, ": ", RuleText(rule));
}

std::string ThinHistoryReason(const std::string& name, ColdRule rule, const AgedCounts& pooled,
                              const EngineConfig& config) {
  const double n = pooled.direct_attempts;
  if (std::llround(pooled.sessions) == 0 && std::llround(n) == 0) {
    return absl::StrCat("no fleet history for ", name, " yet: using the cold-start rule '",
                        RuleText(rule), "'");
  }
  return absl::StrFormat(
      "fleet history for %s is too thin to move the decision (%d of the %g recent direct "
      "attempts needed): using the cold-start rule '%s'",
      name, std::llround(n), config.min_samples, RuleText(rule));
}

std::string SeedTimeoutReason(const std::string& name, uint32_t from_ms, uint32_t to_ms,
                              double successes, double failures, bool clamped,
                              const EngineConfig& config) {
  std::string clamp_note;
  if (clamped) {
    clamp_note = absl::StrFormat(", clamped to %g–%g s", absl::ToDoubleSeconds(config.min_timeout),
                                 absl::ToDoubleSeconds(config.max_timeout));
  }
  return absl::StrFormat(
      "direct timeout for %s adapted from %d ms to %d ms: ×%g per direct success (%g recent) "
      "and ×%g per direct failure or timeout (%g recent)%s",
      name, from_ms, to_ms, config.success_factor, std::round(successes * 10) / 10,
      config.failure_factor, std::round(failures * 10) / 10, clamp_note);
}

std::string MeasuredFiguresReason(const Decision& d, double sessions, bool has_median,
                                  const std::string& name) {
  return absl::StrFormat(
      "expected success %s%s from %d recent %s sessions of %s", Percent(d.expected_success_rate),
      has_median ? absl::StrFormat(" and median connect time %d ms", d.expected_connect_time_ms)
                 : std::string(" (connect time is the prior: no connect times recorded)"),
      std::llround(sessions), Upper(d.strategy), name);
}

std::string PriorFiguresReason(const Decision& d, double sessions, const std::string& name,
                               const EngineConfig& config) {
  return absl::StrFormat(
      "expected success %s and connect time %d ms are the %s priors: %s has %d of the %g recent "
      "%s sessions needed to use its own figures",
      Percent(d.expected_success_rate), d.expected_connect_time_ms, Upper(d.strategy), name,
      std::llround(sessions), config.min_samples, Upper(d.strategy));
}

std::string ThinExplorationReason(double share, const std::string& name, uint32_t timeout_ms,
                                  double direct_attempts, const EngineConfig& config) {
  return absl::StrFormat(
      "exploration (%s of answers for %s): direct first for %s (TURN_FALLBACK) instead of "
      "TURN_ONLY, so that the fleet measures direct connection: it has %d of the %g recent "
      "direct attempts needed to judge it",
      Percent(share), name, Secs(timeout_ms), std::llround(direct_attempts), config.min_samples);
}

std::string BlockedReason(const std::string& name, const AgedCounts& pooled) {
  return absl::StrFormat(
      "fleet direct success for %s is %s over %d recent attempts, but one side has UDP blocked: "
      "%s (a blocked side never relaxes)",
      name, Percent(pooled.direct_successes / pooled.direct_attempts),
      std::llround(pooled.direct_attempts), Verdict(Strategy::kTurnOnly, Strategy::kTurnOnly));
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

std::string ChoiceReason(const std::string& costs, const OptionEstimate& chosen, Strategy label,
                         Strategy cold, const EngineConfig& config) {
  return absl::StrCat(costs, "; the lowest is ", OptionText(chosen, label, config), ": ",
                      Verdict(cold, label));
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

std::string ModelExplorationReason(double share, const std::string& name,
                                   const OptionEstimate& variant, Strategy variant_label,
                                   const OptionEstimate& chosen, bool relay_wins,
                                   const EngineConfig& config) {
  // What the variant lets the fleet measure that the chosen option does not: direct connection
  // for a pair on TURN_ONLY, the next bucket of connect times for a direct-first pair.
  const std::string purpose =
      relay_wins ? std::string("so that the fleet keeps measuring whether direct connection works")
                 : absl::StrCat("to measure direct success past ", Secs(chosen.timeout_ms));
  return absl::StrFormat(
      "exploration (%s of answers for %s): %s instead of %s, %s; expected cost %d ms against %d ms",
      Percent(share), name, OptionText(variant, variant_label, config),
      relay_wins ? std::string("TURN_ONLY")
                 : absl::StrCat("direct first for ", Secs(chosen.timeout_ms)),
      purpose, std::llround(variant.cost), std::llround(chosen.cost));
}

}  // namespace advisor::strategy::internal
