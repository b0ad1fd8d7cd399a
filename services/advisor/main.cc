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

#include "absl/flags/flag.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "lib/config/flags.h"
#include "lib/config/turn_servers.h"
#include "lib/store/store.h"
#include "lib/telemetry/logging.h"
#include "services/advisor/server.h"

// Defaults come from ServerOptions, so that the library and the binary cannot disagree.
ABSL_FLAG(std::string, database_url, "", "PostgreSQL connection string or URI (required)");
ABSL_FLAG(std::string, listen, advisor::ServerOptions{}.listen, "gRPC listen address");
ABSL_FLAG(std::string, metrics_listen, advisor::ServerOptions{}.metrics_listen,
          "Prometheus /metrics listen address");
ABSL_FLAG(std::string, token_key, advisor::ServerOptions{}.token_key,
          "HMAC key signing decision tokens, at least 16 bytes (required)");
ABSL_FLAG(std::string, previous_token_key, advisor::ServerOptions{}.previous_token_key,
          "the key before the last rotation, still accepted for verification");
ABSL_FLAG(std::string, token_key_file, "",
          "file holding --token-key (one trailing newline is dropped); not with --token-key");
ABSL_FLAG(std::string, previous_token_key_file, "",
          "file holding --previous-token-key; not with --previous-token-key");
ABSL_FLAG(std::string, tls_cert_file, advisor::ServerOptions{}.tls.cert_file,
          "PEM certificate chain served over TLS; re-read every --tls-refresh-interval, so "
          "a certificate renewed in place reaches new connections without a restart "
          "(required unless --insecure)");
ABSL_FLAG(std::string, tls_key_file, advisor::ServerOptions{}.tls.key_file,
          "PEM private key of --tls-cert-file, re-read with it");
ABSL_FLAG(std::string, tls_client_ca_file, advisor::ServerOptions{}.tls.client_ca_file,
          "PEM CA bundle: when set, every client must present a certificate it signed (mTLS)");
ABSL_FLAG(absl::Duration, tls_refresh_interval, advisor::ServerOptions{}.tls.refresh_interval,
          "how often the TLS files are re-read");
ABSL_FLAG(bool, insecure, advisor::ServerOptions{}.insecure,
          "serve plaintext gRPC without a certificate: only behind a proxy or mesh that "
          "terminates TLS, or for local tests (a warning is logged)");
ABSL_FLAG(int64_t, max_concurrent_streams, advisor::ServerOptions{}.limits.max_concurrent_streams,
          "RPCs one connection may have in flight at once");
ABSL_FLAG(absl::Duration, max_connection_idle, advisor::ServerOptions{}.limits.max_connection_idle,
          "a connection without an RPC for this long is closed (GOAWAY)");
ABSL_FLAG(absl::Duration, max_connection_age, advisor::ServerOptions{}.limits.max_connection_age,
          "a connection this old is asked to go away (GOAWAY), so that load balancers can "
          "rebalance long-lived clients");
ABSL_FLAG(absl::Duration, max_connection_age_grace,
          advisor::ServerOptions{}.limits.max_connection_age_grace,
          "time the RPCs in flight at --max-connection-age get before the connection is "
          "closed");
ABSL_FLAG(absl::Duration, keepalive_min_ping_interval,
          advisor::ServerOptions{}.limits.keepalive_min_ping_interval,
          "clients pinging more often (or at all without an RPC) are disconnected after "
          "two such pings");
ABSL_FLAG(absl::Duration, handshake_timeout, advisor::ServerOptions{}.limits.handshake_timeout,
          "a connection that has not finished its TLS handshake and HTTP/2 preface by "
          "then is closed");
ABSL_FLAG(advisor::config::ByteSize, resource_quota_memory,
          advisor::config::ByteSize{advisor::ServerOptions{}.limits.resource_quota_memory},
          "memory gRPC may use for all connections together; near it, gRPC shrinks flow "
          "control windows and cancels streams");
ABSL_FLAG(int64_t, max_threads, advisor::ServerOptions{}.limits.max_threads,
          "threads gRPC may start for serving");
ABSL_FLAG(int64_t, max_request_bytes, advisor::ServerOptions{}.limits.max_receive_message_bytes,
          "larger request messages are refused with RESOURCE_EXHAUSTED");
