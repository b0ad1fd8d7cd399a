#include "lib/store/store.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <exception>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "lib/store/pg_internal.h"
#include "spdlog/spdlog.h"

namespace advisor::store {
namespace {

using internal::StatusFromException;
using internal::TimestampLiteral;

using strategy::BucketAggregate;
using strategy::kConnectTimeBuckets;
using strategy::RawCounts;
using Histogram = std::array<int64_t, kConnectTimeBuckets>;

constexpr int kDefaultConnectTimeoutSeconds = 5;

// Column name and RawCounts member of every scalar counter and histogram, in table order: the one
// list that the upsert and the load are generated from, so that a new counter cannot be forgotten
// in one of them.
constexpr std::array<std::pair<const char*, int64_t RawCounts::*>, 9> kCounters = {{
    {"sessions", &RawCounts::sessions},
    {"connected", &RawCounts::connected},
    {"direct_attempts", &RawCounts::direct_attempts},
    {"direct_successes", &RawCounts::direct_successes},
    {"direct_timeouts", &RawCounts::direct_timeouts},
    {"direct_failures", &RawCounts::direct_failures},
    {"relay_attempts", &RawCounts::relay_attempts},
    {"relay_successes", &RawCounts::relay_successes},
    {"connect_ms_sum", &RawCounts::connect_ms_sum},
}};
constexpr std::array<std::pair<const char*, Histogram RawCounts::*>, 4> kHistograms = {{
    {"connect_ms_hist", &RawCounts::connect_ms_hist},
    {"direct_ms_hist", &RawCounts::direct_ms_hist},
    {"direct_censored_hist", &RawCounts::direct_censored_hist},
    {"relay_ms_hist", &RawCounts::relay_ms_hist},
}};

// Whether `e` means the session is gone or its outcome unknown, rather than that a statement was
// wrong.
bool IsConnectionError(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr ||
      dynamic_cast<const pqxx::statement_completion_unknown*>(&e) != nullptr) {
    return true;
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    // Class 08 is "connection exception"; 57P01..57P03 are the server shutting down (or terminating
    // this backend) and not yet accepting connections.
    const std::string& state = sql->sqlstate();
    return state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03";
  }
  return false;
}

std::string HistogramLiteral(const Histogram& histogram) {
  return absl::StrCat("{", absl::StrJoin(histogram, ","), "}");
}

Histogram ParseHistogram(absl::string_view text, absl::string_view column) {
  Histogram histogram{};
  std::vector<absl::string_view> parts = absl::StrSplit(text, ',');
  bool ok = parts.size() == histogram.size();
  for (size_t i = 0; ok && i < parts.size(); ++i) ok = absl::SimpleAtoi(parts[i], &histogram[i]);
  if (!ok) {
    throw std::runtime_error(
        absl::StrCat(column, " is {", text, "}, expected ", histogram.size(), " integers"));
  }
  return histogram;
}

absl::Status ValidateBatch(const FlushBatch& batch) {
  if (batch.flush_id.empty()) return absl::InvalidArgumentError("flush batch without a flush_id");
  for (const ReportedSession& session : batch.sessions) {
    const int a = static_cast<int>(session.pair.a);
    const int b = static_cast<int>(session.pair.b);
    const int strategy = static_cast<int>(session.strategy);
    auto finite = [](absl::Time t) {
      return t != absl::InfinitePast() && t != absl::InfiniteFuture();
    };
    if (!(a <= b && b < strategy::kNatTypeCount && strategy < strategy::kStrategyCount &&
          finite(session.bucket_start) && finite(session.token_expires))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "flush ", batch.flush_id, ": invalid session for pair (", a, ", ", b, "), strategy ",
          strategy, ", bucket ", absl::FormatTime(session.bucket_start), ", token expiry ",
          absl::FormatTime(session.token_expires),
          " (unordered pair, value out of range, or infinite bucket or expiry)"));
    }
  }
  return absl::OkStatus();
}

// Rows keyed and ordered by (pair, strategy, bucket): one INSERT ... ON CONFLICT DO UPDATE cannot
// touch a row twice, and concurrent flushes from several replicas that lock rows in the same order
// cannot deadlock each other.
using RowKey = std::tuple<strategy::NatPair, strategy::Strategy, absl::Time>;
using Rows = std::map<RowKey, RawCounts>;

void Fold(const ReportedSession& session, Rows& rows) {
  rows[{session.pair, session.strategy, session.bucket_start}].Add(
      strategy::CountsOf(session.outcome));
}

