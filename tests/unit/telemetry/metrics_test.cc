// lib/telemetry/metrics.h: the gRPC metrics interceptor against a real server on loopback (counts
// by method and code, go-grpc-prometheus names, concurrency, self-recording services) and the
// Prometheus exposer's port handling. Logging is in logging_test.cc.
#include "lib/telemetry/metrics.h"

#include <arpa/inet.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <prometheus/metric_family.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/telemetry/logging.h"
#include "tests/support/process.h"

namespace advisor::telemetry {
namespace {

using ::connectivity::advisor::v1::ConnectivityAdvisor;
using ::testing::HasSubstr;

constexpr char kService[] = "connectivity.advisor.v1.ConnectivityAdvisor";
constexpr absl::Duration kSlowCall = absl::Milliseconds(20);

// GetStrategy succeeds slowly enough to land above the 10 ms bucket; ReportOutcome always refuses.
class TestAdvisor final : public ConnectivityAdvisor::Service {
  grpc::Status GetStrategy(grpc::ServerContext*,
                           const connectivity::advisor::v1::GetStrategyRequest*,
                           connectivity::advisor::v1::GetStrategyResponse*) override {
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(kSlowCall));
    return grpc::Status::OK;
  }
  grpc::Status ReportOutcome(grpc::ServerContext*,
                             const connectivity::advisor::v1::ReportOutcomeRequest*,
                             connectivity::advisor::v1::ReportOutcomeResponse*) override {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad decision token");
  }
};

// A real server on loopback with the metrics interceptor, and a stub to call it.
class GrpcMetricsTest : public ::testing::Test {
 protected:
  void StartServer(bool initialize, bool recorded_by_service = false) {
    ASSERT_TRUE(exposer_.Start("127.0.0.1:0").ok());
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(kService);
    ASSERT_NE(service, nullptr);
    grpc_metrics_ = std::make_unique<GrpcServerMetrics>(*exposer_.registry());
    if (initialize) grpc_metrics_->Initialize(*service);
    if (recorded_by_service) grpc_metrics_->RecordedByService(*service);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
    factories.push_back(grpc_metrics_->MakeInterceptorFactory());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    builder.experimental().SetInterceptorCreators(std::move(factories));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    stub_ = ConnectivityAdvisor::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  grpc::Status CallGetStrategy() {
    grpc::ClientContext context;
    connectivity::advisor::v1::GetStrategyResponse response;
    return stub_->GetStrategy(&context, {}, &response);
  }
  grpc::Status CallReportOutcome() {
    grpc::ClientContext context;
    connectivity::advisor::v1::ReportOutcomeResponse response;
    return stub_->ReportOutcome(&context, {}, &response);
  }

  // The series of `family` with exactly `labels`, or nullptr.
  std::unique_ptr<prometheus::ClientMetric> Find(const std::string& family,
                                                 const prometheus::Labels& labels) {
    for (const prometheus::MetricFamily& f : exposer_.registry()->Collect()) {
      if (f.name != family) continue;
      for (const prometheus::ClientMetric& metric : f.metric) {
        prometheus::Labels have;
        for (const auto& label : metric.label) have[label.name] = label.value;
        if (have == labels) return std::make_unique<prometheus::ClientMetric>(metric);
      }
    }
    return nullptr;
  }
  double Started(const std::string& method) {
    auto metric = Find("grpc_server_started_total", MethodLabels(method));
    return metric == nullptr ? -1 : metric->counter.value;
  }
  double Handled(const std::string& method, const std::string& code) {
    prometheus::Labels labels = MethodLabels(method);
    labels["grpc_code"] = code;
    auto metric = Find("grpc_server_handled_total", labels);
    return metric == nullptr ? -1 : metric->counter.value;
  }
  static prometheus::Labels MethodLabels(const std::string& method) {
    return {{"grpc_type", "unary"}, {"grpc_service", kService}, {"grpc_method", method}};
  }

  MetricsExposer exposer_;
  TestAdvisor service_;
  std::unique_ptr<GrpcServerMetrics> grpc_metrics_;  // outlives server_
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ConnectivityAdvisor::Stub> stub_;
};

TEST_F(GrpcMetricsTest, CountsCallsByMethodAndCode) {
  StartServer(/*initialize=*/true);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(CallGetStrategy().ok());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(CallReportOutcome().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }

  EXPECT_EQ(Started("GetStrategy"), 3);
  EXPECT_EQ(Handled("GetStrategy", "OK"), 3);
  EXPECT_EQ(Handled("GetStrategy", "InvalidArgument"), 0);
  EXPECT_EQ(Started("ReportOutcome"), 2);
  EXPECT_EQ(Handled("ReportOutcome", "InvalidArgument"), 2);
  EXPECT_EQ(Handled("ReportOutcome", "OK"), 0);
  // Initialized but never called: every series exists at zero.
  EXPECT_EQ(Started("ListTurnServers"), 0);
  for (const char* code :
       {"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
        "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
        "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"}) {
    EXPECT_EQ(Handled("ListTurnServers", code), 0) << code;
  }

  auto histogram = Find("grpc_server_handling_seconds", MethodLabels("GetStrategy"));
  ASSERT_NE(histogram, nullptr);
  EXPECT_EQ(histogram->histogram.sample_count, 3u);
  EXPECT_GE(histogram->histogram.sample_sum, 3 * absl::ToDoubleSeconds(kSlowCall));
  const std::vector<double> bounds = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
  ASSERT_EQ(histogram->histogram.bucket.size(), bounds.size() + 1);
  for (size_t i = 0; i < bounds.size(); ++i) {
    EXPECT_DOUBLE_EQ(histogram->histogram.bucket[i].upper_bound, bounds[i]);
  }
  EXPECT_EQ(histogram->histogram.bucket[1].cumulative_count, 0u);  // every call took > 10 ms
  EXPECT_EQ(histogram->histogram.bucket.back().cumulative_count, 3u);
  auto refused = Find("grpc_server_handling_seconds", MethodLabels("ReportOutcome"));
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->histogram.sample_count, 2u);
}

TEST_F(GrpcMetricsTest, ScrapeShowsGoGrpcPrometheusNames) {
  StartServer(/*initialize=*/true);
  ASSERT_TRUE(CallGetStrategy().ok());
  ASSERT_FALSE(CallReportOutcome().ok());

  const std::string page = testing::HttpGet(exposer_.port(), "/metrics");
  ASSERT_THAT(page, HasSubstr("200 OK"));
  const std::string service = absl::StrCat("grpc_service=\"", kService, "\"");
  for (const std::string& line : {
           absl::StrCat("# TYPE grpc_server_started_total counter"),
           absl::StrCat("# TYPE grpc_server_handled_total counter"),
           absl::StrCat("# TYPE grpc_server_handling_seconds histogram"),
           absl::StrCat("grpc_server_started_total{grpc_method=\"GetStrategy\",", service,
                        ",grpc_type=\"unary\"} 1\n"),
           absl::StrCat("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"GetStrategy\",",
                        service, ",grpc_type=\"unary\"} 1\n"),
           absl::StrCat("grpc_server_handled_total{grpc_code=\"InvalidArgument\",",
                        "grpc_method=\"ReportOutcome\",", service, ",grpc_type=\"unary\"} 1\n"),
           absl::StrCat(
               "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"ListTurnServers\",",
               service, ",grpc_type=\"unary\"} 0\n"),
           absl::StrCat("grpc_server_handling_seconds_bucket{grpc_method=\"GetStrategy\",", service,
                        ",grpc_type=\"unary\",le=\"+Inf\"} 1\n"),
           absl::StrCat("grpc_server_handling_seconds_count{grpc_method=\"ReportOutcome\",",
                        service, ",grpc_type=\"unary\"} 1\n"),
       }) {
    EXPECT_THAT(page, HasSubstr(line));
  }
}

TEST_F(GrpcMetricsTest, WithoutInitializationSeriesAppearOnFirstCall) {
  StartServer(/*initialize=*/false);
  EXPECT_EQ(Started("GetStrategy"), -1);
  ASSERT_FALSE(CallReportOutcome().ok());
  EXPECT_EQ(Started("ReportOutcome"), 1);
  EXPECT_EQ(Handled("ReportOutcome", "InvalidArgument"), 1);
  EXPECT_EQ(Handled("ReportOutcome", "OK"), -1);  // codes get their series when first seen
  EXPECT_EQ(Started("GetStrategy"), -1);
}

TEST_F(GrpcMetricsTest, ConcurrentCallsAreAllCounted) {
  StartServer(/*initialize=*/false);
  constexpr int kThreads = 4, kCalls = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < kCalls; ++i) CallReportOutcome().IgnoreError();
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(Started("ReportOutcome"), kThreads * kCalls);
  EXPECT_EQ(Handled("ReportOutcome", "InvalidArgument"), kThreads * kCalls);
}

