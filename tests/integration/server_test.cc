// advisor-server in-process against a real PostgreSQL, called through a real gRPC channel.
#include "services/advisor/server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "tests/support/postgres.h"

namespace advisor {
namespace {

namespace v1 = connectivity::advisor::v1;

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new testing::PostgresCluster();
    ASSERT_TRUE(cluster_->Init().ok());
    auto applied = store::Migrate(cluster_->url());
    ASSERT_TRUE(applied.ok()) << applied.status();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(cluster_->Query("TRUNCATE outcome_aggregates, applied_flushes").ok());
    options_.listen = "127.0.0.1:0";
    options_.metrics_listen = "127.0.0.1:0";
    options_.token_key = "integration-test-key-0123456789";
    options_.snapshot_interval = absl::Milliseconds(200);
    options_.flush_interval = absl::Milliseconds(100);
    options_.max_flush_backoff = absl::Milliseconds(400);
    options_.snapshot.engine.min_samples = 40;
  }

  void StartServer() {
    auto server = AdvisorServer::Start(options_, std::make_shared<store::PgStore>(cluster_->url()),
                                       std::make_shared<store::PgStore>(cluster_->url()));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::ConnectivityAdvisor::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
  }

  grpc::Status GetStrategy(v1::NatType local, v1::NatType remote, v1::GetStrategyResponse& out) {
    v1::GetStrategyRequest request;
    request.mutable_local()->set_nat_type(local);
    request.mutable_local()->set_confidence(1);
    request.mutable_remote()->set_nat_type(remote);
    request.mutable_remote()->set_confidence(1);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub_->GetStrategy(&context, request, &out);
  }

  // A session whose direct attempt timed out and relay connected, or whose direct attempt
  // succeeded.
  grpc::Status Report(const std::string& token, bool direct_ok) {
    v1::ReportOutcomeRequest request;
    request.set_decision_token(token);
    auto* direct = request.add_attempts();
    direct->set_path(v1::PATH_DIRECT);
    direct->set_result(direct_ok ? v1::ATTEMPT_RESULT_SUCCEEDED : v1::ATTEMPT_RESULT_TIMED_OUT);
    direct->set_duration_ms(direct_ok ? 800 : 15000);
    if (!direct_ok) {
      auto* relay = request.add_attempts();
      relay->set_path(v1::PATH_RELAY);
      relay->set_result(v1::ATTEMPT_RESULT_SUCCEEDED);
      relay->set_duration_ms(700);
    }
    request.set_connected(true);
    request.set_time_to_connect_ms(direct_ok ? 800 : 15700);
    v1::ReportOutcomeResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub_->ReportOutcome(&context, request, &response);
  }

  int64_t SessionsInDatabase() {
    auto out = cluster_->Query("SELECT coalesce(sum(sessions), 0) FROM outcome_aggregates");
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? std::stoll(*out) : -1;
  }

  // Polls `done` for up to `timeout`.
  template <typename Pred>
  static bool Eventually(Pred done, absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (done()) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return done();
  }

  static testing::PostgresCluster* cluster_;
  ServerOptions options_;
  std::unique_ptr<AdvisorServer> server_;
  std::unique_ptr<v1::ConnectivityAdvisor::Stub> stub_;
};

testing::PostgresCluster* ServerTest::cluster_ = nullptr;

