#include "services/advisor/advisor_metrics.h"

#include <google/protobuf/descriptor.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "connectivity/advisor/v1/advisor.pb.h"

namespace advisor {

std::string_view MethodName(Method method) {
  switch (method) {
    case Method::kGetStrategy:
      return "GetStrategy";
    case Method::kReportOutcome:
      return "ReportOutcome";
    case Method::kListTurnServers:
      return "ListTurnServers";
  }
  return "unknown";
}

std::string_view RefusalReasonName(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::kMalformed:
      return "malformed";
    case RefusalReason::kInvalidArgument:
      return "invalid_argument";
    case RefusalReason::kUnauthenticated:
      return "unauthenticated";
    case RefusalReason::kPermissionDenied:
      return "permission_denied";
    case RefusalReason::kRateLimited:
      return "rate_limited";
    case RefusalReason::kTokenInvalid:
      return "token_invalid";
    case RefusalReason::kImplausible:
      return "implausible";
    case RefusalReason::kOverloaded:
      return "overloaded";
    case RefusalReason::kUnavailable:
      return "unavailable";
    case RefusalReason::kDeadlineExceeded:
      return "deadline_exceeded";
    case RefusalReason::kInternal:
      return "internal";
  }
  return "unknown";
}
namespace {

constexpr std::array<std::string_view, 3> kPathNames = {"direct", "relay", "none"};

}  // namespace

