// The seed's decision tree (docs/design.md, "Cold start"): which row of the table a pair falls
// under, what each row answers, and the priors that stand in for fleet figures until there are
// some.
//
// Kept apart from the learning in engine.cc because it is the fixed part: it changes only when
// the table does, and ColdStart is what every pair gets before the fleet has said anything.
#include "lib/strategy/cold_start.h"

#include <cstdint>

#include "lib/strategy/cost.h"
#include "lib/strategy/engine.h"
#include "lib/strategy/explanation.h"
#include "lib/strategy/types.h"

namespace advisor::strategy {
namespace internal {
namespace {

// Priors: what a decision promises before the fleet has said anything about a (pair, strategy).
// They are round guesses, not measurements, ordered the way the strategies behave; fleet figures
// replace them once the strategy has min_samples aged sessions for the pair.
// DIRECT between cone NATs connects within a few round trips of gathering; what fails is mostly
// firewalls that the NAT type does not reveal.
constexpr double kDirectPriorSuccess = 0.90;
constexpr uint32_t kDirectPriorConnectMs = 1500;
// TURN_FALLBACK rescues most failed direct attempts with the relay, but those first wait out the
// direct timeout, which pulls the typical connect time up.
constexpr double kFallbackPriorSuccess = 0.95;
constexpr uint32_t kFallbackPriorConnectMs = 3000;
// TURN_ONLY: a relay allocation nearly always works and nothing has to fail before it is tried.
constexpr double kTurnOnlyPriorSuccess = 0.99;
constexpr uint32_t kTurnOnlyPriorConnectMs = 900;

// What the cost model believes about direct connection before a pair has history, by cold-start
// rule: round guesses in line with the table (a cone pair connects like the DIRECT prior; a
// symmetric side makes direct a coin toss, two make it rare), with the same spread of connect
// times. Only their shape matters much: prior_weight pseudo-attempts are soon outweighed.
constexpr double kPriorSigma = 0.6;
constexpr DirectPrior kConeDirectPrior = {kDirectPriorSuccess, kDirectPriorConnectMs, kPriorSigma};
constexpr DirectPrior kRiskyDirectPrior = {0.5, 2000, kPriorSigma};
constexpr DirectPrior kBothSymmetricDirectPrior = {0.1, 2000, kPriorSigma};
constexpr RelayPrior kRelayPrior = {kTurnOnlyPriorSuccess, kTurnOnlyPriorConnectMs};

// The ICE candidate pool size of every answer. Each pooled gathering session holds one TURN
// allocation per TURN url, and a browser takes the pooled session for its first gathering: a pool
// of one pre-gathers without any call holding more than one allocation per TURN transport (the
// seed's larger, NAT-specific pools made up to eight, and a few calls exhausted a relay's ports).
// Browsers refuse to change the pool size once gathering has begun, so the fallback configuration
// uses the same.
constexpr uint32_t kPoolSize = 1;

}  // namespace

ColdRule ColdRuleOf(NatPair pair) {
  auto either = [pair](NatType t) { return pair.a == t || pair.b == t; };
  if (either(NatType::kBlocked)) return ColdRule::kBlocked;
  if (either(NatType::kUnknown)) return ColdRule::kUnknown;
  if (pair.a == NatType::kSymmetric && pair.b == NatType::kSymmetric) {
    return ColdRule::kBothSymmetric;
  }
  if (either(NatType::kSymmetric)) return ColdRule::kOneSymmetric;
  return ColdRule::kConeOrOpen;
}

Strategy ColdStrategy(ColdRule rule) {
  switch (rule) {
    case ColdRule::kBlocked:
    case ColdRule::kBothSymmetric:
      return Strategy::kTurnOnly;
    case ColdRule::kUnknown:
    case ColdRule::kOneSymmetric:
      return Strategy::kTurnFallback;
    case ColdRule::kConeOrOpen:
      return Strategy::kDirect;
  }
  return Strategy::kTurnFallback;
}

uint32_t ColdTimeoutMs(Strategy cold) {
  switch (cold) {
    case Strategy::kDirect:
      return kDirectTimeoutMs;
    case Strategy::kTurnOnly:
      return 0;
    case Strategy::kTurnFallback:
    case Strategy::kUnspecified:
      break;
  }
  return kFallbackTimeoutMs;
}

DirectPrior DirectPriorOf(ColdRule rule) {
  switch (rule) {
    case ColdRule::kConeOrOpen:
      return kConeDirectPrior;
    case ColdRule::kBothSymmetric:
      return kBothSymmetricDirectPrior;
    case ColdRule::kUnknown:
    case ColdRule::kOneSymmetric:
    case ColdRule::kBlocked:
      break;
  }
  return kRiskyDirectPrior;
}

RelayPrior ColdRelayPrior() { return kRelayPrior; }

Decision Shape(NatPair pair, Strategy strategy, bool blocked) {
  Decision d;
  d.pair = pair;
  d.strategy = strategy;
  d.preferred_transport = blocked ? Transport::kTcp : Transport::kUdp;
  d.relay_only = strategy == Strategy::kTurnOnly;
  switch (strategy) {
    case Strategy::kDirect:
      d.ice_candidate_pool_size = kPoolSize;
      d.expected_success_rate = kDirectPriorSuccess;
      d.expected_connect_time_ms = kDirectPriorConnectMs;
      break;
    case Strategy::kTurnOnly:
      d.ice_candidate_pool_size = kPoolSize;
      d.expected_success_rate = kTurnOnlyPriorSuccess;
      d.expected_connect_time_ms = kTurnOnlyPriorConnectMs;
      break;
    case Strategy::kTurnFallback:
    case Strategy::kUnspecified:
      d.ice_candidate_pool_size = kPoolSize;
      d.expected_success_rate = kFallbackPriorSuccess;
      d.expected_connect_time_ms = kFallbackPriorConnectMs;
      break;
  }
  return d;
}

}  // namespace internal

Decision ColdStart(NatPair pair) {
  // Through the index so that an unordered pair, or a type outside the enum, takes its normal form.
  const NatPair p = NatPair::FromIndex(pair.Index());
  const internal::ColdRule rule = internal::ColdRuleOf(p);
  const Strategy strategy = internal::ColdStrategy(rule);
  Decision d = internal::Shape(p, strategy, rule == internal::ColdRule::kBlocked);
  d.direct_timeout_ms = internal::ColdTimeoutMs(strategy);
  d.reasons.push_back(internal::ColdStartReason(PairName(p), rule));
  return d;
}

}  // namespace advisor::strategy
