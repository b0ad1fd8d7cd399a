// PostgreSQL storage of fleet outcome aggregates, of the decision tokens already counted, and of
// the TURN registry and health, behind small interfaces.
//
// libpqxx exceptions stop here: every method returns absl::Status. A broken connection is reopened
// on the next call, so callers simply retry.
#ifndef ADVISOR_LIB_STORE_STORE_H_
#define ADVISOR_LIB_STORE_STORE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/store/turn_store.h"
#include "lib/strategy/types.h"

namespace advisor::store {

// One numbered schema migration from deploy/migrations/, compiled into the binary.
struct Migration {
  int version = 0;
  std::string name;  // file name, e.g. "0001_init.sql"
  std::string sql;
};
// The migrations shipped with this build, in version order.
std::span<const Migration> EmbeddedMigrations();

// The session advisory lock key Migrate() holds. Other advisory locks of the project (the prober's
// leader lock) must use different keys.
inline constexpr int64_t kMigrationLockKey = 0x4356'4164'4d69'6772;  // "CVAdMigr"

// `database_url` with connect_timeout=5 added (in URI or key=value form) unless it already sets a
// connect timeout or PGCONNECT_TIMEOUT does: without one, libpq waits on an unreachable host for as
// long as the kernel keeps trying.
std::string WithConnectTimeout(const std::string& database_url);

// Applies every migration not yet recorded in schema_migrations, each in its own transaction, while
// holding a session advisory lock so that replicas starting together apply each exactly once.
// Returns the number of migrations applied by this call.
absl::StatusOr<int> Migrate(const std::string& database_url,
                            std::span<const Migration> migrations = EmbeddedMigrations());

// A decision token's random nonce: the identity under which its report counts at most once.
using TokenId = std::array<uint8_t, 16>;

// One accepted report on its way to the database.
struct ReportedSession {
  TokenId token_id{};
  // After this the token cannot be presented again, so its used-token row may go.
  absl::Time token_expires;
  strategy::NatPair pair;
  strategy::Strategy strategy = strategy::Strategy::kUnspecified;
  absl::Time bucket_start;
  strategy::Outcome outcome;  // folded with strategy::CountsOf at flush time
  // False for a report whose reporter had used up its share of the pair: its token is still
  // consumed (it can never count later, and a repeat is still a duplicate), its outcome is not.
  bool count = true;
};

// Reports gathered by one server, written together. `flush_id` makes the write idempotent.
struct FlushBatch {
  std::string flush_id;
  std::vector<ReportedSession> sessions;
};

// What one ApplyFlush did.
struct FlushResult {
  size_t rows = 0;      // aggregate rows written
  int64_t counted = 0;  // sessions whose token was new and that count: folded into the aggregates
  int64_t duplicates = 0;  // sessions whose token id was already used (another replica, an earlier
                           // flush, or earlier in the same batch)
  friend bool operator==(const FlushResult&, const FlushResult&) = default;
};

class OutcomeStore {
 public:
  virtual ~OutcomeStore() = default;
  // In one transaction: records every session's token id as used, folds the sessions whose id was
  // new (its first occurrence only, also within the batch) into per-(pair, strategy, bucket) deltas
  // with strategy::CountsOf, adds them to the aggregates and records flush_id. A batch whose
  // flush_id is already recorded changes nothing and returns FlushResult{}.
  virtual absl::StatusOr<FlushResult> ApplyFlush(const FlushBatch& batch) = 0;
  // Deletes at most `limit` (> 0) used-token rows whose token expired before `now`; returns how
  // many it deleted. Callers repeat while it returns `limit`.
  virtual absl::StatusOr<int64_t> ForgetExpiredTokens(absl::Time now, int64_t limit) = 0;
  // Every aggregate row whose bucket starts at or after `since`.
  virtual absl::StatusOr<std::vector<strategy::BucketAggregate>> LoadAggregates(
      absl::Time since) = 0;
};

// The counts of the `sessions` that count, summed per (pair, strategy, bucket), in key order: what
// ApplyFlush adds for those whose token is new.
std::vector<strategy::BucketAggregate> FoldSessions(std::span<const ReportedSession> sessions);

class PgStore;
namespace internal {
// ApplyFlush without the used-token step: records flush_id and adds `deltas` with the same upsert.
// What a flush cost before token ids were tracked; the flush benchmark's baseline, nothing else.
absl::Status ApplyAggregatesOnly(PgStore& store, const std::string& flush_id,
                                 std::span<const strategy::BucketAggregate> deltas);
}  // namespace internal

// OutcomeStore and TurnStore on PostgreSQL. Thread-safe: calls are serialised on one connection.
class PgStore : public OutcomeStore, public TurnStore {
 public:
  // `database_url` is a libpq connection string or URI. No connection is made until the first call.
  explicit PgStore(std::string database_url);
  ~PgStore() override;

  absl::StatusOr<FlushResult> ApplyFlush(const FlushBatch& batch) override;
  absl::StatusOr<int64_t> ForgetExpiredTokens(absl::Time now, int64_t limit) override;
  absl::StatusOr<std::vector<strategy::BucketAggregate>> LoadAggregates(absl::Time since) override;
  // TurnStore; defined in turn_store.cc.
  absl::Status SyncTurnServers(std::span<const TurnServerRow> servers) override;
  absl::Status WriteTurnHealth(std::span<const TurnHealthRow> rows) override;
  absl::StatusOr<std::vector<TurnServerRow>> LoadTurnServers() override;
  absl::StatusOr<std::vector<TurnHealthRow>> LoadTurnHealth() override;
  // A round trip to the database: OK when it answers, opening the connection if none is open.
  absl::Status Ping();

 private:
  friend absl::Status internal::ApplyAggregatesOnly(PgStore&, const std::string&,
                                                    std::span<const strategy::BucketAggregate>);

  // Returns an open connection, reconnecting if the previous one broke. Requires mu_.
  absl::StatusOr<internal::PgConnection*> Connection();
  // Runs `body` (which reports failure by throwing) on the connection under mu_, turning exceptions
  // into a Status that names `what`.
  absl::Status Call(const std::string& what, absl::FunctionRef<void(internal::PgConnection&)> body);

  const std::string url_;
  std::mutex mu_;
  std::unique_ptr<internal::PgConnection> conn_;
  // The last call failed for want of a connection. Only transitions are logged, not every failure.
  bool unavailable_ = false;
};

}  // namespace advisor::store

#endif  // ADVISOR_LIB_STORE_STORE_H_
