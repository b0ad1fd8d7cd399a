// advisor-sim's driver against an in-process advisor-server and a real PostgreSQL: a short
// scenario where the cold-start rules send one pair DIRECT although it almost never connects
// directly, and the pooled reports must move the advisor off DIRECT for that pair.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "services/advisor/server.h"
#include "services/sim/evaluation.h"
#include "services/sim/model.h"
#include "services/sim/runner.h"
#include "services/sim/scenario.h"
#include "tests/support/postgres.h"

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

TEST(SimIntegrationTest, AdvisorMovesABadlyPrioritisedPairOffDirect) {
  testing::PostgresCluster cluster;
  ASSERT_TRUE(cluster.Init().ok());
  auto applied = store::Migrate(cluster.url());
  ASSERT_TRUE(applied.ok()) << applied.status();

  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "127.0.0.1:0";
  options.token_key = "sim-integration-test-key-0123456789";
  // Short intervals so that reports reach the answers within a fraction of the run.
  options.snapshot_interval = absl::Milliseconds(200);
  options.flush_interval = absl::Milliseconds(100);
  auto server = AdvisorServer::Start(options, std::make_shared<store::PgStore>(cluster.url()),
                                     std::make_shared<store::PgStore>(cluster.url()));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string target = absl::StrCat("127.0.0.1:", (*server)->port());

  auto scenario = sim::ParseScenario(kScenario);
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  const auto sessions = sim::DrawSessions(*scenario, scenario->sessions, 11);
  sim::RunOptions run_options;
  run_options.target = target;
  run_options.concurrency = 16;
  // About three seconds: many snapshot reloads during the run.
  run_options.rate = 1000;
  auto run = sim::Drive(run_options, *scenario, sessions);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->stats.get_strategy_errors, 0);
  EXPECT_EQ(run->stats.report_errors, 0);

  const sim::Evaluation evaluation = sim::Evaluate(*scenario, sessions, run->advisor);
  EXPECT_EQ(evaluation.sessions, scenario->sessions);
  const sim::NatPair bad = sim::NatPair::Of(sim::NatType::kFullCone, sim::NatType::kRestrictedCone);
  for (const sim::PairFigures& pair : evaluation.pairs) {
    if (pair.pair != bad) continue;
    // The static tree pays a 15 s timeout on 95 % of these sessions; the advisor learned early.
    EXPECT_LT(pair.figures.of(sim::Policy::kAdvisor).cost,
              pair.figures.of(sim::Policy::kStaticTree).cost);
  }

  // Every report is stored and the answer for the pair has moved off DIRECT.
  auto stub = v1::ConnectivityAdvisor::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  v1::GetStrategyResponse answer;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  bool moved = false;
  while (!moved && absl::Now() < deadline) {
    v1::GetStrategyRequest request;
    request.mutable_local()->set_nat_type(v1::NAT_TYPE_RESTRICTED_CONE);
    request.mutable_local()->set_confidence(1);
    request.mutable_remote()->set_nat_type(v1::NAT_TYPE_FULL_CONE);
    request.mutable_remote()->set_confidence(1);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ASSERT_TRUE(stub->GetStrategy(&context, request, &answer).ok());
    moved = answer.strategy() != v1::STRATEGY_DIRECT && answer.history_samples() > 0;
    if (!moved) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(moved) << answer.ShortDebugString();
  EXPECT_TRUE((*server)->Shutdown().ok());
  auto stored = cluster.Query("SELECT coalesce(sum(sessions), 0) FROM outcome_aggregates");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(std::stoll(*stored), scenario->sessions);
}

}  // namespace
}  // namespace advisor
