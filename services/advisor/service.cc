#include "services/advisor/service.h"

#include <grpc/slice.h>

#include <algorithm>
#include <random>

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

template <typename Handler>
grpc::ServerUnaryReactor* Respond(grpc::CallbackServerContext* context, Handler&& handler) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(handler());
  return reactor;
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
                               AdvisorMetrics& metrics, Clock clock)
    : options_(std::move(options)),
      snapshots_(snapshots),
      signer_(signer),
      buffer_(buffer),
      metrics_(metrics),
      clock_(std::move(clock)),
      ice_server_cache_(options_.turn_servers.size() * 2) {}

grpc::Slice AdvisorService::TurnIceServer(int server, bool tcp_only, absl::Time now) {
  // Credentials expire on a 10 s grid, so one signature serves every answer of those 10 s and each
  // is still valid for at least the configured TTL.
  constexpr int64_t kGrid = 10;
  const int64_t expires =
      (absl::ToUnixSeconds(now + options_.turn_credential_ttl) + kGrid - 1) / kGrid * kGrid;
  CachedIceServer& cache = ice_server_cache_[server * 2 + (tcp_only ? 1 : 0)];
  std::lock_guard lock(cache.mu);
  if (cache.expires == expires) return cache.bytes;

  const config::TurnServerConfig& config = options_.turn_servers[server];
  v1::GetStrategyResponse chunk;
  v1::IceServer& ice = *chunk.mutable_ice_config()->add_ice_servers();
  for (const turn::TurnUrl& url : config.parsed_urls) {
    if (!tcp_only || url.transport != turn::Transport::kUdp) ice.add_urls(url.text);
  }
  if (!config.auth.rest_secret.empty()) {
    auto credentials =
        turn::MakeRestCredentials(config.auth.rest_secret, "advisor",
                                  absl::FromUnixSeconds(expires) - options_.turn_credential_ttl,
                                  options_.turn_credential_ttl);
    // Only an empty secret or a non-positive TTL fail, and configuration rules both out.
    if (credentials.ok()) {
      ice.set_username(credentials->username);
      ice.set_credential(credentials->password);
    }
  } else {
    ice.set_username(config.auth.username);
    ice.set_credential(config.auth.password);
  }
  cache.expires = expires;
  cache.bytes = grpc::Slice(chunk.SerializeAsString());
  return cache.bytes;
}

std::string RenderGetStrategyResponse(const strategy::Decision& decision,
                                      const ServiceOptions& options) {
  v1::GetStrategyResponse response;
  response.set_strategy(static_cast<v1::Strategy>(decision.strategy));
  response.set_direct_timeout_ms(decision.direct_timeout_ms);
  response.set_preferred_turn_transport(
      static_cast<v1::TurnTransport>(decision.preferred_transport));
  response.set_expected_success_rate(decision.expected_success_rate);
  response.set_expected_connect_time_ms(decision.expected_connect_time_ms);
  response.set_history_samples(decision.history_samples);

  v1::IceConfig& ice = *response.mutable_ice_config();
  if (!options.stun_urls.empty()) {
    v1::IceServer& stun = *ice.add_ice_servers();
    for (const std::string& url : options.stun_urls) stun.add_urls(url);
  }
  ice.set_ice_transport_policy(decision.relay_only ? "relay" : "all");
  ice.set_ice_candidate_pool_size(decision.ice_candidate_pool_size);
  ice.set_bundle_policy("max-bundle");
  ice.set_rtcp_mux_policy("require");

  for (const std::string& reason : decision.reasons) response.add_reasons(reason);
  return response.SerializeAsString();
}

