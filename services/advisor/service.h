// The ConnectivityAdvisor gRPC service: the request logic, knowing nothing of how it is wired.
//
// Every call is authenticated as soon as its headers arrive (a JWT, or the peer address where
// anonymous callers are allowed) and rate-limited per identity, before its request message is
// read; a call whose message has not arrived within the request deadline cap is answered
// DEADLINE_EXCEEDED. The three methods are unary on the wire but served here as raw
// bidirectional-streaming callback methods (bytes in, bytes out): gRPC surfaces a unary callback
// call only once its message is whole, so neither refusing early nor the cap could be had
// otherwise. Raw bytes also let unparseable requests get INVALID_ARGUMENT like any other bad
// input, and GetStrategy's answer be the snapshot's pre-rendered bytes plus the per-request fields.
// Every refusal is counted by method and reason and logged, at a bounded rate.
//
// GetStrategy reads the current snapshot and signs a decision token for the caller; ReportOutcome
// verifies the token against the caller, checks the report against the answer the token records,
// and hands it to the outcome buffer unless the caller has used up its share of the NAT pair.
// Neither touches the database.
#ifndef ADVISOR_SERVICES_ADVISOR_SERVICE_H_
#define ADVISOR_SERVICES_ADVISOR_SERVICE_H_

#include <atomic>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "lib/auth/jwt.h"
#include "services/advisor/advisor_metrics.h"
#include "services/advisor/decision_token.h"
#include "services/advisor/limits.h"
#include "services/advisor/outcome_buffer.h"
#include "services/advisor/snapshot.h"

namespace advisor {

// Who may call, and how much one caller may cost or count. The server's settings of the same
// names (README, "Security model") fill it in.
struct ClientPolicy {
  // Callers without a JWT are served, identified by their address (development only). With
  // neither this nor a verifier, every call needs a JWT and none can succeed.
  bool allow_anonymous = false;
  // Requests per second per identity, with bursts up to rate_limit_burst; 0 turns it off.
  double rate_limit = 10;
  double rate_limit_burst = 20;
  // Reports one identity adds to one NAT pair within one aggregate bucket; beyond, reports are
  // answered OK and not counted. 0 turns the cap off.
  int64_t max_reports_per_identity = 3;
  // JWTs that fail verification, per second per peer address (bursts of five times as many); past
  // it, tokens not already verified are refused from that address without a signature check, which
  // bounds what forged ES256/RS256 tokens cost. 0 turns it off.
  double auth_failure_limit = 10;
};

struct ServiceOptions {
  strategy::EngineConfig engine;
  absl::Duration bucket_width = absl::Hours(1);
  // STUN urls the operator adds to every answer's STUN entry; none by default, since each TURN
  // server's own STUN is offered with it.
  std::vector<std::string> stun_urls;
  // The servers file (owned by the caller, outliving the service); TurnChoice::server indexes it.
  std::span<const config::TurnServerConfig> turn_servers;
  // Lifetime of the per-client TURN REST credentials: long enough to allocate and to survive a
  // slow ICE exchange, short enough that leaked credentials stop working within minutes. A client
  // asks again (GetStrategy) before every connection.
  absl::Duration turn_credential_ttl = absl::Minutes(10);
  // A call whose request message has not arrived whole this long after its headers is answered
  // DEADLINE_EXCEEDED. Clients' own deadlines, when shorter, are enforced by gRPC itself.
  absl::Duration max_request_deadline = absl::Seconds(10);
  ClientPolicy clients;
};

// Who is calling, as far as the service is concerned.
struct Caller {
  std::string identity;        // "sub:<JWT subject>" or, anonymous, "addr:<peer host>"
  bool authenticated = false;  // holds a valid JWT
  bool admin = false;          // the JWT's scope includes advisor.admin
};

// The fixed part of the answer for `decision`, serialized: everything but the decision token, the
// ICE servers (STUN and TURN, which depend on the TURN server chosen for the caller, with its
// credentials), fallback_ice_config and the notes about the request's own NAT reports, which the
// handler appends (protobuf concatenation merges). Each snapshot renders it once per NAT pair
// instead of building and serializing a message per request: the server CPU per GetStrategy that
// tests/bench/grpc.sh prints, and the instruction counts in docs/performance.md, are what it saves.
std::string RenderGetStrategyResponse(const strategy::Decision& decision);

// A handler's answer: OK, or a status and the reason it is counted under.
struct Answer {
  grpc::Status status;
  RefusalReason reason = RefusalReason::kInvalidArgument;  // meaningful when !status.ok()
  static Answer Ok() { return {grpc::Status::OK}; }
};

// The service connectivity.advisor.v1.ConnectivityAdvisor, registered with grpc::ServerBuilder.
class AdvisorService final : public grpc::Service {
 public:
  using Clock = std::function<absl::Time()>;

