#include "services/advisor/outcome_buffer.h"

#include <openssl/rand.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"

namespace advisor {

AddResult OutcomeBuffer::Add(store::ReportedSession session) {
  const Key key{absl::ToUnixMicros(session.bucket_start), session.pair.Index(),
                static_cast<int>(session.strategy)};
  std::lock_guard lock(mu_);
  if (in_flight_ids_.contains(session.token_id)) return AddResult::kDuplicate;
  const int64_t held = static_cast<int64_t>(pending_ids_.size() + in_flight_ids_.size());
  if (held >= max_reports_) {
    return pending_ids_.contains(session.token_id) ? AddResult::kDuplicate : AddResult::kFull;
  }
  if (!pending_ids_.insert(session.token_id).second) return AddResult::kDuplicate;
  pending_keys_.insert(key);
  pending_.push_back(std::move(session));
  return AddResult::kHeld;
}

bool OutcomeBuffer::Holds(const store::TokenId& id) const {
  std::lock_guard lock(mu_);
  return pending_ids_.contains(id) || in_flight_ids_.contains(id);
}

std::shared_ptr<const store::FlushBatch> OutcomeBuffer::NextBatch() {
  // Prepared before taking the lock, and destroyed after it is released; unused when a batch is in
  // flight or nothing is pending.
  const size_t reserve =
      std::min(last_batch_size_.load(std::memory_order_relaxed), static_cast<size_t>(max_reports_));
  std::vector<store::ReportedSession> next;
  next.reserve(reserve);
  absl::flat_hash_set<store::TokenId> next_ids;
  next_ids.reserve(reserve);
  std::string flush_id = NewFlushId();

  std::lock_guard lock(mu_);
  if (!in_flight_) {
    if (pending_.empty()) return nullptr;
    auto fresh = std::make_shared<store::FlushBatch>();
    fresh->flush_id = std::move(flush_id);
    fresh->sessions = std::exchange(pending_, std::move(next));
    in_flight_ids_ = std::exchange(pending_ids_, std::move(next_ids));
    in_flight_keys_ = static_cast<int64_t>(pending_keys_.size());
    pending_keys_.clear();
    last_batch_size_.store(fresh->sessions.size(), std::memory_order_relaxed);
    in_flight_ = std::move(fresh);
  }
  return in_flight_;
}

void OutcomeBuffer::Committed() {
  // Declared before the lock so that they are freed after it is released.
  std::shared_ptr<const store::FlushBatch> batch;
  absl::flat_hash_set<store::TokenId> ids;
  std::lock_guard lock(mu_);
  batch = std::move(in_flight_);
  ids = std::move(in_flight_ids_);
  in_flight_ids_.clear();
  in_flight_keys_ = 0;
}

int64_t OutcomeBuffer::held_reports() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(pending_ids_.size() + in_flight_ids_.size());
}

int64_t OutcomeBuffer::pending_deltas() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(pending_keys_.size()) + in_flight_keys_;
}

std::string NewFlushId() {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof(bytes));
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)));
}

absl::StatusOr<store::FlushResult> FlushOnce(OutcomeBuffer& buffer, store::OutcomeStore& store) {
  std::shared_ptr<const store::FlushBatch> batch = buffer.NextBatch();
  if (!batch) return store::FlushResult{};
  absl::StatusOr<store::FlushResult> result = store.ApplyFlush(*batch);
  if (result.ok()) buffer.Committed();
  return result;
}

}  // namespace advisor
