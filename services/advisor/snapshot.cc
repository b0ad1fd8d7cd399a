#include "services/advisor/snapshot.h"

namespace advisor {
namespace {

std::shared_ptr<const Snapshot> Build(absl::Time loaded_at, const strategy::History& history,
                                      const SnapshotConfig& config,
                                      const ResponseRenderer& render) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->loaded_at = loaded_at;
  snapshot->decisions = strategy::DecideAll(history, config.engine);
  snapshot->responses.reserve(snapshot->decisions.size());
  for (const strategy::Decision& decision : snapshot->decisions) {
    snapshot->responses.emplace_back(render(decision));
  }
  return snapshot;
}

}  // namespace

std::shared_ptr<const Snapshot> ColdStartSnapshot(const SnapshotConfig& config,
                                                  const ResponseRenderer& render) {
  return Build(absl::InfinitePast(), strategy::History{}, config, render);
}

absl::StatusOr<std::shared_ptr<const Snapshot>> LoadSnapshot(store::OutcomeStore& store,
                                                             absl::Time now,
                                                             const SnapshotConfig& config,
                                                             const ResponseRenderer& render) {
  auto buckets = store.LoadAggregates(now - config.history_window);
  if (!buckets.ok()) return buckets.status();
  return Build(now,
               strategy::AgeHistory(*buckets, now, config.bucket_width, config.engine.half_life),
               config, render);
}

}  // namespace advisor
