#include "lib/strategy/arrivals.h"

#include <utility>

namespace advisor::strategy {
namespace {

bool AnyNegative(const RawCounts& counts) {
  bool negative = false;
  counts.ForEachCount([&](int64_t count) { negative = negative || count < 0; });
  return negative;
}

}  // namespace

std::vector<BucketAggregate> ArrivalLog::Split(std::span<const BucketAggregate> rows,
                                               absl::Time loaded_at) {
  std::map<Key, Row> next;
  std::vector<BucketAggregate> parts;
  parts.reserve(rows.size());
  for (const BucketAggregate& row : rows) {
    const Key key{row.pair.Index(), static_cast<int>(row.strategy),
                  absl::ToUnixMicros(row.bucket_start)};
    Row seen{.total = row.counts, .growth = {}};
    const bool settled = row.bucket_start + 2 * bucket_width_ <= loaded_at;
    auto it = settled ? rows_.end() : rows_.find(key);
    if (it != rows_.end()) {
      RawCounts delta = row.counts;
      delta.Add(it->second.total, -1.0);
      if (!AnyNegative(delta)) {
        seen.growth = std::move(it->second.growth);
        if (delta != RawCounts{}) seen.growth.push_back({loaded_at, delta});
        if (seen.growth.size() >= max_parts_) {
          // Keeps the newer stamp: no outcome is made to look older than it is.
          seen.growth[1].counts.Add(seen.growth[0].counts);
          seen.growth.erase(seen.growth.begin());
        }
      }
    }
    BucketAggregate first = row;
    first.arrived = row.bucket_start;
    for (const Increment& increment : seen.growth) first.counts.Add(increment.counts, -1.0);
    parts.push_back(first);
    for (const Increment& increment : seen.growth) {
      BucketAggregate part = row;
      part.counts = increment.counts;
      part.arrived = increment.arrived;
      parts.push_back(part);
    }
    if (!settled) next.emplace(key, std::move(seen));
  }
  rows_ = std::move(next);
  return parts;
}

size_t ArrivalLog::parts() const {
  size_t total = 0;
  for (const auto& [key, row] : rows_) total += 1 + row.growth.size();
  return total;
}

}  // namespace advisor::strategy
