// turn-prober: checks every enabled TURN server of the servers file with a real allocation and
// relay round trip, and keeps the fleet's view of their health in PostgreSQL. `run` (the default)
// probes every interval while this replica leads its region; `once` runs one cycle and exits.
// Configuration comes from flags or ADVISOR_* environment variables.
#include <pthread.h>
#include <signal.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "lib/config/flags.h"
#include "lib/config/turn_servers.h"
#include "lib/store/store.h"
#include "lib/store/turn_store.h"
#include "lib/telemetry/logging.h"
#include "lib/telemetry/metrics.h"
#include "lib/turn/probe.h"
#include "services/prober/prober.h"

// Defaults come from ProberOptions, so that the library and the binary cannot disagree.
ABSL_FLAG(std::string, database_url, "", "PostgreSQL connection string or URI (required)");
ABSL_FLAG(std::string, turn_servers_file, "",
          "YAML (or JSON) file of the TURN servers and their secrets (required)");
ABSL_FLAG(absl::Duration, probe_interval, advisor::prober::ProberOptions{}.interval,
          "time from the start of one cycle to the start of the next");
ABSL_FLAG(absl::Duration, probe_timeout, advisor::prober::ProberOptions{}.probe.timeout,
          "limit of one server's check, all of its urls together");
ABSL_FLAG(int64_t, failure_threshold, advisor::prober::ProberOptions{}.health.failure_threshold,
          "failed checks in a row that make a server unhealthy");
ABSL_FLAG(absl::Duration, unhealthy_for, advisor::prober::ProberOptions{}.health.unhealthy_for,
          "how long an unhealthy server is skipped (each further failure extends it)");
ABSL_FLAG(std::string, region, advisor::prober::ProberOptions{}.region,
          "prober region: replicas of one region elect one leader and publish their own view of "
          "health; empty for one prober fleet-wide");
ABSL_FLAG(int64_t, concurrency, advisor::prober::ProberOptions{}.concurrency,
          "servers checked at once; a cycle of N silent servers takes about "
          "N / concurrency x probe-timeout");
ABSL_FLAG(absl::Duration, rest_credential_ttl, advisor::prober::ProberOptions{}.rest_credential_ttl,
          "lifetime of the TURN REST API credentials the prober makes for its own checks");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9465",
          "Prometheus /metrics listen address (run only)");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn or error");

namespace {

constexpr char kSummary[] =
    "Checks every enabled TURN server with a real allocation and relay round trip, and writes the\n"
    "fleet's view of their health to PostgreSQL. Replicas of one --region elect a leader; the\n"
    "others stand by and take over within one interval.\n"
    "Commands: run (default) probes every interval until SIGTERM; once runs one cycle and exits\n"
    "(1 if the results could not be written or another replica leads).";

// Prints what `once` measured, one line per server, for the person or script that ran it.
void PrintSummary(const advisor::prober::CycleSummary& summary) {
  for (const advisor::store::TurnHealthRow& row : summary.rows) {
    const advisor::turn::HealthState& h = row.health;
    if (h.last_error.empty()) {
      fmt::print("{} {} {:.1f} ms\n", row.server_id, advisor::turn::HealthStatusName(h.status),
                 h.last_latency_ms);
    } else {
      fmt::print("{} {} ({} failed in a row): {}\n", row.server_id,
                 advisor::turn::HealthStatusName(h.status), h.consecutive_failures, h.last_error);
    }
  }
}

// SIGTERM and SIGINT ask the prober to stop; SIGUSR1 says the worker is done. main() blocks them
// and RunUntilDoneOrSignalled waits for them: one set, so the two cannot drift apart.
sigset_t ProberSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  return signals;
}

