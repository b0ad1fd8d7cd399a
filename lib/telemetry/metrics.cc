#include "lib/telemetry/metrics.h"

#include <arpa/inet.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/support/status.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/histogram.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace advisor::telemetry {

MetricsExposer::MetricsExposer() : registry_(std::make_shared<prometheus::Registry>()) {}

namespace {

// Connects to host:port and hangs up at once.
void Knock(const std::string& host, int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) return;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  // Whether it connects does not matter: the point is to wake the blocked accept().
  (void)connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  close(fd);
}

}  // namespace

MetricsExposer::~MetricsExposer() {
  if (exposer_ == nullptr) return;
  // CivetWeb's stop waits until its listener's poll() times out, which takes up to 2 s; a
  // connection ends the poll at once. Knocking until the stop is done also covers a knock that
  // lands just before the stop flag is set.
  std::atomic<bool> stopped = false;
  std::thread waker([this, &stopped] {
    while (!stopped.load()) {
      Knock(wake_host_, port_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  exposer_.reset();
  stopped = true;
  waker.join();
}

absl::Status MetricsExposer::Start(std::string_view listen) {
  if (exposer_ != nullptr) {
    return absl::FailedPreconditionError("the metrics exposer is already started");
  }
  const std::string address(listen);
  // CivetWeb reports a failed bind only by throwing from the constructor.
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(address);
    exposer->RegisterCollectable(registry_);
    const std::vector<int> ports = exposer->GetListeningPorts();
    port_ = ports.empty() ? 0 : ports.front();
    exposer_ = std::move(exposer);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address,
                     " (port in use, or not a local IPv4 address?): ", e.what()));
  }
  // A wildcard or named host is reachable on loopback; a specific IPv4 address only on itself.
  const std::string host = address.substr(0, address.rfind(':'));
  in_addr ipv4;
  wake_host_ =
      host != "0.0.0.0" && inet_pton(AF_INET, host.c_str(), &ipv4) == 1 ? host : "127.0.0.1";
  return absl::OkStatus();
}

namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

// Go's codes.Code.String(), which go-grpc-prometheus uses as grpc_code; indexed by
// grpc::StatusCode.
constexpr std::array<const char*, 17> kCodeNames = {
    "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated",
};
static_assert(grpc::StatusCode::UNAUTHENTICATED == kCodeNames.size() - 1);

const char* TypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

}  // namespace

// The series of one method.
struct GrpcServerMetrics::Method {
  prometheus::Labels labels;  // grpc_type, grpc_service, grpc_method
  prometheus::Counter* started = nullptr;
  prometheus::Histogram* handling_seconds = nullptr;
  // Filled on the first call that ends with each code: most methods only ever see two or three.
  std::array<std::atomic<prometheus::Counter*>, kCodeNames.size()> handled{};
};

GrpcServerMetrics::GrpcServerMetrics(prometheus::Registry& registry)
    : started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("Total number of RPCs started on the server.")
                   .Register(registry)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("Total number of RPCs completed on the server, regardless of success or "
                         "failure.")
                   .Register(registry)),
      handling_seconds_(prometheus::BuildHistogram()
                            .Name("grpc_server_handling_seconds")
                            .Help("Histogram of response latency (seconds) of gRPC that had been "
                                  "application-level handled by the server.")
                            .Register(registry)) {}

GrpcServerMetrics::~GrpcServerMetrics() = default;

