// Vocabulary of the strategy engine: NAT types, strategies, unordered NAT pairs, reported outcomes,
// outcome counts and the stored aggregate rows they add up to.
//
// These mirror the enums of connectivity.advisor.v1 (same numeric values) but stay free of
// generated code so that the decision logic can be built and tested alone.
#ifndef ADVISOR_LIB_STRATEGY_TYPES_H_
#define ADVISOR_LIB_STRATEGY_TYPES_H_

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/inlined_vector.h"
#include "absl/time/time.h"

namespace advisor::strategy {

enum class NatType : uint8_t {
  kUnknown = 0,  // unspecified, detection failed, or reported with low confidence
  kOpen = 1,
  kFullCone = 2,
  kRestrictedCone = 3,
  kPortRestrictedCone = 4,
  kSymmetric = 5,
  kBlocked = 6,
};
inline constexpr int kNatTypeCount = 7;

enum class Strategy : uint8_t { kUnspecified = 0, kDirect = 1, kTurnFallback = 2, kTurnOnly = 3 };
inline constexpr int kStrategyCount = 4;

enum class Transport : uint8_t { kUnspecified = 0, kUdp = 1, kTcp = 2, kTls = 3 };

// Lower-case names used in logs, metrics labels and the CLI: "unknown", "open", "full_cone",
// "restricted_cone", "port_restricted_cone", "symmetric", "blocked".
std::string_view NatTypeName(NatType type);
std::optional<NatType> ParseNatType(std::string_view name);
// "unspecified", "direct", "turn_fallback", "turn_only".
std::string_view StrategyName(Strategy strategy);
std::optional<Strategy> ParseStrategy(std::string_view name);
// "unspecified", "udp", "tcp", "tls".
std::string_view TransportName(Transport transport);

// An unordered pair of NAT types, stored with a <= b so that (x, y) and (y, x) are the same key.
struct NatPair {
  NatType a = NatType::kUnknown;
  NatType b = NatType::kUnknown;

  static NatPair Of(NatType x, NatType y) { return x <= y ? NatPair{x, y} : NatPair{y, x}; }
  // Dense index in [0, kNatPairCount), for tables indexed by pair. {x, y} and {y, x} share an
  // index, and a type outside the enum counts as kUnknown, so the index is always in range.
  int Index() const;
  // The normalised pair (a <= b) with that index; (unknown, unknown) for an index out of range.
  static NatPair FromIndex(int index);
  friend auto operator<=>(const NatPair&, const NatPair&) = default;
};
inline constexpr int kNatPairCount = kNatTypeCount * (kNatTypeCount + 1) / 2;  // 28
// "full_cone × symmetric": the pair's names in NatPair order (a <= b), whichever way it was given.
std::string PairName(NatPair pair);

// Upper bounds (ms, inclusive) of the connect-time histogram buckets; a last bucket holds the rest.
inline constexpr std::array<uint32_t, 11> kConnectTimeBoundsMs = {
    100, 250, 500, 1000, 2000, 3000, 5000, 8000, 12000, 20000, 30000};
inline constexpr int kConnectTimeBuckets = kConnectTimeBoundsMs.size() + 1;
// Index of the histogram bucket that holds `ms`.
int ConnectTimeBucket(uint32_t ms);
// Bucket `bucket` holds (lower, upper] ms; the open-ended last one is read as (30 s, 60 s].
double BucketLowerMs(int bucket);
double BucketUpperMs(int bucket);

// Outcome counts for one (NAT pair, strategy). Integer counts travel in deltas and the database;
// aged (decayed, fractional) counts feed decisions.
template <typename T>
struct Counts {
  T sessions = 0;          // reports received
  T connected = 0;         // sessions that connected by any path
  T direct_attempts = 0;   // direct attempts made
  T direct_successes = 0;  // direct attempts that connected
  T direct_timeouts = 0;   // direct attempts abandoned at the timeout
  T direct_failures = 0;   // direct attempts that failed before the timeout
  T relay_attempts = 0;    // relay attempts made (fallback or relay-only)
  T relay_successes = 0;   // relay attempts that connected
  T connect_ms_sum = 0;    // sum of time_to_connect over connected sessions
  std::array<T, kConnectTimeBuckets> connect_ms_hist{};  // time_to_connect of connected sessions
  std::array<T, kConnectTimeBuckets> direct_ms_hist{};   // duration of successful direct attempts
  // Duration of direct attempts abandoned at the timeout, i.e. the timeout the client was given:
  // how long each was watched without connecting, which a censoring-aware estimate of direct
  // success needs.
  std::array<T, kConnectTimeBuckets> direct_censored_hist{};
  std::array<T, kConnectTimeBuckets> relay_ms_hist{};  // duration of successful relay attempts

  template <typename U>
  void Add(const Counts<U>& other, double weight = 1.0) {
    auto add = [weight](T& into, U from) { into += static_cast<T>(from * weight); };
    add(sessions, other.sessions);
    add(connected, other.connected);
    add(direct_attempts, other.direct_attempts);
    add(direct_successes, other.direct_successes);
    add(direct_timeouts, other.direct_timeouts);
    add(direct_failures, other.direct_failures);
    add(relay_attempts, other.relay_attempts);
    add(relay_successes, other.relay_successes);
    add(connect_ms_sum, other.connect_ms_sum);
    for (int i = 0; i < kConnectTimeBuckets; ++i) {
      add(connect_ms_hist[i], other.connect_ms_hist[i]);
      add(direct_ms_hist[i], other.direct_ms_hist[i]);
      add(direct_censored_hist[i], other.direct_censored_hist[i]);
      add(relay_ms_hist[i], other.relay_ms_hist[i]);
    }
  }
  // Calls f(count) for every count, scalars and histogram entries alike.
  template <typename F>
  void ForEachCount(F&& f) const {
    for (T count : {sessions, connected, direct_attempts, direct_successes, direct_timeouts,
                    direct_failures, relay_attempts, relay_successes, connect_ms_sum}) {
      f(count);
    }
    for (const auto* hist :
         {&connect_ms_hist, &direct_ms_hist, &direct_censored_hist, &relay_ms_hist}) {
      for (T count : *hist) f(count);
    }
  }
  friend bool operator==(const Counts&, const Counts&) = default;
};
using RawCounts = Counts<int64_t>;
using AgedCounts = Counts<double>;

// One stored aggregate row: counts for a (pair, strategy) during [bucket_start, bucket_start +
// width).
struct BucketAggregate {
  NatPair pair;
  Strategy strategy = Strategy::kUnspecified;
  absl::Time bucket_start;
  RawCounts counts;
  // When this part of the bucket's counts reached the database, as far as the loader knows
  // (ArrivalLog); rows straight from the store leave it unset. Orders the parts of one bucket for
  // ageing by volume.
  absl::Time arrived = absl::InfinitePast();
};

// What a client reported about one connection attempt.
enum class Path : uint8_t { kUnspecified = 0, kDirect = 1, kRelay = 2 };
enum class AttemptResult : uint8_t { kUnspecified = 0, kSucceeded = 1, kTimedOut = 2, kFailed = 3 };
struct Attempt {
  Path path = Path::kUnspecified;
  AttemptResult result = AttemptResult::kUnspecified;
  uint32_t duration_ms = 0;
};
struct Outcome {
  absl::InlinedVector<Attempt, 4> attempts;
  bool connected = false;
  uint32_t time_to_connect_ms = 0;
};
// The counts one validated report contributes (sessions = 1).
RawCounts CountsOf(const Outcome& outcome);

}  // namespace advisor::strategy

#endif  // ADVISOR_LIB_STRATEGY_TYPES_H_
