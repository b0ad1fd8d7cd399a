// Reported outcomes on their way to PostgreSQL: folded into per-(pair, strategy, bucket) deltas in
// memory, written in batches, and dropped only once their transaction has committed.
//
// At most one batch is in flight. It keeps its flush id across retries, so a retry after a commit
// whose acknowledgement was lost is recognised by the store and applied once. New reports keep
// folding into the next batch meanwhile. The number of reports held (in flight plus pending) is
// bounded; a report beyond the bound is refused, never silently dropped after being acknowledged.
#ifndef ADVISOR_SERVICES_ADVISOR_OUTCOME_BUFFER_H_
#define ADVISOR_SERVICES_ADVISOR_OUTCOME_BUFFER_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/store/store.h"
#include "lib/strategy/engine.h"

namespace advisor {

class OutcomeBuffer {
 public:
  explicit OutcomeBuffer(int64_t max_reports) : max_reports_(max_reports) {}

  // Folds one report's counts into its delta. False when the buffer is full.
  bool Add(strategy::NatPair pair, strategy::Strategy strategy, absl::Time bucket_start,
           const strategy::RawCounts& counts);

  // The batch to write next: the one in flight if a previous write failed, else a new batch of
  // everything pending (with a fresh flush id). nullopt when there is nothing to write.
  std::optional<store::FlushBatch> NextBatch();
  // The batch returned by NextBatch has committed: forget it.
  void Committed();

  int64_t held_reports() const;    // reports acknowledged but not yet committed
  int64_t pending_deltas() const;  // rows the next flushes will write

 private:
  using Key = std::tuple<int, int, int64_t>;  // pair index, strategy, bucket start (unix seconds)

  const int64_t max_reports_;
  mutable std::mutex mu_;
  std::map<Key, strategy::RawCounts> pending_;
  int64_t pending_reports_ = 0;
  std::optional<store::FlushBatch> in_flight_;
  int64_t in_flight_reports_ = 0;
};

// A random 128-bit identifier in hex, unique per batch across replicas.
std::string NewFlushId();

// Writes one batch if there is one. Returns the number of rows committed (0: nothing was held).
absl::StatusOr<size_t> FlushOnce(OutcomeBuffer& buffer, store::OutcomeStore& store);

}  // namespace advisor

#endif  // ADVISOR_SERVICES_ADVISOR_OUTCOME_BUFFER_H_
