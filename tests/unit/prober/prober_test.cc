// The TURN prober's logic with a fake probe, store, clock and leader lock: what a cycle checks and
// writes, the health state across cycles, seeding from stored health, database failures, the
// bounded worker pool, and the leader/standby loop.
#include "services/prober/prober.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/turn/credentials.h"
#include "prometheus/registry.h"
#include "tests/support/fake_stores.h"

namespace advisor::prober {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using turn::HealthState;
using turn::HealthStatus;

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

config::TurnServerConfig Server(std::string id, std::vector<std::string> urls,
                                bool enabled = true) {
  config::TurnServerConfig server;
  server.id = std::move(id);
  server.region = "eu";
  server.auth.rest_secret = "secret-of-" + server.id;
  server.enabled = enabled;
  for (const std::string& url : urls) {
    absl::StatusOr<turn::TurnUrl> parsed = turn::ParseTurnUrl(url);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    server.parsed_urls.push_back(parsed.ok() ? *parsed : turn::TurnUrl{});
  }
  server.urls = std::move(urls);
  return server;
}

// `count` servers with one udp url each: s0, s1, …
std::vector<config::TurnServerConfig> ManyServers(int count) {
  std::vector<config::TurnServerConfig> servers;
  for (int i = 0; i < count; ++i) {
    servers.push_back(Server(absl::StrCat("s", i), {absl::StrCat("turn:10.0.0.1:", 1000 + i)}));
  }
  return servers;
}

using FakeStore = ::advisor::testing::FakeTurnStore;

// A probe whose result per url the test sets; records every call.
class FakeProbe {
 public:
  struct Call {
    std::string url;
    std::string username;
    std::string password;
    absl::Duration timeout;
  };

  ProbeFunction Function() {
    return [this](const turn::TurnUrl& url, std::string_view username, std::string_view password,
                  const turn::ProbeOptions& options) {
      turn::ProbeResult result;
      std::function<void()> side_effect;
      {
        std::lock_guard lock(mu_);
        calls.push_back(
            Call{url.text, std::string(username), std::string(password), options.timeout});
        auto it = results.find(url.text);
        result = it == results.end() ? Ok(absl::Milliseconds(20)) : it->second;
        side_effect = on_call;
      }
      if (side_effect) side_effect();
      return result;
    };
  }

  static turn::ProbeResult Ok(absl::Duration total) {
    turn::ProbeResult result;
    result.ok = true;
    result.latency.total = total;
    return result;
  }
  static turn::ProbeResult Error(std::string error) {
    turn::ProbeResult result;
    result.error = std::move(error);
    return result;
  }

  void Set(const std::string& url, turn::ProbeResult result) {
    std::lock_guard lock(mu_);
    results[url] = std::move(result);
  }
  std::vector<Call> Calls() {
    std::lock_guard lock(mu_);
    return calls;
  }
  std::vector<std::string> CalledUrls() {
    std::vector<std::string> urls;
    for (const Call& call : Calls()) urls.push_back(call.url);
    std::ranges::sort(urls);
    return urls;
  }

  std::mutex mu_;
  std::map<std::string, turn::ProbeResult> results;
  std::vector<Call> calls;
  std::function<void()> on_call;  // run after each call is recorded, outside the lock
};

// A clock the test moves; safe to read from the probe workers.
class FakeClock {
 public:
  Clock Function() {
    return [this] { return kStart + absl::Microseconds(micros_.load()); };
  }
  absl::Time Now() const { return kStart + absl::Microseconds(micros_.load()); }
  void Advance(absl::Duration d) { micros_ += absl::ToInt64Microseconds(d); }

