#include "services/prober/prober_metrics.h"

namespace advisor::prober {

ProberMetrics::ProberMetrics(prometheus::Registry& registry,
                             std::span<const config::TurnServerConfig> servers) {
  auto& checks = prometheus::BuildCounter()
                     .Name("turn_probe_total")
                     .Help("TURN health checks by server and result (a check covers all its urls)")
                     .Register(registry);
  auto& durations = prometheus::BuildHistogram()
                        .Name("turn_probe_duration_seconds")
                        .Help("Wall time of a TURN health check, all of the server's urls")
                        .Register(registry);
  auto& up = prometheus::BuildGauge()
                 .Name("turn_server_up")
                 .Help(
                     "1 while the advisor may offer the TURN server (healthy, not yet checked, or "
                     "past its unhealthy period), 0 while it is skipped")
                 .Register(registry);
  auto& failures = prometheus::BuildGauge()
                       .Name("turn_server_consecutive_failures")
                       .Help("Failed TURN health checks in a row")
                       .Register(registry);
  auto& latency = prometheus::BuildGauge()
                      .Name("turn_server_latency_seconds")
                      .Help("Smoothed latency of successful TURN health checks")
                      .Register(registry);
  // Checks end by the probe timeout (5 s by default); 10 s leaves room for a raised one.
  const prometheus::Histogram::BucketBoundaries bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                          0.5,   1,    2.5,   5,    10};
  for (const config::TurnServerConfig& server : servers) {
    if (!server.enabled) continue;
    // The region label lets alerts say "no TURN server up in region X".
    const prometheus::Labels labels = {{"server", server.id}, {"region", server.region}};
    auto with = [&labels](const char* name, const char* value) {
      prometheus::Labels more = labels;
      more.emplace(name, value);
      return more;
    };
    ServerSeries& series = servers_[server.id];
    series.ok = &checks.Add(with("result", "ok"));
    series.error = &checks.Add(with("result", "error"));
    series.duration = &durations.Add(labels, bounds);
    series.up = &up.Add(labels);
    series.up->Set(1);  // not checked yet: the advisor offers it
    series.consecutive_failures = &failures.Add(labels);
    series.latency = &latency.Add(labels);
  }
  leader_ = &prometheus::BuildGauge()
                 .Name("turn_prober_leader")
                 .Help("1 while this replica holds its region's leader lock and probes")
                 .Register(registry)
                 .Add({});
  cycle_seconds_ = &prometheus::BuildGauge()
                        .Name("turn_prober_cycle_seconds")
                        .Help("Duration of the last probe cycle")
                        .Register(registry)
                        .Add({});
  cycles_ = &prometheus::BuildCounter()
                 .Name("turn_prober_cycles_total")
                 .Help("Probe cycles run by this replica")
                 .Register(registry)
                 .Add({});
  last_cycle_ = &prometheus::BuildGauge()
                     .Name("turn_prober_last_cycle_timestamp_seconds")
                     .Help("Unix time at which the last probe cycle ended")
                     .Register(registry)
                     .Add({});
  auto& store_errors = prometheus::BuildCounter()
                           .Name("turn_prober_store_errors_total")
                           .Help("PostgreSQL calls of the prober that failed, by operation")
                           .Register(registry);
  store_errors_ = {&store_errors.Add({{"operation", "load"}}),
                   &store_errors.Add({{"operation", "sync"}}),
                   &store_errors.Add({{"operation", "write"}})};
}

void ProberMetrics::RecordCheck(const std::string& server, bool ok, absl::Duration duration) {
  const ServerSeries& series = servers_.at(server);
  (ok ? series.ok : series.error)->Increment();
  series.duration->Observe(absl::ToDoubleSeconds(duration));
}

void ProberMetrics::SetHealth(const std::string& server, const turn::HealthState& health,
                              absl::Time now) {
  const ServerSeries& series = servers_.at(server);
  series.up->Set(turn::Usable(health, now) ? 1 : 0);
  series.consecutive_failures->Set(health.consecutive_failures);
  series.latency->Set(health.smoothed_latency_ms / 1000);
}

void ProberMetrics::RecordCycle(absl::Duration duration, absl::Time end) {
  cycle_seconds_->Set(absl::ToDoubleSeconds(duration));
  cycles_->Increment();
  last_cycle_->Set(absl::ToDoubleSeconds(end - absl::UnixEpoch()));
}

void ProberMetrics::RecordStoreError(StoreOperation operation) {
  store_errors_[static_cast<int>(operation)]->Increment();
}

}  // namespace advisor::prober
