// The advisor's Prometheus metrics: its own, and the gRPC server metrics (lib/telemetry) of the
// server, which the ConnectivityAdvisor calls record directly rather than through an interceptor.
//
// Every labelled series is resolved once at construction, so recording on the request path is an
// atomic add with no label-map lookup.
#ifndef ADVISOR_SERVICES_ADVISOR_ADVISOR_METRICS_H_
#define ADVISOR_SERVICES_ADVISOR_ADVISOR_METRICS_H_

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lib/strategy/types.h"
#include "lib/telemetry/metrics.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace advisor {

// Where a reported session ended up connecting.
enum class OutcomePath : uint8_t { kDirect = 0, kRelay = 1, kNone = 2 };

// The RPCs of ConnectivityAdvisor, for the refusal counters.
enum class Method : uint8_t { kGetStrategy = 0, kReportOutcome = 1, kListTurnServers = 2 };
inline constexpr int kMethodCount = 3;
std::string_view MethodName(Method method);

// Why a request was refused: the `reason` label of advisor_requests_refused_total.
enum class RefusalReason : uint8_t {
  kMalformed = 0,         // request bytes are not the method's message
  kInvalidArgument = 1,   // a field out of range
  kUnauthenticated = 2,   // no, or a bad, JWT
  kPermissionDenied = 3,  // a token of another client, or a method needing advisor.admin
  kRateLimited = 4,       // the caller's per-identity rate limit
  kTokenInvalid = 5,      // a decision token that is malformed, forged or expired
  kImplausible = 6,       // a report its own token contradicts
  kOverloaded = 7,        // too many reports held for the database
  kUnavailable = 8,       // shutting down
  kDeadlineExceeded = 9,  // the request message did not arrive within the request deadline cap
  kInternal = 10,         // the server failed (OpenSSL could not sign): nothing the caller did
};
inline constexpr int kRefusalReasonCount = 11;
std::string_view RefusalReasonName(RefusalReason reason);

class AdvisorMetrics {
 public:
  // `turn_servers` are the ids of the servers file, in its order.
  AdvisorMetrics(prometheus::Registry& registry, std::span<const std::string> turn_servers = {});

  void RecordDecision(strategy::NatPair pair, strategy::Strategy strategy) {
    decisions_[pair.Index()][static_cast<int>(strategy)]->Increment();
  }
  void RecordNatType(strategy::NatType type) { nat_types_[static_cast<int>(type)]->Increment(); }
  void RecordOutcome(strategy::Strategy strategy, OutcomePath path, bool connected,
                     uint32_t time_to_connect_ms);
  // An answer offered TURN server `server` (an index into the servers file), or none (-1).
  void RecordTurnOffer(int server) {
    if (server < 0) {
      turn_unavailable_->Increment();
    } else if (server < static_cast<int>(turn_offers_.size())) {
      turn_offers_[server]->Increment();
    }
  }
  void RecordTokenRejected() { token_rejections_->Increment(); }
  void RecordReportRefused() { reports_refused_->Increment(); }
  void RecordRefusal(Method method, RefusalReason reason) {
    refusals_[static_cast<int>(method)][static_cast<int>(reason)]->Increment();
  }
  // Reports answered OK but not counted: their token was used already, or their identity had used
  // up its share of the pair in this bucket.
  void RecordDuplicates(int64_t reports) { duplicates_->Increment(static_cast<double>(reports)); }
  void RecordCapped() { capped_->Increment(); }
  void RecordTurnCredentialsIssued() { turn_credentials_->Increment(); }

  // go-grpc-prometheus's series of a ConnectivityAdvisor call: started, then handled with `code`
  // after `seconds` (before the status is sent).
  void RecordCallStarted(Method method) {
    telemetry::GrpcServerMetrics::Started(*calls_[static_cast<int>(method)]);
  }
  void RecordCallHandled(Method method, grpc::StatusCode code, double seconds) {
    grpc_.Handled(*calls_[static_cast<int>(method)], code, seconds);
  }
  // Every gRPC service's series; its interceptor records the services other than
  // ConnectivityAdvisor (health, reflection).
  telemetry::GrpcServerMetrics& grpc() { return grpc_; }

  void RecordSnapshotLoad(bool ok);
  void SetSnapshotAge(double seconds) { snapshot_age_->Set(seconds); }
  void RecordFlush(bool ok);
  void SetHeld(int64_t reports, int64_t deltas) {
    pending_reports_->Set(static_cast<double>(reports));
    pending_deltas_->Set(static_cast<double>(deltas));
  }

 private:
  telemetry::GrpcServerMetrics grpc_;
  std::array<telemetry::GrpcServerMetrics::Method*, kMethodCount> calls_{};
  std::array<std::array<prometheus::Counter*, strategy::kStrategyCount>, strategy::kNatPairCount>
      decisions_{};
  std::array<prometheus::Counter*, strategy::kNatTypeCount> nat_types_{};
  std::array<std::array<prometheus::Counter*, 3>, strategy::kStrategyCount> outcomes_{};
  std::array<prometheus::Histogram*, strategy::kStrategyCount> connect_time_{};
  std::vector<prometheus::Counter*> turn_offers_;
  prometheus::Counter* turn_unavailable_;
  prometheus::Counter* token_rejections_;
  prometheus::Counter* reports_refused_;
  std::array<std::array<prometheus::Counter*, kRefusalReasonCount>, kMethodCount> refusals_{};
  prometheus::Counter* duplicates_;
  prometheus::Counter* capped_;
  prometheus::Counter* turn_credentials_;
  prometheus::Counter* snapshot_loads_ok_;
  prometheus::Counter* snapshot_loads_failed_;
  prometheus::Gauge* database_up_;
  prometheus::Gauge* snapshot_age_;
  prometheus::Counter* flushes_ok_;
  prometheus::Counter* flushes_failed_;
  prometheus::Gauge* pending_reports_;
  prometheus::Gauge* pending_deltas_;
};

}  // namespace advisor

#endif  // ADVISOR_SERVICES_ADVISOR_ADVISOR_METRICS_H_