 private:
  std::atomic<int64_t> micros_ = 0;
};

// The value of one series: a counter's or gauge's value, a histogram's sample count; NaN when
// there is no series with these labels.
double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels = {}) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      const bool match = std::ranges::all_of(labels, [&](const auto& wanted) {
        return std::ranges::any_of(metric.label, [&](const prometheus::ClientMetric::Label& l) {
          return l.name == wanted.first && l.value == wanted.second;
        });
      });
      if (!match) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter:
          return metric.counter.value;
        case prometheus::MetricType::Gauge:
          return metric.gauge.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(metric.histogram.sample_count);
        default:
          return std::nan("");
      }
    }
  }
  return std::nan("");
}

class ProberTest : public ::testing::Test {
 protected:
  std::unique_ptr<Prober> Make(std::vector<config::TurnServerConfig> servers,
                               ProberOptions options = {}, Clock clock = nullptr) {
    return std::make_unique<Prober>(std::move(servers), std::move(options), store_,
                                    probe_.Function(), clock ? clock : clock_.Function(),
                                    registry_);
  }

  FakeStore store_;
  FakeProbe probe_;
  FakeClock clock_;
  prometheus::Registry registry_;
};

TEST_F(ProberTest, ACycleChecksEveryUrlOfEveryEnabledServerAndNoDisabledOne) {
  auto prober = Make({
      Server("a", {"turn:a.example.net?transport=udp", "turns:a.example.net:5349"}),
      Server("b", {"turn:b.example.net"}, /*enabled=*/false),
      Server("c", {"turn:c.example.net?transport=tcp"}),
  });
  const CycleSummary summary = prober->RunCycle();

  EXPECT_THAT(probe_.CalledUrls(),
              ElementsAre("turn:a.example.net?transport=udp", "turn:c.example.net?transport=tcp",
                          "turns:a.example.net:5349"));
  EXPECT_EQ(summary.probed, 2);
  EXPECT_EQ(summary.ok, 2);
  EXPECT_EQ(summary.healthy, 2);
  EXPECT_TRUE(summary.sync.ok());
  EXPECT_TRUE(summary.write.ok());

  // The registry gets every server, the disabled one as disabled, with no secret in any field.
  ASSERT_EQ(store_.synced.size(), 3u);
  EXPECT_EQ(store_.synced[0], (store::TurnServerRow{.id = "a",
                                                    .urls = {"turn:a.example.net?transport=udp",
                                                             "turns:a.example.net:5349"},
                                                    .region = "eu",
                                                    .transports = {"udp", "tls"},
                                                    .enabled = true}));
  EXPECT_FALSE(store_.synced[1].enabled);
  EXPECT_THAT(store_.synced[2].transports, ElementsAre("tcp"));

  // Health of the enabled servers, in one write.
  ASSERT_EQ(store_.writes.size(), 1u);
  ASSERT_EQ(store_.writes[0].size(), 2u);
  EXPECT_EQ(store_.writes[0][0].server_id, "a");
  EXPECT_EQ(store_.writes[0][1].server_id, "c");
  for (const store::TurnHealthRow& row : store_.writes[0]) {
    EXPECT_EQ(row.prober_region, "");
    EXPECT_EQ(row.health.status, HealthStatus::kHealthy);
    EXPECT_EQ(row.health.last_check, kStart);
  }
}

TEST_F(ProberTest, UsesRestCredentialsOfTheServersSecretOrItsStaticUser) {
  config::TurnServerConfig rest = Server("rest", {"turn:rest.example.net"});
  config::TurnServerConfig fixed = Server("static", {"turn:static.example.net"});
  fixed.auth = {.rest_secret = "", .username = "alice", .password = "wonder"};
  ProberOptions options;
  options.rest_credential_ttl = absl::Minutes(7);
  auto prober = Make({rest, fixed}, options);
  prober->RunCycle();

  const absl::StatusOr<turn::RestCredentials> expected =
      turn::MakeRestCredentials("secret-of-rest", "turn-prober", kStart, absl::Minutes(7));
  ASSERT_TRUE(expected.ok());
  std::map<std::string, std::pair<std::string, std::string>> used;
  for (const FakeProbe::Call& call : probe_.Calls()) {
    used[call.url] = {call.username, call.password};
  }
  EXPECT_EQ(used["turn:rest.example.net"], std::make_pair(expected->username, expected->password));
  EXPECT_EQ(used["turn:static.example.net"],
            std::make_pair(std::string("alice"), std::string("wonder")));
}

