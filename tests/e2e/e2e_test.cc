// The real binaries: advisor-server as a process (migrate, serve, SIGTERM) and advisorctl, over
// real sockets, with a real PostgreSQL.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace advisor {
namespace {

const std::string kServer = ADVISOR_BINARY_DIR "/services/advisor/advisor-server";
const std::string kCtl = ADVISOR_BINARY_DIR "/services/advisorctl/advisorctl";

class EndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new testing::PostgresCluster();
    ASSERT_TRUE(cluster_->Init().ok());
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    dir_ = testing::MakeTempDir("advisor-e2e");
    port_ = testing::FreePort();
    metrics_port_ = testing::FreePort();
    // Keys and JWT come from advisorctl itself, as an operator would make them (ES256, so the EC
    // path is the one exercised end to end).
    std::string jwks;
    auto generated = testing::Run({kCtl, "gen-keys", "--alg", "ES256", "--kid", "e2e"}, &jwks);
    ASSERT_TRUE(generated.ok() && *generated == 0) << jwks;
    keys_file_ = dir_ + "/jwks.json";
    std::ofstream(keys_file_) << jwks;
    std::string jwt;
    auto minted = testing::Run(
        {kCtl, "mint-jwt", "--keys-file", keys_file_, "--sub", "e2e", "--scope", "advisor.admin"},
        &jwt);
    ASSERT_TRUE(minted.ok() && *minted == 0) << jwt;
    jwt_ = std::string(absl::StripAsciiWhitespace(jwt));
  }
  void TearDown() override {
    server_.Stop(SIGKILL, absl::Seconds(5));
    testing::RemoveTree(dir_);
  }

  std::vector<std::string> Env() const {
    return {"ADVISOR_DATABASE_URL=" + cluster_->url(),
            absl::StrCat("ADVISOR_LISTEN=127.0.0.1:", port_),
            absl::StrCat("ADVISOR_METRICS_LISTEN=127.0.0.1:", metrics_port_),
            "ADVISOR_TOKEN_KEY=end-to-end-test-key-0123456789",
            "ADVISOR_INSECURE=true",
            "ADVISOR_AUTH_KEYS_FILE=" + keys_file_,
            "ADVISOR_FLUSH_INTERVAL=1h",
            "ADVISOR_SNAPSHOT_INTERVAL=1s"};
  }
  std::vector<std::string> ServerEnv() const {
    std::vector<std::string> env = Env();
    env.insert(env.end(), extra_env_.begin(), extra_env_.end());
    return env;
  }

  void StartServer() {
    std::string out;
    auto migrated = testing::Run({kServer, "migrate"}, &out, Env());
    ASSERT_TRUE(migrated.ok());
    ASSERT_EQ(*migrated, 0) << out;
    ASSERT_TRUE(server_.Start({kServer, "serve"}, dir_ + "/server.log", ServerEnv()).ok());
    ASSERT_TRUE(testing::WaitForPort(port_, absl::Seconds(20)))
        << testing::ReadFile(dir_ + "/server.log");
  }

  // Runs advisorctl against the server with the test's JWT (in ADVISOR_JWT, or none); returns
  // the exit code, output in *out.
  int Ctl(std::vector<std::string> args, std::string* out, bool with_jwt = true) {
    args.insert(args.begin(), {kCtl, absl::StrCat("--target=127.0.0.1:", port_), "--insecure"});
    auto code = testing::Run(args, out, {with_jwt ? "ADVISOR_JWT=" + jwt_ : "ADVISOR_JWT="});
    return code.ok() ? *code : -1;
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", "Bearer " + jwt_);
    return context;
  }

  std::string Target() const { return absl::StrCat("127.0.0.1:", port_); }

  static testing::PostgresCluster* cluster_;
  std::string dir_;
  std::string keys_file_;
  std::string jwt_;
  std::vector<std::string> extra_env_;  // more server settings, for one test
  int port_ = 0;
  int metrics_port_ = 0;
  testing::ChildProcess server_;
};

testing::PostgresCluster* EndToEnd::cluster_ = nullptr;

TEST_F(EndToEnd, HelpOnEveryBinary) {
  for (const std::string& binary : {kServer, kCtl}) {
    std::string out;
    auto code = testing::Run({binary, "--help"}, &out);
    ASSERT_TRUE(code.ok());
    EXPECT_EQ(*code, 0) << binary;
    EXPECT_NE(out.find("usage"), std::string::npos) << out;
  }
  std::string out;
  testing::Run({kServer, "--help"}, &out).IgnoreError();
  for (const char* setting :
       {"ADVISOR_DATABASE_URL", "ADVISOR_LISTEN", "ADVISOR_METRICS_LISTEN", "ADVISOR_TOKEN_KEY",
        "ADVISOR_AUTH_KEYS_FILE", "ADVISOR_ALLOW_ANONYMOUS", "ADVISOR_RATE_LIMIT",
        "--flush-interval"}) {
    EXPECT_NE(out.find(setting), std::string::npos) << setting;
  }
}