ABSL_FLAG(absl::Duration, max_request_deadline,
          advisor::ServerOptions{}.limits.max_request_deadline,
          "a call whose request message has not arrived whole this long after it started "
          "is answered DEADLINE_EXCEEDED and its stream closed");
ABSL_FLAG(absl::Duration, token_ttl, advisor::ServerOptions{}.token_ttl,
          "how long a decision token may be reported against");
ABSL_FLAG(absl::Duration, snapshot_interval, advisor::ServerOptions{}.snapshot_interval,
          "how often the decision snapshot is reloaded from PostgreSQL");
ABSL_FLAG(absl::Duration, flush_interval, advisor::ServerOptions{}.flush_interval,
          "how often held outcome deltas are written to PostgreSQL");
ABSL_FLAG(absl::Duration, max_flush_backoff, advisor::ServerOptions{}.max_flush_backoff,
          "longest wait between flush retries while PostgreSQL fails");
ABSL_FLAG(int64_t, max_pending_reports, advisor::ServerOptions{}.max_pending_reports,
          "acknowledged reports held in memory at most; beyond it reports are refused");
ABSL_FLAG(absl::Duration, shutdown_timeout, advisor::ServerOptions{}.shutdown_timeout,
          "how long SIGTERM waits for the final flush");
ABSL_FLAG(absl::Duration, bucket_width, advisor::ServerOptions{}.snapshot.bucket_width,
          "time bucket of outcome aggregates; ageing cannot tell apart outcomes of one "
          "bucket, and a reload reads history-window / bucket-width buckets per pair and "
          "strategy");
ABSL_FLAG(absl::Duration, half_life, advisor::ServerOptions{}.snapshot.engine.half_life,
          "age at which an outcome counts half");
ABSL_FLAG(double, sample_half_life, advisor::ServerOptions{}.snapshot.engine.sample_half_life,
          "sessions of a NAT pair, reported in newer buckets, after which an outcome counts "
          "half again: busy pairs follow a change within a few times this many sessions");
ABSL_FLAG(absl::Duration, history_window, advisor::ServerOptions{}.snapshot.history_window,
          "outcomes older than this are ignored");
ABSL_FLAG(double, min_samples, advisor::ServerOptions{}.snapshot.engine.min_samples,
          "aged direct attempts a NAT pair needs before history moves its strategy");
ABSL_FLAG(double, relay_cost_ms, advisor::ServerOptions{}.snapshot.engine.relay_cost_ms,
          "business cost of one session that turns to the relay, in milliseconds of connect "
          "time it is worth avoiding: what the strategy choice weighs against connect time");
ABSL_FLAG(double, failure_cost_ms, advisor::ServerOptions{}.snapshot.engine.failure_cost_ms,
          "price of one session that fails, beyond the connect budget it waited, in "
          "milliseconds of connect time; raise it to trade time and relays for success");
ABSL_FLAG(absl::Duration, connect_budget, advisor::ServerOptions{}.snapshot.engine.connect_budget,
          "time after which a client gives up connecting; a failure costs this much");
ABSL_FLAG(double, prior_weight, advisor::ServerOptions{}.snapshot.engine.prior_weight,
          "pseudo-attempts of the cold-start prior mixed into each NAT pair's estimates, so "
          "that a pair with few outcomes stays near it");
ABSL_FLAG(double, explore_share, advisor::ServerOptions{}.snapshot.engine.explore_share,
          "share of a NAT pair's answers that try the option next to the chosen one (a pair "
          "on TURN_ONLY may explore more, up to 25%, to keep enough direct attempts in view); "
          "0 turns exploration off");
ABSL_FLAG(double, min_confidence, advisor::ServerOptions{}.snapshot.engine.min_confidence,
          "NAT reports below this confidence count as unknown");
ABSL_FLAG(std::string, stun_urls, absl::StrJoin(advisor::ServerOptions{}.stun_urls, ","),
          "comma-separated STUN urls added to every answer's STUN entry (default none: the "
          "offered TURN server's own STUN port is used; a public STUN server shows clients' "
          "addresses to a third party)");
ABSL_FLAG(std::string, turn_servers_file, "",
          "YAML/JSON registry of TURN servers with their secrets (optional: without it answers "
          "carry STUN only)");
ABSL_FLAG(
    absl::Duration, turn_credential_ttl, advisor::ServerOptions{}.turn_credential_ttl,
    "lifetime of the per-client TURN REST API credentials put in answers: enough to allocate, "
    "short so that leaked ones soon stop working");
