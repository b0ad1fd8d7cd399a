// advisor-sim's client model (model.h) on tiny cases worked out by hand: playing one session under
// a choice, drawing sessions from a scenario, and the baselines (the static tree, the expected
// outcome of a choice, the oracle, the price of the static tree's success).
#include "services/sim/model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "services/sim/evaluation.h"
#include "services/sim/scenario.h"
#include "tests/support/nat_types.h"
#include "tests/unit/sim/scenario_json.h"

namespace advisor::sim {
namespace {

using ::advisor::testing::kBlk;
using ::advisor::testing::kFull;
using ::advisor::testing::kOpen;
using ::advisor::testing::kPort;
using ::advisor::testing::kRestr;
using ::advisor::testing::kSym;
using ::advisor::testing::kUnknown;
using ::testing::ElementsAre;

Session DirectSession(uint32_t direct_ms, uint32_t relay_ms, bool direct_possible = true,
                      bool relay_ok = true) {
  Session s;
  s.direct_possible = direct_possible;
  s.direct_ms = direct_ms;
  s.relay_ok = relay_ok;
  s.relay_ms = relay_ms;
  return s;
}

TEST(PlayTest, DirectWithinTheTimeoutConnectsDirectly) {
  const Played p = Play(DirectSession(1000, 900), {Strategy::kDirect, 1500}, 30000);
  EXPECT_THAT(p.attempts, ElementsAre(Attempt{Path::kDirect, Result::kSucceeded, 1000}));
  EXPECT_TRUE(p.connected);
  EXPECT_EQ(p.time_to_connect_ms, 1000u);
  EXPECT_FALSE(p.relay_attempted);
  // Exactly at the timeout still counts.
  EXPECT_TRUE(Play(DirectSession(1000, 900), {Strategy::kTurnFallback, 1000}, 30000).connected);
}

TEST(PlayTest, DirectAfterTheTimeoutTimesOutAndRelays) {
  for (Strategy strategy : {Strategy::kDirect, Strategy::kTurnFallback}) {
    const Played p = Play(DirectSession(1000, 900), {strategy, 500}, 30000);
    EXPECT_THAT(p.attempts, ElementsAre(Attempt{Path::kDirect, Result::kTimedOut, 500},
                                        Attempt{Path::kRelay, Result::kSucceeded, 900}));
    EXPECT_TRUE(p.connected);
    EXPECT_EQ(p.time_to_connect_ms, 1400u);
    EXPECT_TRUE(p.relay_attempted);
  }
  // No direct path: the whole timeout is spent.
  const Played p = Play(DirectSession(10, 900, false), {Strategy::kDirect, 5000}, 30000);
  EXPECT_THAT(p.attempts, ElementsAre(Attempt{Path::kDirect, Result::kTimedOut, 5000},
                                      Attempt{Path::kRelay, Result::kSucceeded, 900}));
  EXPECT_EQ(p.time_to_connect_ms, 5900u);
}

TEST(PlayTest, BudgetCutsTheRelayOff) {
  // 29.5 s of direct leaves 500 ms, and the relay needs 900.
  Played p = Play(DirectSession(40000, 900), {Strategy::kDirect, 29500}, 30000);
  EXPECT_THAT(p.attempts, ElementsAre(Attempt{Path::kDirect, Result::kTimedOut, 29500},
                                      Attempt{Path::kRelay, Result::kTimedOut, 500}));
  EXPECT_FALSE(p.connected);
  EXPECT_EQ(p.time_to_connect_ms, 0u);
  // A timeout beyond the budget is cut to it, and no time is left for the relay.
  p = Play(DirectSession(40000, 900), {Strategy::kDirect, 45000}, 30000);
  EXPECT_THAT(p.attempts, ElementsAre(Attempt{Path::kDirect, Result::kTimedOut, 30000}));
  EXPECT_FALSE(p.connected);
  EXPECT_FALSE(p.relay_attempted);
}

TEST(PlayTest, BrokenRelayFails) {
  Played p = Play(DirectSession(10, 700, false, false), {Strategy::kTurnFallback, 5000}, 30000);
  EXPECT_THAT(p.attempts, ElementsAre(Attempt{Path::kDirect, Result::kTimedOut, 5000},
                                      Attempt{Path::kRelay, Result::kFailed, 700}));
  EXPECT_FALSE(p.connected);
  p = Play(DirectSession(10, 700, false, false), {Strategy::kTurnOnly, 0}, 30000);
  EXPECT_THAT(p.attempts, ElementsAre(Attempt{Path::kRelay, Result::kFailed, 700}));
}

TEST(PlayTest, TurnOnlyRelaysAtOnce) {
  Played p = Play(DirectSession(10, 900), {Strategy::kTurnOnly, 0}, 30000);
  EXPECT_THAT(p.attempts, ElementsAre(Attempt{Path::kRelay, Result::kSucceeded, 900}));
  EXPECT_EQ(p.time_to_connect_ms, 900u);
  EXPECT_TRUE(p.relay_attempted);
  p = Play(DirectSession(10, 40000), {Strategy::kTurnOnly, 0}, 30000);
  EXPECT_THAT(p.attempts, ElementsAre(Attempt{Path::kRelay, Result::kTimedOut, 30000}));
  EXPECT_FALSE(p.connected);
}

TEST(PlayTest, ZeroTimeoutTriesDirectForOneMillisecond) {
  const Played p = Play(DirectSession(1, 900), {Strategy::kDirect, 0}, 30000);
  EXPECT_THAT(p.attempts, ElementsAre(Attempt{Path::kDirect, Result::kSucceeded, 1}));
}

// One pair (open × open) that always connects directly in about a second, a relay that always
// works in about 900 ms.
Scenario CertainScenario() {
  return Parse(R"({"name": "certain", "sessions": 2000, "nat_mix": {"open": 1},
    "default_pair": {"direct_success": 1, "direct_time_ms": {"median": 1000, "sigma": 0.001}},
    "relay": {"success": 1, "time_ms": {"median": 900, "sigma": 0.001}},
    "relay_cost_ms": 2000, "budget_ms": 30000})");
}

TEST(DrawTest, TimeoutAboveTheMedianGoesDirectBelowGoesRelay) {
  const Scenario s = CertainScenario();
  const auto sessions = DrawSessions(s, 2000, 7);
  for (const Session& session : sessions) {
    ASSERT_TRUE(session.direct_possible);
    ASSERT_NEAR(session.direct_ms, 1000, 10);
    const Played above = Play(session, {Strategy::kDirect, 1100}, s.budget_ms);
    ASSERT_EQ(above.attempts.size(), 1u);
    ASSERT_EQ(above.attempts[0].path, Path::kDirect);
    const Played below = Play(session, {Strategy::kDirect, 900}, s.budget_ms);
    ASSERT_TRUE(below.relay_attempted);
    ASSERT_TRUE(below.connected);
    ASSERT_NEAR(below.time_to_connect_ms, 1800, 10);
  }
}

TEST(DrawTest, SameSeedSameSessions) {
  const Scenario s = Parse(ScenarioJson(R"(, "misreport": 0.2)"));
  const auto a = DrawSessions(s, 500, 42);
  const auto b = DrawSessions(s, 500, 42);
  const auto c = DrawSessions(s, 500, 43);
  int differ = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].local, b[i].local);
    EXPECT_EQ(a[i].remote_reported, b[i].remote_reported);
    EXPECT_EQ(a[i].direct_ms, b[i].direct_ms);
    EXPECT_EQ(a[i].relay_ms, b[i].relay_ms);
    differ += a[i].direct_ms != c[i].direct_ms;
  }
  EXPECT_GT(differ, 400);
}

