// The strategy engine: from two reported NAT types and the fleet's aged history, a connection strategy.
//
// Everything here is pure: no I/O, no clock reads, no globals. Callers pass `now` and the history they
// loaded; the same inputs always give the same decision, which makes every rule directly testable.
//
// Rules, in order:
//  1. Cold start (DESIGN.md §4): BLOCKED → TURN_ONLY over TCP/TLS; unknown → TURN_FALLBACK 5 s;
//     both SYMMETRIC → TURN_ONLY; one SYMMETRIC → TURN_FALLBACK 5 s; cone/open → DIRECT 15 s.
//  2. History moves a pair's strategy only once the pair has at least `min_samples` (aged) direct
//     attempts: measured direct success below `escalate_below` escalates one step
//     (DIRECT → TURN_FALLBACK, or to TURN_ONLY below `turn_only_below`); at or above `relax_above` it
//     relaxes to DIRECT. Between the thresholds the cold-start strategy stands (hysteresis).
//     A BLOCKED side never relaxes: UDP cannot work.
//  3. The direct timeout follows the seed's rule — ×0.9 per direct success, ×1.2 per direct failure or
//     timeout, clamped to [3 s, 30 s] — in an order-independent form: the steps are summed in log space
//     over the aged counts and the clamp is applied once, so batches and replicas agree.
#ifndef ADVISOR_LIB_STRATEGY_ENGINE_H_
#define ADVISOR_LIB_STRATEGY_ENGINE_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "lib/strategy/types.h"

namespace advisor::strategy {

struct EngineConfig {
  float min_confidence = 0.5f;         // below this a reported NAT type counts as unknown
  double min_samples = 50;             // aged direct attempts needed before history moves a decision
  double escalate_below = 0.6;         // direct success rate that escalates DIRECT → TURN_FALLBACK
  double turn_only_below = 0.2;        // direct success rate that escalates to TURN_ONLY
  double relax_above = 0.9;            // direct success rate that relaxes to DIRECT
  absl::Duration half_life = absl::Hours(24);  // age at which an outcome weighs half
  absl::Duration min_timeout = absl::Seconds(3);
  absl::Duration max_timeout = absl::Seconds(30);
  double success_factor = 0.9;  // seed rule: timeout × 0.9 per direct success
  double failure_factor = 1.2;  // seed rule: timeout × 1.2 per direct failure or timeout
};

// One stored aggregate row: counts for a (pair, strategy) during [bucket_start, bucket_start + width).
struct BucketAggregate {
  NatPair pair;
  Strategy strategy = Strategy::kUnspecified;
  absl::Time bucket_start;
  RawCounts counts;
};

// Aged counts for every (pair, strategy): what decisions are made from.
struct History {
  std::array<std::array<AgedCounts, kStrategyCount>, kNatPairCount> counts{};
  const AgedCounts& at(NatPair pair, Strategy strategy) const {
    return counts[pair.Index()][static_cast<int>(strategy)];
  }
  AgedCounts& at(NatPair pair, Strategy strategy) {
    return counts[pair.Index()][static_cast<int>(strategy)];
  }
};

// Weighs each bucket by 0.5^(age / half_life), age measured from the bucket's end to `now` (a bucket
// still open weighs 1), and sums them per (pair, strategy).
History AgeHistory(std::span<const BucketAggregate> buckets, absl::Time now,
                   absl::Duration bucket_width, absl::Duration half_life);

// What a client reported about one connection attempt.
enum class Path : uint8_t { kUnspecified = 0, kDirect = 1, kRelay = 2 };
enum class AttemptResult : uint8_t { kUnspecified = 0, kSucceeded = 1, kTimedOut = 2, kFailed = 3 };
struct Attempt {
  Path path = Path::kUnspecified;
  AttemptResult result = AttemptResult::kUnspecified;
  uint32_t duration_ms = 0;
};
struct Outcome {
  std::vector<Attempt> attempts;
  bool connected = false;
  uint32_t time_to_connect_ms = 0;
};
// The counts one validated report contributes (sessions = 1).
RawCounts CountsOf(const Outcome& outcome);

struct Decision {
  NatPair pair;  // effective types after the confidence threshold
  Strategy strategy = Strategy::kUnspecified;
  uint32_t direct_timeout_ms = 0;  // 0 for TURN_ONLY
  Transport preferred_transport = Transport::kUdp;
  bool relay_only = false;  // ICE transport policy "relay"
  uint32_t ice_candidate_pool_size = 0;
  double expected_success_rate = 0;
  uint32_t expected_connect_time_ms = 0;
  uint64_t history_samples = 0;  // sessions (rounded aged count) of this pair that informed the answer
  std::vector<std::string> reasons;  // human-readable, one sentence each
  friend bool operator==(const Decision&, const Decision&) = default;
};

// The reported type, or kUnknown when confidence is below the threshold (NaN counts as below).
NatType EffectiveType(NatType reported, float confidence, const EngineConfig& config);

// The seed's decision tree, with no history.
Decision ColdStart(NatPair pair);

// The decision for a pair given aged history (cold start when history is thin).
Decision Decide(NatPair pair, const History& history, const EngineConfig& config);

// Decisions for all kNatPairCount pairs, indexed by NatPair::Index(): computed once per snapshot so
// that answering a request is a table lookup.
std::vector<Decision> DecideAll(const History& history, const EngineConfig& config);

}  // namespace advisor::strategy

#endif  // ADVISOR_LIB_STRATEGY_ENGINE_H_
