#include "services/advisor/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "lib/telemetry/logging.h"
#include "services/advisor/validation.h"

namespace advisor {
namespace {

int Millis(absl::Duration duration) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(duration), INT32_MAX));
}

void ApplyLimits(const ConnectionLimits& limits, grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(static_cast<int>(limits.max_receive_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(limits.max_concurrent_streams));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, Millis(limits.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, Millis(limits.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             Millis(limits.max_connection_age_grace));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             Millis(limits.keepalive_min_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  // Each TLS connection holds a frame buffer of this size (16 KiB by default); our messages are
  // far smaller, and under a flood of idle connections the buffers are most of the memory.
  builder.AddChannelArgument(GRPC_ARG_TSI_MAX_FRAME_SIZE, 4096);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             Millis(limits.handshake_timeout));
  grpc::ResourceQuota quota("advisor-server");
  quota.Resize(static_cast<size_t>(limits.resource_quota_memory));
  quota.SetMaxThreads(static_cast<int>(limits.max_threads));
  builder.SetResourceQuota(quota);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdvisorServer>> AdvisorServer::Start(
    const ServerOptions& options, ReloadStores reload,
    std::shared_ptr<store::OutcomeStore> flush_store) {
  auto signer =
      TokenSigner::Create(options.token_key, options.previous_token_key, options.token_ttl);
  if (!signer.ok()) return signer.status();
  std::unique_ptr<auth::JwtVerifier> verifier;
  if (!options.auth_keys_file.empty()) {
    auto created = auth::JwtVerifier::Create(
        {.keys_file = options.auth_keys_file, .audience = options.auth_audience});
    if (!created.ok()) return created.status();
    verifier = *std::move(created);
  } else if (!options.clients.allow_anonymous) {
    return absl::FailedPreconditionError(
        "no client keys: give --auth-keys-file (ADVISOR_AUTH_KEYS_FILE), a JWKS file of the keys "
        "that sign your clients' JWTs; for local development only, --allow-anonymous "
        "(ADVISOR_ALLOW_ANONYMOUS=true) serves callers without one, known by their address");
  }
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (!options.tls.cert_file.empty()) {
    auto tls = config::MakeServerCredentials(options.tls);
    if (!tls.ok()) return tls.status();
    credentials = *std::move(tls);
  } else if (absl::Status status = config::CheckServerTlsFiles(options.tls); !status.ok()) {
    return status;
  } else if (!options.insecure) {
    return absl::FailedPreconditionError(
        "no TLS certificate: give --tls-cert-file and --tls-key-file (ADVISOR_TLS_CERT_FILE, "
        "ADVISOR_TLS_KEY_FILE), PEM files of the server's certificate chain and key; to serve "
        "plaintext behind a proxy or mesh that terminates TLS, or for local tests, give "
        "--insecure (ADVISOR_INSECURE=true)");
  } else {
    spdlog::warn(
        "--insecure: serving plaintext gRPC; decision tokens and TURN credentials travel in "
        "clear text unless a proxy or mesh in front terminates TLS");
    credentials = grpc::InsecureServerCredentials();
  }
  if (options.clients.allow_anonymous) {
    spdlog::warn(
        "--allow-anonymous: callers without a JWT are served and known by their address; never "
        "expose this server to the internet like this");
  }
  std::unique_ptr<AdvisorServer> server(new AdvisorServer(
      options, *std::move(signer), std::move(verifier), std::move(reload), std::move(flush_store)));

  if (absl::Status status = server->exposer_.Start(options.metrics_listen); !status.ok()) {
    return status;
  }
  std::vector<std::string> turn_ids;
  for (const auto& turn : options.snapshot.turn_servers) turn_ids.push_back(turn.id);
  server->metrics_ = std::make_unique<AdvisorMetrics>(*server->exposer_.registry(), turn_ids);
  server->service_ = std::make_unique<AdvisorService>(server->service_options_, server->snapshots_,
                                                      server->signer_, server->buffer_,
                                                      *server->metrics_, server->verifier_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  ApplyLimits(options.limits, builder);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(server->metrics_->grpc().MakeInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  server->server_->GetHealthCheckService()->SetServingStatus(true);

  // The first load happens before the loop so that a reachable database is used from the start.
  server->ReloadOnce();
  server->reloader_ =
      std::jthread([s = server.get()](std::stop_token stop) { s->ReloadLoop(stop); });
  server->flusher_ = std::jthread([s = server.get()](std::stop_token stop) { s->FlushLoop(stop); });
  // A tenth of the cap between sweeps: a stalled call is answered within 110 % of it.
  const absl::Duration sweep = std::clamp(options.limits.max_request_deadline / 10,
                                          absl::Milliseconds(10), absl::Seconds(1));
  server->reaper_ = std::jthread([s = server.get(), sweep](std::stop_token stop) {
    while (s->Sleep(stop, sweep)) {
      s->service_->ExpireStalledRequests(RequestDeadlines::Clock::now());
    }
  });
  spdlog::info("advisor-server listening on {} (port {}), metrics on {} (port {})", options.listen,
               server->port_, options.metrics_listen, server->metrics_port());
  return server;
}

AdvisorServer::AdvisorServer(const ServerOptions& options, TokenSigner signer,
                             std::unique_ptr<auth::JwtVerifier> verifier, ReloadStores reload,
                             std::shared_ptr<store::OutcomeStore> flush_store)
    : options_(options),
      signer_(std::move(signer)),
      verifier_(std::move(verifier)),
      reload_(std::move(reload)),
      flush_store_(std::move(flush_store)),
      service_options_{.engine = options.snapshot.engine,
                       .bucket_width = options.snapshot.bucket_width,
                       .stun_urls = options.stun_urls,
                       .turn_servers = options_.snapshot.turn_servers,
                       .turn_credential_ttl = options.turn_credential_ttl,
                       .max_request_deadline = options.limits.max_request_deadline,
                       .clients = options.clients},
      render_(RenderGetStrategyResponse),
      snapshots_(ColdStartSnapshot(options_.snapshot, render_, absl::Now())),
      buffer_(options.max_pending_reports),
      arrivals_(options.snapshot.bucket_width) {}

AdvisorServer::~AdvisorServer() {
  if (!shut_down_) Shutdown().IgnoreError();
}

int AdvisorServer::metrics_port() const { return exposer_.port(); }

bool AdvisorServer::Sleep(std::stop_token stop, absl::Duration duration) {
  std::unique_lock lock(sleep_mu_);
  sleep_cv_.wait_for(lock, stop, absl::ToChronoMilliseconds(duration), [] { return false; });
  return !stop.stop_requested();
}

void AdvisorServer::ReloadOnce() {
  const absl::Time now = absl::Now();
  auto snapshot =
      LoadSnapshot(*reload_.outcomes, *reload_.turn, now, options_.snapshot, render_, arrivals_);
  metrics_->RecordSnapshotLoad(snapshot.ok());
  if (snapshot.ok()) {
    snapshots_.Set(*std::move(snapshot));
    if (!database_ok_) spdlog::info("PostgreSQL is reachable again: snapshot reloaded");
    database_ok_ = true;
  } else if (database_ok_) {
    database_ok_ = false;
    spdlog::warn(
        "cannot load a snapshot from PostgreSQL ({}): answering from the last good snapshot "
        "until it is back",
        snapshot.status().ToString());
  }
  const absl::Time loaded_at = snapshots_.Get()->loaded_at;
  metrics_->SetSnapshotAge(
      loaded_at == absl::InfinitePast() ? 0 : absl::ToDoubleSeconds(absl::Now() - loaded_at));
}

void AdvisorServer::ReloadLoop(std::stop_token stop) {
  while (Sleep(stop, options_.snapshot_interval)) ReloadOnce();
}

absl::StatusOr<store::FlushResult> AdvisorServer::Flush() {
  absl::StatusOr<store::FlushResult> result = FlushOnce(buffer_, *flush_store_);
  if (result.ok() && result->duplicates > 0) metrics_->RecordDuplicates(result->duplicates);
  return result;
}

void AdvisorServer::ForgetExpiredTokens(absl::Time now) {
  // A margin beyond the tokens' own expiry (which allows for one replica's clock skew already):
  // a replica whose clock runs fast must not delete a record another one still needs.
  constexpr absl::Duration kMargin = absl::Minutes(5);
  constexpr int kMaxBatches = 10;
  for (int i = 0; i < kMaxBatches; ++i) {
    absl::StatusOr<int64_t> forgotten =
        flush_store_->ForgetExpiredTokens(now - kMargin, options_.expired_token_batch);
    if (!forgotten.ok()) {
      spdlog::warn("cannot delete expired used-token records: {}", forgotten.status().ToString());
      return;
    }
    if (*forgotten < options_.expired_token_batch) return;
  }
}

void AdvisorServer::FlushLoop(std::stop_token stop) {
  absl::Duration wait = options_.flush_interval;
  bool failing = false;
  absl::Time next_expiry = absl::Now();
  while (Sleep(stop, wait)) {
    const absl::StatusOr<store::FlushResult> written = Flush();
    metrics_->SetHeld(buffer_.held_reports(), buffer_.pending_deltas());
    if (written.ok()) {
      if (written->rows > 0 || written->duplicates > 0) metrics_->RecordFlush(true);
      if (failing) spdlog::info("outcome flush succeeded again");
      failing = false;
      wait = options_.flush_interval;
      // Used-token records go once no replica can accept their token any more. Every replica
      // deletes in bounded batches, and keeps at it while whole batches come back, so deletion
      // keeps pace with the reports coming in.
      if (const absl::Time now = absl::Now(); now >= next_expiry) {
        next_expiry = now + options_.expired_token_interval;
        ForgetExpiredTokens(now);
      }
      continue;
    }
    metrics_->RecordFlush(false);
    if (!failing) {
      spdlog::warn("outcome flush failed ({}); {} reports held, retrying with backoff",
                   written.status().ToString(), buffer_.held_reports());
    }
    failing = true;
    wait = std::min(wait * 2, options_.max_flush_backoff);
  }
}

absl::Status AdvisorServer::Shutdown() {
  if (shut_down_) return absl::OkStatus();
  shut_down_ = true;
  const absl::Time deadline = absl::Now() + options_.shutdown_timeout;
  service_->StopAcceptingReports();
  server_->GetHealthCheckService()->SetServingStatus(false);
  // In-flight calls get a moment to finish; the rest are cancelled.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  reaper_.request_stop();
  reaper_.join();
  reloader_.request_stop();
  flusher_.request_stop();
  reloader_.join();
  flusher_.join();

  // Only this thread flushes from here on, so the in-flight batch cannot be committed twice.
  absl::Duration wait = absl::Milliseconds(100);
  absl::Status status = absl::OkStatus();
  while (buffer_.held_reports() > 0) {
    status = Flush().status();
    if (status.ok()) continue;
    if (absl::Now() + wait > deadline) break;
    absl::SleepFor(wait);
    wait = std::min(wait * 2, absl::Seconds(2));
  }
  const int64_t lost = buffer_.held_reports();
  server_->Wait();
  if (lost > 0) {
    spdlog::error("shutting down with {} acknowledged reports not written: {}", lost,
                  status.ToString());
    return absl::UnavailableError(
        absl::StrCat(lost, " acknowledged reports could not be written: ", status.message()));
  }
  spdlog::info("advisor-server stopped; every acknowledged report is written");
  return absl::OkStatus();
}

}  // namespace advisor
