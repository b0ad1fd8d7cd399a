// What an attacker who can reach the port can and cannot do, against a real advisor-server, real
// PostgreSQL and real gRPC channels, with the documented defaults unless a test says otherwise.
// Each test is one row of the README's security model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "lib/auth/jwt.h"
#include "lib/config/turn_servers.h"
#include "services/advisor/validation.h"
#include "tests/support/advisor_server.h"

namespace advisor {
namespace {

namespace v1 = connectivity::advisor::v1;
using testing::Client;
using ::testing::HasSubstr;
using testing::SessionReport;

// A session in which nothing worked: the direct attempt ran to the advised timeout, the relay
// failed.
v1::ReportOutcomeRequest TotalFailure(const v1::GetStrategyResponse& answer) {
  v1::ReportOutcomeRequest request;
  request.set_decision_token(answer.decision_token());
  if (answer.strategy() != v1::STRATEGY_TURN_ONLY) {
    v1::Attempt& direct = *request.add_attempts();
    direct.set_path(v1::PATH_DIRECT);
    direct.set_result(v1::ATTEMPT_RESULT_TIMED_OUT);
    direct.set_duration_ms(answer.direct_timeout_ms());
  }
  v1::Attempt& relay = *request.add_attempts();
  relay.set_path(v1::PATH_RELAY);
  relay.set_result(v1::ATTEMPT_RESULT_FAILED);
  relay.set_duration_ms(700);
  return request;
}

class AbuseTest : public testing::AdvisorServerTest {
 protected:
  // The advice a fresh client gets for open × open now.
  v1::GetStrategyResponse OpenPair() {
    v1::GetStrategyResponse answer;
    EXPECT_TRUE(
        ClientOf("observer").GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).ok());
    return answer;
  }

  // Lets every acknowledged report reach PostgreSQL and a few snapshots load from it.
  void SettleAndReload() {
    EXPECT_TRUE(Eventually([&] { return server_->held_reports() == 0; }));
    absl::SleepFor(options_.snapshot_interval * 3 + options_.flush_interval * 2);
  }

  // `identities` × `per_identity` attempts at a session of open × open reported as a total
  // failure, as fast as the server lets each identity go. Returns the reports acknowledged.
  int Attack(int identities, int per_identity) {
    std::vector<Client> clients;
    for (int i = 0; i < identities; ++i) clients.push_back(ClientOf(absl::StrCat("attacker-", i)));
    int acknowledged = 0;
    for (int round = 0; round < per_identity; ++round) {
      for (Client& client : clients) {
        v1::GetStrategyResponse answer;
        if (!client.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).ok()) continue;
        acknowledged += client.Report(TotalFailure(answer)).ok();
      }
    }
    return acknowledged;
  }

  void ExpectUnchanged(const v1::GetStrategyResponse& before) {
    const v1::GetStrategyResponse after = OpenPair();
    EXPECT_EQ(after.strategy(), before.strategy());
    EXPECT_LE(std::abs(static_cast<double>(after.direct_timeout_ms()) -
                       static_cast<double>(before.direct_timeout_ms())),
              0.1 * before.direct_timeout_ms())
        << "timeout moved from " << before.direct_timeout_ms() << " to "
        << after.direct_timeout_ms();
  }
};

TEST_F(AbuseTest, OneTokenReportedTenThousandTimesCountsOnce) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const v1::GetStrategyResponse before = OpenPair();
  Client attacker = ClientOf("attacker");
  v1::GetStrategyResponse answer;
  ASSERT_TRUE(attacker.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).ok());
  const v1::ReportOutcomeRequest report = TotalFailure(answer);
  int ok = 0, limited = 0;
  for (int i = 0; i < 10'000; ++i) {
    const grpc::Status status = attacker.Report(report);
    ok += status.ok();
    limited += status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
  }
  EXPECT_EQ(ok + limited, 10'000);
  EXPECT_GT(limited, 0) << "the per-identity rate limit (10/s) never applied";
  SettleAndReload();
  EXPECT_EQ(SessionsInDatabase(), 1);
  EXPECT_EQ(Metric("advisor_reports_duplicate_total"), ok - 1);
  ExpectUnchanged(before);
}