TEST(MetricsExposer, ServesOnAnEphemeralPort) {
  MetricsExposer exposer;
  EXPECT_EQ(exposer.port(), 0);
  ASSERT_TRUE(exposer.Start("127.0.0.1:0").ok());
  EXPECT_GT(exposer.port(), 0);
  EXPECT_THAT(testing::HttpGet(exposer.port(), "/metrics"), HasSubstr("200 OK"));
  EXPECT_EQ(exposer.Start("127.0.0.1:0").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(MetricsExposer, StopsPromptly) {
  auto exposer = std::make_unique<MetricsExposer>();
  ASSERT_TRUE(exposer->Start("0.0.0.0:0").ok());
  absl::SleepFor(absl::Milliseconds(50));  // let CivetWeb's listener enter its 2 s poll()
  const absl::Time start = absl::Now();
  exposer.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST(MetricsExposer, BusyPortIsAClearError) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string busy = absl::StrCat("127.0.0.1:", ntohs(address.sin_port));

  MetricsExposer exposer;
  const absl::Status status = exposer.Start(busy);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr(busy));
  EXPECT_EQ(exposer.port(), 0);
  close(fd);
}

TEST_F(GrpcMetricsTest, ServiceThatRecordsItselfIsNotInterceptedAndRecordsDirectly) {
  StartServer(/*initialize=*/true, /*recorded_by_service=*/true);
  ASSERT_TRUE(CallGetStrategy().ok());
  EXPECT_EQ(Started("GetStrategy"), 0) << "the interceptor counted a self-recorded call";
  EXPECT_EQ(Handled("GetStrategy", "OK"), 0);

  GrpcServerMetrics::Method& method =
      grpc_metrics_->Find(absl::StrCat("/", kService, "/GetStrategy"));
  GrpcServerMetrics::Started(method);
  grpc_metrics_->Handled(method, grpc::StatusCode::DEADLINE_EXCEEDED, 0.02);
  EXPECT_EQ(Started("GetStrategy"), 1);
  EXPECT_EQ(Handled("GetStrategy", "DeadlineExceeded"), 1);
  auto histogram = Find("grpc_server_handling_seconds", MethodLabels("GetStrategy"));
  ASSERT_NE(histogram, nullptr);
  EXPECT_EQ(histogram->histogram.sample_count, 1u);
  EXPECT_DOUBLE_EQ(histogram->histogram.sample_sum, 0.02);
}

}  // namespace
}  // namespace advisor::telemetry
