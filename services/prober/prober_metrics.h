// turn-prober's Prometheus metrics, every per-server series labelled with the server's id and
// region:
// - turn_probe_total{server,region,result="ok"|"error"}: checks (all of a server's urls make one)
// - turn_probe_duration_seconds{server,region}: histogram of a check's wall time, up to 10 s
// - turn_server_up{server,region}: 1 while the advisor may offer the server, 0 while it is skipped
// - turn_server_consecutive_failures{server,region}
// - turn_server_latency_seconds{server,region}: smoothed latency of successful checks
// - turn_prober_leader: 1 while this replica holds its region's leader lock
// - turn_prober_cycle_seconds, turn_prober_cycles_total, turn_prober_last_cycle_timestamp_seconds
// - turn_prober_store_errors_total{operation="load"|"sync"|"write"}: PostgreSQL calls that failed
//
// The servers are fixed for the life of the process, so every series is made at construction and
// exists (at zero) before the first check, which lets absent() and rate() alerts work from the
// start.
#ifndef ADVISOR_SERVICES_PROBER_PROBER_METRICS_H_
#define ADVISOR_SERVICES_PROBER_PROBER_METRICS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>

#include "absl/time/time.h"
#include "lib/config/turn_servers.h"
#include "lib/turn/health.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace advisor::prober {

enum class StoreOperation : uint8_t { kLoad = 0, kSync = 1, kWrite = 2 };

class ProberMetrics {
 public:
  // Series for the enabled servers of `servers`.
  ProberMetrics(prometheus::Registry& registry, std::span<const config::TurnServerConfig> servers);

  // One finished check of `server` (one of those given at construction).
  void RecordCheck(const std::string& server, bool ok, absl::Duration duration);
  // The server's state as the advisor will see it at `now`.
  void SetHealth(const std::string& server, const turn::HealthState& health, absl::Time now);
  void SetLeader(bool leader) { leader_->Set(leader ? 1 : 0); }
  void RecordCycle(absl::Duration duration, absl::Time end);
  void RecordStoreError(StoreOperation operation);

 private:
  struct ServerSeries {
    prometheus::Counter* ok = nullptr;
    prometheus::Counter* error = nullptr;
    prometheus::Histogram* duration = nullptr;
    prometheus::Gauge* up = nullptr;
    prometheus::Gauge* consecutive_failures = nullptr;
    prometheus::Gauge* latency = nullptr;
  };

  std::map<std::string, ServerSeries, std::less<>> servers_;
  prometheus::Gauge* leader_;
  prometheus::Gauge* cycle_seconds_;
  prometheus::Counter* cycles_;
  prometheus::Gauge* last_cycle_;
  std::array<prometheus::Counter*, 3> store_errors_{};
};

}  // namespace advisor::prober

#endif  // ADVISOR_SERVICES_PROBER_PROBER_METRICS_H_
