// AgeHistory (ageing.h): weighs the stored rows by their age in time and by the pair's sessions
// reported since, and sums them per (pair, strategy).
//
// A file of its own because ageing is a step of its own: the loader runs it once per snapshot over
// everything it read, and the engine (engine.cc) only ever sees its result.
#include "lib/strategy/ageing.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

#include "absl/time/time.h"
#include "lib/strategy/types.h"

namespace advisor::strategy {

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

}  // namespace advisor::strategy
