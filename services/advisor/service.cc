#include "services/advisor/service.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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
                       std::vector<std::string>& notes) {
  const auto reported = static_cast<strategy::NatType>(report.nat_type());
  if (reported != strategy::NatType::kUnknown && effective == strategy::NatType::kUnknown) {
    notes.push_back(absl::StrFormat(
        "%s peer reported %s with confidence %.2f (below %.2f): treated as unknown", side,
        strategy::NatTypeName(reported), report.confidence(), engine.min_confidence));
  }
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
      clock_(std::move(clock)) {}

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
  response.add_reasons("no TURN server is configured: the ICE configuration has STUN only");
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

  const std::shared_ptr<const Snapshot> snapshot = snapshots_.Get();
  const strategy::NatPair pair = strategy::NatPair::Of(local, remote);
  const strategy::Decision& decision = snapshot->decision(pair);
  metrics_.RecordDecision(pair, decision.strategy);

  v1::GetStrategyResponse extra;
  std::vector<std::string> notes;
  NoteLowConfidence("local", request.local(), local, options_.engine, notes);
  NoteLowConfidence("remote", request.remote(), remote, options_.engine, notes);
  for (std::string& note : notes) extra.add_reasons(std::move(note));
  extra.set_decision_token(signer_.Sign({.pair = pair,
                                         .strategy = decision.strategy,
                                         .direct_timeout_ms = decision.direct_timeout_ms,
                                         .turn_server_id = "",
                                         .issued_at = clock_()}));
  const grpc::Slice parts[] = {snapshot->responses[pair.Index()],
                               grpc::Slice(extra.SerializeAsString())};
  return grpc::ByteBuffer(parts, 2);
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
                                                          const v1::ListTurnServersRequest*,
                                                          v1::ListTurnServersResponse*) {
  // The TURN registry is not served yet: an empty list is the truthful answer.
  return Respond(context, [] { return grpc::Status::OK; });
}

}  // namespace advisor
