// The outcome buffer: reports held once per token id until their batch commits, a bound on what is
// held, and batches retried under their flush id.
#include "services/advisor/outcome_buffer.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>
#include <utility>

#include "tests/support/fake_stores.h"

namespace advisor {
namespace {

using store::FlushBatch;
using store::FlushResult;
using store::ReportedSession;
using store::TokenId;
using strategy::AttemptResult;
using strategy::NatPair;
using strategy::NatType;
using strategy::Path;
using strategy::Strategy;

const absl::Time kBucket = absl::FromUnixSeconds(1'800'000'000);
const NatPair kPair = NatPair::Of(NatType::kFullCone, NatType::kSymmetric);

TokenId Id(uint8_t n) {
  TokenId id{};
  id[0] = n;
  id[15] = 0x5a;
  return id;
}

ReportedSession Report(uint8_t id, bool connected = true, Strategy strategy = Strategy::kDirect,
                       absl::Time bucket = kBucket) {
  ReportedSession session{.token_id = Id(id),
                          .token_expires = kBucket + absl::Hours(24),
                          .pair = kPair,
                          .strategy = strategy,
                          .bucket_start = bucket,
                          .outcome = {}};
  session.outcome.attempts.push_back(
      {Path::kDirect, connected ? AttemptResult::kSucceeded : AttemptResult::kTimedOut, 1200});
  session.outcome.connected = connected;
  session.outcome.time_to_connect_ms = connected ? 1200 : 0;
  return session;
}

using FakeStore = ::advisor::testing::FakeOutcomeStore;

TEST(OutcomeBuffer, HoldsOneRecordPerReportInArrivalOrder) {
  OutcomeBuffer buffer(100);
  EXPECT_EQ(buffer.Add(Report(1, true)), AddResult::kHeld);
  EXPECT_EQ(buffer.Add(Report(2, false)), AddResult::kHeld);
  EXPECT_EQ(buffer.Add(Report(3, true, Strategy::kTurnOnly)), AddResult::kHeld);
  EXPECT_EQ(buffer.held_reports(), 3);
  auto batch = buffer.NextBatch();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->sessions.size(), 3u);
  EXPECT_EQ(batch->sessions[0].token_id, Id(1));
  EXPECT_EQ(batch->sessions[1].token_id, Id(2));
  EXPECT_FALSE(batch->sessions[1].outcome.connected);
  EXPECT_EQ(batch->sessions[2].strategy, Strategy::kTurnOnly);
  EXPECT_EQ(batch->sessions[2].outcome.attempts.size(), 1u);
  EXPECT_EQ(batch->flush_id.size(), 32u);
}

TEST(OutcomeBuffer, PendingDeltasCountsDistinctKeys) {
  OutcomeBuffer buffer(100);
  EXPECT_EQ(buffer.pending_deltas(), 0);
  buffer.Add(Report(1, true, Strategy::kDirect));
  buffer.Add(Report(2, false, Strategy::kDirect));  // same key as 1
  buffer.Add(Report(3, true, Strategy::kTurnOnly));
  buffer.Add(Report(4, true, Strategy::kDirect, kBucket + absl::Hours(1)));
  EXPECT_EQ(buffer.pending_deltas(), 3);
  ASSERT_TRUE(buffer.NextBatch());
  EXPECT_EQ(buffer.pending_deltas(), 3);  // in flight, not written yet
  // The next batch writes its own row for a key the batch in flight has too.
  buffer.Add(Report(5, true, Strategy::kDirect));
  EXPECT_EQ(buffer.pending_deltas(), 4);
  buffer.Committed();
  EXPECT_EQ(buffer.pending_deltas(), 1);
}

TEST(OutcomeBuffer, ADuplicateIsRecognisedWhilePending) {
  OutcomeBuffer buffer(100);
  EXPECT_EQ(buffer.Add(Report(1, true)), AddResult::kHeld);
  EXPECT_EQ(buffer.Add(Report(1, false)), AddResult::kDuplicate);
  EXPECT_EQ(buffer.held_reports(), 1);
  auto batch = buffer.NextBatch();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->sessions.size(), 1u);
  EXPECT_TRUE(batch->sessions[0].outcome.connected);  // the first report stands
}

TEST(OutcomeBuffer, ADuplicateIsRecognisedWhileInFlight) {
  OutcomeBuffer buffer(100);
  buffer.Add(Report(1));
  ASSERT_TRUE(buffer.NextBatch());
  EXPECT_EQ(buffer.Add(Report(1)), AddResult::kDuplicate);
  EXPECT_EQ(buffer.Add(Report(2)), AddResult::kHeld);
  EXPECT_EQ(buffer.held_reports(), 2);
}

TEST(OutcomeBuffer, HoldsTellsPendingAndInFlightIds) {
  OutcomeBuffer buffer(100);
  EXPECT_FALSE(buffer.Holds(Report(1).token_id));
  buffer.Add(Report(1));
  EXPECT_TRUE(buffer.Holds(Report(1).token_id));
  ASSERT_TRUE(buffer.NextBatch());
  buffer.Add(Report(2));
  EXPECT_TRUE(buffer.Holds(Report(1).token_id)) << "in flight";
  EXPECT_TRUE(buffer.Holds(Report(2).token_id)) << "pending";
  buffer.Committed();
  EXPECT_FALSE(buffer.Holds(Report(1).token_id));
  EXPECT_TRUE(buffer.Holds(Report(2).token_id));
}

TEST(OutcomeBuffer, AfterCommitTheIdIsNoLongerHeldAndTheStoreCatchesIt) {
  OutcomeBuffer buffer(100);
  FakeStore store;
  buffer.Add(Report(1));
  auto written = FlushOnce(buffer, store);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->counted, 1);
  EXPECT_EQ(buffer.held_reports(), 0);
  // Forgotten here: held again, and refused as a duplicate by the store.
  EXPECT_EQ(buffer.Add(Report(1)), AddResult::kHeld);
  written = FlushOnce(buffer, store);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->counted, 0);
  EXPECT_EQ(written->duplicates, 1);
  EXPECT_EQ(store.sessions, 1);
}

