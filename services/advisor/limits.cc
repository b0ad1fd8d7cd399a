#include "services/advisor/limits.h"

#include <algorithm>

#include "absl/hash/hash.h"

namespace advisor {
namespace {

uint64_t HashOf(std::string_view identity) { return absl::Hash<std::string_view>{}(identity); }

// A second, independent hash from the first: splitmix64's finaliser.
uint64_t Remix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

RateLimiter::RateLimiter(double rate, double burst, size_t max_identities)
    : rate_(rate),
      burst_(std::max(burst, 1.0)),
      max_per_shard_(std::max<size_t>(max_identities / kShards, 1)) {}

double RateLimiter::Refilled(const Bucket& bucket, int64_t now_ns) const {
  const double elapsed = static_cast<double>(now_ns - bucket.updated_ns) * 1e-9;
  return std::min(burst_, bucket.tokens + std::max(elapsed, 0.0) * rate_);
}

std::optional<absl::Duration> RateLimiter::Acquire(std::string_view identity, absl::Time now) {
  const uint64_t hash = HashOf(identity);
  const int64_t now_ns = absl::ToUnixNanos(now);
  Shard& shard = shards_[hash % kShards];
  absl::MutexLock lock(&shard.mu);
  auto it = shard.buckets.find(hash);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= max_per_shard_) {
      absl::erase_if(shard.buckets,
                     [&](const auto& entry) { return Refilled(entry.second, now_ns) >= burst_; });
      if (shard.buckets.size() >= max_per_shard_) shard.buckets.erase(shard.buckets.begin());
    }
    it = shard.buckets.emplace(hash, Bucket{burst_, now_ns}).first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = Refilled(bucket, now_ns);
  bucket.updated_ns = std::max(bucket.updated_ns, now_ns);
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::nullopt;
  }
  return absl::Seconds((1 - bucket.tokens) / rate_);
}

bool RateLimiter::Exhausted(std::string_view identity, absl::Time now) {
  const uint64_t hash = HashOf(identity);
  Shard& shard = shards_[hash % kShards];
  absl::MutexLock lock(&shard.mu);
  auto it = shard.buckets.find(hash);
  return it != shard.buckets.end() && Refilled(it->second, absl::ToUnixNanos(now)) < 1;
}

ReporterCap::ReporterCap(int64_t max_per_bucket)
    : max_per_bucket_(static_cast<uint8_t>(std::clamp<int64_t>(max_per_bucket, 0, 255))),
      rows_(2 * kCells) {}

bool ReporterCap::Admit(std::string_view identity, int pair, absl::Time bucket_start) {
  const uint64_t first = Remix(HashOf(identity) ^ (static_cast<uint64_t>(pair) << 56));
  const uint64_t second = Remix(first ^ 0x9e3779b97f4a7c15ULL);
  const int64_t bucket = absl::ToUnixSeconds(bucket_start);
  absl::MutexLock lock(&mu_);
  if (bucket > bucket_) {
    std::fill(rows_.begin(), rows_.end(), 0);
    bucket_ = bucket;
  }
  uint8_t& a = rows_[first % kCells];
  uint8_t& b = rows_[kCells + second % kCells];
  const uint8_t seen = std::min(a, b);
  if (seen >= max_per_bucket_) return false;
  // Conservative update: only the cells at the minimum grow, which keeps over-counting low.
  if (a == seen) ++a;
  if (b == seen) ++b;
  return true;
}

bool LogLimiter::Allow(absl::Time now, int64_t& suppressed) {
  const int64_t second = absl::ToUnixSeconds(now);
  absl::MutexLock lock(&mu_);
  if (second != second_) {
    second_ = second;
    written_ = 0;
  }
  if (written_ >= per_second_) {
    ++suppressed_;
    return false;
  }
  ++written_;
  suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

RequestDeadlines::RequestDeadlines(absl::Duration limit) : limit_(limit) {}

void RequestDeadlines::Add(Waiter& waiter, Clock::time_point now) {
  waiter.expires_ = now + absl::ToChronoNanoseconds(limit_);
  absl::MutexLock lock(&mu_);
  waiter.waiting_ = true;
  waiter.next_ = nullptr;
  waiter.prev_ = newest_;
  (newest_ == nullptr ? oldest_ : newest_->next_) = &waiter;
  newest_ = &waiter;
}

bool RequestDeadlines::Remove(Waiter& waiter) {
  absl::MutexLock lock(&mu_);
  if (!waiter.waiting_) return false;
  waiter.waiting_ = false;
  (waiter.prev_ == nullptr ? oldest_ : waiter.prev_->next_) = waiter.next_;
  (waiter.next_ == nullptr ? newest_ : waiter.next_->prev_) = waiter.prev_;
  waiter.prev_ = waiter.next_ = nullptr;
  return true;
}

int RequestDeadlines::ExpireUntil(Clock::time_point now) {
  std::vector<Waiter*> expired;
  {
    absl::MutexLock lock(&mu_);
    while (oldest_ != nullptr && oldest_->expires_ <= now) {
      Waiter* waiter = oldest_;
      oldest_ = waiter->next_;
      (oldest_ == nullptr ? newest_ : oldest_->prev_) = nullptr;
      waiter->waiting_ = false;
      waiter->prev_ = waiter->next_ = nullptr;
      expired.push_back(waiter);
    }
  }
  // Outside the lock: Expired() finishes a call, which may complete others' work inline.
  for (Waiter* waiter : expired) waiter->Expired();
  return static_cast<int>(expired.size());
}

}  // namespace advisor