TEST_F(ProberTest, ThreeFailedCyclesMakeAServerUnhealthyAndASuccessHealthyAgain) {
  auto prober = Make({Server("a", {"turn:a.example.net", "turn:a.example.net?transport=tcp"})});
  probe_.Set("turn:a.example.net?transport=tcp", FakeProbe::Error("Allocate: 401 Unauthorized"));

  for (int cycle = 1; cycle <= 2; ++cycle) {
    EXPECT_EQ(prober->RunCycle().ok, 0);
    const HealthState h = store_.Stored("a");
    EXPECT_EQ(h.status, HealthStatus::kUnknown) << cycle;
    EXPECT_EQ(h.consecutive_failures, cycle);
    clock_.Advance(absl::Minutes(1));
  }
  const absl::Time third = clock_.Now();
  const CycleSummary summary = prober->RunCycle();
  EXPECT_EQ(summary.unhealthy, 1);
  HealthState h = store_.Stored("a");
  EXPECT_EQ(h.status, HealthStatus::kUnhealthy);
  EXPECT_EQ(h.consecutive_failures, 3);
  EXPECT_EQ(h.unhealthy_until, third + absl::Minutes(5));
  // Only the failing url is named, with its own error.
  EXPECT_EQ(h.last_error, "turn:a.example.net?transport=tcp: Allocate: 401 Unauthorized");
  EXPECT_EQ(MetricValue(registry_, "turn_server_up", {{"server", "a"}}), 0);
  EXPECT_EQ(MetricValue(registry_, "turn_server_consecutive_failures", {{"server", "a"}}), 3);
  EXPECT_EQ(MetricValue(registry_, "turn_probe_total", {{"server", "a"}, {"result", "error"}}), 3);
  EXPECT_EQ(MetricValue(registry_, "turn_probe_total", {{"server", "a"}, {"result", "ok"}}), 0);

  probe_.Set("turn:a.example.net?transport=tcp", FakeProbe::Ok(absl::Milliseconds(30)));
  probe_.Set("turn:a.example.net", FakeProbe::Ok(absl::Milliseconds(12)));
  clock_.Advance(absl::Minutes(1));
  prober->RunCycle();
  h = store_.Stored("a");
  EXPECT_EQ(h.status, HealthStatus::kHealthy);
  EXPECT_EQ(h.consecutive_failures, 0);
  EXPECT_EQ(h.last_error, "");
  // The fastest url stands for the server.
  EXPECT_DOUBLE_EQ(h.last_latency_ms, 12);
  EXPECT_EQ(MetricValue(registry_, "turn_server_up", {{"server", "a"}}), 1);
  EXPECT_DOUBLE_EQ(MetricValue(registry_, "turn_server_latency_seconds", {{"server", "a"}}), 0.012);
  EXPECT_EQ(MetricValue(registry_, "turn_probe_duration_seconds", {{"server", "a"}}), 4);
  EXPECT_EQ(MetricValue(registry_, "turn_prober_cycles_total"), 4);
  EXPECT_EQ(MetricValue(registry_, "turn_prober_last_cycle_timestamp_seconds"),
            absl::ToUnixSeconds(clock_.Now()));
}

