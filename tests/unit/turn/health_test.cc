// The TURN health state machine: the seed's scenario step by step, the 5-minute skip, recovery,
// smoothing and transitions.
#include "lib/turn/health.h"

#include <gtest/gtest.h>

namespace advisor::turn {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);
const HealthConfig kDefaults;

HealthTransition Fail(HealthState& state, absl::Time now, const HealthConfig& config = kDefaults) {
  return RecordCheck(state, /*ok=*/false, 0, "Allocate: timed out after 5s", now, config);
}

HealthTransition Succeed(HealthState& state, double latency_ms, absl::Time now,
                         const HealthConfig& config = kDefaults) {
  return RecordCheck(state, /*ok=*/true, latency_ms, "", now, config);
}

TEST(HealthTest, DefaultsAreTheSeeds) {
  EXPECT_EQ(kDefaults.failure_threshold, 3);
  EXPECT_EQ(kDefaults.unhealthy_for, absl::Minutes(5));
  const HealthState fresh;
  EXPECT_EQ(fresh.status, HealthStatus::kUnknown);
  EXPECT_TRUE(Usable(fresh, kStart));
}

TEST(HealthTest, StatusNames) {
  EXPECT_EQ(HealthStatusName(HealthStatus::kUnknown), "unknown");
  EXPECT_EQ(HealthStatusName(HealthStatus::kHealthy), "healthy");
  EXPECT_EQ(HealthStatusName(HealthStatus::kUnhealthy), "unhealthy");
}

// The seed's scenario: a healthy server fails three checks in a row, is skipped for exactly five
// minutes after the third, and is healthy again after one success.
TEST(HealthTest, ThreeFailuresSkipFiveMinutesThenOneSuccessRecovers) {
  HealthState state;
  EXPECT_EQ(Succeed(state, 20, kStart), HealthTransition::kChanged);
  EXPECT_EQ(state.status, HealthStatus::kHealthy);

  const absl::Time t1 = kStart + absl::Seconds(60);
  EXPECT_EQ(Fail(state, t1), HealthTransition::kChangePending);
  EXPECT_EQ(state.status, HealthStatus::kHealthy);
  EXPECT_EQ(state.consecutive_failures, 1);
  EXPECT_EQ(state.last_error, "Allocate: timed out after 5s");
  EXPECT_TRUE(Usable(state, t1));

  const absl::Time t2 = kStart + absl::Seconds(120);
  EXPECT_EQ(Fail(state, t2), HealthTransition::kChangePending);
  EXPECT_EQ(state.status, HealthStatus::kHealthy);
  EXPECT_EQ(state.consecutive_failures, 2);
  EXPECT_TRUE(Usable(state, t2));

  const absl::Time t3 = kStart + absl::Seconds(180);
  EXPECT_EQ(Fail(state, t3), HealthTransition::kChanged);
  EXPECT_EQ(state.status, HealthStatus::kUnhealthy);
  EXPECT_EQ(state.consecutive_failures, 3);
  EXPECT_EQ(state.unhealthy_until, t3 + absl::Minutes(5));
  EXPECT_FALSE(Usable(state, t3));
  EXPECT_FALSE(Usable(state, t3 + absl::Minutes(4) + absl::Seconds(59)));
  EXPECT_FALSE(Usable(state, t3 + absl::Minutes(5) - absl::Nanoseconds(1)));
  // The skip period has passed with no new failure: it may be offered (and probed) again.
  EXPECT_TRUE(Usable(state, t3 + absl::Minutes(5)));
  EXPECT_EQ(state.status, HealthStatus::kUnhealthy);

  const absl::Time t4 = t3 + absl::Seconds(60);
  EXPECT_EQ(Succeed(state, 25, t4), HealthTransition::kChanged);
  EXPECT_EQ(state.status, HealthStatus::kHealthy);
  EXPECT_EQ(state.consecutive_failures, 0);
  EXPECT_EQ(state.last_error, "");
  EXPECT_EQ(state.unhealthy_until, absl::InfinitePast());
  EXPECT_EQ(state.last_check, t4);
  EXPECT_TRUE(Usable(state, t4));
}

