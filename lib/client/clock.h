// The time source of the client library, injected so that NAT discovery, its cache and the tests
// that drive them with a fake transport agree on one notion of "now" without reading the wall
// clock inside decision logic.
#ifndef ADVISOR_LIB_CLIENT_CLOCK_H_
#define ADVISOR_LIB_CLIENT_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace advisor::client {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

// A clock that moves only when told to: what unit tests and the fake transport use.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::UnixEpoch() + absl::Hours(24)) : now_(start) {}
  absl::Time Now() const override { return now_; }
  void Advance(absl::Duration d) { now_ += d; }
  void Set(absl::Time t) { now_ = t; }

 private:
  absl::Time now_;
};

}  // namespace advisor::client

#endif  // ADVISOR_LIB_CLIENT_CLOCK_H_