TEST(DrawTest, InstallsAreSpreadAndNeverShiftTheOutcomes) {
  const Scenario s = Parse(ScenarioJson(R"(, "misreport": 0.2)"));
  const auto one = DrawSessions(s, 5000, 42);
  const auto many = DrawSessions(s, 5000, 42, 100);
  const auto again = DrawSessions(s, 5000, 42, 100);
  const auto other_seed = DrawSessions(s, 5000, 43, 100);
  std::vector<int> per_install(100, 0);
  int moved = 0;
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i].install, 0);
    ASSERT_GE(many[i].install, 0);
    ASSERT_LT(many[i].install, 100);
    ++per_install[static_cast<size_t>(many[i].install)];
    EXPECT_EQ(many[i].install, again[i].install);
    moved += many[i].install != other_seed[i].install;
    // The install is not drawn from the outcomes' generator.
    EXPECT_EQ(one[i].local_reported, many[i].local_reported);
    EXPECT_EQ(one[i].direct_ms, many[i].direct_ms);
    EXPECT_EQ(one[i].relay_ms, many[i].relay_ms);
  }
  // 50 sessions per install on average; a fair draw keeps each within a wide band.
  EXPECT_GT(*std::min_element(per_install.begin(), per_install.end()), 20);
  EXPECT_LT(*std::max_element(per_install.begin(), per_install.end()), 90);
  EXPECT_GT(moved, 4800);
}

