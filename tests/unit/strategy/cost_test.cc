// The cost-minimising choice: the censoring-aware direct estimate, the relay estimate, the expected
// cost of each option, shrinkage towards the prior, exploration and ageing by volume. Arrival order
// inside a bucket is in arrivals_test.cc.
#include "lib/strategy/cost.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
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

using ::advisor::testing::kBlk;
using ::advisor::testing::kFull;
using ::advisor::testing::kOpen;
using ::advisor::testing::kRestr;
using ::advisor::testing::kSym;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;

// Geometric midpoints the estimates use for a bucket's attempts.
const double kMid500To1000 = std::sqrt(500.0 * 1000.0);    // 707.107
const double kMid1000To2000 = std::sqrt(1000.0 * 2000.0);  // 1414.214

// Bucket indices of kConnectTimeBoundsMs: the bucket whose upper bound is the given time.
constexpr int k1s = 3;    // (500, 1000]
constexpr int k2s = 4;    // (1000, 2000]
constexpr int k3s = 5;    // (2000, 3000]
constexpr int k8s = 7;    // (5000, 8000]
constexpr int k15s = 9;   // (12000, 20000]: where a 15 s timeout lands
constexpr int k30s = 10;  // (20000, 30000]

// Direct counts of a pair from histograms, with the scalar counters to match.
struct DirectData {
  std::vector<std::pair<int, double>> successes;  // (bucket, count)
  std::vector<std::pair<int, double>> timeouts;   // (bucket of the timeout, count)
  double failures = 0;                            // failed before the timeout
};

void AddDirect(AgedCounts& c, const DirectData& data) {
  for (const auto& [bucket, count] : data.successes) {
    c.direct_ms_hist[bucket] += count;
    c.direct_successes += count;
    c.direct_attempts += count;
  }
  for (const auto& [bucket, count] : data.timeouts) {
    c.direct_censored_hist[bucket] += count;
    c.direct_timeouts += count;
    c.direct_attempts += count;
  }
  c.direct_failures += data.failures;
  c.direct_attempts += data.failures;
}

void AddRelay(AgedCounts& c, double attempts, double successes, int bucket) {
  c.relay_attempts += attempts;
  c.relay_successes += successes;
  c.relay_ms_hist[bucket] += successes;
}

// The hand-made sample of the Kaplan–Meier tests: 10 direct attempts.
//   (500, 1000]:  2 successes, 4 timed out at 1 s
//   (1000, 2000]: 2 successes
//   (2000, 3000]: 1 timed out at 3 s
//   1 failed before its timeout.
AgedCounts TenAttempts() {
  AgedCounts c;
  AddDirect(c,
            {.successes = {{k1s, 2}, {k2s, 2}}, .timeouts = {{k1s, 4}, {k3s, 1}}, .failures = 1});
  return c;
}

