// The strategy types: names of NAT types, strategies and transports both ways, the dense index of
// an unordered NAT pair, connect-time buckets, and the counts one reported outcome adds.
#include "lib/strategy/types.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/nat_types.h"

namespace advisor::strategy {
namespace {

using ::advisor::testing::kAllNatTypes;
using ::advisor::testing::kBlk;
using ::advisor::testing::kOpen;
using ::advisor::testing::kSym;
using ::advisor::testing::kUnknown;

TEST(NamesTest, NatTypesRoundTrip) {
  const std::vector<std::string> expected = {
      "unknown",   "open",   "full_cone", "restricted_cone", "port_restricted_cone",
      "symmetric", "blocked"};
  for (int i = 0; i < kNatTypeCount; ++i) {
    const NatType type = static_cast<NatType>(i);
    EXPECT_EQ(NatTypeName(type), expected[i]);
    EXPECT_EQ(ParseNatType(expected[i]), type);
  }
  EXPECT_EQ(ParseNatType("Symmetric"), std::nullopt);
  EXPECT_EQ(ParseNatType(""), std::nullopt);
  EXPECT_EQ(NatTypeName(static_cast<NatType>(200)), "unknown");
}

TEST(NamesTest, StrategiesAndTransports) {
  EXPECT_EQ(StrategyName(Strategy::kUnspecified), "unspecified");
  EXPECT_EQ(StrategyName(Strategy::kDirect), "direct");
  EXPECT_EQ(StrategyName(Strategy::kTurnFallback), "turn_fallback");
  EXPECT_EQ(StrategyName(Strategy::kTurnOnly), "turn_only");
  for (int i = 0; i < kStrategyCount; ++i) {
    const Strategy s = static_cast<Strategy>(i);
    EXPECT_EQ(ParseStrategy(StrategyName(s)), s);
  }
  EXPECT_EQ(ParseStrategy("TURN_ONLY"), std::nullopt);
  EXPECT_EQ(TransportName(Transport::kUnspecified), "unspecified");
  EXPECT_EQ(TransportName(Transport::kUdp), "udp");
  EXPECT_EQ(TransportName(Transport::kTcp), "tcp");
  EXPECT_EQ(TransportName(Transport::kTls), "tls");
}

TEST(NatPairTest, IndexIsDenseAndInvertible) {
  std::set<int> seen;
  for (NatType x : kAllNatTypes) {
    for (NatType y : kAllNatTypes) {
      const NatPair pair = NatPair::Of(x, y);
      EXPECT_LE(pair.a, pair.b);
      const int index = pair.Index();
      ASSERT_GE(index, 0);
      ASSERT_LT(index, kNatPairCount);
      EXPECT_EQ(NatPair::FromIndex(index), pair);
      EXPECT_EQ((NatPair{x, y}).Index(), index) << "an unordered pair shares its index";
      seen.insert(index);
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kNatPairCount));
  EXPECT_EQ(NatPair::Of(kUnknown, kUnknown).Index(), 0);
  EXPECT_EQ(NatPair::Of(kUnknown, kBlk).Index(), 6);
  EXPECT_EQ(NatPair::Of(kOpen, kOpen).Index(), 7);
  EXPECT_EQ(NatPair::Of(kBlk, kBlk).Index(), 27);
  for (int i = 0; i < kNatPairCount; ++i) EXPECT_EQ(NatPair::FromIndex(i).Index(), i);
}

TEST(NatPairTest, OutOfRangeStaysInBounds) {
  EXPECT_EQ(NatPair::FromIndex(-1), NatPair{});
  EXPECT_EQ(NatPair::FromIndex(kNatPairCount), NatPair{});
  EXPECT_EQ((NatPair{static_cast<NatType>(9), kSym}).Index(), NatPair::Of(kUnknown, kSym).Index());
}

TEST(ConnectTimeBucketTest, UpperBoundsAreInclusive) {
  EXPECT_EQ(ConnectTimeBucket(0), 0);
  EXPECT_EQ(ConnectTimeBucket(100), 0);
  EXPECT_EQ(ConnectTimeBucket(101), 1);
  EXPECT_EQ(ConnectTimeBucket(1000), 3);
  EXPECT_EQ(ConnectTimeBucket(1001), 4);
  EXPECT_EQ(ConnectTimeBucket(30000), 10);
  EXPECT_EQ(ConnectTimeBucket(30001), 11);
  EXPECT_EQ(ConnectTimeBucket(std::numeric_limits<uint32_t>::max()), kConnectTimeBuckets - 1);
}

TEST(CountsOfTest, DirectSuccess) {
  Outcome outcome;
  outcome.attempts = {{Path::kDirect, AttemptResult::kSucceeded, 700}};
  outcome.connected = true;
  outcome.time_to_connect_ms = 850;
  RawCounts expected;
  expected.sessions = 1;
  expected.connected = 1;
  expected.direct_attempts = 1;
  expected.direct_successes = 1;
  expected.connect_ms_sum = 850;
  expected.connect_ms_hist[3] = 1;  // (500, 1000]
  expected.direct_ms_hist[3] = 1;
  EXPECT_EQ(CountsOf(outcome), expected);
}

TEST(CountsOfTest, DirectTimeoutThenRelay) {
  Outcome outcome;
  outcome.attempts = {{Path::kDirect, AttemptResult::kTimedOut, 5000},
                      {Path::kRelay, AttemptResult::kSucceeded, 400}};
  outcome.connected = true;
  outcome.time_to_connect_ms = 5400;
  RawCounts expected;
  expected.sessions = 1;
  expected.connected = 1;
  expected.direct_attempts = 1;
  expected.direct_timeouts = 1;
  expected.relay_attempts = 1;
  expected.relay_successes = 1;
  expected.connect_ms_sum = 5400;
  expected.connect_ms_hist[7] = 1;       // (5000, 8000]
  expected.direct_censored_hist[6] = 1;  // (3000, 5000]: the timeout itself
  expected.relay_ms_hist[2] = 1;         // (250, 500]
  EXPECT_EQ(CountsOf(outcome), expected);
}

TEST(CountsOfTest, EverythingFailed) {
  Outcome outcome;
  outcome.attempts = {{Path::kDirect, AttemptResult::kFailed, 120},
                      {Path::kRelay, AttemptResult::kFailed, 3000},
                      {Path::kRelay, AttemptResult::kTimedOut, 10000}};
  outcome.connected = false;
  outcome.time_to_connect_ms = 999;  // ignored when not connected
  RawCounts expected;
  expected.sessions = 1;
  expected.direct_attempts = 1;
  expected.direct_failures = 1;
  expected.relay_attempts = 2;
  EXPECT_EQ(CountsOf(outcome), expected);
}

TEST(CountsOfTest, NoAttemptsAndSlowConnect) {
  Outcome outcome;
  outcome.connected = true;
  outcome.time_to_connect_ms = 45000;
  const RawCounts c = CountsOf(outcome);
  EXPECT_EQ(c.sessions, 1);
  EXPECT_EQ(c.connected, 1);
  EXPECT_EQ(c.direct_attempts, 0);
  EXPECT_EQ(c.relay_attempts, 0);
  EXPECT_EQ(c.connect_ms_sum, 45000);
  EXPECT_EQ(c.connect_ms_hist[kConnectTimeBuckets - 1], 1);
}

}  // namespace
}  // namespace advisor::strategy
