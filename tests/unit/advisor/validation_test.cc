// Request validation: what a GetStrategy request and a ReportOutcome report must hold, an error
// that names the field for each violation, and a report checked against the answer it followed.
#include "services/advisor/validation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace advisor {
namespace {

namespace v1 = connectivity::advisor::v1;

void ExpectInvalid(const absl::Status& status, std::string_view field) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(status.message().rfind(std::string(field) + ":", 0), 0u)
      << "message should start with the field name " << field << ": " << status.message();
}

v1::GetStrategyRequest StrategyRequest() {
  v1::GetStrategyRequest request;
  request.mutable_local()->set_nat_type(v1::NAT_TYPE_FULL_CONE);
  request.mutable_local()->set_confidence(0.9f);
  request.mutable_remote()->set_nat_type(v1::NAT_TYPE_SYMMETRIC);
  request.mutable_remote()->set_confidence(0.8f);
  request.set_region("eu-west_1.a");
  return request;
}

v1::ReportOutcomeRequest Report() {
  v1::ReportOutcomeRequest request;
  request.set_decision_token("token");
  auto* direct = request.add_attempts();
  direct->set_path(v1::PATH_DIRECT);
  direct->set_result(v1::ATTEMPT_RESULT_TIMED_OUT);
  direct->set_duration_ms(5000);
  auto* relay = request.add_attempts();
  relay->set_path(v1::PATH_RELAY);
  relay->set_result(v1::ATTEMPT_RESULT_SUCCEEDED);
  relay->set_duration_ms(900);
  relay->set_transport(v1::TURN_TRANSPORT_UDP);
  relay->set_turn_server_id("eu-1");
  request.set_connected(true);
  request.set_time_to_connect_ms(5900);
  return request;
}

TEST(Validation, GoodStrategyRequestParses) {
  auto query = ParseGetStrategyRequest(StrategyRequest());
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_EQ(query->local, strategy::NatType::kFullCone);
  EXPECT_EQ(query->remote, strategy::NatType::kSymmetric);
  EXPECT_FLOAT_EQ(query->local_confidence, 0.9f);
  EXPECT_EQ(query->region, "eu-west_1.a");
}

TEST(Validation, EmptyStrategyRequestMeansUnknownPeers) {
  auto query = ParseGetStrategyRequest(v1::GetStrategyRequest());
  ASSERT_TRUE(query.ok());
  EXPECT_EQ(query->local, strategy::NatType::kUnknown);
}

TEST(Validation, UnknownNatTypeNamesTheField) {
  auto request = StrategyRequest();
  request.mutable_remote()->set_nat_type(static_cast<v1::NatType>(42));
  ExpectInvalid(ParseGetStrategyRequest(request).status(), "remote.nat_type");
  request = StrategyRequest();
  request.mutable_local()->set_nat_type(static_cast<v1::NatType>(-1));
  ExpectInvalid(ParseGetStrategyRequest(request).status(), "local.nat_type");
}

TEST(Validation, ConfidenceOutsideUnitIntervalOrNaN) {
  for (float bad : {-0.01f, 1.01f, std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity()}) {
    auto request = StrategyRequest();
    request.mutable_local()->set_confidence(bad);
    ExpectInvalid(ParseGetStrategyRequest(request).status(), "local.confidence");
    request = StrategyRequest();
    request.mutable_remote()->set_confidence(bad);
    ExpectInvalid(ParseGetStrategyRequest(request).status(), "remote.confidence");
  }
  auto edge = StrategyRequest();
  edge.mutable_local()->set_confidence(1.0f);
  edge.mutable_remote()->set_confidence(0.0f);
  EXPECT_TRUE(ParseGetStrategyRequest(edge).ok());
}

TEST(Validation, RegionLengthAndAlphabet) {
  auto request = StrategyRequest();
  request.set_region(std::string(kMaxRegionBytes + 1, 'a'));
  ExpectInvalid(ParseGetStrategyRequest(request).status(), "region");
  request.set_region("eu west");
  ExpectInvalid(ParseGetStrategyRequest(request).status(), "region");
  request.set_region("eu\n");
  ExpectInvalid(ParseGetStrategyRequest(request).status(), "region");
}

TEST(Validation, GoodReportParses) {
  auto outcome = ParseReportOutcomeRequest(Report());
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_EQ(outcome->attempts.size(), 2u);
  EXPECT_EQ(outcome->attempts[0].path, strategy::Path::kDirect);
  EXPECT_EQ(outcome->attempts[0].result, strategy::AttemptResult::kTimedOut);
  EXPECT_EQ(outcome->attempts[1].duration_ms, 900u);
  EXPECT_TRUE(outcome->connected);
  EXPECT_EQ(outcome->time_to_connect_ms, 5900u);
}

TEST(Validation, TokenRequiredAndBounded) {
  auto request = Report();
  request.clear_decision_token();
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "decision_token");
  request.set_decision_token(std::string(kMaxTokenBytes + 1, 'x'));
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "decision_token");
}

