#include "services/advisor/service.h"

#include <grpc/slice.h>
#include <spdlog/spdlog.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

#include <algorithm>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/turn/credentials.h"
#include "services/advisor/validation.h"

namespace advisor {
namespace {

namespace v1 = connectivity::advisor::v1;

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

Answer Refuse(RefusalReason reason, const absl::Status& status) { return {ToGrpc(status), reason}; }

// The host part of a gRPC peer string: "ipv4:10.0.0.7:51234" → "10.0.0.7", "ipv6:[::1]:5" →
// "[::1]". Ports change with every connection, so they would make every reconnect a new client.
std::string_view PeerHost(std::string_view peer) {
  const size_t scheme = peer.find(':');
  if (scheme == std::string_view::npos) return peer;
  std::string_view rest = peer.substr(scheme + 1);
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    return close == std::string_view::npos ? rest : rest.substr(0, close + 1);
  }
  const size_t port = rest.rfind(':');
  return port == std::string_view::npos ? rest : rest.substr(0, port);
}

// Why a reported type was not used as reported, for the answer's reasons.
void NoteLowConfidence(std::string_view side, const v1::NatReport& report,
                       strategy::NatType effective, const strategy::EngineConfig& engine,
                       v1::GetStrategyResponse& extra) {
  const auto reported = static_cast<strategy::NatType>(report.nat_type());
  if (reported != strategy::NatType::kUnknown && effective == strategy::NatType::kUnknown) {
    extra.add_reasons(absl::StrFormat(
        "%s peer reported %s with confidence %.2f (below %.2f): treated as unknown", side,
        strategy::NatTypeName(reported), report.confidence(), engine.min_confidence));
  }
}

// A uniform draw in [0, 1) from a per-thread splitmix64 generator: choosing an exploration answer
// needs no more than a fair coin, and a shared or locked generator would cost more than the rest of
// the answer.
double UniformDraw() {
  thread_local uint64_t state = [] {
    std::random_device device;
    return (uint64_t{device()} << 32) ^ device();
  }();
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

// Appends a length-delimited protobuf field (wire type 2) holding `value`.
void AppendBytesField(std::string& out, int field, const std::string& value) {
  auto varint = [&out](uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  };
  varint(static_cast<uint64_t>(field) << 3 | 2);
  varint(value.size());
  out.append(value);
}

// Everything of an IceConfig but its servers. Browsers refuse to change the pool size and the
// bundle and RTCP policies of a connection, so every configuration of one answer has the same.
void SetIceSettings(std::string_view policy, uint32_t pool_size, v1::IceConfig& ice) {
  ice.set_ice_transport_policy(std::string(policy));
  ice.set_ice_candidate_pool_size(pool_size);
  ice.set_bundle_policy("max-bundle");
  ice.set_rtcp_mux_policy("require");
}

// A whole answer message as a raw method's response.
grpc::ByteBuffer Serialized(const google::protobuf::Message& message) {
  grpc::Slice slice(message.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

OutcomePath PathOf(const strategy::Outcome& outcome) {
  for (const strategy::Attempt& attempt : outcome.attempts) {
    if (attempt.result == strategy::AttemptResult::kSucceeded) {
      return attempt.path == strategy::Path::kDirect ? OutcomePath::kDirect : OutcomePath::kRelay;
    }
  }
  return outcome.connected ? OutcomePath::kDirect : OutcomePath::kNone;
}

}  // namespace

AdvisorService::AdvisorService(ServiceOptions options, const SnapshotHolder& snapshots,
                               const TokenSigner& signer, OutcomeBuffer& buffer,
                               AdvisorMetrics& metrics, auth::JwtVerifier* verifier, Clock clock)
    : options_(std::move(options)),
      snapshots_(snapshots),
      signer_(signer),
      buffer_(buffer),
      metrics_(metrics),
      verifier_(verifier),
      clock_(std::move(clock)),
      rate_limiter_(options_.clients.rate_limit, options_.clients.rate_limit_burst),
      auth_failures_(options_.clients.auth_failure_limit, 5 * options_.clients.auth_failure_limit),
      reporter_cap_(options_.clients.max_reports_per_identity),
      deadlines_(options_.max_request_deadline) {
  // The names the generated stubs call; grpc::Server takes the service's name from them.
  static constexpr const char* kMethodNames[kMethodCount] = {
      "/connectivity.advisor.v1.ConnectivityAdvisor/GetStrategy",
      "/connectivity.advisor.v1.ConnectivityAdvisor/ReportOutcome",
      "/connectivity.advisor.v1.ConnectivityAdvisor/ListTurnServers"};
  for (int i = 0; i < kMethodCount; ++i) {
    const auto method = static_cast<Method>(i);
    AddMethod(new grpc::internal::RpcServiceMethod(
        kMethodNames[i], grpc::internal::RpcMethod::BIDI_STREAMING, nullptr));
    MarkMethodRawCallback(
        i, new grpc::internal::CallbackBidiHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
               [this, method](grpc::CallbackServerContext* context) {
                 return NewCall(method, context);
               }));
  }
  v1::IceServer operator_stun;
  for (const std::string& url : options_.stun_urls) operator_stun.add_urls(url);
  stun_entries_.push_back(operator_stun.urls().empty() ? "" : operator_stun.SerializeAsString());
  for (const config::TurnServerConfig& config : options_.turn_servers) {
    for (bool tcp_only : {false, true}) {
      v1::IceServer ice;
      for (const turn::TurnUrl& url : config.parsed_urls) {
        if (!tcp_only || url.transport != turn::Transport::kUdp) ice.add_urls(url.text);
      }
      turn_urls_.push_back(ice.SerializeAsString());
    }
    // A TURN server answers STUN binding requests on its plain UDP ports: its own STUN entry, so
    // that no third party learns the client's address and no unreachable server stalls gathering.
    v1::IceServer stun = operator_stun;
    for (const turn::TurnUrl& url : config.parsed_urls) {
      if (url.secure || url.transport != turn::Transport::kUdp) continue;
      const bool v6 = absl::StrContains(url.host, ':');
      std::string own =
          absl::StrCat("stun:", v6 ? "[" : "", url.host, v6 ? "]" : "", ":", url.port);
      if (std::find(stun.urls().begin(), stun.urls().end(), own) == stun.urls().end()) {
        stun.add_urls(std::move(own));
      }
    }
    stun_entries_.push_back(stun.urls().empty() ? "" : stun.SerializeAsString());
  }
}

absl::StatusOr<Caller> AdvisorService::Authenticate(std::optional<std::string_view> authorization,
                                                    absl::FunctionRef<std::string()> peer,
                                                    absl::Time now) {
  if (!authorization.has_value()) {
    if (options_.clients.allow_anonymous) {
      const std::string from = peer();
      const std::string_view host = PeerHost(from);
      return Caller{.identity = absl::StrCat("addr:", absl::string_view(host.data(), host.size()))};
    }
    return absl::UnauthenticatedError(
        "authorization: missing; send the metadata 'authorization: Bearer <JWT>' with a JWT "
        "from the app's backend");
  }
  absl::string_view value(authorization->data(), authorization->size());
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
    return absl::UnauthenticatedError("authorization: must be 'Bearer <JWT>'");
  }
  value = absl::StripLeadingAsciiWhitespace(value.substr(kScheme.size()));
  if (verifier_ == nullptr) {
    return absl::UnauthenticatedError(
        "authorization: this server has no JWT keys configured and cannot verify the token");
  }
  const std::string_view jwt(value.data(), value.size());
  // A token verified before costs a lookup; any other may cost a signature check, which an
  // address that keeps sending bad ones no longer gets.
  std::string host;
  if (options_.clients.auth_failure_limit > 0 && !verifier_->Remembers(jwt)) {
    const std::string from = peer();
    host = std::string(PeerHost(from));
    if (auth_failures_.Exhausted(host, now)) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "authorization: too many JWTs that failed verification from this address (more than "
          "%g/s); retry later with a valid one",
          options_.clients.auth_failure_limit));
    }
  }
  absl::StatusOr<auth::Principal> principal = verifier_->Verify(jwt, now);
  if (!principal.ok()) {
    if (!host.empty()) auth_failures_.Acquire(host, now);
    return principal.status();
  }
  return Caller{.identity = absl::StrCat("sub:", principal->subject),
                .authenticated = true,
                .admin = principal->admin};
}

