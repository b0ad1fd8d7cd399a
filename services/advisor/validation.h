// Validation of API requests: every field checked, every error an INVALID_ARGUMENT naming the
// field.
//
// Requests come from a whole fleet of app versions; anything out of range is refused with a message
// a client developer can act on rather than folded silently into the fleet's statistics.
#ifndef ADVISOR_SERVICES_ADVISOR_VALIDATION_H_
#define ADVISOR_SERVICES_ADVISOR_VALIDATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "connectivity/advisor/v1/advisor.pb.h"
#include "lib/strategy/engine.h"
#include "services/advisor/decision_token.h"

namespace advisor {

// Bounds on what a report may claim. Generous for real clients, tight enough to keep junk out.
// A session tries the direct path once and the relay at most once per TURN transport.
inline constexpr int kMaxDirectAttempts = 1;
inline constexpr int kMaxRelayAttempts = 3;
inline constexpr int kMaxAttempts = kMaxDirectAttempts + kMaxRelayAttempts;
// How far a client's own timing may stray from the advice it followed: timers on a busy phone
// fire late.
inline constexpr uint32_t kReportSlackMs = 500;
inline constexpr uint32_t kMaxDurationMs =
    10 * 60 * 1000;  // no connection attempt lasts 10 minutes
inline constexpr size_t kMaxRegionBytes = 64;
inline constexpr size_t kMaxTokenBytes = 512;
inline constexpr size_t kMaxTurnServerIdBytes = 128;
// Whole messages beyond this are refused by gRPC itself before they reach a handler.
inline constexpr int kMaxRequestBytes = 16 * 1024;

struct StrategyQuery {
  strategy::NatType local = strategy::NatType::kUnknown;
  float local_confidence = 0;
  strategy::NatType remote = strategy::NatType::kUnknown;
  float remote_confidence = 0;
  std::string region;
};

absl::StatusOr<StrategyQuery> ParseGetStrategyRequest(
    const connectivity::advisor::v1::GetStrategyRequest& request);

// The outcome part of a report (the token is verified separately), checked for consistency with
// itself: at least one attempt, at most one direct and one succeeded, `connected` exactly when one
// succeeded, and a time to connect that the attempts' durations allow.
absl::StatusOr<strategy::Outcome> ParseReportOutcomeRequest(
    const connectivity::advisor::v1::ReportOutcomeRequest& request);

// Checks a parsed report against the answer its token records: no direct attempt under TURN_ONLY,
// a direct attempt no longer than the advised timeout plus kReportSlackMs, and relay attempts
// through the offered TURN server (or an unnamed one). INVALID_ARGUMENT naming the field and rule.
absl::Status CheckAgainstAnswer(const connectivity::advisor::v1::ReportOutcomeRequest& request,
                                const TokenClaims& claims);

}  // namespace advisor

#endif  // ADVISOR_SERVICES_ADVISOR_VALIDATION_H_
