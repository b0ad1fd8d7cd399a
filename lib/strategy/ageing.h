// Ageing: from the stored aggregate rows to the aged counts that decisions are made from.
//
// Its own header because the loader (services/advisor/snapshot.cc) ages what it read before any
// decision is made, and because the weighting is a rule of its own: a bucket of outcomes weighs
// half after `half_life` of time, and half again for every `sample_half_life` aged sessions of the
// same pair reported since, so that a busy pair follows a change within a few thousand of its
// sessions while a quiet pair keeps its history for days. Within a bucket, "since" follows the
// order in which the loader saw outcomes arrive (arrivals.h).
#ifndef ADVISOR_LIB_STRATEGY_AGEING_H_
#define ADVISOR_LIB_STRATEGY_AGEING_H_

#include <array>
#include <limits>
#include <span>

#include "absl/time/time.h"
#include "lib/strategy/types.h"

namespace advisor::strategy {

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

// Weighs each bucket by 0.5^(age / half_life), age measured from the bucket's end to `now` (a
// bucket still open weighs 1), times 0.5^(newer / sample_half_life), `newer` being the pair's
// sessions in strictly newer buckets or later-arrived parts of the same bucket (over every
// strategy, each weighed by its age), and sums them per (pair, strategy). Parts sharing a bucket
// start and arrival weigh the same, so the result does not depend on the order of `buckets`.
History AgeHistory(std::span<const BucketAggregate> buckets, absl::Time now,
                   absl::Duration bucket_width, absl::Duration half_life,
                   double sample_half_life = std::numeric_limits<double>::infinity());

}  // namespace advisor::strategy

#endif  // ADVISOR_LIB_STRATEGY_AGEING_H_