absl::StatusOr<std::string> AdvisorService::TurnIceServer(int server, bool tcp_only,
                                                          const Caller& caller, absl::Time now) {
  const config::TurnServerConfig& config = options_.turn_servers[server];
  std::string ice = turn_urls_[server * 2 + (tcp_only ? 1 : 0)];
  if (!config.auth.rest_secret.empty()) {
    // TURN REST API credentials (what coturn's use-auth-secret checks), the user an opaque id of
    // the client, so that coturn's logs and quotas can tell clients apart.
    absl::StatusOr<std::string> user = signer_.OpaqueId(caller.identity);
    if (!user.ok()) return user.status();
    auto credentials = turn::MakeRestCredentials(config.auth.rest_secret, *user, now,
                                                 options_.turn_credential_ttl);
    if (!credentials.ok()) return credentials.status();
    AppendBytesField(ice, v1::IceServer::kUsernameFieldNumber, credentials->username);
    AppendBytesField(ice, v1::IceServer::kCredentialFieldNumber, credentials->password);
  } else {
    AppendBytesField(ice, v1::IceServer::kUsernameFieldNumber, config.auth.username);
    AppendBytesField(ice, v1::IceServer::kCredentialFieldNumber, config.auth.password);
  }
  return ice;
}

std::string RenderGetStrategyResponse(const strategy::Decision& decision) {
  v1::GetStrategyResponse response;
  response.set_strategy(static_cast<v1::Strategy>(decision.strategy));
  response.set_direct_timeout_ms(decision.direct_timeout_ms);
  response.set_preferred_turn_transport(
      static_cast<v1::TurnTransport>(decision.preferred_transport));
  response.set_expected_success_rate(decision.expected_success_rate);
  response.set_expected_connect_time_ms(decision.expected_connect_time_ms);
  response.set_history_samples(decision.history_samples);

  SetIceSettings(decision.relay_only ? "relay" : "all", decision.ice_candidate_pool_size,
                 *response.mutable_ice_config());

  for (const std::string& reason : decision.reasons) response.add_reasons(reason);
  return response.SerializeAsString();
}