Rows MergeDeltas(std::span<const BucketAggregate> deltas) {
  Rows rows;
  for (const BucketAggregate& delta : deltas) {
    rows[{delta.pair, delta.strategy, delta.bucket_start}].Add(delta.counts);
  }
  return rows;
}

absl::string_view Bytes(const TokenId& id) {
  return {reinterpret_cast<const char*>(id.data()), id.size()};
}

// `{id,id,...}`, each id as 32 hex digits: a uuid[] literal that needs no quoting.
std::string UuidArrayLiteral(std::span<const TokenId* const> ids) {
  std::string literal;
  literal.reserve(2 + ids.size() * 33);
  literal += '{';
  for (const TokenId* id : ids) {
    if (literal.size() > 1) literal += ',';
    literal += absl::BytesToHexString(Bytes(*id));
  }
  literal += '}';
  return literal;
}

// A uuid as PostgreSQL prints it (8-4-4-4-12 hex digits) back into its 16 bytes.
TokenId ParseUuid(absl::string_view text) {
  const std::string hex = absl::StrReplaceAll(text, {{"-", ""}});
  if (hex.size() != 2 * sizeof(TokenId) || !std::all_of(hex.begin(), hex.end(), [](char c) {
        return absl::ascii_isxdigit(c) && !absl::ascii_isupper(c);
      })) {
    throw std::runtime_error(absl::StrCat("unexpected token id '", text, "' from the database"));
  }
  const std::string bytes = absl::HexStringToBytes(hex);
  TokenId id{};
  std::copy(bytes.begin(), bytes.end(), id.begin());
  return id;
}

// Whole seconds, rounded up: a used-token row never goes before its token has expired.
int64_t ExpirySeconds(absl::Time t) {
  return absl::ToInt64Seconds(absl::Ceil(t - absl::UnixEpoch(), absl::Seconds(1)));
}

// Ids already present are skipped by ON CONFLICT DO NOTHING, so RETURNING names the new ones. The
// arrays travel as two parameters: one round trip whatever the batch size.
constexpr char kInsertTokensSql[] =
    "INSERT INTO used_decision_tokens (token_id, expires_at) "
    "SELECT id, to_timestamp(expires) FROM unnest($1::uuid[], $2::bigint[]) AS t(id, expires) "
    "ON CONFLICT (token_id) DO NOTHING RETURNING token_id";

// One multi-row upsert that adds every counter and histogram to the stored row. Values are integers
// and timestamps this file formats itself, so they are written inline rather than as parameters.
std::string UpsertSql(const Rows& rows) {
  std::vector<std::string> columns = {"nat_a", "nat_b", "strategy", "bucket_start"};
  std::vector<std::string> updates;
  for (const auto& [name, member] : kCounters) {
    columns.emplace_back(name);
    updates.push_back(absl::StrCat(name, " = o.", name, " + excluded.", name));
  }
  for (const auto& [name, member] : kHistograms) {
    columns.emplace_back(name);
    updates.push_back(
        absl::StrCat(name, " = advisor_array_add(o.", name, ", excluded.", name, ")"));
  }
  updates.emplace_back("updated_at = now()");

  std::vector<std::string> values;
  values.reserve(rows.size());
  for (const auto& [key, counts] : rows) {
    const auto& [pair, strategy, bucket_start] = key;
    std::string row =
        absl::StrCat("(", static_cast<int>(pair.a), ",", static_cast<int>(pair.b), ",",
                     static_cast<int>(strategy), ",'", TimestampLiteral(bucket_start), "'");
    for (const auto& [name, member] : kCounters) absl::StrAppend(&row, ",", counts.*member);
    for (const auto& [name, member] : kHistograms) {
      absl::StrAppend(&row, ",'", HistogramLiteral(counts.*member), "'");
    }
    row += ")";
    values.push_back(std::move(row));
  }
  return absl::StrCat("INSERT INTO outcome_aggregates AS o (", absl::StrJoin(columns, ", "),
                      ") VALUES ", absl::StrJoin(values, ", "),
                      " ON CONFLICT (nat_a, nat_b, strategy, bucket_start) DO UPDATE SET ",
                      absl::StrJoin(updates, ", "));
}

