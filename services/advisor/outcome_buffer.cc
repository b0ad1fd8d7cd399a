#include "services/advisor/outcome_buffer.h"

#include <openssl/rand.h>

#include "absl/strings/escaping.h"

namespace advisor {

bool OutcomeBuffer::Add(strategy::NatPair pair, strategy::Strategy strategy,
                        absl::Time bucket_start, const strategy::RawCounts& counts) {
  const Key key{pair.Index(), static_cast<int>(strategy), absl::ToUnixSeconds(bucket_start)};
  std::lock_guard lock(mu_);
  if (pending_reports_ + in_flight_reports_ + counts.sessions > max_reports_) return false;
  pending_[key].Add(counts);
  pending_reports_ += counts.sessions;
  return true;
}

std::optional<store::FlushBatch> OutcomeBuffer::NextBatch() {
  std::lock_guard lock(mu_);
  if (!in_flight_) {
    if (pending_.empty()) return std::nullopt;
    store::FlushBatch batch;
    batch.flush_id = NewFlushId();
    batch.deltas.reserve(pending_.size());
    for (const auto& [key, counts] : pending_) {
      const auto& [pair, strategy, bucket] = key;
      batch.deltas.push_back({strategy::NatPair::FromIndex(pair),
                              static_cast<strategy::Strategy>(strategy),
                              absl::FromUnixSeconds(bucket), counts});
    }
    pending_.clear();
    in_flight_ = std::move(batch);
    in_flight_reports_ = pending_reports_;
    pending_reports_ = 0;
  }
  return in_flight_;
}

void OutcomeBuffer::Committed() {
  std::lock_guard lock(mu_);
  in_flight_.reset();
  in_flight_reports_ = 0;
}

int64_t OutcomeBuffer::held_reports() const {
  std::lock_guard lock(mu_);
  return pending_reports_ + in_flight_reports_;
}

int64_t OutcomeBuffer::pending_deltas() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(pending_.size() + (in_flight_ ? in_flight_->deltas.size() : 0));
}

std::string NewFlushId() {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof(bytes));
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)));
}

absl::StatusOr<size_t> FlushOnce(OutcomeBuffer& buffer, store::OutcomeStore& store) {
  std::optional<store::FlushBatch> batch = buffer.NextBatch();
  if (!batch) return 0;
  if (absl::Status status = store.ApplyFlush(*batch); !status.ok()) return status;
  buffer.Committed();
  return batch->deltas.size();
}

}  // namespace advisor
