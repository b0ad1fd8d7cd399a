// advisor-sim's JSON report (report.h), read back as tests/bench/advice.sh reads it: every key
// present even when zero, counts and figures as numbers, a phase change's recovery as a number or
// null, the oracle's rows keyed by pair name, and the same text for the same run.
#include "services/sim/report.h"

#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "services/sim/evaluation.h"
#include "services/sim/model.h"
#include "services/sim/scenario.h"
#include "tests/support/nat_types.h"
#include "tests/unit/sim/scenario_json.h"

namespace advisor::sim {
namespace {

using ::advisor::testing::kOpen;
using ::google::protobuf::Struct;
using ::google::protobuf::Value;
using ::testing::UnorderedElementsAre;

// One pair whose direct path disappears at session 5000; the advisor follows the oracle of phase 0
// until session `switch_at`, then that of phase 1.
struct PlayedRun {
  Scenario scenario;
  Evaluation evaluation;
};

PlayedRun Played(int64_t switch_at) {
  PlayedRun run;
  run.scenario = Parse(R"({"name": "change", "sessions": 10000, "nat_mix": {"open": 1},
    "default_pair": {"direct_success": 0.99, "direct_time_ms": {"median": 300, "sigma": 0.4}},
    "relay": {"success": 1, "time_ms": {"median": 900, "sigma": 0.4}},
    "relay_cost_ms": 2000, "budget_ms": 30000,
    "phases": [{"at_session": 5000, "pairs": [{"a": "open", "b": "open", "direct_success": 0}]}]})");
  const auto oracle = OracleTable(run.scenario);
  const int pair = NatPair::Of(kOpen, kOpen).Index();
  const auto sessions = DrawSessions(run.scenario, run.scenario.sessions, 9);
  std::vector<std::optional<Choice>> advice;
  advice.reserve(sessions.size());
  for (const Session& session : sessions) {
    advice.push_back(oracle[session.index < switch_at ? 0 : 1][pair].choice);
  }
  run.evaluation = Evaluate(run.scenario, sessions, advice);
  return run;
}

RunInfo Info() {
  RunInfo info;
  info.scenario_file = "change.json";
  info.target = "127.0.0.1:1";
  info.seed = 9;
  info.concurrency = 4;
  info.stats.sessions_per_s = 500;
  return info;
}

Struct Read(const std::string& json) {
  Struct report;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &report);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return report;
}

std::vector<std::string> Keys(const Struct& object) {
  std::vector<std::string> keys;
  for (const auto& [key, unused] : object.fields()) keys.push_back(key);
  return keys;
}

const Value& At(const Struct& object, const std::string& key) {
  static const Value kMissing;
  const auto it = object.fields().find(key);
  EXPECT_NE(it, object.fields().end()) << key;
  return it == object.fields().end() ? kMissing : it->second;
}

