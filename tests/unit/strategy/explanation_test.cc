// The reasons' wording (explanation.cc): every decision and exploration says something and names
// its pair, and the sentences of each kind of decision read exactly as clients and
// docs/design.md know them. The exact expectations are the engine's output for these histories;
// a change of wording has to change them on purpose.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/strategy/engine.h"
#include "lib/strategy/types.h"
#include "tests/support/nat_types.h"
#include "tests/unit/strategy/histories.h"

namespace advisor::strategy {
namespace {

using ::advisor::testing::kBlk;
using ::advisor::testing::kFull;
using ::advisor::testing::kOpen;
using ::advisor::testing::kRestr;
using ::advisor::testing::kSym;
using ::advisor::testing::VariedHistory;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;

TEST(ReasonsTest, NonEmptyAndNamePair) {
  std::vector<Decision> all;
  for (const Advice& advice : DecideAll(VariedHistory(), EngineConfig{})) {
    all.push_back(advice.decision);
    if (advice.exploration.has_value()) all.push_back(*advice.exploration);
  }
  for (const Decision& d : all) {
    const std::string name =
        std::string(NatTypeName(d.pair.a)) + " × " + std::string(NatTypeName(d.pair.b));
    ASSERT_FALSE(d.reasons.empty()) << name;
    for (const std::string& reason : d.reasons) EXPECT_FALSE(reason.empty()) << name;
    EXPECT_THAT(d.reasons, Contains(HasSubstr(name)));
  }
}

TEST(ReasonsTest, ColdStartWording) {
  EXPECT_THAT(
      ColdStart(NatPair::Of(kSym, kOpen)).reasons,
      ElementsAre("cold start for open × symmetric: one side symmetric → TURN_FALLBACK with a 5 "
                  "s direct timeout"));
}

TEST(ReasonsTest, NoHistoryWording) {
  EXPECT_THAT(
      Decide(NatPair::Of(kOpen, kOpen), History{}, EngineConfig{}).reasons,
      ElementsAre("no fleet history for open × open yet: using the cold-start rule 'both sides "
                  "cone or open → DIRECT with a 15 s timeout'",
                  "expected success 90% and connect time 1500 ms are the DIRECT priors: open × "
                  "open has 0 of the 50 recent DIRECT sessions needed to use its own figures"));
}

TEST(ReasonsTest, ThinHistoryAndSeedTimeoutWording) {
  const NatPair pair = NatPair::Of(kOpen, kOpen);
  History history;
  AgedCounts& c = history.at(pair, Strategy::kDirect);
  c.sessions = 30;
  c.direct_attempts = 30;
  c.direct_timeouts = 30;
  EXPECT_THAT(
      Decide(pair, history, EngineConfig{}).reasons,
      ElementsAre("fleet history for open × open is too thin to move the decision (30 of the 50 "
                  "recent direct attempts needed): using the cold-start rule 'both sides cone "
                  "or open → DIRECT with a 15 s timeout'",
                  "direct timeout for open × open adapted from 15000 ms to 30000 ms: ×0.9 per "
                  "direct success (0 recent) and ×1.2 per direct failure or timeout (30 "
                  "recent), clamped to 3–30 s",
                  "expected success 90% and connect time 1500 ms are the DIRECT priors: open × "
                  "open has 30 of the 50 recent DIRECT sessions needed to use its own figures"));
}

TEST(ReasonsTest, BlockedWording) {
  const NatPair pair = NatPair::Of(kBlk, kOpen);
  History history;
  AgedCounts& c = history.at(pair, Strategy::kTurnOnly);
  c.sessions = 100;
  c.direct_attempts = 100;
  c.direct_successes = 40;
  c.direct_failures = 60;
  c.connected = 98;
  c.connect_ms_hist[3] = 98;
  EXPECT_THAT(
      Decide(pair, history, EngineConfig{}).reasons,
      ElementsAre("fleet direct success for open × blocked is 40% over 100 recent attempts, but "
                  "one side has UDP blocked: the cold-start TURN_ONLY stands (a blocked side "
                  "never relaxes)",
                  "expected success 98% and median connect time 750 ms from 100 recent "
                  "TURN_ONLY sessions of open × blocked"));
}

TEST(ReasonsTest, ThinTurnOnlyExplorationWording) {
  const NatPair pair = NatPair::Of(kSym, kSym);
  History history;
  AgedCounts& c = history.at(pair, Strategy::kTurnOnly);
  c.sessions = 60;
  c.connected = 60;
  c.relay_attempts = 60;
  c.relay_successes = 60;
  const Advice advice = Advise(pair, history, EngineConfig{});
  EXPECT_THAT(
      advice.decision.reasons,
      ElementsAre("fleet history for symmetric × symmetric is too thin to move the decision (0 "
                  "of the 50 recent direct attempts needed): using the cold-start rule 'both "
                  "sides symmetric → TURN_ONLY with relay-only ICE'",
                  "expected success 100% (connect time is the prior: no connect times recorded) "
                  "from 60 recent TURN_ONLY sessions of symmetric × symmetric"));
  ASSERT_TRUE(advice.exploration.has_value());
  EXPECT_THAT(
      advice.exploration->reasons,
      ElementsAre("exploration (25% of answers for symmetric × symmetric): direct first for 5 s "
                  "(TURN_FALLBACK) instead of TURN_ONLY, so that the fleet measures direct "
                  "connection: it has 0 of the 50 recent direct attempts needed to judge it",
                  "expected success 95% and connect time 3000 ms are the TURN_FALLBACK priors: "
                  "symmetric × symmetric has 0 of the 50 recent TURN_FALLBACK sessions needed "
                  "to use its own figures"));
}

TEST(ReasonsTest, CostModelWording) {
  const NatPair pair = NatPair::Of(kFull, kFull);
  History history;
  AgedCounts& c = history.at(pair, Strategy::kDirect);
  c.sessions = 100;
  c.connected = 100;
  c.direct_attempts = 100;
  c.direct_successes = 96;
  c.direct_ms_hist[3] = 96;
  c.direct_timeouts = 4;
  c.direct_censored_hist[7] = 4;
  c.relay_attempts = 4;
  c.relay_successes = 4;
  c.relay_ms_hist[3] = 4;
  const Advice advice = Advise(pair, history, EngineConfig{});
  EXPECT_THAT(
      advice.decision.reasons,
      ElementsAre("fleet direct success for full_cone × full_cone over 100 recent direct "
                  "attempts, each timed-out one counted as far as it waited and 20 prior "
                  "pseudo-attempts mixed in: 93.1% within 3 s, 94.6% within 5 s, 94.9% within 8 "
                  "s, 94.9% within 12 s, 94.9% within 20 s, 94.9% within 30 s (none assumed "
                  "past 8 s: no attempt was watched longer); the relay connects 99.1% of the "
                  "time in 868 ms on average (4 recent relay attempts and the prior)",
                  "expected cost per session (mean connect time, a failure counting the 30 s "
                  "budget, plus 2000 ms per session that tries the relay): TURN_ONLY 3110 ms; "
                  "direct first for 3 s 1170 ms, 5 s 1243 ms, 8 s 1387 ms, 12 s 1587 ms, 20 s "
                  "1987 ms, 30 s 2343 ms; the lowest is direct first for 3 s (DIRECT: estimated "
                  "direct success by then 93.1%, at or above 90%): the cold-start DIRECT stands",
                  "expected success 99.9% and mean connect time 1017 ms for DIRECT with a 3 s "
                  "direct timeout on full_cone × full_cone, from the same estimates"));
  ASSERT_TRUE(advice.exploration.has_value());
  EXPECT_THAT(
      advice.exploration->reasons,
      ElementsAre("exploration (5% of answers for full_cone × full_cone): direct first for 5 s "
                  "(DIRECT: estimated direct success by then 94.6%, at or above 90%) instead of "
                  "direct first for 3 s, to measure direct success past 3 s; expected cost 1243 "
                  "ms against 1170 ms",
                  "fleet direct success for full_cone × full_cone over 100 recent direct "
                  "attempts, each timed-out one counted as far as it waited and 20 prior "
                  "pseudo-attempts mixed in: 93.1% within 3 s, 94.6% within 5 s, 94.9% within 8 "
                  "s, 94.9% within 12 s, 94.9% within 20 s, 94.9% within 30 s (none assumed "
                  "past 8 s: no attempt was watched longer); the relay connects 99.1% of the "
                  "time in 868 ms on average (4 recent relay attempts and the prior)",
                  "expected cost per session (mean connect time, a failure counting the 30 s "
                  "budget, plus 2000 ms per session that tries the relay): TURN_ONLY 3110 ms; "
                  "direct first for 3 s 1170 ms, 5 s 1243 ms, 8 s 1387 ms, 12 s 1587 ms, 20 s "
                  "1987 ms, 30 s 2343 ms",
                  "expected success 99.9% and mean connect time 1123 ms for DIRECT with a 5 s "
                  "direct timeout on full_cone × full_cone, from the same estimates"));
}

TEST(ReasonsTest, EscalationWording) {
  const NatPair pair = NatPair::Of(kRestr, kRestr);
  History history;
  AgedCounts& c = history.at(pair, Strategy::kDirect);
  c.sessions = 100;
  c.direct_attempts = 100;
  c.direct_successes = 5;
  c.direct_ms_hist[3] = 5;
  c.direct_timeouts = 95;
  c.direct_censored_hist[10] = 95;
  c.relay_attempts = 95;
  c.relay_successes = 95;
  c.relay_ms_hist[3] = 95;
  const Advice advice = Advise(pair, history, EngineConfig{});
  ASSERT_EQ(advice.decision.reasons.size(), 3u);
  EXPECT_THAT(advice.decision.reasons[1],
              EndsWith("; the lowest is TURN_ONLY: escalated DIRECT → TURN_ONLY"));
  EXPECT_EQ(advice.decision.reasons[2],
            "expected success 99.8% and mean connect time 740 ms for TURN_ONLY on "
            "restricted_cone × restricted_cone, from the same estimates");
  ASSERT_TRUE(advice.exploration.has_value());
  ASSERT_FALSE(advice.exploration->reasons.empty());
  EXPECT_EQ(advice.exploration->reasons[0],
            "exploration (25% of answers for restricted_cone × restricted_cone): direct "
            "first for 3 s (TURN_FALLBACK: estimated direct success by then 17.3%, below "
            "90%) instead of TURN_ONLY, so that the fleet keeps measuring whether direct "
            "connection works; expected cost 5001 ms against 2791 ms");
}

}  // namespace
}  // namespace advisor::strategy
