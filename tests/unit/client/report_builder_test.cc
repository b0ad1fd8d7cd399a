// The report builder against the advisor's own validation: whatever a ConnectPlan records, the
// report built from it passes ParseReportOutcomeRequest and CheckAgainstAnswer for the answer it
// followed; contradictions are refused by the builder instead.
#include "lib/client/report_builder.h"

#include <gtest/gtest.h>

#include "lib/client/connect_plan.h"
#include "services/advisor/validation.h"

namespace advisor::client {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

TEST(ReportBuilderTest, LimitsMatchTheServers) {
  EXPECT_EQ(kReportMaxDirectAttempts, advisor::kMaxDirectAttempts);
  EXPECT_EQ(kReportMaxRelayAttempts, advisor::kMaxRelayAttempts);
  EXPECT_EQ(kReportSlackMs, advisor::kReportSlackMs);
  EXPECT_EQ(kReportMaxDurationMs, advisor::kMaxDurationMs);
  EXPECT_EQ(kReportMaxTokenBytes, advisor::kMaxTokenBytes);
  EXPECT_EQ(kReportMaxTurnServerIdBytes, advisor::kMaxTurnServerIdBytes);
}

v1::GetStrategyResponse Answer(v1::Strategy strategy, uint32_t timeout_ms) {
  v1::GetStrategyResponse answer;
  answer.set_strategy(strategy);
  answer.set_direct_timeout_ms(timeout_ms);
  answer.set_decision_token("opaque-token");
  answer.set_preferred_turn_transport(v1::TURN_TRANSPORT_UDP);
  answer.mutable_ice_config()->set_ice_transport_policy(strategy == v1::STRATEGY_TURN_ONLY ? "relay"
                                                                                           : "all");
  if (strategy != v1::STRATEGY_TURN_ONLY) {
    answer.mutable_fallback_ice_config()->add_ice_servers()->add_urls("turn:t.example:3478");
  }
  return answer;
}

TokenClaims Claims(const v1::GetStrategyResponse& answer, std::string turn_server_id) {
  TokenClaims claims;
  claims.strategy = static_cast<strategy::Strategy>(answer.strategy());
  claims.direct_timeout_ms = answer.direct_timeout_ms();
  claims.turn_server_id = std::move(turn_server_id);
  return claims;
}

// Builds the report of `plan` and runs the server's checks on it.
v1::ReportOutcomeRequest Accepted(const v1::GetStrategyResponse& answer, const ConnectPlan& plan,
                                  absl::string_view turn_server_id = "") {
  absl::StatusOr<v1::ReportOutcomeRequest> report =
      BuildReport(answer, plan.Observed(), turn_server_id);
  EXPECT_TRUE(report.ok()) << report.status();
  if (!report.ok()) return {};
  absl::StatusOr<strategy::Outcome> parsed = ParseReportOutcomeRequest(*report);
  EXPECT_TRUE(parsed.ok()) << parsed.status() << "\n" << report->DebugString();
  absl::Status against = CheckAgainstAnswer(*report, Claims(answer, "eu-1"));
  EXPECT_TRUE(against.ok()) << against << "\n" << report->DebugString();
  return *report;
}

ConnectPlan Started(const v1::GetStrategyResponse& answer) {
  absl::StatusOr<ConnectPlan> plan = ConnectPlan::Create(answer, absl::Seconds(30));
  EXPECT_TRUE(plan.ok());
  plan->OnStarted(kT0);
  return *std::move(plan);
}

TEST(ReportBuilderTest, DirectSuccess) {
  const auto answer = Answer(v1::STRATEGY_DIRECT, 15000);
  ConnectPlan plan = Started(answer);
  plan.OnConnected(kT0 + absl::Microseconds(812'400), v1::PATH_DIRECT);
  v1::ReportOutcomeRequest r = Accepted(answer, plan);
  EXPECT_EQ(r.decision_token(), "opaque-token");
  ASSERT_EQ(r.attempts_size(), 1);
  EXPECT_EQ(r.attempts(0).duration_ms(), 812u);
  EXPECT_TRUE(r.connected());
  EXPECT_EQ(r.time_to_connect_ms(), 812u);
}

TEST(ReportBuilderTest, FallbackToRelay) {
  const auto answer = Answer(v1::STRATEGY_TURN_FALLBACK, 5000);
  ConnectPlan plan = Started(answer);
  plan.OnTimer(kT0 + absl::Seconds(5));
  plan.OnConnected(kT0 + absl::Milliseconds(5400), v1::PATH_RELAY, v1::TURN_TRANSPORT_TCP);
  v1::ReportOutcomeRequest r = Accepted(answer, plan);
  ASSERT_EQ(r.attempts_size(), 2);
  EXPECT_EQ(r.attempts(0).result(), v1::ATTEMPT_RESULT_TIMED_OUT);
  EXPECT_EQ(r.attempts(0).duration_ms(), 5000u);
  EXPECT_EQ(r.attempts(1).transport(), v1::TURN_TRANSPORT_TCP);
  EXPECT_EQ(r.attempts(1).turn_server_id(), "");
  EXPECT_EQ(r.time_to_connect_ms(), 5400u);
  // Told the offered server, the builder names it in relay attempts.
  v1::ReportOutcomeRequest named = Accepted(answer, plan, "eu-1");
  EXPECT_EQ(named.attempts(1).turn_server_id(), "eu-1");
  EXPECT_EQ(named.attempts(0).turn_server_id(), "");
}

TEST(ReportBuilderTest, LateTimerIsCutToTheServersSlack) {
  const auto answer = Answer(v1::STRATEGY_TURN_FALLBACK, 5000);
  ConnectPlan plan = Started(answer);
  plan.OnTimer(kT0 + absl::Seconds(7));  // a phone that slept through its timer
  plan.OnConnected(kT0 + absl::Seconds(8), v1::PATH_RELAY, v1::TURN_TRANSPORT_UDP);
  v1::ReportOutcomeRequest r = Accepted(answer, plan);
  EXPECT_EQ(r.attempts(0).duration_ms(), 5000u + kReportSlackMs);
  EXPECT_EQ(r.time_to_connect_ms(), 5000u + kReportSlackMs + 1000u);
}

TEST(ReportBuilderTest, EveryWayASessionEndsIsAccepted) {
  for (v1::Strategy strategy :
       {v1::STRATEGY_DIRECT, v1::STRATEGY_TURN_FALLBACK, v1::STRATEGY_TURN_ONLY}) {
    const auto answer = Answer(strategy, strategy == v1::STRATEGY_TURN_ONLY ? 0 : 3000);
    for (int ending = 0; ending < 6; ++ending) {
      SCOPED_TRACE(::testing::Message() << v1::Strategy_Name(strategy) << " ending " << ending);
      ConnectPlan plan = Started(answer);
      absl::Time t = kT0;
      for (int step = 0; step < 4 && plan.phase() != ConnectPlan::Phase::kConnected &&
                         plan.phase() != ConnectPlan::Phase::kGaveUp;
           ++step) {
        t += absl::Milliseconds(1700);
        if (ending == 0) plan.OnConnected(t, v1::PATH_DIRECT);
        if (ending == 1) plan.OnConnected(t, v1::PATH_RELAY, v1::TURN_TRANSPORT_UDP);
        if (ending == 2) plan.OnFailed(t);
        if (ending >= 3) plan.OnTimer(t + absl::Seconds(10 * step));
        if (ending == 4 && plan.phase() == ConnectPlan::Phase::kRelay) {
          plan.OnConnected(t + absl::Seconds(1), v1::PATH_RELAY, v1::TURN_TRANSPORT_TLS);
        }
      }
      if (plan.phase() != ConnectPlan::Phase::kConnected) {
        plan.OnTimer(t + absl::Seconds(60));
      }
      Accepted(answer, plan, "eu-1");
    }
  }
}

TEST(ReportBuilderTest, RefusesWhatTheAdvisorWouldRefuse) {
  const auto answer = Answer(v1::STRATEGY_TURN_ONLY, 0);
  ObservedSession direct_under_turn_only{
      .attempts = {{.path = v1::PATH_DIRECT, .result = v1::ATTEMPT_RESULT_SUCCEEDED}},
      .connected = true};
  EXPECT_FALSE(BuildReport(answer, direct_under_turn_only).ok());

  ObservedSession other_server{.attempts = {{.path = v1::PATH_RELAY,
                                             .result = v1::ATTEMPT_RESULT_SUCCEEDED,
                                             .turn_server_id = "us-9"}},
                               .connected = true};
  EXPECT_FALSE(BuildReport(answer, other_server, "eu-1").ok());
  EXPECT_TRUE(BuildReport(answer, other_server, "us-9").ok());

  ObservedSession two_successes{
      .attempts = {{.path = v1::PATH_RELAY, .result = v1::ATTEMPT_RESULT_SUCCEEDED},
                   {.path = v1::PATH_RELAY, .result = v1::ATTEMPT_RESULT_SUCCEEDED}},
      .connected = true};
  EXPECT_FALSE(BuildReport(answer, two_successes).ok());

  ObservedSession claims_connection{
      .attempts = {{.path = v1::PATH_RELAY, .result = v1::ATTEMPT_RESULT_FAILED}},
      .connected = true};
  EXPECT_FALSE(BuildReport(answer, claims_connection).ok());
  EXPECT_FALSE(BuildReport(answer, ObservedSession{}).ok());

  v1::GetStrategyResponse no_token = answer;
  no_token.clear_decision_token();
  EXPECT_FALSE(BuildReport(no_token, other_server, "us-9").ok());
}

}  // namespace
}  // namespace advisor::client