absl::StatusOr<grpc::ByteBuffer> AdvisorService::HandleGetStrategy(
    const v1::GetStrategyRequest& request, const Caller& caller) {
  auto query = ParseGetStrategyRequest(request);
  if (!query.ok()) return query.status();
  const strategy::NatType local =
      strategy::EffectiveType(query->local, query->local_confidence, options_.engine);
  const strategy::NatType remote =
      strategy::EffectiveType(query->remote, query->remote_confidence, options_.engine);
  metrics_.RecordNatType(local);
  metrics_.RecordNatType(remote);

  const Snapshot& snapshot = snapshots_.Current();
  const strategy::NatPair pair = strategy::NatPair::Of(local, remote);
  const strategy::Advice& advice = snapshot.advice_for(pair);
  // The token below records what this answer says, so the report lands in the aggregate of the
  // strategy and timeout actually tried, exploration or not.
  const bool explore = advice.exploration.has_value() && advice.exploration_probability > 0 &&
                       UniformDraw() < advice.exploration_probability;
  const strategy::Decision& decision = explore ? *advice.exploration : advice.decision;
  const grpc::Slice& rendered =
      explore ? snapshot.exploration_responses[pair.Index()] : snapshot.responses[pair.Index()];
  metrics_.RecordDecision(pair, decision.strategy);

  const absl::Time now = clock_();
  const bool tcp_only = decision.preferred_transport != strategy::Transport::kUdp;
  const TurnChoice& choice = snapshot.turn.For(query->region, tcp_only);
  // TURN credentials cost relay capacity: only callers the app's backend vouched for get them.
  const int turn = caller.authenticated ? choice.server : -1;
  metrics_.RecordTurnOffer(turn);

  // Rare per-request fields go through protobuf; the token, in every answer, is encoded by hand.
  v1::GetStrategyResponse extra;
  if (choice.server >= 0 && turn < 0) {
    extra.add_reasons(
        "no TURN server offered: TURN credentials are issued to authenticated clients only "
        "(this call carried no JWT)");
  }
  if (turn < 0 && decision.relay_only) {
    // Relay-only ICE without a relay cannot connect at all; direct candidates are the only chance.
    extra.mutable_ice_config()->set_ice_transport_policy("all");
    extra.add_reasons(
        "relay-only ICE needs a TURN server and none is usable: the policy is 'all' "
        "so that direct candidates still get their chance");
  } else if (turn >= 0 && !decision.relay_only) {
    extra.add_reasons(absl::StrFormat(
        "ice_config holds no TURN server, so ICE cannot relay before the direct timeout: if not "
        "connected after %d ms, apply fallback_ice_config (setConfiguration, then restartIce())",
        decision.direct_timeout_ms));
  }
  NoteLowConfidence("local", request.local(), local, options_.engine, extra);
  NoteLowConfidence("remote", request.remote(), remote, options_.engine, extra);
  const absl::StatusOr<std::string> token =
      signer_.Sign({.id = NewTokenId(),
                    .pair = pair,
                    .strategy = decision.strategy,
                    .direct_timeout_ms = decision.direct_timeout_ms,
                    .turn_server_id = turn < 0 ? "" : options_.turn_servers[turn].id,
                    .issued_at = now},
                   caller.identity);
  if (!token.ok()) return token.status();
  std::string tail;
  tail.reserve(extra.ByteSizeLong() + token->size() + 8);
  extra.AppendToString(&tail);
  AppendBytesField(tail, v1::GetStrategyResponse::kDecisionTokenFieldNumber, *token);
  // The servers of the answer's configurations: relay-only ICE gets the TURN server alone (STUN
  // would only add candidates it must discard); otherwise the start has STUN only and the fallback
  // adds TURN.
  const std::string& stun = stun_entries_[choice.server + 1];
  std::string ice;
  absl::StatusOr<std::string> turn_server;
  if (turn >= 0) {
    turn_server = TurnIceServer(turn, tcp_only, caller, now);
    if (!turn_server.ok()) return turn_server.status();
  }
  if (turn >= 0 && decision.relay_only) {
    AppendBytesField(ice, v1::IceConfig::kIceServersFieldNumber, *turn_server);
  } else if (!stun.empty()) {
    AppendBytesField(ice, v1::IceConfig::kIceServersFieldNumber, stun);
  }
  if (!ice.empty()) AppendBytesField(tail, v1::GetStrategyResponse::kIceConfigFieldNumber, ice);
  if (turn >= 0 && !decision.relay_only) {
    v1::IceConfig settings;
    SetIceSettings("all", decision.ice_candidate_pool_size, settings);
    std::string fallback = settings.SerializeAsString();
    if (!stun.empty()) AppendBytesField(fallback, v1::IceConfig::kIceServersFieldNumber, stun);
    AppendBytesField(fallback, v1::IceConfig::kIceServersFieldNumber, *turn_server);
    AppendBytesField(tail, v1::GetStrategyResponse::kFallbackIceConfigFieldNumber, fallback);
  }
  if (turn >= 0) metrics_.RecordTurnCredentialsIssued();
  // Protobuf merges concatenated messages: repeated fields append, so the servers join ice_config's
  // settings and the reasons follow the decision's own. One contiguous slice keeps the transport's
  // work per answer to a single buffer.
  // The choice's own reason says which server was offered, or why none could be.
  const bool choice_applies = turn >= 0 || choice.server < 0;
  const grpc::Slice* parts[] = {&rendered, choice_applies ? &choice.reason : nullptr};
  size_t size = tail.size();
  for (const grpc::Slice* part : parts) size += part == nullptr ? 0 : part->size();
  grpc_slice out = grpc_slice_malloc(size);
  uint8_t* at = GRPC_SLICE_START_PTR(out);
  for (const grpc::Slice* part : parts) {
    if (part != nullptr && part->size() > 0) at = std::copy(part->begin(), part->end(), at);
  }
  std::copy(tail.begin(), tail.end(), at);
  grpc::Slice slice(out, grpc::Slice::STEAL_REF);
  return grpc::ByteBuffer(&slice, 1);
}

