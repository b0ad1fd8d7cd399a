// PgStore's TurnStore half, and LeaderLock.
#include "lib/store/turn_store.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/store/pg_internal.h"
#include "lib/store/store.h"

namespace advisor::store {
namespace {

using internal::StatusFromException;
using internal::TimestampLiteral;
using turn::HealthStatus;

// A PostgreSQL array literal of `items`, for a text[] parameter. Every element is quoted, so that
// commas, braces, spaces and the word NULL inside it stay text.
std::string ArrayLiteral(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  quoted.reserve(items.size());
  for (const std::string& item : items) {
    std::string element = "\"";
    for (char c : item) {
      if (c == '"' || c == '\\') element += '\\';
      element += c;
    }
    element += '"';
    quoted.push_back(std::move(element));
  }
  return absl::StrCat("{", absl::StrJoin(quoted, ","), "}");
}

std::vector<std::string> ParseTextArray(const pqxx::field& field) {
  std::vector<std::string> items;
  pqxx::array_parser parser = field.as_array();
  while (true) {
    auto [juncture, value] = parser.get_next();
    if (juncture == pqxx::array_parser::done) return items;
    if (juncture == pqxx::array_parser::string_value) items.push_back(std::move(value));
  }
}

// The registry's own checks, made here so that a bad row is INVALID_ARGUMENT naming the server
// rather than a constraint violation of the whole transaction.
absl::Status ValidateServers(std::span<const TurnServerRow> servers) {
  static const std::set<std::string> kTransports = {"udp", "tcp", "tls"};
  std::set<std::string> ids;
  for (const TurnServerRow& server : servers) {
    if (server.id.empty()) return absl::InvalidArgumentError("TURN server without an id");
    if (!ids.insert(server.id).second) {
      return absl::InvalidArgumentError(absl::StrCat("TURN server ", server.id, " listed twice"));
    }
    if (server.urls.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("TURN server ", server.id, " has no urls"));
    }
    for (const std::string& transport : server.transports) {
      if (!kTransports.contains(transport)) {
        return absl::InvalidArgumentError(
            absl::StrCat("TURN server ", server.id, ": unknown transport \"", transport, "\""));
      }
    }
  }
  return absl::OkStatus();
}

bool IsTimestamp(absl::Time t) { return t != absl::InfiniteFuture(); }

absl::Status ValidateHealth(std::span<const TurnHealthRow> rows) {
  for (const TurnHealthRow& row : rows) {
    const turn::HealthState& h = row.health;
    const bool ok = !row.server_id.empty() && h.consecutive_failures >= 0 &&
                    std::isfinite(h.last_latency_ms) && h.last_latency_ms >= 0 &&
                    std::isfinite(h.smoothed_latency_ms) && h.smoothed_latency_ms >= 0 &&
                    h.success_rate >= 0 && h.success_rate <= 1 && IsTimestamp(h.last_check) &&
                    IsTimestamp(h.unhealthy_until);
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "TURN health of \"", row.server_id, "\" (prober region \"", row.prober_region,
          "\"): empty id, negative count, latency or rate out of range, or infinite time"));
    }
  }
  return absl::OkStatus();
}

// What HealthState keeps as a default the table keeps as NULL, "not measured yet": a latency of 0
// (no successful check), a success rate before the first check, and InfinitePast times.
std::optional<double> LatencyValue(double ms) {
  return ms == 0 ? std::nullopt : std::optional<double>(ms);
}
std::optional<std::string> TimeValue(absl::Time t) {
  return t == absl::InfinitePast() ? std::nullopt : std::optional<std::string>(TimestampLiteral(t));
}
double DoubleOrZero(const pqxx::field& field) { return field.is_null() ? 0 : field.as<double>(); }
absl::Time TimeOrInfinitePast(const pqxx::field& field) {
  return field.is_null() ? absl::InfinitePast() : absl::FromUnixMicros(field.as<int64_t>());
}

HealthStatus ParseStatus(const std::string& text) {
  for (HealthStatus status :
       {HealthStatus::kUnknown, HealthStatus::kHealthy, HealthStatus::kUnhealthy}) {
    if (turn::HealthStatusName(status) == text) return status;
  }
  throw std::runtime_error(
      absl::StrCat("turn_health.status is \"", text, "\", expected unknown, healthy or unhealthy"));
}

}  // namespace