ABSL_FLAG(std::string, auth_keys_file, advisor::ServerOptions{}.auth_keys_file,
          "JWKS file (RFC 7517) of the keys that sign clients' JWTs: oct (HS256), EC P-256 "
          "(ES256) or RSA (RS256), chosen by kid; re-read when it changes (required unless "
          "--allow-anonymous)");
ABSL_FLAG(std::string, auth_audience, advisor::ServerOptions{}.auth_audience,
          "audience a client JWT's aud must contain");
ABSL_FLAG(bool, allow_anonymous, advisor::ServerOptions{}.clients.allow_anonymous,
          "development only: serve callers without a JWT, known by their address (they get "
          "no TURN credentials and no admin access)");
ABSL_FLAG(double, rate_limit, advisor::ServerOptions{}.clients.rate_limit,
          "requests per second per client identity per replica; 0 turns the limit off");
ABSL_FLAG(double, rate_limit_burst, advisor::ServerOptions{}.clients.rate_limit_burst,
          "requests a client identity may send at once before --rate-limit applies");
ABSL_FLAG(int64_t, max_reports_per_identity,
          advisor::ServerOptions{}.clients.max_reports_per_identity,
          "reports one client identity adds to one NAT pair per bucket per replica; more are "
          "answered OK and not counted; 0 turns the cap off");
ABSL_FLAG(double, auth_failure_limit, advisor::ServerOptions{}.clients.auth_failure_limit,
          "JWTs failing verification per second per peer address (bursts of 5x) before that "
          "address's unverified tokens are refused without a signature check; 0 turns it off");
ABSL_FLAG(double, min_timeout_samples, advisor::ServerOptions{}.snapshot.engine.min_timeout_samples,
          "aged direct attempts a NAT pair needs before the seed's rule moves its direct "
          "timeout");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn or error");

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

