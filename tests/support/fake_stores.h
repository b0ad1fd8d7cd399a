// In-memory stores behind the store interfaces of lib/store, for the unit tests of what reads and
// writes them (the outcome buffer's flusher, the prober, the snapshot reload) without PostgreSQL.
#ifndef ADVISOR_TESTS_SUPPORT_FAKE_STORES_H_
#define ADVISOR_TESTS_SUPPORT_FAKE_STORES_H_

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/store/store.h"
#include "lib/store/turn_store.h"

namespace advisor::testing {

// Behaves like the PostgreSQL store: a flush id is applied once, a token id counts once. Can be
// told to fail the next write before or after "committing" it. LoadAggregates returns
// `aggregates`, or `load_error` when it is set, and records what it was asked for.
class FakeOutcomeStore : public store::OutcomeStore {
 public:
  enum class Fault { kNone, kBeforeCommit, kAfterCommit };

  absl::StatusOr<store::FlushResult> ApplyFlush(const store::FlushBatch& batch) override {
    const Fault fault = std::exchange(next_fault, Fault::kNone);
    if (fault == Fault::kBeforeCommit) return absl::UnavailableError("connection refused");
    calls.push_back(batch.flush_id);
    store::FlushResult result;
    if (applied_ids.insert(batch.flush_id).second) {
      for (const store::ReportedSession& session : batch.sessions) {
        if (!used_tokens.insert(session.token_id).second) {
          ++result.duplicates;
          continue;
        }
        ++result.counted;
        sessions += 1;
        connected += session.outcome.connected ? 1 : 0;
      }
    }
    if (fault == Fault::kAfterCommit) return absl::UnavailableError("connection lost");
    return result;
  }
  absl::StatusOr<int64_t> ForgetExpiredTokens(absl::Time, int64_t) override { return 0; }
  absl::StatusOr<std::vector<strategy::BucketAggregate>> LoadAggregates(absl::Time since) override {
    since_asked = since;
    if (!load_error.ok()) return load_error;
    return aggregates;
  }

  Fault next_fault = Fault::kNone;
  std::set<std::string> applied_ids;
  std::set<store::TokenId> used_tokens;
  std::vector<std::string> calls;
  int64_t sessions = 0;
  int64_t connected = 0;
  std::vector<strategy::BucketAggregate> aggregates;
  absl::Status load_error;
  absl::Time since_asked = absl::InfinitePast();
};

// The registry and health as written, each call failing with its status when set. Thread-safe:
// the prober writes from its own thread.
class FakeTurnStore : public store::TurnStore {
 public:
  absl::Status SyncTurnServers(std::span<const store::TurnServerRow> servers) override {
    std::lock_guard lock(mu_);
    if (!sync_status.ok()) return sync_status;
    synced.assign(servers.begin(), servers.end());
    return absl::OkStatus();
  }
  absl::Status WriteTurnHealth(std::span<const store::TurnHealthRow> rows) override {
    std::lock_guard lock(mu_);
    if (!write_status.ok()) return write_status;
    writes.emplace_back(rows.begin(), rows.end());
    for (const store::TurnHealthRow& row : rows) stored[{row.server_id, row.prober_region}] = row;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<store::TurnServerRow>> LoadTurnServers() override {
    std::lock_guard lock(mu_);
    return synced;
  }
  absl::StatusOr<std::vector<store::TurnHealthRow>> LoadTurnHealth() override {
    std::lock_guard lock(mu_);
    ++loads;
    if (!load_status.ok()) return load_status;
    std::vector<store::TurnHealthRow> rows;
    for (const auto& [key, row] : stored) rows.push_back(row);
    return rows;
  }

  // The last written health of `id` for `region`; a default state if none.
  turn::HealthState Stored(const std::string& id, const std::string& region = "") {
    std::lock_guard lock(mu_);
    auto it = stored.find({id, region});
    return it == stored.end() ? turn::HealthState{} : it->second.health;
  }

  std::mutex mu_;
  absl::Status sync_status;
  absl::Status write_status;
  absl::Status load_status;
  std::atomic<int> loads = 0;
  std::vector<store::TurnServerRow> synced;
  std::vector<std::vector<store::TurnHealthRow>> writes;
  std::map<std::pair<std::string, std::string>, store::TurnHealthRow> stored;
};

}  // namespace advisor::testing

#endif  // ADVISOR_TESTS_SUPPORT_FAKE_STORES_H_