TEST_F(AbuseTest, WithoutTheRateLimitOneTokenStillCountsOnce) {
  options_.clients.rate_limit = 0;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Client attacker = ClientOf("attacker");
  v1::GetStrategyResponse answer;
  ASSERT_TRUE(attacker.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).ok());
  const v1::ReportOutcomeRequest report = TotalFailure(answer);
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(attacker.Report(report).ok()) << i;
  SettleAndReload();
  EXPECT_EQ(SessionsInDatabase(), 1);
  EXPECT_EQ(Metric("advisor_reports_duplicate_total"), 9'999);
}

TEST_F(AbuseTest, TokensCountOnceAcrossReplicasAndRestarts) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::unique_ptr<AdvisorServer> replica = StartReplica(options_);
  ASSERT_NE(replica, nullptr);
  Client first = ClientOf("app");
  Client second = ClientOf("app", {}, replica.get());
  v1::GetStrategyResponse answer;
  ASSERT_TRUE(first.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).ok());
  const v1::ReportOutcomeRequest report = SessionReport(answer, true);
  ASSERT_TRUE(first.Report(report).ok());
  ASSERT_TRUE(Eventually([&] { return SessionsInDatabase() == 1; }));
  ASSERT_TRUE(second.Report(report).ok()) << "a retry to another replica answers OK";
  ASSERT_TRUE(Eventually([&] { return replica->held_reports() == 0; }));
  ASSERT_TRUE(replica->Shutdown().ok());
  ASSERT_TRUE(server_->Shutdown().ok());
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_TRUE(ClientOf("app").Report(report).ok()) << "and so does one after a restart";
  ASSERT_TRUE(Eventually([&] { return server_->held_reports() == 0; }));
  EXPECT_EQ(SessionsInDatabase(), 1);
  EXPECT_EQ(Metric("advisor_reports_duplicate_total"), 1);
}

TEST_F(AbuseTest, OneIdentityWithThreeThousandFreshTokensCannotSteerAPair) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const v1::GetStrategyResponse before = OpenPair();
  Attack(1, 3'000);
  SettleAndReload();
  EXPECT_LE(SessionsInDatabase(), options_.clients.max_reports_per_identity);
  ExpectUnchanged(before);
}

TEST_F(AbuseTest, TheReportCapHoldsWithoutTheRateLimit) {
  options_.clients.rate_limit = 0;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const v1::GetStrategyResponse before = OpenPair();
  EXPECT_EQ(Attack(1, 3'000), 3'000) << "every report is answered OK";
  SettleAndReload();
  EXPECT_EQ(SessionsInDatabase(), options_.clients.max_reports_per_identity);
  EXPECT_EQ(Metric("advisor_reports_capped_total"),
            3'000 - options_.clients.max_reports_per_identity);
  ExpectUnchanged(before);
}

TEST_F(AbuseTest, FiveIdentitiesTogetherCannotSteerAPair) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const v1::GetStrategyResponse before = OpenPair();
  Attack(5, 600);
  SettleAndReload();
  EXPECT_LE(SessionsInDatabase(), 5 * options_.clients.max_reports_per_identity);
  ExpectUnchanged(before);
}

TEST_F(AbuseTest, FiveIdentitiesWithoutTheRateLimitCannotSteerAPairEither) {
  options_.clients.rate_limit = 0;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const v1::GetStrategyResponse before = OpenPair();
  EXPECT_EQ(Attack(5, 600), 3'000);
  SettleAndReload();
  EXPECT_EQ(SessionsInDatabase(), 5 * options_.clients.max_reports_per_identity);
  ExpectUnchanged(before);
}

TEST_F(AbuseTest, FourHundredHonestInstallsStillMoveTheAdvice) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const v1::GetStrategyResponse before = OpenPair();
  ASSERT_EQ(before.strategy(), v1::STRATEGY_DIRECT);
  for (int i = 0; i < 400; ++i) {
    Client install = ClientOf(absl::StrCat("install-", i));
    v1::GetStrategyResponse answer;
    ASSERT_TRUE(install.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).ok());
    ASSERT_TRUE(install.Report(SessionReport(answer, /*direct_ok=*/false)).ok());
  }
  ASSERT_TRUE(Eventually([&] { return SessionsInDatabase() == 400; }));
  // Protection must not freeze learning: within a few reloads the pair stops going direct first
  // for 15 s.
  v1::GetStrategyResponse after;
  EXPECT_TRUE(Eventually(
      [&] {
        after = OpenPair();
        return after.strategy() != before.strategy() ||
               after.direct_timeout_ms() != before.direct_timeout_ms();
      },
      options_.snapshot_interval * 10))
      << "still " << after.strategy() << " " << after.direct_timeout_ms() << " ms";
}

