// advisor-server wiring: the gRPC server (advisor, health, reflection, metrics interceptor), the
// Prometheus exposer, and the two background tasks — snapshot reloader and outcome flusher.
//
// Start() returns a running server; Shutdown() is the SIGTERM path: refuse new reports, drain the
// RPCs in progress, write every held report, then stop. Tests start it in-process on port 0.
#ifndef ADVISOR_SERVICES_ADVISOR_SERVER_H_
#define ADVISOR_SERVICES_ADVISOR_SERVER_H_

#include <concepts>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/auth/jwt.h"
#include "lib/config/tls.h"
#include "lib/store/store.h"
#include "lib/store/turn_store.h"
#include "lib/telemetry/metrics.h"
#include "services/advisor/advisor_metrics.h"
#include "services/advisor/service.h"
#include "services/advisor/snapshot.h"

namespace grpc {
class Server;
}

namespace advisor {

// Bounds on what one client connection may hold, so that idle, slow or stalled clients cannot
// exhaust memory, threads or file descriptors. The defaults fit mobile clients that make a call or
// two per session; README "Slow and idle clients" explains each.
struct ConnectionLimits {
  // Per connection. A mobile client has one or two calls in flight; every stream a call holds
  // costs memory from its headers on (about 30 kB while its message is awaited), and gRPC 1.51 has
  // no limit on connections, so this times the connections is what stalled streams can hold
  // (tests/bench/slow_clients.sh: 229.7 MB peak with 100, 191.9 MB with 32).
  int64_t max_concurrent_streams = 32;
  absl::Duration max_connection_idle = absl::Minutes(5);        // without an RPC, then GOAWAY
  absl::Duration max_connection_age = absl::Minutes(30);        // then GOAWAY, so LBs rebalance
  absl::Duration max_connection_age_grace = absl::Seconds(30);  // for RPCs in flight at GOAWAY
  // Clients pinging more often than this (and at all without calls) are sent GOAWAY after two
  // strikes.
  absl::Duration keepalive_min_ping_interval = absl::Minutes(1);
  // A TLS handshake (or HTTP/2 preface) not finished by then closes the connection.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // gRPC resource quota: the memory of all connections together, and threads.
  int64_t resource_quota_memory = int64_t{128} << 20;
  int64_t max_threads = 64;
  // Larger requests are refused before a handler sees them; ours are well below 1 KiB.
  int64_t max_receive_message_bytes = 4096;
  // A call whose request has not arrived whole this long after its headers is answered
  // DEADLINE_EXCEEDED and its stream closed (a client's shorter deadline is kept).
  absl::Duration max_request_deadline = absl::Seconds(10);
};

struct ServerOptions {
  std::string listen = "0.0.0.0:50051";
  std::string metrics_listen = "0.0.0.0:9464";
  std::string token_key;
  std::string previous_token_key;
  absl::Duration token_ttl = absl::Hours(24);
  absl::Duration snapshot_interval = absl::Seconds(5);
  absl::Duration flush_interval = absl::Seconds(2);
  absl::Duration max_flush_backoff = absl::Seconds(30);
  int64_t max_pending_reports = 1'000'000;
  absl::Duration shutdown_timeout = absl::Seconds(30);
  SnapshotConfig snapshot;
  // Extra STUN urls for every answer (none: each TURN server's own STUN is offered with it).
  std::vector<std::string> stun_urls;
  absl::Duration turn_credential_ttl = absl::Minutes(10);
  // Client authentication: a JWKS file of the keys that sign clients' JWTs. Without one the server
  // refuses to start unless clients.allow_anonymous is set (development only).
  std::string auth_keys_file;
  std::string auth_audience = "connectivity-advisor";
  ClientPolicy clients;
  // TLS with tls.cert_file and tls.key_file; without them the server refuses to start unless
  // `insecure` (plaintext, behind a mesh that terminates TLS, or for local tests) is set.
  config::ServerTlsFiles tls;
  bool insecure = false;
  ConnectionLimits limits;
  // Used-token records are deleted in batches of this many once their tokens have expired.
  int64_t expired_token_batch = 10'000;
  absl::Duration expired_token_interval = absl::Seconds(10);
};

// What the snapshot reloader reads: the fleet's aggregates and the TURN registry with its health.
// Interfaces, so that the reload path runs against fakes in tests.
struct ReloadStores {
  ReloadStores(std::shared_ptr<store::OutcomeStore> outcomes_store,
               std::shared_ptr<store::TurnStore> turn_store)
      : outcomes(std::move(outcomes_store)), turn(std::move(turn_store)) {}
  // One object that is both, such as a PgStore.
  template <typename Store>
  requires std::derived_from<Store, store::OutcomeStore> &&
      std::derived_from<Store, store::TurnStore>
      ReloadStores(std::shared_ptr<Store> both)  // NOLINT(google-explicit-constructor)
      : outcomes(both), turn(std::move(both)) {}

  std::shared_ptr<store::OutcomeStore> outcomes;
  std::shared_ptr<store::TurnStore> turn;
};

class AdvisorServer {
 public:
  // `reload` feeds snapshots and `flush_store` takes batches; they may be the same object, but
  // separate connections keep a slow flush from delaying a reload.
  static absl::StatusOr<std::unique_ptr<AdvisorServer>> Start(
      const ServerOptions& options, ReloadStores reload,
      std::shared_ptr<store::OutcomeStore> flush_store);
  ~AdvisorServer();

  int port() const { return port_; }
  int metrics_port() const;
  int64_t held_reports() const { return buffer_.held_reports(); }

  // Refuses new reports, drains in-flight RPCs, stops the background tasks and writes every held
  // report, retrying until shutdown_timeout. An error says how many reports could not be written.
  absl::Status Shutdown();

 private:
  AdvisorServer(const ServerOptions& options, TokenSigner signer,
                std::unique_ptr<auth::JwtVerifier> verifier, ReloadStores reload,
                std::shared_ptr<store::OutcomeStore> flush_store);
  void ReloadLoop(std::stop_token stop);
  void FlushLoop(std::stop_token stop);
  void ReloadOnce();
  // Writes one batch; counts the duplicates the database found.
  absl::StatusOr<store::FlushResult> Flush();
  // Deletes the used-token records of tokens that expired before `now`, a few batches at most.
  void ForgetExpiredTokens(absl::Time now);
  // Sleeps for `duration` or until `stop` is requested; false when stopped.
  bool Sleep(std::stop_token stop, absl::Duration duration);

  const ServerOptions options_;
  const TokenSigner signer_;
  std::unique_ptr<auth::JwtVerifier> verifier_;
  const ReloadStores reload_;
  std::shared_ptr<store::OutcomeStore> flush_store_;
  telemetry::MetricsExposer exposer_;
  std::unique_ptr<AdvisorMetrics> metrics_;
  const ServiceOptions service_options_;
  const ResponseRenderer render_;
  SnapshotHolder snapshots_;
  OutcomeBuffer buffer_;
  std::unique_ptr<AdvisorService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool database_ok_ = true;        // reloader thread only: to log outage transitions once
  strategy::ArrivalLog arrivals_;  // reloader thread only: what earlier loads saw
  std::mutex sleep_mu_;
  std::condition_variable_any sleep_cv_;
  std::jthread reloader_;
  std::jthread flusher_;
  std::jthread reaper_;  // answers calls whose request did not arrive in time
  bool shut_down_ = false;
};

}  // namespace advisor

#endif  // ADVISOR_SERVICES_ADVISOR_SERVER_H_
