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
  if (request.attempts_size() > kMaxAttempts) {
    return Invalid("attempts", absl::StrCat("at most ", kMaxAttempts, " attempts, got ",
                                            request.attempts_size()));
  }
  strategy::Outcome outcome;
  bool any_succeeded = false;
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
    any_succeeded |= attempt.result() == v1::ATTEMPT_RESULT_SUCCEEDED;
    outcome.attempts.push_back({static_cast<strategy::Path>(attempt.path()),
                                static_cast<strategy::AttemptResult>(attempt.result()),
                                attempt.duration_ms()});
  }
  if (request.time_to_connect_ms() > kMaxDurationMs) {
    return Invalid("time_to_connect_ms", absl::StrCat("at most ", kMaxDurationMs, ", got ",
                                                      request.time_to_connect_ms()));
  }
  if (!request.connected() && request.time_to_connect_ms() != 0) {
    return Invalid("time_to_connect_ms", "must be 0 when connected is false");
  }
  if (request.attempts_size() > 0 && request.connected() != any_succeeded) {
    return Invalid("connected", request.connected() ? "true, but no attempt succeeded"
                                                    : "false, but an attempt succeeded");
  }
  outcome.connected = request.connected();
  outcome.time_to_connect_ms = request.time_to_connect_ms();
  return outcome;
}

}  // namespace advisor
