// ConnectPlan: the advisor's answer executed as events and actions, for each strategy, with and
// without a fallback, up to the budget.
#include "lib/client/connect_plan.h"

#include <gtest/gtest.h>

namespace advisor::client {
namespace {

using Kind = ConnectPlan::Action::Kind;
using Phase = ConnectPlan::Phase;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);
const absl::Duration kBudget = absl::Seconds(30);

v1::IceConfig Config(std::string_view url, std::string_view policy) {
  v1::IceConfig config;
  config.add_ice_servers()->add_urls(std::string(url));
  config.set_ice_transport_policy(std::string(policy));
  return config;
}

v1::GetStrategyResponse Answer(v1::Strategy strategy, uint32_t timeout_ms, bool fallback) {
  v1::GetStrategyResponse answer;
  answer.set_strategy(strategy);
  answer.set_direct_timeout_ms(timeout_ms);
  answer.set_decision_token("token");
  answer.set_preferred_turn_transport(v1::TURN_TRANSPORT_UDP);
  if (strategy == v1::STRATEGY_TURN_ONLY) {
    *answer.mutable_ice_config() = Config("turn:turn.example:3478?transport=udp", "relay");
  } else {
    *answer.mutable_ice_config() = Config("stun:turn.example:3478", "all");
  }
  if (fallback) {
    v1::IceConfig with_turn = answer.ice_config();
    with_turn.add_ice_servers()->add_urls("turn:turn.example:3478?transport=udp");
    *answer.mutable_fallback_ice_config() = with_turn;
  }
  return answer;
}

ConnectPlan Plan(const v1::GetStrategyResponse& answer) {
  absl::StatusOr<ConnectPlan> plan = ConnectPlan::Create(answer, kBudget);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *std::move(plan);
}

TEST(ConnectPlanTest, DirectConnectsWithTheInitialConfig) {
  ConnectPlan plan = Plan(Answer(v1::STRATEGY_DIRECT, 15000, true));
  std::vector<ConnectPlan::Action> start = plan.OnStarted(kT0);
  ASSERT_EQ(start.size(), 2u);
  EXPECT_EQ(start[0].kind, Kind::kCreatePeerConnection);
  EXPECT_EQ(start[0].config.ice_servers_size(), 1);  // no TURN before the timeout
  EXPECT_EQ(start[1].kind, Kind::kSetTimer);
  EXPECT_EQ(start[1].at, kT0 + absl::Seconds(15));
  EXPECT_EQ(plan.phase(), Phase::kDirect);

  std::vector<ConnectPlan::Action> done =
      plan.OnConnected(kT0 + absl::Milliseconds(800), v1::PATH_DIRECT);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].kind, Kind::kDone);
  EXPECT_TRUE(plan.OnTimer(kT0 + absl::Seconds(15)).empty());  // a stale timer does nothing

  ObservedSession s = plan.Observed();
  ASSERT_EQ(s.attempts.size(), 1u);
  EXPECT_EQ(s.attempts[0].path, v1::PATH_DIRECT);
  EXPECT_EQ(s.attempts[0].result, v1::ATTEMPT_RESULT_SUCCEEDED);
  EXPECT_EQ(s.attempts[0].duration, absl::Milliseconds(800));
  EXPECT_TRUE(s.connected);
  EXPECT_EQ(s.time_to_connect, absl::Milliseconds(800));
}

TEST(ConnectPlanTest, TurnFallbackAppliesTheFallbackAtTheTimeout) {
  const v1::GetStrategyResponse answer = Answer(v1::STRATEGY_TURN_FALLBACK, 5000, true);
  ConnectPlan plan = Plan(answer);
  ASSERT_TRUE(plan.fallback_after().has_value());
  EXPECT_EQ(*plan.fallback_after(), absl::Seconds(5));
  plan.OnStarted(kT0);

  // A timer that fires early only sets itself again.
  std::vector<ConnectPlan::Action> early = plan.OnTimer(kT0 + absl::Seconds(1));
  ASSERT_EQ(early.size(), 1u);
  EXPECT_EQ(early[0].kind, Kind::kSetTimer);
  EXPECT_EQ(early[0].at, kT0 + absl::Seconds(5));

  std::vector<ConnectPlan::Action> fallback = plan.OnTimer(kT0 + absl::Seconds(5));
  ASSERT_EQ(fallback.size(), 2u);
  EXPECT_EQ(fallback[0].kind, Kind::kApplyFallback);
  EXPECT_EQ(fallback[0].config.ice_servers_size(), 2);
  EXPECT_EQ(fallback[1].kind, Kind::kSetTimer);
  EXPECT_EQ(fallback[1].at, kT0 + kBudget);
  EXPECT_EQ(plan.phase(), Phase::kRelay);

  plan.OnConnected(kT0 + absl::Milliseconds(5300), v1::PATH_RELAY, v1::TURN_TRANSPORT_TCP);
  ObservedSession s = plan.Observed();
  ASSERT_EQ(s.attempts.size(), 2u);
  EXPECT_EQ(s.attempts[0].path, v1::PATH_DIRECT);
  EXPECT_EQ(s.attempts[0].result, v1::ATTEMPT_RESULT_TIMED_OUT);
  EXPECT_EQ(s.attempts[0].duration, absl::Seconds(5));
  EXPECT_EQ(s.attempts[1].path, v1::PATH_RELAY);
  EXPECT_EQ(s.attempts[1].result, v1::ATTEMPT_RESULT_SUCCEEDED);
  EXPECT_EQ(s.attempts[1].transport, v1::TURN_TRANSPORT_TCP);
  EXPECT_EQ(s.attempts[1].duration, absl::Milliseconds(300));
  EXPECT_EQ(s.time_to_connect, absl::Milliseconds(5300));
}

