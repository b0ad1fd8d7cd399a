// The read-only view GetStrategy answers from: a decision for every NAT pair, computed from the
// fleet's aged history when it was loaded. Requests never touch the database; a background task
// builds a new snapshot every few seconds and swaps it in atomically, and the last good one stays
// when Postgres is unreachable.
#ifndef ADVISOR_SERVICES_ADVISOR_SNAPSHOT_H_
#define ADVISOR_SERVICES_ADVISOR_SNAPSHOT_H_

#include <grpcpp/support/slice.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/config/turn_servers.h"
#include "lib/store/store.h"
#include "lib/store/turn_store.h"
#include "lib/strategy/arrivals.h"
#include "lib/strategy/engine.h"

namespace advisor {

struct SnapshotConfig {
  strategy::EngineConfig engine;
  // The servers file; outlives every snapshot (TurnChoice::server indexes it).
  std::vector<config::TurnServerConfig> turn_servers;
  absl::Duration bucket_width = absl::Hours(1);
  // Buckets older than this are not loaded: at 7 half-lives they weigh under 1%.
  absl::Duration history_window = absl::Hours(24 * 7);
};

// The TURN server offered to clients of one region (or of no region), chosen when the snapshot was
// built: an index into the servers file, or -1 when no server is usable.
struct TurnChoice {
  int server = -1;
  // A serialized GetStrategyResponse holding only the reason for this choice, appended to answers.
  grpc::Slice reason;
};

// TURN as the snapshot sees it.
struct TurnView {
  // Choices by client region, for any transport and for TCP/TLS only (UDP-blocked clients). A
  // region not listed uses the "" entry.
  std::map<std::string, TurnChoice, std::less<>> any_transport;
  std::map<std::string, TurnChoice, std::less<>> tcp_only;
  // What ListTurnServers shows: the registry as the prober published it (or the servers file before
  // it has), with every prober region's health.
  std::vector<store::TurnServerRow> registry;
  std::vector<store::TurnHealthRow> health;

  const TurnChoice& For(std::string_view region, bool tcp) const;
};

struct Snapshot {
  // When its data was read from the database; InfinitePast for the cold-start snapshot.
  absl::Time loaded_at = absl::InfinitePast();
  std::vector<strategy::Advice> advice;  // indexed by NatPair::Index()
  // The answer to each pair, serialized once per snapshot without its per-request fields, so that a
  // request costs a copy and a signature rather than building and encoding a message.
  std::vector<grpc::Slice> responses;  // indexed by NatPair::Index(); shared, never copied
  // The same for each pair's exploration decision; an empty slice for a pair that does not explore.
  std::vector<grpc::Slice> exploration_responses;
  TurnView turn;

  const strategy::Advice& advice_for(strategy::NatPair pair) const { return advice[pair.Index()]; }
};

// Serializes the fixed part of the answer for one decision.
using ResponseRenderer = std::function<std::string(const strategy::Decision&)>;

// Ranks the servers of the servers file by their health in `health` for every region, as of `now`.
TurnView BuildTurnView(std::span<const config::TurnServerConfig> servers,
                       std::vector<store::TurnServerRow> registry,
                       std::vector<store::TurnHealthRow> health, absl::Time now);

// Decisions from the cold-start rules alone and TURN servers of unknown health: what a server
// answers before its first load.
std::shared_ptr<const Snapshot> ColdStartSnapshot(const SnapshotConfig& config,
                                                  const ResponseRenderer& render, absl::Time now);

// Loads the aggregates of the history window and the TURN registry and health, and decides every
// pair and region as of `now`. `arrivals` carries what earlier loads saw, so that outcomes added to
// a bucket since are aged as newer than those it held before (arrivals.h); keep one per reloader.
absl::StatusOr<std::shared_ptr<const Snapshot>> LoadSnapshot(store::OutcomeStore& outcomes,
                                                             store::TurnStore& turn, absl::Time now,
                                                             const SnapshotConfig& config,
                                                             const ResponseRenderer& render,
                                                             strategy::ArrivalLog& arrivals);

// The current snapshot, swapped atomically: readers never block the loader or each other for long.
class SnapshotHolder {
 public:
  explicit SnapshotHolder(std::shared_ptr<const Snapshot> initial) : current_(std::move(initial)) {}
  std::shared_ptr<const Snapshot> Get() const { return current_.load(std::memory_order_acquire); }
  void Set(std::shared_ptr<const Snapshot> next) {
    current_.store(std::move(next), std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
  }

  // The current snapshot for the request path, valid until this thread's next call. Each thread
  // keeps its own reference and takes a new one only when Set() has run since, so that answering
  // costs one read of a counter no one writes, instead of taking and dropping a shared reference
  // whose count every request thread bounces between cores.
  const Snapshot& Current() const {
    thread_local Cached cached;
    const uint64_t generation = generation_.load(std::memory_order_acquire);
    if (cached.holder != id_ || cached.generation != generation || !cached.snapshot) {
      cached = {id_, generation, Get()};
    }
    return *cached.snapshot;
  }

 private:
  struct Cached {
    uint64_t holder = 0;
    uint64_t generation = 0;
    std::shared_ptr<const Snapshot> snapshot;
  };
  static uint64_t NextId() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }

  // Distinguishes holders in the per-thread cache even when one reuses another's address.
  const uint64_t id_ = NextId();
  std::atomic<std::shared_ptr<const Snapshot>> current_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace advisor

#endif  // ADVISOR_SERVICES_ADVISOR_SNAPSHOT_H_
