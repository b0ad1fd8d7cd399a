// The TURN registry, TURN health and the prober's leader lock against a real PostgreSQL server.
#include "lib/store/turn_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/store/store.h"
#include "tests/support/postgres_suite.h"

namespace advisor::store {
namespace {

using turn::HealthState;
using turn::HealthStatus;

const absl::Time kNow = absl::FromUnixMicros(1'800'000'000'123'456);

TurnServerRow Server(std::string id, std::vector<std::string> urls, std::string region,
                     std::vector<std::string> transports, bool enabled = true) {
  return TurnServerRow{.id = std::move(id),
                       .urls = std::move(urls),
                       .region = std::move(region),
                       .transports = std::move(transports),
                       .enabled = enabled};
}

class TurnStoreTest : public testing::PostgresSuite {
 protected:
  // Each test gets a database of its own on the suite's server.
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(PostgresSuite::SetUp());
    db_ = NewDatabase("turn");
    ASSERT_FALSE(HasFailure());
  }

  std::string Url(const std::string& application_name = "") const {
    const std::string url = cluster().url(db_);
    return application_name.empty() ? url : url + "?application_name=" + application_name;
  }

  std::string Query(const std::string& sql) const { return PostgresSuite::Query(db_, sql); }

  // Ends the sessions of `application_name`; returns how many there were.
  std::string KillSessions(const std::string& application_name) const {
    return Query(
        absl::StrCat("SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                     "WHERE application_name = '",
                     application_name, "'"));
  }

  static std::vector<TurnServerRow> LoadServers(PgStore& store) {
    absl::StatusOr<std::vector<TurnServerRow>> rows = store.LoadTurnServers();
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : std::vector<TurnServerRow>{};
  }

  static std::vector<TurnHealthRow> LoadHealth(PgStore& store) {
    absl::StatusOr<std::vector<TurnHealthRow>> rows = store.LoadTurnHealth();
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : std::vector<TurnHealthRow>{};
  }

  std::string db_;
};

TEST(LeaderLockKeyTest, IsFnv1aOfThePrefixedNameAndStable) {
  // FNV-1a 64 of "turn-prober/" and of "turn-prober/eu", computed independently.
  EXPECT_EQ(LeaderLockKey(""), 8199783485433721522);
  EXPECT_EQ(LeaderLockKey("eu"), 2613222365702549344);
  EXPECT_NE(LeaderLockKey("eu"), LeaderLockKey("us"));
  for (const char* name : {"", "eu", "us", "default"}) {
    EXPECT_NE(LeaderLockKey(name), kMigrationLockKey) << name;
  }
}

TEST_F(TurnStoreTest, SyncInsertsUpdatesAndDisables) {
  PgStore store(Url());
  // Elements that an unquoted array literal would mangle: commas, braces, quotes, backslashes.
  const std::vector<TurnServerRow> first = {
      Server("b", {"turn:b.example.net?transport=tcp"}, "us", {"tcp"}),
      Server("a", {"turn:a.example.net", "turns:a.example.net:5349", "odd,\"{x}\\ NULL"}, "eu",
             {"udp", "tls"}),
  };
  ASSERT_TRUE(store.SyncTurnServers(first).ok());
  EXPECT_THAT(LoadServers(store), ::testing::ElementsAre(first[1], first[0]));

  // Stays as it is when nothing changed: updated_at tells when the registry last changed.
  const std::string updated_at = Query("SELECT updated_at FROM turn_servers WHERE id = 'a'");
  ASSERT_TRUE(store.SyncTurnServers(first).ok());
  EXPECT_EQ(Query("SELECT updated_at FROM turn_servers WHERE id = 'a'"), updated_at);

  const std::vector<TurnServerRow> second = {
      Server("a", {"turn:a2.example.net?transport=tcp"}, "eu-west", {"tcp"}),
      Server("c", {"turn:c.example.net"}, "", {"udp"}, /*enabled=*/false),
  };
  ASSERT_TRUE(store.SyncTurnServers(second).ok());
  TurnServerRow b_disabled = first[0];
  b_disabled.enabled = false;
  EXPECT_THAT(LoadServers(store), ::testing::ElementsAre(second[0], b_disabled, second[1]));

  // No servers in the file: every row stays, none is offered.
  ASSERT_TRUE(store.SyncTurnServers({}).ok());
  for (const TurnServerRow& row : LoadServers(store)) EXPECT_FALSE(row.enabled) << row.id;
  EXPECT_EQ(LoadServers(store).size(), 3u);

  // Listed again: enabled again.
  ASSERT_TRUE(store.SyncTurnServers(first).ok());
  EXPECT_TRUE(LoadServers(store).at(0).enabled);
}

TEST_F(TurnStoreTest, SyncRefusesInvalidRegistries) {
  PgStore store(Url());
  const TurnServerRow ok = Server("a", {"turn:a"}, "", {"udp"});
  for (const std::vector<TurnServerRow>& servers : std::vector<std::vector<TurnServerRow>>{
           {ok, ok},
           {Server("", {"turn:a"}, "", {"udp"})},
           {Server("a", {}, "", {"udp"})},
           {Server("a", {"turn:a"}, "", {"sctp"})},
       }) {
    EXPECT_EQ(store.SyncTurnServers(servers).code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(LoadServers(store).empty());
}

TEST_F(TurnStoreTest, HealthRoundTripsIncludingNullTimes) {
  PgStore store(Url());
  ASSERT_TRUE(store
                  .SyncTurnServers(std::vector<TurnServerRow>{
                      Server("a", {"turn:a"}, "eu", {"udp"}),
                      Server("b", {"turn:b"}, "us", {"udp"}),
                  })
                  .ok());

  HealthState healthy;
  healthy.status = HealthStatus::kHealthy;
  healthy.last_latency_ms = 12.345678901234567;
  healthy.smoothed_latency_ms = 1.0 / 3.0;
  healthy.success_rate = 0.9099999999999999;
  healthy.last_check = kNow;

  HealthState unhealthy;
  unhealthy.status = HealthStatus::kUnhealthy;
  unhealthy.consecutive_failures = 4;
  unhealthy.last_latency_ms = 30;
  unhealthy.smoothed_latency_ms = 25.5;
  unhealthy.success_rate = 0;
  unhealthy.last_error = "Allocate: 401 Unauthorized (wrong credentials?) — 'quoted'";
  unhealthy.last_check = kNow;
  unhealthy.unhealthy_until = kNow + absl::Minutes(5);

  HealthState failing_from_the_start;  // never measured: latencies stay NULL
  failing_from_the_start.consecutive_failures = 1;
  failing_from_the_start.last_error = "timed out";
  failing_from_the_start.last_check = kNow;

  const HealthState never_checked;  // every nullable column NULL

  const std::vector<TurnHealthRow> rows = {
      {"a", "", healthy},
      {"a", "eu", unhealthy},
      {"b", "", failing_from_the_start},
      {"b", "us", never_checked},
  };
  ASSERT_TRUE(store.WriteTurnHealth(rows).ok());
  EXPECT_EQ(LoadHealth(store), rows);
  EXPECT_EQ(Query("SELECT status, last_latency_ms IS NULL, smoothed_latency_ms IS NULL,"
                  " success_rate IS NULL, last_check IS NULL, unhealthy_until IS NULL"
                  " FROM turn_health WHERE server_id = 'b' AND prober_region = 'us'"),
            "unknown|t|t|t|t|t");
  EXPECT_EQ(Query("SELECT last_latency_ms IS NULL, success_rate, last_check IS NULL,"
                  " unhealthy_until IS NULL"
                  " FROM turn_health WHERE server_id = 'b' AND prober_region = ''"),
            "t|0|f|t");

  // Written again: replaced, not added.
  std::vector<TurnHealthRow> next = {{"a", "eu", healthy}};
  ASSERT_TRUE(store.WriteTurnHealth(next).ok());
  const std::vector<TurnHealthRow> loaded = LoadHealth(store);
  ASSERT_EQ(loaded.size(), 4u);
  EXPECT_EQ(loaded[1], next[0]);
}

TEST_F(TurnStoreTest, WriteHealthRefusesInvalidRows) {
  PgStore store(Url());
  ASSERT_TRUE(store.SyncTurnServers(std::vector{Server("a", {"turn:a"}, "", {"udp"})}).ok());
  HealthState nan_latency;
  nan_latency.last_latency_ms = std::numeric_limits<double>::quiet_NaN();
  HealthState rate_above_one;
  rate_above_one.success_rate = 1.5;
  HealthState forever;
  forever.unhealthy_until = absl::InfiniteFuture();
  for (const TurnHealthRow& row :
       {TurnHealthRow{"", "", {}}, TurnHealthRow{"a", "", nan_latency},
        TurnHealthRow{"a", "", rate_above_one}, TurnHealthRow{"a", "", forever}}) {
    EXPECT_EQ(store.WriteTurnHealth(std::vector{row}).code(), absl::StatusCode::kInvalidArgument);
  }
  // A server the registry does not know: the whole batch fails, nothing is written.
  const absl::Status unknown =
      store.WriteTurnHealth(std::vector<TurnHealthRow>{{"a", "", {}}, {"zz", "", {}}});
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInternal) << unknown;
  EXPECT_TRUE(LoadHealth(store).empty());
}

TEST_F(TurnStoreTest, LoadsAreUnavailableWhileTheServerIsDown) {
  PgStore store(Url());
  LeaderLock lock(Url(), "eu");
  ASSERT_TRUE(store.SyncTurnServers(std::vector{Server("a", {"turn:a"}, "", {"udp"})}).ok());
  ASSERT_TRUE(lock.TryAcquire().value_or(false));

  ASSERT_TRUE(cluster().Stop().ok());
  const absl::Time start = absl::Now();
  const absl::Status servers = store.LoadTurnServers().status();
  const absl::Status health = store.LoadTurnHealth().status();
  const absl::Status sync = store.SyncTurnServers({});
  const absl::Status write = store.WriteTurnHealth(std::vector<TurnHealthRow>{{"a", "", {}}});
  const absl::StatusOr<bool> held = lock.TryAcquire();
  const absl::Duration elapsed = absl::Now() - start;
  const absl::Status restarted = cluster().Start();
  ASSERT_TRUE(restarted.ok()) << restarted;

  EXPECT_EQ(servers.code(), absl::StatusCode::kUnavailable) << servers;
  EXPECT_EQ(health.code(), absl::StatusCode::kUnavailable) << health;
  EXPECT_EQ(sync.code(), absl::StatusCode::kUnavailable) << sync;
  EXPECT_EQ(write.code(), absl::StatusCode::kUnavailable) << write;
  EXPECT_EQ(held.status().code(), absl::StatusCode::kUnavailable) << held.status();
  EXPECT_LT(elapsed, absl::Seconds(10));

  // The same objects reconnect.
  EXPECT_EQ(LoadServers(store).size(), 1u);
  const absl::StatusOr<bool> again = lock.TryAcquire();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(*again);
}

TEST_F(TurnStoreTest, ExactlyOneOfTwoLocksWithTheSameNameHolds) {
  LeaderLock first(Url(), "eu");
  LeaderLock second(Url(), "eu");
  absl::StatusOr<bool> a = first.TryAcquire();
  absl::StatusOr<bool> b = second.TryAcquire();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(*a);
  EXPECT_FALSE(*b);
  // Asking again changes nothing: the holder keeps it, the other keeps waiting.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(first.TryAcquire().value_or(false));
    EXPECT_FALSE(second.TryAcquire().value_or(true));
  }
  // One session, one lock: asking again does not stack the lock up.
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database ="
                  " (SELECT oid FROM pg_database WHERE datname = current_database())"),
            "1");
}

