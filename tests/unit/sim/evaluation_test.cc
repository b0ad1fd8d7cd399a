// advisor-sim's evaluation (evaluation.h): the statistics, and the policies compared on the same
// sessions, windows around a phase change included.
#include "services/sim/evaluation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "services/sim/model.h"
#include "services/sim/scenario.h"
#include "tests/support/nat_types.h"
#include "tests/unit/sim/scenario_json.h"

namespace advisor::sim {
namespace {

using ::advisor::testing::kOpen;

TEST(StatisticsTest, Percentile95IsNearestRank) {
  EXPECT_EQ(Percentile95({}), 0u);
  EXPECT_EQ(Percentile95({7}), 7u);
  std::vector<uint32_t> hundred;
  for (uint32_t i = 100; i >= 1; --i) hundred.push_back(i);
  EXPECT_EQ(Percentile95(hundred), 95u);
  std::vector<uint32_t> twenty;
  for (uint32_t i = 1; i <= 20; ++i) twenty.push_back(i * 10);
  EXPECT_EQ(Percentile95(twenty), 190u);
}

TEST(StatisticsTest, FiguresAndCost) {
  EXPECT_DOUBLE_EQ(Cost(1000, 0.25, 2000), 1500);
  EXPECT_DOUBLE_EQ(Regret(110, 100), 0.1);
  EXPECT_DOUBLE_EQ(Gain(75, 100), 0.25);
  FiguresBuilder builder;
  builder.Add({{}, true, 100, false}, 1000);
  builder.Add({{}, true, 300, true}, 1000);
  builder.Add({{}, false, 0, true}, 1000);
  builder.Add({{}, false, 0, false}, 1000);
  const Figures f = builder.Build(2000);
  EXPECT_EQ(f.sessions, 4);
  EXPECT_DOUBLE_EQ(f.success_rate, 0.5);
  EXPECT_DOUBLE_EQ(f.mean_connect_ms, 200);
  EXPECT_EQ(f.p95_connect_ms, 300u);
  EXPECT_DOUBLE_EQ(f.relay_share, 0.5);
  EXPECT_DOUBLE_EQ(f.mean_time_ms, (100 + 300 + 1000 + 1000) / 4.0);
  EXPECT_DOUBLE_EQ(f.cost, 600 + 2000 * 0.5);
}

TEST(EvaluateTest, BaselinesAgainstThemselves) {
  const Scenario s = Parse(ScenarioJson(R"(, "misreport": 0.05)"));
  const auto sessions = DrawSessions(s, 1000, 5);
  std::vector<std::optional<Choice>> as_static, as_oracle;
  const auto oracle = OracleTable(s);
  for (const Session& session : sessions) {
    as_static.push_back(StaticTree(session.reported_pair()));
    as_oracle.push_back(oracle[session.phase][session.true_pair().Index()].choice);
  }
  const Evaluation e = Evaluate(s, sessions, as_static);
  EXPECT_EQ(e.sessions, 1000);
  EXPECT_EQ(e.warm_up_sessions, 100);
  EXPECT_EQ(e.warm_up.of(Policy::kAdvisor).sessions, 100);
  EXPECT_DOUBLE_EQ(e.overall.gain, 0);
  EXPECT_DOUBLE_EQ(e.overall.of(Policy::kAdvisor).cost, e.overall.of(Policy::kStaticTree).cost);
  EXPECT_EQ(e.phases.size(), 1u);
  EXPECT_EQ(e.pairs.size(), 3u);  // open × open, open × symmetric, symmetric × symmetric
  EXPECT_DOUBLE_EQ(Evaluate(s, sessions, as_oracle).overall.regret, 0);
}

TEST(EvaluateTest, SessionsWithoutAdviceAreLeftOutForEveryPolicy) {
  const Scenario s = Parse(ScenarioJson());
  const auto sessions = DrawSessions(s, 10, 5);
  std::vector<std::optional<Choice>> advice(10, Choice{Strategy::kTurnOnly, 0});
  advice[3] = std::nullopt;
  const Evaluation e = Evaluate(s, sessions, advice);
  EXPECT_EQ(e.sessions, 9);
  EXPECT_EQ(e.excluded, 1);
  for (Policy p : kPolicies) EXPECT_EQ(e.overall.of(p).sessions, 9);
}

TEST(EvaluateTest, WindowsShowWhenTheAdvisorRecoversFromAPhaseChange) {
  // One pair. At session 5000 its direct path disappears; the advisor keeps the old choice for the
  // next 1500 sessions and then follows the oracle.
  const Scenario s = Parse(R"({"name": "change", "sessions": 10000, "nat_mix": {"open": 1},
    "default_pair": {"direct_success": 0.99, "direct_time_ms": {"median": 300, "sigma": 0.4}},
    "relay": {"success": 1, "time_ms": {"median": 900, "sigma": 0.4}},
    "relay_cost_ms": 2000, "budget_ms": 30000,
    "phases": [{"at_session": 5000, "pairs": [{"a": "open", "b": "open", "direct_success": 0}]}]})");
  const auto oracle = OracleTable(s);
  const int pair = NatPair::Of(kOpen, kOpen).Index();
  ASSERT_NE(oracle[0][pair].choice.strategy, Strategy::kTurnOnly);
  ASSERT_EQ(oracle[1][pair].choice.strategy, Strategy::kTurnOnly);
  const auto sessions = DrawSessions(s, s.sessions, 9);
  std::vector<std::optional<Choice>> advice;
  for (const Session& session : sessions) {
    advice.push_back(oracle[session.index < 6500 ? 0 : 1][pair].choice);
  }
  const Evaluation e = Evaluate(s, sessions, advice);
  ASSERT_EQ(e.changes.size(), 1u);
  const PhaseChange& change = e.changes[0];
  EXPECT_EQ(change.phase, 1);
  EXPECT_EQ(change.at_session, 5000);
  ASSERT_EQ(change.windows.size(), 5u);
  EXPECT_GT(change.windows[0].regret, 0.2);  // the old timeout wasted on every session
  EXPECT_GT(change.windows[1].regret, 0.1);  // half of them
  EXPECT_DOUBLE_EQ(change.windows[2].regret, 0);
  ASSERT_TRUE(change.recovered_after.has_value());
  EXPECT_EQ(*change.recovered_after, 3000);
  EXPECT_DOUBLE_EQ(change.worst_regret_after, 0);
  ASSERT_EQ(e.phases.size(), 2u);
  EXPECT_EQ(e.phases[1].from_session, 5000);
  EXPECT_EQ(e.phases[1].to_session, 10000);
}

}  // namespace
}  // namespace advisor::sim