TEST(ConnectPlanTest, DirectFailureBringsTheFallbackForward) {
  ConnectPlan plan = Plan(Answer(v1::STRATEGY_TURN_FALLBACK, 5000, true));
  plan.OnStarted(kT0);
  std::vector<ConnectPlan::Action> actions = plan.OnFailed(kT0 + absl::Seconds(2));
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions[0].kind, Kind::kApplyFallback);
  EXPECT_EQ(plan.Observed().attempts[0].result, v1::ATTEMPT_RESULT_FAILED);
  // The relay failing too ends the session.
  std::vector<ConnectPlan::Action> end = plan.OnFailed(kT0 + absl::Seconds(3));
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0].kind, Kind::kGiveUp);
  ObservedSession s = plan.Observed();
  ASSERT_EQ(s.attempts.size(), 2u);
  EXPECT_EQ(s.attempts[1].path, v1::PATH_RELAY);
  EXPECT_EQ(s.attempts[1].result, v1::ATTEMPT_RESULT_FAILED);
  EXPECT_EQ(s.attempts[1].transport, v1::TURN_TRANSPORT_UDP);  // the preferred one
  EXPECT_FALSE(s.connected);
}

TEST(ConnectPlanTest, TurnOnlyRelaysAtOnceAndGivesUpAtTheBudget) {
  ConnectPlan plan = Plan(Answer(v1::STRATEGY_TURN_ONLY, 0, false));
  EXPECT_FALSE(plan.fallback_config().has_value());
  std::vector<ConnectPlan::Action> start = plan.OnStarted(kT0);
  ASSERT_EQ(start.size(), 2u);
  EXPECT_EQ(start[0].config.ice_transport_policy(), "relay");
  EXPECT_EQ(start[1].at, kT0 + kBudget);
  EXPECT_EQ(plan.phase(), Phase::kRelay);
  std::vector<ConnectPlan::Action> end = plan.OnTimer(kT0 + kBudget);
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0].kind, Kind::kGiveUp);
  EXPECT_EQ(plan.phase(), Phase::kGaveUp);
  ObservedSession s = plan.Observed();
  ASSERT_EQ(s.attempts.size(), 1u);
  EXPECT_EQ(s.attempts[0].path, v1::PATH_RELAY);
  EXPECT_EQ(s.attempts[0].result, v1::ATTEMPT_RESULT_TIMED_OUT);
  EXPECT_EQ(s.attempts[0].duration, kBudget);
}

TEST(ConnectPlanTest, WithoutAFallbackTheSessionEndsAtTheDirectTimeout) {
  ConnectPlan plan = Plan(Answer(v1::STRATEGY_DIRECT, 15000, false));
  EXPECT_FALSE(plan.fallback_after().has_value());
  plan.OnStarted(kT0);
  std::vector<ConnectPlan::Action> end = plan.OnTimer(kT0 + absl::Seconds(15));
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0].kind, Kind::kGiveUp);
  ObservedSession s = plan.Observed();
  ASSERT_EQ(s.attempts.size(), 1u);
  EXPECT_EQ(s.attempts[0].path, v1::PATH_DIRECT);
  EXPECT_EQ(s.attempts[0].duration, absl::Seconds(15));
  // A direct failure has nothing to fall back to.
  ConnectPlan failing = Plan(Answer(v1::STRATEGY_DIRECT, 15000, false));
  failing.OnStarted(kT0);
  EXPECT_EQ(failing.OnFailed(kT0 + absl::Seconds(1))[0].kind, Kind::kGiveUp);
}

TEST(ConnectPlanTest, ATimeoutBeyondTheBudgetGivesUpAtTheBudget) {
  ConnectPlan plan = Plan(Answer(v1::STRATEGY_TURN_FALLBACK, 45000, true));
  EXPECT_FALSE(plan.fallback_after().has_value());
  std::vector<ConnectPlan::Action> start = plan.OnStarted(kT0);
  EXPECT_EQ(start[1].at, kT0 + kBudget);
  std::vector<ConnectPlan::Action> end = plan.OnTimer(kT0 + kBudget);
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0].kind, Kind::kGiveUp);
}