TEST(DrawTest, FollowsTheMixMisreportsAndPhases) {
  const Scenario s = Parse(ScenarioJson(R"(, "sessions": 20000, "misreport": 0.1,
      "phases": [{"at_session": 10000, "pairs": [
        {"a": "open", "b": "open", "direct_success": 0},
        {"a": "open", "b": "symmetric", "direct_success": 0},
        {"a": "symmetric", "b": "symmetric", "direct_success": 0}]}])"));
  const auto sessions = DrawSessions(s, 20000, 1);
  int open = 0, unknown = 0, direct_before = 0, direct_after = 0;
  for (const Session& session : sessions) {
    ASSERT_TRUE(session.local == kOpen || session.local == kSym);
    open += session.local == kOpen;
    if (session.local_reported == kUnknown) {
      ++unknown;
    } else {
      ASSERT_EQ(session.local_reported, session.local);
    }
    ASSERT_EQ(session.phase, session.index < 10000 ? 0 : 1);
    (session.index < 10000 ? direct_before : direct_after) += session.direct_possible;
  }
  EXPECT_NEAR(open / 20000.0, 0.5, 0.02);
  EXPECT_NEAR(unknown / 20000.0, 0.1, 0.01);
  EXPECT_NEAR(direct_before / 10000.0, 0.9, 0.02);
  EXPECT_EQ(direct_after, 0);
}

TEST(StaticTreeTest, IsTheSeedTable) {
  const Choice turn_only{Strategy::kTurnOnly, 0};
  const Choice fallback{Strategy::kTurnFallback, 5000};
  const Choice direct{Strategy::kDirect, 15000};
  EXPECT_EQ(StaticTree(NatPair::Of(kBlk, kOpen)), turn_only);
  EXPECT_EQ(StaticTree(NatPair::Of(kBlk, kUnknown)), turn_only);  // blocked wins
  EXPECT_EQ(StaticTree(NatPair::Of(kUnknown, kOpen)), fallback);
  EXPECT_EQ(StaticTree(NatPair::Of(kUnknown, kSym)), fallback);  // unknown before symmetric
  EXPECT_EQ(StaticTree(NatPair::Of(kSym, kSym)), turn_only);
  EXPECT_EQ(StaticTree(NatPair::Of(kSym, kFull)), fallback);
  EXPECT_EQ(StaticTree(NatPair::Of(kPort, kRestr)), direct);
  EXPECT_EQ(StaticTree(NatPair::Of(kOpen, kOpen)), direct);
}

// Round numbers: no spread in any time, relay always works in 500 ms, 10 s budget.
Scenario HandScenario(double relay_cost_ms) {
  Scenario s;
  s.relay_success = 1;
  s.relay_time = {500, 0};
  s.relay_cost_ms = relay_cost_ms;
  s.budget_ms = 10000;
  return s;
}

TEST(ExpectedTest, MatchesHandComputation) {
  const Scenario s = HandScenario(100);
  const PairTruth half{0.5, {1000, 0}};
  // Half connect directly at 1 s, half wait 2 s and relay in 0.5 s.
  Expected e = ExpectedOutcome(half, s, {Strategy::kTurnFallback, 2000});
  EXPECT_DOUBLE_EQ(e.success, 1);
  EXPECT_DOUBLE_EQ(e.mean_time_ms, 0.5 * 1000 + 0.5 * 2500);
  EXPECT_DOUBLE_EQ(e.relay_share, 0.5);
  EXPECT_DOUBLE_EQ(e.cost, 1750 + 50);
  e = ExpectedOutcome(half, s, {Strategy::kTurnOnly, 0});
  EXPECT_DOUBLE_EQ(e.mean_time_ms, 500);
  EXPECT_DOUBLE_EQ(e.cost, 600);
  // 9.8 s of direct leaves 200 ms: the relay cannot make it, failures cost the budget.
  e = ExpectedOutcome({0, {1000, 0}}, s, {Strategy::kDirect, 9800});
  EXPECT_DOUBLE_EQ(e.success, 0);
  EXPECT_DOUBLE_EQ(e.mean_time_ms, 10000);
  EXPECT_DOUBLE_EQ(e.relay_share, 1);
}

TEST(OracleTest, NoDirectPathMeansTurnOnly) {
  const OracleChoice o = Oracle({0, {1000, 0.5}}, HandScenario(2000));
  EXPECT_EQ(o.choice.strategy, Strategy::kTurnOnly);
  EXPECT_DOUBLE_EQ(o.expected.cost, 2500);
}

TEST(OracleTest, CertainDirectPathGoesDirectWithATimeoutThatCoversIt) {
  const OracleChoice o = Oracle({1, {1000, 0}}, HandScenario(2000));
  EXPECT_NE(o.choice.strategy, Strategy::kTurnOnly);
  EXPECT_GE(o.choice.timeout_ms, 1000u);
  EXPECT_DOUBLE_EQ(o.expected.success, 1);
  EXPECT_DOUBLE_EQ(o.expected.cost, 1000);
}

TEST(OracleTest, WeighsTheRelayPrice) {
  const PairTruth half{0.5, {1000, 0}};
  // Cheap relay: relaying at once (600) beats waiting for a coin flip (≥ 1000 + ...).
  EXPECT_EQ(Oracle(half, HandScenario(100)).choice.strategy, Strategy::kTurnOnly);
  // Dear relay: direct first with a timeout of exactly 1 s, 0.5·1000 + 0.5·(1500 + 2000) = 2250,
  // beats relaying at once (2500).
  const OracleChoice o = Oracle(half, HandScenario(2000));
  EXPECT_EQ(o.choice, (Choice{Strategy::kTurnFallback, 1000}));
  EXPECT_DOUBLE_EQ(o.expected.cost, 2250);
}

TEST(OracleTest, ExpectedCostMatchesPlayedSessions) {
  const Scenario s = Parse(R"({"name": "spread", "sessions": 100000, "nat_mix": {"open": 1},
    "default_pair": {"direct_success": 0.7, "direct_time_ms": {"median": 1500, "sigma": 0.8}},
    "relay": {"success": 0.98, "time_ms": {"median": 900, "sigma": 0.5}},
    "relay_cost_ms": 2000, "budget_ms": 20000})");
  const PairTruth& truth = s.phases[0].pairs[NatPair::Of(kOpen, kOpen).Index()];
  const auto sessions = DrawSessions(s, s.sessions, 3);
  for (const Choice choice : {Choice{Strategy::kTurnOnly, 0}, Choice{Strategy::kDirect, 2500},
                              Choice{Strategy::kTurnFallback, 19500}}) {
    FiguresBuilder builder;
    for (const Session& session : sessions) builder.Add(Play(session, choice, s.budget_ms), 20000);
    const Figures played = builder.Build(s.relay_cost_ms);
    const Expected expected = ExpectedOutcome(truth, s, choice);
    EXPECT_NEAR(played.success_rate, expected.success, 0.005) << choice.timeout_ms;
    EXPECT_NEAR(played.relay_share, expected.relay_share, 0.01) << choice.timeout_ms;
    EXPECT_NEAR(played.cost / expected.cost, 1, 0.02) << choice.timeout_ms;
  }
}