TEST(ReportJsonTest, EveryKeyWithNumbersAsNumbers) {
  const PlayedRun run = Played(6500);
  const auto json = RenderJson(run.scenario, Info(), run.evaluation);
  ASSERT_TRUE(json.ok()) << json.status();
  const Struct report = Read(*json);
  EXPECT_THAT(Keys(report),
              UnorderedElementsAre("scenario", "scenario_file", "target", "seed", "concurrency",
                                   "rate", "sessions", "excluded_sessions", "elapsed_s",
                                   "sessions_per_s", "failed_rpcs", "budget_ms", "relay_cost_ms",
                                   "relay_success", "overall", "warm_up", "phases", "pairs",
                                   "phase_changes", "oracle", "success_price"));
  EXPECT_EQ(At(report, "scenario").string_value(), "change");
  EXPECT_EQ(At(report, "seed").number_value(), 9);
  EXPECT_EQ(At(report, "sessions").number_value(), 10000);
  // Zeros are printed, not left out.
  EXPECT_EQ(At(report, "excluded_sessions").kind_case(), Value::kNumberValue);
  EXPECT_EQ(At(report, "rate").kind_case(), Value::kNumberValue);
  const Struct& failed = At(report, "failed_rpcs").struct_value();
  EXPECT_EQ(At(failed, "get_strategy").kind_case(), Value::kNumberValue);
  EXPECT_EQ(At(failed, "first").kind_case(), Value::kStringValue);

  const Struct& overall = At(report, "overall").struct_value();
  EXPECT_THAT(Keys(overall), UnorderedElementsAre("advisor", "static_tree", "turn_only", "oracle",
                                                  "regret", "gain"));
  const Struct& advisor = At(overall, "advisor").struct_value();
  EXPECT_THAT(Keys(advisor),
              UnorderedElementsAre("sessions", "success_rate", "mean_connect_ms", "p95_connect_ms",
                                   "relay_share", "mean_time_ms", "cost"));
  EXPECT_EQ(At(advisor, "sessions").number_value(), 10000);
  EXPECT_DOUBLE_EQ(At(advisor, "cost").number_value(),
                   run.evaluation.overall.of(Policy::kAdvisor).cost);
  EXPECT_DOUBLE_EQ(At(overall, "regret").number_value(), run.evaluation.overall.regret);

  const Struct& warm_up = At(report, "warm_up").struct_value();
  EXPECT_EQ(At(warm_up, "sessions").number_value(), 1000);
  EXPECT_EQ(At(warm_up, "after_warm_up").kind_case(), Value::kStructValue);
  ASSERT_EQ(At(report, "phases").list_value().values_size(), 2);
  EXPECT_EQ(
      At(At(report, "phases").list_value().values(1).struct_value(), "from_session").number_value(),
      5000);
  ASSERT_EQ(At(report, "pairs").list_value().values_size(), 1);
  EXPECT_EQ(At(At(report, "pairs").list_value().values(0).struct_value(), "pair").string_value(),
            "open × open");

  ASSERT_EQ(At(report, "phase_changes").list_value().values_size(), 1);
  const Struct& change = At(report, "phase_changes").list_value().values(0).struct_value();
  EXPECT_EQ(At(change, "at_session").number_value(), 5000);
  EXPECT_EQ(At(change, "window_sessions").number_value(), 1000);
  EXPECT_EQ(At(change, "recovered_after").number_value(), 3000);
  EXPECT_EQ(At(change, "windows").list_value().values_size(), 5);

  ASSERT_EQ(At(report, "oracle").list_value().values_size(), 2);
  const Struct& row = At(report, "oracle").list_value().values(1).struct_value();
  EXPECT_THAT(Keys(row), UnorderedElementsAre("open × open"));
  const Struct& choice = At(row, "open × open").struct_value();
  EXPECT_EQ(At(choice, "strategy").string_value(), "turn_only");
  EXPECT_EQ(At(choice, "timeout_ms").number_value(), 0);
  EXPECT_EQ(At(choice, "expected_success").kind_case(), Value::kNumberValue);

  const Struct& price = At(report, "success_price").struct_value();
  EXPECT_THAT(Keys(price),
              UnorderedElementsAre("static_tree", "oracle", "matched", "failure_price_ms"));
  EXPECT_THAT(Keys(At(price, "matched").struct_value()),
              UnorderedElementsAre("success", "cost", "over_oracle"));
}

TEST(ReportJsonTest, NeverRecoveredIsNullAndTheTextIsStable) {
  // The advisor never follows the change.
  const PlayedRun run = Played(std::numeric_limits<int64_t>::max());
  const auto json = RenderJson(run.scenario, Info(), run.evaluation);
  ASSERT_TRUE(json.ok()) << json.status();
  const Struct report = Read(*json);
  ASSERT_EQ(At(report, "phase_changes").list_value().values_size(), 1);
  const Struct& change = At(report, "phase_changes").list_value().values(0).struct_value();
  EXPECT_EQ(At(change, "recovered_after").kind_case(), Value::kNullValue);
  EXPECT_EQ(RenderJson(run.scenario, Info(), run.evaluation).value_or(""), *json);
}

}  // namespace
}  // namespace advisor::sim
