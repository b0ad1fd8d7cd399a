// What one client may cost the service and how much it may move the fleet's advice, per replica.
//
// RateLimiter bounds requests per identity (a token bucket each). ReporterCap bounds the reports an
// identity adds to one NAT pair within one aggregate bucket, so that a handful of identities cannot
// outweigh the fleet whatever they pay in requests. LogLimiter bounds the log lines refusals write.
// RequestDeadlines bounds how long a call may wait for its request message. All take `now` from
// the caller; all but RequestDeadlines (one entry per call in flight) hold memory that does not
// grow with traffic.
#ifndef ADVISOR_SERVICES_ADVISOR_LIMITS_H_
#define ADVISOR_SERVICES_ADVISOR_LIMITS_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace advisor {

// Token buckets per identity: `rate` requests per second, up to `burst` at once. Identities are
// kept by a 64-bit hash (a collision shares a bucket, which only slows two clients down). At most
// `max_identities` are tracked; when full, idle ones (whose bucket has refilled, so forgetting them
// changes nothing) are dropped first, then arbitrary ones. Thread-safe.
class RateLimiter {
 public:
  RateLimiter(double rate, double burst, size_t max_identities = size_t{1} << 20);
  // nullopt when the request may go ahead; otherwise how long until it would.
  std::optional<absl::Duration> Acquire(std::string_view identity, absl::Time now);
  // Whether Acquire would refuse now, without taking anything.
  bool Exhausted(std::string_view identity, absl::Time now);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_ns = 0;
  };
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<uint64_t, Bucket> buckets ABSL_GUARDED_BY(mu);
  };
  static constexpr int kShards = 16;
  // The bucket's tokens at `now_ns`, topped up at `rate_` since it was last updated.
  double Refilled(const Bucket& bucket, int64_t now_ns) const;

  const double rate_;
  const double burst_;
  const size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

// At most `max_per_bucket` counted reports per (identity, NAT pair) in each aggregate bucket. The
// counts live in a count-min sketch (2 rows of kCells one-byte counters, 8 MiB, cleared when a new
// bucket starts): memory is fixed however many identities report, and a sketch can only
// over-count, so no identity ever gets past the cap; an honest one is rarely held back by others
// sharing both its cells. Thread-safe.
class ReporterCap {
 public:
  static constexpr size_t kCells = size_t{1} << 22;
  explicit ReporterCap(int64_t max_per_bucket);
  // True when this report counts (and is counted against the cap); false when the identity has
  // used up its share of `pair` in the bucket starting at `bucket_start`.
  bool Admit(std::string_view identity, int pair, absl::Time bucket_start);

 private:
  const uint8_t max_per_bucket_;
  absl::Mutex mu_;
  int64_t bucket_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint8_t> rows_ ABSL_GUARDED_BY(mu_);  // 2 × kCells
};

// At most `per_second` log lines a second; the lines held back are counted so the next line that
// goes out can say how many were not written. Thread-safe.
class LogLimiter {
 public:
  explicit LogLimiter(int per_second) : per_second_(per_second) {}
  // True when a line may be written now; `suppressed` is then set to the lines held back since
  // the last one written.
  bool Allow(absl::Time now, int64_t& suppressed);

 private:
  const int per_second_;
  absl::Mutex mu_;
  int64_t second_ ABSL_GUARDED_BY(mu_) = 0;
  int written_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
};

// Calls still waiting for their request message, oldest first. Every call is given the same time,
// so the oldest always expires first, and adding, removing and expiring cost O(1) per call. It is
// what cuts a client that opens a stream and sends its message slowly, or never: without it such a
// stream would be held until the connection's age ran out. Thread-safe.
class RequestDeadlines {
 public:
  using Clock = std::chrono::steady_clock;

  // A call that can wait here (intrusive: waiting needs no allocation).
  class Waiter {
   public:
    virtual ~Waiter() = default;
    // Called once, outside the lock, for a waiter that expired before Remove; it is removed.
    virtual void Expired() = 0;

   private:
    friend class RequestDeadlines;
    Waiter* prev_ = nullptr;
    Waiter* next_ = nullptr;
    Clock::time_point expires_;
    bool waiting_ = false;
  };

  explicit RequestDeadlines(absl::Duration limit);
  absl::Duration limit() const { return limit_; }
  // `waiter` must wait at most limit() from `now`; it must not be waiting already.
  void Add(Waiter& waiter, Clock::time_point now);
  // True when `waiter` was still waiting and is no longer; false when it expired, in which case
  // its Expired() runs or ran, and it belongs to that call.
  bool Remove(Waiter& waiter);
  // Removes every waiter whose time is up at `now` and calls its Expired(); returns how many.
  int ExpireUntil(Clock::time_point now);

 private:
  const absl::Duration limit_;
  absl::Mutex mu_;
  Waiter* oldest_ ABSL_GUARDED_BY(mu_) = nullptr;
  Waiter* newest_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace advisor

#endif  // ADVISOR_SERVICES_ADVISOR_LIMITS_H_