TEST_F(AbuseTest, CallsWithoutAValidJwtAreUnauthenticatedButHealthIsOpen) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  v1::GetStrategyResponse answer;
  grpc::Status none = ClientOf("").GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(none.error_message(), HasSubstr("authorization: missing"));

  std::string forged = Jwt("app");
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  grpc::Status bad =
      Client(target(*server_), forged).GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  auto expired = auth::MintJwt(
      keys_.keys(),
      {.subject = "app", .issued_at = absl::Now() - absl::Hours(2), .ttl = absl::Hours(1)});
  ASSERT_TRUE(expired.ok());
  grpc::Status late =
      Client(target(*server_), *expired).GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(late.error_message(), HasSubstr("expired"));

  auto other_audience = auth::MintJwt(
      keys_.keys(), {.subject = "app", .audience = "another-service", .issued_at = absl::Now()});
  ASSERT_TRUE(other_audience.ok());
  EXPECT_EQ(Client(target(*server_), *other_audience)
                .GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Metric("advisor_requests_refused_total{method=\"GetStrategy\",reason="
                   "\"unauthenticated\"}"),
            4);

  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(target(*server_), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckResponse serving;
  ASSERT_TRUE(health->Check(&context, {}, &serving).ok());
  EXPECT_EQ(serving.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(AbuseTest, ForgedJwtsFromOneAddressStopCostingSignatureChecks) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Client honest = ClientOf("honest");
  v1::GetStrategyResponse answer;
  ASSERT_TRUE(honest.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).ok());
  // A token with a known kid and a wrong signature: each one reaching the verifier costs a check.
  std::string forged = Jwt("mallory");
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  Client attacker(target(*server_), forged);
  const absl::Time start = absl::Now();
  int checked = 0, cut_off = 0;
  for (int i = 0; i < 300; ++i) {
    const grpc::StatusCode code =
        attacker.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).error_code();
    checked += code == grpc::StatusCode::UNAUTHENTICATED;
    cut_off += code == grpc::StatusCode::RESOURCE_EXHAUSTED;
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  EXPECT_EQ(checked + cut_off, 300);
  // A burst of 5 × 10, then 10 a second.
  EXPECT_LE(checked, 50 + 10 * seconds + 1);
  EXPECT_GT(cut_off, 0);
  EXPECT_GT(Metric("advisor_requests_refused_total{method=\"GetStrategy\",reason="
                   "\"rate_limited\"}"),
            0);
  // A token the server verified before still works from that address: the cut-off costs those
  // clients nothing.
  EXPECT_TRUE(honest.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).ok());
}

TEST_F(AbuseTest, NoKeysFileMeansNoStartUnlessAnonymousIsAllowed) {
  options_.auth_keys_file.clear();
  auto refused = AdvisorServer::Start(options_, std::make_shared<store::PgStore>(cluster().url()),
                                      std::make_shared<store::PgStore>(cluster().url()));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--auth-keys-file"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--allow-anonymous"));

  // Anonymous callers are known by their address, so the limits still apply to them.
  options_.clients.allow_anonymous = true;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Client anonymous = ClientOf("");
  int limited = 0;
  for (int i = 0; i < 40; ++i) {
    v1::GetStrategyResponse answer;
    limited += anonymous.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).error_code() ==
               grpc::StatusCode::RESOURCE_EXHAUSTED;
  }
  EXPECT_GT(limited, 0);
}

TEST_F(AbuseTest, ATokenOfAnotherClientIsPermissionDenied) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  v1::GetStrategyResponse answer;
  ASSERT_TRUE(ClientOf("alice").GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).ok());
  grpc::Status stolen = ClientOf("mallory").Report(SessionReport(answer, true));
  EXPECT_EQ(stolen.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(stolen.error_message(), HasSubstr("another client"));
  EXPECT_TRUE(ClientOf("alice").Report(SessionReport(answer, true)).ok());
}

