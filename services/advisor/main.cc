// advisor-server: serves the Connectivity Advisor API (`serve`, the default) or applies the
// database migrations (`migrate`). Configuration comes from flags or ADVISOR_* environment
// variables.
#include <google/protobuf/stubs/logging.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "lib/config/flags.h"
#include "lib/config/turn_servers.h"
#include "lib/store/store.h"
#include "lib/telemetry/logging.h"
#include "services/advisor/server.h"

namespace {

constexpr char kSummary[] =
    "Tells the apps of a fleet how two peers should connect across NATs, and learns from the\n"
    "outcomes they report, pooled in PostgreSQL.\n"
    "Commands: serve (default) runs the gRPC service; migrate applies database migrations and "
    "exits.";

int Migrate(const std::string& database_url) {
  auto applied = advisor::store::Migrate(database_url);
  if (!applied.ok()) {
    spdlog::error("migration failed: {}", applied.status().ToString());
    return 1;
  }
  spdlog::info("database is up to date ({} migrations applied now, {} known)", *applied,
               advisor::store::EmbeddedMigrations().size());
  return 0;
}

int Serve(const advisor::ServerOptions& options, const std::string& database_url) {
  // Signals are taken synchronously by this thread; every thread started below inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = advisor::AdvisorServer::Start(
      options, std::make_shared<advisor::store::PgStore>(database_url),
      std::make_shared<advisor::store::PgStore>(database_url));
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().ToString());
    return 1;
  }
  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("received {}: refusing new reports, flushing, then exiting",
               signal == SIGTERM ? "SIGTERM" : "SIGINT");
  return (*server)->Shutdown().ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's abseil is built without NDEBUG, which leaves absl::Mutex's deadlock detector on: a
  // lock-order graph updated on every lock, gRPC's own included. perf put it at about 6 % of the
  // server's samples under tests/bench/grpc.sh; the sanitizer builds are where lock bugs are
  // looked for.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  advisor::ServerOptions options;
  std::string database_url;
  std::string stun_urls = absl::StrJoin(options.stun_urls, ",");
  std::string log_level = "info";
  std::string turn_servers_file;
  std::string token_key_file, previous_token_key_file;
  double min_confidence = options.snapshot.engine.min_confidence;
  auto& engine = options.snapshot.engine;

  advisor::config::FlagSet flags("advisor-server [serve|migrate] [flags]", kSummary);
  flags.String("database-url", "ADVISOR_DATABASE_URL", &database_url,
               "PostgreSQL connection string or URI (required)");
  flags.HostPort("listen", "ADVISOR_LISTEN", &options.listen, "gRPC listen address", true);
  flags.HostPort("metrics-listen", "ADVISOR_METRICS_LISTEN", &options.metrics_listen,
                 "Prometheus /metrics listen address", true);
  flags.Secret("token-key", "ADVISOR_TOKEN_KEY", &options.token_key,
               "HMAC key signing decision tokens, at least 16 bytes (required)");
  flags.Secret("previous-token-key", "ADVISOR_PREVIOUS_TOKEN_KEY", &options.previous_token_key,
               "the key before the last rotation, still accepted for verification");
  flags.String("token-key-file", "ADVISOR_TOKEN_KEY_FILE", &token_key_file,
               "file holding --token-key (one trailing newline is dropped); not with --token-key");
  flags.String("previous-token-key-file", "ADVISOR_PREVIOUS_TOKEN_KEY_FILE",
               &previous_token_key_file,
               "file holding --previous-token-key; not with --previous-token-key");
  flags.String("tls-cert-file", "ADVISOR_TLS_CERT_FILE", &options.tls.cert_file,
               "PEM certificate chain served over TLS; re-read every --tls-refresh-interval, so "
               "a certificate renewed in place reaches new connections without a restart "
               "(required unless --insecure)");
  flags.String("tls-key-file", "ADVISOR_TLS_KEY_FILE", &options.tls.key_file,
               "PEM private key of --tls-cert-file, re-read with it");
  flags.String("tls-client-ca-file", "ADVISOR_TLS_CLIENT_CA_FILE", &options.tls.client_ca_file,
               "PEM CA bundle: when set, every client must present a certificate it signed (mTLS)");
  flags.Duration("tls-refresh-interval", "ADVISOR_TLS_REFRESH_INTERVAL",
                 &options.tls.refresh_interval, "how often the TLS files are re-read",
                 absl::Seconds(1), absl::Hours(1));
  flags.Bool("insecure", "ADVISOR_INSECURE", &options.insecure,
             "serve plaintext gRPC without a certificate: only behind a proxy or mesh that "
             "terminates TLS, or for local tests (a warning is logged)");
  flags.Int("max-concurrent-streams", "ADVISOR_MAX_CONCURRENT_STREAMS",
            &options.limits.max_concurrent_streams,
            "RPCs one connection may have in flight at once", 1, 100'000);
  flags.Duration("max-connection-idle", "ADVISOR_MAX_CONNECTION_IDLE",
                 &options.limits.max_connection_idle,
                 "a connection without an RPC for this long is closed (GOAWAY)", absl::Seconds(1),
                 absl::Hours(24));
  flags.Duration("max-connection-age", "ADVISOR_MAX_CONNECTION_AGE",
                 &options.limits.max_connection_age,
                 "a connection this old is asked to go away (GOAWAY), so that load balancers can "
                 "rebalance long-lived clients",
                 absl::Seconds(1), absl::Hours(24 * 7));
  flags.Duration("max-connection-age-grace", "ADVISOR_MAX_CONNECTION_AGE_GRACE",
                 &options.limits.max_connection_age_grace,
                 "time the RPCs in flight at --max-connection-age get before the connection is "
                 "closed",
                 absl::ZeroDuration(), absl::Hours(1));
  flags.Duration("keepalive-min-ping-interval", "ADVISOR_KEEPALIVE_MIN_PING_INTERVAL",
                 &options.limits.keepalive_min_ping_interval,
                 "clients pinging more often (or at all without an RPC) are disconnected after "
                 "two such pings",
                 absl::Seconds(1), absl::Hours(24));
  flags.Duration("handshake-timeout", "ADVISOR_HANDSHAKE_TIMEOUT",
                 &options.limits.handshake_timeout,
                 "a connection that has not finished its TLS handshake and HTTP/2 preface by "
                 "then is closed",
                 absl::Seconds(1), absl::Minutes(10));
  flags.Bytes("resource-quota-memory", "ADVISOR_RESOURCE_QUOTA_MEMORY",
              &options.limits.resource_quota_memory,
              "memory gRPC may use for all connections together; near it, gRPC shrinks flow "
              "control windows and cancels streams",
              int64_t{1} << 20, int64_t{1} << 40);
  flags.Int("max-threads", "ADVISOR_MAX_THREADS", &options.limits.max_threads,
            "threads gRPC may start for serving", 4, 10'000);
  flags.Int("max-request-bytes", "ADVISOR_MAX_REQUEST_BYTES",
            &options.limits.max_receive_message_bytes,
            "larger request messages are refused with RESOURCE_EXHAUSTED", 1024, 4 << 20);
  flags.Duration("max-request-deadline", "ADVISOR_MAX_REQUEST_DEADLINE",
                 &options.limits.max_request_deadline,
                 "a call whose request message has not arrived whole this long after it started "
                 "is answered DEADLINE_EXCEEDED and its stream closed",
                 absl::Milliseconds(100), absl::Minutes(10));
  flags.Duration("token-ttl", "ADVISOR_TOKEN_TTL", &options.token_ttl,
                 "how long a decision token may be reported against");
  flags.Duration("snapshot-interval", "ADVISOR_SNAPSHOT_INTERVAL", &options.snapshot_interval,
                 "how often the decision snapshot is reloaded from PostgreSQL");
  flags.Duration("flush-interval", "ADVISOR_FLUSH_INTERVAL", &options.flush_interval,
                 "how often held outcome deltas are written to PostgreSQL");
  flags.Duration("max-flush-backoff", "ADVISOR_MAX_FLUSH_BACKOFF", &options.max_flush_backoff,
                 "longest wait between flush retries while PostgreSQL fails");
  flags.Int("max-pending-reports", "ADVISOR_MAX_PENDING_REPORTS", &options.max_pending_reports,
            "acknowledged reports held in memory at most; beyond it reports are refused", 1,
            1'000'000'000);
  flags.Duration("shutdown-timeout", "ADVISOR_SHUTDOWN_TIMEOUT", &options.shutdown_timeout,
                 "how long SIGTERM waits for the final flush");
  flags.Duration("bucket-width", "ADVISOR_BUCKET_WIDTH", &options.snapshot.bucket_width,
                 "time bucket of outcome aggregates; ageing cannot tell apart outcomes of one "
                 "bucket, and a reload reads history-window / bucket-width buckets per pair and "
                 "strategy",
                 absl::Seconds(1), absl::Hours(24));
  flags.Duration("half-life", "ADVISOR_HALF_LIFE", &engine.half_life,
                 "age at which an outcome counts half");
  flags.Double("sample-half-life", "ADVISOR_SAMPLE_HALF_LIFE", &engine.sample_half_life,
               "sessions of a NAT pair, reported in newer buckets, after which an outcome counts "
               "half again: busy pairs follow a change within a few times this many sessions",
               1, 1e12);
  flags.Duration("history-window", "ADVISOR_HISTORY_WINDOW", &options.snapshot.history_window,
                 "outcomes older than this are ignored");
  flags.Double("min-samples", "ADVISOR_MIN_SAMPLES", &engine.min_samples,
               "aged direct attempts a NAT pair needs before history moves its strategy", 1, 1e9);
  flags.Double("relay-cost-ms", "ADVISOR_RELAY_COST_MS", &engine.relay_cost_ms,
               "business cost of one session that turns to the relay, in milliseconds of connect "
               "time it is worth avoiding: what the strategy choice weighs against connect time",
               0, 1e9);
  flags.Double("failure-cost-ms", "ADVISOR_FAILURE_COST_MS", &engine.failure_cost_ms,
               "price of one session that fails, beyond the connect budget it waited, in "
               "milliseconds of connect time; raise it to trade time and relays for success",
               0, 1e12);
  flags.Duration("connect-budget", "ADVISOR_CONNECT_BUDGET", &engine.connect_budget,
                 "time after which a client gives up connecting; a failure costs this much");
  flags.Double("prior-weight", "ADVISOR_PRIOR_WEIGHT", &engine.prior_weight,
               "pseudo-attempts of the cold-start prior mixed into each NAT pair's estimates, so "
               "that a pair with few outcomes stays near it",
               0, 1e9);
  flags.Double("explore-share", "ADVISOR_EXPLORE_SHARE", &engine.explore_share,
               "share of a NAT pair's answers that try the option next to the chosen one (a pair "
               "on TURN_ONLY may explore more, up to 25%, to keep enough direct attempts in view); "
               "0 turns exploration off",
               0, 1);
  flags.Double("min-confidence", "ADVISOR_MIN_CONFIDENCE", &min_confidence,
               "NAT reports below this confidence count as unknown", 0, 1);
  flags.String("stun-urls", "ADVISOR_STUN_URLS", &stun_urls,
               "comma-separated STUN urls added to every answer's STUN entry (default none: the "
               "offered TURN server's own STUN port is used; a public STUN server shows clients' "
               "addresses to a third party)");
  flags.String(
      "turn-servers-file", "ADVISOR_TURN_SERVERS_FILE", &turn_servers_file,
      "YAML/JSON registry of TURN servers with their secrets (optional: without it answers "
      "carry STUN only)");
  flags.Duration(
      "turn-credential-ttl", "ADVISOR_TURN_CREDENTIAL_TTL", &options.turn_credential_ttl,
      "lifetime of the per-client TURN REST API credentials put in answers: enough to allocate, "
      "short so that leaked ones soon stop working",
      absl::Minutes(1), absl::Hours(24 * 7));
  flags.String("auth-keys-file", "ADVISOR_AUTH_KEYS_FILE", &options.auth_keys_file,
               "JWKS file (RFC 7517) of the keys that sign clients' JWTs: oct (HS256), EC P-256 "
               "(ES256) or RSA (RS256), chosen by kid; re-read when it changes (required unless "
               "--allow-anonymous)");
  flags.String("auth-audience", "ADVISOR_AUTH_AUDIENCE", &options.auth_audience,
               "audience a client JWT's aud must contain");
  flags.Bool("allow-anonymous", "ADVISOR_ALLOW_ANONYMOUS", &options.clients.allow_anonymous,
             "development only: serve callers without a JWT, known by their address (they get "
             "no TURN credentials and no admin access)");
  flags.Double("rate-limit", "ADVISOR_RATE_LIMIT", &options.clients.rate_limit,
               "requests per second per client identity per replica; 0 turns the limit off", 0,
               1e9);
  flags.Double("rate-limit-burst", "ADVISOR_RATE_LIMIT_BURST", &options.clients.rate_limit_burst,
               "requests a client identity may send at once before --rate-limit applies", 1, 1e9);
  flags.Int("max-reports-per-identity", "ADVISOR_MAX_REPORTS_PER_IDENTITY",
            &options.clients.max_reports_per_identity,
            "reports one client identity adds to one NAT pair per bucket per replica; more are "
            "answered OK and not counted; 0 turns the cap off",
            0, 255);
  flags.Double("auth-failure-limit", "ADVISOR_AUTH_FAILURE_LIMIT",
               &options.clients.auth_failure_limit,
               "JWTs failing verification per second per peer address (bursts of 5x) before that "
               "address's unverified tokens are refused without a signature check; 0 turns it off",
               0, 1e9);
  flags.Double("min-timeout-samples", "ADVISOR_MIN_TIMEOUT_SAMPLES", &engine.min_timeout_samples,
               "aged direct attempts a NAT pair needs before the seed's rule moves its direct "
               "timeout",
               0, 1e9);
  flags.String("log-level", "ADVISOR_LOG_LEVEL", &log_level, "trace, debug, info, warn or error");

  const advisor::config::ParsedCommand cli = advisor::config::ParseCommand(
      flags, argc, argv, "advisor-server", {"serve", "migrate"}, "serve");
  if (cli.exit_code) return *cli.exit_code;
  if (absl::Status status = advisor::telemetry::InitLogging(log_level); !status.ok()) {
    std::cerr << "advisor-server: --log-level: " << status.message() << "\n";
    return 2;
  }
  const std::string& command = cli.command;
  if (database_url.empty()) {
    std::cerr << "advisor-server: --database-url (or ADVISOR_DATABASE_URL) is required\n";
    return 2;
  }
  // Protobuf logs each malformed string it parses; from clients that is their error, not ours.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string& message) {
        spdlog::debug("protobuf: {}", message);
      });
  if (command == "migrate") return Migrate(database_url);

  for (auto [file, file_flag, key, key_flag] :
       {std::tuple{&token_key_file, "--token-key-file", &options.token_key, "--token-key"},
        std::tuple{&previous_token_key_file, "--previous-token-key-file",
                   &options.previous_token_key, "--previous-token-key"}}) {
    if (file->empty()) continue;
    if (!key->empty()) {
      std::cerr << "advisor-server: " << file_flag << " and " << key_flag
                << " (or their variables) are both given: keep one\n";
      return 2;
    }
    absl::StatusOr<std::string> secret = advisor::config::ReadSecretFile(*file);
    if (!secret.ok()) {
      std::cerr << "advisor-server: " << file_flag << ": " << secret.status().message() << "\n";
      return 2;
    }
    *key = *std::move(secret);
  }
  if (options.token_key.empty()) {
    std::cerr << "advisor-server: --token-key or --token-key-file (or ADVISOR_TOKEN_KEY, "
                 "ADVISOR_TOKEN_KEY_FILE) is required\n";
    return 2;
  }
  if (!turn_servers_file.empty()) {
    auto servers = advisor::config::LoadTurnServersFile(turn_servers_file);
    if (!servers.ok()) {
      std::cerr << "advisor-server: --turn-servers-file: " << servers.status().message() << "\n";
      return 2;
    }
    options.snapshot.turn_servers = *std::move(servers);
  }
  engine.min_confidence = static_cast<float>(min_confidence);
  options.stun_urls = absl::StrSplit(stun_urls, ',', absl::SkipWhitespace());
  return Serve(options, database_url);
}
