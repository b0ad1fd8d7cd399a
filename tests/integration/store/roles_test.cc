// The least-privilege database roles of deploy/migrations against a real PostgreSQL server: the
// group roles exist once per cluster whatever the number of databases, each table grants exactly
// what the server and the prober need, the real stores work as members of their role, and neither
// member can change the schema, read server files or do the other program's writes.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/store/store.h"
#include "lib/store/turn_store.h"
#include "tests/support/postgres_suite.h"

namespace advisor::store {
namespace {

constexpr char kServerLogin[] = "roles_test_server";
constexpr char kProberLogin[] = "roles_test_prober";
constexpr char kOwnerLogin[] = "roles_test_owner";
constexpr char kServerPassword[] = "server-pw-5b0c";
constexpr char kProberPassword[] = "prober-pw-9e1d";
constexpr char kOwnerPassword[] = "owner-pw-77aa";

const absl::Time kBucket = absl::FromUnixSeconds(1'800'000'000);

ReportedSession Session(uint8_t n, absl::Time expires) {
  ReportedSession session;
  session.token_id[0] = n;
  session.token_id[15] = 0x5a;
  session.token_expires = expires;
  session.pair = strategy::NatPair::Of(strategy::NatType::kSymmetric, strategy::NatType::kFullCone);
  session.strategy = strategy::Strategy::kDirect;
  session.bucket_start = kBucket;
  session.outcome = {
      .attempts = {{strategy::Path::kDirect, strategy::AttemptResult::kSucceeded, 120}},
      .connected = true,
      .time_to_connect_ms = 120};
  return session;
}

std::vector<TurnServerRow> Registry() {
  return {TurnServerRow{.id = "a",
                        .urls = {"turn:192.0.2.1:3478?transport=udp"},
                        .region = "eu",
                        .transports = {"udp"},
                        .enabled = true}};
}

std::vector<TurnHealthRow> Health() {
  TurnHealthRow row{.server_id = "a", .prober_region = "eu", .health = {}};
  row.health.status = turn::HealthStatus::kHealthy;
  row.health.last_latency_ms = 12;
  row.health.smoothed_latency_ms = 12;
  row.health.success_rate = 1;
  row.health.last_check = kBucket;
  return {row};
}

class RolesTest : public testing::PostgresSuite {
 protected:
  // Each test gets a database of its own, migrated by the superuser. The login roles are the
  // cluster's, made once.
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(PostgresSuite::SetUp());
    db_ = NewDatabase("roles");
    ASSERT_FALSE(HasFailure());
    for (const auto& [login, password, group] :
         {std::tuple{kServerLogin, kServerPassword, "advisor_server"},
          std::tuple{kProberLogin, kProberPassword, "advisor_prober"}}) {
      absl::Status made = cluster().CreateLoginRole(login, password, {group});
      ASSERT_TRUE(made.ok()) << made;
    }
  }

  std::string Query(const std::string& sql) const { return PostgresSuite::Query(db_, sql); }

  // The error of running `sql` as `login`, empty when it succeeded.
  std::string ErrorAs(const std::string& login, const std::string& password,
                      const std::string& sql) const {
    absl::StatusOr<std::string> output = cluster().QueryAs(login, password, sql, db_);
    return output.ok() ? "" : std::string(output.status().message());
  }

  std::string ServerUrl() const { return cluster().url_as(kServerLogin, kServerPassword, db_); }
  std::string ProberUrl() const { return cluster().url_as(kProberLogin, kProberPassword, db_); }

  std::string db_;
};

TEST_F(RolesTest, GroupRolesCannotLogInAndHoldNoPowers) {
  EXPECT_EQ(Query("SELECT string_agg(rolname || ':' || concat(rolcanlogin::int, rolsuper::int,"
                  " rolcreaterole::int, rolcreatedb::int, rolreplication::int, rolbypassrls::int),"
                  " ',' ORDER BY rolname)"
                  " FROM pg_roles WHERE rolname IN ('advisor_server', 'advisor_prober')"),
            "advisor_prober:000000,advisor_server:000000");
  EXPECT_EQ(Query("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member"
                  " WHERE r.rolname IN ('advisor_server', 'advisor_prober')"),
            "0");
}

TEST_F(RolesTest, LoginsNeedTheirScramPassword) {
  EXPECT_EQ(ErrorAs(kServerLogin, kServerPassword, "SELECT 1"), "");
  EXPECT_NE(ErrorAs(kServerLogin, "wrong", "SELECT 1").find("password authentication failed"),
            std::string::npos);
  EXPECT_EQ(Query(absl::StrCat("SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = '",
                               kProberLogin, "'")),
            "SCRAM-SHA-256$");
}

// Roles are cluster-wide: a second database migrates with the roles already there, and so does an
// owner that may not create roles at all (the roles made beforehand, as a DBA or the dev stack
// does).
TEST_F(RolesTest, MigratesBesideExistingRolesAndAsAnOwnerWithoutCreateRole) {
  const std::string other = absl::StrCat(db_, "_owned");
  ASSERT_TRUE(cluster().CreateLoginRole(kOwnerLogin, kOwnerPassword).ok());
  ASSERT_TRUE(
      cluster()
          .Query(absl::StrCat("CREATE DATABASE ", other, " OWNER ", kOwnerLogin), "postgres")
          .ok());
  absl::StatusOr<int> applied = Migrate(cluster().url_as(kOwnerLogin, kOwnerPassword, other));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, static_cast<int>(EmbeddedMigrations().size()));
  absl::StatusOr<std::string> owners = cluster().Query(
      "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'",
      other);
  ASSERT_TRUE(owners.ok()) << owners.status();
  EXPECT_EQ(*owners, kOwnerLogin);
  // The grants were made by that owner, and work.
  absl::StatusOr<std::string> read =
      cluster().QueryAs(kServerLogin, kServerPassword, "SELECT count(*) FROM turn_servers", other);
  EXPECT_TRUE(read.ok()) << read.status();
}

// Every table of the schema with each role's privileges (r SELECT, a INSERT, w UPDATE, d DELETE,
// D TRUNCATE, x REFERENCES, t TRIGGER). A table added without grants, or a grant widened, fails
// here: the migration adding a table decides who may touch it.
TEST_F(RolesTest, EachTableGrantsExactlyWhatEachProgramNeeds) {
  const std::map<std::string, std::string> expected = {
      {"applied_flushes", "server:raw prober:"}, {"outcome_aggregates", "server:raw prober:"},
      {"schema_migrations", "server: prober:"},  {"turn_health", "server:r prober:raw"},
      {"turn_servers", "server:r prober:raw"},   {"used_decision_tokens", "server:rad prober:"},
  };
  const std::string matrix = Query(
      "SELECT string_agg(t.tablename || '=' || (SELECT string_agg(r.short || ':' ||"
      " concat_ws('', CASE WHEN has_table_privilege(r.role, t.tablename, 'SELECT') THEN 'r' END,"
      "  CASE WHEN has_table_privilege(r.role, t.tablename, 'INSERT') THEN 'a' END,"
      "  CASE WHEN has_table_privilege(r.role, t.tablename, 'UPDATE') THEN 'w' END,"
      "  CASE WHEN has_table_privilege(r.role, t.tablename, 'DELETE') THEN 'd' END,"
      "  CASE WHEN has_table_privilege(r.role, t.tablename, 'TRUNCATE') THEN 'D' END,"
      "  CASE WHEN has_table_privilege(r.role, t.tablename, 'REFERENCES') THEN 'x' END,"
      "  CASE WHEN has_table_privilege(r.role, t.tablename, 'TRIGGER') THEN 't' END), ' '"
      "  ORDER BY r.short DESC)"
      " FROM (VALUES ('advisor_server', 'server'), ('advisor_prober', 'prober')) r(role, short)),"
      " ';' ORDER BY t.tablename) FROM pg_tables t WHERE t.schemaname = 'public'");
  std::map<std::string, std::string> actual;
  for (absl::string_view entry : absl::StrSplit(matrix, ';')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    actual[kv.first] = kv.second;
  }
  EXPECT_EQ(actual, expected) << matrix;
  // Column grants: only expires_at of used tokens, for the row locks of ForgetExpiredTokens.
  EXPECT_EQ(Query("SELECT string_agg(grantee || ':' || table_name || '.' || column_name || ':' ||"
                  " privilege_type, ',' ORDER BY grantee, table_name, column_name)"
                  " FROM information_schema.column_privileges"
                  " WHERE grantee IN ('advisor_server', 'advisor_prober')"
                  " AND NOT has_table_privilege(grantee, table_name, privilege_type)"),
            "advisor_server:used_decision_tokens.expires_at:UPDATE");
}

TEST_F(RolesTest, ServerStoreWorksAsAMemberOfAdvisorServer) {
  PgStore store(ServerUrl());
  ASSERT_TRUE(store.Ping().ok());
  FlushBatch batch{.flush_id = "roles-1",
                   .sessions = {Session(1, kBucket - absl::Hours(1)), Session(2, kBucket)}};
  absl::StatusOr<FlushResult> flushed = store.ApplyFlush(batch);
  ASSERT_TRUE(flushed.ok()) << flushed.status();
  EXPECT_EQ(flushed->counted, 2);
  flushed = store.ApplyFlush(batch);  // the flush id is read back: nothing added twice
  ASSERT_TRUE(flushed.ok()) << flushed.status();
  EXPECT_EQ(flushed->counted, 0);

  absl::StatusOr<std::vector<strategy::BucketAggregate>> loaded =
      store.LoadAggregates(absl::InfinitePast());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0].counts.sessions, 2);

  absl::StatusOr<int64_t> forgotten = store.ForgetExpiredTokens(kBucket - absl::Minutes(1), 100);
  ASSERT_TRUE(forgotten.ok()) << forgotten.status();
  EXPECT_EQ(*forgotten, 1);

  // The snapshot's reads of the registry and health (written here by the superuser).
  PgStore owner(cluster().url(db_));
  ASSERT_TRUE(owner.SyncTurnServers(Registry()).ok());
  ASSERT_TRUE(owner.WriteTurnHealth(Health()).ok());
  absl::StatusOr<std::vector<TurnServerRow>> servers = store.LoadTurnServers();
  ASSERT_TRUE(servers.ok()) << servers.status();
  EXPECT_EQ(*servers, Registry());
  absl::StatusOr<std::vector<TurnHealthRow>> health = store.LoadTurnHealth();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, Health());
}

