// The seed's decision tree (docs/design.md, "Cold start"), private to lib/strategy: the rows of
// the cold-start table, the strategy, timeout and priors each row gives, and the shape of a
// decision for a strategy before any fleet figure replaces its priors.
//
// Shared by engine.cc, which falls back on these rules while a pair's history is thin and mixes
// their priors into its estimates, and explanation.cc, which names the rule it applied.
#ifndef ADVISOR_LIB_STRATEGY_COLD_START_H_
#define ADVISOR_LIB_STRATEGY_COLD_START_H_

#include <cstdint>

#include "lib/strategy/cost.h"
#include "lib/strategy/engine.h"
#include "lib/strategy/types.h"

namespace advisor::strategy::internal {

// Cold-start direct timeouts. A pair held on TURN_ONLY by thin history explores direct-first with
// the TURN_FALLBACK one: the shortest the seed ever gives a risky pair.
inline constexpr uint32_t kDirectTimeoutMs = 15000;
inline constexpr uint32_t kFallbackTimeoutMs = 5000;

// The rows of the cold-start table, in the order they are tried.
enum class ColdRule { kBlocked, kUnknown, kBothSymmetric, kOneSymmetric, kConeOrOpen };

// The first row that `pair` matches.
ColdRule ColdRuleOf(NatPair pair);
// The strategy of a row.
Strategy ColdStrategy(ColdRule rule);
// The cold-start direct timeout of a strategy; 0 for TURN_ONLY.
uint32_t ColdTimeoutMs(Strategy cold);

// What the cost model believes about direct connection before a pair has history, by rule.
DirectPrior DirectPriorOf(ColdRule rule);
// The same for the relay, which the NAT types do not affect: the TURN_ONLY prior.
RelayPrior ColdRelayPrior();

// Strategy-dependent fields, with the strategy's priors as expected figures and no direct timeout
// yet; `blocked` (UDP blocked on a side) prefers TCP.
Decision Shape(NatPair pair, Strategy strategy, bool blocked);

}  // namespace advisor::strategy::internal

#endif  // ADVISOR_LIB_STRATEGY_COLD_START_H_
