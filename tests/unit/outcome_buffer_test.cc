#include "services/advisor/outcome_buffer.h"

#include <gtest/gtest.h>

#include <set>

namespace advisor {
namespace {

using strategy::NatPair;
using strategy::NatType;
using strategy::RawCounts;
using strategy::Strategy;

const absl::Time kBucket = absl::FromUnixSeconds(1'800'000'000);
const NatPair kPair = NatPair::Of(NatType::kFullCone, NatType::kSymmetric);

RawCounts OneSession(bool connected) {
  RawCounts counts;
  counts.sessions = 1;
  counts.connected = connected ? 1 : 0;
  return counts;
}

// Behaves like the PostgreSQL store: a flush id is applied once. Can be told to fail the next write
// before or after "committing" it.
class FakeStore : public store::OutcomeStore {
 public:
  enum class Fault { kNone, kBeforeCommit, kAfterCommit };

  absl::Status ApplyFlush(const store::FlushBatch& batch) override {
    const Fault fault = std::exchange(next_fault, Fault::kNone);
    if (fault == Fault::kBeforeCommit) return absl::UnavailableError("connection refused");
    calls.push_back(batch.flush_id);
    if (applied_ids.insert(batch.flush_id).second) {
      for (const auto& delta : batch.deltas) {
        sessions += delta.counts.sessions;
        connected += delta.counts.connected;
      }
    }
    if (fault == Fault::kAfterCommit) return absl::UnavailableError("connection lost");
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<strategy::BucketAggregate>> LoadAggregates(absl::Time) override {
    return std::vector<strategy::BucketAggregate>{};
  }

  Fault next_fault = Fault::kNone;
  std::set<std::string> applied_ids;
  std::vector<std::string> calls;
  int64_t sessions = 0;
  int64_t connected = 0;
};

TEST(OutcomeBuffer, FoldsReportsOfOneKeyIntoOneDelta) {
  OutcomeBuffer buffer(100);
  EXPECT_TRUE(buffer.Add(kPair, Strategy::kDirect, kBucket, OneSession(true)));
  EXPECT_TRUE(buffer.Add(kPair, Strategy::kDirect, kBucket, OneSession(false)));
  EXPECT_TRUE(buffer.Add(kPair, Strategy::kTurnOnly, kBucket, OneSession(true)));
  EXPECT_EQ(buffer.held_reports(), 3);
  EXPECT_EQ(buffer.pending_deltas(), 2);
  auto batch = buffer.NextBatch();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->deltas.size(), 2u);
  EXPECT_EQ(batch->deltas[0].pair, kPair);
  EXPECT_EQ(batch->deltas[0].strategy, Strategy::kDirect);
  EXPECT_EQ(batch->deltas[0].bucket_start, kBucket);
  EXPECT_EQ(batch->deltas[0].counts.sessions, 2);
  EXPECT_EQ(batch->deltas[0].counts.connected, 1);
  EXPECT_EQ(batch->flush_id.size(), 32u);
}

TEST(OutcomeBuffer, NothingHeldMeansNoBatch) {
  OutcomeBuffer buffer(10);
  EXPECT_FALSE(buffer.NextBatch());
  FakeStore store;
  auto written = FlushOnce(buffer, store);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, 0u);
  EXPECT_TRUE(store.calls.empty());
}

TEST(OutcomeBuffer, RefusesBeyondTheBoundIncludingTheBatchInFlight) {
  OutcomeBuffer buffer(3);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(buffer.Add(kPair, Strategy::kDirect, kBucket, OneSession(true)));
  EXPECT_FALSE(buffer.Add(kPair, Strategy::kDirect, kBucket, OneSession(true)));
  ASSERT_TRUE(buffer.NextBatch());  // now in flight, still held
  EXPECT_FALSE(buffer.Add(kPair, Strategy::kDirect, kBucket, OneSession(true)));
  buffer.Committed();
  EXPECT_EQ(buffer.held_reports(), 0);
  EXPECT_TRUE(buffer.Add(kPair, Strategy::kDirect, kBucket, OneSession(true)));
}

TEST(OutcomeBuffer, FailedWriteKeepsTheBatchAndItsId) {
  OutcomeBuffer buffer(100);
  FakeStore store;
  buffer.Add(kPair, Strategy::kDirect, kBucket, OneSession(true));
  store.next_fault = FakeStore::Fault::kBeforeCommit;
  EXPECT_FALSE(FlushOnce(buffer, store).ok());
  EXPECT_EQ(buffer.held_reports(), 1);
  // Reports arriving meanwhile wait for the next batch rather than changing the one in flight.
  buffer.Add(kPair, Strategy::kDirect, kBucket, OneSession(false));
  auto retry = buffer.NextBatch();
  ASSERT_TRUE(retry);
  ASSERT_EQ(retry->deltas.size(), 1u);
  EXPECT_EQ(retry->deltas[0].counts.sessions, 1);
  ASSERT_TRUE(FlushOnce(buffer, store).ok());
  ASSERT_TRUE(FlushOnce(buffer, store).ok());
  EXPECT_EQ(store.sessions, 2);
  EXPECT_EQ(store.connected, 1);
  EXPECT_EQ(buffer.held_reports(), 0);
}

TEST(OutcomeBuffer, RetryAfterLostCommitAcknowledgementAppliesOnce) {
  OutcomeBuffer buffer(100);
  FakeStore store;
  for (int i = 0; i < 5; ++i) buffer.Add(kPair, Strategy::kTurnFallback, kBucket, OneSession(true));
  store.next_fault = FakeStore::Fault::kAfterCommit;
  EXPECT_FALSE(FlushOnce(buffer, store).ok());
  EXPECT_EQ(buffer.held_reports(), 5);  // not known to be committed: kept
  ASSERT_TRUE(FlushOnce(buffer, store).ok());
  ASSERT_EQ(store.calls.size(), 2u);
  EXPECT_EQ(store.calls[0], store.calls[1]);  // the retry carried the same flush id
  EXPECT_EQ(store.sessions, 5);
  EXPECT_EQ(buffer.held_reports(), 0);
}

TEST(OutcomeBuffer, FlushIdsAreUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(NewFlushId());
  EXPECT_EQ(ids.size(), 1000u);
}

}  // namespace
}  // namespace advisor