TEST_F(RolesTest, TurnStoreWorksAsAMemberOfAdvisorProber) {
  PgStore store(ProberUrl());
  ASSERT_TRUE(store.SyncTurnServers(Registry()).ok());
  ASSERT_TRUE(store.SyncTurnServers({}).ok());  // disables what is no longer listed
  ASSERT_TRUE(store.SyncTurnServers(Registry()).ok());
  absl::Status wrote = store.WriteTurnHealth(Health());
  ASSERT_TRUE(wrote.ok()) << wrote;
  wrote = store.WriteTurnHealth(Health());  // the upsert's update path
  ASSERT_TRUE(wrote.ok()) << wrote;
  absl::StatusOr<std::vector<TurnServerRow>> servers = store.LoadTurnServers();
  ASSERT_TRUE(servers.ok()) << servers.status();
  EXPECT_EQ(*servers, Registry());
  absl::StatusOr<std::vector<TurnHealthRow>> health = store.LoadTurnHealth();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, Health());

  LeaderLock lock(ProberUrl(), "eu");
  absl::StatusOr<bool> acquired = lock.TryAcquire();
  ASSERT_TRUE(acquired.ok()) << acquired.status();
  EXPECT_TRUE(*acquired);
  LeaderLock rival(ProberUrl(), "eu");
  acquired = rival.TryAcquire();
  ASSERT_TRUE(acquired.ok()) << acquired.status();
  EXPECT_FALSE(*acquired);
}