TEST(EstimateDirectTest, KaplanMeierByHand) {
  const DirectCurve curve = EstimateDirect(TenAttempts(), DirectPrior{}, /*prior_weight=*/0);
  EXPECT_DOUBLE_EQ(curve.attempts, 10);
  EXPECT_EQ(curve.horizon, k3s) << "the 3 s timeout is the longest wait reported";
  for (int i = 0; i < k1s; ++i) EXPECT_DOUBLE_EQ(curve.success_by[i], 0) << i;
  // (500, 1000]: all 10 at risk, 2 connect: hazard 2/10, success 0.2. The 4 timed out at 1 s and
  // the 2 successes leave 4 at risk.
  EXPECT_DOUBLE_EQ(curve.success_by[k1s], 0.2);
  // (1000, 2000]: 4 at risk, 2 connect: hazard 1/2, survival 0.8 × 0.5 = 0.4, success 0.6 — where
  // the naive 4 successes / 10 attempts says 0.4, counting the attempts abandoned at 1 s as
  // failures although they were never given the time.
  EXPECT_DOUBLE_EQ(curve.success_by[k2s], 0.6);
  // (2000, 3000]: 2 at risk (the 3 s timeout and the failure), none connects.
  EXPECT_DOUBLE_EQ(curve.success_by[k3s], 0.6);
  // Past 3 s nobody was watched: no further success.
  for (int i = k3s; i < kConnectTimeBounds; ++i) EXPECT_DOUBLE_EQ(curve.success_by[i], 0.6) << i;

  // E[time × 1{connects}]: 0.2 × 707.107 by 1 s, + 0.4 × 1414.214 by 2 s.
  EXPECT_NEAR(curve.time_by[k1s], 0.2 * kMid500To1000, 1e-9);
  EXPECT_NEAR(curve.time_by[k2s], 0.2 * kMid500To1000 + 0.4 * kMid1000To2000, 1e-9);
  EXPECT_NEAR(curve.time_by[k30s], curve.time_by[k2s], 1e-9);

  // Between bounds, linear: half-way through (1000, 2000] is 0.2 + 0.4 / 2.
  EXPECT_DOUBLE_EQ(curve.SuccessWithin(1500), 0.4);
  EXPECT_DOUBLE_EQ(curve.SuccessWithin(0), 0);
  EXPECT_DOUBLE_EQ(curve.SuccessWithin(1e12), 0.6);
  // The partial bucket's successes stand at the midpoint of (1000, 1500].
  EXPECT_NEAR(curve.TimeWithin(1500), 0.2 * kMid500To1000 + 0.2 * std::sqrt(1000.0 * 1500.0), 1e-9);
}

TEST(EstimateDirectTest, NothingAssumedPastTheLongestWaitWhateverThePrior) {
  // Every attempt was given 3 s; the prior expects successes up to about 5 s.
  AgedCounts c;
  AddDirect(c, {.successes = {{k2s, 60}}, .timeouts = {{k3s, 40}}});
  const DirectCurve curve = EstimateDirect(c, DirectPrior{0.9, 2500, 0.6}, 20);
  EXPECT_EQ(curve.horizon, k3s);
  for (int i = k3s + 1; i < kConnectTimeBounds; ++i) {
    EXPECT_DOUBLE_EQ(curve.success_by[i], curve.success_by[k3s]) << i;
  }
}

TEST(EstimateDirectTest, CountersWithoutDurations) {
  // Rows written before the duration histograms existed: 30 successes and 60 timeouts, no times.
  AgedCounts c;
  c.direct_attempts = 100;
  c.direct_successes = 30;
  c.direct_timeouts = 60;
  c.direct_failures = 10;
  const DirectCurve curve = EstimateDirect(c, DirectPrior{0.9, 1500, 0.6}, 0);
  // The successes stand at the prior's median (bucket (1000, 2000]); the timeouts never connect.
  EXPECT_EQ(curve.horizon, k2s);
  EXPECT_DOUBLE_EQ(curve.success_by[k1s], 0);
  EXPECT_DOUBLE_EQ(curve.success_by[k2s], 0.3);
  EXPECT_DOUBLE_EQ(curve.success_by[k30s], 0.3);
}

TEST(EstimateDirectTest, FewSamplesStayNearThePriorManyOutweighIt) {
  const DirectPrior prior{0.9, 1500, 0.6};
  // Attempts all watched for 30 s and none connected.
  AgedCounts few;
  AddDirect(few, {.successes = {}, .timeouts = {{k30s, 5}}});
  AgedCounts many;
  AddDirect(many, {.successes = {}, .timeouts = {{k30s, 500}}});
  // With 20 pseudo-attempts of a prior at 90%, 5 failures leave the estimate far nearer the prior
  // than the data's 0%; 500 pull it close to 0.
  EXPECT_GT(EstimateDirect(few, prior, 20).success_by[k30s], 0.6);
  EXPECT_LT(EstimateDirect(many, prior, 20).success_by[k30s], 0.05);
  EXPECT_DOUBLE_EQ(EstimateDirect(few, prior, 0).success_by[k30s], 0);
}

