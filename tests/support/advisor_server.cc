#include "tests/support/advisor_server.h"

#include <grpcpp/generic/generic_stub.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/auth/jwt.h"
#include "tests/support/process.h"

namespace advisor::testing {

absl::StatusOr<TestKeys> TestKeys::Create(const std::string& dir) {
  absl::StatusOr<std::string> jwks = auth::GenerateJwks("HS256", "test");
  if (!jwks.ok()) return jwks.status();
  TestKeys keys;
  keys.path_ = absl::StrCat(dir, "/jwks.json");
  std::ofstream(keys.path_) << *jwks;
  absl::StatusOr<auth::KeySet> parsed = auth::KeySet::FromFile(keys.path_);
  if (!parsed.ok()) return parsed.status();
  keys.keys_ = *std::move(parsed);
  return keys;
}

std::string TestKeys::Jwt(const std::string& subject, std::vector<std::string> scopes) const {
  auto jwt = auth::MintJwt(keys_, {.subject = subject,
                                   .scopes = std::move(scopes),
                                   .issued_at = absl::Now(),
                                   .ttl = absl::Hours(1)});
  EXPECT_TRUE(jwt.ok()) << jwt.status();
  return jwt.ok() ? *jwt : "";
}

Client::Client(const std::string& target, std::string jwt) : jwt_(std::move(jwt)) {
  // A channel of its own: clients must not share one connection through gRPC's subchannel pool.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::ConnectivityAdvisor::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> Client::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!jwt_.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", jwt_));
  return context;
}

grpc::Status Client::GetStrategy(v1::NatType local, v1::NatType remote,
                                 v1::GetStrategyResponse& out) {
  v1::GetStrategyRequest request;
  request.mutable_local()->set_nat_type(local);
  request.mutable_local()->set_confidence(1);
  request.mutable_remote()->set_nat_type(remote);
  request.mutable_remote()->set_confidence(1);
  out.Clear();
  return stub_->GetStrategy(Context().get(), request, &out);
}

grpc::Status Client::Report(const v1::ReportOutcomeRequest& request) {
  v1::ReportOutcomeResponse response;
  return stub_->ReportOutcome(Context().get(), request, &response);
}

grpc::Status Client::ListTurnServers(v1::ListTurnServersResponse& out) {
  return stub_->ListTurnServers(Context().get(), v1::ListTurnServersRequest(), &out);
}

grpc::Status Client::SendRaw(const std::string& method, const std::string& bytes) {
  grpc::GenericStub stub(channel_);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::Status status;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  auto context = Context();
  stub.UnaryCall(context.get(),
                 absl::StrCat("/connectivity.advisor.v1.ConnectivityAdvisor/", method),
                 grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
                   std::lock_guard lock(mu);
                   status = std::move(s);
                   done = true;
                   cv.notify_one();
                 });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done; });
  return status;
}

v1::ReportOutcomeRequest SessionReport(const v1::GetStrategyResponse& answer, bool direct_ok,
                                       uint32_t direct_ms) {
  v1::ReportOutcomeRequest request;
  request.set_decision_token(answer.decision_token());
  uint32_t elapsed = 0;
  if (answer.strategy() != v1::STRATEGY_TURN_ONLY) {
    v1::Attempt& direct = *request.add_attempts();
    direct.set_path(v1::PATH_DIRECT);
    direct.set_result(direct_ok ? v1::ATTEMPT_RESULT_SUCCEEDED : v1::ATTEMPT_RESULT_TIMED_OUT);
    direct.set_duration_ms(direct_ok ? direct_ms : answer.direct_timeout_ms());
    elapsed = direct.duration_ms();
    if (direct_ok) {
      request.set_connected(true);
      request.set_time_to_connect_ms(elapsed);
      return request;
    }
  }
  v1::Attempt& relay = *request.add_attempts();
  relay.set_path(v1::PATH_RELAY);
  relay.set_result(v1::ATTEMPT_RESULT_SUCCEEDED);
  relay.set_duration_ms(700);
  request.set_connected(true);
  request.set_time_to_connect_ms(elapsed + 700);
  return request;
}

void AdvisorServerTest::SetUpTestSuite() {
  PostgresSuite::SetUpTestSuite();
  migrated_ = false;
}

void AdvisorServerTest::SetUp() {
  ASSERT_NO_FATAL_FAILURE(PostgresSuite::SetUp());
  if (!migrated_) {
    const absl::StatusOr<int> applied = store::Migrate(cluster().url());
    ASSERT_TRUE(applied.ok()) << applied.status();
    migrated_ = true;
  }
  ASSERT_TRUE(
      cluster().Query("TRUNCATE outcome_aggregates, applied_flushes, used_decision_tokens").ok());
  dir_ = MakeTempDir("advisor-server-test");
  auto keys = TestKeys::Create(dir_);
  ASSERT_TRUE(keys.ok()) << keys.status();
  keys_ = *std::move(keys);
  options_.listen = "127.0.0.1:0";
  options_.metrics_listen = "127.0.0.1:0";
  options_.insecure = true;
  options_.token_key = "integration-test-key-0123456789";
  options_.auth_keys_file = keys_.path();
  options_.snapshot_interval = absl::Milliseconds(200);
  options_.flush_interval = absl::Milliseconds(100);
  options_.max_flush_backoff = absl::Milliseconds(400);
}

void AdvisorServerTest::TearDown() {
  replicas_.clear();
  server_.reset();
  RemoveTree(dir_);
}

void AdvisorServerTest::StartServer() {
  auto server = AdvisorServer::Start(options_, std::make_shared<store::PgStore>(cluster().url()),
                                     std::make_shared<store::PgStore>(cluster().url()));
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
}

std::unique_ptr<AdvisorServer> AdvisorServerTest::StartReplica(const ServerOptions& options) {
  auto server = AdvisorServer::Start(options, std::make_shared<store::PgStore>(cluster().url()),
                                     std::make_shared<store::PgStore>(cluster().url()));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::string AdvisorServerTest::target(const AdvisorServer& server) const {
  return absl::StrCat("127.0.0.1:", server.port());
}

std::string AdvisorServerTest::Jwt(const std::string& subject,
                                   std::vector<std::string> scopes) const {
  return keys_.Jwt(subject, std::move(scopes));
}

Client AdvisorServerTest::ClientOf(const std::string& subject, std::vector<std::string> scopes,
                                   const AdvisorServer* server) const {
  return Client(target(server != nullptr ? *server : *server_),
                subject.empty() ? "" : Jwt(subject, std::move(scopes)));
}

int64_t AdvisorServerTest::SessionsInDatabase() const {
  auto out = cluster().Query("SELECT coalesce(sum(sessions), 0) FROM outcome_aggregates");
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? std::stoll(*out) : -1;
}

double AdvisorServerTest::Metric(const std::string& series) const {
  const std::string body = HttpGet(server_->metrics_port(), "/metrics");
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (!absl::StartsWith(line, series) || line.size() <= series.size() ||
        line[series.size()] != ' ') {
      continue;
    }
    double value = 0;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) return value;
  }
  return 0;
}

}  // namespace advisor::testing