Answer AdvisorService::HandleReportOutcome(const v1::ReportOutcomeRequest& request,
                                           const Caller& caller) {
  if (!accepting_reports_.load(std::memory_order_relaxed)) {
    return Refuse(
        RefusalReason::kUnavailable,
        absl::UnavailableError("server is shutting down: send the report to another replica"));
  }
  auto outcome = ParseReportOutcomeRequest(request);
  if (!outcome.ok()) return Refuse(RefusalReason::kInvalidArgument, outcome.status());
  const absl::Time now = clock_();
  auto claims = signer_.Verify(request.decision_token(), caller.identity, now);
  if (!claims.ok()) {
    if (claims.status().code() == absl::StatusCode::kPermissionDenied) {
      return Refuse(RefusalReason::kPermissionDenied, claims.status());
    }
    if (claims.status().code() == absl::StatusCode::kInternal) {
      return Refuse(RefusalReason::kInternal, claims.status());
    }
    metrics_.RecordTokenRejected();
    return Refuse(RefusalReason::kTokenInvalid, claims.status());
  }
  if (absl::Status plausible = CheckAgainstAnswer(request, *claims); !plausible.ok()) {
    return Refuse(RefusalReason::kImplausible, plausible);
  }
  // Exact, not whole seconds: ageing takes the same width as a Duration.
  const absl::Time bucket =
      absl::UnixEpoch() + absl::Floor(now - absl::UnixEpoch(), options_.bucket_width);
  // A repeat still held here needs nothing more; any other report consumes its token (so a capped
  // report can never count later either), and counts only within its reporter's share of the pair.
  if (buffer_.Holds(claims->id)) {
    metrics_.RecordDuplicates(1);
    return Answer::Ok();
  }
  const bool count = options_.clients.max_reports_per_identity <= 0 ||
                     reporter_cap_.Admit(caller.identity, claims->pair.Index(), bucket);
  // Read before the outcome moves into the buffer, for the metrics of a counted report.
  const OutcomePath path = PathOf(*outcome);
  const bool connected = outcome->connected;
  const uint32_t time_to_connect_ms = outcome->time_to_connect_ms;
  switch (buffer_.Add({.token_id = claims->id,
                       .token_expires = signer_.ExpiresAt(*claims),
                       .pair = claims->pair,
                       .strategy = claims->strategy,
                       .bucket_start = bucket,
                       .outcome = *std::move(outcome),
                       .count = count})) {
    case AddResult::kHeld:
      if (count) {
        metrics_.RecordOutcome(claims->strategy, path, connected, time_to_connect_ms);
      } else {
        metrics_.RecordCapped();
      }
      return Answer::Ok();
    case AddResult::kDuplicate:
      metrics_.RecordDuplicates(1);
      return Answer::Ok();
    case AddResult::kFull:
      break;
  }
  metrics_.RecordReportRefused();
  return Refuse(RefusalReason::kOverloaded,
                absl::ResourceExhaustedError(
                    "too many reports waiting for the database: not recorded, retry later"));
}