GrpcServerMetrics::Method& GrpcServerMetrics::Find(absl::string_view full_method,
                                                   ServerRpcInfo::Type type) {
  {
    std::shared_lock lock(mu_);
    if (auto it = methods_.find(full_method); it != methods_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  std::unique_ptr<Method>& series = methods_[full_method];
  if (series == nullptr) {
    // "/pkg.Service/Method" → ("pkg.Service", "Method"), as go-grpc-prometheus splits it.
    absl::string_view service = "unknown", method = "unknown";
    absl::string_view name = absl::StripPrefix(full_method, "/");
    if (size_t slash = name.find('/'); slash != absl::string_view::npos) {
      service = name.substr(0, slash);
      method = name.substr(slash + 1);
    }
    series = std::make_unique<Method>();
    series->labels = {{"grpc_type", TypeName(type)},
                      {"grpc_service", std::string(service)},
                      {"grpc_method", std::string(method)}};
    series->started = &started_.Add(series->labels);
    series->handling_seconds = &handling_seconds_.Add(
        series->labels,
        prometheus::Histogram::BucketBoundaries{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10});
  }
  return *series;
}

void GrpcServerMetrics::Started(Method& method) { method.started->Increment(); }

void GrpcServerMetrics::Handled(Method& method, grpc::StatusCode code, double seconds) {
  HandledCounter(method, code).Increment();
  method.handling_seconds->Observe(seconds);
}

prometheus::Counter& GrpcServerMetrics::HandledCounter(Method& method, grpc::StatusCode code) {
  size_t index = static_cast<size_t>(code);
  if (index >= kCodeNames.size()) index = grpc::StatusCode::UNKNOWN;
  prometheus::Counter* counter = method.handled[index].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add returns the existing child for equal labels, so racing callers agree.
    prometheus::Labels labels = method.labels;
    labels.emplace("grpc_code", kCodeNames[index]);
    counter = &handled_.Add(labels);
    method.handled[index].store(counter, std::memory_order_release);
  }
  return *counter;
}

void GrpcServerMetrics::Initialize(const google::protobuf::ServiceDescriptor& service) {
  for (int i = 0; i < service.method_count(); ++i) {
    const google::protobuf::MethodDescriptor& method = *service.method(i);
    const ServerRpcInfo::Type type =
        method.client_streaming()
            ? (method.server_streaming() ? ServerRpcInfo::Type::BIDI_STREAMING
                                         : ServerRpcInfo::Type::CLIENT_STREAMING)
            : (method.server_streaming() ? ServerRpcInfo::Type::SERVER_STREAMING
                                         : ServerRpcInfo::Type::UNARY);
    Method& series = Find(absl::StrCat("/", service.full_name(), "/", method.name()), type);
    for (size_t code = 0; code < kCodeNames.size(); ++code) {
      HandledCounter(series, static_cast<grpc::StatusCode>(code));
    }
  }
}

void GrpcServerMetrics::RecordedByService(const google::protobuf::ServiceDescriptor& service) {
  std::unique_lock lock(mu_);
  self_recorded_.push_back(absl::StrCat("/", service.full_name(), "/"));
}

namespace {

// One per call: created when gRPC matches the call to a method, before the handler runs.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcServerMetrics& metrics, GrpcServerMetrics::Method& series)
      : metrics_(metrics), series_(series), start_(std::chrono::steady_clock::now()) {
    GrpcServerMetrics::Started(series_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      // Before Proceed(), so a client holding its answer also finds the call counted.
      metrics_.Handled(
          series_, methods->GetSendStatus().error_code(),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  GrpcServerMetrics& metrics_;
  GrpcServerMetrics::Method& series_;
  const std::chrono::steady_clock::time_point start_;
};

// Owned by the grpc::Server, which keeps it until its last call is gone; `metrics` outlives both.
class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  MetricsInterceptorFactory(GrpcServerMetrics& metrics, std::vector<std::string> skipped)
      : metrics_(metrics), skipped_(std::move(skipped)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    if (info->method() == nullptr) return nullptr;
    const absl::string_view method = info->method();
    for (const std::string& prefix : skipped_) {
      if (absl::StartsWith(method, prefix)) return nullptr;
    }
    return new MetricsInterceptor(metrics_, metrics_.Find(method, info->type()));
  }

 private:
  GrpcServerMetrics& metrics_;
  const std::vector<std::string> skipped_;  // "/pkg.Service/" of the self-recorded services
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcServerMetrics::MakeInterceptorFactory() {
  std::shared_lock lock(mu_);
  return std::make_unique<MetricsInterceptorFactory>(*this, self_recorded_);
}

}  // namespace advisor::telemetry