TEST_F(TurnStoreTest, AReleasedLockPassesToTheOther) {
  LeaderLock first(Url(), "eu");
  LeaderLock second(Url(), "eu");
  ASSERT_TRUE(first.TryAcquire().value_or(false));
  ASSERT_FALSE(second.TryAcquire().value_or(true));
  first.Release();
  EXPECT_TRUE(second.TryAcquire().value_or(false));
  EXPECT_FALSE(first.TryAcquire().value_or(true));
}

TEST_F(TurnStoreTest, ALockDiesWithItsSession) {
  LeaderLock first(Url("leader_first"), "eu");
  LeaderLock second(Url("leader_second"), "eu");
  ASSERT_TRUE(first.TryAcquire().value_or(false));
  ASSERT_FALSE(second.TryAcquire().value_or(true));

  ASSERT_EQ(KillSessions("leader_first"), "1");
  const absl::StatusOr<bool> taken = second.TryAcquire();
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_TRUE(*taken);
  // The old holder finds its session gone, reconnects, and stands by.
  const absl::StatusOr<bool> lost = first.TryAcquire();
  ASSERT_TRUE(lost.ok()) << lost.status();
  EXPECT_FALSE(*lost);

  // And the other way round, with the new holder's session killed.
  ASSERT_EQ(KillSessions("leader_second"), "1");
  EXPECT_TRUE(first.TryAcquire().value_or(false));
  EXPECT_FALSE(second.TryAcquire().value_or(true));
}

TEST_F(TurnStoreTest, LocksOfDifferentNamesAreIndependent) {
  LeaderLock eu(Url(), "eu");
  LeaderLock us(Url(), "us");
  LeaderLock global(Url(), "");
  EXPECT_TRUE(eu.TryAcquire().value_or(false));
  EXPECT_TRUE(us.TryAcquire().value_or(false));
  EXPECT_TRUE(global.TryAcquire().value_or(false));
  // Migrations take their own lock, so a running prober does not hold up a deployment's migrate.
  absl::StatusOr<int> migrated = Migrate(Url());
  EXPECT_TRUE(migrated.ok()) << migrated.status();
}

TEST_F(TurnStoreTest, ALockOnAnUnreachableServerIsAnErrorNotAnException) {
  LeaderLock lock("postgresql://advisor@127.0.0.1:1/advisor", "eu");
  const absl::StatusOr<bool> held = lock.TryAcquire();
  EXPECT_EQ(held.status().code(), absl::StatusCode::kUnavailable) << held.status();
}

}  // namespace
}  // namespace advisor::store