TEST_F(EndToEnd, BadConfigurationIsReportedClearly) {
  std::string out;
  auto code = testing::Run({kServer, "serve"}, &out, {"ADVISOR_DATABASE_URL="});
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2);
  EXPECT_NE(out.find("--database-url"), std::string::npos) << out;

  code = testing::Run({kServer, "--flush-interval=soon"}, &out,
                      {"ADVISOR_DATABASE_URL=" + cluster_->url()});
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2);
  EXPECT_NE(out.find("--flush-interval"), std::string::npos) << out;

  code = testing::Run({kServer}, &out,
                      {"ADVISOR_DATABASE_URL=" + cluster_->url(), "ADVISOR_LISTEN=nowhere"});
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2);
  EXPECT_NE(out.find("ADVISOR_LISTEN"), std::string::npos) << out;
}

TEST_F(EndToEnd, TheServerRefusesToStartWithoutACertificateUnlessInsecure) {
  std::vector<std::string> env = Env();
  std::erase_if(env, [](const std::string& v) { return v.starts_with("ADVISOR_INSECURE="); });
  std::string out;
  auto code = testing::Run({kServer, "serve"}, &out, env);
  ASSERT_TRUE(code.ok());
  EXPECT_NE(*code, 0);
  EXPECT_NE(out.find("--tls-cert-file"), std::string::npos) << out;
  EXPECT_NE(out.find("--insecure"), std::string::npos) << out;

  env.push_back("ADVISOR_TLS_CERT_FILE=" + dir_ + "/missing.pem");
  env.push_back("ADVISOR_TLS_KEY_FILE=" + dir_ + "/missing.key");
  code = testing::Run({kServer, "serve"}, &out, env);
  ASSERT_TRUE(code.ok());
  EXPECT_NE(*code, 0);
  EXPECT_NE(out.find("--tls-cert-file " + dir_ + "/missing.pem: cannot read"), std::string::npos)
      << out;
}

TEST_F(EndToEnd, TokenKeyComesFromAFileOrTheVariableNotBoth) {
  const std::string key_file = dir_ + "/token.key";
  std::ofstream(key_file) << "end-to-end-key-from-a-file-0123\n";
  std::string out;
  auto code = testing::Run({kServer, "serve", "--token-key-file", key_file}, &out, Env());
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2);
  EXPECT_NE(out.find("--token-key-file and --token-key"), std::string::npos) << out;

  extra_env_ = {"ADVISOR_TOKEN_KEY=", "ADVISOR_TOKEN_KEY_FILE=" + key_file};
  StartServer();
  EXPECT_EQ(Ctl({"get-strategy", "--local", "open", "--remote", "open"}, &out), 0) << out;
  EXPECT_EQ(testing::ReadFile(dir_ + "/server.log").find("end-to-end-key-from-a-file"),
            std::string::npos);
}

TEST_F(EndToEnd, AdvisorctlTalksToTheServer) {
  StartServer();
  std::string out;
  ASSERT_EQ(Ctl({"get-strategy", "--local", "full_cone", "--remote", "symmetric"}, &out), 0) << out;
  EXPECT_NE(out.find("turn_fallback"), std::string::npos) << out;
  EXPECT_NE(out.find("5000 ms"), std::string::npos) << out;

  ASSERT_EQ(Ctl({"--json", "get-strategy", "--local", "blocked", "--remote", "open"}, &out), 0);
  EXPECT_NE(out.find("\"strategy\": \"STRATEGY_TURN_ONLY\""), std::string::npos) << out;
  const size_t at = out.find("\"decisionToken\": \"");
  ASSERT_NE(at, std::string::npos) << out;
  const size_t start = at + std::string("\"decisionToken\": \"").size();
  const std::string token = out.substr(start, out.find('"', start) - start);

  ASSERT_EQ(Ctl({"report", "--token", token, "--connected", "--time-to-connect", "900",
                 "--attempts", "relay:succeeded:900:tcp"},
                &out),
            0)
      << out;
  EXPECT_NE(out.find("report accepted"), std::string::npos);

  EXPECT_EQ(Ctl({"report", "--token", token, "--connected", "--time-to-connect", "900",
                 "--attempts", "relay:failed:900"},
                &out),
            1);
  EXPECT_NE(out.find("connected"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"get-strategy", "--local", "carrier_grade", "--remote", "open"}, &out), 2);
  EXPECT_NE(out.find("--local"), std::string::npos) << out;

  ASSERT_EQ(Ctl({"turn-servers"}, &out), 0) << out;
  ASSERT_EQ(Ctl({"health"}, &out), 0) << out;
  EXPECT_NE(out.find("SERVING"), std::string::npos);

  // Without a JWT only health answers, and the refusal says what is missing.
  EXPECT_NE(Ctl({"get-strategy", "--local", "open", "--remote", "open"}, &out, false), 0);
  EXPECT_NE(out.find("authorization"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"health"}, &out, false), 0) << out;
}