TurnServerRow RegistryRow(const config::TurnServerConfig& server) {
  TurnServerRow row;
  row.id = server.id;
  row.urls = server.urls;
  row.region = server.region;
  row.enabled = server.enabled;
  for (const turn::TurnUrl& url : server.parsed_urls) {
    const std::string transport(turn::TransportName(url.transport));
    if (std::ranges::find(row.transports, transport) == row.transports.end()) {
      row.transports.push_back(transport);
    }
  }
  return row;
}

absl::Status PgStore::SyncTurnServers(std::span<const TurnServerRow> servers) {
  if (absl::Status valid = ValidateServers(servers); !valid.ok()) return valid;
  // Several probers (one per region) sync at start-up; touching rows in one order keeps their
  // transactions from deadlocking on each other.
  std::vector<const TurnServerRow*> sorted;
  std::vector<std::string> ids;
  for (const TurnServerRow& server : servers) sorted.push_back(&server);
  std::ranges::sort(sorted, {}, &TurnServerRow::id);
  ids.reserve(sorted.size());
  for (const TurnServerRow* server : sorted) ids.push_back(server->id);
  return Call("sync TURN servers", [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    for (const TurnServerRow* server : sorted) {
      // updated_at moves only when something changed, so it tells when the registry last did.
      tx.exec_params0(
          "INSERT INTO turn_servers AS s (id, urls, region, transports, enabled)"
          " VALUES ($1, $2::text[], $3, $4::text[], $5)"
          " ON CONFLICT (id) DO UPDATE SET urls = excluded.urls, region = excluded.region,"
          " transports = excluded.transports, enabled = excluded.enabled, updated_at = now()"
          " WHERE (s.urls, s.region, s.transports, s.enabled) IS DISTINCT FROM"
          " (excluded.urls, excluded.region, excluded.transports, excluded.enabled)",
          server->id, ArrayLiteral(server->urls), server->region, ArrayLiteral(server->transports),
          server->enabled);
    }
    // Servers no longer in the file keep their rows (and health history) but are not offered.
    tx.exec_params0(
        "UPDATE turn_servers SET enabled = false, updated_at = now()"
        " WHERE enabled AND NOT (id = ANY($1::text[]))",
        ArrayLiteral(ids));
    tx.commit();
  });
}

absl::Status PgStore::WriteTurnHealth(std::span<const TurnHealthRow> rows) {
  if (absl::Status valid = ValidateHealth(rows); !valid.ok()) return valid;
  if (rows.empty()) return absl::OkStatus();
  return Call("write TURN health", [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    for (const TurnHealthRow& row : rows) {
      const turn::HealthState& h = row.health;
      const bool checked = h.last_check != absl::InfinitePast();
      tx.exec_params0(
          "INSERT INTO turn_health (server_id, prober_region, status, last_latency_ms,"
          " smoothed_latency_ms, consecutive_failures, success_rate, last_error, last_check,"
          " unhealthy_until)"
          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz, $10::timestamptz)"
          " ON CONFLICT (server_id, prober_region) DO UPDATE SET status = excluded.status,"
          " last_latency_ms = excluded.last_latency_ms,"
          " smoothed_latency_ms = excluded.smoothed_latency_ms,"
          " consecutive_failures = excluded.consecutive_failures,"
          " success_rate = excluded.success_rate, last_error = excluded.last_error,"
          " last_check = excluded.last_check, unhealthy_until = excluded.unhealthy_until",
          row.server_id, row.prober_region, std::string(turn::HealthStatusName(h.status)),
          LatencyValue(h.last_latency_ms), LatencyValue(h.smoothed_latency_ms),
          h.consecutive_failures, checked ? std::optional<double>(h.success_rate) : std::nullopt,
          h.last_error, TimeValue(h.last_check), TimeValue(h.unhealthy_until));
    }
    tx.commit();
  });
}

absl::StatusOr<std::vector<TurnServerRow>> PgStore::LoadTurnServers() {
  std::vector<TurnServerRow> servers;
  absl::Status status = Call("load TURN servers", [&](pqxx::connection& conn) {
    servers.clear();  // a retried attempt must not append to a partial first one
    pqxx::read_transaction tx(conn);
    for (const pqxx::row& row :
         tx.exec("SELECT id, urls, region, transports, enabled FROM turn_servers ORDER BY id")) {
      servers.push_back(TurnServerRow{.id = row[0].as<std::string>(),
                                      .urls = ParseTextArray(row[1]),
                                      .region = row[2].as<std::string>(),
                                      .transports = ParseTextArray(row[3]),
                                      .enabled = row[4].as<bool>()});
    }
    tx.commit();
  });
  if (!status.ok()) return status;
  return servers;
}