TEST_F(AbuseTest, ATokenHasOneSpelling) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Client client = ClientOf("app");
  v1::GetStrategyResponse answer;
  ASSERT_TRUE(client.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).ok());
  v1::ReportOutcomeRequest report = SessionReport(answer, true);
  // The MAC's 16 bytes take 22 base64url characters, the last carrying 4 unused bits: flipping one
  // of them leaves the decoded bytes alone, and so does padding.
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string spare_bits = answer.decision_token();
  spare_bits.back() = kAlphabet[kAlphabet.find(spare_bits.back()) ^ 1];
  for (const std::string& token : {answer.decision_token() + "==", spare_bits}) {
    report.set_decision_token(token);
    const grpc::Status status = client.Report(report);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << token;
    EXPECT_THAT(status.error_message(), HasSubstr("decision_token"));
  }
  report.set_decision_token(answer.decision_token());
  EXPECT_TRUE(client.Report(report).ok());
}

TEST_F(AbuseTest, ImplausibleReportsAreRefusedNamingTheRule) {
  options_.clients.rate_limit = 0;
  options_.snapshot.turn_servers = {};
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Client client = ClientOf("app");
  v1::GetStrategyResponse fallback, relay_only;
  ASSERT_TRUE(client.GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_SYMMETRIC, fallback).ok());
  ASSERT_EQ(fallback.strategy(), v1::STRATEGY_TURN_FALLBACK);
  ASSERT_TRUE(client.GetStrategy(v1::NAT_TYPE_SYMMETRIC, v1::NAT_TYPE_SYMMETRIC, relay_only).ok());
  ASSERT_EQ(relay_only.strategy(), v1::STRATEGY_TURN_ONLY);

  auto attempt = [](v1::ReportOutcomeRequest& r, v1::Path path, v1::AttemptResult result,
                    uint32_t ms) -> v1::Attempt& {
    v1::Attempt& a = *r.add_attempts();
    a.set_path(path);
    a.set_result(result);
    a.set_duration_ms(ms);
    return a;
  };
  // A report of the session `answer` began, connected after `time_to_connect_ms` (0: never).
  auto report = [](const v1::GetStrategyResponse& answer, uint32_t time_to_connect_ms) {
    v1::ReportOutcomeRequest r;
    r.set_decision_token(answer.decision_token());
    r.set_connected(time_to_connect_ms > 0);
    r.set_time_to_connect_ms(time_to_connect_ms);
    return r;
  };
  struct Case {
    std::string name;
    v1::ReportOutcomeRequest report;
    std::string field;
  };
  std::vector<Case> cases;
  {
    v1::ReportOutcomeRequest r = report(fallback, 900);
    cases.push_back({"connected with no attempts", r, "attempts:"});
  }
  {
    v1::ReportOutcomeRequest r = report(fallback, 100);
    attempt(r, v1::PATH_DIRECT, v1::ATTEMPT_RESULT_TIMED_OUT, 5000);
    attempt(r, v1::PATH_RELAY, v1::ATTEMPT_RESULT_SUCCEEDED, 900);
    cases.push_back({"connected in 100 ms after 5.9 s of attempts", r, "time_to_connect_ms:"});
  }
  {
    v1::ReportOutcomeRequest r = report(fallback, 1000);
    attempt(r, v1::PATH_DIRECT, v1::ATTEMPT_RESULT_SUCCEEDED, 1000);
    attempt(r, v1::PATH_RELAY, v1::ATTEMPT_RESULT_SUCCEEDED, 900);
    cases.push_back({"two successful attempts", r, "attempts[1].result:"});
  }
  {
    v1::ReportOutcomeRequest r = report(relay_only, 100);
    for (int i = 0; i < 16; ++i) attempt(r, v1::PATH_RELAY, v1::ATTEMPT_RESULT_SUCCEEDED, 100);
    cases.push_back({"16 relay successes", r, "attempts:"});
  }
  {
    v1::ReportOutcomeRequest r = report(fallback, 5900);
    attempt(r, v1::PATH_DIRECT, v1::ATTEMPT_RESULT_TIMED_OUT, 5000);
    attempt(r, v1::PATH_RELAY, v1::ATTEMPT_RESULT_SUCCEEDED, 900).set_turn_server_id("elsewhere");
    cases.push_back({"a relay the answer did not offer", r, "attempts[1].turn_server_id:"});
  }
  {
    v1::ReportOutcomeRequest r = report(relay_only, 5900);
    attempt(r, v1::PATH_DIRECT, v1::ATTEMPT_RESULT_TIMED_OUT, 5000);
    attempt(r, v1::PATH_RELAY, v1::ATTEMPT_RESULT_SUCCEEDED, 900);
    cases.push_back({"a direct attempt under TURN_ONLY", r, "attempts[0].path:"});
  }
  {
    v1::ReportOutcomeRequest r = report(fallback, 0);
    attempt(r, v1::PATH_DIRECT, v1::ATTEMPT_RESULT_TIMED_OUT, 30000);
    cases.push_back({"a direct attempt past the timeout", r, "attempts[0].duration_ms:"});
  }
  for (const Case& c : cases) {
    const grpc::Status status = client.Report(c.report);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_THAT(status.error_message(), HasSubstr(c.field)) << c.name;
  }
  SettleAndReload();
  EXPECT_EQ(SessionsInDatabase(), 0);
  EXPECT_EQ(Metric("advisor_requests_refused_total{method=\"ReportOutcome\",reason="
                   "\"implausible\"}"),
            3);
  EXPECT_EQ(Metric("advisor_requests_refused_total{method=\"ReportOutcome\",reason="
                   "\"invalid_argument\"}"),
            4);
}

