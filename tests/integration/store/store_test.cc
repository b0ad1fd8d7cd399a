// The PostgreSQL store against a real server: migrations, idempotent flushes, each decision token
// counted once (across batches, replicas and within a batch), expiry of used tokens, loads, and
// behaviour while the server is down or the session is killed.
#include "lib/store/store.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/support/postgres_suite.h"
#include "tests/support/process.h"

namespace advisor::store {

// For readable failures of EXPECT_EQ on flush results (found by argument-dependent lookup).
void PrintTo(const FlushResult& r, std::ostream* os) {
  *os << "{rows " << r.rows << ", counted " << r.counted << ", duplicates " << r.duplicates << "}";
}

namespace {

using strategy::AttemptResult;
using strategy::BucketAggregate;
using strategy::NatPair;
using strategy::NatType;
using strategy::Outcome;
using strategy::Path;
using strategy::RawCounts;
using strategy::Strategy;

const absl::Time kBucket = absl::FromUnixSeconds(1'800'000'000);
const absl::Time kExpires = kBucket + absl::Hours(24);
const NatPair kPair = NatPair::Of(NatType::kSymmetric, NatType::kFullCone);

// Distinct token ids: `n` spread over the bytes, so that ids differ in their first and last bytes.
TokenId Id(uint32_t n) {
  TokenId id{};
  for (int i = 0; i < 4; ++i) {
    id[i] = static_cast<uint8_t>(n >> (8 * i));
    id[15 - i] = static_cast<uint8_t>(n >> (8 * i));
  }
  id[7] = 0xa5;
  return id;
}

Outcome DirectSuccess(uint32_t ms) {
  return {.attempts = {{Path::kDirect, AttemptResult::kSucceeded, ms}},
          .connected = true,
          .time_to_connect_ms = ms};
}
Outcome FallbackToRelay(uint32_t timeout_ms, uint32_t relay_ms) {
  return {.attempts = {{Path::kDirect, AttemptResult::kTimedOut, timeout_ms},
                       {Path::kRelay, AttemptResult::kSucceeded, relay_ms}},
          .connected = true,
          .time_to_connect_ms = timeout_ms + relay_ms};
}
Outcome TotalFailure() {
  return {.attempts = {{Path::kDirect, AttemptResult::kFailed, 700},
                       {Path::kRelay, AttemptResult::kFailed, 900},
                       {Path::kRelay, AttemptResult::kTimedOut, 10'000}},
          .connected = false};
}

ReportedSession Session(uint32_t id, Outcome outcome, NatPair pair = kPair,
                        Strategy strategy = Strategy::kDirect, absl::Time bucket = kBucket,
                        absl::Time expires = kExpires) {
  return {.token_id = Id(id),
          .token_expires = expires,
          .pair = pair,
          .strategy = strategy,
          .bucket_start = bucket,
          .outcome = std::move(outcome)};
}

// The counts of `sessions` summed, whatever their keys.
RawCounts SumOf(std::initializer_list<const ReportedSession*> sessions) {
  RawCounts sum;
  for (const ReportedSession* session : sessions) sum.Add(strategy::CountsOf(session->outcome));
  return sum;
}

FlushResult Result(size_t rows, int64_t counted, int64_t duplicates) {
  return {.rows = rows, .counted = counted, .duplicates = duplicates};
}

std::vector<int> Versions(std::span<const Migration> migrations) {
  std::vector<int> versions;
  for (const Migration& m : migrations) versions.push_back(m.version);
  return versions;
}

class StoreTest : public testing::PostgresSuite {
 protected:
  // A new empty database, its name returned; migrated unless asked not to.
  static std::string NewDatabase(bool migrate = true) {
    return PostgresSuite::NewDatabase("test", migrate);
  }

  static std::vector<BucketAggregate> LoadAll(PgStore& store) {
    absl::StatusOr<std::vector<BucketAggregate>> rows = store.LoadAggregates(absl::InfinitePast());
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : std::vector<BucketAggregate>{};
  }

  // Applies `batch`, expecting success; the result, or FlushResult{} after a failure.
  static FlushResult Apply(PgStore& store, const FlushBatch& batch) {
    absl::StatusOr<FlushResult> result = store.ApplyFlush(batch);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : FlushResult{};
  }

  // The one aggregate row in the store (an empty RawCounts, and a failure, when there is not one).
  static RawCounts OnlyRow(PgStore& store) {
    std::vector<BucketAggregate> loaded = LoadAll(store);
    EXPECT_EQ(loaded.size(), 1u);
    return loaded.size() == 1 ? loaded[0].counts : RawCounts{};
  }
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
  const std::string url = cluster().url(db);
  absl::StatusOr<int> applied = Migrate(url);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, static_cast<int>(EmbeddedMigrations().size()));

  EXPECT_EQ(Query(db,
                  "SELECT string_agg(table_name, ',' ORDER BY table_name) "
                  "FROM information_schema.tables WHERE table_schema = 'public'"),
            "applied_flushes,outcome_aggregates,schema_migrations,turn_health,turn_servers,"
            "used_decision_tokens");
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
  const std::string url = cluster().url(db);
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
  const std::string url = cluster().url(db);
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
  PgStore store(cluster().url(NewDatabase()));
  // Microseconds in the bucket start, keys that differ in each part, and a connect-time sum beyond
  // 32 bits.
  const absl::Time bucket = absl::FromUnixMicros(1'800'000'000'123'456);
  const NatPair other = NatPair::Of(NatType::kUnknown, NatType::kBlocked);
  const std::vector<ReportedSession> sessions = {
      Session(1, DirectSuccess(120), kPair, Strategy::kDirect, bucket),
      Session(2, DirectSuccess(4'000'000'000), kPair, Strategy::kDirect, bucket),
      Session(3, DirectSuccess(4'000'000'000), kPair, Strategy::kDirect, bucket),
      Session(4, FallbackToRelay(5000, 250), kPair, Strategy::kTurnFallback, bucket),
      Session(5, TotalFailure(), other, Strategy::kUnspecified, bucket),
      Session(6, FallbackToRelay(3000, 90), kPair, Strategy::kDirect, bucket + absl::Hours(1)),
  };
  EXPECT_EQ(Apply(store, {.flush_id = "f1", .sessions = sessions}), Result(4, 6, 0));

  struct Want {
    NatPair pair;
    Strategy strategy;
    absl::Time bucket;
    RawCounts counts;
  };
  const std::vector<Want> want = {
      {kPair, Strategy::kDirect, bucket, SumOf({&sessions[0], &sessions[1], &sessions[2]})},
      {kPair, Strategy::kTurnFallback, bucket, SumOf({&sessions[3]})},
      {other, Strategy::kUnspecified, bucket, SumOf({&sessions[4]})},
      {kPair, Strategy::kDirect, bucket + absl::Hours(1), SumOf({&sessions[5]})},
  };
  EXPECT_GT(want[0].counts.connect_ms_sum, int64_t{1} << 32);
  std::vector<BucketAggregate> loaded = LoadAll(store);
  ASSERT_EQ(loaded.size(), want.size());
  for (const Want& w : want) {
    bool found = false;
    for (const BucketAggregate& got : loaded) {
      if (got.pair != w.pair || got.strategy != w.strategy || got.bucket_start != w.bucket)
        continue;
      found = true;
      EXPECT_TRUE(got.counts == w.counts)
          << "pair " << static_cast<int>(w.pair.a) << "," << static_cast<int>(w.pair.b)
          << " strategy " << static_cast<int>(w.strategy);
    }
    EXPECT_TRUE(found) << "missing row for bucket " << w.bucket;
  }
}

TEST_F(StoreTest, FlushesToTheSameRowAddUpAndRecordTheirRows) {
  const std::string db = NewDatabase();
  PgStore store(cluster().url(db));
  const ReportedSession first = Session(1, DirectSuccess(300));
  const ReportedSession second = Session(2, FallbackToRelay(5000, 200));
  const ReportedSession third = Session(3, TotalFailure());
  EXPECT_EQ(Apply(store, {"f1", {first}}), Result(1, 1, 0));
  EXPECT_EQ(Apply(store, {"f2", {second, third}}), Result(1, 2, 0));
  EXPECT_TRUE(OnlyRow(store) == SumOf({&first, &second, &third}));
  EXPECT_EQ(Query(db,
                  "SELECT string_agg(flush_id || ':' || rows, ',' ORDER BY flush_id) "
                  "FROM applied_flushes"),
            "f1:1,f2:1");
}

TEST_F(StoreTest, ATokenCountsOnceAcrossBatches) {
  const std::string db = NewDatabase();
  PgStore store(cluster().url(db));
  const ReportedSession a = Session(1, DirectSuccess(300));
  const ReportedSession b = Session(2, DirectSuccess(400));
  const ReportedSession c = Session(3, TotalFailure());
  EXPECT_EQ(Apply(store, {"f1", {a, b}}), Result(1, 2, 0));
  // b again, as the retry of a report whose first copy was flushed already, with another outcome:
  // the first report stands.
  ReportedSession b_again = b;
  b_again.outcome = TotalFailure();
  EXPECT_EQ(Apply(store, {"f2", {b_again, c}}), Result(1, 1, 1));
  EXPECT_TRUE(OnlyRow(store) == SumOf({&a, &b, &c}));
  // Nothing but duplicates: no aggregate row touched, the flush still recorded.
  EXPECT_EQ(Apply(store, {"f3", {a, c}}), Result(0, 0, 2));
  EXPECT_TRUE(OnlyRow(store) == SumOf({&a, &b, &c}));
  EXPECT_EQ(Query(db, "SELECT count(*) FROM used_decision_tokens"), "3");
  EXPECT_EQ(Query(db, "SELECT rows FROM applied_flushes WHERE flush_id = 'f3'"), "0");
}

TEST_F(StoreTest, ASessionThatDoesNotCountStillUsesItsToken) {
  const std::string db = NewDatabase();
  PgStore store(cluster().url(db));
  const ReportedSession counted = Session(1, DirectSuccess(300));
  ReportedSession capped = Session(2, TotalFailure());
  capped.count = false;
  EXPECT_EQ(Apply(store, {"f1", {counted, capped}}), Result(1, 1, 0));
  EXPECT_TRUE(OnlyRow(store) == SumOf({&counted}));
  // The same token later, from a reporter with its share to spare: still a duplicate.
  ReportedSession again = capped;
  again.count = true;
  EXPECT_EQ(Apply(store, {"f2", {again}}), Result(0, 0, 1));
  EXPECT_TRUE(OnlyRow(store) == SumOf({&counted}));
  EXPECT_EQ(Query(db, "SELECT count(*) FROM used_decision_tokens"), "2");
}

TEST_F(StoreTest, ATokenCountsOnceAcrossReplicas) {
  const std::string url = cluster().url(NewDatabase());
  PgStore replica_a(url);
  PgStore replica_b(url);
  const ReportedSession shared = Session(7, DirectSuccess(300));
  const ReportedSession only_b = Session(8, DirectSuccess(500));
  EXPECT_EQ(Apply(replica_a, {"a1", {shared}}), Result(1, 1, 0));
  EXPECT_EQ(Apply(replica_b, {"b1", {shared, only_b}}), Result(1, 1, 1));
  EXPECT_TRUE(OnlyRow(replica_a) == SumOf({&shared, &only_b}));
}

TEST_F(StoreTest, ConcurrentReplicasWithOverlappingTokensCountEachOnce) {
  const std::string url = cluster().url(NewDatabase());
  // Both replicas hold the same 2000 reports, listed in opposite orders, and flush together in
  // batches: whichever inserts an id first counts it, and neither may deadlock on the other.
  constexpr int kReports = 2000;
  constexpr int kBatch = 250;
  std::vector<ReportedSession> sessions;
  for (int i = 0; i < kReports; ++i) {
    sessions.push_back(Session(i, i % 3 == 0 ? TotalFailure() : DirectSuccess(100 + i)));
  }
  std::vector<ReportedSession> reversed(sessions.rbegin(), sessions.rend());
  int64_t counted[2] = {0, 0};
  int64_t duplicates[2] = {0, 0};
  absl::Status failures[2];
  {
    std::vector<std::jthread> replicas;
    for (int r = 0; r < 2; ++r) {
      replicas.emplace_back([&, r] {
        PgStore store(url);
        const std::vector<ReportedSession>& mine = r == 0 ? sessions : reversed;
        for (int start = 0; start < kReports; start += kBatch) {
          FlushBatch batch{absl::StrCat("replica", r, "-", start),
                           {mine.begin() + start, mine.begin() + start + kBatch}};
          absl::StatusOr<FlushResult> result = store.ApplyFlush(batch);
          if (!result.ok()) {
            failures[r] = result.status();
            return;
          }
          counted[r] += result->counted;
          duplicates[r] += result->duplicates;
        }
      });
    }
  }
  ASSERT_TRUE(failures[0].ok()) << failures[0];
  ASSERT_TRUE(failures[1].ok()) << failures[1];
  EXPECT_EQ(counted[0] + counted[1], kReports);
  EXPECT_EQ(duplicates[0] + duplicates[1], kReports);
  PgStore reader(url);
  RawCounts want;
  for (const ReportedSession& session : sessions) want.Add(strategy::CountsOf(session.outcome));
  EXPECT_TRUE(OnlyRow(reader) == want);
}

TEST_F(StoreTest, ADuplicateWithinOneBatchCountsItsFirstOccurrenceOnce) {
  PgStore store(cluster().url(NewDatabase()));
  const ReportedSession first = Session(1, DirectSuccess(300));
  ReportedSession retry = first;
  retry.outcome = TotalFailure();
  const ReportedSession other = Session(2, FallbackToRelay(5000, 100));
  EXPECT_EQ(Apply(store, {"f", {first, other, retry, first}}), Result(1, 2, 2));
  EXPECT_TRUE(OnlyRow(store) == SumOf({&first, &other}));
}

TEST_F(StoreTest, AReplayedFlushIdChangesNothing) {
  const std::string db = NewDatabase();
  PgStore store(cluster().url(db));
  const FlushBatch batch = {"retried",
                            {Session(1, DirectSuccess(300), kPair, Strategy::kTurnFallback),
                             Session(2, TotalFailure(), kPair, Strategy::kTurnFallback)}};
  EXPECT_EQ(Apply(store, batch), Result(1, 2, 0));
  const RawCounts counts = OnlyRow(store);
  EXPECT_EQ(counts.sessions, 2);
  // The retry of a batch whose commit acknowledgement was lost, now with a report added: the id
  // alone decides, and nothing of the replay is written, its new token included.
  FlushBatch replay = batch;
  replay.sessions.push_back(Session(3, DirectSuccess(100), kPair, Strategy::kTurnFallback));
  EXPECT_EQ(Apply(store, replay), FlushResult{});
  EXPECT_TRUE(OnlyRow(store) == counts);
  EXPECT_EQ(Query(db, "SELECT count(*) FROM used_decision_tokens"), "2");
  EXPECT_EQ(Query(db, "SELECT string_agg(flush_id || ':' || rows, ',') FROM applied_flushes"),
            "retried:1");
}

TEST_F(StoreTest, ABatchOfManyTokensTravelsInOneFlush) {
  const std::string db = NewDatabase();
  PgStore store(cluster().url(db));
  constexpr uint32_t kSessions = 20'000;
  FlushBatch batch{"big", {}};
  for (uint32_t i = 0; i < kSessions; ++i) {
    batch.sessions.push_back(
        Session(i * 2'654'435'761u, DirectSuccess(100 + i % 1000),
                NatPair::FromIndex(static_cast<int>(i % strategy::kNatPairCount)),
                static_cast<Strategy>(i / strategy::kNatPairCount % strategy::kStrategyCount)));
  }
  EXPECT_EQ(Apply(store, batch),
            Result(strategy::kNatPairCount * strategy::kStrategyCount, kSessions, 0));
  EXPECT_EQ(Query(db, "SELECT sum(sessions) FROM outcome_aggregates"), absl::StrCat(kSessions));
  EXPECT_EQ(Query(db, "SELECT count(*) FROM used_decision_tokens"), absl::StrCat(kSessions));
  // The ids arrive intact: the first one's bytes, read back by the database.
  EXPECT_EQ(Query(db,
                  "SELECT count(*) FROM used_decision_tokens "
                  "WHERE token_id = '00000000-0000-00a5-0000-000000000000'"),
            "1");
}

TEST_F(StoreTest, ForgetExpiredTokensDeletesOnlyExpiredRowsUpToTheLimit) {
  const std::string db = NewDatabase();
  PgStore store(cluster().url(db));
  const absl::Time t0 = kExpires;
  FlushBatch batch{"f", {}};
  for (uint32_t i = 0; i < 5; ++i) {
    batch.sessions.push_back(
        Session(i, DirectSuccess(100), kPair, Strategy::kDirect, kBucket, t0 + absl::Hours(i)));
  }
  // Expiry is kept to the second, rounded up: this one goes only after t0 + 5 h + 1 s.
  batch.sessions.push_back(Session(99, DirectSuccess(100), kPair, Strategy::kDirect, kBucket,
                                   t0 + absl::Hours(5) + absl::Milliseconds(1)));
  EXPECT_EQ(Apply(store, batch), Result(1, 6, 0));

  EXPECT_EQ(store.ForgetExpiredTokens(t0 + absl::Hours(3) + absl::Minutes(1), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Expired before t0 + 3 h 1 min: tokens 0..3. At most 3 per call.
  absl::StatusOr<int64_t> deleted =
      store.ForgetExpiredTokens(t0 + absl::Hours(3) + absl::Minutes(1), 3);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 3);
  // Oldest first: 0, 1 and 2 went.
  EXPECT_EQ(Query(db, "SELECT count(*) FROM used_decision_tokens WHERE expires_at < '" +
                          absl::FormatTime("%Y-%m-%d %H:%M:%S+00", t0 + absl::Hours(3),
                                           absl::UTCTimeZone()) +
                          "'"),
            "0");
  deleted = store.ForgetExpiredTokens(t0 + absl::Hours(3) + absl::Minutes(1), 3);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  deleted = store.ForgetExpiredTokens(t0 + absl::Hours(3) + absl::Minutes(1), 3);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 0);
  EXPECT_EQ(Query(db, "SELECT count(*) FROM used_decision_tokens"), "2");

  deleted = store.ForgetExpiredTokens(t0 + absl::Hours(5) + absl::Milliseconds(500), 100);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);  // token 4 only: token 99's row stays until t0 + 5 h + 1 s
  deleted = store.ForgetExpiredTokens(t0 + absl::Hours(5) + absl::Milliseconds(1001), 100);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  EXPECT_EQ(Query(db, "SELECT count(*) FROM used_decision_tokens"), "0");
  // Counting still holds for the tokens' whole lifetime; their rows are what expiry removed, so
  // the aggregates are untouched.
  EXPECT_EQ(OnlyRow(store).sessions, 6);
}

TEST_F(StoreTest, FoldSessionsSumsCountsPerKeyInKeyOrder) {
  const ReportedSession a = Session(1, DirectSuccess(300), kPair, Strategy::kTurnOnly);
  const ReportedSession b = Session(2, TotalFailure(), kPair, Strategy::kDirect);
  const ReportedSession c = Session(3, DirectSuccess(900), kPair, Strategy::kTurnOnly);
  const std::vector<ReportedSession> sessions = {a, b, c};
  const std::vector<BucketAggregate> folded = FoldSessions(sessions);
  ASSERT_EQ(folded.size(), 2u);
  EXPECT_EQ(folded[0].strategy, Strategy::kDirect);
  EXPECT_TRUE(folded[0].counts == SumOf({&b}));
  EXPECT_EQ(folded[1].strategy, Strategy::kTurnOnly);
  EXPECT_TRUE(folded[1].counts == SumOf({&a, &c}));
}

TEST_F(StoreTest, LoadAggregatesReturnsBucketsFromSinceOn) {
  PgStore store(cluster().url(NewDatabase()));
  std::vector<ReportedSession> sessions;
  for (int hour = 0; hour < 3; ++hour) {
    sessions.push_back(
        Session(hour, DirectSuccess(100), kPair, Strategy::kDirect, kBucket + absl::Hours(hour)));
  }
  EXPECT_EQ(Apply(store, {"f", sessions}), Result(3, 3, 0));

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
  const std::string db = NewDatabase();
  PgStore store(cluster().url(db));
  NatPair unordered{NatType::kSymmetric, NatType::kOpen};
  const Outcome ok = DirectSuccess(100);
  for (const FlushBatch& batch : {
           FlushBatch{"", {Session(1, ok)}},
           FlushBatch{"a", {Session(1, ok, unordered)}},
           FlushBatch{"b", {Session(1, ok, kPair, static_cast<Strategy>(9))}},
           FlushBatch{"c", {Session(1, ok, kPair, Strategy::kDirect, absl::InfiniteFuture())}},
           FlushBatch{"d",
                      {Session(1, ok, kPair, Strategy::kDirect, kBucket, absl::InfinitePast())}},
           FlushBatch{"e", {Session(1, ok), Session(2, ok, kPair, static_cast<Strategy>(4))}},
       }) {
    EXPECT_EQ(store.ApplyFlush(batch).status().code(), absl::StatusCode::kInvalidArgument)
        << "flush id '" << batch.flush_id << "'";
  }
  EXPECT_TRUE(LoadAll(store).empty());
  EXPECT_EQ(Query(db, "SELECT count(*) FROM used_decision_tokens"), "0");
}

TEST_F(StoreTest, UnavailableWhileTheServerIsDownThenRecovers) {
  PgStore store(cluster().url(NewDatabase()));
  const FlushBatch first = {"before", {Session(1, DirectSuccess(100))}};
  const FlushBatch during = {"during", {Session(2, TotalFailure())}};
  EXPECT_EQ(Apply(store, first), Result(1, 1, 0));

  ASSERT_TRUE(cluster().Stop().ok());
  const absl::Time start = absl::Now();
  const absl::Status flush = store.ApplyFlush(during).status();
  const absl::Status forget = store.ForgetExpiredTokens(kExpires, 10).status();
  const absl::Status load = store.LoadAggregates(absl::InfinitePast()).status();
  const absl::Status ping = store.Ping();
  const absl::Duration elapsed = absl::Now() - start;
  const absl::Status restarted = cluster().Start();
  ASSERT_TRUE(restarted.ok()) << restarted;

  EXPECT_EQ(flush.code(), absl::StatusCode::kUnavailable) << flush;
  EXPECT_EQ(forget.code(), absl::StatusCode::kUnavailable) << forget;
  EXPECT_EQ(load.code(), absl::StatusCode::kUnavailable) << load;
  EXPECT_EQ(ping.code(), absl::StatusCode::kUnavailable) << ping;
  EXPECT_LT(elapsed, absl::Seconds(10));

  // The same store object reconnects; the flush that failed goes through on its retry.
  EXPECT_TRUE(store.Ping().ok());
  EXPECT_EQ(Apply(store, during), Result(1, 1, 0));
  EXPECT_TRUE(OnlyRow(store) == SumOf({&first.sessions[0], &during.sessions[0]}));
}

TEST_F(StoreTest, RecoversFromABackendKilledBetweenCalls) {
  // The application name lets the test find the store's session among the server's backends.
  PgStore store(cluster().url(NewDatabase()) + "?application_name=store_under_test");
  const FlushBatch batch = {"acked-lost", {Session(1, FallbackToRelay(5000, 300))}};
  EXPECT_EQ(Apply(store, batch), Result(1, 1, 0));
  auto kill_session = [] {
    return Query("advisor",
                 "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                 "WHERE application_name = 'store_under_test'");
  };
  // As if the commit's acknowledgement had been lost with the connection: the caller retries.
  ASSERT_EQ(kill_session(), "1");
  // The retry finds its flush id recorded.
  EXPECT_EQ(Apply(store, batch), FlushResult{});

  ASSERT_EQ(kill_session(), "1");
  EXPECT_TRUE(OnlyRow(store) == SumOf({&batch.sessions[0]}));
  ASSERT_EQ(kill_session(), "1");
  EXPECT_TRUE(store.Ping().ok());
}

}  // namespace
}  // namespace advisor::store
