// Arrival order inside a time bucket, observed by reloading it.
//
// The store keeps one row per (pair, strategy, bucket) and adds every flush to it, so the row says
// how many outcomes a bucket holds but not in which order they came. Ageing by volume
// (AgeHistory's `sample_half_life`) needs that order: with hourly buckets a pair whose odds change
// would otherwise keep the old outcomes of the current hour at full weight. A server reloads every
// few seconds, so it can see each row grow: ArrivalLog splits every row into the part it held when
// first seen and the increments seen by each later load, each stamped with the load that saw it.
//
// Pure: the caller passes the rows it loaded and the time it loaded them. Servers that reload at
// different moments split a bucket at different points, each consistent with the order in which the
// outcomes reached the database; a server that starts sees each bucket's existing outcomes as one
// part, as AgeHistory did before any split.
#ifndef ADVISOR_LIB_STRATEGY_ARRIVALS_H_
#define ADVISOR_LIB_STRATEGY_ARRIVALS_H_

#include <cstddef>
#include <map>
#include <span>
#include <tuple>
#include <vector>

#include "absl/time/time.h"
#include "lib/strategy/types.h"

namespace advisor::strategy {

class ArrivalLog {
 public:
  // A bucket keeps at most `max_parts` parts; past that its two oldest increments are merged, which
  // only blurs the order of outcomes that volume ageing has already mostly discounted. Once a
  // bucket has been closed for a whole `bucket_width` it is one part again: a pair busy enough for
  // the order inside it to matter has had a bucket's worth of newer sessions since, and holding
  // the parts of every bucket of the history window would cost memory for nothing.
  explicit ArrivalLog(absl::Duration bucket_width, size_t max_parts = 32)
      : bucket_width_(bucket_width), max_parts_(max_parts < 2 ? 2 : max_parts) {}

  // Takes every row of one load, made at `loaded_at`, and returns the same counts split into parts:
  // for each row, what it held when first seen (arrived = its bucket start), then each increment
  // since (arrived = the load that first saw it) while the bucket is open or recently closed. A row
  // that shrank, which only a restored or rewritten database can cause, starts over as one part.
  // Rows absent from `rows` are forgotten.
  std::vector<BucketAggregate> Split(std::span<const BucketAggregate> rows, absl::Time loaded_at);

  // Parts currently remembered over the rows not yet settled: what the log holds in memory.
  size_t parts() const;

 private:
  struct Increment {
    absl::Time arrived;
    RawCounts counts;
  };
  struct Row {
    RawCounts total;                // the row as last loaded
    std::vector<Increment> growth;  // increments seen after the first load, oldest first
  };
  using Key = std::tuple<int, int, int64_t>;  // pair index, strategy, bucket start (unix µs)

  absl::Duration bucket_width_;
  size_t max_parts_;
  std::map<Key, Row> rows_;
};

}  // namespace advisor::strategy

#endif  // ADVISOR_LIB_STRATEGY_ARRIVALS_H_
