// advisor-sim's driver against an in-process advisor-server and a real PostgreSQL: short scenarios
// where the pooled reports must move the advisor's answer for one pair — off DIRECT where the
// cold-start rules are wrong, and to TURN_ONLY when a pair's odds change inside one hourly bucket.
// The server verifies JWTs and every simulated install sends its own, as the advice benchmark does,
// so that the per-identity limits see a fleet and every honest report counts.
#include "services/sim/runner.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "lib/auth/jwks.h"
#include "services/advisor/server.h"
#include "services/sim/evaluation.h"
#include "services/sim/identity.h"
#include "services/sim/model.h"
#include "services/sim/scenario.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace advisor {
namespace {

namespace v1 = connectivity::advisor::v1;

// Half of the sessions are full_cone × restricted_cone, which the seed's tree sends DIRECT with a
// 15 s timeout, yet only 5 % of them can connect directly.
constexpr char kScenario[] = R"({
  "name": "bad_cold_start", "sessions": 3000,
  "nat_mix": {"full_cone": 0.5, "restricted_cone": 0.5},
  "default_pair": {"direct_success": 0.95, "direct_time_ms": {"median": 800, "sigma": 0.4}},
  "pairs": [{"a": "full_cone", "b": "restricted_cone", "direct_success": 0.05,
             "direct_time_ms": {"median": 2000, "sigma": 0.5}}],
  "relay": {"success": 0.999, "time_ms": {"median": 900, "sigma": 0.4}},
  "relay_cost_ms": 2000, "budget_ms": 30000
})";

// A cone pair that connects directly until session 8000, then almost never: the change happens
// inside one hourly bucket (the default width), which only the order in which the reloads saw the
// outcomes arrive can tell apart. Taken as one lump, the bucket says direct works 70 % of the time,
// and direct first for the shortest timeout (3 s) stays cheaper than TURN_ONLY above about 60 %.
constexpr char kPhaseScenario[] = R"({
  "name": "change_within_the_hour", "sessions": 11000,
  "nat_mix": {"full_cone": 1},
  "default_pair": {"direct_success": 0.95, "direct_time_ms": {"median": 800, "sigma": 0.4}},
  "relay": {"success": 0.999, "time_ms": {"median": 900, "sigma": 0.4}},
  "relay_cost_ms": 2000, "budget_ms": 30000,
  "phases": [{"at_session": 8000,
              "pairs": [{"a": "full_cone", "b": "full_cone", "direct_success": 0.05}]}]
})";

class SimIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.Init().ok());
    auto applied = store::Migrate(cluster_.url());
    ASSERT_TRUE(applied.ok()) << applied.status();
    auto jwks = auth::GenerateJwks("HS256", "sim-integration");
    ASSERT_TRUE(jwks.ok()) << jwks.status();
    // A directory of its own: ctest runs this suite's tests side by side, and a keys file they
    // shared would be rewritten under the other's server, which re-reads it.
    dir_ = testing::MakeTempDir("sim-integration-test");
    const std::string keys_file = absl::StrCat(dir_, "/keys.jwks");
    std::ofstream(keys_file) << *jwks;
    auto keys = auth::KeySet::FromJson(*jwks);
    ASSERT_TRUE(keys.ok()) << keys.status();
    auto credentials = sim::InstallCredentials::Create(*std::move(keys), "");
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    credentials_ = *std::move(credentials);
    ServerOptions options;
    options.auth_keys_file = keys_file;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "127.0.0.1:0";
    options.token_key = "sim-integration-test-key-0123456789";
    options.insecure = true;
    // Short intervals so that reports reach the answers within a fraction of the run.
    options.snapshot_interval = absl::Milliseconds(200);
    options.flush_interval = absl::Milliseconds(100);
    auto server = AdvisorServer::Start(options, std::make_shared<store::PgStore>(cluster_.url()),
                                       std::make_shared<store::PgStore>(cluster_.url()));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    target_ = absl::StrCat("127.0.0.1:", server_->port());
  }

  // Drives every session of `json` at `rate` sessions/s (seconds: many reloads) and evaluates.
  sim::Evaluation Run(const char* json, uint64_t seed, double rate) {
    auto scenario = sim::ParseScenario(json);
    EXPECT_TRUE(scenario.ok()) << scenario.status();
    if (!scenario.ok()) return {};
    scenario_ = *std::move(scenario);
    const auto sessions =
        sim::DrawSessions(scenario_, scenario_.sessions, seed, sim::kDefaultInstalls);
    sim::RunOptions run_options;
    run_options.target = target_;
    run_options.channel_credentials = grpc::InsecureChannelCredentials();
    run_options.concurrency = 16;
    run_options.rate = rate;
    run_options.credentials = [this](int64_t install) {
      return credentials_->Jwt(install, absl::Now());
    };
    auto run = sim::Drive(run_options, scenario_, sessions);
    EXPECT_TRUE(run.ok()) << run.status();
    if (!run.ok()) return {};
    EXPECT_EQ(run->stats.get_strategy_errors, 0);
    EXPECT_EQ(run->stats.report_errors, 0);
    return sim::Evaluate(scenario_, sessions, run->advisor);
  }

  // Asks for `a` × `b` until `moved` holds for an answer built from history, for up to 20 s;
  // returns the last answer and whether it moved.
  std::pair<v1::GetStrategyResponse, bool> AwaitAnswer(
      v1::NatType a, v1::NatType b, const std::function<bool(v1::Strategy)>& moved) {
    auto stub = v1::ConnectivityAdvisor::NewStub(
        grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()));
    // An observer of its own, outside the simulated fleet.
    auto jwt = credentials_->Jwt(sim::kDefaultInstalls, absl::Now());
    EXPECT_TRUE(jwt.ok()) << jwt.status();
    const std::string bearer = absl::StrCat("Bearer ", jwt.ok() ? *jwt : "");
    v1::GetStrategyResponse answer;
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      v1::GetStrategyRequest request;
      request.mutable_local()->set_nat_type(a);
      request.mutable_local()->set_confidence(1);
      request.mutable_remote()->set_nat_type(b);
      request.mutable_remote()->set_confidence(1);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      context.AddMetadata("authorization", bearer);
      EXPECT_TRUE(stub->GetStrategy(&context, request, &answer).ok());
      if (moved(answer.strategy()) && answer.history_samples() > 0) return {answer, true};
      // Well within the default per-identity rate limit.
      absl::SleepFor(absl::Milliseconds(200));
    }
    return {answer, false};
  }

  // Stops the server and checks that every report was stored.
  void ExpectEveryReportStored() {
    EXPECT_TRUE(server_->Shutdown().ok());
    auto stored = cluster_.Query("SELECT coalesce(sum(sessions), 0) FROM outcome_aggregates");
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(std::stoll(*stored), scenario_.sessions);
  }

  void TearDown() override {
    server_.reset();
    testing::RemoveTree(dir_);
  }

  std::string dir_;
  testing::PostgresCluster cluster_;
  std::unique_ptr<sim::InstallCredentials> credentials_;
  std::unique_ptr<AdvisorServer> server_;
  std::string target_;
  sim::Scenario scenario_;
};

TEST_F(SimIntegrationTest, AdvisorMovesABadlyPrioritisedPairOffDirect) {
  const sim::Evaluation evaluation = Run(kScenario, 11, 1000);
  EXPECT_EQ(evaluation.sessions, scenario_.sessions);
  const sim::NatPair bad = sim::NatPair::Of(sim::NatType::kFullCone, sim::NatType::kRestrictedCone);
  for (const sim::PairFigures& pair : evaluation.pairs) {
    if (pair.pair != bad) continue;
    // The static tree pays a 15 s timeout on 95 % of these sessions; the advisor learned early.
    EXPECT_LT(pair.figures.of(sim::Policy::kAdvisor).cost,
              pair.figures.of(sim::Policy::kStaticTree).cost);
  }
  const auto [answer, moved] = AwaitAnswer(v1::NAT_TYPE_RESTRICTED_CONE, v1::NAT_TYPE_FULL_CONE,
                                           [](v1::Strategy s) { return s != v1::STRATEGY_DIRECT; });
  EXPECT_TRUE(moved) << answer.ShortDebugString();
  ExpectEveryReportStored();
}

TEST_F(SimIntegrationTest, AdvisorFollowsAChangeInsideOneBucket) {
  const sim::Evaluation evaluation = Run(kPhaseScenario, 5, 2000);
  EXPECT_EQ(evaluation.sessions, scenario_.sessions);
  // The 3000 newest outcomes say direct no longer works, and by now they should outweigh the 8000
  // older ones of the same bucket. TURN_ONLY is never an exploration
  // answer for a direct-first pair, so seeing it means the decision itself moved.
  const auto [answer, moved] =
      AwaitAnswer(v1::NAT_TYPE_FULL_CONE, v1::NAT_TYPE_FULL_CONE,
                  [](v1::Strategy s) { return s == v1::STRATEGY_TURN_ONLY; });
  EXPECT_TRUE(moved) << answer.ShortDebugString();
  ExpectEveryReportStored();
}

}  // namespace
}  // namespace advisor