TEST(SuccessPriceTest, CheapestChoiceThatConnectsAsOftenAsTheStaticTree) {
  // One pair, open × open, where direct works 10 % of the time at exactly 1 s and the relay 90 %
  // of the time at exactly 0.5 s. Relaying at once: 0.9·500 + 0.1·20000 + 2000 = 4450, success
  // 0.9. Direct first for 1 s: 0.1·1000 + 0.9·(0.9·1500 + 0.1·20000 + 2000) = 4915, success 0.91,
  // as the static tree's 15 s (0.1·1000 + 0.9·(0.9·15500 + 0.1·20000 + 2000) = 16255). Pricing a
  // failure at λ, direct first wins once 4450 + 0.1·λ ≥ 4915 + 0.09·λ: λ = 46500.
  const Scenario s = Parse(R"({"name": "hand", "sessions": 100, "nat_mix": {"open": 1},
    "default_pair": {"direct_success": 0.1, "direct_time_ms": {"median": 1000, "sigma": 0}},
    "relay": {"success": 0.9, "time_ms": {"median": 500, "sigma": 0}},
    "relay_cost_ms": 2000, "budget_ms": 20000})");
  const SuccessPrice price = PriceOfStaticSuccess(s, OracleTable(s));
  EXPECT_NEAR(price.static_tree.success, 0.91, 1e-12);
  EXPECT_NEAR(price.static_tree.cost, 16255, 1e-6);
  EXPECT_NEAR(price.oracle.success, 0.9, 1e-12);
  EXPECT_NEAR(price.oracle.cost, 4450, 1e-6);
  EXPECT_NEAR(price.matched.success, 0.91, 1e-12);
  EXPECT_NEAR(price.matched.cost, 4915, 1e-6);
  EXPECT_NEAR(price.failure_price_ms, 46500, 46500 * 2e-3);
}

