// Histories and stored rows built by hand, shared by the lib/strategy tests that decide from them
// (engine_test.cc, explanation_test.cc), age them (ageing_test.cc, engine_test.cc, cost_test.cc) or
// log their arrivals (arrivals_test.cc).
#ifndef ADVISOR_TESTS_UNIT_STRATEGY_HISTORIES_H_
#define ADVISOR_TESTS_UNIT_STRATEGY_HISTORIES_H_

#include <cstdint>

#include "absl/time/time.h"
#include "lib/strategy/ageing.h"
#include "lib/strategy/types.h"

namespace advisor::testing {

inline const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);
inline const absl::Duration kWidth = absl::Minutes(10);
inline const absl::Duration kHalfLife = absl::Hours(24);

// A stored bucket that is still open at kNow, so it weighs exactly 1.
inline strategy::BucketAggregate OpenBucket(strategy::NatPair pair, strategy::Strategy advised,
                                            int64_t successes, int64_t timeouts,
                                            int64_t failures = 0) {
  strategy::BucketAggregate b;
  b.pair = pair;
  b.strategy = advised;
  b.bucket_start = kNow - absl::Minutes(1);
  b.counts.sessions = successes + timeouts + failures;
  b.counts.direct_attempts = successes + timeouts + failures;
  b.counts.direct_successes = successes;
  b.counts.direct_timeouts = timeouts;
  b.counts.direct_failures = failures;
  return b;
}

// A stored bucket `age_in_buckets` widths before `now` (and a second before its end): direct
// successes at about 1 s, timeouts at 3 s.
inline strategy::BucketAggregate AgedBucket(absl::Time now, absl::Duration width,
                                            strategy::NatPair pair, strategy::Strategy advised,
                                            int age_in_buckets, int64_t sessions,
                                            int64_t direct_successes, int64_t direct_timeouts) {
  strategy::BucketAggregate b;
  b.pair = pair;
  b.strategy = advised;
  b.bucket_start = now - width * age_in_buckets - absl::Seconds(1);
  b.counts.sessions = sessions;
  b.counts.direct_attempts = direct_successes + direct_timeouts;
  b.counts.direct_successes = direct_successes;
  b.counts.direct_ms_hist[strategy::ConnectTimeBucket(1000)] = direct_successes;
  b.counts.direct_timeouts = direct_timeouts;
  b.counts.direct_censored_hist[strategy::ConnectTimeBucket(3000)] = direct_timeouts;
  return b;
}

// A history with something for every pair and strategy, different per pair, so that symmetry is
// tested on non-trivial decisions: direct success rates from 0 to 99% by pair, successes at times
// and timeouts at lengths that vary by pair, the rest failures; a relay that rescues most of them.
inline strategy::History VariedHistory() {
  strategy::History history;
  for (int p = 0; p < strategy::kNatPairCount; ++p) {
    for (int s = 1; s < strategy::kStrategyCount; ++s) {
      strategy::AgedCounts& c = history.counts[p][s];
      c.sessions = 20 + 7 * p + s;
      c.direct_attempts = c.sessions;
      c.direct_successes = c.sessions * ((p * 37) % 100) / 100.0;
      c.direct_ms_hist[2 + p % 5] = c.direct_successes;
      c.direct_timeouts = (c.direct_attempts - c.direct_successes) / 2;
      c.direct_censored_hist[5 + (p + s) % 5] = c.direct_timeouts;
      c.direct_failures = c.direct_attempts - c.direct_successes - c.direct_timeouts;
      c.relay_attempts = c.direct_attempts - c.direct_successes;
      c.relay_successes = c.relay_attempts * 0.98;
      c.relay_ms_hist[3 + s % 2] = c.relay_successes;
      c.connected = c.sessions * 0.9;
      c.connect_ms_hist[(p + s) % strategy::kConnectTimeBuckets] = c.connected;
    }
  }
  return history;
}

}  // namespace advisor::testing

#endif  // ADVISOR_TESTS_UNIT_STRATEGY_HISTORIES_H_
