// The PostgreSQL store against a real server: migrations, idempotent flushes, loads, and behaviour
// while the server is down or the session is killed.
#include "lib/store/store.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace advisor::store {
namespace {

using strategy::BucketAggregate;
using strategy::kConnectTimeBuckets;
using strategy::NatPair;
using strategy::NatType;
using strategy::RawCounts;
using strategy::Strategy;

const absl::Time kBucket = absl::FromUnixSeconds(1'800'000'000);
const NatPair kPair = NatPair::Of(NatType::kSymmetric, NatType::kFullCone);

// Counts with a different value in every field, derived from `seed`; large seeds exceed 32 bits.
RawCounts DistinctCounts(int64_t seed) {
  RawCounts c;
  int64_t next = seed;
  for (int64_t* field :
       {&c.sessions, &c.connected, &c.direct_attempts, &c.direct_successes, &c.direct_timeouts,
        &c.direct_failures, &c.relay_attempts, &c.relay_successes, &c.connect_ms_sum}) {
    *field = next++;
  }
  for (int i = 0; i < kConnectTimeBuckets; ++i) {
    c.connect_ms_hist[i] = next++;
    c.direct_ms_hist[i] = next++;
    c.direct_censored_hist[i] = next++;
    c.relay_ms_hist[i] = next++;
  }
  return c;
}

BucketAggregate Aggregate(NatPair pair, Strategy strategy, absl::Time bucket, RawCounts counts) {
  return BucketAggregate{
      .pair = pair, .strategy = strategy, .bucket_start = bucket, .counts = counts};
}

RawCounts Sum(const RawCounts& x, const RawCounts& y) {
  RawCounts sum = x;
  sum.Add(y);
  return sum;
}

std::vector<int> Versions(std::span<const Migration> migrations) {
  std::vector<int> versions;
  for (const Migration& m : migrations) versions.push_back(m.version);
  return versions;
}

class StoreTest : public ::testing::Test {
 protected:
  // One server for the suite (initdb is the slow part); each test gets a database of its own.
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<advisor::testing::PostgresCluster>();
    init_status_ = cluster_->Init();
    if (!init_status_.ok()) cluster_.reset();
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  void SetUp() override { ASSERT_NE(cluster_, nullptr) << init_status_; }

  // A new empty database, its name returned; migrated unless asked not to.
  static std::string NewDatabase(bool migrate = true) {
    const std::string name = absl::StrCat("test_", ++databases_);
    absl::Status created = cluster_->CreateDatabase(name);
    EXPECT_TRUE(created.ok()) << created;
    if (migrate) {
      absl::StatusOr<int> applied = Migrate(cluster_->url(name));
      EXPECT_TRUE(applied.ok()) << applied.status();
    }
    return name;
  }

  // The output of `sql` run in `database`, or the error.
  static std::string Query(const std::string& database, const std::string& sql) {
    absl::StatusOr<std::string> output = cluster_->Query(sql, database);
    return output.ok() ? *output : output.status().ToString();
  }

  static std::vector<BucketAggregate> LoadAll(PgStore& store) {
    absl::StatusOr<std::vector<BucketAggregate>> rows = store.LoadAggregates(absl::InfinitePast());
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : std::vector<BucketAggregate>{};
  }

  static inline std::unique_ptr<advisor::testing::PostgresCluster> cluster_;
  static inline absl::Status init_status_;
  static inline int databases_ = 0;
};

TEST_F(StoreTest, EmbeddedMigrationsAreSortedAndStartWithInit) {
  std::span<const Migration> migrations = EmbeddedMigrations();
  ASSERT_FALSE(migrations.empty());
  EXPECT_EQ(migrations[0].version, 1);
  EXPECT_EQ(migrations[0].name, "0001_init.sql");
  EXPECT_NE(migrations[0].sql.find("CREATE TABLE outcome_aggregates"), std::string::npos);
  for (size_t i = 1; i < migrations.size(); ++i) {
    EXPECT_LT(migrations[i - 1].version, migrations[i].version);
  }
}

TEST_F(StoreTest, MigrateFromEmptyCreatesSchemaThenDoesNothing) {
  const std::string db = NewDatabase(/*migrate=*/false);
  const std::string url = cluster_->url(db);
  absl::StatusOr<int> applied = Migrate(url);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, static_cast<int>(EmbeddedMigrations().size()));

  EXPECT_EQ(Query(db,
                  "SELECT string_agg(table_name, ',' ORDER BY table_name) "
                  "FROM information_schema.tables WHERE table_schema = 'public'"),
            "applied_flushes,outcome_aggregates,schema_migrations,turn_health,turn_servers");
  EXPECT_EQ(Query(db,
                  "SELECT string_agg(version::text, ',' ORDER BY version) "
                  "FROM schema_migrations"),
            absl::StrJoin(Versions(EmbeddedMigrations()), ","));

  applied = Migrate(url);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, 0);
}