TEST_F(RolesTest, NeitherLoginCanChangeTheSchemaOrReadServerFiles) {
  for (const auto& [login, password] :
       {std::pair{kServerLogin, kServerPassword}, std::pair{kProberLogin, kProberPassword}}) {
    SCOPED_TRACE(login);
    EXPECT_NE(ErrorAs(login, password, "CREATE TABLE intruder (x int)"), "");
    EXPECT_NE(ErrorAs(login, password, "CREATE SCHEMA intruder"), "");
    EXPECT_NE(ErrorAs(login, password,
                      "CREATE FUNCTION intruder() RETURNS int"
                      " LANGUAGE sql AS 'SELECT 1'"),
              "");
    for (const char* table : {"outcome_aggregates", "applied_flushes", "used_decision_tokens",
                              "turn_servers", "turn_health", "schema_migrations"}) {
      EXPECT_NE(ErrorAs(login, password, absl::StrCat("DROP TABLE ", table)), "") << table;
      EXPECT_NE(ErrorAs(login, password, absl::StrCat("TRUNCATE ", table)), "") << table;
      EXPECT_NE(ErrorAs(login, password, absl::StrCat("ALTER TABLE ", table, " ADD COLUMN y int")),
                "")
          << table;
    }
    EXPECT_NE(ErrorAs(login, password, "SELECT pg_read_file('PG_VERSION')").find("denied"),
              std::string::npos);
    EXPECT_NE(ErrorAs(login, password, "COPY turn_servers TO '/tmp/roles_test_copy'"), "");
    EXPECT_NE(ErrorAs(login, password, "CREATE ROLE intruder"), "");
    EXPECT_NE(ErrorAs(login, password, "SELECT * FROM schema_migrations"), "");
  }
  // Still all there, as the superuser sees them.
  EXPECT_EQ(Query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "6");
}

TEST_F(RolesTest, EachLoginIsRefusedTheOtherProgramsWrites) {
  PgStore server(ServerUrl());
  EXPECT_FALSE(server.SyncTurnServers(Registry()).ok());
  EXPECT_FALSE(server.WriteTurnHealth(Health()).ok());

  PgStore prober(ProberUrl());
  FlushBatch batch{.flush_id = "roles-2", .sessions = {Session(3, kBucket)}};
  EXPECT_FALSE(prober.ApplyFlush(batch).ok());
  EXPECT_FALSE(prober.ForgetExpiredTokens(kBucket, 100).ok());
  EXPECT_FALSE(prober.LoadAggregates(absl::InfinitePast()).ok());
  EXPECT_NE(ErrorAs(kProberLogin, kProberPassword, "DELETE FROM turn_servers"), "");
  EXPECT_NE(ErrorAs(kServerLogin, kServerPassword, "DELETE FROM outcome_aggregates"), "");
  EXPECT_NE(ErrorAs(kServerLogin, kServerPassword, "DELETE FROM applied_flushes"), "");
  // Refused, not merely failed: the superuser sees none of those writes.
  EXPECT_EQ(Query("SELECT (SELECT count(*) FROM turn_servers) + (SELECT count(*) FROM turn_health)"
                  " + (SELECT count(*) FROM applied_flushes)"),
            "0");
}

}  // namespace
}  // namespace advisor::store