TEST(EstimateRelayTest, ByHandWithAndWithoutPrior) {
  AgedCounts c;
  AddRelay(c, 100, 90, k1s);
  const RelayEstimate data = EstimateRelay(c, RelayPrior{0.99, 900}, 0);
  EXPECT_DOUBLE_EQ(data.success, 0.9);
  EXPECT_NEAR(data.mean_ms, kMid500To1000, 1e-9);
  EXPECT_DOUBLE_EQ(data.Within(750), 0.5);  // half of (500, 1000]
  EXPECT_DOUBLE_EQ(data.Within(0), 0);
  EXPECT_DOUBLE_EQ(data.Within(30000), 1);

  // 10 pseudo-attempts at 99% in 900 ms: (90 + 9.9) / 110 and
  // (90 × 707.107 + 9.9 × 900) / 99.9 = 726.21.
  const RelayEstimate shrunk = EstimateRelay(c, RelayPrior{0.99, 900}, 10);
  EXPECT_NEAR(shrunk.success, 99.9 / 110, 1e-12);
  EXPECT_NEAR(shrunk.mean_ms, (90 * kMid500To1000 + 9.9 * 900) / 99.9, 1e-9);

  // No data: the prior.
  const RelayEstimate prior_only = EstimateRelay(AgedCounts{}, RelayPrior{0.99, 900}, 20);
  EXPECT_DOUBLE_EQ(prior_only.success, 0.99);
  EXPECT_DOUBLE_EQ(prior_only.mean_ms, 900);
}

TEST(CostTest, OptionsByHand) {
  AgedCounts c = TenAttempts();
  AddRelay(c, 100, 90, k1s);
  const DirectCurve direct = EstimateDirect(c, DirectPrior{}, 0);
  const RelayEstimate relay = EstimateRelay(c, RelayPrior{}, 0);
  const CostModel model{.relay_cost_ms = 2000, .budget_ms = 30000};

  // TURN_ONLY: 90% connect in 707.107 ms, 10% fail and count 30 s, all pay the relay's 2 s:
  // 636.396 + 3000 + 2000.
  const OptionEstimate relay_only = RelayOnly(relay, model);
  EXPECT_EQ(relay_only.timeout_ms, 0u);
  EXPECT_DOUBLE_EQ(relay_only.success, 0.9);
  EXPECT_DOUBLE_EQ(relay_only.relay_share, 1);
  EXPECT_NEAR(relay_only.connect_ms, kMid500To1000, 1e-9);
  EXPECT_NEAR(relay_only.cost, 0.9 * kMid500To1000 + 3000 + 2000, 1e-9);

  // Direct first for 2 s: 60% connect directly (time 707.107 in all); the 40% left try the relay,
  // 90% of them connect at 2000 + 707.107 ms and 10% fail.
  //   connected time = 707.107 + 0.36 × 2707.107 = 1681.66
  //   cost = 1681.66 + 0.04 × 30000 + 0.4 × 2000 = 3681.66
  const double direct_time = 0.2 * kMid500To1000 + 0.4 * kMid1000To2000;
  const double connected = direct_time + 0.36 * (2000 + kMid500To1000);
  const OptionEstimate two = DirectFirst(direct, relay, 2000, model);
  EXPECT_EQ(two.timeout_ms, 2000u);
  EXPECT_DOUBLE_EQ(two.direct_success, 0.6);
  EXPECT_NEAR(two.success, 0.96, 1e-12);
  EXPECT_NEAR(two.relay_share, 0.4, 1e-12);
  EXPECT_NEAR(two.connect_ms, connected / 0.96, 1e-9);
  EXPECT_NEAR(two.cost, connected + 1200 + 800, 1e-9);

  // Direct first for the whole 30 s budget leaves the relay no time: the 40% fail.
  const OptionEstimate all = DirectFirst(direct, relay, 30000, model);
  EXPECT_DOUBLE_EQ(all.success, 0.6);
  EXPECT_DOUBLE_EQ(all.relay_share, 0);
  EXPECT_NEAR(all.cost, direct_time + 0.4 * 30000, 1e-9);

  // A failure priced at 10 s more adds 10 s for each failing session: 10% of TURN_ONLY's, 4% of
  // direct first's for 2 s.
  CostModel priced = model;
  priced.failure_cost_ms = 10000;
  EXPECT_NEAR(RelayOnly(relay, priced).cost, relay_only.cost + 1000, 1e-9);
  EXPECT_NEAR(DirectFirst(direct, relay, 2000, priced).cost, two.cost + 400, 1e-9);
}