TEST(OutcomeBuffer, NothingHeldMeansNoBatch) {
  OutcomeBuffer buffer(10);
  EXPECT_FALSE(buffer.NextBatch());
  FakeStore store;
  auto written = FlushOnce(buffer, store);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, FlushResult{});
  EXPECT_TRUE(store.calls.empty());
}

TEST(OutcomeBuffer, RefusesBeyondTheBoundIncludingTheBatchInFlight) {
  OutcomeBuffer buffer(3);
  for (uint8_t i = 0; i < 3; ++i) EXPECT_EQ(buffer.Add(Report(i)), AddResult::kHeld);
  EXPECT_EQ(buffer.Add(Report(3)), AddResult::kFull);
  // A retry of a held report is still a duplicate, not a refusal, when the buffer is full.
  EXPECT_EQ(buffer.Add(Report(2)), AddResult::kDuplicate);
  ASSERT_TRUE(buffer.NextBatch());  // now in flight, still held
  EXPECT_EQ(buffer.Add(Report(3)), AddResult::kFull);
  EXPECT_EQ(buffer.Add(Report(0)), AddResult::kDuplicate);
  buffer.Committed();
  EXPECT_EQ(buffer.held_reports(), 0);
  EXPECT_EQ(buffer.Add(Report(3)), AddResult::kHeld);
}

TEST(OutcomeBuffer, FailedWriteKeepsTheBatchAndItsId) {
  OutcomeBuffer buffer(100);
  FakeStore store;
  buffer.Add(Report(1, true));
  store.next_fault = FakeStore::Fault::kBeforeCommit;
  EXPECT_FALSE(FlushOnce(buffer, store).ok());
  EXPECT_EQ(buffer.held_reports(), 1);
  // Reports arriving meanwhile wait for the next batch rather than changing the one in flight.
  buffer.Add(Report(2, false));
  auto retry = buffer.NextBatch();
  ASSERT_TRUE(retry);
  ASSERT_EQ(retry->sessions.size(), 1u);
  EXPECT_EQ(retry->sessions[0].token_id, Id(1));
  ASSERT_TRUE(FlushOnce(buffer, store).ok());
  ASSERT_TRUE(FlushOnce(buffer, store).ok());
  EXPECT_EQ(store.sessions, 2);
  EXPECT_EQ(store.connected, 1);
  EXPECT_EQ(buffer.held_reports(), 0);
}

TEST(OutcomeBuffer, RetryAfterLostCommitAcknowledgementKeepsTheFlushIdAndAppliesOnce) {
  OutcomeBuffer buffer(100);
  FakeStore store;
  for (uint8_t i = 0; i < 5; ++i) buffer.Add(Report(i, true, Strategy::kTurnFallback));
  store.next_fault = FakeStore::Fault::kAfterCommit;
  EXPECT_FALSE(FlushOnce(buffer, store).ok());
  EXPECT_EQ(buffer.held_reports(), 5);  // not known to be committed: kept
  EXPECT_EQ(buffer.Add(Report(4)), AddResult::kDuplicate);
  auto retried = FlushOnce(buffer, store);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, FlushResult{});  // the store had it already
  ASSERT_EQ(store.calls.size(), 2u);
  EXPECT_EQ(store.calls[0], store.calls[1]);  // the retry carried the same flush id
  EXPECT_EQ(store.sessions, 5);
  EXPECT_EQ(buffer.held_reports(), 0);
}

TEST(OutcomeBuffer, ConcurrentAddsOfTheSameIdsHoldEachOnce) {
  OutcomeBuffer buffer(1000);
  std::map<AddResult, int> results[4];
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) ++results[t][buffer.Add(Report(static_cast<uint8_t>(i)))];
      });
    }
  }
  int held = 0;
  int duplicates = 0;
  for (auto& r : results) {
    held += r[AddResult::kHeld];
    duplicates += r[AddResult::kDuplicate];
  }
  EXPECT_EQ(held, 200);
  EXPECT_EQ(duplicates, 600);
  EXPECT_EQ(buffer.held_reports(), 200);
}

TEST(OutcomeBuffer, FlushIdsAreUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(NewFlushId());
  EXPECT_EQ(ids.size(), 1000u);
}

}  // namespace
}  // namespace advisor
