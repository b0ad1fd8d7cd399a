// advisor-sim's scenario files (scenario.h): defaults, listed pairs and blocked sides, phases and
// what they change, an error that names the offending key, and every shipped scenario parsing.
#include "services/sim/scenario.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/support/nat_types.h"
#include "tests/unit/sim/scenario_json.h"

namespace advisor::sim {
namespace {

using ::advisor::testing::kBlk;
using ::advisor::testing::kFull;
using ::advisor::testing::kOpen;
using ::advisor::testing::kSym;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ParseError(const std::string& text) {
  auto scenario = ParseScenario(text);
  EXPECT_FALSE(scenario.ok());
  return scenario.ok() ? "" : std::string(scenario.status().message());
}

const PairTruth& Truth(const Scenario& s, int phase, NatType a, NatType b) {
  return s.phases[phase].pairs[NatPair::Of(a, b).Index()];
}

TEST(ScenarioTest, ParsesDefaultsListedPairsAndBlockedSides) {
  const Scenario s = Parse(ScenarioJson(R"(, "misreport": 0.03, "pairs": [
      {"a": "symmetric", "b": "open", "direct_success": 0.4},
      {"a": "blocked", "b": "open", "direct_success": 0.1,
       "direct_time_ms": {"median": 5000, "sigma": 0.2}}])"));
  EXPECT_EQ(s.name, "tiny");
  EXPECT_EQ(s.sessions, 1000);
  EXPECT_DOUBLE_EQ(s.misreport, 0.03);
  EXPECT_DOUBLE_EQ(s.nat_mix[static_cast<int>(kOpen)], 0.5);
  EXPECT_DOUBLE_EQ(s.nat_mix[static_cast<int>(kFull)], 0);
  EXPECT_EQ(s.budget_ms, 30000u);
  ASSERT_EQ(s.phases.size(), 1u);
  // Not listed: the default pair.
  EXPECT_DOUBLE_EQ(Truth(s, 0, kOpen, kOpen).direct_success, 0.9);
  EXPECT_DOUBLE_EQ(Truth(s, 0, kOpen, kOpen).direct_time.median_ms, 1000);
  // Listed in either order; a missing time comes from the default pair.
  EXPECT_DOUBLE_EQ(Truth(s, 0, kOpen, kSym).direct_success, 0.4);
  EXPECT_DOUBLE_EQ(Truth(s, 0, kOpen, kSym).direct_time.median_ms, 1000);
  // A blocked side never connects directly unless listed.
  EXPECT_DOUBLE_EQ(Truth(s, 0, kBlk, kSym).direct_success, 0);
  EXPECT_DOUBLE_EQ(Truth(s, 0, kBlk, kOpen).direct_success, 0.1);
  EXPECT_DOUBLE_EQ(Truth(s, 0, kBlk, kOpen).direct_time.median_ms, 5000);
}

TEST(ScenarioTest, PhasesAccumulateAndNameWhatChanged) {
  const Scenario s = Parse(ScenarioJson(R"(, "phases": [
      {"at_session": 300, "pairs": [{"a": "open", "b": "open", "direct_success": 0.1},
                                    {"a": "open", "b": "symmetric", "direct_success": 0.9}]},
      {"at_session": 600, "pairs": [{"a": "symmetric", "b": "symmetric",
                                     "direct_time_ms": {"median": 3000, "sigma": 0.1}}]}])"));
  ASSERT_EQ(s.phases.size(), 3u);
  EXPECT_EQ(s.phases[1].at_session, 300);
  // Phase 1 re-states open × symmetric unchanged: only open × open changed.
  EXPECT_THAT(s.phases[1].changed, ElementsAre(NatPair::Of(kOpen, kOpen)));
  EXPECT_THAT(s.phases[2].changed, ElementsAre(NatPair::Of(kSym, kSym)));
  // Phase 2 keeps phase 1's override and its own direct_success from before.
  EXPECT_DOUBLE_EQ(Truth(s, 2, kOpen, kOpen).direct_success, 0.1);
  EXPECT_DOUBLE_EQ(Truth(s, 2, kSym, kSym).direct_success, 0.9);
  EXPECT_DOUBLE_EQ(Truth(s, 2, kSym, kSym).direct_time.median_ms, 3000);
  EXPECT_DOUBLE_EQ(Truth(s, 0, kOpen, kOpen).direct_success, 0.9);
  EXPECT_EQ(s.PhaseOf(0), 0);
  EXPECT_EQ(s.PhaseOf(299), 0);
  EXPECT_EQ(s.PhaseOf(300), 1);
  EXPECT_EQ(s.PhaseOf(999), 2);
}

TEST(ScenarioTest, ErrorsNameTheOffendingKey) {
  EXPECT_THAT(ParseError("{\"name\": "), HasSubstr("invalid JSON"));
  EXPECT_THAT(ParseError("[]"), HasSubstr("scenario: must be an object"));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "pair": [])")),
              HasSubstr("pair: unknown key (allowed: name, sessions"));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "sessions": 0)")),
              HasSubstr("sessions: must be in [1, "));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "sessions": 10.5)")),
              HasSubstr("sessions: must be a whole number"));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "nat_mix": {"open": 0.5, "symmetric": 0.4})")),
              HasSubstr("nat_mix: shares must sum to 1, got 0.9"));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "nat_mix": {"open": 0.5, "unknown": 0.5})")),
              HasSubstr("nat_mix.unknown: unknown key"));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "misreport": "often")")),
              HasSubstr("misreport: must be a number, got \"often\""));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "budget_ms": 700000)")),
              HasSubstr("budget_ms: must be in [1, 600000], got 700000"));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "relay": {"success": 1, "time_ms": {"median": 900}})")),
              HasSubstr("relay.time_ms.sigma: required"));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "pairs": [{"a": "open", "b": "open"}])")),
              HasSubstr("pairs[0]: needs direct_success, direct_time_ms or both"));
  EXPECT_THAT(
      ParseError(ScenarioJson(R"(, "pairs": [{"a": "open", "b": "open", "direct_success": 1.5}])")),
      HasSubstr("pairs[0].direct_success: must be in [0, 1], got 1.5"));
  EXPECT_THAT(ParseError(ScenarioJson(
                  R"(, "pairs": [{"a": "open", "b": "unknown", "direct_success": 0.5}])")),
              HasSubstr("pairs[0].b: must be one of open, full_cone"));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "pairs": [
                  {"a": "open", "b": "symmetric", "direct_success": 0.5},
                  {"a": "symmetric", "b": "open", "direct_success": 0.6}])")),
              HasSubstr("pairs[1]: open × symmetric is listed twice"));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "phases": [
                  {"at_session": 500, "pairs": []}, {"at_session": 400, "pairs": []}])")),
              HasSubstr("phases[1].at_session: must be a whole number after the previous "
                        "phase's start (500)"));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "phases": [{"at_session": 1000, "pairs": []}])")),
              HasSubstr("phases[0].at_session"));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "phases": [{"at_session": 500}])")),
              HasSubstr("phases[0].pairs: required"));
  EXPECT_THAT(ParseError(R"({"name": "x"})"), HasSubstr("sessions: required"));
  // No conversions: a number given as a string is an error, as is a key given twice.
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "sessions": "1000")")),
              HasSubstr("sessions: must be a number, got \"1000\""));
  EXPECT_THAT(ParseError(ScenarioJson(R"(, "pairs": [{"a": 1, "b": "open"}])")),
              HasSubstr("pairs[0].a: must be a string, got 1"));
  EXPECT_THAT(ParseError(R"({"name": "x", "name": "y"})"), HasSubstr("invalid JSON"));
}