// A history where the pair's direct and relay statistics are the given ones, reported under
// `strategy`, with `sessions` sessions.
History PairHistory(NatPair pair, Strategy strategy, const DirectData& direct,
                    double relay_attempts, double relay_successes, double sessions) {
  History history;
  AgedCounts& c = history.at(pair, strategy);
  AddDirect(c, direct);
  AddRelay(c, relay_attempts, relay_successes, k1s);
  c.sessions = sessions;
  return history;
}

// 1000 cone-pair attempts under the cold-start DIRECT 15 s: 95% connect within 1 s.
History FastDirect(NatPair pair) {
  return PairHistory(pair, Strategy::kDirect, {.successes = {{k1s, 950}}, .timeouts = {{k15s, 50}}},
                     50, 50, 1000);
}

// The same pair where only 10% connect, within 2 s.
History RareDirect(NatPair pair) {
  return PairHistory(pair, Strategy::kDirect,
                     {.successes = {{k2s, 100}}, .timeouts = {{k15s, 900}}}, 900, 896, 1000);
}

TEST(ChoiceTest, FastDirectGetsDirectWithTheShortestTimeout) {
  // By 3 s about 95% have connected (in ~0.7 s) and nothing more comes later, so every second
  // beyond 3 s only delays the 5% that need the relay: about 0.95 × 707 + 0.05 × (3000 + 707 +
  // 2000) ≈ 960 ms, against ≈ 2.7 s for TURN_ONLY (707 ms + the 2 s relay cost).
  const NatPair pair = NatPair::Of(kOpen, kFull);
  const Decision d = Decide(pair, FastDirect(pair), EngineConfig{});
  EXPECT_EQ(d.strategy, Strategy::kDirect);
  EXPECT_EQ(d.direct_timeout_ms, 3000u);
  EXPECT_FALSE(d.relay_only);
  EXPECT_GT(d.expected_success_rate, 0.99);
  EXPECT_LT(d.expected_connect_time_ms, 1000u);
  EXPECT_EQ(d.history_samples, 1000u);
  EXPECT_THAT(d.reasons, Contains(AllOf(HasSubstr("open × full_cone"),
                                        HasSubstr("1000 recent direct attempts"))));
  EXPECT_THAT(d.reasons, Contains(AllOf(HasSubstr("the lowest is direct first for 3 s (DIRECT"),
                                        HasSubstr("the cold-start DIRECT stands"))));
}

TEST(ChoiceTest, RareDirectGetsTurnOnly) {
  // Direct first for 3 s: 10% connect in ~1.4 s, 90% wait 3 s and relay: about 0.1 × 1414 +
  // 0.9 × (3000 + 707 + 2000) ≈ 5.3 s, against ≈ 2.7 s for TURN_ONLY.
  const NatPair pair = NatPair::Of(kOpen, kFull);
  const Decision d = Decide(pair, RareDirect(pair), EngineConfig{});
  EXPECT_EQ(d.strategy, Strategy::kTurnOnly);
  EXPECT_EQ(d.direct_timeout_ms, 0u);
  EXPECT_TRUE(d.relay_only);
  EXPECT_THAT(d.reasons, Contains(HasSubstr("escalated DIRECT → TURN_ONLY")));
}