TEST_F(StoreTest, ConcurrentMigrateAppliesEachMigrationOnce) {
  const std::string db = NewDatabase(/*migrate=*/false);
  const std::string url = cluster_->url(db);
  constexpr int kReplicas = 6;
  std::vector<absl::StatusOr<int>> results(kReplicas, 0);
  {
    std::vector<std::jthread> replicas;
    for (int i = 0; i < kReplicas; ++i) {
      replicas.emplace_back([&, i] { results[i] = Migrate(url); });
    }
  }
  int total = 0;
  for (const absl::StatusOr<int>& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    total += *result;
  }
  EXPECT_EQ(total, static_cast<int>(EmbeddedMigrations().size()));
  EXPECT_EQ(Query(db, "SELECT count(*) FROM schema_migrations"),
            absl::StrCat(EmbeddedMigrations().size()));
}

TEST_F(StoreTest, MigrateAppliesMissingVersionsInOrderAndNamesTheOneThatFails) {
  const std::string db = NewDatabase();
  const std::string url = cluster_->url(db);
  std::vector<Migration> migrations(EmbeddedMigrations().begin(), EmbeddedMigrations().end());
  // Out of order on purpose: 9002 depends on 9001.
  migrations.push_back(
      {9002, "9002_broken.sql",
       "CREATE TABLE half_done (x int REFERENCES extra (x)); SELECT no_such_fn()"});
  migrations.push_back({9001, "9001_extra.sql", "CREATE TABLE extra (x int PRIMARY KEY)"});

  absl::StatusOr<int> applied = Migrate(url, migrations);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(applied.status().message().find("9002_broken.sql"), std::string::npos)
      << applied.status();
  // 9001 committed; 9002 rolled back entirely, record and all.
  EXPECT_EQ(Query(db, "SELECT max(version) FROM schema_migrations"), "9001");
  EXPECT_EQ(Query(db,
                  "SELECT to_regclass('extra') IS NOT NULL, "
                  "to_regclass('half_done') IS NULL"),
            "t|t");

  migrations[migrations.size() - 2].sql = "CREATE TABLE half_done (x int REFERENCES extra (x))";
  applied = Migrate(url, migrations);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, 1);
}

TEST_F(StoreTest, MigrateReportsAnUnreachableServerAsUnavailable) {
  absl::StatusOr<int> applied =
      Migrate(absl::StrCat("postgresql://advisor@127.0.0.1:", advisor::testing::FreePort(), "/x"));
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kUnavailable) << applied.status();
}

TEST(StoreConnectTimeoutTest, AddsATimeoutInEitherFormUnlessOneIsGiven) {
  if (std::getenv("PGCONNECT_TIMEOUT") != nullptr) GTEST_SKIP() << "PGCONNECT_TIMEOUT is set";
  EXPECT_EQ(WithConnectTimeout("postgresql://u@h/db"), "postgresql://u@h/db?connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout("postgres://h/db?sslmode=disable"),
            "postgres://h/db?sslmode=disable&connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout("postgresql://h/db?"), "postgresql://h/db?connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout("host=h dbname=db"), "host=h dbname=db connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout(""), "connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout("postgresql://h/db?connect_timeout=1"),
            "postgresql://h/db?connect_timeout=1");
  EXPECT_EQ(WithConnectTimeout("host=h connect_timeout=2"), "host=h connect_timeout=2");
}

