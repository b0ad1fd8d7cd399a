#include "lib/client/report_builder.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace advisor::client {
namespace {

absl::Status Refuse(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("cannot build a report: ", why));
}

uint32_t Ms(absl::Duration d) {
  const double ms = std::round(absl::ToDoubleMilliseconds(std::max(d, absl::ZeroDuration())));
  return static_cast<uint32_t>(std::min<double>(ms, kReportMaxDurationMs));
}

}  // namespace

absl::StatusOr<v1::ReportOutcomeRequest> BuildReport(const v1::GetStrategyResponse& answer,
                                                     const ObservedSession& session,
                                                     absl::string_view offered_turn_server_id) {
  if (answer.decision_token().empty()) return Refuse("the answer has no decision token");
  if (answer.decision_token().size() > kReportMaxTokenBytes) {
    return Refuse("the decision token is longer than the advisor accepts");
  }
  if (session.attempts.empty()) return Refuse("no attempt was made");
  int direct = 0, relay = 0;
  int succeeded = -1;
  for (size_t i = 0; i < session.attempts.size(); ++i) {
    const ObservedAttempt& a = session.attempts[i];
    if (a.path == v1::PATH_DIRECT) {
      if (answer.strategy() == v1::STRATEGY_TURN_ONLY) {
        return Refuse("a direct attempt under TURN_ONLY");
      }
      ++direct;
    } else if (a.path == v1::PATH_RELAY) {
      ++relay;
      if (!a.turn_server_id.empty() && a.turn_server_id != offered_turn_server_id) {
        return Refuse(absl::StrCat("relay attempt through '", a.turn_server_id,
                                   "', which is not the offered TURN server"));
      }
      if (a.turn_server_id.size() > kReportMaxTurnServerIdBytes) {
        return Refuse("a TURN server id longer than the advisor accepts");
      }
    } else {
      return Refuse("an attempt without a path");
    }
    if (a.result == v1::ATTEMPT_RESULT_SUCCEEDED) {
      if (succeeded >= 0) return Refuse("two attempts succeeded");
      succeeded = static_cast<int>(i);
    } else if (a.result != v1::ATTEMPT_RESULT_TIMED_OUT && a.result != v1::ATTEMPT_RESULT_FAILED) {
      return Refuse("an attempt without a result");
    }
  }
  if (direct > kReportMaxDirectAttempts) return Refuse("more than one direct attempt");
  if (relay > kReportMaxRelayAttempts) return Refuse("more relay attempts than TURN transports");
  if (session.connected != (succeeded >= 0)) {
    return Refuse(session.connected ? "connected, but no attempt succeeded"
                                    : "an attempt succeeded, but the session did not connect");
  }
  if (succeeded >= 0 && succeeded + 1 != static_cast<int>(session.attempts.size())) {
    return Refuse("attempts after the one that connected");
  }

  v1::ReportOutcomeRequest request;
  request.set_decision_token(answer.decision_token());
  const uint64_t direct_limit = uint64_t{answer.direct_timeout_ms()} + kReportSlackMs;
  uint64_t elapsed_ms = 0;
  for (const ObservedAttempt& a : session.attempts) {
    v1::Attempt* out = request.add_attempts();
    out->set_path(a.path);
    out->set_result(a.result);
    uint32_t ms = Ms(a.duration);
    if (a.path == v1::PATH_DIRECT && ms > direct_limit) ms = static_cast<uint32_t>(direct_limit);
    out->set_duration_ms(ms);
    if (a.path == v1::PATH_RELAY) {
      out->set_transport(a.transport);
      out->set_turn_server_id(a.turn_server_id.empty() ? std::string(offered_turn_server_id)
                                                       : a.turn_server_id);
    }
    elapsed_ms += ms;
  }
  request.set_connected(session.connected);
  if (session.connected) {
    request.set_time_to_connect_ms(
        static_cast<uint32_t>(std::min<uint64_t>(elapsed_ms, kReportMaxDurationMs)));
  }
  return request;
}

}  // namespace advisor::client