TEST(ChoiceTest, AFailurePriceBuysSuccessWithDirectFirst) {
  // RareDirect's relay fails about 0.4% of the time. Direct first for 3 s connects 10% of the
  // sessions on its own, so it fails a tenth less often than TURN_ONLY, at about 2.6 s more per
  // session: worth it once a failure is priced above ~6,000 s.
  const NatPair pair = NatPair::Of(kOpen, kFull);
  const Decision plain = Decide(pair, RareDirect(pair), EngineConfig{});
  ASSERT_EQ(plain.strategy, Strategy::kTurnOnly);
  EngineConfig config;
  config.failure_cost_ms = 1e8;
  const Decision d = Decide(pair, RareDirect(pair), config);
  EXPECT_NE(d.strategy, Strategy::kTurnOnly);
  EXPECT_GT(d.expected_success_rate, plain.expected_success_rate);
  EXPECT_THAT(d.reasons,
              Contains(HasSubstr("a failure counting the 30 s budget and 1e+08 ms more")));
  config.failure_cost_ms = 1e6;
  EXPECT_EQ(Decide(pair, RareDirect(pair), config).strategy, Strategy::kTurnOnly);
}

TEST(ChoiceTest, CostlyRelayGetsDirectFirstWithTheLongestTimeout) {
  // Direct connects for 95%, spread out to 20 s; every attempt was given 30 s.
  const NatPair pair = NatPair::Of(kRestr, kRestr);
  const History history = PairHistory(
      pair, Strategy::kDirect,
      {.successes = {{k2s, 310}, {k8s, 320}, {k15s, 320}}, .timeouts = {{k30s, 50}}}, 0, 0, 1000);
  // With a relayed session costing 100 s, a 20 s timeout relays the 5% left: 0.05 × 100 s = 5 s
  // of cost; a 30 s timeout lets them fail instead, 0.05 × 30 s = 1.5 s, and catches the same
  // successes.
  EngineConfig costly;
  costly.relay_cost_ms = 100000;
  const Decision d = Decide(pair, history, costly);
  EXPECT_NE(d.strategy, Strategy::kTurnOnly);
  EXPECT_EQ(d.direct_timeout_ms, 30000u);
  // At the default relay cost the relay is worth its price for those 5%.
  EXPECT_LT(Decide(pair, history, EngineConfig{}).direct_timeout_ms, 30000u);
}

TEST(ChoiceTest, ThePriorHoldsAPairWithFewSamples) {
  // Three attempts, all given 3 s, none connected: on their own, evidence that direct never works.
  EngineConfig config;
  config.min_samples = 3;
  const NatPair pair = NatPair::Of(kOpen, kRestr);
  const History history =
      PairHistory(pair, Strategy::kDirect, {.successes = {}, .timeouts = {{k3s, 3}}}, 3, 3, 3);
  // 20 pseudo-attempts of the cone prior (90% connect, around 1.5 s) outweigh them: direct first
  // stays cheaper than TURN_ONLY.
  const Decision held = Decide(pair, history, config);
  EXPECT_NE(held.strategy, Strategy::kTurnOnly);
  EXPECT_THAT(held.reasons, Contains(HasSubstr("20 prior pseudo-attempts")));
  // Without the prior the five attempts decide.
  config.prior_weight = 0;
  EXPECT_EQ(Decide(pair, history, config).strategy, Strategy::kTurnOnly);
}

TEST(ExplorationTest, TurnOnlyPairTriesDirectFirst) {
  const NatPair pair = NatPair::Of(kOpen, kFull);
  const Advice advice = Advise(pair, RareDirect(pair), EngineConfig{});
  ASSERT_EQ(advice.decision.strategy, Strategy::kTurnOnly);
  ASSERT_TRUE(advice.exploration.has_value());
  const Decision& e = *advice.exploration;
  EXPECT_EQ(e.strategy, Strategy::kTurnFallback);
  EXPECT_EQ(e.direct_timeout_ms, 3000u) << "the cheapest direct-first option";
  EXPECT_FALSE(e.relay_only);
  EXPECT_EQ(e.pair, advice.decision.pair);
  // 1000 sessions: twice min_samples of them is 10%, above the 5% share.
  EXPECT_DOUBLE_EQ(advice.exploration_probability, 0.1);
  EXPECT_THAT(e.reasons, Contains(AllOf(HasSubstr("exploration (10% of answers for open × "
                                                  "full_cone)"),
                                        HasSubstr("instead of TURN_ONLY"))));
  EXPECT_LT(e.expected_success_rate, 1.0);
  EXPECT_GT(e.expected_connect_time_ms, advice.decision.expected_connect_time_ms);
}

