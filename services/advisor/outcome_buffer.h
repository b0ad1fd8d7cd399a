// Accepted reports on their way to PostgreSQL: held in memory one compact record each, written in
// batches, and dropped only once their transaction has committed.
//
// At most one batch is in flight. It keeps its flush id across retries, so a retry after a commit
// whose acknowledgement was lost is recognised by the store and applied once. New reports gather
// for the next batch meanwhile. The number of reports held (in flight plus pending) is bounded; a
// report beyond the bound is refused, never silently dropped after being acknowledged.
//
// A report whose token id is held already (pending or in flight) is a duplicate recognised here,
// without the database: the usual fast retry of a client. Once its batch has committed, the id is
// forgotten here and the store's used-token table refuses it instead.
#ifndef ADVISOR_SERVICES_ADVISOR_OUTCOME_BUFFER_H_
#define ADVISOR_SERVICES_ADVISOR_OUTCOME_BUFFER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "lib/store/store.h"

namespace advisor {

enum class AddResult {
  kHeld,       // accepted: it will be written
  kDuplicate,  // a report with this token id is held already; not held again
  kFull,       // max_reports are held: refused
};

// Thread-safe. Add is on the request path: its critical section is two hash probes, one insert and
// a vector push_back; NextBatch and Committed (the flusher's) swap containers under the lock and do
// any allocating or freeing outside it.
class OutcomeBuffer {
 public:
  explicit OutcomeBuffer(int64_t max_reports) : max_reports_(max_reports) {}

  AddResult Add(store::ReportedSession session);
  // Whether a session with this token id is held (pending or in flight): a repeat that needs no
  // further look.
  bool Holds(const store::TokenId& id) const;

  // The batch to write next: the one in flight if a previous write failed, else a new batch of
  // everything pending (with a fresh flush id). Shared, not copied: a batch may hold a million
  // reports, and the flusher hands it out again on every retry. Null when there is nothing to
  // write.
  std::shared_ptr<const store::FlushBatch> NextBatch();
  // The batch returned by NextBatch has committed: forget it and its token ids.
  void Committed();

  int64_t held_reports() const;  // reports acknowledged but not yet committed
  // Distinct (pair, strategy, bucket) rows the pending batch and the one in flight will write.
  int64_t pending_deltas() const;

 private:
  using Key = std::tuple<int64_t, int, int>;  // bucket start (unix µs), pair index, strategy

  const int64_t max_reports_;
  // Size of the last batch taken, to reserve the next one's containers outside the lock so that Add
  // rarely pays for their growth.
  std::atomic<size_t> last_batch_size_ = 0;

  mutable std::mutex mu_;
  std::vector<store::ReportedSession> pending_;
  absl::flat_hash_set<store::TokenId> pending_ids_;
  absl::flat_hash_set<Key> pending_keys_;
  std::shared_ptr<const store::FlushBatch> in_flight_;
  absl::flat_hash_set<store::TokenId> in_flight_ids_;
  int64_t in_flight_keys_ = 0;
};

// A random 128-bit identifier in hex, unique per batch across replicas.
std::string NewFlushId();

// Writes one batch if there is one and forgets it once committed. FlushResult{} when nothing is
// held.
absl::StatusOr<store::FlushResult> FlushOnce(OutcomeBuffer& buffer, store::OutcomeStore& store);

}  // namespace advisor

#endif  // ADVISOR_SERVICES_ADVISOR_OUTCOME_BUFFER_H_
