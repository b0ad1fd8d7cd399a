#include "services/advisor/validation.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace advisor {
namespace {

namespace v1 = connectivity::advisor::v1;

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

absl::StatusOr<std::pair<strategy::NatType, float>> ParseNatReport(const v1::NatReport& report,
                                                                   absl::string_view side) {
  if (!v1::NatType_IsValid(report.nat_type())) {
    return Invalid(absl::StrCat(side, ".nat_type"),
                   absl::StrCat("unknown value ", report.nat_type()));
  }
  const float confidence = report.confidence();
  if (std::isnan(confidence) || confidence < 0.0f || confidence > 1.0f) {
    return Invalid(absl::StrCat(side, ".confidence"),
                   absl::StrCat("must be in [0, 1], got ", confidence));
  }
  return std::make_pair(static_cast<strategy::NatType>(report.nat_type()), confidence);
}

// Region names end up in metric labels and logs: keep them to a safe alphabet.
bool IsRegionName(absl::string_view region) {
  for (char c : region) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<StrategyQuery> ParseGetStrategyRequest(const v1::GetStrategyRequest& request) {
  StrategyQuery query;
  auto local = ParseNatReport(request.local(), "local");
  if (!local.ok()) return local.status();
  auto remote = ParseNatReport(request.remote(), "remote");
  if (!remote.ok()) return remote.status();
  std::tie(query.local, query.local_confidence) = *local;
  std::tie(query.remote, query.remote_confidence) = *remote;
  if (request.region().size() > kMaxRegionBytes) {
    return Invalid("region", absl::StrCat("longer than ", kMaxRegionBytes, " bytes"));
  }
  if (!IsRegionName(request.region())) {
    return Invalid("region", "only letters, digits, '-', '_' and '.' are allowed");
  }
  query.region = request.region();
  return query;
}

absl::StatusOr<strategy::Outcome> ParseReportOutcomeRequest(
    const v1::ReportOutcomeRequest& request) {
  if (request.decision_token().empty()) return Invalid("decision_token", "required");
  if (request.decision_token().size() > kMaxTokenBytes) {
    return Invalid("decision_token", absl::StrCat("longer than ", kMaxTokenBytes, " bytes"));
  }
  if (request.attempts_size() == 0) {
    return Invalid("attempts", "at least one attempt is required: a report says how they went");
  }
  if (request.attempts_size() > kMaxAttempts) {
    return Invalid("attempts", absl::StrCat("at most ", kMaxAttempts, " attempts, got ",
                                            request.attempts_size()));
  }
  strategy::Outcome outcome;
  int direct = 0, relay = 0, succeeded = -1;
  uint64_t total_ms = 0;
  for (int i = 0; i < request.attempts_size(); ++i) {
    const v1::Attempt& attempt = request.attempts(i);
    const std::string field = absl::StrCat("attempts[", i, "]");
    if (attempt.path() != v1::PATH_DIRECT && attempt.path() != v1::PATH_RELAY) {
      return Invalid(absl::StrCat(field, ".path"),
                     absl::StrCat("must be PATH_DIRECT or PATH_RELAY, got ", attempt.path()));
    }
    if (attempt.result() != v1::ATTEMPT_RESULT_SUCCEEDED &&
        attempt.result() != v1::ATTEMPT_RESULT_TIMED_OUT &&
        attempt.result() != v1::ATTEMPT_RESULT_FAILED) {
      return Invalid(
          absl::StrCat(field, ".result"),
          absl::StrCat("must be SUCCEEDED, TIMED_OUT or FAILED, got ", attempt.result()));
    }
    if (attempt.duration_ms() > kMaxDurationMs) {
      return Invalid(absl::StrCat(field, ".duration_ms"),
                     absl::StrCat("at most ", kMaxDurationMs, ", got ", attempt.duration_ms()));
    }
    if (!v1::TurnTransport_IsValid(attempt.transport())) {
      return Invalid(absl::StrCat(field, ".transport"),
                     absl::StrCat("unknown value ", attempt.transport()));
    }
    if (attempt.turn_server_id().size() > kMaxTurnServerIdBytes) {
      return Invalid(absl::StrCat(field, ".turn_server_id"),
                     absl::StrCat("longer than ", kMaxTurnServerIdBytes, " bytes"));
    }
    if (attempt.path() == v1::PATH_DIRECT && ++direct > kMaxDirectAttempts) {
      return Invalid(absl::StrCat(field, ".path"),
                     "a session makes one direct attempt; this is the second");
    }
    if (attempt.path() == v1::PATH_RELAY && ++relay > kMaxRelayAttempts) {
      return Invalid(absl::StrCat(field, ".path"), absl::StrCat("at most ", kMaxRelayAttempts,
                                                                " relay attempts (one per TURN "
                                                                "transport)"));
    }
    if (attempt.result() == v1::ATTEMPT_RESULT_SUCCEEDED) {
      if (succeeded >= 0) {
        return Invalid(
            absl::StrCat(field, ".result"),
            absl::StrCat("a session connects once; attempts[", succeeded, "] already succeeded"));
      }
      succeeded = i;
    }
    total_ms += attempt.duration_ms();
    outcome.attempts.push_back({static_cast<strategy::Path>(attempt.path()),
                                static_cast<strategy::AttemptResult>(attempt.result()),
                                attempt.duration_ms()});
  }
  const uint32_t ttc = request.time_to_connect_ms();
  if (ttc > kMaxDurationMs) {
    return Invalid("time_to_connect_ms", absl::StrCat("at most ", kMaxDurationMs, ", got ", ttc));
  }
  if (request.connected() != (succeeded >= 0)) {
    return Invalid("connected", request.connected() ? "true, but no attempt succeeded"
                                                    : "false, but an attempt succeeded");
  }
  if (!request.connected() && ttc != 0) {
    return Invalid("time_to_connect_ms", "must be 0 when connected is false");
  }
  if (request.connected()) {
    const uint32_t success_ms = request.attempts(succeeded).duration_ms();
    if (ttc > total_ms + kReportSlackMs) {
      return Invalid("time_to_connect_ms",
                     absl::StrCat(ttc, " is more than the attempts took (", total_ms, " ms)"));
    }
    if (ttc + kReportSlackMs < success_ms) {
      return Invalid(
          "time_to_connect_ms",
          absl::StrCat(ttc, " is less than the attempt that connected took (", success_ms, " ms)"));
    }
  }
  outcome.connected = request.connected();
  outcome.time_to_connect_ms = ttc;
  return outcome;
}

absl::Status CheckAgainstAnswer(const v1::ReportOutcomeRequest& request,
                                const TokenClaims& claims) {
  for (int i = 0; i < request.attempts_size(); ++i) {
    const v1::Attempt& attempt = request.attempts(i);
    const std::string field = absl::StrCat("attempts[", i, "]");
    if (attempt.path() == v1::PATH_DIRECT) {
      if (claims.strategy == strategy::Strategy::kTurnOnly) {
        return Invalid(absl::StrCat(field, ".path"),
                       "a direct attempt, but the answer was TURN_ONLY (relay only)");
      }
      if (attempt.duration_ms() > uint64_t{claims.direct_timeout_ms} + kReportSlackMs) {
        return Invalid(absl::StrCat(field, ".duration_ms"),
                       absl::StrCat(attempt.duration_ms(),
                                    " is longer than the advised direct "
                                    "timeout of ",
                                    claims.direct_timeout_ms, " ms"));
      }
    } else if (!attempt.turn_server_id().empty() &&
               attempt.turn_server_id() != claims.turn_server_id) {
      return Invalid(
          absl::StrCat(field, ".turn_server_id"),
          claims.turn_server_id.empty()
              ? std::string("names a TURN server, but the answer offered none")
              : absl::StrCat("must be empty or the offered server '", claims.turn_server_id, "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace advisor