AdvisorMetrics::AdvisorMetrics(prometheus::Registry& registry,
                               std::span<const std::string> turn_servers)
    : grpc_(registry) {
  // Series for every method and code exist from the start, so rates and alerts see zeros, not gaps.
  const google::protobuf::ServiceDescriptor& service =
      *connectivity::advisor::v1::GetStrategyRequest::descriptor()->file()->FindServiceByName(
          "ConnectivityAdvisor");
  grpc_.Initialize(service);
  grpc_.RecordedByService(service);
  for (int m = 0; m < kMethodCount; ++m) {
    const std::string_view name = MethodName(static_cast<Method>(m));
    calls_[m] = &grpc_.Find(
        absl::StrCat("/", service.full_name(), "/", absl::string_view(name.data(), name.size())));
  }
  using strategy::NatPair;
  using strategy::NatType;
  using strategy::Strategy;
  auto& decisions = prometheus::BuildCounter()
                        .Name("advisor_decisions_total")
                        .Help("GetStrategy answers by strategy and (unordered) NAT pair")
                        .Register(registry);
  for (int p = 0; p < strategy::kNatPairCount; ++p) {
    const NatPair pair = NatPair::FromIndex(p);
    const std::string pair_label = std::string(strategy::NatTypeName(pair.a)) + ":" +
                                   std::string(strategy::NatTypeName(pair.b));
    for (int s = 1; s < strategy::kStrategyCount; ++s) {
      decisions_[p][s] = &decisions.Add(
          {{"strategy", std::string(strategy::StrategyName(static_cast<Strategy>(s)))},
           {"nat_pair", pair_label}});
    }
  }
  auto& nat_types = prometheus::BuildCounter()
                        .Name("advisor_nat_types_reported_total")
                        .Help(
                            "NAT types reported in GetStrategy requests, one per peer, after the "
                            "confidence threshold")
                        .Register(registry);
  for (int t = 0; t < strategy::kNatTypeCount; ++t) {
    nat_types_[t] =
        &nat_types.Add({{"nat_type", std::string(strategy::NatTypeName(static_cast<NatType>(t)))}});
  }
  auto& outcomes = prometheus::BuildCounter()
                       .Name("advisor_outcomes_total")
                       .Help(
                           "Reported session outcomes by strategy and the path that connected "
                           "(none: the session failed)")
                       .Register(registry);
  auto& connect_time = prometheus::BuildHistogram()
                           .Name("advisor_connect_time_seconds")
                           .Help("Reported time to connect of connected sessions, by strategy")
                           .Register(registry);
  const prometheus::Histogram::BucketBoundaries bounds = {0.1, 0.25, 0.5, 1,  2, 3,
                                                          5,   8,    12,  20, 30};
  for (int s = 1; s < strategy::kStrategyCount; ++s) {
    const std::string name(strategy::StrategyName(static_cast<Strategy>(s)));
    for (size_t p = 0; p < kPathNames.size(); ++p) {
      outcomes_[s][p] = &outcomes.Add({{"strategy", name}, {"path", std::string(kPathNames[p])}});
    }
    connect_time_[s] = &connect_time.Add({{"strategy", name}}, bounds);
  }
  auto& turn_offers = prometheus::BuildCounter()
                          .Name("advisor_turn_offers_total")
                          .Help("GetStrategy answers by the TURN server they offered")
                          .Register(registry);
  for (const std::string& id : turn_servers)
    turn_offers_.push_back(&turn_offers.Add({{"server", id}}));
  turn_unavailable_ = &prometheus::BuildCounter()
                           .Name("advisor_turn_unavailable_total")
                           .Help(
                               "GetStrategy answers with no usable TURN server to offer (none "
                               "configured, all disabled or all unhealthy)")
                           .Register(registry)
                           .Add({});
  token_rejections_ = &prometheus::BuildCounter()
                           .Name("advisor_token_rejections_total")
                           .Help(
                               "Reports refused because their decision token was malformed, "
                               "forged or expired")
                           .Register(registry)
                           .Add({});
  reports_refused_ = &prometheus::BuildCounter()
                          .Name("advisor_outcome_deltas_refused_total")
                          .Help("Valid reports refused because the pending buffer was full")
                          .Register(registry)
                          .Add({});
  auto& refusals = prometheus::BuildCounter()
                       .Name("advisor_requests_refused_total")
                       .Help("ConnectivityAdvisor requests refused, by method and reason")
                       .Register(registry);
  for (int m = 0; m < kMethodCount; ++m) {
    for (int r = 0; r < kRefusalReasonCount; ++r) {
      refusals_[m][r] = &refusals.Add(
          {{"method", std::string(MethodName(static_cast<Method>(m)))},
           {"reason", std::string(RefusalReasonName(static_cast<RefusalReason>(r)))}});
    }
  }
  duplicates_ = &prometheus::BuildCounter()
                     .Name("advisor_reports_duplicate_total")
                     .Help(
                         "Reports whose decision token had been reported already: answered OK, "
                         "not counted again")
                     .Register(registry)
                     .Add({});
  capped_ = &prometheus::BuildCounter()
                 .Name("advisor_reports_capped_total")
                 .Help(
                     "Reports answered OK but not counted: their identity had used up its share "
                     "of the NAT pair in this bucket")
                 .Register(registry)
                 .Add({});
  turn_credentials_ = &prometheus::BuildCounter()
                           .Name("advisor_turn_credentials_issued_total")
                           .Help("TURN credentials put in GetStrategy answers")
                           .Register(registry)
                           .Add({});
  auto& loads = prometheus::BuildCounter()
                    .Name("advisor_snapshot_loads_total")
                    .Help("Snapshot loads from PostgreSQL by result")
                    .Register(registry);
  snapshot_loads_ok_ = &loads.Add({{"result", "ok"}});
  snapshot_loads_failed_ = &loads.Add({{"result", "error"}});
  database_up_ = &prometheus::BuildGauge()
                      .Name("advisor_database_up")
                      .Help("1 when the last snapshot load from PostgreSQL succeeded")
                      .Register(registry)
                      .Add({});
  snapshot_age_ = &prometheus::BuildGauge()
                       .Name("advisor_snapshot_age_seconds")
                       .Help("Age of the data GetStrategy answers from (since the last good load)")
                       .Register(registry)
                       .Add({});
  auto& flushes = prometheus::BuildCounter()
                      .Name("advisor_flushes_total")
                      .Help("Batched writes of outcome deltas to PostgreSQL by result")
                      .Register(registry);
  flushes_ok_ = &flushes.Add({{"result", "ok"}});
  flushes_failed_ = &flushes.Add({{"result", "error"}});
  pending_reports_ = &prometheus::BuildGauge()
                          .Name("advisor_pending_reports")
                          .Help("Acknowledged reports not yet committed to PostgreSQL")
                          .Register(registry)
                          .Add({});
  pending_deltas_ = &prometheus::BuildGauge()
                         .Name("advisor_pending_deltas")
                         .Help("Aggregate rows waiting to be written")
                         .Register(registry)
                         .Add({});
}

void AdvisorMetrics::RecordOutcome(strategy::Strategy strategy, OutcomePath path, bool connected,
                                   uint32_t time_to_connect_ms) {
  const int s = static_cast<int>(strategy);
  outcomes_[s][static_cast<int>(path)]->Increment();
  if (connected) connect_time_[s]->Observe(time_to_connect_ms / 1000.0);
}

void AdvisorMetrics::RecordSnapshotLoad(bool ok) {
  (ok ? snapshot_loads_ok_ : snapshot_loads_failed_)->Increment();
  database_up_->Set(ok ? 1 : 0);
}

void AdvisorMetrics::RecordFlush(bool ok) { (ok ? flushes_ok_ : flushes_failed_)->Increment(); }

}  // namespace advisor