TEST(HealthTest, EachFurtherFailureExtendsTheSkip) {
  HealthState state;
  for (int i = 0; i < 3; ++i) Fail(state, kStart + absl::Seconds(60 * i));
  const absl::Time third = kStart + absl::Seconds(120);
  ASSERT_EQ(state.unhealthy_until, third + absl::Minutes(5));

  const absl::Time fourth = third + absl::Seconds(60);
  EXPECT_EQ(Fail(state, fourth), HealthTransition::kUnchanged);
  EXPECT_EQ(state.status, HealthStatus::kUnhealthy);
  EXPECT_EQ(state.consecutive_failures, 4);
  EXPECT_EQ(state.unhealthy_until, fourth + absl::Minutes(5));
  EXPECT_FALSE(Usable(state, third + absl::Minutes(5)));
  EXPECT_TRUE(Usable(state, fourth + absl::Minutes(5)));

  // Retried after the skip period and failed again: skipped for another five minutes.
  const absl::Time retry = fourth + absl::Minutes(5);
  EXPECT_EQ(Fail(state, retry), HealthTransition::kUnchanged);
  EXPECT_FALSE(Usable(state, retry + absl::Minutes(4)));
}

TEST(HealthTest, UnknownStaysUnknownBelowTheThreshold) {
  HealthState state;
  EXPECT_EQ(Fail(state, kStart), HealthTransition::kChangePending);
  EXPECT_EQ(state.status, HealthStatus::kUnknown);
  EXPECT_EQ(Fail(state, kStart + absl::Seconds(60)), HealthTransition::kChangePending);
  EXPECT_EQ(state.status, HealthStatus::kUnknown);
  EXPECT_TRUE(Usable(state, kStart + absl::Seconds(60)));
  EXPECT_EQ(Fail(state, kStart + absl::Seconds(120)), HealthTransition::kChanged);
  EXPECT_EQ(state.status, HealthStatus::kUnhealthy);
}

TEST(HealthTest, UnknownToHealthyIsAChange) {
  HealthState state;
  Fail(state, kStart);
  EXPECT_EQ(Succeed(state, 10, kStart + absl::Seconds(60)), HealthTransition::kChanged);
  EXPECT_EQ(state.status, HealthStatus::kHealthy);
  EXPECT_EQ(state.consecutive_failures, 0);
}

TEST(HealthTest, RepeatedSuccessIsUnchanged) {
  HealthState state;
  Succeed(state, 10, kStart);
  EXPECT_EQ(Succeed(state, 10, kStart + absl::Seconds(60)), HealthTransition::kUnchanged);
}

TEST(HealthTest, AFailureBetweenSuccessesResetsTheCount) {
  HealthState state;
  Succeed(state, 10, kStart);
  Fail(state, kStart + absl::Seconds(60));
  Fail(state, kStart + absl::Seconds(120));
  Succeed(state, 10, kStart + absl::Seconds(180));
  EXPECT_EQ(Fail(state, kStart + absl::Seconds(240)), HealthTransition::kChangePending);
  EXPECT_EQ(Fail(state, kStart + absl::Seconds(300)), HealthTransition::kChangePending);
  EXPECT_EQ(state.status, HealthStatus::kHealthy);
}

TEST(HealthTest, LatencyIsSmoothedOverSuccessesOnly) {
  HealthState state;
  Succeed(state, 100, kStart);  // the first sample is taken as is
  EXPECT_DOUBLE_EQ(state.smoothed_latency_ms, 100);
  EXPECT_DOUBLE_EQ(state.last_latency_ms, 100);

  Succeed(state, 200, kStart + absl::Seconds(60));  // 0.3 * 200 + 0.7 * 100
  EXPECT_DOUBLE_EQ(state.smoothed_latency_ms, 130);
  EXPECT_DOUBLE_EQ(state.last_latency_ms, 200);

  // A failure's latency is not a round trip: it leaves both figures alone.
  RecordCheck(state, false, 5000, "timeout", kStart + absl::Seconds(120), kDefaults);
  EXPECT_DOUBLE_EQ(state.smoothed_latency_ms, 130);
  EXPECT_DOUBLE_EQ(state.last_latency_ms, 200);

  Succeed(state, 30, kStart + absl::Seconds(180));  // 0.3 * 30 + 0.7 * 130
  EXPECT_DOUBLE_EQ(state.smoothed_latency_ms, 100);
}

