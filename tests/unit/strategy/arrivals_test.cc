// ArrivalLog (arrivals.h): the increments each load of a bucket sees age as newer than what the
// bucket held before, so that a change inside one long bucket still moves the choice.
#include "lib/strategy/arrivals.h"

#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/strategy/engine.h"
#include "lib/strategy/types.h"
#include "tests/support/nat_types.h"
#include "tests/unit/strategy/histories.h"

namespace advisor::strategy {
namespace {

using ::advisor::testing::kFull;
using ::advisor::testing::kOpen;
using ::advisor::testing::kRestr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
const absl::Duration kWidth = absl::Seconds(10);

BucketAggregate Bucket(NatPair pair, Strategy strategy, int age_in_buckets, int64_t sessions,
                       int64_t direct_successes, int64_t direct_timeouts) {
  return ::advisor::testing::AgedBucket(kNow, kWidth, pair, strategy, age_in_buckets, sessions,
                                        direct_successes, direct_timeouts);
}

int64_t SumOfSessions(const std::vector<BucketAggregate>& parts) {
  int64_t total = 0;
  for (const BucketAggregate& part : parts) total += part.counts.sessions;
  return total;
}

TEST(ArrivalLogTest, SplitsEachRowByTheLoadThatFirstSawItsGrowth) {
  const NatPair pair = NatPair::Of(kFull, kRestr);
  ArrivalLog log(kWidth);
  BucketAggregate row = Bucket(pair, Strategy::kDirect, 0, 100, 100, 0);
  const absl::Time t1 = kNow, t2 = kNow + absl::Seconds(5), t3 = kNow + absl::Seconds(10);

  std::vector<BucketAggregate> parts = log.Split({&row, 1}, t1);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].arrived, row.bucket_start);
  EXPECT_EQ(parts[0].counts, row.counts);

  row.counts.sessions = 150;
  row.counts.direct_attempts = 140;
  row.counts.direct_successes = 110;
  row.counts.direct_timeouts = 30;
  parts = log.Split({&row, 1}, t2);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].counts.sessions, 100);
  EXPECT_EQ(parts[0].counts.direct_successes, 100);
  EXPECT_EQ(parts[1].arrived, t2);
  EXPECT_EQ(parts[1].counts.sessions, 50);
  EXPECT_EQ(parts[1].counts.direct_successes, 10);
  EXPECT_EQ(parts[1].counts.direct_timeouts, 30);
  EXPECT_EQ(parts[1].pair, pair);
  EXPECT_EQ(parts[1].bucket_start, row.bucket_start);

  // An unchanged row adds no part.
  EXPECT_EQ(log.Split({&row, 1}, t3).size(), 2u);
  EXPECT_EQ(log.parts(), 2u);

  // A row that shrank (a restored database) starts over as one part.
  row.counts = Bucket(pair, Strategy::kDirect, 0, 80, 80, 0).counts;
  parts = log.Split({&row, 1}, t3);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].counts, row.counts);

  // A row that left the window is forgotten: seen again, it is one part.
  EXPECT_TRUE(log.Split({}, t3).empty());
  EXPECT_EQ(log.parts(), 0u);
  EXPECT_EQ(log.Split({&row, 1}, t3).size(), 1u);
}

TEST(ArrivalLogTest, ABucketClosedForAWholeWidthIsOnePartAgain) {
  const NatPair pair = NatPair::Of(kFull, kRestr);
  ArrivalLog log(kWidth);
  BucketAggregate row = Bucket(pair, Strategy::kDirect, 0, 100, 100, 0);
  log.Split({&row, 1}, row.bucket_start + absl::Seconds(1));
  row.counts.sessions = 130;
  EXPECT_EQ(log.Split({&row, 1}, row.bucket_start + absl::Seconds(9)).size(), 2u);
  // Closed at +10 s; still split until it has been closed for 10 s more.
  EXPECT_EQ(log.Split({&row, 1}, row.bucket_start + absl::Seconds(19)).size(), 2u);
  const std::vector<BucketAggregate> parts = log.Split({&row, 1}, row.bucket_start + 2 * kWidth);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].counts, row.counts);
  EXPECT_EQ(parts[0].arrived, row.bucket_start);
  // A settled row is not remembered at all.
  EXPECT_EQ(log.parts(), 0u);
}

TEST(ArrivalLogTest, KeepsAtMostMaxPartsAndEveryCount) {
  const NatPair pair = NatPair::Of(kRestr, kRestr);
  ArrivalLog log(absl::Hours(1), 4);
  BucketAggregate row = Bucket(pair, Strategy::kTurnOnly, 0, 10, 0, 0);
  BucketAggregate other = Bucket(NatPair::Of(kOpen, kOpen), Strategy::kDirect, 0, 7, 7, 0);
  std::vector<BucketAggregate> parts;
  for (int load = 0; load < 10; ++load) {
    row.counts.sessions = 10 * (load + 1);
    parts = log.Split(std::vector<BucketAggregate>{row, other}, kNow + absl::Seconds(5 * load));
  }
  EXPECT_EQ(parts.size(), 4u + 1u);
  EXPECT_EQ(SumOfSessions(parts), 100 + 7);
  // The newest increments keep their own stamps; the merged ones the newer of theirs.
  std::vector<absl::Time> stamps;
  for (const BucketAggregate& part : parts)
    if (part.pair == pair) stamps.push_back(part.arrived);
  EXPECT_EQ(stamps, (std::vector<absl::Time>{row.bucket_start, kNow + absl::Seconds(35),
                                             kNow + absl::Seconds(40), kNow + absl::Seconds(45)}));
}

TEST(ArrivalLogTest, APhaseChangeInsideOneBucketMovesTheChoice) {
  // One hourly bucket, loaded every 5 s: each load sees 1000 more sessions of a cone pair, first
  // twenty loads of direct connections, then its NAT changes and 90% of direct attempts time out.
  const NatPair pair = NatPair::Of(kFull, kRestr);
  const absl::Duration hour = absl::Hours(1);
  const absl::Duration no_time_decay = absl::Hours(1e6);
  const EngineConfig config;
  BucketAggregate row = Bucket(pair, Strategy::kDirect, 0, 0, 0, 0);
  row.bucket_start = kNow - absl::Minutes(30);
  ArrivalLog log(hour);
  absl::Time now = kNow;
  std::vector<BucketAggregate> parts;
  auto load = [&](int64_t successes, int64_t timeouts) {
    row.counts.Add(Bucket(pair, Strategy::kDirect, 0, 1000, successes, timeouts).counts);
    now += absl::Seconds(5);
    parts = log.Split({&row, 1}, now);
  };
  auto decide = [&](const std::vector<BucketAggregate>& buckets) {
    return Decide(pair, AgeHistory(buckets, now, hour, no_time_decay, config.sample_half_life),
                  config)
        .strategy;
  };
  for (int i = 0; i < 20; ++i) load(950, 50);
  ASSERT_EQ(decide(parts), Strategy::kDirect);
  for (int i = 0; i < 3; ++i) load(100, 900);
  EXPECT_EQ(decide(parts), Strategy::kTurnOnly);
  // The same bucket read as one row, as without the log, still holds the pair on direct first.
  EXPECT_NE(decide({row}), Strategy::kTurnOnly);
}

}  // namespace
}  // namespace advisor::strategy
