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
#include <prometheus/registry.h>

#include <memory>
#include <span>
#include <string>
#include <string_view>

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

// For grpc::ServerBuilder::experimental().SetInterceptorCreators(). `registry` must outlive the
// server. The methods of the `initialize` services get all their series at zero right away (as
// go-grpc-prometheus's InitializeMetrics does), so rate() and absent() work before the first call;
// other methods get theirs on their first call.
//
// Per-method series are resolved once and cached, so a call costs a shared-lock map lookup, two
// counter increments and one histogram observation.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeGrpcServerMetricsInterceptorFactory(
    prometheus::Registry& registry,
    std::span<const google::protobuf::ServiceDescriptor* const> initialize = {});

}  // namespace advisor::telemetry

#endif  // ADVISOR_LIB_TELEMETRY_METRICS_H_
