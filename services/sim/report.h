// The simulator's reports: the ReportOutcomeRequest of each played session, built by the client
// library's report builder as an app's would be, and the run's report, a text table for people
// and JSON (--json) for scripts such as tests/bench/advice.sh, which carry the same figures.
#ifndef ADVISOR_SERVICES_SIM_REPORT_H_
#define ADVISOR_SERVICES_SIM_REPORT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "connectivity/advisor/v1/advisor.pb.h"
#include "services/sim/evaluation.h"
#include "services/sim/model.h"
#include "services/sim/runner.h"
#include "services/sim/scenario.h"

namespace advisor::sim {

// How the run was made, printed above the figures.
struct RunInfo {
  std::string scenario_file;
  std::string target;
  uint64_t seed = 0;
  int concurrency = 0;
  double rate = 0;  // sessions/s at most; 0 = unlimited
  RunStats stats;
};

// The report of a session played on `answer`: relay attempts go through the answer's preferred
// TURN transport. An error when the played session is one the advisor would refuse.
absl::StatusOr<connectivity::advisor::v1::ReportOutcomeRequest> OutcomeReport(
    const connectivity::advisor::v1::GetStrategyResponse& answer, const Played& played);

std::string RenderText(const Scenario& scenario, const RunInfo& info, const Evaluation& evaluation);
// The same figures as JSON; an error only when protobuf's JSON printer refuses the report.
absl::StatusOr<std::string> RenderJson(const Scenario& scenario, const RunInfo& info,
                                       const Evaluation& evaluation);

}  // namespace advisor::sim

#endif  // ADVISOR_SERVICES_SIM_REPORT_H_