TEST(Validation, TooManyAttempts) {
  auto request = Report();
  while (request.attempts_size() <= kMaxAttempts) *request.add_attempts() = request.attempts(0);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "attempts");
}

TEST(Validation, EveryAttemptFieldIsChecked) {
  auto request = Report();
  request.mutable_attempts(1)->set_path(v1::PATH_UNSPECIFIED);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "attempts[1].path");
  request = Report();
  request.mutable_attempts(0)->set_path(static_cast<v1::Path>(9));
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "attempts[0].path");
  request = Report();
  request.mutable_attempts(0)->set_result(v1::ATTEMPT_RESULT_UNSPECIFIED);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "attempts[0].result");
  request = Report();
  request.mutable_attempts(1)->set_result(static_cast<v1::AttemptResult>(7));
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "attempts[1].result");
  request = Report();
  request.mutable_attempts(0)->set_duration_ms(kMaxDurationMs + 1);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "attempts[0].duration_ms");
  request = Report();
  request.mutable_attempts(1)->set_transport(static_cast<v1::TurnTransport>(12));
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "attempts[1].transport");
  request = Report();
  request.mutable_attempts(1)->set_turn_server_id(std::string(kMaxTurnServerIdBytes + 1, 'x'));
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "attempts[1].turn_server_id");
}

TEST(Validation, TimeToConnectBoundsAndConsistency) {
  auto request = Report();
  request.set_time_to_connect_ms(kMaxDurationMs + 1);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "time_to_connect_ms");

  request = Report();
  request.mutable_attempts(1)->set_result(v1::ATTEMPT_RESULT_FAILED);
  request.set_connected(false);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "time_to_connect_ms");
  request.set_time_to_connect_ms(0);
  EXPECT_TRUE(ParseReportOutcomeRequest(request).ok());

  request.set_connected(true);
  request.set_time_to_connect_ms(100);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "connected");

  request = Report();
  request.set_connected(false);
  request.set_time_to_connect_ms(0);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "connected");
}

TEST(Validation, AReportNeedsAnAttempt) {
  v1::ReportOutcomeRequest request;
  request.set_decision_token("token");
  request.set_connected(true);
  request.set_time_to_connect_ms(1200);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "attempts");
}

TEST(Validation, OneDirectAttemptAndOneSuccessPerSession) {
  auto request = Report();
  *request.add_attempts() = request.attempts(0);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "attempts[2].path");

  request = Report();
  request.mutable_attempts(0)->set_result(v1::ATTEMPT_RESULT_SUCCEEDED);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "attempts[1].result");

  request = Report();
  request.mutable_attempts(0)->set_path(v1::PATH_RELAY);
  *request.add_attempts() = request.attempts(0);
  *request.add_attempts() = request.attempts(0);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "attempts[3].path");
}

TEST(Validation, TimeToConnectMustFitTheAttempts) {
  auto request = Report();  // 5000 ms direct, then 900 ms relay
  request.set_time_to_connect_ms(5900 + kReportSlackMs);
  EXPECT_TRUE(ParseReportOutcomeRequest(request).ok());
  request.set_time_to_connect_ms(5900 + kReportSlackMs + 1);
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "time_to_connect_ms");
  request.set_time_to_connect_ms(100);  // faster than the attempt that connected
  ExpectInvalid(ParseReportOutcomeRequest(request).status(), "time_to_connect_ms");
}

TokenClaims Answer(strategy::Strategy strategy, uint32_t timeout_ms, std::string turn_server) {
  return {.strategy = strategy,
          .direct_timeout_ms = timeout_ms,
          .turn_server_id = std::move(turn_server)};
}

TEST(Validation, AReportMustFollowItsAnswer) {
  using strategy::Strategy;
  EXPECT_TRUE(CheckAgainstAnswer(Report(), Answer(Strategy::kTurnFallback, 5000, "eu-1")).ok());
  ExpectInvalid(CheckAgainstAnswer(Report(), Answer(Strategy::kTurnOnly, 0, "eu-1")),
                "attempts[0].path");
  ExpectInvalid(CheckAgainstAnswer(Report(), Answer(Strategy::kTurnFallback, 3000, "eu-1")),
                "attempts[0].duration_ms");
  EXPECT_TRUE(
      CheckAgainstAnswer(Report(), Answer(Strategy::kTurnFallback, 5000 - kReportSlackMs, "eu-1"))
          .ok());
  ExpectInvalid(CheckAgainstAnswer(Report(), Answer(Strategy::kTurnFallback, 5000, "us-1")),
                "attempts[1].turn_server_id");
  ExpectInvalid(CheckAgainstAnswer(Report(), Answer(Strategy::kTurnFallback, 5000, "")),
                "attempts[1].turn_server_id");
  auto unnamed = Report();
  unnamed.mutable_attempts(1)->clear_turn_server_id();
  EXPECT_TRUE(CheckAgainstAnswer(unnamed, Answer(Strategy::kTurnFallback, 5000, "")).ok());
}

}  // namespace
}  // namespace advisor
