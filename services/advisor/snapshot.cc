#include "services/advisor/snapshot.h"

namespace advisor {

std::shared_ptr<const Snapshot> ColdStartSnapshot(const SnapshotConfig& config) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->decisions = strategy::DecideAll(strategy::History{}, config.engine);
  return snapshot;
}

absl::StatusOr<std::shared_ptr<const Snapshot>> LoadSnapshot(store::OutcomeStore& store,
                                                             absl::Time now,
                                                             const SnapshotConfig& config) {
  auto buckets = store.LoadAggregates(now - config.history_window);
  if (!buckets.ok()) return buckets.status();
  const strategy::History history =
      strategy::AgeHistory(*buckets, now, config.bucket_width, config.engine.half_life);
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->loaded_at = now;
  snapshot->decisions = strategy::DecideAll(history, config.engine);
  return snapshot;
}

}  // namespace advisor
