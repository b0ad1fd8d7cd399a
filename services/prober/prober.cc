#include "services/prober/prober.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/telemetry/logging.h"
#include "lib/turn/credentials.h"

namespace advisor::prober {
Prober::Prober(std::vector<config::TurnServerConfig> servers, ProberOptions options,
               store::TurnStore& store, ProbeFunction probe, Clock clock,
               prometheus::Registry& registry)
    : options_(std::move(options)),
      store_(store),
      probe_(std::move(probe)),
      clock_(std::move(clock)),
      metrics_(registry, servers) {
  for (config::TurnServerConfig& server : servers) {
    registry_.push_back(store::RegistryRow(server));
    if (server.enabled) enabled_.push_back(Server{.config = std::move(server), .health = {}});
  }
}

absl::Status Prober::Seed() {
  absl::StatusOr<std::vector<store::TurnHealthRow>> rows = store_.LoadTurnHealth();
  if (!rows.ok()) {
    metrics_.RecordStoreError(StoreOperation::kLoad);
    return rows.status();
  }
  std::map<std::string_view, const turn::HealthState*> stored;
  for (const store::TurnHealthRow& row : *rows) {
    if (row.prober_region == options_.region) stored[row.server_id] = &row.health;
  }
  int taken = 0;
  const absl::Time now = clock_();
  for (Server& server : enabled_) {
    auto it = stored.find(server.config.id);
    if (it != stored.end() && it->second->last_check > server.health.last_check) {
      server.health = *it->second;
      ++taken;
    }
    metrics_.SetHealth(server.config.id, server.health, now);
  }
  spdlog::info("continuing from the stored health of {} of {} TURN servers (prober region \"{}\")",
               taken, enabled_.size(), options_.region);
  return absl::OkStatus();
}

Prober::Check Prober::CheckServer(const config::TurnServerConfig& server) const {
  const absl::Time start = clock_();
  Check check;
  check.done = true;
  auto finish = [&] {
    check.finished = clock_();
    check.duration = check.finished - start;
    return check;
  };
  std::string username = server.auth.username;
  std::string password = server.auth.password;
  if (!server.auth.rest_secret.empty()) {
    absl::StatusOr<turn::RestCredentials> credentials = turn::MakeRestCredentials(
        server.auth.rest_secret, options_.rest_user, start, options_.rest_credential_ttl);
    if (!credentials.ok()) {
      check.error =
          absl::StrCat("cannot make REST API credentials: ", credentials.status().message());
      return finish();
    }
    username = std::move(credentials->username);
    password = std::move(credentials->password);
  }
  // Every url is checked, because the advisor hands each of them to clients and a broken one
  // strands the clients that use it: the server's check succeeds only if all of them do. They
  // share one time budget, so that a dead host costs one timeout rather than one per url, and a
  // cycle of silent servers still takes ceil(servers / concurrency) timeouts whatever the urls.
  absl::Duration budget = options_.probe.timeout;
  double fastest_ms = std::numeric_limits<double>::infinity();
  std::vector<std::string> errors;
  for (const turn::TurnUrl& url : server.parsed_urls) {
    if (budget <= absl::ZeroDuration()) {
      errors.push_back(absl::StrCat(url.text, ": not checked, the check's ",
                                    absl::FormatDuration(options_.probe.timeout), " were used up"));
      continue;
    }
    turn::ProbeOptions probe_options = options_.probe;
    probe_options.timeout = budget;
    const absl::Time before = clock_();
    const turn::ProbeResult result = probe_(url, username, password, probe_options);
    budget -= clock_() - before;
    if (result.ok) {
      fastest_ms = std::min(fastest_ms, absl::ToDoubleMilliseconds(result.latency.total));
    } else {
      errors.push_back(absl::StrCat(url.text, ": ", result.error));
    }
  }
  check.ok = errors.empty();
  // The fastest url stands for the server: how far away it is, without ranking a server below
  // others for also offering TLS, whose handshake adds round trips.
  check.latency_ms = check.ok ? fastest_ms : 0;
  check.error = absl::StrJoin(errors, "; ");
  return finish();
}

void Prober::CheckAll(std::vector<Check>& checks) const {
  std::atomic<size_t> next = 0;
  auto work = [&] {
    while (!stop_.HasBeenNotified()) {
      const size_t i = next.fetch_add(1);
      if (i >= checks.size()) return;
      checks[i] = CheckServer(enabled_[i].config);
    }
  };
  // Threads of a cycle's own: a few hundred are cheap to start once a period, and a cycle that
  // ends leaves nothing behind. This thread is one of the workers.
  const size_t workers = std::min(static_cast<size_t>(options_.concurrency), checks.size());
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (size_t started = 1; started < workers; ++started) {
    try {
      threads.emplace_back(work);
    } catch (const std::system_error& e) {
      // Out of threads (a low RLIMIT_NPROC or memory): probe with the workers there are.
      spdlog::warn("started {} of {} probe workers ({}); this cycle runs with fewer", started,
                   workers, e.what());
      break;
    }
  }
  work();
  for (std::thread& thread : threads) thread.join();
}

void Prober::Record(Server& server, const Check& check) {
  const std::string& id = server.config.id;
  turn::HealthState& health = server.health;
  const turn::HealthStatus before = health.status;
  const turn::HealthTransition transition = turn::RecordCheck(
      health, check.ok, check.latency_ms, check.error, check.finished, options_.health);
  metrics_.RecordCheck(id, check.ok, check.duration);
  metrics_.SetHealth(id, health, check.finished);
  switch (transition) {
    case turn::HealthTransition::kChanged:
      if (health.status == turn::HealthStatus::kUnhealthy) {
        spdlog::warn(
            "TURN server {} is unhealthy after {} failed checks in a row, skipped until {}: {}", id,
            health.consecutive_failures,
            absl::FormatTime(health.unhealthy_until, absl::UTCTimeZone()), health.last_error);
      } else if (before == turn::HealthStatus::kUnhealthy) {
        spdlog::info("TURN server {} recovered: healthy again ({:.1f} ms)", id, check.latency_ms);
      } else {
        // The first check of a server is routine; at info it would be a line per server at start.
        spdlog::debug("TURN server {} is healthy ({:.1f} ms)", id, check.latency_ms);
      }
      break;
    case turn::HealthTransition::kChangePending:
      spdlog::info("TURN server {} failed its check ({} of {} before it is taken out): {}", id,
                   health.consecutive_failures, options_.health.failure_threshold,
                   health.last_error);
      break;
    case turn::HealthTransition::kUnchanged:
      if (!check.ok) spdlog::debug("TURN server {} is still failing: {}", id, health.last_error);
      break;
  }
}

CycleSummary Prober::RunCycle() {
  CycleSummary summary;
  const absl::Time start = clock_();
  // Every cycle, not only at start: it is one cheap transaction that changes nothing when nothing
  // changed, and it puts the registry rows the health rows refer to back after a failed sync or a
  // restored database.
  summary.sync = store_.SyncTurnServers(registry_);
  if (!summary.sync.ok()) {
    metrics_.RecordStoreError(StoreOperation::kSync);
    spdlog::error("cannot sync the TURN server registry: {}", summary.sync);
  }

  std::vector<Check> checks(enabled_.size());
  CheckAll(checks);
  for (size_t i = 0; i < enabled_.size(); ++i) {
    if (!checks[i].done) {
      ++summary.skipped;
      continue;
    }
    Server& server = enabled_[i];
    Record(server, checks[i]);
    ++summary.probed;
    summary.ok += checks[i].ok ? 1 : 0;
    summary.healthy += server.health.status == turn::HealthStatus::kHealthy ? 1 : 0;
    summary.unhealthy += server.health.status == turn::HealthStatus::kUnhealthy ? 1 : 0;
    summary.rows.push_back(store::TurnHealthRow{
        .server_id = server.config.id, .prober_region = options_.region, .health = server.health});
  }

  summary.write = store_.WriteTurnHealth(summary.rows);
  if (!summary.write.ok()) {
    metrics_.RecordStoreError(StoreOperation::kWrite);
    spdlog::error(
        "cannot write the health of {} TURN servers (kept in memory for the next cycle): {}",
        summary.rows.size(), summary.write);
  }
  const absl::Time end = clock_();
  summary.elapsed = end - start;
  metrics_.RecordCycle(summary.elapsed, end);
  spdlog::info(
      "cycle done in {}: {} TURN servers checked ({} ok, {} failed{}); {} healthy, {} unhealthy, "
      "{} not yet decided; health {}",
      absl::FormatDuration(absl::Trunc(summary.elapsed, absl::Milliseconds(1))), summary.probed,
      summary.ok, summary.probed - summary.ok,
      summary.skipped > 0 ? absl::StrCat(", ", summary.skipped, " skipped to stop") : "",
      summary.healthy, summary.unhealthy, summary.probed - summary.healthy - summary.unhealthy,
      summary.write.ok() ? "written" : "NOT written");
  return summary;
}

absl::StatusOr<CycleSummary> Prober::RunOnce(const LeaderCheck& try_lead) {
  absl::StatusOr<bool> leading = try_lead();
  if (!leading.ok()) return leading.status();
  if (!*leading) {
    return absl::FailedPreconditionError(absl::StrCat("another turn-prober leads prober region \"",
                                                      options_.region, "\"; not probing"));
  }
  SetLeader(true);
  if (absl::Status seeded = Seed(); !seeded.ok()) return seeded;
  return RunCycle();
}

void Prober::SetLeader(bool leader) {
  leader_ = leader;
  metrics_.SetLeader(leader);
}

void Prober::Run(const LeaderCheck& try_lead) {
  bool known = false;       // whether leader_ has been decided once (so the first state is logged)
  bool seeded = false;      // Seed() succeeded since this replica last took the lead
  bool lock_error = false;  // the last lock check failed; logged once until it works again
  while (!stop_.HasBeenNotified()) {
    const absl::Time start = clock_();
    absl::StatusOr<bool> lead = try_lead();
    if (!lead.ok() && !lock_error) {
      spdlog::error("cannot check the leader lock, standing by until it can: {}", lead.status());
    } else if (lead.ok() && lock_error) {
      spdlog::info("the leader lock can be checked again");
    }
    lock_error = !lead.ok();
    const bool leading = lead.ok() && *lead;
    if (!known || leading != leader_) {
      if (leading) {
        spdlog::info("leading prober region \"{}\": checking {} TURN servers every {}",
                     options_.region, enabled_.size(), absl::FormatDuration(options_.interval));
      } else if (leader_) {
        spdlog::warn("lost the lead of prober region \"{}\"; standing by", options_.region);
      } else {
        spdlog::info("standing by: another turn-prober leads prober region \"{}\"",
                     options_.region);
      }
      SetLeader(leading);
      known = true;
    }

    if (!leading) {
      seeded = false;
    } else {
      if (!seeded) {
        absl::Status status = Seed();
        seeded = status.ok();
        if (!seeded) {
          // Probing on from empty states would write failure counts that start over.
          spdlog::error("cannot load the stored TURN health; skipping this cycle: {}", status);
        }
      }
      if (seeded) RunCycle();
    }

    const absl::Time next = start + options_.interval;
    const absl::Time now = clock_();
    if (now < next) {
      stop_.WaitForNotificationWithTimeout(next - now);
    } else if (leading && !stop_.HasBeenNotified()) {
      spdlog::warn("the cycle took {}, longer than the {} interval; starting the next one now",
                   absl::FormatDuration(absl::Trunc(now - start, absl::Milliseconds(1))),
                   absl::FormatDuration(options_.interval));
    }
  }
}

}  // namespace advisor::prober