TEST(ExplorationTest, TurnOnlyShareKeepsDirectAttemptsInViewWithinACap) {
  const NatPair pair = NatPair::Of(kOpen, kFull);
  const auto share = [&](double sessions) {
    History history = RareDirect(pair);
    history.at(pair, Strategy::kDirect).sessions = sessions;
    return Advise(pair, history, EngineConfig{}).exploration_probability;
  };
  EXPECT_DOUBLE_EQ(share(1000), 0.1);     // 2 × 50 / 1000
  EXPECT_DOUBLE_EQ(share(100000), 0.05);  // never below explore_share
  EXPECT_DOUBLE_EQ(share(200), 0.25);     // 0.5, capped
}

TEST(ExplorationTest, DirectFirstPairTriesTheNextTimeout) {
  const NatPair pair = NatPair::Of(kOpen, kFull);
  const Advice advice = Advise(pair, FastDirect(pair), EngineConfig{});
  ASSERT_EQ(advice.decision.direct_timeout_ms, 3000u);
  ASSERT_TRUE(advice.exploration.has_value());
  EXPECT_EQ(advice.exploration->direct_timeout_ms, 5000u);
  EXPECT_EQ(advice.exploration->strategy, Strategy::kDirect);
  EXPECT_DOUBLE_EQ(advice.exploration_probability, 0.05);
  EXPECT_THAT(advice.exploration->reasons,
              Contains(AllOf(HasSubstr("exploration (5% of answers"),
                             HasSubstr("instead of direct first for 3 s"),
                             HasSubstr("to measure direct success past 3 s"))));
}

TEST(ExplorationTest, NoneAtTheLongestTimeoutWhenOffForBlockedOrWithoutHistory) {
  const NatPair pair = NatPair::Of(kRestr, kRestr);
  const History slow = PairHistory(
      pair, Strategy::kDirect,
      {.successes = {{k2s, 310}, {k8s, 320}, {k15s, 320}}, .timeouts = {{k30s, 50}}}, 0, 0, 1000);
  EngineConfig costly;
  costly.relay_cost_ms = 100000;
  const Advice longest = Advise(pair, slow, costly);
  ASSERT_EQ(longest.decision.direct_timeout_ms, 30000u);
  EXPECT_FALSE(longest.exploration.has_value());
  EXPECT_EQ(longest.exploration_probability, 0);

  EngineConfig off;
  off.explore_share = 0;
  const NatPair cone = NatPair::Of(kOpen, kFull);
  EXPECT_FALSE(Advise(cone, FastDirect(cone), off).exploration.has_value());
  EXPECT_FALSE(Advise(cone, RareDirect(cone), off).exploration.has_value());

  const NatPair blocked = NatPair::Of(kBlk, kFull);
  EXPECT_FALSE(Advise(blocked, RareDirect(blocked), EngineConfig{}).exploration.has_value());

  // With no history at all, every pair answers exactly the cold-start table.
  for (const Advice& advice : DecideAll(History{}, EngineConfig{})) {
    EXPECT_FALSE(advice.exploration.has_value()) << advice.decision.pair.Index();
    EXPECT_EQ(advice.decision.strategy, ColdStart(advice.decision.pair).strategy);
  }
}