TEST_F(ProberTest, TheUrlsOfAServerShareOneTimeBudget) {
  ProberOptions options;
  options.probe.timeout = absl::Seconds(5);
  auto prober = Make({Server("a", {"turn:a.example.net", "turn:a.example.net?transport=tcp",
                                   "turns:a.example.net"})},
                     options);
  // The first url takes 2 s, the second the rest of the budget (it times out).
  int calls = 0;
  probe_.on_call = [&] { clock_.Advance(++calls == 1 ? absl::Seconds(2) : absl::Seconds(3)); };
  probe_.Set("turn:a.example.net?transport=tcp", FakeProbe::Error("timed out after 3s"));
  prober->RunCycle();

  const std::vector<FakeProbe::Call> made = probe_.Calls();
  ASSERT_EQ(made.size(), 2u);
  EXPECT_EQ(made[0].timeout, absl::Seconds(5));
  EXPECT_EQ(made[1].timeout, absl::Seconds(3));
  const HealthState h = store_.Stored("a");
  EXPECT_EQ(h.last_error,
            "turn:a.example.net?transport=tcp: timed out after 3s; turns:a.example.net: not "
            "checked, the check's 5s were used up");
  EXPECT_EQ(h.last_check, kStart + absl::Seconds(5));
}

TEST_F(ProberTest, ContinuesFromTheStoredHealthOfItsOwnRegion) {
  HealthState two_failures;
  two_failures.status = HealthStatus::kUnknown;
  two_failures.consecutive_failures = 2;
  two_failures.last_error = "earlier";
  two_failures.last_check = kStart - absl::Minutes(1);
  HealthState healthy;
  healthy.status = HealthStatus::kHealthy;
  healthy.last_check = kStart - absl::Minutes(1);
  store_.stored[{"a", "eu"}] = {.server_id = "a", .prober_region = "eu", .health = two_failures};
  store_.stored[{"a", ""}] = {.server_id = "a", .prober_region = "", .health = healthy};

  ProberOptions options;
  options.region = "eu";
  auto prober = Make({Server("a", {"turn:a.example.net"})}, options);
  ASSERT_TRUE(prober->Seed().ok());
  EXPECT_EQ(MetricValue(registry_, "turn_server_consecutive_failures", {{"server", "a"}}), 2);

  probe_.Set("turn:a.example.net", FakeProbe::Error("connect: Connection refused"));
  prober->RunCycle();
  const HealthState h = store_.Stored("a", "eu");
  EXPECT_EQ(h.status, HealthStatus::kUnhealthy);
  EXPECT_EQ(h.consecutive_failures, 3);
  // The fleet-wide prober's row is not touched.
  EXPECT_EQ(store_.Stored("a", ""), healthy);
}

TEST_F(ProberTest, AFailedWriteKeepsTheStateForTheNextCycle) {
  auto prober = Make({Server("a", {"turn:a.example.net"})});
  probe_.Set("turn:a.example.net", FakeProbe::Error("timed out"));
  store_.write_status = absl::UnavailableError("connection refused");
  for (int cycle = 0; cycle < 2; ++cycle) {
    const CycleSummary summary = prober->RunCycle();
    EXPECT_FALSE(summary.write.ok());
    ASSERT_EQ(summary.rows.size(), 1u);
    clock_.Advance(absl::Minutes(1));
  }
  EXPECT_TRUE(store_.writes.empty());
  EXPECT_EQ(MetricValue(registry_, "turn_prober_store_errors_total", {{"operation", "write"}}), 2);

  // A seed from older stored rows (another leader's, say) does not throw the newer checks away.
  HealthState older;
  older.status = HealthStatus::kHealthy;
  older.last_check = kStart - absl::Hours(1);
  store_.stored[{"a", ""}] = {.server_id = "a", .prober_region = "", .health = older};
  ASSERT_TRUE(prober->Seed().ok());

  store_.write_status = absl::OkStatus();
  EXPECT_TRUE(prober->RunCycle().write.ok());
  const HealthState h = store_.Stored("a");
  EXPECT_EQ(h.consecutive_failures, 3);
  EXPECT_EQ(h.status, HealthStatus::kUnhealthy);
}

TEST_F(ProberTest, AFailedSyncStillProbesAndWrites) {
  auto prober = Make({Server("a", {"turn:a.example.net"})});
  store_.sync_status = absl::UnavailableError("connection refused");
  const CycleSummary summary = prober->RunCycle();
  EXPECT_FALSE(summary.sync.ok());
  EXPECT_EQ(summary.probed, 1);
  EXPECT_EQ(store_.writes.size(), 1u);
  EXPECT_EQ(MetricValue(registry_, "turn_prober_store_errors_total", {{"operation", "sync"}}), 1);
}

