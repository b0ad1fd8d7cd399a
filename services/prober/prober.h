// The TURN prober's logic: one cycle probes every enabled TURN server of the servers file with a
// bounded pool of workers, folds each result into that server's health state machine, and writes
// the fleet's view to PostgreSQL; the loop around it runs a cycle every period while this replica
// leads its region, and stands by otherwise.
//
// Everything outside (the TURN probe, the store, the clock, the leader lock) comes in through
// interfaces, so the tests drive it with fakes; main.cc only wires the real ones.
#ifndef ADVISOR_SERVICES_PROBER_PROBER_H_
#define ADVISOR_SERVICES_PROBER_PROBER_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "lib/config/turn_servers.h"
#include "lib/store/turn_store.h"
#include "lib/turn/health.h"
#include "lib/turn/probe.h"
#include "prometheus/registry.h"
#include "services/prober/prober_metrics.h"

namespace advisor::prober {

// turn::Probe, or a fake.
using ProbeFunction =
    std::function<turn::ProbeResult(const turn::TurnUrl& url, std::string_view username,
                                    std::string_view password, const turn::ProbeOptions& options)>;
// The time of health records, check budgets and the schedule; absl::Now outside tests.
using Clock = std::function<absl::Time()>;
// Whether this replica leads its region now (store::LeaderLock::TryAcquire); an error counts as
// not leading.
using LeaderCheck = std::function<absl::StatusOr<bool>()>;

struct ProberOptions {
  // The prober_region of the health rows written; "" for the single fleet-wide prober.
  std::string region;
  // Start-to-start time between cycles.
  absl::Duration interval = absl::Seconds(60);
  // probe.timeout bounds a server's whole check, all of its urls together.
  turn::ProbeOptions probe;
  turn::HealthConfig health;
  // Checks running at once. A cycle of N servers that all time out takes about
  // ceil(N / concurrency) × probe.timeout: 1000 servers, 256 workers and 5 s make 20 s.
  int concurrency = 256;
  // Lifetime of the TURN REST API credentials the prober makes for its own checks.
  absl::Duration rest_credential_ttl = absl::Minutes(10);
  // The user part of those credentials ("<expiry>:turn-prober"), which shows in coturn's logs.
  std::string rest_user = "turn-prober";
};

struct CycleSummary {
  int probed = 0;   // servers checked this cycle
  int ok = 0;       // ... whose check succeeded
  int skipped = 0;  // enabled servers not checked because Stop() came first
  int healthy = 0;  // of the probed servers, by status after the check
  int unhealthy = 0;
  absl::Duration elapsed;
  absl::Status sync;   // SyncTurnServers
  absl::Status write;  // WriteTurnHealth
  // The health of every probed server after the cycle, as written (or as it failed to be).
  std::vector<store::TurnHealthRow> rows;
};

class Prober {
 public:
  // `store`, `probe`, `clock` and `registry` must outlive the prober. Servers with enabled = false
  // are synced to the registry (as disabled) but never probed.
  Prober(std::vector<config::TurnServerConfig> servers, ProberOptions options,
         store::TurnStore& store, ProbeFunction probe, Clock clock, prometheus::Registry& registry);

  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Takes this region's stored health for each enabled server unless the state in memory is more
  // recent (a later last_check). Called when leadership is gained, so that a restart or a
  // takeover continues the consecutive failure counts instead of starting them over, while checks
  // this process made but could not write (the database was away) are not thrown back.
  absl::Status Seed();

  // One cycle: sync the registry, check every enabled server, record the results, write the health
  // of the servers checked in one call. A failed sync or write is reported in the summary and
  // logged; the states stay in memory and the next cycle writes them again.
  CycleSummary RunCycle();

  // What `turn-prober once` does: takes the lead (an error if the lock cannot be checked or
  // another replica holds it), seeds, runs one cycle. The summary's sync and write tell whether
  // the results reached the database.
  absl::StatusOr<CycleSummary> RunOnce(const LeaderCheck& try_lead);

  // Runs cycles every options.interval, measured start to start, while `try_lead` says this
  // replica leads, until Stop(). A standby asks again every interval, so it takes over within one
  // interval once the leader's lock is gone. A cycle that overruns the interval is followed by the
  // next one at once.
  void Run(const LeaderCheck& try_lead);

  // Thread-safe. Ends Run() and the current cycle: checks in progress finish (they are bounded by
  // the probe timeout), checks not started yet are skipped, and what was measured is written.
  void Stop() { stop_.Notify(); }

 private:
  struct Server {
    config::TurnServerConfig config;
    turn::HealthState health;
  };
  // One server's check, as a worker measured it.
  struct Check {
    bool done = false;  // false: skipped because of Stop()
    bool ok = false;
    double latency_ms = 0;
    std::string error;
    absl::Time finished;
    absl::Duration duration;
  };

  Check CheckServer(const config::TurnServerConfig& server) const;
  // Fills checks[i] for enabled_[i], with up to options_.concurrency workers.
  void CheckAll(std::vector<Check>& checks) const;
  // Folds one check into the server's state; logs a change of status.
  void Record(Server& server, const Check& check);
  void SetLeader(bool leader);

  const ProberOptions options_;
  store::TurnStore& store_;
  const ProbeFunction probe_;
  const Clock clock_;
  // Every server of the file, as synced to the registry.
  std::vector<store::TurnServerRow> registry_;
  // The enabled servers with their health, in file order.
  std::vector<Server> enabled_;
  ProberMetrics metrics_;
  absl::Notification stop_;
  bool leader_ = false;
};

}  // namespace advisor::prober

#endif  // ADVISOR_SERVICES_PROBER_PROBER_H_
