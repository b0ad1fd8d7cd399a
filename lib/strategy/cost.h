// The estimates behind the cost-minimising choice: how likely a direct attempt connects within a
// given time, how the relay does, and what each option costs on average.
//
// The client model the choice optimises: a direct-first session (DIRECT or TURN_FALLBACK, which
// behave the same) tries direct until its timeout T, keeps the direct path if it connected by then,
// and otherwise relays, connecting at T + relay time if the relay works within the session's
// budget; TURN_ONLY relays at once. The cost of an option is the mean time to connect (a session
// that fails counts the whole budget) plus a business cost for every session that turns to the
// relay: its allocation is paid for whether or not it then connects; and, if the operator sets one,
// a price for every session that fails, beyond the budget it waited.
//
// Everything here works on one pair's aged counts, pooled over strategies: a direct attempt's fate
// depends on the two NATs, not on what the client was advised.
#ifndef ADVISOR_LIB_STRATEGY_COST_H_
#define ADVISOR_LIB_STRATEGY_COST_H_

#include <array>
#include <cstdint>

#include "lib/strategy/types.h"

namespace advisor::strategy {

inline constexpr int kConnectTimeBounds = kConnectTimeBoundsMs.size();

// What is believed about direct connection before the fleet has said anything: it eventually
// connects with probability `success`, after a log-normal time with this median and spread (the
// standard deviation of its logarithm).
struct DirectPrior {
  double success = 0;
  double median_ms = 1500;
  double sigma = 0.6;
};

// The same for the relay: it connects with probability `success`, in `mean_ms` on average.
struct RelayPrior {
  double success = 0.99;
  double mean_ms = 900;
};

// P(direct connects within t) and E[time × 1{connects within t}], at the histogram's bounds.
//
// Kaplan–Meier over the histogram buckets: successful attempts are events at their duration,
// timed-out attempts are censored at theirs (observed not to connect for that long, unknown after),
// and attempts that failed before the timeout never connect, so they stay at risk throughout.
// Within a bucket, events come before censoring (a timeout of exactly 5 s watched the whole (3 s, 5
// s] bucket). `prior_weight` pseudo-attempts drawn from the prior are added to every bucket's
// events and attempts at risk, so that thin data stays near the prior.
//
// Past the last bucket that any reported attempt lasted into (`horizon`), nothing was watched: no
// further success is assumed there, whatever the prior says, and exploration is what measures it.
struct DirectCurve {
  std::array<double, kConnectTimeBounds> success_by{};  // at kConnectTimeBoundsMs[i]
  std::array<double, kConnectTimeBounds> time_by{};     // ms, same points
  int horizon = -1;     // index of the last bound reported attempts reached; -1 when there are none
  double attempts = 0;  // reported (aged) direct attempts, the prior excluded

  // At any time: linear inside a bucket, flat after the last bound.
  double SuccessWithin(double ms) const;
  double TimeWithin(double ms) const;
};

DirectCurve EstimateDirect(const AgedCounts& counts, const DirectPrior& prior, double prior_weight);

// Relay success per attempt and its connect-time distribution: the reported attempts plus
// `prior_weight` pseudo-attempts from the prior.
struct RelayEstimate {
  double success = 0;
  double mean_ms = 0;
  double attempts = 0;  // reported (aged) relay attempts, the prior excluded
  std::array<double, kConnectTimeBuckets> hist{};  // reported successes by connect time
  double prior_mass = 0;                           // pseudo-successes, all at prior_ms
  double prior_ms = 0;

  // P(relay connect time <= ms), given that the relay connects.
  double Within(double ms) const;
};

RelayEstimate EstimateRelay(const AgedCounts& counts, const RelayPrior& prior, double prior_weight);

struct CostModel {
  double relay_cost_ms = 2000;  // business cost of one session that relays, in ms-equivalents
  double budget_ms = 30000;     // a session not connected by then has failed
  double failure_cost_ms = 0;   // added for every session that fails, in ms-equivalents
};

// The expected outcome of one option.
struct OptionEstimate {
  uint32_t timeout_ms = 0;    // direct timeout; 0 for TURN_ONLY
  double direct_success = 0;  // P(direct connects within the timeout)
  double success = 0;         // P(connected within the budget, by any path)
  double connect_ms = 0;      // mean time to connect of the sessions that connect
  double relay_share = 0;     // share of sessions that try the relay
  // Mean time (a failure counts the budget) + relay cost × relay share + failure cost × (1 −
  // success).
  double cost = 0;
};

// TURN_ONLY: relay at once.
OptionEstimate RelayOnly(const RelayEstimate& relay, const CostModel& model);

// DIRECT / TURN_FALLBACK with direct timeout `timeout_ms`. The relay after a timeout has the rest
// of the budget; its connect time is taken at its overall mean.
OptionEstimate DirectFirst(const DirectCurve& direct, const RelayEstimate& relay,
                           uint32_t timeout_ms, const CostModel& model);

}  // namespace advisor::strategy

#endif  // ADVISOR_LIB_STRATEGY_COST_H_
