// PostgreSQL storage of the TURN server registry and of each prober region's view of TURN health,
// and the advisory lock that elects one active prober per region.
//
// The registry never holds secrets: those stay in the servers file that prober and server mount.
#ifndef ADVISOR_LIB_STORE_TURN_STORE_H_
#define ADVISOR_LIB_STORE_TURN_STORE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/config/turn_servers.h"
#include "lib/turn/health.h"

namespace advisor::store {

namespace internal {
// A libpqxx connection (pg_internal.h). Ours, so that no header outside lib/store's .cc files
// needs libpqxx: its own class's declaration changed from libpqxx 6 to 7.
class PgConnection;
}  // namespace internal

struct TurnServerRow {
  std::string id;
  std::vector<std::string> urls;
  std::string region;
  std::vector<std::string> transports;  // "udp", "tcp", "tls", derived from the urls
  bool enabled = true;
  friend bool operator==(const TurnServerRow&, const TurnServerRow&) = default;
};

// The server as the registry holds it: everything of the servers file's entry but its secrets,
// with the transports its urls offer.
TurnServerRow RegistryRow(const config::TurnServerConfig& server);

struct TurnHealthRow {
  std::string server_id;
  std::string prober_region;  // "" for a prober without --region
  turn::HealthState health;
  friend bool operator==(const TurnHealthRow&, const TurnHealthRow&) = default;
};

class TurnStore {
 public:
  virtual ~TurnStore() = default;
  // Makes the registry match `servers` in one transaction: listed servers are inserted or updated;
  // servers no longer listed are kept (their history stays) but marked disabled.
  virtual absl::Status SyncTurnServers(std::span<const TurnServerRow> servers) = 0;
  // Inserts or replaces the health rows, in one transaction. Times are kept to the microsecond;
  // what HealthState leaves at its "not measured yet" default (InfinitePast times, a latency of 0,
  // the success rate before the first check) is stored as NULL and loaded back as that default.
  virtual absl::Status WriteTurnHealth(std::span<const TurnHealthRow> rows) = 0;
  virtual absl::StatusOr<std::vector<TurnServerRow>> LoadTurnServers() = 0;
  virtual absl::StatusOr<std::vector<TurnHealthRow>> LoadTurnHealth() = 0;
};

// The advisory lock key of LeaderLock `name`: FNV-1a (64 bits) of "turn-prober/" + name, the same
// in every build and on every platform, so that probers of different versions still exclude each
// other.
int64_t LeaderLockKey(std::string_view name);

// A session-level pg_try_advisory_lock on a connection of its own: held while that connection
// lives. Used so that one prober per region probes while the others stand by.
class LeaderLock {
 public:
  LeaderLock(std::string database_url, std::string_view name);  // key derived from `name`
  ~LeaderLock();                                                // releases the lock
  // True when this process holds the lock now: keeps it if held and the connection is alive, else
  // tries to take it (reconnecting if needed). An error only when the database cannot be reached.
  absl::StatusOr<bool> TryAcquire();
  // Gives the lock up at once (unlocks, then closes the connection); a standby's next TryAcquire
  // takes it.
  void Release();

 private:
  const std::string url_;
  const int64_t key_;
  std::mutex mu_;
  std::unique_ptr<internal::PgConnection> conn_;
  bool held_ = false;
  // The server process of the session that took the lock. libpqxx 6 may silently reconnect a
  // broken connection; a different process means the lock went with the old session.
  int holder_pid_ = 0;
};

}  // namespace advisor::store

#endif  // ADVISOR_LIB_STORE_TURN_STORE_H_