TEST_F(EndToEnd, TheServerRefusesToStartWithoutClientKeys) {
  std::vector<std::string> env = Env();
  std::erase_if(env, [](const std::string& v) { return v.starts_with("ADVISOR_AUTH_KEYS_FILE="); });
  std::string out;
  auto code = testing::Run({kServer, "serve"}, &out, env);
  ASSERT_TRUE(code.ok());
  EXPECT_NE(*code, 0);
  EXPECT_NE(out.find("--auth-keys-file"), std::string::npos) << out;
  EXPECT_NE(out.find("--allow-anonymous"), std::string::npos) << out;
}

TEST_F(EndToEnd, HealthAndReflectionAnswer) {
  StartServer();
  auto channel = grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials());
  grpc::health::v1::HealthCheckResponse health;
  grpc::ClientContext health_context;
  ASSERT_TRUE(grpc::health::v1::Health::NewStub(channel)
                  ->Check(&health_context, grpc::health::v1::HealthCheckRequest(), &health)
                  .ok());
  EXPECT_EQ(health.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  auto stream = reflection->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> services;
  for (const auto& service : response.list_services_response().service()) {
    services.push_back(service.name());
  }
  EXPECT_THAT(services, ::testing::Contains("connectivity.advisor.v1.ConnectivityAdvisor"));
  EXPECT_THAT(services, ::testing::Contains("grpc.health.v1.Health"));

  request.set_file_containing_symbol("connectivity.advisor.v1.ConnectivityAdvisor");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_GT(response.file_descriptor_response().file_descriptor_proto_size(), 0);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(EndToEnd, MetricsAreExposedWithGrpcEcosystemNames) {
  StartServer();
  std::string out;
  ASSERT_EQ(Ctl({"get-strategy", "--local", "open", "--remote", "open"}, &out), 0);
  auto curl = testing::Run(
      {"/usr/bin/curl", "-sf", absl::StrCat("http://127.0.0.1:", metrics_port_, "/metrics")}, &out);
  ASSERT_TRUE(curl.ok());
  ASSERT_EQ(*curl, 0);
  EXPECT_NE(out.find("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"GetStrategy\","
                     "grpc_service=\"connectivity.advisor.v1.ConnectivityAdvisor\","
                     "grpc_type=\"unary\"} 1"),
            std::string::npos)
      << out;
  for (const char* name :
       {"grpc_server_started_total", "grpc_server_handling_seconds_bucket",
        "advisor_decisions_total", "advisor_snapshot_age_seconds", "advisor_pending_reports",
        "advisor_nat_types_reported_total", "advisor_flushes_total",
        "advisor_requests_refused_total{method=\"ReportOutcome\",reason=\"implausible\"} 0",
        "advisor_reports_duplicate_total 0", "advisor_reports_capped_total 0",
        "advisor_turn_credentials_issued_total 0"}) {
    EXPECT_NE(out.find(name), std::string::npos) << name;
  }
}

TEST_F(EndToEnd, SigtermFlushesEveryAcknowledgedReport) {
  // One client sends all 200 reports: neither its rate limit nor its share of the pair may hide a
  // lost report here.
  extra_env_ = {"ADVISOR_RATE_LIMIT=0", "ADVISOR_MAX_REPORTS_PER_IDENTITY=0"};
  StartServer();
  ASSERT_TRUE(cluster_->Query("TRUNCATE outcome_aggregates, applied_flushes").ok());
  auto stub = connectivity::advisor::v1::ConnectivityAdvisor::NewStub(
      grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials()));
  int acknowledged = 0;
  for (int i = 0; i < 200; ++i) {
    connectivity::advisor::v1::GetStrategyRequest get;
    connectivity::advisor::v1::GetStrategyResponse decision;
    ASSERT_TRUE(stub->GetStrategy(Context().get(), get, &decision).ok());
    connectivity::advisor::v1::ReportOutcomeRequest report;
    report.set_decision_token(decision.decision_token());
    auto* direct = report.add_attempts();
    direct->set_path(connectivity::advisor::v1::PATH_DIRECT);
    direct->set_result(connectivity::advisor::v1::ATTEMPT_RESULT_SUCCEEDED);
    direct->set_duration_ms(1000 + i);
    report.set_connected(true);
    report.set_time_to_connect_ms(1000 + i);
    connectivity::advisor::v1::ReportOutcomeResponse ack;
    if (stub->ReportOutcome(Context().get(), report, &ack).ok()) ++acknowledged;
  }
  ASSERT_EQ(acknowledged, 200);
  const int status = server_.Stop(SIGTERM, absl::Seconds(30));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << testing::ReadFile(dir_ + "/server.log");
  auto sessions = cluster_->Query("SELECT sum(sessions) FROM outcome_aggregates");
  ASSERT_TRUE(sessions.ok());
  EXPECT_EQ(*sessions, "200");
}

}  // namespace
}  // namespace advisor