TEST(SuccessPriceTest, WeighsPairsByTheMixAndPhasesByLength) {
  // The static tree's success is already the oracle's: no price is needed, and the figures are
  // the pair-weighted means of the hand-computable pairs: open × open (1/4 of sessions) and
  // open × blocked (1/2) and blocked × blocked (1/4), the last two relaying at once for 2500.
  const Scenario s = Parse(R"({"name": "hand", "sessions": 100,
    "nat_mix": {"open": 0.5, "blocked": 0.5},
    "default_pair": {"direct_success": 1, "direct_time_ms": {"median": 1000, "sigma": 0}},
    "relay": {"success": 1, "time_ms": {"median": 500, "sigma": 0}},
    "relay_cost_ms": 2000, "budget_ms": 20000,
    "phases": [{"at_session": 75, "pairs": [{"a": "open", "b": "open", "direct_success": 0}]}]})");
  const SuccessPrice price = PriceOfStaticSuccess(s, OracleTable(s));
  EXPECT_DOUBLE_EQ(price.static_tree.success, 1);
  EXPECT_DOUBLE_EQ(price.matched.success, 1);
  EXPECT_EQ(price.failure_price_ms, 0);
  // Oracle: open × open direct at 1000 for 3/4 of the run, then relayed at once (2500).
  EXPECT_NEAR(price.oracle.cost, 0.25 * (0.75 * 1000 + 0.25 * 2500) + 0.75 * 2500, 1e-6);
  EXPECT_NEAR(price.matched.cost, price.oracle.cost, 1e-6);
}

}  // namespace
}  // namespace advisor::sim