// Runs `work` on a thread of its own while this thread takes SIGTERM and SIGINT with sigwait and
// turns them into prober.Stop(). The worker says it is done with a SIGUSR1 aimed at this thread; a
// SIGUSR1 from outside, before then, is ignored.
int RunUntilDoneOrSignalled(advisor::prober::Prober& prober, const std::function<int()>& work) {
  const sigset_t signals = ProberSignals();
  const pthread_t main_thread = pthread_self();
  int code = 1;
  std::atomic<bool> done = false;
  std::thread worker([&] {
    code = work();
    done = true;
    pthread_kill(main_thread, SIGUSR1);
  });
  while (!done) {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal == SIGUSR1) continue;
    spdlog::info("received {}: finishing the checks under way, writing them, then exiting",
                 signal == SIGTERM ? "SIGTERM" : "SIGINT");
    prober.Stop();
  }
  worker.join();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // Blocked before any thread starts, so every thread inherits the mask and only sigwait takes
  // them.
  const sigset_t blocked = ProberSignals();
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);

  advisor::config::FlagSet flags("turn-prober [run|once] [flags]", kSummary);
  flags.String(FLAGS_database_url, "ADVISOR_DATABASE_URL");
  flags.String(FLAGS_turn_servers_file, "ADVISOR_TURN_SERVERS_FILE");
  flags.Duration(FLAGS_probe_interval, "ADVISOR_PROBE_INTERVAL", absl::Seconds(1));
  flags.Duration(FLAGS_probe_timeout, "ADVISOR_PROBE_TIMEOUT", absl::Milliseconds(100),
                 absl::Minutes(1));
  flags.Int(FLAGS_failure_threshold, "ADVISOR_FAILURE_THRESHOLD", 1, 1000);
  flags.Duration(FLAGS_unhealthy_for, "ADVISOR_UNHEALTHY_FOR");
  flags.String(FLAGS_region, "ADVISOR_REGION");
  flags.Int(FLAGS_concurrency, "ADVISOR_PROBE_CONCURRENCY", 1, 10000);
  flags.Duration(FLAGS_rest_credential_ttl, "ADVISOR_REST_CREDENTIAL_TTL");
  flags.HostPort(FLAGS_metrics_listen, "ADVISOR_METRICS_LISTEN", /*allow_zero_port=*/true);
  flags.String(FLAGS_log_level, "ADVISOR_LOG_LEVEL");

  const advisor::config::ParsedCommand cli =
      advisor::config::ParseCommand(flags, argc, argv, "turn-prober", {"run", "once"}, "run");
  if (cli.exit_code) return *cli.exit_code;
  if (absl::Status status =
          advisor::telemetry::InitLogging(absl::GetFlag(FLAGS_log_level), "turn-prober");
      !status.ok()) {
    std::cerr << "turn-prober: --log-level: " << status.message() << "\n";
    return 2;
  }
  const std::string& command = cli.command;
  const std::string database_url = absl::GetFlag(FLAGS_database_url);
  const std::string servers_file = absl::GetFlag(FLAGS_turn_servers_file);
  advisor::prober::ProberOptions options;
  options.interval = absl::GetFlag(FLAGS_probe_interval);
  options.probe.timeout = absl::GetFlag(FLAGS_probe_timeout);
  options.health.failure_threshold = static_cast<int>(absl::GetFlag(FLAGS_failure_threshold));
  options.health.unhealthy_for = absl::GetFlag(FLAGS_unhealthy_for);
  options.region = absl::GetFlag(FLAGS_region);
  options.concurrency = static_cast<int>(absl::GetFlag(FLAGS_concurrency));
  options.rest_credential_ttl = absl::GetFlag(FLAGS_rest_credential_ttl);
  if (database_url.empty()) {
    std::cerr << "turn-prober: --database-url (or ADVISOR_DATABASE_URL) is required\n";
    return 2;
  }
  if (servers_file.empty()) {
    std::cerr << "turn-prober: --turn-servers-file (or ADVISOR_TURN_SERVERS_FILE) is required\n";
    return 2;
  }
  if (options.rest_credential_ttl <= options.probe.timeout) {
    // Credentials that expire during the check would fail it with a 401 of the prober's making.
    std::cerr << "turn-prober: --rest-credential-ttl must be longer than --probe-timeout\n";
    return 2;
  }
  auto servers = advisor::config::LoadTurnServersFile(servers_file);
  if (!servers.ok()) {
    std::cerr << "turn-prober: " << servers.status().message() << "\n";
    return 2;
  }

  advisor::telemetry::MetricsExposer exposer;
  if (command == "run") {
    if (absl::Status status = exposer.Start(absl::GetFlag(FLAGS_metrics_listen)); !status.ok()) {
      spdlog::error("cannot serve metrics: {}", status);
      return 1;
    }
    spdlog::info("serving metrics on port {}", exposer.port());
  }
  advisor::store::PgStore store(database_url);
  advisor::store::LeaderLock lock(database_url, options.region);
  const advisor::prober::LeaderCheck try_lead = [&lock] { return lock.TryAcquire(); };
  advisor::prober::Prober prober(std::move(*servers), options, store, advisor::turn::Probe,
                                 absl::Now, *exposer.registry());

  const int code = RunUntilDoneOrSignalled(prober, [&] {
    if (command == "run") {
      prober.Run(try_lead);
      return 0;
    }
    absl::StatusOr<advisor::prober::CycleSummary> summary = prober.RunOnce(try_lead);
    if (!summary.ok()) {
      spdlog::error("{}", summary.status());
      return 1;
    }
    PrintSummary(*summary);
    return summary->sync.ok() && summary->write.ok() ? 0 : 1;
  });
  // Closing the lock's session frees the lead for a standby now, not when the process is gone.
  lock.Release();
  spdlog::info("stopped");
  return code;
}
