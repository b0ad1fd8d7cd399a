// The strategy engine: from two reported NAT types and the fleet's aged history, a connection
// strategy.
//
// Everything here is pure: no I/O, no clock reads, no globals. Callers pass `now` and the history
// they loaded; the same inputs always give the same decision, which makes every rule directly
// testable.
//
// Rules, in order:
//  1. Cold start (docs/design.md, "Cold start"): BLOCKED → TURN_ONLY over TCP/TLS; unknown →
//     TURN_FALLBACK 5 s; both SYMMETRIC → TURN_ONLY; one SYMMETRIC → TURN_FALLBACK 5 s; cone/open
//     → DIRECT 15 s.
//  2. Until a pair has `min_samples` (aged) direct attempts its strategy is the cold-start one, and
//     from `min_timeout_samples` of them the direct timeout follows the seed's rule — ×0.9 per
//     direct success, ×1.2 per direct failure or timeout, clamped to [min_timeout, max_timeout] —
//     in an order-independent form: the steps are summed in log space over the aged counts and the
//     clamp is applied once, so batches and replicas agree.
//  3. From then on the choice minimises the expected cost per session (cost.h): mean time to
//     connect, a failure counting the whole connect budget (and `failure_cost_ms` more), plus
//     `relay_cost_ms` per session that tries the relay.
//     The options are TURN_ONLY and direct-first with each timeout on the histogram's bounds within
//     [min_timeout, max_timeout]. The estimates are shrunk towards the cold-start prior by
//     `prior_weight` pseudo-attempts. Direct-first is labelled DIRECT when its estimated direct
//     success by the timeout is at least `direct_label_above`, else TURN_FALLBACK; clients treat
//     both alike. A BLOCKED side never leaves TURN_ONLY: UDP cannot work.
//  4. Exploration, so that data keeps coming for the options not chosen: a pair that has history
//     answers a share of its requests with a second decision — direct-first for a pair on
//     TURN_ONLY, one timeout step longer for a pair on direct-first (the tail beyond the timeout is
//     otherwise never observed). The engine only says which and how often; the service draws.
//  5. Ageing (AgeHistory, ageing.h): a bucket of outcomes weighs half after `half_life` of time,
//     and half again for every `sample_half_life` aged sessions of the same pair reported since,
//     so that a busy pair follows a change within a few thousand of its sessions while a quiet
//     pair keeps its history for days. Within a bucket, "since" follows the order in which the
//     loader saw outcomes arrive (arrivals.h).
//
// The rules are split by concept: the cold-start table in cold_start.cc, the wording of the reasons
// in explanation.cc, ageing in ageing.h, and the decision that combines them in engine.cc.
#ifndef ADVISOR_LIB_STRATEGY_ENGINE_H_
#define ADVISOR_LIB_STRATEGY_ENGINE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "lib/strategy/ageing.h"
#include "lib/strategy/types.h"

namespace advisor::strategy {

struct EngineConfig {
  float min_confidence = 0.5f;  // below this a reported NAT type counts as unknown
  double min_samples = 50;      // aged direct attempts needed before history moves a decision
  // Aged direct attempts needed before the seed's rule moves a thin pair's direct timeout: the
  // rule's steps compound, so without a gate a single report of failures could set the timeout of
  // a whole NAT pair.
  double min_timeout_samples = 20;
  absl::Duration half_life = absl::Hours(24);  // age at which an outcome weighs half
  // Aged sessions of a pair, reported in newer buckets, after which an outcome weighs half again.
  // 1000 keeps about 1400 sessions in view (W / ln 2), enough to measure a rate to ±2.5 %.
  double sample_half_life = 1000;
  absl::Duration min_timeout = absl::Seconds(3);
  absl::Duration max_timeout = absl::Seconds(30);
  double success_factor = 0.9;  // seed rule: timeout × 0.9 per direct success
  double failure_factor = 1.2;  // seed rule: timeout × 1.2 per direct failure or timeout
  // Business cost of one session that turns to the relay (allocation, bandwidth, servers), in
  // milliseconds of connect time it is worth avoiding.
  double relay_cost_ms = 2000;
  // Price of one session that fails, on top of the budget it waited, in milliseconds of connect
  // time. 0 minimises the expected time and relays alone; raising it buys success with longer
  // direct attempts and fewer TURN_ONLY answers (advisor-sim prints what the static tree's success
  // rate costs).
  double failure_cost_ms = 0;
  absl::Duration connect_budget = absl::Seconds(30);  // a session not connected by then has failed
  double prior_weight = 20;  // pseudo-attempts of the cold-start prior in each pair's estimates
  // Direct-first is labelled DIRECT at or above this estimated direct success by its timeout.
  double direct_label_above = 0.9;
  // Share of a pair's answers that explore; a pair on TURN_ONLY may explore more (up to
  // kMaxExploreShare) so that its aged direct attempts stay near twice min_samples.
  double explore_share = 0.05;
};

// The most a TURN_ONLY pair explores, however few sessions it has.
inline constexpr double kMaxExploreShare = 0.25;

struct Decision {
  NatPair pair;  // effective types after the confidence threshold
  Strategy strategy = Strategy::kUnspecified;
  uint32_t direct_timeout_ms = 0;  // 0 for TURN_ONLY
  Transport preferred_transport = Transport::kUdp;
  bool relay_only = false;  // ICE transport policy "relay"
  uint32_t ice_candidate_pool_size = 0;
  double expected_success_rate = 0;
  uint32_t expected_connect_time_ms = 0;
  uint64_t history_samples =
      0;  // sessions (rounded aged count) of this pair that informed the answer
  std::vector<std::string> reasons;  // human-readable, one sentence each
  friend bool operator==(const Decision&, const Decision&) = default;
};

// The reported type, or kUnknown when confidence is below the threshold (NaN counts as below).
NatType EffectiveType(NatType reported, float confidence, const EngineConfig& config);

// The seed's decision tree, with no history.
Decision ColdStart(NatPair pair);

// The answer for a pair: the decision, and the exploration variant given to a share of requests.
struct Advice {
  Decision decision;
  std::optional<Decision> exploration;  // none for a pair that does not explore
  double exploration_probability = 0;   // share of answers that get `exploration`
  friend bool operator==(const Advice&, const Advice&) = default;
};

// The advice for a pair given aged history (cold start when history is thin).
Advice Advise(NatPair pair, const History& history, const EngineConfig& config);

// Advise(...).decision.
Decision Decide(NatPair pair, const History& history, const EngineConfig& config);

// Advice for all kNatPairCount pairs, indexed by NatPair::Index(): computed once per snapshot so
// that answering a request is a table lookup.
std::vector<Advice> DecideAll(const History& history, const EngineConfig& config);

}  // namespace advisor::strategy

#endif  // ADVISOR_LIB_STRATEGY_ENGINE_H_
