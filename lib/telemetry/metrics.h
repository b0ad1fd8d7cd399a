// Prometheus metrics of a process: the registry and its HTTP endpoint, and the gRPC server metrics.
//
// The gRPC metrics carry the names and labels of go-grpc-prometheus, so dashboards and alerts
// written for Go services work unchanged:
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}   grpc_code as Go
//   spells
//       it: "OK", "InvalidArgument", "DeadlineExceeded", …
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}          histogram,
//   Prometheus'
//       default buckets .005 … 10 s
// with grpc_type one of "unary", "client_stream", "server_stream", "bidi_stream".
#ifndef ADVISOR_LIB_TELEMETRY_METRICS_H_
#define ADVISOR_LIB_TELEMETRY_METRICS_H_

#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace google::protobuf {
class ServiceDescriptor;
}
namespace prometheus {
class Exposer;
}

namespace advisor::telemetry {

// A registry, and once started an HTTP server that serves it at /metrics for Prometheus to scrape.
class MetricsExposer {
 public:
  MetricsExposer();
  ~MetricsExposer();
  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;

  // Listens on "host:port" with an IPv4 address or name as host ("0.0.0.0:9464" for every
  // interface); port 0 picks a free port, see port(). A port in use or an address that is not local
  // is an Unavailable error naming the address. IPv6 needs a CivetWeb built with it (Debian's is
  // not).
  absl::Status Start(std::string_view listen);

  // Usable before Start(), so metrics can be registered first.
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // The port bound by Start(); 0 before.
  int port() const { return port_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
  std::string wake_host_;  // IPv4 address the destructor knocks on to stop CivetWeb promptly
};

// The go-grpc-prometheus series of one gRPC server, in a registry that must outlive it. An
// interceptor (MakeInterceptorFactory) records the calls of most services; a service may record
// its own instead (RecordedByService, then Started and Handled for each call), which spares each
// op batch of its calls gRPC 1.51's interception round trip: about 9,100 instructions per call of
// a raw bidi callback method (callgrind, docs/performance.md). Per-method series are resolved once
// and cached. Thread-safe.
class GrpcServerMetrics {
 public:
  struct Method;  // the series of one method

  explicit GrpcServerMetrics(prometheus::Registry& registry);
  ~GrpcServerMetrics();
  GrpcServerMetrics(const GrpcServerMetrics&) = delete;
  GrpcServerMetrics& operator=(const GrpcServerMetrics&) = delete;

  // Gives every method of `service` all its series at zero right away (as go-grpc-prometheus's
  // InitializeMetrics does), so that rate() and absent() work before the first call; other methods
  // get theirs on their first call, and each code its series when first seen.
  void Initialize(const google::protobuf::ServiceDescriptor& service);
  // Calls of `service` get no interceptor: the service records them itself.
  void RecordedByService(const google::protobuf::ServiceDescriptor& service);
  // The series of "/pkg.Service/Method", created with `type` if new.
  Method& Find(absl::string_view full_method, grpc::experimental::ServerRpcInfo::Type type =
                                                  grpc::experimental::ServerRpcInfo::Type::UNARY);
  // A call started; it was handled with `code` after `seconds`. Record Handled before the status
  // is sent, so that a client holding its answer also finds the call counted.
  static void Started(Method& method);
  void Handled(Method& method, grpc::StatusCode code, double seconds);

  // For grpc::ServerBuilder::experimental().SetInterceptorCreators(), after every
  // RecordedByService; it refers to this object, which must outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeInterceptorFactory();

 private:
  prometheus::Counter& HandledCounter(Method& method, grpc::StatusCode code);

  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& handling_seconds_;
  // Read on every call, written once per method: a shared lock keeps readers from queueing.
  std::shared_mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Method>> methods_;
  std::vector<std::string> self_recorded_;  // "/pkg.Service/" of services recording themselves
};

}  // namespace advisor::telemetry

#endif  // ADVISOR_LIB_TELEMETRY_METRICS_H_
