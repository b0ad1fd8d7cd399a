// The simulator's report: a text table for people, JSON (--json) for scripts such as
// tests/bench/advice.sh. Both carry the same figures.
#ifndef ADVISOR_SERVICES_SIM_REPORT_H_
#define ADVISOR_SERVICES_SIM_REPORT_H_

#include <cstdint>
#include <string>

#include "services/sim/evaluation.h"
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

std::string RenderText(const Scenario& scenario, const RunInfo& info, const Evaluation& evaluation);
std::string RenderJson(const Scenario& scenario, const RunInfo& info, const Evaluation& evaluation);

}  // namespace advisor::sim

#endif  // ADVISOR_SERVICES_SIM_REPORT_H_
