// The seed's decision tree (cold_start.cc): ColdStart for every ordered pair of NAT types, and the
// rule its reason names. That Decide answers the same with no history is checked here too, since
// the table is what every pair gets first.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/strategy/engine.h"
#include "lib/strategy/types.h"
#include "tests/support/nat_types.h"

namespace advisor::strategy {
namespace {

using ::advisor::testing::kAllNatTypes;
using ::advisor::testing::kBlk;
using ::advisor::testing::kFull;
using ::advisor::testing::kOpen;
using ::advisor::testing::kSym;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;

// The seed's table for every ordered pair of the seven types.
//   D = DIRECT 15 s, F = TURN_FALLBACK 5 s, R = TURN_ONLY relay-only over UDP,
//   B = TURN_ONLY relay-only over TCP (UDP blocked).
// Rows and columns: unknown, open, full_cone, restricted_cone, port_restricted_cone, symmetric,
// blocked.
constexpr const char* kColdTable[kNatTypeCount] = {
    "FFFFFFB",  // unknown
    "FDDDDFB",  // open
    "FDDDDFB",  // full_cone
    "FDDDDFB",  // restricted_cone
    "FDDDDFB",  // port_restricted_cone
    "FFFFFRB",  // symmetric
    "BBBBBBB",  // blocked
};

TEST(ColdStartTest, WholeTable) {
  for (int i = 0; i < kNatTypeCount; ++i) {
    for (int j = 0; j < kNatTypeCount; ++j) {
      const NatType x = kAllNatTypes[i];
      const NatType y = kAllNatTypes[j];
      SCOPED_TRACE(std::string(NatTypeName(x)) + " × " + std::string(NatTypeName(y)));
      const Decision d = ColdStart(NatPair{x, y});
      EXPECT_EQ(d.pair, NatPair::Of(x, y));
      EXPECT_EQ(d.history_samples, 0u);
      switch (kColdTable[i][j]) {
        case 'D':
          EXPECT_EQ(d.strategy, Strategy::kDirect);
          EXPECT_EQ(d.direct_timeout_ms, 15000u);
          EXPECT_EQ(d.preferred_transport, Transport::kUdp);
          EXPECT_FALSE(d.relay_only);
          EXPECT_EQ(d.ice_candidate_pool_size, 1u);
          EXPECT_DOUBLE_EQ(d.expected_success_rate, 0.90);
          EXPECT_EQ(d.expected_connect_time_ms, 1500u);
          break;
        case 'F':
          EXPECT_EQ(d.strategy, Strategy::kTurnFallback);
          EXPECT_EQ(d.direct_timeout_ms, 5000u);
          EXPECT_EQ(d.preferred_transport, Transport::kUdp);
          EXPECT_FALSE(d.relay_only);
          EXPECT_EQ(d.ice_candidate_pool_size, 1u);
          EXPECT_DOUBLE_EQ(d.expected_success_rate, 0.95);
          EXPECT_EQ(d.expected_connect_time_ms, 3000u);
          break;
        case 'R':
        case 'B':
          EXPECT_EQ(d.strategy, Strategy::kTurnOnly);
          EXPECT_EQ(d.direct_timeout_ms, 0u);
          EXPECT_EQ(d.preferred_transport,
                    kColdTable[i][j] == 'B' ? Transport::kTcp : Transport::kUdp);
          EXPECT_TRUE(d.relay_only);
          EXPECT_EQ(d.ice_candidate_pool_size, 1u);
          EXPECT_DOUBLE_EQ(d.expected_success_rate, 0.99);
          EXPECT_EQ(d.expected_connect_time_ms, 900u);
          break;
        default:
          FAIL() << "bad table entry";
      }
      ASSERT_EQ(d.reasons.size(), 1u);
      EXPECT_THAT(d.reasons[0], HasSubstr(std::string(NatTypeName(d.pair.a)) + " × " +
                                          std::string(NatTypeName(d.pair.b))));

      // With no history Decide answers exactly the cold-start table too.
      const Decision decided = Decide(NatPair{x, y}, History{}, EngineConfig{});
      EXPECT_EQ(decided.pair, d.pair);
      EXPECT_EQ(decided.strategy, d.strategy);
      EXPECT_EQ(decided.direct_timeout_ms, d.direct_timeout_ms);
      EXPECT_EQ(decided.preferred_transport, d.preferred_transport);
      EXPECT_EQ(decided.relay_only, d.relay_only);
      EXPECT_EQ(decided.ice_candidate_pool_size, d.ice_candidate_pool_size);
      EXPECT_EQ(decided.expected_success_rate, d.expected_success_rate);
      EXPECT_EQ(decided.expected_connect_time_ms, d.expected_connect_time_ms);
      EXPECT_EQ(decided.history_samples, 0u);
      EXPECT_THAT(decided.reasons, Contains(HasSubstr("no fleet history for")));
    }
  }
}

TEST(ColdStartTest, ReasonNamesTheRule) {
  EXPECT_THAT(ColdStart(NatPair::Of(kFull, kSym)).reasons[0],
              AllOf(HasSubstr("full_cone × symmetric"), HasSubstr("one side symmetric"),
                    HasSubstr("TURN_FALLBACK")));
  EXPECT_THAT(ColdStart(NatPair::Of(kBlk, kOpen)).reasons[0],
              AllOf(HasSubstr("open × blocked"), HasSubstr("TCP")));
}

}  // namespace
}  // namespace advisor::strategy