TEST(ConnectPlanTest, RelayPhaseTimesOutAtTheBudget) {
  ConnectPlan plan = Plan(Answer(v1::STRATEGY_TURN_FALLBACK, 5000, true));
  plan.OnStarted(kT0);
  plan.OnTimer(kT0 + absl::Seconds(5));
  EXPECT_EQ(plan.OnTimer(kT0 + absl::Seconds(29))[0].kind, Kind::kSetTimer);
  EXPECT_EQ(plan.OnTimer(kT0 + kBudget)[0].kind, Kind::kGiveUp);
  ObservedSession s = plan.Observed();
  ASSERT_EQ(s.attempts.size(), 2u);
  EXPECT_EQ(s.attempts[1].duration, absl::Seconds(25));
  // Events after the end change nothing.
  EXPECT_TRUE(plan.OnConnected(kT0 + absl::Seconds(31), v1::PATH_RELAY).empty());
  EXPECT_FALSE(plan.Observed().connected);
}

TEST(ConnectPlanTest, DirectPairAfterTheIceRestartCountsAsTheFallbackAttempt) {
  ConnectPlan plan = Plan(Answer(v1::STRATEGY_TURN_FALLBACK, 5000, true));
  plan.OnStarted(kT0);
  plan.OnTimer(kT0 + absl::Seconds(5));
  plan.OnConnected(kT0 + absl::Seconds(6), v1::PATH_DIRECT);
  ObservedSession s = plan.Observed();
  ASSERT_EQ(s.attempts.size(), 2u);
  EXPECT_EQ(s.attempts[1].path, v1::PATH_RELAY);
  EXPECT_EQ(s.attempts[1].result, v1::ATTEMPT_RESULT_SUCCEEDED);
}

TEST(ConnectPlanTest, RefusesAnswersWithoutStrategyAndEmptyBudgets) {
  EXPECT_FALSE(ConnectPlan::Create(v1::GetStrategyResponse(), kBudget).ok());
  EXPECT_FALSE(
      ConnectPlan::Create(Answer(v1::STRATEGY_DIRECT, 1000, false), absl::ZeroDuration()).ok());
}

TEST(PlanEventsTest, ParsesWhatTheAppSaw) {
  absl::StatusOr<std::vector<PlanEvent>> events =
      ParsePlanEvents("failed@2000, connected:relay:tcp@2600");
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].kind, PlanEvent::Kind::kFailed);
  EXPECT_EQ((*events)[0].at, absl::Seconds(2));
  EXPECT_EQ((*events)[1].kind, PlanEvent::Kind::kConnected);
  EXPECT_EQ((*events)[1].path, v1::PATH_RELAY);
  EXPECT_EQ((*events)[1].transport, v1::TURN_TRANSPORT_TCP);
  EXPECT_TRUE(ParsePlanEvents("")->empty());
  for (const char* bad : {"connected@5", "connected:sideways@5", "connected:relay:sctp@5", "failed",
                          "failed@-1", "timer@5", "failed@9,failed@3"}) {
    EXPECT_FALSE(ParsePlanEvents(bad).ok()) << bad;
  }
}

TEST(PlanEventsTest, ReplayFiresTheTimersBetweenEvents) {
  absl::StatusOr<std::vector<PlanEvent>> events = ParsePlanEvents("connected:relay:udp@5400");
  ASSERT_TRUE(events.ok());
  absl::StatusOr<ObservedSession> s =
      Replay(Plan(Answer(v1::STRATEGY_TURN_FALLBACK, 5000, true)), *events);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->attempts.size(), 2u);
  EXPECT_EQ(s->attempts[0].result, v1::ATTEMPT_RESULT_TIMED_OUT);
  EXPECT_EQ(s->attempts[0].duration, absl::Seconds(5));
  EXPECT_EQ(s->attempts[1].result, v1::ATTEMPT_RESULT_SUCCEEDED);
  EXPECT_EQ(s->attempts[1].duration, absl::Milliseconds(400));
  EXPECT_EQ(s->time_to_connect, absl::Milliseconds(5400));

  // No events: the session runs into the budget.
  absl::StatusOr<ObservedSession> silent =
      Replay(Plan(Answer(v1::STRATEGY_TURN_FALLBACK, 5000, true)), {});
  ASSERT_TRUE(silent.ok());
  ASSERT_EQ(silent->attempts.size(), 2u);
  EXPECT_EQ(silent->attempts[1].duration, kBudget - absl::Seconds(5));
  EXPECT_FALSE(silent->connected);

  // A connection reported after the plan gave up changes nothing.
  absl::StatusOr<ObservedSession> late = Replay(Plan(Answer(v1::STRATEGY_DIRECT, 3000, false)),
                                                *ParsePlanEvents("connected:direct@4000"));
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->connected);
  EXPECT_EQ(late->attempts[0].duration, absl::Seconds(3));
}

}  // namespace
}  // namespace advisor::client
