#include "lib/strategy/types.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_format.h"

namespace advisor::strategy {
namespace {

constexpr std::array<std::string_view, kNatTypeCount> kNatTypeNames = {
    "unknown",   "open",   "full_cone", "restricted_cone", "port_restricted_cone",
    "symmetric", "blocked"};
constexpr std::array<std::string_view, kStrategyCount> kStrategyNames = {
    "unspecified", "direct", "turn_fallback", "turn_only"};
constexpr std::array<std::string_view, 4> kTransportNames = {"unspecified", "udp", "tcp", "tls"};

// Values outside the enum (a corrupt row, a cast from a newer peer) become kUnknown, so that an
// index computed from them always stays inside the tables.
int TypeOrdinal(NatType type) {
  const int v = static_cast<int>(type);
  return v < kNatTypeCount ? v : 0;
}

}  // namespace

std::string_view NatTypeName(NatType type) { return kNatTypeNames[TypeOrdinal(type)]; }

std::optional<NatType> ParseNatType(std::string_view name) {
  for (int i = 0; i < kNatTypeCount; ++i) {
    if (kNatTypeNames[i] == name) return static_cast<NatType>(i);
  }
  return std::nullopt;
}

std::string_view StrategyName(Strategy strategy) {
  const int v = static_cast<int>(strategy);
  return v < kStrategyCount ? kStrategyNames[v] : kStrategyNames[0];
}

std::optional<Strategy> ParseStrategy(std::string_view name) {
  for (int i = 0; i < kStrategyCount; ++i) {
    if (kStrategyNames[i] == name) return static_cast<Strategy>(i);
  }
  return std::nullopt;
}

std::string_view TransportName(Transport transport) {
  const size_t v = static_cast<size_t>(transport);
  return v < kTransportNames.size() ? kTransportNames[v] : kTransportNames[0];
}

// Pairs are laid out row by row over a, each row holding the b >= a: row a has n - a entries (n
// types), so it starts after a * n - a * (a - 1) / 2 of them. An unnormalised pair is indexed as
// its normal form.
int NatPair::Index() const {
  const int x = std::min(TypeOrdinal(a), TypeOrdinal(b));
  const int y = std::max(TypeOrdinal(a), TypeOrdinal(b));
  return x * kNatTypeCount - x * (x - 1) / 2 + (y - x);
}

// Out-of-range indices give the (unknown, unknown) pair rather than reading past a table.
NatPair NatPair::FromIndex(int index) {
  if (index < 0 || index >= kNatPairCount) return NatPair{};
  int a = 0;
  int row_size = kNatTypeCount;
  while (index >= row_size) {
    index -= row_size;
    --row_size;
    ++a;
  }
  return NatPair{static_cast<NatType>(a), static_cast<NatType>(a + index)};
}

// StrFormat rather than StrCat: this absl's string_view is its own type, not std::string_view.
std::string PairName(NatPair pair) {
  const NatPair normal = NatPair::Of(pair.a, pair.b);
  return absl::StrFormat("%s × %s", NatTypeName(normal.a), NatTypeName(normal.b));
}

int ConnectTimeBucket(uint32_t ms) {
  return static_cast<int>(
      std::lower_bound(kConnectTimeBoundsMs.begin(), kConnectTimeBoundsMs.end(), ms) -
      kConnectTimeBoundsMs.begin());
}

double BucketLowerMs(int bucket) { return bucket == 0 ? 0.0 : kConnectTimeBoundsMs[bucket - 1]; }

double BucketUpperMs(int bucket) {
  constexpr double kLastBucketUpperMs = 60000;
  return bucket < static_cast<int>(kConnectTimeBoundsMs.size()) ? kConnectTimeBoundsMs[bucket]
                                                                : kLastBucketUpperMs;
}

RawCounts CountsOf(const Outcome& outcome) {
  RawCounts c;
  c.sessions = 1;
  for (const Attempt& attempt : outcome.attempts) {
    switch (attempt.path) {
      case Path::kDirect:
        ++c.direct_attempts;
        if (attempt.result == AttemptResult::kSucceeded) {
          ++c.direct_successes;
          ++c.direct_ms_hist[ConnectTimeBucket(attempt.duration_ms)];
        } else if (attempt.result == AttemptResult::kTimedOut) {
          ++c.direct_timeouts;
          ++c.direct_censored_hist[ConnectTimeBucket(attempt.duration_ms)];
        } else if (attempt.result == AttemptResult::kFailed) {
          ++c.direct_failures;
        }
        break;
      case Path::kRelay:
        ++c.relay_attempts;
        if (attempt.result == AttemptResult::kSucceeded) {
          ++c.relay_successes;
          ++c.relay_ms_hist[ConnectTimeBucket(attempt.duration_ms)];
        }
        break;
      case Path::kUnspecified:
        // Validation refuses these; an attempt on no known path says nothing about either path.
        break;
    }
  }
  if (outcome.connected) {
    c.connected = 1;
    c.connect_ms_sum = outcome.time_to_connect_ms;
    ++c.connect_ms_hist[ConnectTimeBucket(outcome.time_to_connect_ms)];
  }
  return c;
}

}  // namespace advisor::strategy