absl::StatusOr<grpc::ByteBuffer> AdvisorService::HandleGetStrategy(
    const v1::GetStrategyRequest& request) {
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
  const TurnChoice& turn = snapshot.turn.For(query->region, tcp_only);
  metrics_.RecordTurnOffer(turn.server);

  // Rare per-request fields go through protobuf; the token, in every answer, is encoded by hand.
  v1::GetStrategyResponse extra;
  if (turn.server < 0 && decision.relay_only) {
    // Relay-only ICE without a relay cannot connect at all; direct candidates are the only chance.
    extra.mutable_ice_config()->set_ice_transport_policy("all");
    extra.add_reasons(
        "relay-only ICE needs a TURN server and none is usable: the policy is 'all' "
        "so that direct candidates still get their chance");
  }
  NoteLowConfidence("local", request.local(), local, options_.engine, extra);
  NoteLowConfidence("remote", request.remote(), remote, options_.engine, extra);
  std::string tail = extra.SerializeAsString();
  AppendBytesField(
      tail, v1::GetStrategyResponse::kDecisionTokenFieldNumber,
      signer_.Sign({.pair = pair,
                    .strategy = decision.strategy,
                    .direct_timeout_ms = decision.direct_timeout_ms,
                    .turn_server_id = turn.server < 0 ? "" : options_.turn_servers[turn.server].id,
                    .issued_at = now}));
  // Protobuf merges concatenated messages: repeated fields append, so the TURN entry joins the STUN
  // one in ice_servers and the reasons follow the decision's own. One contiguous slice keeps the
  // transport's work per answer to a single buffer.
  const grpc::Slice ice =
      turn.server < 0 ? grpc::Slice() : TurnIceServer(turn.server, tcp_only, now);
  const grpc::Slice* parts[] = {&rendered, &turn.reason, &ice};
  size_t size = tail.size();
  for (const grpc::Slice* part : parts) size += part->size();
  grpc_slice out = grpc_slice_malloc(size);
  uint8_t* at = GRPC_SLICE_START_PTR(out);
  for (const grpc::Slice* part : parts) {
    if (part->size() > 0) at = std::copy(part->begin(), part->end(), at);
  }
  std::copy(tail.begin(), tail.end(), at);
  grpc::Slice slice(out, grpc::Slice::STEAL_REF);
  return grpc::ByteBuffer(&slice, 1);
}

grpc::Status AdvisorService::HandleReportOutcome(const v1::ReportOutcomeRequest& request) {
  if (!accepting_reports_.load(std::memory_order_relaxed)) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "server is shutting down: send the report to another replica");
  }
  auto outcome = ParseReportOutcomeRequest(request);
  if (!outcome.ok()) return ToGrpc(outcome.status());
  const absl::Time now = clock_();
  auto claims = signer_.Verify(request.decision_token(), now);
  if (!claims.ok()) {
    metrics_.RecordTokenRejected();
    return ToGrpc(claims.status());
  }
  const absl::Time bucket =
      absl::FromUnixSeconds(absl::ToUnixSeconds(now) / absl::ToInt64Seconds(options_.bucket_width) *
                            absl::ToInt64Seconds(options_.bucket_width));
  if (!buffer_.Add(claims->pair, claims->strategy, bucket, strategy::CountsOf(*outcome))) {
    metrics_.RecordReportRefused();
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "too many reports waiting for the database: not recorded, retry later");
  }
  metrics_.RecordOutcome(claims->strategy, PathOf(*outcome), outcome->connected,
                         outcome->time_to_connect_ms);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* AdvisorService::GetStrategy(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return Respond(context, [&] {
    grpc::Slice slice;
    v1::GetStrategyRequest parsed;
    if (!request->DumpToSingleSlice(&slice).ok() ||
        !parsed.ParseFromArray(slice.begin(), static_cast<int>(slice.size()))) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "request: not a valid GetStrategyRequest message");
    }
    absl::StatusOr<grpc::ByteBuffer> answer = HandleGetStrategy(parsed);
    if (!answer.ok()) return ToGrpc(answer.status());
    *response = *std::move(answer);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdvisorService::ReportOutcome(grpc::CallbackServerContext* context,
                                                        const v1::ReportOutcomeRequest* request,
                                                        v1::ReportOutcomeResponse*) {
  return Respond(context, [&] { return HandleReportOutcome(*request); });
}

grpc::ServerUnaryReactor* AdvisorService::ListTurnServers(grpc::CallbackServerContext* context,
                                                          const v1::ListTurnServersRequest* request,
                                                          v1::ListTurnServersResponse* response) {
  return Respond(context, [&] {
    if (request->region().size() > kMaxRegionBytes) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("region: longer than ", kMaxRegionBytes, " bytes"));
    }
    const std::shared_ptr<const Snapshot> snapshot = snapshots_.Get();
    for (const store::TurnServerRow& row : snapshot->turn.registry) {
      if (!request->region().empty() && row.region != request->region()) continue;
      v1::TurnServer& server = *response->add_servers();
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
    return grpc::Status::OK;
  });
}

}  // namespace advisor