Answer AdvisorService::HandleListTurnServers(const v1::ListTurnServersRequest& request,
                                             const Caller& caller,
                                             v1::ListTurnServersResponse& response) {
  if (!caller.admin) {
    return Refuse(RefusalReason::kPermissionDenied,
                  absl::PermissionDeniedError(
                      "ListTurnServers is for operators: it needs a JWT with the scope "
                      "advisor.admin"));
  }
  if (request.region().size() > kMaxRegionBytes) {
    return Refuse(RefusalReason::kInvalidArgument,
                  absl::InvalidArgumentError(
                      absl::StrCat("region: longer than ", kMaxRegionBytes, " bytes")));
  }
  const std::shared_ptr<const Snapshot> snapshot = snapshots_.Get();
  for (const store::TurnServerRow& row : snapshot->turn.registry) {
    if (!request.region().empty() && row.region != request.region()) continue;
    v1::TurnServer& server = *response.add_servers();
    server.set_id(row.id);
    for (const std::string& url : row.urls) server.add_urls(url);
    server.set_region(row.region);
    server.set_enabled(row.enabled);
    for (const store::TurnHealthRow& health : snapshot->turn.health) {
      if (health.server_id != row.id) continue;
      v1::TurnServerHealth& out = *server.add_health();
      const turn::HealthState& state = health.health;
      out.set_prober_region(health.prober_region);
      out.set_status(std::string(turn::HealthStatusName(state.status)));
      out.set_last_latency_ms(state.last_latency_ms);
      out.set_smoothed_latency_ms(state.smoothed_latency_ms);
      out.set_consecutive_failures(state.consecutive_failures);
      out.set_last_error(state.last_error);
      out.set_success_rate(state.success_rate);
      if (state.last_check != absl::InfinitePast()) {
        out.set_last_check_unix_ms(absl::ToUnixMillis(state.last_check));
      }
      if (state.unhealthy_until != absl::InfinitePast()) {
        out.set_unhealthy_until_unix_ms(absl::ToUnixMillis(state.unhealthy_until));
      }
    }
  }
  return Answer::Ok();
}

