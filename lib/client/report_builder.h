// The report a client sends after a session (ReportOutcomeRequest), built from what it observed
// (ObservedSession, e.g. ConnectPlan::Observed()) and the answer it followed.
//
// The builder makes only reports the advisor accepts for the session the answer was given for:
// it checks what would be refused for cause (two direct attempts, two successes, a direct attempt
// under TURN_ONLY, a TURN server other than the one offered) and returns InvalidArgument instead
// of a report; timing it brings into line. Durations are rounded to ms; a direct attempt longer
// than the advised timeout plus the advisor's slack (a late timer) is cut to that limit; the time
// to connect is the sum of the attempts up to the one that connected, since the plan's phases
// follow each other.
#ifndef ADVISOR_LIB_CLIENT_REPORT_BUILDER_H_
#define ADVISOR_LIB_CLIENT_REPORT_BUILDER_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "connectivity/advisor/v1/advisor.pb.h"
#include "lib/client/connect_plan.h"

namespace advisor::client {

// The advisor's limits on reports (services/advisor/validation.h), repeated here because an app
// does not link the server; tests/unit/client/report_builder_test.cc checks that they still agree.
inline constexpr int kReportMaxDirectAttempts = 1;
inline constexpr int kReportMaxRelayAttempts = 3;
inline constexpr uint32_t kReportSlackMs = 500;
inline constexpr uint32_t kReportMaxDurationMs = 10 * 60 * 1000;
inline constexpr size_t kReportMaxTokenBytes = 512;
inline constexpr size_t kReportMaxTurnServerIdBytes = 128;

// `offered_turn_server_id` is the id of the TURN server the answer offered, when the app knows it
// (the answer does not carry it): relay attempts without an id are reported through it, relay
// attempts naming another one are refused. Without it relay attempts go unnamed, which the
// advisor always accepts.
absl::StatusOr<v1::ReportOutcomeRequest> BuildReport(const v1::GetStrategyResponse& answer,
                                                     const ObservedSession& session,
                                                     absl::string_view offered_turn_server_id = "");

}  // namespace advisor::client

#endif  // ADVISOR_LIB_CLIENT_REPORT_BUILDER_H_