TEST(HealthTest, FirstLatencyAfterFailuresIsTakenAsIs) {
  HealthState state;
  Fail(state, kStart);
  Succeed(state, 42, kStart + absl::Seconds(60));
  EXPECT_DOUBLE_EQ(state.smoothed_latency_ms, 42);
}

TEST(HealthTest, SuccessRateIsSmoothedOverAllChecks) {
  HealthState first_ok;
  Succeed(first_ok, 10, kStart);
  EXPECT_DOUBLE_EQ(first_ok.success_rate, 1);

  HealthState state;
  Fail(state, kStart);  // the first check sets the rate outright
  EXPECT_DOUBLE_EQ(state.success_rate, 0);
  Succeed(state, 10, kStart + absl::Seconds(60));  // 0.1 * 1 + 0.9 * 0
  EXPECT_DOUBLE_EQ(state.success_rate, 0.1);
  Succeed(state, 10, kStart + absl::Seconds(120));  // 0.1 * 1 + 0.9 * 0.1
  EXPECT_DOUBLE_EQ(state.success_rate, 0.19);
  Fail(state, kStart + absl::Seconds(180));  // 0.9 * 0.19
  EXPECT_DOUBLE_EQ(state.success_rate, 0.171);
}

TEST(HealthTest, LastCheckAndErrorAreRecorded) {
  HealthState state;
  RecordCheck(state, false, 0, "Allocate: 401 Unauthorized (wrong credentials?)", kStart,
              kDefaults);
  EXPECT_EQ(state.last_check, kStart);
  EXPECT_EQ(state.last_error, "Allocate: 401 Unauthorized (wrong credentials?)");
  // A failure always leaves some error text, since an empty one means the last check succeeded.
  RecordCheck(state, false, 0, "", kStart + absl::Seconds(60), kDefaults);
  EXPECT_FALSE(state.last_error.empty());
  EXPECT_EQ(state.last_check, kStart + absl::Seconds(60));
}

TEST(HealthTest, ThresholdsAndPeriodsAreConfigurable) {
  const HealthConfig config{.failure_threshold = 1,
                            .unhealthy_for = absl::Seconds(30),
                            .latency_smoothing = 0.5,
                            .success_smoothing = 0.5};
  HealthState state;
  Succeed(state, 10, kStart, config);
  EXPECT_EQ(Fail(state, kStart + absl::Seconds(10), config), HealthTransition::kChanged);
  EXPECT_EQ(state.status, HealthStatus::kUnhealthy);
  EXPECT_EQ(state.unhealthy_until, kStart + absl::Seconds(40));
  EXPECT_FALSE(Usable(state, kStart + absl::Seconds(39)));
  EXPECT_TRUE(Usable(state, kStart + absl::Seconds(40)));
  EXPECT_DOUBLE_EQ(state.success_rate, 0.5);
  Succeed(state, 30, kStart + absl::Seconds(50), config);
  EXPECT_DOUBLE_EQ(state.smoothed_latency_ms, 20);

  const HealthConfig patient{.failure_threshold = 5};
  HealthState slow;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Fail(slow, kStart + absl::Seconds(i), patient), HealthTransition::kChangePending);
  }
  EXPECT_EQ(Fail(slow, kStart + absl::Seconds(4), patient), HealthTransition::kChanged);
}

TEST(HealthTest, AnUnhealthyServerStaysUnhealthyWhenTheThresholdIsRaised) {
  HealthState state;
  for (int i = 0; i < 3; ++i) Fail(state, kStart + absl::Seconds(i));
  const HealthConfig raised{.failure_threshold = 10};
  EXPECT_EQ(Fail(state, kStart + absl::Seconds(60), raised), HealthTransition::kUnchanged);
  EXPECT_EQ(state.status, HealthStatus::kUnhealthy);
  EXPECT_EQ(state.unhealthy_until, kStart + absl::Seconds(60) + absl::Minutes(5));
}

}  // namespace
}  // namespace advisor::turn
