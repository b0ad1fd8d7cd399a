// A small valid scenario for advisor-sim's unit tests, and parsing that fails the test on an error:
// shared by the scenario, model and evaluation tests, which all start from a scenario file.
#ifndef ADVISOR_TESTS_UNIT_SIM_SCENARIO_JSON_H_
#define ADVISOR_TESTS_UNIT_SIM_SCENARIO_JSON_H_

#include <gtest/gtest.h>

#include <string>

#include "services/sim/scenario.h"

namespace advisor::sim {

// A valid scenario; `extra` is spliced in before the closing brace, so tests can add or override
// keys (a repeated key takes the last value).
inline std::string ScenarioJson(const std::string& extra = "") {
  return R"({
    "name": "tiny", "sessions": 1000,
    "nat_mix": {"open": 0.5, "symmetric": 0.5},
    "default_pair": {"direct_success": 0.9, "direct_time_ms": {"median": 1000, "sigma": 0.5}},
    "relay": {"success": 1, "time_ms": {"median": 900, "sigma": 0.4}},
    "relay_cost_ms": 2000, "budget_ms": 30000)" +
         extra + "}";
}

inline Scenario Parse(const std::string& text) {
  auto scenario = ParseScenario(text);
  EXPECT_TRUE(scenario.ok()) << scenario.status();
  return scenario.ok() ? *scenario : Scenario{};
}

}  // namespace advisor::sim

#endif  // ADVISOR_TESTS_UNIT_SIM_SCENARIO_JSON_H_
