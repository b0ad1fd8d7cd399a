// A small valid scenario for advisor-sim's unit tests, and parsing that fails the test on an error:
// shared by the scenario, model and evaluation tests, which all start from a scenario file.
#ifndef ADVISOR_TESTS_UNIT_SIM_SCENARIO_JSON_H_
#define ADVISOR_TESTS_UNIT_SIM_SCENARIO_JSON_H_

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <string>

#include "services/sim/scenario.h"

namespace advisor::sim {

// A valid scenario; `extra` holds more keys after a comma (", \"misreport\": 0.2"), and a key it
// gives replaces the base's: a scenario, like any JSON document the JSON mapping reads, may not
// repeat a key.
inline std::string ScenarioJson(const std::string& extra = "") {
  const std::string base = R"({
    "name": "tiny", "sessions": 1000,
    "nat_mix": {"open": 0.5, "symmetric": 0.5},
    "default_pair": {"direct_success": 0.9, "direct_time_ms": {"median": 1000, "sigma": 0.5}},
    "relay": {"success": 1, "time_ms": {"median": 900, "sigma": 0.4}},
    "relay_cost_ms": 2000, "budget_ms": 30000})";
  google::protobuf::Struct document, overrides;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(base, &document).ok());
  if (!extra.empty()) {
    const auto status =
        google::protobuf::util::JsonStringToMessage("{" + extra.substr(1) + "}", &overrides);
    EXPECT_TRUE(status.ok()) << status.ToString() << " in " << extra;
  }
  for (const auto& [key, value] : overrides.fields()) (*document.mutable_fields())[key] = value;
  std::string text;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(document, &text).ok());
  return text;
}

inline Scenario Parse(const std::string& text) {
  auto scenario = ParseScenario(text);
  EXPECT_TRUE(scenario.ok()) << scenario.status();
  return scenario.ok() ? *scenario : Scenario{};
}

}  // namespace advisor::sim

#endif  // ADVISOR_TESTS_UNIT_SIM_SCENARIO_JSON_H_