// The settings of the service, read from the flags once ParseCommand has filled them.
advisor::ServerOptions OptionsFromFlags() {
  advisor::ServerOptions options;
  auto& engine = options.snapshot.engine;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.token_key = absl::GetFlag(FLAGS_token_key);
  options.previous_token_key = absl::GetFlag(FLAGS_previous_token_key);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  options.tls.refresh_interval = absl::GetFlag(FLAGS_tls_refresh_interval);
  options.insecure = absl::GetFlag(FLAGS_insecure);
  options.limits.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  options.limits.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  options.limits.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  options.limits.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  options.limits.keepalive_min_ping_interval = absl::GetFlag(FLAGS_keepalive_min_ping_interval);
  options.limits.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  options.limits.resource_quota_memory = absl::GetFlag(FLAGS_resource_quota_memory).bytes;
  options.limits.max_threads = absl::GetFlag(FLAGS_max_threads);
  options.limits.max_receive_message_bytes = absl::GetFlag(FLAGS_max_request_bytes);
  options.limits.max_request_deadline = absl::GetFlag(FLAGS_max_request_deadline);
  options.token_ttl = absl::GetFlag(FLAGS_token_ttl);
  options.snapshot_interval = absl::GetFlag(FLAGS_snapshot_interval);
  options.flush_interval = absl::GetFlag(FLAGS_flush_interval);
  options.max_flush_backoff = absl::GetFlag(FLAGS_max_flush_backoff);
  options.max_pending_reports = absl::GetFlag(FLAGS_max_pending_reports);
  options.shutdown_timeout = absl::GetFlag(FLAGS_shutdown_timeout);
  options.snapshot.bucket_width = absl::GetFlag(FLAGS_bucket_width);
  engine.half_life = absl::GetFlag(FLAGS_half_life);
  engine.sample_half_life = absl::GetFlag(FLAGS_sample_half_life);
  options.snapshot.history_window = absl::GetFlag(FLAGS_history_window);
  engine.min_samples = absl::GetFlag(FLAGS_min_samples);
  engine.relay_cost_ms = absl::GetFlag(FLAGS_relay_cost_ms);
  engine.failure_cost_ms = absl::GetFlag(FLAGS_failure_cost_ms);
  engine.connect_budget = absl::GetFlag(FLAGS_connect_budget);
  engine.prior_weight = absl::GetFlag(FLAGS_prior_weight);
  engine.explore_share = absl::GetFlag(FLAGS_explore_share);
  options.turn_credential_ttl = absl::GetFlag(FLAGS_turn_credential_ttl);
  options.auth_keys_file = absl::GetFlag(FLAGS_auth_keys_file);
  options.auth_audience = absl::GetFlag(FLAGS_auth_audience);
  options.clients.allow_anonymous = absl::GetFlag(FLAGS_allow_anonymous);
  options.clients.rate_limit = absl::GetFlag(FLAGS_rate_limit);
  options.clients.rate_limit_burst = absl::GetFlag(FLAGS_rate_limit_burst);
  options.clients.max_reports_per_identity = absl::GetFlag(FLAGS_max_reports_per_identity);
  options.clients.auth_failure_limit = absl::GetFlag(FLAGS_auth_failure_limit);
  engine.min_timeout_samples = absl::GetFlag(FLAGS_min_timeout_samples);
  engine.min_confidence = static_cast<float>(absl::GetFlag(FLAGS_min_confidence));
  options.stun_urls = absl::StrSplit(absl::GetFlag(FLAGS_stun_urls), ',', absl::SkipWhitespace());
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's abseil is built without NDEBUG, which leaves absl::Mutex's deadlock detector on: a
  // lock-order graph updated on every lock, gRPC's own included. perf put it at about 6 % of the
  // server's samples under tests/bench/grpc.sh; the sanitizer builds are where lock bugs are
  // looked for.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  advisor::config::FlagSet flags("advisor-server [serve|migrate] [flags]", kSummary);
  flags.String(FLAGS_database_url, "ADVISOR_DATABASE_URL");
  flags.HostPort(FLAGS_listen, "ADVISOR_LISTEN", /*allow_zero_port=*/true);
  flags.HostPort(FLAGS_metrics_listen, "ADVISOR_METRICS_LISTEN", /*allow_zero_port=*/true);
  flags.Secret(FLAGS_token_key, "ADVISOR_TOKEN_KEY");
  flags.Secret(FLAGS_previous_token_key, "ADVISOR_PREVIOUS_TOKEN_KEY");
  flags.String(FLAGS_token_key_file, "ADVISOR_TOKEN_KEY_FILE");
  flags.String(FLAGS_previous_token_key_file, "ADVISOR_PREVIOUS_TOKEN_KEY_FILE");
  flags.String(FLAGS_tls_cert_file, "ADVISOR_TLS_CERT_FILE");
  flags.String(FLAGS_tls_key_file, "ADVISOR_TLS_KEY_FILE");
  flags.String(FLAGS_tls_client_ca_file, "ADVISOR_TLS_CLIENT_CA_FILE");
  flags.Duration(FLAGS_tls_refresh_interval, "ADVISOR_TLS_REFRESH_INTERVAL", absl::Seconds(1),
                 absl::Hours(1));
  flags.Bool(FLAGS_insecure, "ADVISOR_INSECURE");
  flags.Int(FLAGS_max_concurrent_streams, "ADVISOR_MAX_CONCURRENT_STREAMS", 1, 100'000);
  flags.Duration(FLAGS_max_connection_idle, "ADVISOR_MAX_CONNECTION_IDLE", absl::Seconds(1),
                 absl::Hours(24));
  flags.Duration(FLAGS_max_connection_age, "ADVISOR_MAX_CONNECTION_AGE", absl::Seconds(1),
                 absl::Hours(24 * 7));
  flags.Duration(FLAGS_max_connection_age_grace, "ADVISOR_MAX_CONNECTION_AGE_GRACE",
                 absl::ZeroDuration(), absl::Hours(1));
  flags.Duration(FLAGS_keepalive_min_ping_interval, "ADVISOR_KEEPALIVE_MIN_PING_INTERVAL",
                 absl::Seconds(1), absl::Hours(24));
  flags.Duration(FLAGS_handshake_timeout, "ADVISOR_HANDSHAKE_TIMEOUT", absl::Seconds(1),
                 absl::Minutes(10));
  flags.Bytes(FLAGS_resource_quota_memory, "ADVISOR_RESOURCE_QUOTA_MEMORY", int64_t{1} << 20,
              int64_t{1} << 40);
  flags.Int(FLAGS_max_threads, "ADVISOR_MAX_THREADS", 4, 10'000);
  flags.Int(FLAGS_max_request_bytes, "ADVISOR_MAX_REQUEST_BYTES", 1024, 4 << 20);
  flags.Duration(FLAGS_max_request_deadline, "ADVISOR_MAX_REQUEST_DEADLINE",
                 absl::Milliseconds(100), absl::Minutes(10));
  flags.Duration(FLAGS_token_ttl, "ADVISOR_TOKEN_TTL");
  flags.Duration(FLAGS_snapshot_interval, "ADVISOR_SNAPSHOT_INTERVAL");
  flags.Duration(FLAGS_flush_interval, "ADVISOR_FLUSH_INTERVAL");
  flags.Duration(FLAGS_max_flush_backoff, "ADVISOR_MAX_FLUSH_BACKOFF");
  flags.Int(FLAGS_max_pending_reports, "ADVISOR_MAX_PENDING_REPORTS", 1, 1'000'000'000);
  flags.Duration(FLAGS_shutdown_timeout, "ADVISOR_SHUTDOWN_TIMEOUT");
  flags.Duration(FLAGS_bucket_width, "ADVISOR_BUCKET_WIDTH", absl::Seconds(1), absl::Hours(24));
  flags.Duration(FLAGS_half_life, "ADVISOR_HALF_LIFE");
  flags.Double(FLAGS_sample_half_life, "ADVISOR_SAMPLE_HALF_LIFE", 1, 1e12);
  flags.Duration(FLAGS_history_window, "ADVISOR_HISTORY_WINDOW");
  flags.Double(FLAGS_min_samples, "ADVISOR_MIN_SAMPLES", 1, 1e9);
  flags.Double(FLAGS_relay_cost_ms, "ADVISOR_RELAY_COST_MS", 0, 1e9);
  flags.Double(FLAGS_failure_cost_ms, "ADVISOR_FAILURE_COST_MS", 0, 1e12);
  flags.Duration(FLAGS_connect_budget, "ADVISOR_CONNECT_BUDGET");
  flags.Double(FLAGS_prior_weight, "ADVISOR_PRIOR_WEIGHT", 0, 1e9);
  flags.Double(FLAGS_explore_share, "ADVISOR_EXPLORE_SHARE", 0, 1);
  flags.Double(FLAGS_min_confidence, "ADVISOR_MIN_CONFIDENCE", 0, 1);
  flags.String(FLAGS_stun_urls, "ADVISOR_STUN_URLS");
  flags.String(FLAGS_turn_servers_file, "ADVISOR_TURN_SERVERS_FILE");
  flags.Duration(FLAGS_turn_credential_ttl, "ADVISOR_TURN_CREDENTIAL_TTL", absl::Minutes(1),
                 absl::Hours(24 * 7));
  flags.String(FLAGS_auth_keys_file, "ADVISOR_AUTH_KEYS_FILE");
  flags.String(FLAGS_auth_audience, "ADVISOR_AUTH_AUDIENCE");
  flags.Bool(FLAGS_allow_anonymous, "ADVISOR_ALLOW_ANONYMOUS");
  flags.Double(FLAGS_rate_limit, "ADVISOR_RATE_LIMIT", 0, 1e9);
  flags.Double(FLAGS_rate_limit_burst, "ADVISOR_RATE_LIMIT_BURST", 1, 1e9);
  flags.Int(FLAGS_max_reports_per_identity, "ADVISOR_MAX_REPORTS_PER_IDENTITY", 0, 255);
  flags.Double(FLAGS_auth_failure_limit, "ADVISOR_AUTH_FAILURE_LIMIT", 0, 1e9);
  flags.Double(FLAGS_min_timeout_samples, "ADVISOR_MIN_TIMEOUT_SAMPLES", 0, 1e9);
  flags.String(FLAGS_log_level, "ADVISOR_LOG_LEVEL");

  const advisor::config::ParsedCommand cli = advisor::config::ParseCommand(
      flags, argc, argv, "advisor-server", {"serve", "migrate"}, "serve");
  if (cli.exit_code) return *cli.exit_code;
  const std::string database_url = absl::GetFlag(FLAGS_database_url);
  const std::string token_key_file = absl::GetFlag(FLAGS_token_key_file);
  const std::string previous_token_key_file = absl::GetFlag(FLAGS_previous_token_key_file);
  const std::string turn_servers_file = absl::GetFlag(FLAGS_turn_servers_file);
  const std::string log_level = absl::GetFlag(FLAGS_log_level);
  advisor::ServerOptions options = OptionsFromFlags();
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
  return Serve(options, database_url);
}