TEST_F(StoreTest, ApplyFlushThenLoadRoundTripsEveryField) {
  PgStore store(cluster_->url(NewDatabase()));
  // Microseconds in the bucket start, counts beyond 32 bits, and keys that differ in each part.
  const absl::Time bucket = absl::FromUnixMicros(1'800'000'000'123'456);
  const std::vector<BucketAggregate> deltas = {
      Aggregate(kPair, Strategy::kDirect, bucket, DistinctCounts(1)),
      Aggregate(kPair, Strategy::kTurnOnly, bucket, DistinctCounts(5'000'000'000)),
      Aggregate(NatPair::Of(NatType::kUnknown, NatType::kBlocked), Strategy::kUnspecified, bucket,
                DistinctCounts(100)),
      Aggregate(kPair, Strategy::kDirect, bucket + absl::Hours(1), DistinctCounts(200)),
  };
  ASSERT_TRUE(store.ApplyFlush({.flush_id = "f1", .deltas = deltas}).ok());

  std::vector<BucketAggregate> loaded = LoadAll(store);
  ASSERT_EQ(loaded.size(), deltas.size());
  for (const BucketAggregate& want : deltas) {
    bool found = false;
    for (const BucketAggregate& got : loaded) {
      if (got.pair != want.pair || got.strategy != want.strategy ||
          got.bucket_start != want.bucket_start) {
        continue;
      }
      found = true;
      EXPECT_TRUE(got.counts == want.counts)
          << "pair " << static_cast<int>(want.pair.a) << "," << static_cast<int>(want.pair.b)
          << " strategy " << static_cast<int>(want.strategy);
    }
    EXPECT_TRUE(found) << "missing row for bucket " << want.bucket_start;
  }
}

TEST_F(StoreTest, FlushesToTheSameRowAddUp) {
  const std::string db = NewDatabase();
  PgStore store(cluster_->url(db));
  const RawCounts first = DistinctCounts(1);
  const RawCounts second = DistinctCounts(1000);
  ASSERT_TRUE(store.ApplyFlush({"f1", {Aggregate(kPair, Strategy::kDirect, kBucket, first)}}).ok());
  // Two deltas for one row in a single batch are merged rather than rejected by Postgres.
  ASSERT_TRUE(store
                  .ApplyFlush({"f2",
                               {Aggregate(kPair, Strategy::kDirect, kBucket, second),
                                Aggregate(kPair, Strategy::kDirect, kBucket, first)}})
                  .ok());

  std::vector<BucketAggregate> loaded = LoadAll(store);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_TRUE(loaded[0].counts == Sum(Sum(first, second), first));
  EXPECT_EQ(Query(db,
                  "SELECT string_agg(flush_id || ':' || rows, ',' ORDER BY flush_id) "
                  "FROM applied_flushes"),
            "f1:1,f2:1");
}

TEST_F(StoreTest, ARepeatedFlushIdCountsOnceAndANewOneAdds) {
  PgStore store(cluster_->url(NewDatabase()));
  const RawCounts counts = DistinctCounts(7);
  const FlushBatch batch = {"retried",
                            {Aggregate(kPair, Strategy::kTurnFallback, kBucket, counts)}};
  ASSERT_TRUE(store.ApplyFlush(batch).ok());
  // The retry of a batch whose commit acknowledgement was lost.
  ASSERT_TRUE(store.ApplyFlush(batch).ok());
  std::vector<BucketAggregate> loaded = LoadAll(store);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_TRUE(loaded[0].counts == counts);

  ASSERT_TRUE(store.ApplyFlush({"next", batch.deltas}).ok());
  loaded = LoadAll(store);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_TRUE(loaded[0].counts == Sum(counts, counts));
}

TEST_F(StoreTest, LoadAggregatesReturnsBucketsFromSinceOn) {
  PgStore store(cluster_->url(NewDatabase()));
  std::vector<BucketAggregate> deltas;
  for (int hour = 0; hour < 3; ++hour) {
    deltas.push_back(
        Aggregate(kPair, Strategy::kDirect, kBucket + absl::Hours(hour), DistinctCounts(hour)));
  }
  ASSERT_TRUE(store.ApplyFlush({"f", deltas}).ok());

  absl::StatusOr<std::vector<BucketAggregate>> since =
      store.LoadAggregates(kBucket + absl::Hours(1));
  ASSERT_TRUE(since.ok()) << since.status();
  ASSERT_EQ(since->size(), 2u);
  EXPECT_EQ((*since)[0].bucket_start, kBucket + absl::Hours(1));
  EXPECT_EQ((*since)[1].bucket_start, kBucket + absl::Hours(2));

  since = store.LoadAggregates(kBucket + absl::Hours(2) + absl::Microseconds(1));
  ASSERT_TRUE(since.ok()) << since.status();
  EXPECT_TRUE(since->empty());
  EXPECT_EQ(LoadAll(store).size(), 3u);
}

TEST_F(StoreTest, InvalidBatchesAreRefused) {
  PgStore store(cluster_->url(NewDatabase()));
  const RawCounts counts = DistinctCounts(1);
  NatPair unordered{NatType::kSymmetric, NatType::kOpen};
  RawCounts negative = counts;
  negative.direct_ms_hist[3] = -1;
  RawCounts negative_relay = counts;
  negative_relay.relay_ms_hist[0] = -1;
  for (const FlushBatch& batch : {
           FlushBatch{"", {Aggregate(kPair, Strategy::kDirect, kBucket, counts)}},
           FlushBatch{"a", {Aggregate(unordered, Strategy::kDirect, kBucket, counts)}},
           FlushBatch{"b", {Aggregate(kPair, static_cast<Strategy>(9), kBucket, counts)}},
           FlushBatch{"c", {Aggregate(kPair, Strategy::kDirect, absl::InfiniteFuture(), counts)}},
           FlushBatch{"d", {Aggregate(kPair, Strategy::kDirect, kBucket, negative)}},
           FlushBatch{"e", {Aggregate(kPair, Strategy::kDirect, kBucket, negative_relay)}},
       }) {
    EXPECT_EQ(store.ApplyFlush(batch).code(), absl::StatusCode::kInvalidArgument)
        << "flush id '" << batch.flush_id << "'";
  }
  EXPECT_TRUE(LoadAll(store).empty());
}

TEST_F(StoreTest, UnavailableWhileTheServerIsDownThenRecovers) {
  PgStore store(cluster_->url(NewDatabase()));
  const FlushBatch first = {"before",
                            {Aggregate(kPair, Strategy::kDirect, kBucket, DistinctCounts(1))}};
  const FlushBatch during = {"during",
                             {Aggregate(kPair, Strategy::kDirect, kBucket, DistinctCounts(2))}};
  ASSERT_TRUE(store.ApplyFlush(first).ok());

  ASSERT_TRUE(cluster_->Stop().ok());
  const absl::Time start = absl::Now();
  const absl::Status flush = store.ApplyFlush(during);
  const absl::Status load = store.LoadAggregates(absl::InfinitePast()).status();
  const absl::Status ping = store.Ping();
  const absl::Duration elapsed = absl::Now() - start;
  const absl::Status restarted = cluster_->Start();
  ASSERT_TRUE(restarted.ok()) << restarted;

  EXPECT_EQ(flush.code(), absl::StatusCode::kUnavailable) << flush;
  EXPECT_EQ(load.code(), absl::StatusCode::kUnavailable) << load;
  EXPECT_EQ(ping.code(), absl::StatusCode::kUnavailable) << ping;
  EXPECT_LT(elapsed, absl::Seconds(10));

  // The same store object reconnects; the flush that failed goes through on its retry.
  EXPECT_TRUE(store.Ping().ok());
  ASSERT_TRUE(store.ApplyFlush(during).ok());
  std::vector<BucketAggregate> loaded = LoadAll(store);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_TRUE(loaded[0].counts == Sum(first.deltas[0].counts, during.deltas[0].counts));
}

TEST_F(StoreTest, RecoversFromABackendKilledBetweenCalls) {
  // The application name lets the test find the store's session among the server's backends.
  PgStore store(cluster_->url(NewDatabase()) + "?application_name=store_under_test");
  const FlushBatch batch = {"acked-lost",
                            {Aggregate(kPair, Strategy::kDirect, kBucket, DistinctCounts(3))}};
  ASSERT_TRUE(store.ApplyFlush(batch).ok());
  auto kill_session = [] {
    return Query("advisor",
                 "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                 "WHERE application_name = 'store_under_test'");
  };
  // As if the commit's acknowledgement had been lost with the connection: the caller retries.
  ASSERT_EQ(kill_session(), "1");
  absl::Status retried = store.ApplyFlush(batch);
  EXPECT_TRUE(retried.ok()) << retried;

  ASSERT_EQ(kill_session(), "1");
  std::vector<BucketAggregate> loaded = LoadAll(store);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_TRUE(loaded[0].counts == batch.deltas[0].counts);
  ASSERT_EQ(kill_session(), "1");
  EXPECT_TRUE(store.Ping().ok());
}

}  // namespace
}  // namespace advisor::store