TEST(ExplorationTest, ColdTurnOnlyPairWithHistoryExploresDirect) {
  // Both symmetric: TURN_ONLY by the cold-start rule, so no direct attempt ever happens unless some
  // answers try it.
  const NatPair pair = NatPair::Of(kSym, kSym);
  History history;
  AgedCounts& c = history.at(pair, Strategy::kTurnOnly);
  c.sessions = 400;
  AddRelay(c, 400, 398, k1s);
  const Advice advice = Advise(pair, history, EngineConfig{});
  EXPECT_EQ(advice.decision.strategy, Strategy::kTurnOnly);
  ASSERT_TRUE(advice.exploration.has_value());
  EXPECT_EQ(advice.exploration->strategy, Strategy::kTurnFallback);
  EXPECT_EQ(advice.exploration->direct_timeout_ms, 5000u);
  EXPECT_DOUBLE_EQ(advice.exploration_probability, 0.25);  // 2 × 50 / 400 = 0.25
  EXPECT_THAT(advice.exploration->reasons,
              Contains(AllOf(HasSubstr("exploration (25% of answers for symmetric × symmetric)"),
                             HasSubstr("0 of the 50 recent direct attempts"))));
  // Fewer sessions than min_samples: not yet.
  c.sessions = 49;
  EXPECT_FALSE(Advise(pair, history, EngineConfig{}).exploration.has_value());
}

TEST(ExplorationTest, SymmetricInTheTwoSides) {
  const NatPair pair = NatPair::Of(kOpen, kFull);
  for (const History& history : {FastDirect(pair), RareDirect(pair)}) {
    EXPECT_EQ(Advise(NatPair{kOpen, kFull}, history, EngineConfig{}),
              Advise(NatPair{kFull, kOpen}, history, EngineConfig{}));
  }
}

// Sample half-life: a bucket weighs half for every `sample_half_life` sessions of its pair in
// newer buckets.
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
const absl::Duration kWidth = absl::Seconds(10);

BucketAggregate Bucket(NatPair pair, Strategy strategy, int age_in_buckets, int64_t sessions,
                       int64_t direct_successes, int64_t direct_timeouts) {
  return ::advisor::testing::AgedBucket(kNow, kWidth, pair, strategy, age_in_buckets, sessions,
                                        direct_successes, direct_timeouts);
}

TEST(AgeBySamplesTest, HalfPerSampleHalfLifeOfNewerSessions) {
  const NatPair pair = NatPair::Of(kFull, kRestr);
  const NatPair other = NatPair::Of(kOpen, kOpen);
  std::vector<BucketAggregate> buckets = {
      Bucket(pair, Strategy::kDirect, 0, 1000, 0, 0),         // open: weighs 1
      Bucket(pair, Strategy::kDirect, 1, 600, 600, 0),        // 1000 newer: 1/2
      Bucket(pair, Strategy::kTurnFallback, 1, 400, 0, 400),  // same start: 1/2 too
      Bucket(pair, Strategy::kTurnOnly, 2, 100, 0, 0),        // 2000 newer: 1/4
      Bucket(other, Strategy::kDirect, 5, 100, 100, 0),       // another pair: nothing newer
  };
  const absl::Duration no_time_decay = absl::Hours(1e6);
  for (int round = 0; round < 3; ++round) {
    const History history = AgeHistory(buckets, kNow, kWidth, no_time_decay, 1000);
    EXPECT_NEAR(history.at(pair, Strategy::kDirect).sessions, 1000 + 300, 1e-6);
    EXPECT_NEAR(history.at(pair, Strategy::kDirect).direct_successes, 300, 1e-6);
    EXPECT_NEAR(history.at(pair, Strategy::kTurnFallback).direct_timeouts, 200, 1e-6);
    EXPECT_NEAR(history.at(pair, Strategy::kTurnOnly).sessions, 25, 1e-6);
    EXPECT_NEAR(history.at(other, Strategy::kDirect).sessions, 100, 1e-6);
    // The order of the rows does not matter.
    std::mt19937 random(round);
    std::ranges::shuffle(buckets, random);
  }
  // Off by default: only time ages.
  const History plain = AgeHistory(buckets, kNow, kWidth, no_time_decay);
  EXPECT_NEAR(plain.at(pair, Strategy::kTurnOnly).sessions, 100, 1e-6);
}