void AdvisorService::LogRefusal(Method method, const Answer& answer,
                                absl::FunctionRef<std::string()> who, absl::Time now) {
  metrics_.RecordRefusal(method, answer.reason);
  int64_t suppressed = 0;
  if (!refusal_log_.Allow(now, suppressed)) return;
  spdlog::info("refused {} from {}: {} ({}){}", MethodName(method), who(),
               RefusalReasonName(answer.reason), answer.status.error_message(),
               suppressed > 0 ? absl::StrCat(" [", suppressed, " earlier refusals not logged]")
                              : std::string());
}

std::string AdvisorService::ClientName(const Caller& caller,
                                       grpc::CallbackServerContext& context) const {
  // Logs name clients by the opaque id TURN usernames carry, never by their raw subject.
  return absl::StrCat("client ", signer_.OpaqueId(caller.identity).value_or("(unnamed)"), " at ",
                      context.peer());
}

std::optional<Caller> AdvisorService::Admit(Method method, grpc::CallbackServerContext* context,
                                            absl::Time now, grpc::Status& refusal) {
  std::optional<std::string_view> authorization;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization.emplace(it->second.data(), it->second.size());
  }
  // gRPC builds the peer string anew on every call: only some callers and log lines need it.
  auto peer = [context] { return context->peer(); };
  absl::StatusOr<Caller> caller = Authenticate(authorization, peer, now);
  if (!caller.ok()) {
    const Answer answer = Refuse(caller.status().code() == absl::StatusCode::kResourceExhausted
                                     ? RefusalReason::kRateLimited
                                     : RefusalReason::kUnauthenticated,
                                 caller.status());
    LogRefusal(method, answer, peer, now);
    refusal = answer.status;
    return std::nullopt;
  }
  if (options_.clients.rate_limit > 0) {
    if (std::optional<absl::Duration> wait = rate_limiter_.Acquire(caller->identity, now)) {
      const int64_t wait_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(*wait) + 1);
      // gRPC clients with a retry policy honour this trailer as the time to wait.
      context->AddTrailingMetadata("grpc-retry-pushback-ms", absl::StrCat(wait_ms));
      const Answer answer =
          Refuse(RefusalReason::kRateLimited,
                 absl::ResourceExhaustedError(absl::StrFormat(
                     "rate limit: at most %g requests/s per client (bursts of %g); retry in "
                     "%d ms",
                     options_.clients.rate_limit, options_.clients.rate_limit_burst, wait_ms)));
      LogRefusal(
          method, answer, [&] { return ClientName(*caller, *context); }, now);
      refusal = answer.status;
      return std::nullopt;
    }
  }
  return *std::move(caller);
}

