// The reasons a decision gives, private to lib/strategy: one English sentence per step of the
// decision, built from the figures the engine used.
//
// The wording is part of the contract (clients show it, docs/design.md and the tests quote it), so
// it lives in one place, apart from the rules that choose: engine.cc and cold_start.cc decide and
// pass what they decided on, these functions only say it.
#ifndef ADVISOR_LIB_STRATEGY_EXPLANATION_H_
#define ADVISOR_LIB_STRATEGY_EXPLANATION_H_

#include <cstdint>
#include <span>
#include <string>

#include "lib/strategy/cold_start.h"
#include "lib/strategy/cost.h"
#include "lib/strategy/engine.h"
#include "lib/strategy/types.h"

namespace advisor::strategy::internal {

// "cold start for <pair>: <rule>", for a pair answered by the table alone.
std::string ColdStartReason(const std::string& name, ColdRule rule);

// Why a pair with fewer than min_samples aged direct attempts keeps its cold-start rule: it has
// no history at all, or too little.
std::string ThinHistoryReason(const std::string& name, ColdRule rule, const AgedCounts& pooled,
                              const EngineConfig& config);

// The seed's timeout rule moved the direct timeout from `from_ms` to `to_ms` over `successes`
// and `failures` (timeouts included) aged direct attempts; `clamped` when the limits bit.
std::string SeedTimeoutReason(const std::string& name, uint32_t from_ms, uint32_t to_ms,
                              double successes, double failures, bool clamped,
                              const EngineConfig& config);

// The expected figures of `d` come from its strategy's own `sessions` aged sessions of the pair;
// `has_median` when they recorded connect times.
std::string MeasuredFiguresReason(const Decision& d, double sessions, bool has_median,
                                  const std::string& name);
// The expected figures of `d` are its strategy's priors: `sessions` are too few.
std::string PriorFiguresReason(const Decision& d, double sessions, const std::string& name,
                               const EngineConfig& config);

// The exploration of a pair held on TURN_ONLY by its cold-start rule: direct-first for
// `timeout_ms` in `share` of answers, while it has `direct_attempts` aged direct attempts.
std::string ThinExplorationReason(double share, const std::string& name, uint32_t timeout_ms,
                                  double direct_attempts, const EngineConfig& config);

// A pair with a blocked side keeps TURN_ONLY whatever its `pooled` direct figures say.
std::string BlockedReason(const std::string& name, const AgedCounts& pooled);

// The cost model's estimates for a pair: direct success by each of the `direct_first` timeouts,
// and the relay's success and time.
std::string EstimateText(const std::string& name, const DirectCurve& direct,
                         const RelayEstimate& relay, std::span<const OptionEstimate> direct_first,
                         const EngineConfig& config);
// The expected cost of every option.
std::string CostText(const OptionEstimate& relay_only, std::span<const OptionEstimate> direct_first,
                     const CostModel& model);
// `costs`, then which option is the lowest (`chosen`, labelled `label`) and how that compares
// with the pair's cold-start strategy `cold`.
std::string ChoiceReason(const std::string& costs, const OptionEstimate& chosen, Strategy label,
                         Strategy cold, const EngineConfig& config);
// The expected figures of `d`, taken from the cost model's estimates.
std::string FiguresText(const std::string& name, const Decision& d);

// The exploration beside a cost-model choice: `variant` (labelled `variant_label`) in `share` of
// answers instead of `chosen`; `relay_wins` when `chosen` is TURN_ONLY.
std::string ModelExplorationReason(double share, const std::string& name,
                                   const OptionEstimate& variant, Strategy variant_label,
                                   const OptionEstimate& chosen, bool relay_wins,
                                   const EngineConfig& config);

}  // namespace advisor::strategy::internal

#endif  // ADVISOR_LIB_STRATEGY_EXPLANATION_H_