TEST_F(ProberTest, NoMoreChecksRunAtOnceThanTheConcurrency) {
  ProberOptions options;
  options.concurrency = 8;
  auto prober = Make(ManyServers(100), options, absl::Now);
  std::atomic<int> running = 0;
  std::atomic<int> most = 0;
  probe_.on_call = [&] {
    const int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    absl::SleepFor(absl::Milliseconds(5));
    --running;
  };
  const CycleSummary summary = prober->RunCycle();
  EXPECT_EQ(summary.probed, 100);
  EXPECT_EQ(probe_.Calls().size(), 100u);
  EXPECT_LE(most.load(), 8);
  EXPECT_GT(most.load(), 1);  // and they do run in parallel
}

TEST_F(ProberTest, AThousandSlowServersFitFarWithinOnePeriod) {
  // Each check takes 20 ms: one after another that is 20 s; 256 workers need about 4 rounds.
  auto prober = Make(ManyServers(1000), ProberOptions{}, absl::Now);
  probe_.on_call = [] { absl::SleepFor(absl::Milliseconds(20)); };
  const CycleSummary summary = prober->RunCycle();
  EXPECT_EQ(summary.probed, 1000);
  EXPECT_EQ(store_.writes.at(0).size(), 1000u);
  EXPECT_LT(summary.elapsed, absl::Seconds(4)) << "a serial cycle would take 20 s";
  EXPECT_GT(MetricValue(registry_, "turn_prober_cycle_seconds"), 0);
}

TEST_F(ProberTest, StopSkipsTheChecksNotStartedAndWritesTheOthers) {
  ProberOptions options;
  options.concurrency = 1;
  auto prober = Make(ManyServers(10), options);
  int calls = 0;
  probe_.on_call = [&] {
    if (++calls == 3) prober->Stop();
  };
  const CycleSummary summary = prober->RunCycle();
  EXPECT_EQ(summary.probed, 3);
  EXPECT_EQ(summary.skipped, 7);
  ASSERT_EQ(store_.writes.size(), 1u);
  EXPECT_EQ(store_.writes[0].size(), 3u);
}

TEST_F(ProberTest, OnceRefusesWhileAnotherReplicaLeads) {
  auto prober = Make({Server("a", {"turn:a.example.net"})});
  absl::StatusOr<CycleSummary> summary = prober->RunOnce([] { return false; });
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(summary.status().message(), HasSubstr("another turn-prober leads"));
  summary =
      prober->RunOnce([]() -> absl::StatusOr<bool> { return absl::UnavailableError("down"); });
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(probe_.Calls().empty());

  summary = prober->RunOnce([] { return true; });
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->probed, 1);
  EXPECT_EQ(store_.loads, 1);  // seeded first
  EXPECT_EQ(MetricValue(registry_, "turn_prober_leader"), 1);
}

// Polls `condition` for up to `timeout`.
bool Eventually(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return condition();
}

