// advisor-server in-process against a real PostgreSQL, called through real gRPC channels: learning,
// outages, shutdown and bad input. What an attacker can and cannot do is in abuse_test.cc.
#include "services/advisor/server.h"

#include <gtest/gtest.h>

#include "tests/support/advisor_server.h"

namespace advisor {
namespace {

namespace v1 = connectivity::advisor::v1;
using testing::Client;
using testing::SessionReport;

class ServerTest : public testing::AdvisorServerTest {
 protected:
  void SetUp() override {
    AdvisorServerTest::SetUp();
    options_.snapshot.engine.min_samples = 40;
  }

  // One session of a fresh install: GetStrategy, then its report.
  grpc::Status Session(int install, v1::NatType local, v1::NatType remote, bool direct_ok) {
    Client client = ClientOf(absl::StrCat("install-", install));
    v1::GetStrategyResponse answer;
    if (grpc::Status status = client.GetStrategy(local, remote, answer); !status.ok()) {
      return status;
    }
    return client.Report(SessionReport(answer, direct_ok));
  }
};

TEST_F(ServerTest, ColdStartAnswerCarriesAReadyIceConfigAndAToken) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  v1::GetStrategyResponse response;
  ASSERT_TRUE(
      ClientOf("app").GetStrategy(v1::NAT_TYPE_FULL_CONE, v1::NAT_TYPE_SYMMETRIC, response).ok());
  EXPECT_EQ(response.strategy(), v1::STRATEGY_TURN_FALLBACK);
  EXPECT_EQ(response.direct_timeout_ms(), 5000u);
  EXPECT_EQ(response.ice_config().bundle_policy(), "max-bundle");
  EXPECT_EQ(response.ice_config().rtcp_mux_policy(), "require");
  EXPECT_EQ(response.ice_config().ice_transport_policy(), "all");
  EXPECT_FALSE(response.decision_token().empty());
  EXPECT_FALSE(response.reasons().empty());
  EXPECT_EQ(response.history_samples(), 0u);
}

TEST_F(ServerTest, LearnsFromReportsThroughTheDatabase) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  v1::GetStrategyResponse first;
  ASSERT_TRUE(ClientOf("app")
                  .GetStrategy(v1::NAT_TYPE_FULL_CONE, v1::NAT_TYPE_RESTRICTED_CONE, first)
                  .ok());
  ASSERT_EQ(first.strategy(), v1::STRATEGY_DIRECT);
  // 60 sessions of 60 installs, only 20% of direct attempts succeed: the pair must escalate once
  // the reports are flushed and the next snapshot is loaded.
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(Session(i, v1::NAT_TYPE_FULL_CONE, v1::NAT_TYPE_RESTRICTED_CONE, i % 5 == 0).ok());
  }
  ASSERT_TRUE(Eventually([&] { return SessionsInDatabase() == 60; }));
  v1::GetStrategyResponse later;
  Client app = ClientOf("app");
  // Sessions flushed apart age by the volume that followed them (--sample-half-life), so the
  // pair's aged count may sit a little below 60; all of them must be in view.
  ASSERT_TRUE(Eventually([&] {
    return app.GetStrategy(v1::NAT_TYPE_RESTRICTED_CONE, v1::NAT_TYPE_FULL_CONE, later).ok() &&
           later.history_samples() >= 57;
  })) << later.history_samples();
  EXPECT_NE(later.strategy(), v1::STRATEGY_DIRECT);
}

TEST_F(ServerTest, KeepsAnsweringWhilePostgresIsDownAndLosesNoAcknowledgedReport) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(Session(i, v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, true).ok());
  }
  ASSERT_TRUE(Eventually([&] { return SessionsInDatabase() == 10; }));

  ASSERT_TRUE(cluster().Stop().ok());
  int acknowledged = 10;
  for (int i = 0; i < 25; ++i) {
    Client client = ClientOf(absl::StrCat("during-", i));
    v1::GetStrategyResponse during;
    ASSERT_TRUE(client.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_SYMMETRIC, during).ok());
    EXPECT_EQ(during.strategy(), v1::STRATEGY_TURN_FALLBACK);
    ASSERT_TRUE(client.Report(SessionReport(during, false)).ok());
    ++acknowledged;
    absl::SleepFor(absl::Milliseconds(40));  // spans several reload and flush attempts
  }
  EXPECT_GT(server_->held_reports(), 0);

  ASSERT_TRUE(cluster().Start().ok());
  EXPECT_TRUE(Eventually([&] { return server_->held_reports() == 0; }));
  EXPECT_EQ(SessionsInDatabase(), acknowledged);
  ASSERT_TRUE(server_->Shutdown().ok());
  EXPECT_EQ(SessionsInDatabase(), acknowledged);
}

TEST_F(ServerTest, ShutdownWritesEveryHeldReport) {
  options_.flush_interval = absl::Hours(1);  // only the shutdown flush can write them
  ASSERT_NO_FATAL_FAILURE(StartServer());
  for (int i = 0; i < 17; ++i) {
    ASSERT_TRUE(Session(i, v1::NAT_TYPE_FULL_CONE, v1::NAT_TYPE_FULL_CONE, true).ok());
  }
  EXPECT_EQ(SessionsInDatabase(), 0);
  ASSERT_TRUE(server_->Shutdown().ok());
  EXPECT_EQ(SessionsInDatabase(), 17);
}

TEST_F(ServerTest, BadInputIsRefusedWithTheFieldNamed) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Client client = ClientOf("app");
  grpc::Status status = client.SendRaw("GetStrategy", [] {
    v1::GetStrategyRequest request;
    request.mutable_local()->set_nat_type(static_cast<v1::NatType>(99));
    return request.SerializeAsString();
  }());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("local.nat_type"), std::string::npos);

  v1::GetStrategyResponse real;
  ASSERT_TRUE(client.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, real).ok());
  v1::ReportOutcomeRequest report = SessionReport(real, true);
  report.set_decision_token("forged.token");
  EXPECT_EQ(client.Report(report).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::string tampered = real.decision_token();
  tampered[2] = tampered[2] == 'A' ? 'B' : 'A';
  report.set_decision_token(tampered);
  grpc::Status forged = client.Report(report);
  EXPECT_EQ(forged.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(forged.error_message().find("decision_token"), std::string::npos);
}

TEST_F(ServerTest, OversizedMessagesAreRefusedByGrpc) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Client client = ClientOf("app");
  v1::ReportOutcomeRequest request;
  request.set_decision_token(std::string(64 * 1024, 'x'));
  EXPECT_EQ(client.Report(request).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // The server is still there.
  v1::GetStrategyResponse after;
  EXPECT_TRUE(client.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, after).ok());
}

}  // namespace
}  // namespace advisor
