// The ConnectivityAdvisor gRPC service: the request logic, knowing nothing of how it is wired.
//
// GetStrategy reads the current snapshot and signs a decision token; ReportOutcome verifies the
// token, validates the report and folds it into the outcome buffer. Neither touches the database.
#ifndef ADVISOR_SERVICES_ADVISOR_SERVICE_H_
#define ADVISOR_SERVICES_ADVISOR_SERVICE_H_

#include <atomic>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "services/advisor/advisor_metrics.h"
#include "services/advisor/decision_token.h"
#include "services/advisor/outcome_buffer.h"
#include "services/advisor/snapshot.h"

namespace advisor {

struct ServiceOptions {
  strategy::EngineConfig engine;
  absl::Duration bucket_width = absl::Hours(1);
  std::vector<std::string> stun_urls;
  // The servers file (owned by the caller, outliving the service); TurnChoice::server indexes it.
  std::span<const config::TurnServerConfig> turn_servers;
  absl::Duration turn_credential_ttl = absl::Hours(1);  // lifetime of the TURN REST credentials
};

// The fixed part of the answer for `decision`, serialized: everything but the decision token and
// the notes about the request's own NAT reports, which the handler appends (protobuf concatenation
// merges).
std::string RenderGetStrategyResponse(const strategy::Decision& decision,
                                      const ServiceOptions& options);

// GetStrategy is served raw (bytes in, bytes out) so that the answer is the snapshot's pre-rendered
// bytes plus the per-request fields, with no message built per call.
class AdvisorService final
    : public connectivity::advisor::v1::ConnectivityAdvisor::WithRawCallbackMethod_GetStrategy<
          connectivity::advisor::v1::ConnectivityAdvisor::CallbackService> {
 public:
  using Clock = std::function<absl::Time()>;

  AdvisorService(ServiceOptions options, const SnapshotHolder& snapshots, const TokenSigner& signer,
                 OutcomeBuffer& buffer, AdvisorMetrics& metrics, Clock clock = absl::Now);

  grpc::ServerUnaryReactor* GetStrategy(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ReportOutcome(
      grpc::CallbackServerContext* context,
      const connectivity::advisor::v1::ReportOutcomeRequest* request,
      connectivity::advisor::v1::ReportOutcomeResponse* response) override;
  grpc::ServerUnaryReactor* ListTurnServers(
      grpc::CallbackServerContext* context,
      const connectivity::advisor::v1::ListTurnServersRequest* request,
      connectivity::advisor::v1::ListTurnServersResponse* response) override;

  // The handlers proper, callable without a gRPC context (used by the reactors above).
  // HandleGetStrategy returns the serialized GetStrategyResponse.
  absl::StatusOr<grpc::ByteBuffer> HandleGetStrategy(
      const connectivity::advisor::v1::GetStrategyRequest& request);
  grpc::Status HandleReportOutcome(const connectivity::advisor::v1::ReportOutcomeRequest& request);

  // From now on reports are refused with UNAVAILABLE, so none is acknowledged after the final
  // flush.
  void StopAcceptingReports() { accepting_reports_.store(false); }

 private:
  // The TURN entry of ice_servers for one server, with credentials, serialized as a
  // GetStrategyResponse; made at most once per credential period and server.
  grpc::Slice TurnIceServer(int server, bool tcp_only, absl::Time now);

  struct CachedIceServer {
    std::mutex mu;
    int64_t expires = 0;  // unix seconds of the credentials in `bytes`
    grpc::Slice bytes;
  };

  const ServiceOptions options_;
  const SnapshotHolder& snapshots_;
  const TokenSigner& signer_;
  OutcomeBuffer& buffer_;
  AdvisorMetrics& metrics_;
  const Clock clock_;
  std::vector<CachedIceServer> ice_server_cache_;  // [server * 2 + tcp_only]
  std::atomic<bool> accepting_reports_{true};
};

}  // namespace advisor

#endif  // ADVISOR_SERVICES_ADVISOR_SERVICE_H_
