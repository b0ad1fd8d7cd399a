// Ageing (ageing.cc): stored rows weighed by their age and summed per (pair, strategy), and a
// faded escalation returning to the cold-start answer.
#include "lib/strategy/ageing.h"

#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/strategy/engine.h"
#include "lib/strategy/types.h"
#include "tests/support/nat_types.h"
#include "tests/unit/strategy/histories.h"

namespace advisor::strategy {
namespace {

using ::advisor::testing::kFull;
using ::advisor::testing::kHalfLife;
using ::advisor::testing::kNow;
using ::advisor::testing::kOpen;
using ::advisor::testing::kPort;
using ::advisor::testing::kRestr;
using ::advisor::testing::kSym;
using ::advisor::testing::kUnknown;
using ::advisor::testing::kWidth;
using ::advisor::testing::OpenBucket;
using ::testing::Contains;
using ::testing::HasSubstr;

TEST(AgeHistoryTest, WeightsByHalfLife) {
  const NatPair pair = NatPair::Of(kFull, kPort);
  BucketAggregate open = OpenBucket(pair, Strategy::kDirect, 10, 10);
  BucketAggregate future = OpenBucket(pair, Strategy::kTurnFallback, 10, 10);
  future.bucket_start = kNow + absl::Hours(3);
  BucketAggregate one_half_life = OpenBucket(pair, Strategy::kTurnOnly, 10, 10);
  one_half_life.bucket_start = kNow - kWidth - kHalfLife;
  BucketAggregate two_half_lives = OpenBucket(pair, Strategy::kTurnOnly, 100, 0);
  two_half_lives.bucket_start = kNow - kWidth - 2 * kHalfLife;
  BucketAggregate just_closed =
      OpenBucket(NatPair::Of(kUnknown, kUnknown), Strategy::kDirect, 4, 0);
  just_closed.bucket_start = kNow - kWidth;

  const std::vector<BucketAggregate> buckets = {open, future, one_half_life, two_half_lives,
                                                just_closed};
  const History history = AgeHistory(buckets, kNow, kWidth, kHalfLife);
  EXPECT_DOUBLE_EQ(history.at(pair, Strategy::kDirect).direct_attempts, 20);
  EXPECT_DOUBLE_EQ(history.at(pair, Strategy::kTurnFallback).direct_attempts, 20);
  // 20 × 0.5 + 100 × 0.25.
  EXPECT_DOUBLE_EQ(history.at(pair, Strategy::kTurnOnly).direct_attempts, 35);
  EXPECT_DOUBLE_EQ(history.at(pair, Strategy::kTurnOnly).direct_successes, 30);
  EXPECT_DOUBLE_EQ(history.at(pair, Strategy::kTurnOnly).sessions, 35);
  EXPECT_DOUBLE_EQ(history.at(NatPair::Of(kUnknown, kUnknown), Strategy::kDirect).direct_successes,
                   4);
  EXPECT_DOUBLE_EQ(history.at(pair, Strategy::kUnspecified).sessions, 0);
}

TEST(AgeHistoryTest, UnorderedPairsLandTogether) {
  BucketAggregate ab = OpenBucket(NatPair{kSym, kOpen}, Strategy::kDirect, 1, 0);
  BucketAggregate ba = OpenBucket(NatPair{kOpen, kSym}, Strategy::kDirect, 2, 0);
  const std::vector<BucketAggregate> buckets = {ab, ba};
  const History history = AgeHistory(buckets, kNow, kWidth, kHalfLife);
  EXPECT_DOUBLE_EQ(history.at(NatPair::Of(kOpen, kSym), Strategy::kDirect).direct_successes, 3);
}

TEST(AgeHistoryTest, OldEscalationFadesBackToColdStart) {
  const NatPair pair = NatPair::Of(kRestr, kRestr);
  BucketAggregate bad = OpenBucket(pair, Strategy::kDirect, 30, 70);
  const absl::Time end = bad.bucket_start + kWidth;
  const std::vector<BucketAggregate> buckets = {bad};
  const EngineConfig config;
  const Decision cold = ColdStart(pair);

  const Decision fresh = Decide(pair, AgeHistory(buckets, end, kWidth, kHalfLife), config);
  EXPECT_EQ(fresh.strategy, Strategy::kTurnOnly);
  EXPECT_EQ(fresh.history_samples, 100u);

  // After two half-lives 25 aged attempts remain: too few to move the strategy, but they still
  // shape the timeout.
  const Decision faded =
      Decide(pair, AgeHistory(buckets, end + 2 * kHalfLife, kWidth, kHalfLife), config);
  EXPECT_EQ(faded.strategy, Strategy::kDirect);
  EXPECT_EQ(faded.history_samples, 25u);
  EXPECT_NE(faded.direct_timeout_ms, cold.direct_timeout_ms);
  EXPECT_THAT(faded.reasons, Contains(HasSubstr("too thin")));

  // After seven, less than one attempt is left: the cold-start answer exactly.
  const Decision gone =
      Decide(pair, AgeHistory(buckets, end + 7 * kHalfLife, kWidth, kHalfLife), config);
  EXPECT_EQ(gone.strategy, cold.strategy);
  EXPECT_EQ(gone.direct_timeout_ms, cold.direct_timeout_ms);
  EXPECT_EQ(gone.expected_success_rate, cold.expected_success_rate);
  EXPECT_EQ(gone.expected_connect_time_ms, cold.expected_connect_time_ms);
  EXPECT_EQ(gone.history_samples, 1u);  // 100 / 128 rounds to one
}

}  // namespace
}  // namespace advisor::strategy