  // `verifier` (may be null: no keys file) outlives the service.
  AdvisorService(ServiceOptions options, const SnapshotHolder& snapshots, const TokenSigner& signer,
                 OutcomeBuffer& buffer, AdvisorMetrics& metrics, auth::JwtVerifier* verifier,
                 Clock clock = absl::Now);

  // Answers DEADLINE_EXCEEDED to every call still waiting for its request message
  // options.max_request_deadline after it started; the server calls it a few times a second.
  int ExpireStalledRequests(RequestDeadlines::Clock::time_point now) {
    return deadlines_.ExpireUntil(now);
  }

  // The caller of a request with this `authorization` metadata (if any) from `peer` (gRPC's peer
  // string, e.g. "ipv4:10.0.0.7:51234", built only when needed). UNAUTHENTICATED saying why;
  // RESOURCE_EXHAUSTED when the address has sent too many JWTs that failed verification.
  absl::StatusOr<Caller> Authenticate(std::optional<std::string_view> authorization,
                                      absl::FunctionRef<std::string()> peer, absl::Time now);

  // The handlers proper, callable without a gRPC context (used by the reactors above).
  // HandleGetStrategy returns the serialized GetStrategyResponse.
  absl::StatusOr<grpc::ByteBuffer> HandleGetStrategy(
      const connectivity::advisor::v1::GetStrategyRequest& request, const Caller& caller);
  Answer HandleReportOutcome(const connectivity::advisor::v1::ReportOutcomeRequest& request,
                             const Caller& caller);
  Answer HandleListTurnServers(const connectivity::advisor::v1::ListTurnServersRequest& request,
                               const Caller& caller,
                               connectivity::advisor::v1::ListTurnServersResponse& response);

  // From now on reports are refused with UNAVAILABLE, so none is acknowledged after the final
  // flush.
  void StopAcceptingReports() { accepting_reports_.store(false); }

 private:
  class Call;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* NewCall(
      Method method, grpc::CallbackServerContext* context);
  // The caller of `context`'s call, or nullopt with `refusal` set (and counted and logged) when
  // it may not call now.
  std::optional<Caller> Admit(Method method, grpc::CallbackServerContext* context, absl::Time now,
                              grpc::Status& refusal);
  // Parses `request` as `method`'s message and handles it; `response` is set when OK.
  Answer Respond(Method method, const grpc::ByteBuffer& request, const Caller& caller,
                 grpc::ByteBuffer& response);
  // How logs name `caller`: by the opaque id its TURN usernames carry, and its address.
  std::string ClientName(const Caller& caller, grpc::CallbackServerContext& context) const;
  // Counts the refusal and logs it, unless too many were logged this second; `who` names the
  // caller, built only for a line that is written.
  void LogRefusal(Method method, const Answer& answer, absl::FunctionRef<std::string()> who,
                  absl::Time now);
  // The IceServer of one TURN server with credentials of `caller`, serialized.
  absl::StatusOr<std::string> TurnIceServer(int server, bool tcp_only, const Caller& caller,
                                            absl::Time now);

  const ServiceOptions options_;
  const SnapshotHolder& snapshots_;
  const TokenSigner& signer_;
  OutcomeBuffer& buffer_;
  AdvisorMetrics& metrics_;
  auth::JwtVerifier* const verifier_;
  const Clock clock_;
  // Per server and transport set ([server * 2 + tcp_only]): the serialized `urls` of its IceServer.
  std::vector<std::string> turn_urls_;
  // The serialized STUN IceServer offered with the TURN server chosen ([server + 1]; [0]: none
  // chosen): the operator's STUN urls and the server's own; empty when there are none.
  std::vector<std::string> stun_entries_;
  RateLimiter rate_limiter_;
  RateLimiter auth_failures_;  // by peer address
  ReporterCap reporter_cap_;
  LogLimiter refusal_log_{10};
  RequestDeadlines deadlines_;
  std::atomic<bool> accepting_reports_{true};
};

}  // namespace advisor

#endif  // ADVISOR_SERVICES_ADVISOR_SERVICE_H_
