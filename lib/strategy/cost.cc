#include "lib/strategy/cost.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace advisor::strategy {
namespace {

// The time that stands for the attempts of (lo, hi]. Connect times are roughly log-normal and the
// bounds roughly geometric, so the geometric midpoint is much closer to a bucket's mean than the
// arithmetic one; the first bucket starts at 0, where only the arithmetic one is defined.
double Representative(double lo, double hi) { return lo > 0 ? std::sqrt(lo * hi) : hi / 2; }

int BucketOf(double ms) {
  return ConnectTimeBucket(static_cast<uint32_t>(
      std::min(ms, static_cast<double>(std::numeric_limits<uint32_t>::max()))));
}

// P(a prior direct attempt is still unconnected at t).
double PriorSurvival(const DirectPrior& prior, double t) {
  if (!(t > 0)) return 1;
  double reached = t >= prior.median_ms ? 1.0 : 0.0;
  if (prior.sigma > 0 && prior.median_ms > 0) {
    const double z = std::log(t / prior.median_ms) / prior.sigma;
    reached = 0.5 * std::erfc(-z / std::sqrt(2.0));
  }
  return 1 - prior.success * reached;
}

}  // namespace

double DirectCurve::SuccessWithin(double ms) const {
  if (!(ms > 0)) return 0;
  const int k = BucketOf(ms);
  if (k >= kConnectTimeBounds) return success_by.back();
  const double lo = BucketLowerMs(k);
  const double below = k == 0 ? 0.0 : success_by[k - 1];
  return below + (success_by[k] - below) * (ms - lo) / (BucketUpperMs(k) - lo);
}

double DirectCurve::TimeWithin(double ms) const {
  if (!(ms > 0)) return 0;
  const int k = BucketOf(ms);
  if (k >= kConnectTimeBounds) return time_by.back();
  const double lo = BucketLowerMs(k);
  const double below = k == 0 ? 0.0 : success_by[k - 1];
  const double time_below = k == 0 ? 0.0 : time_by[k - 1];
  return time_below + (SuccessWithin(ms) - below) * Representative(lo, ms);
}

DirectCurve EstimateDirect(const AgedCounts& counts, const DirectPrior& prior,
                           double prior_weight) {
  DirectCurve curve;
  std::array<double, kConnectTimeBuckets> events = counts.direct_ms_hist;
  const std::array<double, kConnectTimeBuckets>& censored = counts.direct_censored_hist;
  double recorded_events = 0;
  double recorded_censored = 0;
  for (int i = 0; i < kConnectTimeBuckets; ++i) {
    recorded_events += events[i];
    recorded_censored += censored[i];
  }
  // Counters without a duration (rows written before the histograms existed): a success is placed
  // at the prior's typical time, a timeout of unknown length counts as never connecting, which
  // errs towards the relay until such rows age out.
  events[BucketOf(prior.median_ms)] += std::max(0.0, counts.direct_successes - recorded_events);
  const double never =
      counts.direct_failures + std::max(0.0, counts.direct_timeouts - recorded_censored);
  double at_risk = never;
  for (int i = 0; i < kConnectTimeBuckets; ++i) {
    at_risk += events[i] + censored[i];
    if (events[i] > 0 || censored[i] > 0) curve.horizon = std::min(i, kConnectTimeBounds - 1);
  }
  curve.attempts = at_risk;

  const double weight = std::max(0.0, prior_weight);
  double survival = 1;
  double time = 0;
  for (int i = 0; i < kConnectTimeBounds; ++i) {
    const double lo = BucketLowerMs(i);
    const double hi = BucketUpperMs(i);
    if (i <= curve.horizon) {
      const double prior_at_risk = weight * PriorSurvival(prior, lo);
      const double prior_events = prior_at_risk - weight * PriorSurvival(prior, hi);
      const double risk = at_risk + prior_at_risk;
      const double hazard = risk > 0 ? std::clamp((events[i] + prior_events) / risk, 0.0, 1.0) : 0;
      time += survival * hazard * Representative(lo, hi);
      survival *= 1 - hazard;
    }
    curve.success_by[i] = 1 - survival;
    curve.time_by[i] = time;
    at_risk -= events[i] + censored[i];
  }
  return curve;
}

double RelayEstimate::Within(double ms) const {
  double total = prior_mass;
  double within = ms >= prior_ms ? prior_mass : 0.0;
  for (int i = 0; i < kConnectTimeBuckets; ++i) {
    total += hist[i];
    const double lo = BucketLowerMs(i);
    within += hist[i] * std::clamp((ms - lo) / (BucketUpperMs(i) - lo), 0.0, 1.0);
  }
  if (!(total > 0)) return ms > 0 ? 1.0 : 0.0;
  return within / total;
}

RelayEstimate EstimateRelay(const AgedCounts& counts, const RelayPrior& prior,
                            double prior_weight) {
  RelayEstimate relay;
  const double weight = std::max(0.0, prior_weight);
  relay.attempts = counts.relay_attempts;
  relay.hist = counts.relay_ms_hist;
  relay.prior_ms = prior.mean_ms;
  relay.prior_mass = weight * prior.success;
  const double tries = counts.relay_attempts + weight;
  relay.success =
      tries > 0 ? std::clamp((counts.relay_successes + weight * prior.success) / tries, 0.0, 1.0)
                : prior.success;
  double mass = relay.prior_mass;
  double time = relay.prior_mass * prior.mean_ms;
  for (int i = 0; i < kConnectTimeBuckets; ++i) {
    mass += relay.hist[i];
    time += relay.hist[i] * Representative(BucketLowerMs(i), BucketUpperMs(i));
  }
  relay.mean_ms = mass > 0 ? time / mass : prior.mean_ms;
  return relay;
}

OptionEstimate RelayOnly(const RelayEstimate& relay, const CostModel& model) {
  OptionEstimate option;
  const double connects = relay.success * relay.Within(model.budget_ms);
  option.success = connects;
  option.relay_share = 1;
  option.connect_ms = connects > 0 ? relay.mean_ms : 0;
  option.cost = connects * relay.mean_ms +
                (1 - connects) * (model.budget_ms + model.failure_cost_ms) + model.relay_cost_ms;
  return option;
}

OptionEstimate DirectFirst(const DirectCurve& direct, const RelayEstimate& relay,
                           uint32_t timeout_ms, const CostModel& model) {
  OptionEstimate option;
  option.timeout_ms = timeout_ms;
  const double t = timeout_ms;
  const double direct_success = direct.SuccessWithin(t);
  const double missed = 1 - direct_success;
  // A timeout that uses the whole budget leaves no time to try the relay at all.
  const bool relays = model.budget_ms - t > 0;
  const double rescued = relays ? relay.success * relay.Within(model.budget_ms - t) : 0.0;
  const double connected_time = direct.TimeWithin(t) + missed * rescued * (t + relay.mean_ms);
  option.direct_success = direct_success;
  option.success = direct_success + missed * rescued;
  option.relay_share = relays ? missed : 0.0;
  option.connect_ms = option.success > 0 ? connected_time / option.success : 0;
  option.cost = connected_time + (1 - option.success) * (model.budget_ms + model.failure_cost_ms) +
                model.relay_cost_ms * option.relay_share;
  return option;
}

}  // namespace advisor::strategy