TEST(ScenarioTest, DescriptionIsAllowedAnywhere) {
  const Scenario s = Parse(R"({"description": "d", "name": "described", "sessions": 10,
    "nat_mix": {"description": "d", "open": 1},
    "default_pair": {"description": "d", "direct_success": 0.9,
                     "direct_time_ms": {"description": "d", "median": 1000, "sigma": 0.5}},
    "pairs": [{"description": "d", "a": "open", "b": "open", "direct_success": 0.5}],
    "relay": {"description": "d", "success": 1, "time_ms": {"median": 900, "sigma": 0.4}},
    "relay_cost_ms": 2000, "budget_ms": 30000,
    "phases": [{"description": "d", "at_session": 5, "pairs": []}]})");
  EXPECT_EQ(s.name, "described");
  EXPECT_DOUBLE_EQ(Truth(s, 0, kOpen, kOpen).direct_success, 0.5);
  EXPECT_EQ(s.phases.size(), 2u);
}

TEST(ScenarioTest, LoadNamesTheFile) {
  auto missing = LoadScenario("/nonexistent/scenario.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/scenario.json"));
}

TEST(ScenarioTest, ShippedScenariosParse) {
  int files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(ADVISOR_SOURCE_DIR "/services/sim/scenarios")) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    auto scenario = LoadScenario(entry.path().string());
    EXPECT_TRUE(scenario.ok()) << scenario.status();
  }
  EXPECT_GE(files, 3);
}

}  // namespace
}  // namespace advisor::sim