TEST(AgeBySamplesTest, NewerSessionsAreCountedAfterTheirTimeAgeing) {
  const NatPair pair = NatPair::Of(kFull, kRestr);
  // With a half-life of one bucket width, the newer bucket ended one half-life ago: its 2000
  // sessions count 1000 against the older one.
  std::vector<BucketAggregate> buckets = {
      Bucket(pair, Strategy::kDirect, 0, 2000, 0, 0),
      Bucket(pair, Strategy::kDirect, 0, 100, 0, 0),
  };
  buckets[0].bucket_start = kNow - 2 * kWidth;
  buckets[1].bucket_start = kNow - 3 * kWidth;
  const History history = AgeHistory(buckets, kNow, kWidth, kWidth, 1000);
  // Newer: 2000 × 1/2; older: 100 × 1/4 by time, × 2^-(1000 / 1000) by volume.
  EXPECT_NEAR(history.at(pair, Strategy::kDirect).sessions, 1000 + 12.5, 1e-6);
}

TEST(AgeBySamplesTest, APhaseChangeMovesTheChoiceWithinAFewThousandSessions) {
  // A cone pair connected directly for 20 buckets of 1000 sessions, then its NAT changed: now 90%
  // of its direct attempts time out.
  const NatPair pair = NatPair::Of(kFull, kRestr);
  std::vector<BucketAggregate> buckets;
  for (int age = 3; age < 23; ++age)
    buckets.push_back(Bucket(pair, Strategy::kDirect, age, 1000, 950, 50));
  EngineConfig config;
  const absl::Duration no_time_decay = absl::Hours(1e6);
  const auto decide = [&] {
    return Decide(pair, AgeHistory(buckets, kNow, kWidth, no_time_decay, config.sample_half_life),
                  config);
  };
  ASSERT_EQ(decide().strategy, Strategy::kDirect);
  // 3000 sessions after the change the pair is on TURN_ONLY...
  for (int age = 0; age < 3; ++age)
    buckets.push_back(Bucket(pair, Strategy::kDirect, age, 1000, 100, 900));
  EXPECT_EQ(decide().strategy, Strategy::kTurnOnly);
  // ...where 20000 sessions of the old behaviour ageing by time alone would still hold it on
  // direct first.
  EXPECT_NE(Decide(pair, AgeHistory(buckets, kNow, kWidth, no_time_decay), config).strategy,
            Strategy::kTurnOnly);
}

TEST(AgeBySamplesTest, AnEscalatedPairComesBackThroughExploration) {
  // A cone pair on TURN_ONLY for 20 buckets of 1000 sessions, 100 of which explored direct first
  // for 3 s with 10% success; then direct starts to work: 95% of the explored attempts connect.
  const NatPair pair = NatPair::Of(kFull, kRestr);
  std::vector<BucketAggregate> buckets;
  for (int age = 3; age < 23; ++age) {
    buckets.push_back(Bucket(pair, Strategy::kTurnOnly, age, 900, 0, 0));
    buckets.push_back(Bucket(pair, Strategy::kTurnFallback, age, 100, 10, 90));
  }
  const EngineConfig config;
  const absl::Duration no_time_decay = absl::Hours(1e6);
  const auto advise = [&] {
    return Advise(pair, AgeHistory(buckets, kNow, kWidth, no_time_decay, config.sample_half_life),
                  config);
  };
  const Advice before = advise();
  ASSERT_EQ(before.decision.strategy, Strategy::kTurnOnly);
  ASSERT_TRUE(before.exploration.has_value());
  // 3000 sessions later, 300 of them explored, the pair is back on direct first.
  for (int age = 0; age < 3; ++age) {
    buckets.push_back(Bucket(pair, Strategy::kTurnOnly, age, 900, 0, 0));
    buckets.push_back(Bucket(pair, Strategy::kTurnFallback, age, 100, 95, 5));
  }
  const Advice after = advise();
  EXPECT_NE(after.decision.strategy, Strategy::kTurnOnly);
  EXPECT_EQ(after.decision.direct_timeout_ms, 3000u);
}

}  // namespace
}  // namespace advisor::strategy