absl::StatusOr<std::vector<TurnHealthRow>> PgStore::LoadTurnHealth() {
  std::vector<TurnHealthRow> rows;
  absl::Status status = Call("load TURN health", [&](pqxx::connection& conn) {
    rows.clear();  // a retried attempt must not append to a partial first one
    pqxx::read_transaction tx(conn);
    for (const pqxx::row& row :
         tx.exec("SELECT server_id, prober_region, status, last_latency_ms, smoothed_latency_ms,"
                 " consecutive_failures, success_rate, last_error,"
                 " (extract(epoch FROM last_check) * 1000000)::bigint,"
                 " (extract(epoch FROM unhealthy_until) * 1000000)::bigint"
                 " FROM turn_health ORDER BY server_id, prober_region")) {
      TurnHealthRow& out = rows.emplace_back();
      out.server_id = row[0].as<std::string>();
      out.prober_region = row[1].as<std::string>();
      turn::HealthState& h = out.health;
      h.status = ParseStatus(row[2].as<std::string>());
      h.last_latency_ms = DoubleOrZero(row[3]);
      h.smoothed_latency_ms = DoubleOrZero(row[4]);
      h.consecutive_failures = row[5].as<int>();
      h.success_rate = DoubleOrZero(row[6]);
      h.last_error = row[7].as<std::string>();
      h.last_check = TimeOrInfinitePast(row[8]);
      h.unhealthy_until = TimeOrInfinitePast(row[9]);
    }
    tx.commit();
  });
  if (!status.ok()) return status;
  return rows;
}

int64_t LeaderLockKey(std::string_view name) {
  // FNV-1a, 64 bits: tiny, fixed by its specification, and unlike std::hash the same everywhere.
  constexpr uint64_t kOffsetBasis = 14695981039346656037ULL;
  constexpr uint64_t kPrime = 1099511628211ULL;
  uint64_t hash = kOffsetBasis;
  for (std::string_view part : {std::string_view("turn-prober/"), name}) {
    for (char c : part) {
      hash ^= static_cast<unsigned char>(c);
      hash *= kPrime;
    }
  }
  return std::bit_cast<int64_t>(hash);
}

LeaderLock::LeaderLock(std::string database_url, std::string_view name)
    : url_(std::move(database_url)), key_(LeaderLockKey(name)) {}

LeaderLock::~LeaderLock() { Release(); }

absl::StatusOr<bool> LeaderLock::TryAcquire() {
  std::lock_guard lock(mu_);
  // A kept connection may have died while idle (server restart, pg_terminate_backend), which only
  // shows when it is used. Such a failure is retried once on a fresh connection, as PgStore does.
  for (int attempt = 0;; ++attempt) {
    const bool reused = conn_ != nullptr;
    try {
      if (conn_ == nullptr)
        conn_ = std::make_unique<internal::PgConnection>(WithConnectTimeout(url_));
      pqxx::nontransaction tx(*conn_);
      if (held_) {
        // Alive, and still the session that took the lock (see holder_pid_): it is still ours.
        if (tx.exec1("SELECT pg_backend_pid()")[0].as<int>() == holder_pid_) return true;
        held_ = false;
      }
      const pqxx::row row =
          tx.exec_params1("SELECT pg_try_advisory_lock($1::bigint), pg_backend_pid()", key_);
      held_ = row[0].as<bool>();
      holder_pid_ = row[1].as<int>();
      return held_;
    } catch (const std::exception& e) {
      // The session is gone or in an unknown state, and any lock it held with it.
      conn_.reset();
      held_ = false;
      absl::Status status = StatusFromException("leader lock", e);
      if (!reused || attempt > 0 || !absl::IsUnavailable(status)) return status;
    }
  }
}

void LeaderLock::Release() {
  std::lock_guard lock(mu_);
  // Closing the connection ends the session and so releases the lock, but only once the server
  // has noticed, a moment later; unlocking first lets a standby take over on its very next try.
  if (held_) {
    try {
      pqxx::nontransaction tx(*conn_);
      tx.exec_params("SELECT pg_advisory_unlock($1::bigint)", key_);
    } catch (const std::exception&) {
      // The session is gone already, and the lock went with it.
    }
  }
  conn_.reset();
  held_ = false;
}

}  // namespace advisor::store