TEST_F(AbuseTest, GarbageBytesGetInvalidArgumentOnEveryMethod) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Client client = ClientOf("app", {"advisor.admin"});
  for (const std::string method : {"GetStrategy", "ReportOutcome", "ListTurnServers"}) {
    const grpc::Status status = client.SendRaw(method, "\xff\xff\xff\xff garbage");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
    EXPECT_THAT(status.error_message(), HasSubstr("not a valid")) << method;
    EXPECT_EQ(Metric(absl::StrCat("advisor_requests_refused_total{method=\"", method,
                                  "\",reason=\"malformed\"}")),
              1)
        << method;
  }
}

TEST_F(AbuseTest, TheRateLimitAnswersResourceExhaustedWithARetryHint) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto stub = v1::ConnectivityAdvisor::NewStub(
      grpc::CreateChannel(target(*server_), grpc::InsecureChannelCredentials()));
  const std::string jwt = Jwt("busy");
  grpc::Status limited;
  std::string pushback;
  for (int i = 0; i < 100 && limited.ok(); ++i) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + jwt);
    v1::GetStrategyRequest request;
    v1::GetStrategyResponse answer;
    limited = stub->GetStrategy(&context, request, &answer);
    if (auto it = context.GetServerTrailingMetadata().find("grpc-retry-pushback-ms");
        it != context.GetServerTrailingMetadata().end()) {
      pushback.assign(it->second.data(), it->second.size());
    }
  }
  EXPECT_EQ(limited.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(limited.error_message(), HasSubstr("retry in"));
  int64_t ms = 0;
  EXPECT_TRUE(absl::SimpleAtoi(pushback, &ms) && ms > 0 && ms <= 1000) << pushback;
  // Another identity is not slowed down by this one.
  v1::GetStrategyResponse answer;
  EXPECT_TRUE(ClientOf("calm").GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer).ok());
}

TEST_F(AbuseTest, ListTurnServersIsForOperators) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  v1::ListTurnServersResponse list;
  const grpc::Status denied = ClientOf("app").ListTurnServers(list);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(denied.error_message(), HasSubstr("advisor.admin"));
  EXPECT_TRUE(ClientOf("operator", {"advisor.admin"}).ListTurnServers(list).ok());
}

