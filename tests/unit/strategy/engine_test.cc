#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/strategy/engine.h"
#include "lib/strategy/types.h"

namespace advisor::strategy {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr NatType kU = NatType::kUnknown;
constexpr NatType kOpen = NatType::kOpen;
constexpr NatType kFull = NatType::kFullCone;
constexpr NatType kRestr = NatType::kRestrictedCone;
constexpr NatType kPort = NatType::kPortRestrictedCone;
constexpr NatType kSym = NatType::kSymmetric;
constexpr NatType kBlk = NatType::kBlocked;
constexpr std::array<NatType, kNatTypeCount> kAllTypes = {kU,    kOpen, kFull, kRestr,
                                                          kPort, kSym,  kBlk};

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);
const absl::Duration kWidth = absl::Minutes(10);
const absl::Duration kHalfLife = absl::Hours(24);

// Direct statistics for one (pair, strategy) in a history built by hand.
void SetDirect(History& history, NatPair pair, Strategy strategy, double attempts,
               double successes) {
  AgedCounts& c = history.at(pair, strategy);
  c.direct_attempts = attempts;
  c.direct_successes = successes;
  c.direct_timeouts = attempts - successes;
}

// A stored bucket that is still open at kNow, so it weighs exactly 1.
BucketAggregate OpenBucket(NatPair pair, Strategy strategy, int64_t successes, int64_t timeouts,
                           int64_t failures = 0) {
  BucketAggregate b;
  b.pair = pair;
  b.strategy = strategy;
  b.bucket_start = kNow - absl::Minutes(1);
  b.counts.sessions = successes + timeouts + failures;
  b.counts.direct_attempts = successes + timeouts + failures;
  b.counts.direct_successes = successes;
  b.counts.direct_timeouts = timeouts;
  b.counts.direct_failures = failures;
  return b;
}

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
  for (NatType x : kAllTypes) {
    for (NatType y : kAllTypes) {
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
  EXPECT_EQ(NatPair::Of(kU, kU).Index(), 0);
  EXPECT_EQ(NatPair::Of(kU, kBlk).Index(), 6);
  EXPECT_EQ(NatPair::Of(kOpen, kOpen).Index(), 7);
  EXPECT_EQ(NatPair::Of(kBlk, kBlk).Index(), 27);
  for (int i = 0; i < kNatPairCount; ++i) EXPECT_EQ(NatPair::FromIndex(i).Index(), i);
}

TEST(NatPairTest, OutOfRangeStaysInBounds) {
  EXPECT_EQ(NatPair::FromIndex(-1), NatPair{});
  EXPECT_EQ(NatPair::FromIndex(kNatPairCount), NatPair{});
  EXPECT_EQ((NatPair{static_cast<NatType>(9), kSym}).Index(), NatPair::Of(kU, kSym).Index());
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

TEST(EffectiveTypeTest, LowConfidenceAndNanCountAsUnknown) {
  const EngineConfig config;  // min_confidence 0.5
  EXPECT_EQ(EffectiveType(kSym, 0.9f, config), kSym);
  EXPECT_EQ(EffectiveType(kSym, 0.5f, config), kSym) << "the threshold itself is enough";
  EXPECT_EQ(EffectiveType(kSym, 0.49f, config), kU);
  EXPECT_EQ(EffectiveType(kSym, 0.0f, config), kU);
  EXPECT_EQ(EffectiveType(kSym, std::numeric_limits<float>::quiet_NaN(), config), kU);
  EXPECT_EQ(EffectiveType(kU, 1.0f, config), kU);
  EXPECT_EQ(EffectiveType(static_cast<NatType>(42), 1.0f, config), kU);
  EngineConfig strict;
  strict.min_confidence = 0.95f;
  EXPECT_EQ(EffectiveType(kFull, 0.9f, strict), kU);
}

// The seed's table for every ordered pair of the seven types.
//   D = DIRECT 15 s, F = TURN_FALLBACK 5 s, R = TURN_ONLY relay-only over UDP,
//   B = TURN_ONLY relay-only over TCP (UDP blocked).
// Rows and columns: unknown, open, full_cone, restricted_cone, port_restricted_cone, symmetric,
// blocked.
constexpr const char* kColdTable[kNatTypeCount] = {
    "FFFFFFB",  // unknown
    "FDDDDFB",  // open
    "FDDDDFB",  // full_cone
    "FDDDDFB",  // restricted_cone
    "FDDDDFB",  // port_restricted_cone
    "FFFFFRB",  // symmetric
    "BBBBBBB",  // blocked
};

TEST(ColdStartTest, WholeTable) {
  for (int i = 0; i < kNatTypeCount; ++i) {
    for (int j = 0; j < kNatTypeCount; ++j) {
      const NatType x = kAllTypes[i];
      const NatType y = kAllTypes[j];
      SCOPED_TRACE(std::string(NatTypeName(x)) + " × " + std::string(NatTypeName(y)));
      const Decision d = ColdStart(NatPair{x, y});
      EXPECT_EQ(d.pair, NatPair::Of(x, y));
      EXPECT_EQ(d.history_samples, 0u);
      switch (kColdTable[i][j]) {
        case 'D':
          EXPECT_EQ(d.strategy, Strategy::kDirect);
          EXPECT_EQ(d.direct_timeout_ms, 15000u);
          EXPECT_EQ(d.preferred_transport, Transport::kUdp);
          EXPECT_FALSE(d.relay_only);
          EXPECT_EQ(d.ice_candidate_pool_size, 1u);
          EXPECT_DOUBLE_EQ(d.expected_success_rate, 0.90);
          EXPECT_EQ(d.expected_connect_time_ms, 1500u);
          break;
        case 'F':
          EXPECT_EQ(d.strategy, Strategy::kTurnFallback);
          EXPECT_EQ(d.direct_timeout_ms, 5000u);
          EXPECT_EQ(d.preferred_transport, Transport::kUdp);
          EXPECT_FALSE(d.relay_only);
          EXPECT_EQ(d.ice_candidate_pool_size, 1u);
          EXPECT_DOUBLE_EQ(d.expected_success_rate, 0.95);
          EXPECT_EQ(d.expected_connect_time_ms, 3000u);
          break;
        case 'R':
        case 'B':
          EXPECT_EQ(d.strategy, Strategy::kTurnOnly);
          EXPECT_EQ(d.direct_timeout_ms, 0u);
          EXPECT_EQ(d.preferred_transport,
                    kColdTable[i][j] == 'B' ? Transport::kTcp : Transport::kUdp);
          EXPECT_TRUE(d.relay_only);
          EXPECT_EQ(d.ice_candidate_pool_size, 1u);
          EXPECT_DOUBLE_EQ(d.expected_success_rate, 0.99);
          EXPECT_EQ(d.expected_connect_time_ms, 900u);
          break;
        default:
          FAIL() << "bad table entry";
      }
      ASSERT_EQ(d.reasons.size(), 1u);
      EXPECT_THAT(d.reasons[0], HasSubstr(std::string(NatTypeName(d.pair.a)) + " × " +
                                          std::string(NatTypeName(d.pair.b))));

      // With no history Decide answers exactly the cold-start table too.
      const Decision decided = Decide(NatPair{x, y}, History{}, EngineConfig{});
      EXPECT_EQ(decided.pair, d.pair);
      EXPECT_EQ(decided.strategy, d.strategy);
      EXPECT_EQ(decided.direct_timeout_ms, d.direct_timeout_ms);
      EXPECT_EQ(decided.preferred_transport, d.preferred_transport);
      EXPECT_EQ(decided.relay_only, d.relay_only);
      EXPECT_EQ(decided.ice_candidate_pool_size, d.ice_candidate_pool_size);
      EXPECT_EQ(decided.expected_success_rate, d.expected_success_rate);
      EXPECT_EQ(decided.expected_connect_time_ms, d.expected_connect_time_ms);
      EXPECT_EQ(decided.history_samples, 0u);
      EXPECT_THAT(decided.reasons, Contains(HasSubstr("no fleet history for")));
    }
  }
}

TEST(ColdStartTest, ReasonNamesTheRule) {
  EXPECT_THAT(ColdStart(NatPair::Of(kFull, kSym)).reasons[0],
              AllOf(HasSubstr("full_cone × symmetric"), HasSubstr("one side symmetric"),
                    HasSubstr("TURN_FALLBACK")));
  EXPECT_THAT(ColdStart(NatPair::Of(kBlk, kOpen)).reasons[0],
              AllOf(HasSubstr("open × blocked"), HasSubstr("TCP")));
}

// A history with something for every pair and strategy, different per pair, so that symmetry is
// tested on non-trivial decisions: direct success rates from 0 to 99% by pair, successes at times
// and timeouts at lengths that vary by pair, the rest failures; a relay that rescues most of them.
History VariedHistory() {
  History history;
  for (int p = 0; p < kNatPairCount; ++p) {
    for (int s = 1; s < kStrategyCount; ++s) {
      AgedCounts& c = history.counts[p][s];
      c.sessions = 20 + 7 * p + s;
      c.direct_attempts = c.sessions;
      c.direct_successes = c.sessions * ((p * 37) % 100) / 100.0;
      c.direct_ms_hist[2 + p % 5] = c.direct_successes;
      c.direct_timeouts = (c.direct_attempts - c.direct_successes) / 2;
      c.direct_censored_hist[5 + (p + s) % 5] = c.direct_timeouts;
      c.direct_failures = c.direct_attempts - c.direct_successes - c.direct_timeouts;
      c.relay_attempts = c.direct_attempts - c.direct_successes;
      c.relay_successes = c.relay_attempts * 0.98;
      c.relay_ms_hist[3 + s % 2] = c.relay_successes;
      c.connected = c.sessions * 0.9;
      c.connect_ms_hist[(p + s) % kConnectTimeBuckets] = c.connected;
    }
  }
  return history;
}

TEST(DecideTest, SymmetricInTheTwoSides) {
  const EngineConfig config;
  for (const History& history : {History{}, VariedHistory()}) {
    for (NatType x : kAllTypes) {
      for (NatType y : kAllTypes) {
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
  for (NatType other : kAllTypes) {
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
  const NatPair pair = NatPair::Of(kU, kFull);
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

TEST(AgeHistoryTest, WeightsByHalfLife) {
  const NatPair pair = NatPair::Of(kFull, kPort);
  BucketAggregate open = OpenBucket(pair, Strategy::kDirect, 10, 10);
  BucketAggregate future = OpenBucket(pair, Strategy::kTurnFallback, 10, 10);
  future.bucket_start = kNow + absl::Hours(3);
  BucketAggregate one_half_life = OpenBucket(pair, Strategy::kTurnOnly, 10, 10);
  one_half_life.bucket_start = kNow - kWidth - kHalfLife;
  BucketAggregate two_half_lives = OpenBucket(pair, Strategy::kTurnOnly, 100, 0);
  two_half_lives.bucket_start = kNow - kWidth - 2 * kHalfLife;
  BucketAggregate just_closed = OpenBucket(NatPair::Of(kU, kU), Strategy::kDirect, 4, 0);
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
  EXPECT_DOUBLE_EQ(history.at(NatPair::Of(kU, kU), Strategy::kDirect).direct_successes, 4);
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

TEST(ReasonsTest, NonEmptyAndNamePair) {
  std::vector<Decision> all;
  for (const Advice& advice : DecideAll(VariedHistory(), EngineConfig{})) {
    all.push_back(advice.decision);
    if (advice.exploration.has_value()) all.push_back(*advice.exploration);
  }
  for (const Decision& d : all) {
    const std::string name =
        std::string(NatTypeName(d.pair.a)) + " × " + std::string(NatTypeName(d.pair.b));
    ASSERT_FALSE(d.reasons.empty()) << name;
    for (const std::string& reason : d.reasons) EXPECT_FALSE(reason.empty()) << name;
    EXPECT_THAT(d.reasons, Contains(HasSubstr(name)));
  }
}

}  // namespace
}  // namespace advisor::strategy