TEST_F(ProberTest, AStandbyDoesNotProbeAndTakesOverWithinOnePeriod) {
  ProberOptions options;
  options.interval = absl::Milliseconds(200);
  auto prober = Make({Server("a", {"turn:a.example.net"})}, options, absl::Now);
  std::atomic<bool> lock_free = false;
  std::atomic<int> lock_checks = 0;
  std::thread run([&] {
    prober->Run([&]() -> absl::StatusOr<bool> {
      ++lock_checks;
      return lock_free.load();
    });
  });

  // It asks every period, and stands by.
  ASSERT_TRUE(Eventually([&] { return lock_checks >= 3; }, absl::Seconds(5)));
  EXPECT_TRUE(probe_.Calls().empty());
  EXPECT_EQ(store_.loads, 0);
  EXPECT_EQ(MetricValue(registry_, "turn_prober_leader"), 0);

  const absl::Time freed = absl::Now();
  lock_free = true;
  ASSERT_TRUE(Eventually([&] { return store_.Stored("a").last_check != absl::InfinitePast(); },
                         absl::Seconds(5)));
  // One period and a little: generous for a loaded machine.
  EXPECT_LT(absl::Now() - freed, options.interval + absl::Seconds(1));
  EXPECT_EQ(store_.loads, 1);  // seeded when it took the lead
  EXPECT_EQ(MetricValue(registry_, "turn_prober_leader"), 1);

  // Losing the lead and taking it back seeds again.
  lock_free = false;
  const int checks = lock_checks;
  ASSERT_TRUE(Eventually([&] { return lock_checks > checks + 1; }, absl::Seconds(5)));
  EXPECT_EQ(MetricValue(registry_, "turn_prober_leader"), 0);
  lock_free = true;
  ASSERT_TRUE(Eventually([&] { return store_.loads == 2; }, absl::Seconds(5)));

  prober->Stop();
  run.join();
}

TEST_F(ProberTest, ALockErrorMeansStandingBy) {
  ProberOptions options;
  options.interval = absl::Milliseconds(50);
  auto prober = Make({Server("a", {"turn:a.example.net"})}, options, absl::Now);
  std::atomic<int> lock_checks = 0;
  std::thread run([&] {
    prober->Run([&]() -> absl::StatusOr<bool> {
      ++lock_checks;
      return absl::UnavailableError("connection refused");
    });
  });
  ASSERT_TRUE(Eventually([&] { return lock_checks >= 3; }, absl::Seconds(5)));
  prober->Stop();
  run.join();
  EXPECT_TRUE(probe_.Calls().empty());
}

TEST_F(ProberTest, ALeaderThatCannotLoadTheStoredHealthWaitsForIt) {
  ProberOptions options;
  options.interval = absl::Milliseconds(50);
  auto prober = Make({Server("a", {"turn:a.example.net"})}, options, absl::Now);
  store_.load_status = absl::UnavailableError("connection refused");
  std::thread run([&] { prober->Run([] { return true; }); });
  ASSERT_TRUE(Eventually(
      [&] { return store_.Stored("a").last_check == absl::InfinitePast() && store_.loads >= 2; },
      absl::Seconds(5)));
  EXPECT_TRUE(probe_.Calls().empty());
  EXPECT_GE(MetricValue(registry_, "turn_prober_store_errors_total", {{"operation", "load"}}), 2);

  {
    std::lock_guard lock(store_.mu_);
    store_.load_status = absl::OkStatus();
  }
  ASSERT_TRUE(Eventually([&] { return !probe_.Calls().empty(); }, absl::Seconds(5)));
  prober->Stop();
  run.join();
}

TEST_F(ProberTest, ACycleThatOverrunsIsFollowedAtOnceAndStopEndsTheWait) {
  ProberOptions options;
  options.interval = absl::Hours(1);
  auto prober = Make({Server("a", {"turn:a.example.net"})}, options);
  // Each check "takes" two periods on the fake clock, so no cycle leaves time to wait.
  std::atomic<bool> overrun = true;
  probe_.on_call = [&] {
    if (overrun) clock_.Advance(absl::Hours(2));
  };
  std::thread run([&] { prober->Run([] { return true; }); });
  ASSERT_TRUE(Eventually([&] { return probe_.Calls().size() >= 3; }, absl::Seconds(5)));

  // Once cycles fit again, it waits out the hour; Stop() ends the wait at once.
  overrun = false;
  const size_t calls = probe_.Calls().size();
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_LE(probe_.Calls().size(), calls + 1);
  const absl::Time stop = absl::Now();
  prober->Stop();
  run.join();
  EXPECT_LT(absl::Now() - stop, absl::Seconds(1));
}

}  // namespace
}  // namespace advisor::prober
