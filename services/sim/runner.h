// Drives a running advisor-server with drawn sessions, as a fleet would: for each session
// GetStrategy with the reported NAT types, then the session is played out against its hidden
// outcome and ReportOutcome sends the attempts, durations and result.
//
// Sessions start in index order with up to `concurrency` of them in flight, on gRPC's callback
// API, so that the server sees the phases of a scenario in order and one client process can keep
// thousands of sessions per second going. With a rate, session i starts no earlier than i / rate
// seconds after the first.
#ifndef ADVISOR_SERVICES_SIM_RUNNER_H_
#define ADVISOR_SERVICES_SIM_RUNNER_H_

#include <grpcpp/security/credentials.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/sim/model.h"

namespace advisor::sim {

struct RunOptions {
  std::string target;  // host:port of advisor-server
  // TLS or plaintext to `target` (config::MakeChannelCredentials); null: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials;
  int concurrency = 64;
  // Sessions started per second at most; 0 starts them as fast as the server answers. The server
  // learns on wall-clock intervals (snapshot reload, flush), so the rate sets how many sessions
  // pass before a report can move an answer.
  double rate = 0;
  absl::Duration rpc_timeout = absl::Seconds(10);
  absl::Duration connect_timeout = absl::Seconds(10);
  // More failed RPCs than this stop the run: the server is down or refuses us, and the figures
  // would no longer describe its advice.
  int64_t max_errors = 100;
  // How often progress is logged.
  absl::Duration progress_interval = absl::Seconds(5);
  // The JWT of an install (Session::install), sent as "authorization: Bearer" on both RPCs; unset
  // for a server that allows anonymous callers. A failure counts as a failed GetStrategy.
  std::function<absl::StatusOr<std::string>(int64_t install)> credentials;
};

struct RunStats {
  absl::Duration elapsed;
  double sessions_per_s = 0;
  int64_t get_strategy_errors = 0;
  int64_t report_errors = 0;
  std::string first_error;  // empty when every RPC succeeded
};

struct RunResult {
  // What the advisor told each session; nullopt where GetStrategy failed.
  std::vector<std::optional<Choice>> advisor;
  RunStats stats;
};

// Runs `sessions` against the server. Fails when the server cannot be reached or more than
// max_errors RPCs fail; otherwise the result counts the (few) failed RPCs.
absl::StatusOr<RunResult> Drive(const RunOptions& options, const Scenario& scenario,
                                std::span<const Session> sessions);

}  // namespace advisor::sim

#endif  // ADVISOR_SERVICES_SIM_RUNNER_H_
