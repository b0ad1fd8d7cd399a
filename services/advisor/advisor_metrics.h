// The advisor's own Prometheus metrics (the gRPC server metrics live in lib/telemetry).
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
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace advisor {

// Where a reported session ended up connecting.
enum class OutcomePath : uint8_t { kDirect = 0, kRelay = 1, kNone = 2 };

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

  void RecordSnapshotLoad(bool ok);
  void SetSnapshotAge(double seconds) { snapshot_age_->Set(seconds); }
  void RecordFlush(bool ok);
  void SetHeld(int64_t reports, int64_t deltas) {
    pending_reports_->Set(static_cast<double>(reports));
    pending_deltas_->Set(static_cast<double>(deltas));
  }

 private:
  std::array<std::array<prometheus::Counter*, strategy::kStrategyCount>, strategy::kNatPairCount>
      decisions_{};
  std::array<prometheus::Counter*, strategy::kNatTypeCount> nat_types_{};
  std::array<std::array<prometheus::Counter*, 3>, strategy::kStrategyCount> outcomes_{};
  std::array<prometheus::Histogram*, strategy::kStrategyCount> connect_time_{};
  std::vector<prometheus::Counter*> turn_offers_;
  prometheus::Counter* turn_unavailable_;
  prometheus::Counter* token_rejections_;
  prometheus::Counter* reports_refused_;
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