namespace {

template <typename Request>
absl::StatusOr<Request> Parse(const grpc::ByteBuffer& bytes) {
  grpc::Slice slice;
  Request parsed;
  if (!bytes.DumpToSingleSlice(&slice).ok() ||
      !parsed.ParseFromArray(slice.begin(), static_cast<int>(slice.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("request: not a valid ", Request::descriptor()->name(), " message"));
  }
  return parsed;
}

}  // namespace

Answer AdvisorService::Respond(Method method, const grpc::ByteBuffer& request, const Caller& caller,
                               grpc::ByteBuffer& response) {
  switch (method) {
    case Method::kGetStrategy: {
      auto parsed = Parse<v1::GetStrategyRequest>(request);
      if (!parsed.ok()) return Refuse(RefusalReason::kMalformed, parsed.status());
      absl::StatusOr<grpc::ByteBuffer> answer = HandleGetStrategy(*parsed, caller);
      if (!answer.ok()) {
        return Refuse(answer.status().code() == absl::StatusCode::kInternal
                          ? RefusalReason::kInternal
                          : RefusalReason::kInvalidArgument,
                      answer.status());
      }
      response = *std::move(answer);
      return Answer::Ok();
    }
    case Method::kReportOutcome: {
      auto parsed = Parse<v1::ReportOutcomeRequest>(request);
      if (!parsed.ok()) return Refuse(RefusalReason::kMalformed, parsed.status());
      Answer answer = HandleReportOutcome(*parsed, caller);
      if (answer.status.ok()) response = Serialized(v1::ReportOutcomeResponse());
      return answer;
    }
    case Method::kListTurnServers: {
      auto parsed = Parse<v1::ListTurnServersRequest>(request);
      if (!parsed.ok()) return Refuse(RefusalReason::kMalformed, parsed.status());
      v1::ListTurnServersResponse list;
      Answer answer = HandleListTurnServers(*parsed, caller, list);
      if (answer.status.ok()) response = Serialized(list);
      return answer;
    }
  }
  return Refuse(RefusalReason::kMalformed, absl::UnimplementedError("no such method"));
}

// One call, from its headers to its answer: admitted at once, then waiting (at most the request
// deadline cap) for its one request message, then answered.
class AdvisorService::Call final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
      public RequestDeadlines::Waiter {
 public:
  Call(AdvisorService& service, Method method, grpc::CallbackServerContext* context)
      : service_(service),
        method_(method),
        context_(context),
        start_(RequestDeadlines::Clock::now()) {
    service.metrics_.RecordCallStarted(method);
    // A stream the client reset before it surfaced is no refusal: not logged, not counted.
    if (context->IsCancelled()) {
      End(grpc::Status::CANCELLED);
      return;
    }
    grpc::Status refusal;
    std::optional<Caller> caller = service.Admit(method, context, service.clock_(), refusal);
    if (!caller.has_value()) {
      End(refusal);
      return;
    }
    caller_ = *std::move(caller);
    service.deadlines_.Add(*this, start_);
    Handoff();
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    Handoff();
    // Expired: the reaper has answered, or is answering, this call.
    if (!service_.deadlines_.Remove(*this)) return;
    if (!ok) {
      // The client half-closed without a message, or the call was cancelled (then the status is
      // not sent at all).
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "request: the stream ended without a request message"));
      return;
    }
    const Answer answer = service_.Respond(method_, request_, caller_, response_);
    if (!answer.status.ok()) {
      service_.LogRefusal(
          method_, answer, [&] { return service_.ClientName(caller_, *context_); },
          service_.clock_());
      End(answer.status);
      return;
    }
    End(grpc::Status::OK);
  }

  void Expired() override {
    Handoff();
    const Answer answer{
        grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                     absl::StrCat("request: not received whole within ",
                                  absl::FormatDuration(service_.deadlines_.limit()),
                                  " of the call's start (the server's request deadline cap)")),
        RefusalReason::kDeadlineExceeded};
    service_.LogRefusal(
        method_, answer, [&] { return service_.ClientName(caller_, *context_); },
        service_.clock_());
    End(answer.status);
  }

  void OnDone() override {
    Handoff();
    delete this;
  }

 private:
  // Records the call as handled (before its status goes out, so that a client holding its answer
  // finds it counted), then sends `status`, after the response when OK.
  void End(grpc::Status status) {
    Handoff();
    service_.metrics_.RecordCallHandled(
        method_, status.error_code(),
        std::chrono::duration<double>(RequestDeadlines::Clock::now() - start_).count());
    if (status.ok()) {
      StartWriteAndFinish(&response_, grpc::WriteOptions(), std::move(status));
    } else {
      Finish(std::move(status));
    }
  }

  AdvisorService& service_;
  const Method method_;
  // gRPC runs a call's reactions one after another, on whichever of its threads completes an op,
  // and orders them inside libgrpc, out of ThreadSanitizer's sight (Debian's libgrpc is not
  // instrumented). In TSan builds each reaction states that order: it acquires what the previous
  // one released, and releases what it wrote so far.
  void Handoff() {
#if defined(__SANITIZE_THREAD__)
    __tsan_acquire(this);
    __tsan_release(this);
#endif
  }

  grpc::CallbackServerContext* const context_;
  const RequestDeadlines::Clock::time_point start_;
  Caller caller_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* AdvisorService::NewCall(
    Method method, grpc::CallbackServerContext* context) {
  return new Call(*this, method, context);
}

}  // namespace advisor