std::string LoadSql() {
  std::vector<std::string> columns = {"nat_a", "nat_b", "strategy",
                                      "(extract(epoch FROM bucket_start) * 1000000)::bigint"};
  for (const auto& [name, member] : kCounters) columns.emplace_back(name);
  for (const auto& [name, member] : kHistograms) {
    columns.push_back(absl::StrCat("array_to_string(", name, ", ',')"));
  }
  return absl::StrCat("SELECT ", absl::StrJoin(columns, ", "),
                      " FROM outcome_aggregates WHERE bucket_start >= $1::timestamptz"
                      " ORDER BY bucket_start, nat_a, nat_b, strategy");
}

BucketAggregate ParseAggregate(const pqxx::row& row) {
  BucketAggregate aggregate;
  aggregate.pair.a = static_cast<strategy::NatType>(row[0].as<int>());
  aggregate.pair.b = static_cast<strategy::NatType>(row[1].as<int>());
  aggregate.strategy = static_cast<strategy::Strategy>(row[2].as<int>());
  aggregate.bucket_start = absl::FromUnixMicros(row[3].as<int64_t>());
  int column = 4;
  for (const auto& [name, member] : kCounters)
    aggregate.counts.*member = row[column++].as<int64_t>();
  for (const auto& [name, member] : kHistograms) {
    aggregate.counts.*member = ParseHistogram(row[column++].c_str(), name);
  }
  return aggregate;
}

// Runs one statement outside any transaction block (session-level settings and advisory locks).
void ExecSession(pqxx::connection& conn, const std::string& sql) {
  pqxx::nontransaction tx(conn);
  tx.exec(sql);
  tx.commit();
}

}  // namespace

namespace internal {

absl::Status StatusFromException(const std::string& what, const std::exception& e) {
  // libpq messages end in a newline, and may span lines ("ERROR: ...\nDETAIL: ...").
  std::string message = absl::StrCat(what, ": ", absl::StripTrailingAsciiWhitespace(e.what()));
  absl::StrReplaceAll({{"\n", " "}}, &message);
  return IsConnectionError(e) ? absl::UnavailableError(message) : absl::InternalError(message);
}

std::string TimestampLiteral(absl::Time t) {
  if (t == absl::InfinitePast()) return "-infinity";
  if (t == absl::InfiniteFuture()) return "infinity";
  return absl::FormatTime("%E4Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
}

}  // namespace internal

std::string WithConnectTimeout(const std::string& database_url) {
  if (absl::StrContains(database_url, "connect_timeout") ||
      std::getenv("PGCONNECT_TIMEOUT") != nullptr) {
    return database_url;
  }
  const std::string param = absl::StrCat("connect_timeout=", kDefaultConnectTimeoutSeconds);
  if (absl::StartsWith(database_url, "postgresql://") ||
      absl::StartsWith(database_url, "postgres://")) {
    if (database_url.ends_with('?') || database_url.ends_with('&')) return database_url + param;
    return absl::StrCat(database_url, database_url.find('?') == std::string::npos ? "?" : "&",
                        param);
  }
  if (absl::StripAsciiWhitespace(database_url).empty()) return std::string(param);
  return absl::StrCat(database_url, " ", param);
}

absl::StatusOr<int> Migrate(const std::string& database_url,
                            std::span<const Migration> migrations) {
  std::vector<const Migration*> ordered;
  for (const Migration& migration : migrations) ordered.push_back(&migration);
  std::ranges::stable_sort(ordered, {}, &Migration::version);

  // Names the step in an error: the migration being applied, or the runner's own bookkeeping.
  std::string step = "migrate: connect";
  try {
    pqxx::connection conn(WithConnectTimeout(database_url));
    // CREATE TABLE IF NOT EXISTS and migrations would otherwise fill the log with NOTICEs.
    ExecSession(conn, "SET client_min_messages = warning");
    step = "migrate: advisory lock";
    // Held for the session: replicas starting together wait here, then find the work done. Dropping
    // the connection on an error releases it too.
    ExecSession(conn, absl::StrCat("SELECT pg_advisory_lock(", kMigrationLockKey, ")"));
    step = "migrate: schema_migrations";
    std::set<int> applied;
    {
      pqxx::work tx(conn);
      tx.exec0(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version integer PRIMARY KEY,"
          " name text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
      for (const pqxx::row& row : tx.exec("SELECT version FROM schema_migrations")) {
        applied.insert(row[0].as<int>());
      }
      tx.commit();
    }
    int count = 0;
    for (const Migration* migration : ordered) {
      if (applied.contains(migration->version)) continue;
      step = absl::StrCat("migration ", migration->name);
      // The schema change and its record commit together: a migration is applied entirely or not at
      // all, so a failed one is simply retried by the next run.
      pqxx::work tx(conn);
      tx.exec(migration->sql);
      tx.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                      migration->version, migration->name);
      tx.commit();
      ++count;
      spdlog::info("applied database migration {}", migration->name);
    }
    step = "migrate: advisory unlock";
    ExecSession(conn, absl::StrCat("SELECT pg_advisory_unlock(", kMigrationLockKey, ")"));
    return count;
  } catch (const std::exception& e) {
    return StatusFromException(step, e);
  }
}

PgStore::PgStore(std::string database_url) : url_(std::move(database_url)) {}

PgStore::~PgStore() = default;

absl::StatusOr<internal::PgConnection*> PgStore::Connection() {
  if (conn_ != nullptr && conn_->is_open()) return conn_.get();
  conn_.reset();
  try {
    conn_ = std::make_unique<internal::PgConnection>(WithConnectTimeout(url_));
    // A server that accepts the connection and then stalls must not hold a flush or a reload (or a
    // shutdown waiting on them) forever: every statement of this session gives up after 30 s.
    ExecSession(*conn_, "SET statement_timeout = '30s'");
  } catch (const std::exception& e) {
    conn_.reset();
    return StatusFromException("connect to postgres", e);
  }
  return conn_.get();
}

absl::Status PgStore::Call(const std::string& what,
                           absl::FunctionRef<void(internal::PgConnection&)> body) {
  std::lock_guard lock(mu_);
  absl::Status status;
  // A connection kept from an earlier call may have died while idle (server restart, idle-session
  // timeout, pg_terminate_backend) without our knowing until now. Such a failure is retried once on
  // a fresh connection; that is safe because every body is idempotent: reads, and flushes guarded
  // by their flush id. A failure on a fresh connection is returned.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = conn_ != nullptr;
    absl::StatusOr<internal::PgConnection*> conn = Connection();
    if (!conn.ok()) {
      status = conn.status();
      break;
    }
    try {
      body(**conn);
      status = absl::OkStatus();
      break;
    } catch (const std::exception& e) {
      // Whatever went wrong, the session's state is now unknown: start the next call afresh.
      conn_.reset();
      status = StatusFromException(what, e);
      if (!reused || !absl::IsUnavailable(status)) break;
      spdlog::debug("postgres: {}; retrying on a new connection", status.ToString());
    }
  }
  if (absl::IsUnavailable(status) && !unavailable_) {
    spdlog::warn("postgres unavailable: {}", status.ToString());
  } else if (status.ok() && unavailable_) {
    spdlog::info("postgres available again");
  }
  if (status.ok() || absl::IsUnavailable(status)) unavailable_ = !status.ok();
  return status;
}

