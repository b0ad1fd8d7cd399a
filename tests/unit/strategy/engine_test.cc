// The decision (engine.cc): the effective NAT type, decisions and timeouts from a history, and the
// expected figures. The cold-start table is tested in cold_start_test.cc, the reasons' wording in
// explanation_test.cc, ageing in ageing_test.cc and the types in types_test.cc.
#include "lib/strategy/engine.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/strategy/types.h"
#include "tests/support/nat_types.h"
#include "tests/unit/strategy/histories.h"

namespace advisor::strategy {
namespace {

using ::advisor::testing::kAllNatTypes;
using ::advisor::testing::kBlk;
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
using ::advisor::testing::VariedHistory;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;

// Direct statistics for one (pair, strategy) in a history built by hand.
void SetDirect(History& history, NatPair pair, Strategy strategy, double attempts,
               double successes) {
  AgedCounts& c = history.at(pair, strategy);
  c.direct_attempts = attempts;
  c.direct_successes = successes;
  c.direct_timeouts = attempts - successes;
}

TEST(EffectiveTypeTest, LowConfidenceAndNanCountAsUnknown) {
  const EngineConfig config;  // min_confidence 0.5
  EXPECT_EQ(EffectiveType(kSym, 0.9f, config), kSym);
  EXPECT_EQ(EffectiveType(kSym, 0.5f, config), kSym) << "the threshold itself is enough";
  EXPECT_EQ(EffectiveType(kSym, 0.49f, config), kUnknown);
  EXPECT_EQ(EffectiveType(kSym, 0.0f, config), kUnknown);
  EXPECT_EQ(EffectiveType(kSym, std::numeric_limits<float>::quiet_NaN(), config), kUnknown);
  EXPECT_EQ(EffectiveType(kUnknown, 1.0f, config), kUnknown);
  EXPECT_EQ(EffectiveType(static_cast<NatType>(42), 1.0f, config), kUnknown);
  EngineConfig strict;
  strict.min_confidence = 0.95f;
  EXPECT_EQ(EffectiveType(kFull, 0.9f, strict), kUnknown);
}

TEST(DecideTest, SymmetricInTheTwoSides) {
  const EngineConfig config;
  for (const History& history : {History{}, VariedHistory()}) {
    for (NatType x : kAllNatTypes) {
      for (NatType y : kAllNatTypes) {
        EXPECT_EQ(Advise(NatPair{x, y}, history, config), Advise(NatPair{y, x}, history, config))
            << NatTypeName(x) << " × " << NatTypeName(y);
      }
    }
  }
}

TEST(DecideTest, DecideAllIsIndexedByPair) {
  const EngineConfig config;
  const History history = VariedHistory();
  const std::vector<Advice> all = DecideAll(history, config);
  ASSERT_EQ(all.size(), static_cast<size_t>(kNatPairCount));
  std::set<Strategy> strategies;
  for (int i = 0; i < kNatPairCount; ++i) {
    EXPECT_EQ(all[i].decision.pair.Index(), i);
    EXPECT_EQ(all[i], Advise(NatPair::FromIndex(i), history, config));
    EXPECT_EQ(all[i].decision, Decide(NatPair::FromIndex(i), history, config));
    strategies.insert(all[i].decision.strategy);
  }
  EXPECT_EQ(strategies.size(), 3u) << "the varied history should exercise every strategy";
}

TEST(DecideTest, ConePairEscalatesOnlyPastMinSamples) {
  const EngineConfig config;  // min_samples 50
  const NatPair pair = NatPair::Of(kPort, kRestr);
  History thin;
  SetDirect(thin, pair, Strategy::kDirect, 49, 49 * 0.3);
  const Decision cold = Decide(pair, thin, config);
  EXPECT_EQ(cold.strategy, Strategy::kDirect);
  EXPECT_THAT(cold.reasons, Contains(AllOf(HasSubstr("restricted_cone × port_restricted_cone"),
                                           HasSubstr("49 of the 50"))));

  // 30% direct success: each direct-first session would pay a timeout 70% of the time, far more
  // than the relay's 2 s cost.
  History enough;
  SetDirect(enough, pair, Strategy::kDirect, 50, 15);
  const Decision moved = Decide(pair, enough, config);
  EXPECT_EQ(moved.strategy, Strategy::kTurnOnly);
  EXPECT_TRUE(moved.relay_only);
  EXPECT_EQ(moved.direct_timeout_ms, 0u);
  EXPECT_EQ(moved.ice_candidate_pool_size, 1u);
  EXPECT_THAT(moved.reasons, Contains(AllOf(HasSubstr("restricted_cone × port_restricted_cone"),
                                            HasSubstr("50 recent direct attempts"))));
  EXPECT_THAT(moved.reasons, Contains(AllOf(HasSubstr("the lowest is TURN_ONLY"),
                                            HasSubstr("escalated DIRECT → TURN_ONLY"))));
}

TEST(DecideTest, VeryLowDirectSuccessEscalatesToTurnOnly) {
  const NatPair pair = NatPair::Of(kFull, kSym);
  History history;
  SetDirect(history, pair, Strategy::kTurnFallback, 400, 40);
  const Decision d = Decide(pair, history, EngineConfig{});
  EXPECT_EQ(d.strategy, Strategy::kTurnOnly);
  EXPECT_EQ(d.direct_timeout_ms, 0u);
  EXPECT_TRUE(d.relay_only);
  EXPECT_EQ(d.preferred_transport, Transport::kUdp);
  EXPECT_THAT(d.reasons, Contains(AllOf(HasSubstr("over 400 recent direct attempts"),
                                        HasSubstr("10.7% within 3 s"))));
  EXPECT_THAT(d.reasons, Contains(HasSubstr("escalated TURN_FALLBACK → TURN_ONLY")));
}

TEST(DecideTest, MiddlingDirectSuccessGivesTurnFallback) {
  const NatPair cone = NatPair::Of(kOpen, kFull);
  const NatPair one_sym = NatPair::Of(kOpen, kSym);
  History history;
  SetDirect(history, cone, Strategy::kDirect, 100, 75);
  SetDirect(history, one_sym, Strategy::kTurnFallback, 100, 75);
  // Direct first still beats the relay's cost, but a quarter of the sessions time out: the label
  // says a fallback is part of the plan.
  const Decision escalated = Decide(cone, history, EngineConfig{});
  EXPECT_EQ(escalated.strategy, Strategy::kTurnFallback);
  EXPECT_EQ(escalated.direct_timeout_ms, 3000u);
  EXPECT_THAT(escalated.reasons, Contains(AllOf(HasSubstr("below 90%"),
                                                HasSubstr("escalated DIRECT → TURN_FALLBACK"))));
  const Decision d = Decide(one_sym, history, EngineConfig{});
  EXPECT_EQ(d.strategy, Strategy::kTurnFallback);
  EXPECT_THAT(d.reasons, Contains(HasSubstr("the cold-start TURN_FALLBACK stands")));
  SetDirect(history, one_sym, Strategy::kTurnFallback, 100, 30);
  EXPECT_EQ(Decide(one_sym, history, EngineConfig{}).strategy, Strategy::kTurnOnly);
}

TEST(DecideTest, OneSymmetricPairRelaxesToDirect) {
  const NatPair pair = NatPair::Of(kFull, kSym);
  History history;
  SetDirect(history, pair, Strategy::kTurnFallback, 400, 380);
  const Decision d = Decide(pair, history, EngineConfig{});
  EXPECT_EQ(d.strategy, Strategy::kDirect);
  EXPECT_FALSE(d.relay_only);
  EXPECT_EQ(d.ice_candidate_pool_size, 1u);
  EXPECT_EQ(d.direct_timeout_ms, 3000u) << "every success came within 2 s";
  EXPECT_THAT(d.reasons,
              Contains(AllOf(HasSubstr("full_cone × symmetric"), HasSubstr("91.6% within 3 s"))));
  EXPECT_THAT(d.reasons, Contains(AllOf(HasSubstr("at or above 90%"),
                                        HasSubstr("relaxed TURN_FALLBACK → DIRECT"))));

  // 100 attempts at 95% are not enough to outweigh the one-symmetric prior's 50%: 83% estimated.
  SetDirect(history, pair, Strategy::kTurnFallback, 100, 95);
  EXPECT_EQ(Decide(pair, history, EngineConfig{}).strategy, Strategy::kTurnFallback);
  // And 49 are too few to use at all.
  SetDirect(history, pair, Strategy::kTurnFallback, 49, 49 * 0.95);
  const Decision thin = Decide(pair, history, EngineConfig{});
  EXPECT_EQ(thin.strategy, Strategy::kTurnFallback);
  EXPECT_THAT(thin.reasons, Contains(HasSubstr("too thin")));
}

TEST(DecideTest, BothSymmetricRelaxesWhenDirectDataSaysSo) {
  const NatPair pair = NatPair::Of(kSym, kSym);
  History history;
  SetDirect(history, pair, Strategy::kTurnFallback, 60, 57);
  const Decision d = Decide(pair, history, EngineConfig{});
  EXPECT_EQ(d.strategy, Strategy::kTurnFallback);
  EXPECT_FALSE(d.relay_only);
  EXPECT_EQ(d.direct_timeout_ms, 3000u);
  EXPECT_THAT(d.reasons, Contains(HasSubstr("relaxed TURN_ONLY → TURN_FALLBACK")));
  SetDirect(history, pair, Strategy::kTurnFallback, 60, 30);
  EXPECT_EQ(Decide(pair, history, EngineConfig{}).strategy, Strategy::kTurnOnly);
}

TEST(TimeoutTest, PastMinSamplesTheTimeoutComesFromTheCostModel) {
  // A low floor, under which the seed's rule would give 5000 × 0.9^100 → the 100 ms floor.
  EngineConfig config;
  config.min_timeout = absl::Milliseconds(100);
  History history;
  const NatPair pair = NatPair::Of(kFull, kSym);
  SetDirect(history, pair, Strategy::kTurnFallback, 100, 100);
  const Decision d = Decide(pair, history, config);
  // The successes carry no duration, so they are placed at the prior's median (2 s, bucket
  // (1 s, 2 s]): 2 s is the shortest timeout that catches them.
  EXPECT_EQ(d.direct_timeout_ms, 2000u);
  EXPECT_THAT(d.reasons, Contains(HasSubstr("direct first for 0.1 s")));
}

TEST(DecideTest, BlockedNeverRelaxes) {
  for (NatType other : kAllNatTypes) {
    const NatPair pair = NatPair::Of(kBlk, other);
    History history;
    SetDirect(history, pair, Strategy::kDirect, 1000, 1000);
    const Decision d = Decide(pair, history, EngineConfig{});
    EXPECT_EQ(d.strategy, Strategy::kTurnOnly) << NatTypeName(other);
    EXPECT_EQ(d.preferred_transport, Transport::kTcp);
    EXPECT_TRUE(d.relay_only);
    EXPECT_EQ(d.direct_timeout_ms, 0u);
    EXPECT_THAT(d.reasons, Contains(HasSubstr("never relaxes")));
  }
}

TEST(DecideTest, UnknownPairFollowsHistoryFromTurnFallback) {
  const NatPair pair = NatPair::Of(kUnknown, kFull);
  History history;
  SetDirect(history, pair, Strategy::kTurnFallback, 400, 380);
  EXPECT_EQ(Decide(pair, history, EngineConfig{}).strategy, Strategy::kDirect);
  SetDirect(history, pair, Strategy::kTurnFallback, 200, 160);
  EXPECT_EQ(Decide(pair, history, EngineConfig{}).strategy, Strategy::kTurnFallback);
  SetDirect(history, pair, Strategy::kTurnFallback, 200, 10);
  EXPECT_EQ(Decide(pair, history, EngineConfig{}).strategy, Strategy::kTurnOnly);
}

TEST(DecideTest, DirectStatisticsArePooledOverStrategies) {
  const NatPair pair = NatPair::Of(kFull, kFull);
  History history;
  SetDirect(history, pair, Strategy::kDirect, 30, 9);
  SetDirect(history, pair, Strategy::kTurnFallback, 30, 9);
  const Decision d = Decide(pair, history, EngineConfig{});
  EXPECT_EQ(d.strategy, Strategy::kTurnOnly) << "30 + 30 attempts together pass min_samples";
  EXPECT_THAT(d.reasons, Contains(HasSubstr("60 recent direct attempts")));
}

// Timeout of a cone pair (cold start 15 s) with s direct successes and f timeouts. min_samples is
// out of reach so that the strategy stays DIRECT whatever the rate, and the timeout gate is down so
// that the seed's steps show from the first attempt.
uint32_t ConeTimeout(double s, double f, EngineConfig config = EngineConfig{}) {
  config.min_samples = std::numeric_limits<double>::infinity();
  config.min_timeout_samples = 0;
  const NatPair pair = NatPair::Of(kOpen, kOpen);
  History history;
  SetDirect(history, pair, Strategy::kDirect, s + f, s);
  const Decision d = Decide(pair, history, config);
  EXPECT_EQ(d.strategy, Strategy::kDirect);
  return d.direct_timeout_ms;
}

TEST(TimeoutTest, SeedStepsInLogSpace) {
  EXPECT_EQ(ConeTimeout(1, 0), 13500u);
  EXPECT_EQ(ConeTimeout(0, 1), 18000u);
  EXPECT_EQ(ConeTimeout(10, 0), 5230u);  // 15000 × 0.9^10 = 5230.18
  EXPECT_EQ(ConeTimeout(0, 3), 25920u);  // 15000 × 1.2^3
  EXPECT_EQ(ConeTimeout(5, 5), 22040u);  // 15000 × 0.59049 × 2.48832 = 22039.92
  EXPECT_EQ(ConeTimeout(4, 4), 20407u);  // 15000 × (0.9 × 1.2)^4 = 15000 × 1.08^4 = 20407.33
}

TEST(TimeoutTest, ClampsOnceAtTheEnd) {
  EXPECT_EQ(ConeTimeout(40, 0), 3000u);
  EXPECT_EQ(ConeTimeout(0, 40), 30000u);
  // The seed's step-by-step clamp would pin 40 failures at 30 s and then come down 10 successes to
  // 10460 ms; clamping once keeps the evidence and lands back where the net count says.
  EXPECT_EQ(ConeTimeout(10, 40), 30000u);
  EXPECT_EQ(ConeTimeout(30, 20),
            static_cast<uint32_t>(std::llround(15000 * std::pow(0.9, 30) * std::pow(1.2, 20))));
  // No overflow however large the counts.
  EXPECT_EQ(ConeTimeout(0, 1e6), 30000u);
  EXPECT_EQ(ConeTimeout(1e6, 0), 3000u);

  EngineConfig narrow;
  narrow.min_timeout = absl::Seconds(10);
  narrow.max_timeout = absl::Seconds(20);
  EXPECT_EQ(ConeTimeout(10, 0, narrow), 10000u);
  EXPECT_EQ(ConeTimeout(0, 10, narrow), 20000u);
}

TEST(TimeoutTest, FewAttemptsDoNotMoveTheTimeout) {
  // One client's report of failures must not set a pair's timeout: below min_timeout_samples (20
  // by default) the cold-start timeout stays, from there the seed's steps apply.
  const NatPair pair = NatPair::Of(kOpen, kOpen);
  History history;
  SetDirect(history, pair, Strategy::kDirect, 19, 0);
  EXPECT_EQ(Decide(pair, history, EngineConfig{}).direct_timeout_ms, 15000u);
  SetDirect(history, pair, Strategy::kDirect, 20, 0);
  EXPECT_EQ(Decide(pair, history, EngineConfig{}).direct_timeout_ms, 30000u);
}

TEST(TimeoutTest, ColdStartTimeoutUntilOneAttempt) {
  const NatPair pair = NatPair::Of(kOpen, kSym);
  EngineConfig config;
  config.min_timeout_samples = 0;
  History history;
  SetDirect(history, pair, Strategy::kTurnFallback, 0.9, 0.9);
  EXPECT_EQ(Decide(pair, history, config).direct_timeout_ms, 5000u);
  SetDirect(history, pair, Strategy::kTurnFallback, 1, 1);
  EXPECT_EQ(Decide(pair, history, config).direct_timeout_ms, 4500u);
}

TEST(TimeoutTest, IndependentOfOrderAndBatching) {
  const NatPair pair = NatPair::Of(kOpen, kRestr);
  const std::vector<BucketAggregate> one = {OpenBucket(pair, Strategy::kDirect, 12, 7, 2)};
  const std::vector<BucketAggregate> split = {
      OpenBucket(pair, Strategy::kDirect, 0, 7, 0),
      OpenBucket(pair, Strategy::kTurnFallback, 5, 0, 1),
      OpenBucket(pair, Strategy::kDirect, 7, 0, 1),
  };
  const std::vector<BucketAggregate> reversed(split.rbegin(), split.rend());
  const EngineConfig config;
  const uint32_t expected =
      static_cast<uint32_t>(std::llround(15000 * std::pow(0.9, 12) * std::pow(1.2, 9)));
  for (const std::vector<BucketAggregate>* buckets : {&one, &split, &reversed}) {
    const History history = AgeHistory(*buckets, kNow, kWidth, kHalfLife);
    EXPECT_EQ(Decide(pair, history, config).direct_timeout_ms, expected);
  }
}

TEST(ExpectedFiguresTest, FromTheChosenStrategysHistory) {
  const NatPair pair = NatPair::Of(kFull, kSym);  // TURN_FALLBACK at cold start
  History history;
  AgedCounts& c = history.at(pair, Strategy::kTurnFallback);
  c.sessions = 80;
  c.connected = 76;
  // 76 connected: 20 in (500, 1000], 30 in (1000, 2000], 26 in (2000, 3000]. The median (38th)
  // falls 18 of 30 into (1000, 2000]: 1000 + 18/30 × 1000 = 1600 ms.
  c.connect_ms_hist[3] = 20;
  c.connect_ms_hist[4] = 30;
  c.connect_ms_hist[5] = 26;
  history.at(pair, Strategy::kDirect).sessions = 10;
  const Decision d = Decide(pair, history, EngineConfig{});
  EXPECT_EQ(d.strategy, Strategy::kTurnFallback);
  EXPECT_DOUBLE_EQ(d.expected_success_rate, 0.95);
  EXPECT_EQ(d.expected_connect_time_ms, 1600u);
  EXPECT_EQ(d.history_samples, 90u);
  EXPECT_THAT(d.reasons,
              Contains(AllOf(HasSubstr("1600 ms"), HasSubstr("80 recent TURN_FALLBACK"))));
}

TEST(ExpectedFiguresTest, LastBucketReadsAsThirtyToSixtySeconds) {
  const NatPair pair = NatPair::Of(kOpen, kOpen);
  History history;
  AgedCounts& c = history.at(pair, Strategy::kDirect);
  c.sessions = 100;
  c.connected = 60;
  c.connect_ms_hist[kConnectTimeBuckets - 1] = 60;
  const Decision d = Decide(pair, history, EngineConfig{});
  EXPECT_DOUBLE_EQ(d.expected_success_rate, 0.6);
  EXPECT_EQ(d.expected_connect_time_ms, 45000u);
}

TEST(ExpectedFiguresTest, PriorsWhileThinWithSamplesReported) {
  const NatPair pair = NatPair::Of(kFull, kSym);
  History history;
  AgedCounts& c = history.at(pair, Strategy::kTurnFallback);
  c.sessions = 12;
  c.connected = 1;
  c.connect_ms_hist[0] = 1;
  c.direct_attempts = 12;
  c.direct_successes = 1;
  c.direct_timeouts = 11;
  const Decision d = Decide(pair, history, EngineConfig{});
  EXPECT_EQ(d.strategy, Strategy::kTurnFallback);
  EXPECT_DOUBLE_EQ(d.expected_success_rate, 0.95);
  EXPECT_EQ(d.expected_connect_time_ms, 3000u);
  EXPECT_EQ(d.history_samples, 12u);
  EXPECT_THAT(d.reasons, Contains(AllOf(HasSubstr("full_cone × symmetric"),
                                        HasSubstr("12 of the 50"), HasSubstr("too thin"))));
}

}  // namespace
}  // namespace advisor::strategy