TEST_F(ServerTest, ColdStartAnswerCarriesAReadyIceConfigAndAToken) {
  StartServer();
  v1::GetStrategyResponse response;
  ASSERT_TRUE(GetStrategy(v1::NAT_TYPE_FULL_CONE, v1::NAT_TYPE_SYMMETRIC, response).ok());
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
  StartServer();
  v1::GetStrategyResponse first;
  ASSERT_TRUE(GetStrategy(v1::NAT_TYPE_FULL_CONE, v1::NAT_TYPE_RESTRICTED_CONE, first).ok());
  ASSERT_EQ(first.strategy(), v1::STRATEGY_DIRECT);
  // 60 sessions, only 20% of direct attempts succeed: the pair must escalate once the reports are
  // flushed and the next snapshot is loaded.
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(Report(first.decision_token(), i % 5 == 0).ok());
  ASSERT_TRUE(Eventually([&] { return SessionsInDatabase() == 60; }));
  v1::GetStrategyResponse later;
  ASSERT_TRUE(Eventually([&] {
    return GetStrategy(v1::NAT_TYPE_RESTRICTED_CONE, v1::NAT_TYPE_FULL_CONE, later).ok() &&
           later.history_samples() == 60;
  }));
  EXPECT_NE(later.strategy(), v1::STRATEGY_DIRECT);
}

TEST_F(ServerTest, KeepsAnsweringWhilePostgresIsDownAndLosesNoAcknowledgedReport) {
  StartServer();
  v1::GetStrategyResponse response;
  ASSERT_TRUE(GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, response).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Report(response.decision_token(), true).ok());
  ASSERT_TRUE(Eventually([&] { return SessionsInDatabase() == 10; }));

  ASSERT_TRUE(cluster_->Stop().ok());
  int acknowledged = 10;
  for (int i = 0; i < 25; ++i) {
    v1::GetStrategyResponse during;
    ASSERT_TRUE(GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_SYMMETRIC, during).ok());
    EXPECT_EQ(during.strategy(), v1::STRATEGY_TURN_FALLBACK);
    ASSERT_TRUE(Report(during.decision_token(), false).ok());
    ++acknowledged;
    absl::SleepFor(absl::Milliseconds(40));  // spans several reload and flush attempts
  }
  EXPECT_GT(server_->held_reports(), 0);

  ASSERT_TRUE(cluster_->Start().ok());
  EXPECT_TRUE(Eventually([&] { return server_->held_reports() == 0; }));
  EXPECT_EQ(SessionsInDatabase(), acknowledged);
  ASSERT_TRUE(server_->Shutdown().ok());
  EXPECT_EQ(SessionsInDatabase(), acknowledged);
}

TEST_F(ServerTest, ShutdownWritesEveryHeldReport) {
  options_.flush_interval = absl::Hours(1);  // only the shutdown flush can write them
  StartServer();
  v1::GetStrategyResponse response;
  ASSERT_TRUE(GetStrategy(v1::NAT_TYPE_FULL_CONE, v1::NAT_TYPE_FULL_CONE, response).ok());
  for (int i = 0; i < 17; ++i) ASSERT_TRUE(Report(response.decision_token(), true).ok());
  EXPECT_EQ(SessionsInDatabase(), 0);
  ASSERT_TRUE(server_->Shutdown().ok());
  EXPECT_EQ(SessionsInDatabase(), 17);
}

TEST_F(ServerTest, BadInputIsRefusedWithTheFieldNamed) {
  StartServer();
  v1::GetStrategyRequest request;
  request.mutable_local()->set_nat_type(static_cast<v1::NatType>(99));
  v1::GetStrategyResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub_->GetStrategy(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("local.nat_type"), std::string::npos);

  EXPECT_EQ(Report("forged.token", true).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::GetStrategyResponse real;
  ASSERT_TRUE(GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, real).ok());
  std::string tampered = real.decision_token();
  tampered[2] = tampered[2] == 'A' ? 'B' : 'A';
  grpc::Status forged = Report(tampered, true);
  EXPECT_EQ(forged.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(forged.error_message().find("decision_token"), std::string::npos);
}

TEST_F(ServerTest, OversizedMessagesAreRefusedByGrpc) {
  StartServer();
  v1::ReportOutcomeRequest request;
  request.set_decision_token(std::string(64 * 1024, 'x'));
  v1::ReportOutcomeResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub_->ReportOutcome(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // The server is still there.
  v1::GetStrategyResponse after;
  EXPECT_TRUE(GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, after).ok());
}

}  // namespace
}  // namespace advisor
