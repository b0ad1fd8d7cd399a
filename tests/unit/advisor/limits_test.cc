// The service's limits: per-identity rate limiting with bounded memory, the per-identity cap on
// reports for one pair and bucket, log rate limiting, and the request deadline queue.
#include "services/advisor/limits.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace advisor {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST(RateLimiter, BurstThenRate) {
  RateLimiter limiter(/*rate=*/10, /*burst=*/20);
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(limiter.Acquire("a", kNow).has_value()) << i;
  std::optional<absl::Duration> wait = limiter.Acquire("a", kNow);
  ASSERT_TRUE(wait.has_value());
  EXPECT_NEAR(absl::ToDoubleMilliseconds(*wait), 100, 1);
  // Others are not affected; a tenth of a second later one more request may go.
  EXPECT_FALSE(limiter.Acquire("b", kNow).has_value());
  EXPECT_FALSE(limiter.Acquire("a", kNow + absl::Milliseconds(100)).has_value());
  EXPECT_TRUE(limiter.Acquire("a", kNow + absl::Milliseconds(100)).has_value());
}

TEST(RateLimiter, ExhaustedLooksWithoutTaking) {
  RateLimiter limiter(/*rate=*/1, /*burst=*/2);
  EXPECT_FALSE(limiter.Exhausted("a", kNow)) << "never seen: a full bucket";
  limiter.Acquire("a", kNow);
  EXPECT_FALSE(limiter.Exhausted("a", kNow));
  EXPECT_FALSE(limiter.Exhausted("a", kNow)) << "looking took nothing";
  limiter.Acquire("a", kNow);
  EXPECT_TRUE(limiter.Exhausted("a", kNow));
  EXPECT_FALSE(limiter.Exhausted("a", kNow + absl::Seconds(1)));
}

TEST(RateLimiter, MemoryStaysBoundedAndIdleIdentitiesAreForgottenFirst) {
  RateLimiter limiter(/*rate=*/1, /*burst=*/2, /*max_identities=*/16 * 4);
  // "busy" has used its burst; 10,000 one-off identities come through later.
  EXPECT_FALSE(limiter.Acquire("busy", kNow).has_value());
  EXPECT_FALSE(limiter.Acquire("busy", kNow).has_value());
  for (int i = 0; i < 10'000; ++i) limiter.Acquire(absl::StrCat("one-off-", i), kNow);
  // Whatever was evicted, nobody gets more than a fresh burst: the limiter never lets through more
  // than burst + rate × time per identity it remembers, and at most a burst for one it forgot.
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += !limiter.Acquire("busy", kNow).has_value();
  EXPECT_LE(allowed, 2);
}

TEST(ReporterCap, CountsPerIdentityPairAndBucket) {
  ReporterCap cap(3);
  const absl::Time bucket = absl::FromUnixSeconds(1'800'000'000 / 3600 * 3600);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(cap.Admit("alice", 5, bucket));
  EXPECT_FALSE(cap.Admit("alice", 5, bucket));
  EXPECT_TRUE(cap.Admit("alice", 6, bucket)) << "another pair";
  EXPECT_TRUE(cap.Admit("bob", 5, bucket)) << "another identity";
  EXPECT_TRUE(cap.Admit("alice", 5, bucket + absl::Hours(1))) << "the next bucket";
}

TEST(ReporterCap, ManyHonestIdentitiesAreRarelyHeldBack) {
  // A million identities reporting once each in one bucket: the sketch only over-counts, so no one
  // gets past the cap, and with 4M cells per row almost everyone still gets their share.
  ReporterCap cap(1);
  const absl::Time bucket = absl::FromUnixSeconds(1'800'000'000);
  int refused = 0;
  for (int i = 0; i < 1'000'000; ++i) refused += !cap.Admit(absl::StrCat("install-", i), 3, bucket);
  EXPECT_LT(refused, 1'000'000 / 50) << "more than 2% of honest first reports held back";
  EXPECT_FALSE(cap.Admit("install-7", 3, bucket));
}

TEST(LogLimiter, HoldsBackAndThenSaysHowMany) {
  LogLimiter limiter(2);
  int64_t suppressed = -1;
  EXPECT_TRUE(limiter.Allow(kNow, suppressed));
  EXPECT_EQ(suppressed, 0);
  EXPECT_TRUE(limiter.Allow(kNow, suppressed));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.Allow(kNow, suppressed));
  EXPECT_TRUE(limiter.Allow(kNow + absl::Seconds(1), suppressed));
  EXPECT_EQ(suppressed, 5);
}

// Records the order its waiters expire in.
struct Recorder {
  std::vector<std::string> expired;
};

class NamedWaiter final : public RequestDeadlines::Waiter {
 public:
  NamedWaiter(std::string name, Recorder& recorder) : name_(std::move(name)), recorder_(recorder) {}
  void Expired() override { recorder_.expired.push_back(name_); }

 private:
  std::string name_;
  Recorder& recorder_;
};

TEST(RequestDeadlines, OnlyWaitersPastTheLimitExpireOldestFirst) {
  using Clock = RequestDeadlines::Clock;
  const Clock::time_point start{};
  RequestDeadlines deadlines(absl::Seconds(10));
  Recorder recorder;
  NamedWaiter a("a", recorder), b("b", recorder), c("c", recorder);
  deadlines.Add(a, start);
  deadlines.Add(b, start + std::chrono::seconds(1));
  deadlines.Add(c, start + std::chrono::seconds(2));
  EXPECT_EQ(deadlines.ExpireUntil(start + std::chrono::milliseconds(9999)), 0);
  EXPECT_EQ(deadlines.ExpireUntil(start + std::chrono::seconds(11)), 2);
  EXPECT_EQ(recorder.expired, (std::vector<std::string>{"a", "b"}));
  // An expired waiter belongs to its Expired(); one still waiting can leave.
  EXPECT_FALSE(deadlines.Remove(a));
  EXPECT_TRUE(deadlines.Remove(c));
  EXPECT_FALSE(deadlines.Remove(c));
  EXPECT_EQ(deadlines.ExpireUntil(start + std::chrono::hours(1)), 0);
}

TEST(RequestDeadlines, RemovingFromTheMiddleKeepsTheOthers) {
  using Clock = RequestDeadlines::Clock;
  const Clock::time_point start{};
  RequestDeadlines deadlines(absl::Seconds(1));
  Recorder recorder;
  NamedWaiter a("a", recorder), b("b", recorder), c("c", recorder);
  for (NamedWaiter* waiter : {&a, &b, &c}) deadlines.Add(*waiter, start);
  EXPECT_TRUE(deadlines.Remove(b));
  // A waiter may wait again once removed.
  deadlines.Add(b, start + std::chrono::seconds(5));
  EXPECT_EQ(deadlines.ExpireUntil(start + std::chrono::seconds(2)), 2);
  EXPECT_EQ(recorder.expired, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(deadlines.ExpireUntil(start + std::chrono::seconds(6)), 1);
  EXPECT_EQ(recorder.expired.back(), "b");
}

}  // namespace
}  // namespace advisor