TEST_F(AbuseTest, TurnCredentialsAreIssuedPerClientAndOnlyToAuthenticatedCallers) {
  auto servers = config::ParseTurnServers(R"(
servers:
  - id: eu-1
    urls: ["turn:127.0.0.1:3478?transport=udp"]
    auth: {rest_secret: "a-shared-secret-of-coturn"}
)");
  ASSERT_TRUE(servers.ok()) << servers.status();
  options_.snapshot.turn_servers = *servers;
  options_.clients.allow_anonymous = true;
  ASSERT_NO_FATAL_FAILURE(StartServer());

  // TURN_FALLBACK: the TURN server comes with the fallback configuration only.
  auto turn_entry = [](const v1::GetStrategyResponse& answer) -> const v1::IceServer* {
    for (const v1::IceConfig* config : {&answer.ice_config(), &answer.fallback_ice_config()}) {
      for (const v1::IceServer& server : config->ice_servers()) {
        if (!server.urls().empty() && absl::StartsWith(server.urls(0), "turn:")) {
          EXPECT_EQ(config, &answer.fallback_ice_config());
          return &server;
        }
      }
    }
    return nullptr;
  };
  std::vector<std::string> usernames;
  for (const std::string subject : {"alice@example.com", "bob@example.com"}) {
    v1::GetStrategyResponse answer;
    ASSERT_TRUE(
        ClientOf(subject).GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_SYMMETRIC, answer).ok());
    const v1::IceServer* turn = turn_entry(answer);
    ASSERT_NE(turn, nullptr) << subject;
    const std::vector<std::string> parts = absl::StrSplit(turn->username(), ':');
    ASSERT_EQ(parts.size(), 2u) << turn->username();
    int64_t expires = 0;
    ASSERT_TRUE(absl::SimpleAtoi(parts[0], &expires));
    EXPECT_LE(absl::FromUnixSeconds(expires), absl::Now() + absl::Minutes(10) + absl::Seconds(5));
    EXPECT_GT(absl::FromUnixSeconds(expires), absl::Now() + absl::Minutes(9));
    EXPECT_FALSE(absl::StrContains(turn->username(), "alice"));
    EXPECT_FALSE(absl::StrContains(turn->username(), "bob"));
    EXPECT_FALSE(turn->credential().empty());
    usernames.push_back(parts[1]);
  }
  EXPECT_NE(usernames[0], usernames[1]);
  // The same client keeps its opaque name, so coturn's logs follow it.
  v1::GetStrategyResponse again;
  ASSERT_TRUE(ClientOf("alice@example.com")
                  .GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_SYMMETRIC, again)
                  .ok());
  ASSERT_NE(turn_entry(again), nullptr);
  EXPECT_TRUE(absl::EndsWith(turn_entry(again)->username(), ":" + usernames[0]));

  v1::GetStrategyResponse anonymous;
  ASSERT_TRUE(ClientOf("").GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_SYMMETRIC, anonymous).ok());
  EXPECT_EQ(turn_entry(anonymous), nullptr);
  EXPECT_EQ(Metric("advisor_turn_credentials_issued_total"), 3);
}

TEST_F(AbuseTest, ARollingRestartWhileTheTokenKeyRotatesRejectsNoHonestReport) {
  options_.clients.rate_limit = 0;
  const std::string old_key = "the-old-token-key-0123456789";
  const std::string new_key = "the-new-token-key-9876543210";
  // Step 1 of the rotation rolls every replica to "sign with the old key, accept the new one";
  // step 2 to "sign with the new key, accept the old one". A fleet is always in one of the mixes
  // below, and every token any of them issued must verify on every other.
  ServerOptions plain = options_, accepting = options_, rotated = options_;
  plain.token_key = old_key;
  accepting.token_key = old_key;
  accepting.previous_token_key = new_key;
  rotated.token_key = new_key;
  rotated.previous_token_key = old_key;
  int reports = 0;
  auto cross_report = [&](const std::vector<AdvisorServer*>& fleet) {
    for (AdvisorServer* issuer : fleet) {
      for (AdvisorServer* receiver : fleet) {
        const std::string subject = absl::StrCat("install-", reports++);
        v1::GetStrategyResponse answer;
        ASSERT_TRUE(ClientOf(subject, {}, issuer)
                        .GetStrategy(v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, answer)
                        .ok());
        const grpc::Status status =
            ClientOf(subject, {}, receiver).Report(SessionReport(answer, true));
        EXPECT_TRUE(status.ok()) << status.error_message();
      }
    }
  };
  std::unique_ptr<AdvisorServer> a = StartReplica(plain), b = StartReplica(plain);
  ASSERT_TRUE(a && b);
  ASSERT_NO_FATAL_FAILURE(cross_report({a.get(), b.get()}));
  a = StartReplica(accepting);
  ASSERT_NO_FATAL_FAILURE(cross_report({a.get(), b.get()}));
  b = StartReplica(accepting);
  ASSERT_NO_FATAL_FAILURE(cross_report({a.get(), b.get()}));
  a = StartReplica(rotated);
  ASSERT_NO_FATAL_FAILURE(cross_report({a.get(), b.get()}));
  b = StartReplica(rotated);
  ASSERT_NO_FATAL_FAILURE(cross_report({a.get(), b.get()}));
  ASSERT_TRUE(a->Shutdown().ok());
  ASSERT_TRUE(b->Shutdown().ok());
  EXPECT_EQ(SessionsInDatabase(), reports);
}

}  // namespace
}  // namespace advisor