std::vector<BucketAggregate> FoldSessions(std::span<const ReportedSession> sessions) {
  Rows rows;
  for (const ReportedSession& session : sessions) {
    if (session.count) Fold(session, rows);
  }
  std::vector<BucketAggregate> aggregates;
  aggregates.reserve(rows.size());
  for (const auto& [key, counts] : rows) {
    const auto& [pair, strategy, bucket_start] = key;
    aggregates.push_back({pair, strategy, bucket_start, counts});
  }
  return aggregates;
}

absl::StatusOr<FlushResult> PgStore::ApplyFlush(const FlushBatch& batch) {
  if (absl::Status valid = ValidateBatch(batch); !valid.ok()) return valid;
  if (batch.sessions.empty()) return FlushResult{};

  // The first occurrence of each token id, in id order: a duplicate within the batch is settled
  // here, and replicas inserting overlapping ids take their row locks in the same order, so they
  // wait for each other instead of deadlocking.
  std::vector<const ReportedSession*> firsts;
  firsts.reserve(batch.sessions.size());
  for (const ReportedSession& session : batch.sessions) firsts.push_back(&session);
  std::ranges::stable_sort(firsts, {}, &ReportedSession::token_id);
  // std::unique, not std::ranges::unique: clang 14 (clang-tidy, the fuzz build) cannot compile the
  // subrange that libstdc++ 12's returns.
  firsts.erase(std::unique(firsts.begin(), firsts.end(),
                           [](const ReportedSession* a, const ReportedSession* b) {
                             return a->token_id == b->token_id;
                           }),
               firsts.end());

  std::vector<const TokenId*> ids;
  ids.reserve(firsts.size());
  std::string expiries = "{";
  expiries.reserve(2 + firsts.size() * 11);
  for (const ReportedSession* session : firsts) {
    ids.push_back(&session->token_id);
    if (expiries.size() > 1) expiries += ',';
    absl::StrAppend(&expiries, ExpirySeconds(session->token_expires));
  }
  expiries += '}';
  const std::string id_array = UuidArrayLiteral(ids);

  FlushResult result;
  absl::Status status =
      Call(absl::StrCat("apply flush ", batch.flush_id), [&](pqxx::connection& conn) {
        result = FlushResult{};
        pqxx::work tx(conn);
        // Recording the id first, in the same transaction as the counts, makes the batch
        // idempotent: a concurrent duplicate waits on this row's lock and then inserts nothing.
        const pqxx::result recorded = tx.exec_params(
            "INSERT INTO applied_flushes (flush_id, rows) VALUES ($1, 0) "
            "ON CONFLICT (flush_id) DO NOTHING",
            batch.flush_id);
        if (recorded.affected_rows() == 0) {
          spdlog::debug("flush {} was already applied", batch.flush_id);
          tx.commit();
          return;
        }
        std::vector<TokenId> fresh;
        const pqxx::result inserted = tx.exec_params(kInsertTokensSql, id_array, expiries);
        fresh.reserve(inserted.size());
        for (const pqxx::row& row : inserted) fresh.push_back(ParseUuid(row[0].c_str()));
        std::ranges::sort(fresh);

        Rows rows;
        int64_t counted = 0;
        for (const ReportedSession* session : firsts) {
          if (session->count && std::ranges::binary_search(fresh, session->token_id)) {
            Fold(*session, rows);
            ++counted;
          }
        }
        if (!rows.empty()) {
          // The upsert and the row count of the flush record in one round trip.
          tx.exec(absl::StrCat(UpsertSql(rows), "; UPDATE applied_flushes SET rows = ", rows.size(),
                               " WHERE flush_id = ", tx.quote(batch.flush_id)));
        }
        tx.commit();
        result.rows = rows.size();
        result.counted = counted;
        result.duplicates = static_cast<int64_t>(batch.sessions.size() - fresh.size());
      });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<int64_t> PgStore::ForgetExpiredTokens(absl::Time now, int64_t limit) {
  if (limit <= 0) return absl::InvalidArgumentError("ForgetExpiredTokens needs a positive limit");
  int64_t deleted = 0;
  absl::Status status = Call("forget expired tokens", [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    // Oldest first through the expires_at index, deleted by physical row address: bounded work per
    // call however far behind expiry is. SKIP LOCKED lets replicas expiring at the same time take
    // disjoint rows instead of queueing behind each other's.
    const pqxx::result result = tx.exec_params(
        "DELETE FROM used_decision_tokens WHERE ctid = ANY(ARRAY("
        "SELECT ctid FROM used_decision_tokens WHERE expires_at < $1::timestamptz "
        "ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED))",
        TimestampLiteral(now), limit);
    tx.commit();
    deleted = static_cast<int64_t>(result.affected_rows());
  });
  if (!status.ok()) return status;
  return deleted;
}

namespace internal {

absl::Status ApplyAggregatesOnly(PgStore& store, const std::string& flush_id,
                                 std::span<const BucketAggregate> deltas) {
  if (flush_id.empty() || deltas.empty()) {
    return absl::InvalidArgumentError("ApplyAggregatesOnly needs a flush id and deltas");
  }
  const Rows rows = MergeDeltas(deltas);
  return store.Call(absl::StrCat("apply aggregates ", flush_id), [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    const pqxx::result recorded = tx.exec_params(
        "INSERT INTO applied_flushes (flush_id, rows) VALUES ($1, $2) "
        "ON CONFLICT (flush_id) DO NOTHING",
        flush_id, static_cast<int>(rows.size()));
    if (recorded.affected_rows() != 0) tx.exec0(UpsertSql(rows));
    tx.commit();
  });
}

}  // namespace internal

absl::StatusOr<std::vector<BucketAggregate>> PgStore::LoadAggregates(absl::Time since) {
  std::vector<BucketAggregate> aggregates;
  absl::Status status = Call("load aggregates", [&](pqxx::connection& conn) {
    // A retried attempt must not append to a partial first one.
    aggregates.clear();
    pqxx::read_transaction tx(conn);
    for (const pqxx::row& row : tx.exec_params(LoadSql(), TimestampLiteral(since))) {
      aggregates.push_back(ParseAggregate(row));
    }
    tx.commit();
  });
  if (!status.ok()) return status;
  return aggregates;
}

absl::Status PgStore::Ping() {
  return Call("ping", [](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    tx.exec("SELECT 1");
  });
}

}  // namespace advisor::store
