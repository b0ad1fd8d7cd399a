// Short names for the NAT types, shared by the tests that write tables of NAT pairs (strategy,
// sim): with the enumerators' full names a row of pairs no longer fits on a line, and each test
// file had grown its own spelling of the same shorthands.
#ifndef ADVISOR_TESTS_SUPPORT_NAT_TYPES_H_
#define ADVISOR_TESTS_SUPPORT_NAT_TYPES_H_

#include <array>

#include "lib/strategy/types.h"

namespace advisor::testing {

inline constexpr strategy::NatType kUnknown = strategy::NatType::kUnknown;
inline constexpr strategy::NatType kOpen = strategy::NatType::kOpen;
inline constexpr strategy::NatType kFull = strategy::NatType::kFullCone;
inline constexpr strategy::NatType kRestr = strategy::NatType::kRestrictedCone;
inline constexpr strategy::NatType kPort = strategy::NatType::kPortRestrictedCone;
inline constexpr strategy::NatType kSym = strategy::NatType::kSymmetric;
inline constexpr strategy::NatType kBlk = strategy::NatType::kBlocked;

// Every NAT type, in the enum's order, for tests that go through all pairs.
inline constexpr std::array<strategy::NatType, strategy::kNatTypeCount> kAllNatTypes = {
    kUnknown, kOpen, kFull, kRestr, kPort, kSym, kBlk};

}  // namespace advisor::testing

#endif  // ADVISOR_TESTS_SUPPORT_NAT_TYPES_H_
