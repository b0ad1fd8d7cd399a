// The service logic without a network: fake clock, real snapshot, buffer and signer.
#include "services/advisor/service.h"

#include <gmock/gmock.h>
#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <random>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "lib/config/turn_servers.h"
#include "prometheus/registry.h"

namespace advisor {
namespace {

namespace v1 = connectivity::advisor::v1;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

const Caller kAlice = {.identity = "sub:alice", .authenticated = true};

// A service with a real snapshot, signer, buffer and metrics, a settable clock, and the TURN
// servers given.
class ServiceFixture : public ::testing::Test {
 protected:
  explicit ServiceFixture(std::vector<config::TurnServerConfig> servers = {},
                          absl::Time now = absl::FromUnixSeconds(1'800'000'000))
      : now_(now),
        servers_(std::move(servers)),
        options_(Options(servers_)),
        snapshots_(ColdStartSnapshot(SnapshotConfig{}, Render(), now_)),
        signer_(*TokenSigner::Create("unit-test-key-0123456789", "", absl::Hours(1))),
        buffer_(1000),
        metrics_(registry_, Ids(servers_)),
        service_(options_, snapshots_, signer_, buffer_, metrics_, nullptr,
                 [this] { return now_; }) {}

  static ServiceOptions Options(std::span<const config::TurnServerConfig> servers) {
    ServiceOptions options;
    options.stun_urls = {"stun:stun.example.net:3478"};
    options.turn_servers = servers;
    options.turn_credential_ttl = absl::Minutes(30);
    return options;
  }
  static std::vector<std::string> Ids(const std::vector<config::TurnServerConfig>& servers) {
    std::vector<std::string> ids;
    for (const auto& server : servers) ids.push_back(server.id);
    return ids;
  }
  ResponseRenderer Render() { return RenderGetStrategyResponse; }

  v1::GetStrategyResponse Get(v1::NatType local, float local_confidence, v1::NatType remote,
                              const std::string& region = "", const Caller& caller = kAlice) {
    v1::GetStrategyRequest request;
    request.mutable_local()->set_nat_type(local);
    request.mutable_local()->set_confidence(local_confidence);
    request.mutable_remote()->set_nat_type(remote);
    request.mutable_remote()->set_confidence(1);
    request.set_region(region);
    auto bytes = service_.HandleGetStrategy(request, caller);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(bytes->Dump(&slices).ok());
    std::string joined;
    for (const auto& slice : slices) joined.append(slice.begin(), slice.end());
    v1::GetStrategyResponse response;
    EXPECT_TRUE(response.ParseFromString(joined));
    return response;
  }

  v1::ReportOutcomeRequest Report(const std::string& token) {
    v1::ReportOutcomeRequest request;
    request.set_decision_token(token);
    auto* attempt = request.add_attempts();
    attempt->set_path(v1::PATH_DIRECT);
    attempt->set_result(v1::ATTEMPT_RESULT_SUCCEEDED);
    attempt->set_duration_ms(700);
    request.set_connected(true);
    request.set_time_to_connect_ms(700);
    return request;
  }

  absl::Time now_;
  std::vector<config::TurnServerConfig> servers_;
  ServiceOptions options_;
  prometheus::Registry registry_;
  SnapshotHolder snapshots_;
  TokenSigner signer_;
  OutcomeBuffer buffer_;
  AdvisorMetrics metrics_;
  AdvisorService service_;
};

using ServiceTest = ServiceFixture;

// A peer-string source for Authenticate.
std::function<std::string()> Peer(std::string peer) {
  return [peer] { return peer; };
}

bool HasReason(const v1::GetStrategyResponse& response, std::string_view text) {
  for (const auto& reason : response.reasons()) {
    if (reason.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST_F(ServiceTest, AnswerCombinesRenderedDecisionAndPerRequestFields) {
  v1::GetStrategyResponse response = Get(v1::NAT_TYPE_SYMMETRIC, 1, v1::NAT_TYPE_SYMMETRIC);
  EXPECT_EQ(response.strategy(), v1::STRATEGY_TURN_ONLY);
  EXPECT_EQ(response.direct_timeout_ms(), 0u);
  // Relay-only ICE without any TURN server could never connect: the policy falls back to "all".
  EXPECT_EQ(response.ice_config().ice_transport_policy(), "all");
  EXPECT_TRUE(HasReason(response, "no TURN server is configured"));
  EXPECT_TRUE(HasReason(response, "relay-only ICE needs a TURN server"));
  ASSERT_EQ(response.ice_config().ice_servers_size(), 1);
  EXPECT_EQ(response.ice_config().ice_servers(0).urls(0), "stun:stun.example.net:3478");
  auto claims = signer_.Verify(response.decision_token(), kAlice.identity, now_);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->strategy, strategy::Strategy::kTurnOnly);
  EXPECT_EQ(claims->pair,
            strategy::NatPair::Of(strategy::NatType::kSymmetric, strategy::NatType::kSymmetric));
}

TEST_F(ServiceTest, LowConfidenceIsExplainedAndTreatedAsUnknown) {
  v1::GetStrategyResponse response = Get(v1::NAT_TYPE_FULL_CONE, 0.2f, v1::NAT_TYPE_OPEN);
  EXPECT_EQ(response.strategy(), v1::STRATEGY_TURN_FALLBACK);
  EXPECT_TRUE(HasReason(response, "confidence 0.20"));
  auto claims = signer_.Verify(response.decision_token(), kAlice.identity, now_);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->pair.a, strategy::NatType::kUnknown);
}

TEST_F(ServiceTest, ReportFoldsIntoTheTokensPairAndStrategy) {
  const std::string token = Get(v1::NAT_TYPE_OPEN, 1, v1::NAT_TYPE_FULL_CONE).decision_token();
  ASSERT_TRUE(service_.HandleReportOutcome(Report(token), kAlice).status.ok());
  auto batch = buffer_.NextBatch();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->sessions.size(), 1u);
  const store::ReportedSession& session = batch->sessions[0];
  EXPECT_EQ(session.pair,
            strategy::NatPair::Of(strategy::NatType::kOpen, strategy::NatType::kFullCone));
  EXPECT_EQ(session.strategy, strategy::Strategy::kDirect);
  EXPECT_EQ(session.bucket_start, absl::FromUnixSeconds(1'800'000'000 / 3600 * 3600));
  EXPECT_EQ(strategy::CountsOf(session.outcome).direct_successes, 1);
  EXPECT_EQ(session.token_id, signer_.Verify(token, kAlice.identity, now_)->id);
  EXPECT_EQ(session.token_expires, now_ + absl::Hours(1) + TokenSigner::kClockSkew);
}

// A width of whole seconds used to be assumed here while ageing took the exact one: 1.5 s buckets
// start at multiples of 1.5 s since the epoch.
TEST_F(ServiceTest, ReportBucketsFollowAFractionalBucketWidth) {
  ServiceOptions options = Options(servers_);
  options.bucket_width = absl::Milliseconds(1500);
  AdvisorService service(options, snapshots_, signer_, buffer_, metrics_, nullptr,
                         [this] { return now_; });
  const std::string token = Get(v1::NAT_TYPE_OPEN, 1, v1::NAT_TYPE_FULL_CONE).decision_token();
  now_ = absl::FromUnixMillis(1'800'000'002'000);
  ASSERT_TRUE(service.HandleReportOutcome(Report(token), kAlice).status.ok());
  auto batch = buffer_.NextBatch();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->sessions.size(), 1u);
  EXPECT_EQ(batch->sessions[0].bucket_start, absl::FromUnixMillis(1'800'000'001'500));
}

TEST_F(ServiceTest, ExpiredTokenAndShutdownAreRefused) {
  const std::string token = Get(v1::NAT_TYPE_OPEN, 1, v1::NAT_TYPE_OPEN).decision_token();
  now_ += absl::Hours(2);
  grpc::Status expired = service_.HandleReportOutcome(Report(token), kAlice).status;
  EXPECT_EQ(expired.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(expired.error_message().find("expired"), std::string::npos);

  const std::string fresh = Get(v1::NAT_TYPE_OPEN, 1, v1::NAT_TYPE_OPEN).decision_token();
  service_.StopAcceptingReports();
  EXPECT_EQ(service_.HandleReportOutcome(Report(fresh), kAlice).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(buffer_.held_reports(), 0);
}

TEST_F(ServiceTest, FullBufferRefusesInsteadOfAcknowledging) {
  OutcomeBuffer tiny(2);
  AdvisorService service(options_, snapshots_, signer_, tiny, metrics_, nullptr,
                         [this] { return now_; });
  auto report = [&] {
    return service.HandleReportOutcome(
        Report(Get(v1::NAT_TYPE_OPEN, 1, v1::NAT_TYPE_OPEN).decision_token()), kAlice);
  };
  EXPECT_TRUE(report().status.ok());
  EXPECT_TRUE(report().status.ok());
  const Answer full = report();
  EXPECT_EQ(full.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(full.reason, RefusalReason::kOverloaded);
  EXPECT_EQ(tiny.held_reports(), 2);
}

TEST_F(ServiceTest, ARepeatedReportIsAcknowledgedAndHeldOnce) {
  const std::string token = Get(v1::NAT_TYPE_OPEN, 1, v1::NAT_TYPE_OPEN).decision_token();
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(service_.HandleReportOutcome(Report(token), kAlice).status.ok());
  EXPECT_EQ(buffer_.held_reports(), 1);
}

TEST_F(ServiceTest, AnIdentityAddsAtMostItsShareToAPair) {
  auto report = [&](v1::NatType local) {
    const std::string token = Get(local, 1, v1::NAT_TYPE_OPEN).decision_token();
    EXPECT_TRUE(service_.HandleReportOutcome(Report(token), kAlice).status.ok());
  };
  // Counted ones, and those held only so that their tokens are used up.
  auto counted = [&] {
    auto batch = buffer_.NextBatch();
    buffer_.Committed();
    int n = 0;
    for (const store::ReportedSession& session : batch->sessions) n += session.count;
    return std::make_pair(n, static_cast<int>(batch->sessions.size()));
  };
  for (int i = 0; i < 10; ++i) report(v1::NAT_TYPE_OPEN);
  EXPECT_EQ(counted(),
            std::make_pair(static_cast<int>(options_.clients.max_reports_per_identity), 10));
  // Another pair, and the next bucket, have shares of their own.
  report(v1::NAT_TYPE_FULL_CONE);
  EXPECT_EQ(counted(), std::make_pair(1, 1));
  now_ += absl::Hours(1);
  report(v1::NAT_TYPE_OPEN);
  EXPECT_EQ(counted(), std::make_pair(1, 1));
}

TEST_F(ServiceTest, AuthenticationNamesTheCaller) {
  auto missing = service_.Authenticate(std::nullopt, Peer("ipv4:10.0.0.7:51234"), now_);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(missing.status().message().find("Bearer"), std::string::npos);
  EXPECT_EQ(
      service_.Authenticate("Basic dXNlcjpwYXNz", Peer("ipv4:10.0.0.7:1"), now_).status().code(),
      absl::StatusCode::kUnauthenticated);
  // No keys file: a JWT cannot be verified, and saying so beats ignoring it.
  auto unverifiable = service_.Authenticate("Bearer a.b.c", Peer("ipv4:10.0.0.7:1"), now_);
  EXPECT_EQ(unverifiable.status().code(), absl::StatusCode::kUnauthenticated);

  ServiceOptions anonymous = options_;
  anonymous.clients.allow_anonymous = true;
  AdvisorService service(anonymous, snapshots_, signer_, buffer_, metrics_, nullptr,
                         [this] { return now_; });
  auto v4 = service.Authenticate(std::nullopt, Peer("ipv4:10.0.0.7:51234"), now_);
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->identity, "addr:10.0.0.7") << "the port changes with every connection";
  EXPECT_FALSE(v4->authenticated);
  EXPECT_FALSE(v4->admin);
  EXPECT_EQ(service.Authenticate(std::nullopt, Peer("ipv6:[2001:db8::1]:443"), now_)->identity,
            "addr:[2001:db8::1]");
}

constexpr char kTurnServers[] = R"yaml(
servers:
  - id: eu-1
    urls: ["turn:turn-eu.example.net:3478?transport=udp",
           "turns:turn-eu.example.net:5349?transport=tcp"]
    region: eu
    auth: {rest_secret: "s3cret"}
  - id: us-1
    urls: ["turn:turn-us.example.net:3478?transport=udp"]
    region: us
    auth: {username: "static-user", password: "static-pass"}
)yaml";

class TurnServiceTest : public ServiceFixture {
 protected:
  TurnServiceTest()
      : ServiceFixture(*config::ParseTurnServers(kTurnServers),
                       absl::FromUnixSeconds(1'800'000'003)) {
    WithHealth({});
  }

  // Replaces the snapshot's TURN view with one built from `health`.
  void WithHealth(std::vector<store::TurnHealthRow> health) {
    auto next = std::make_shared<Snapshot>(*snapshots_.Get());
    next->turn = BuildTurnView(servers_, {}, std::move(health), now_);
    snapshots_.Set(next);
  }
  v1::GetStrategyResponse Get(v1::NatType local, v1::NatType remote, const std::string& region) {
    return ServiceFixture::Get(local, 1, remote, region);
  }
  std::string TurnId(const v1::GetStrategyResponse& response) {
    auto claims = signer_.Verify(response.decision_token(), kAlice.identity, now_);
    EXPECT_TRUE(claims.ok()) << claims.status();
    return claims.ok() ? claims->turn_server_id : "";
  }
};

TEST_F(TurnServiceTest, OffersTheBestServerWithRestCredentials) {
  v1::GetStrategyResponse response = Get(v1::NAT_TYPE_SYMMETRIC, v1::NAT_TYPE_SYMMETRIC, "");
  // Relay-only: the TURN server alone, no STUN entry, and nothing to fall back to.
  EXPECT_EQ(response.ice_config().ice_transport_policy(), "relay");
  ASSERT_EQ(response.ice_config().ice_servers_size(), 1);
  EXPECT_FALSE(response.has_fallback_ice_config());
  const v1::IceServer& turn = response.ice_config().ice_servers(0);
  ASSERT_EQ(turn.urls_size(), 2);
  EXPECT_EQ(turn.urls(0), "turn:turn-eu.example.net:3478?transport=udp");
  // The TURN REST API's "<expiry>:<user>", the user an opaque name of this client, and
  // base64(HMAC-SHA1(secret, username)), computed here with OpenSSL's one-shot HMAC.
  const std::string opaque = *signer_.OpaqueId(kAlice.identity);
  EXPECT_EQ(turn.username(), absl::StrCat(1'800'000'003 + 1800, ":", opaque));
  unsigned char mac[20];
  unsigned int mac_length = 0;
  HMAC(EVP_sha1(), "s3cret", 6, reinterpret_cast<const unsigned char*>(turn.username().data()),
       turn.username().size(), mac, &mac_length);
  EXPECT_EQ(turn.credential(),
            absl::Base64Escape(absl::string_view(reinterpret_cast<char*>(mac), mac_length)));
  EXPECT_EQ(TurnId(response), "eu-1");
  EXPECT_TRUE(HasReason(response, "TURN server eu-1 in region eu offered"));
  // Another client gets another name.
  const Caller bob = {.identity = "sub:bob", .authenticated = true};
  const v1::GetStrategyResponse other =
      ServiceFixture::Get(v1::NAT_TYPE_SYMMETRIC, 1, v1::NAT_TYPE_SYMMETRIC, "", bob);
  ASSERT_EQ(other.ice_config().ice_servers_size(), 1);
  EXPECT_NE(other.ice_config().ice_servers(0).username(), turn.username());
}

TEST(TurnServiceStun, AServersOwnStunNamedByTheOperatorTooIsOfferedOnce) {
  auto servers = config::ParseTurnServers(R"(
servers:
  - id: eu-1
    urls: ["turn:198.51.100.1:3478?transport=udp", "turn:198.51.100.1:3478?transport=tcp"]
    auth: {rest_secret: "s3cret"}
)");
  ASSERT_TRUE(servers.ok()) << servers.status();
  ServiceOptions options;
  options.stun_urls = {"stun:198.51.100.1:3478"};
  options.turn_servers = *servers;
  prometheus::Registry registry;
  const std::vector<std::string> ids = {"eu-1"};
  AdvisorMetrics metrics(registry, ids);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  SnapshotConfig config;
  config.turn_servers = *servers;
  SnapshotHolder snapshots(ColdStartSnapshot(config, RenderGetStrategyResponse, now));
  const TokenSigner signer = *TokenSigner::Create("unit-test-key-0123456789", "", absl::Hours(1));
  OutcomeBuffer buffer(10);
  AdvisorService service(options, snapshots, signer, buffer, metrics, nullptr, [&] { return now; });
  v1::GetStrategyRequest request;
  request.mutable_local()->set_nat_type(v1::NAT_TYPE_OPEN);
  request.mutable_local()->set_confidence(1);
  request.mutable_remote()->set_nat_type(v1::NAT_TYPE_OPEN);
  request.mutable_remote()->set_confidence(1);
  auto bytes = service.HandleGetStrategy(request, kAlice);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  grpc::Slice slice;
  ASSERT_TRUE(bytes->DumpToSingleSlice(&slice).ok());
  v1::GetStrategyResponse response;
  ASSERT_TRUE(response.ParseFromArray(slice.begin(), static_cast<int>(slice.size())));
  ASSERT_EQ(response.ice_config().ice_servers_size(), 1);
  EXPECT_THAT(response.ice_config().ice_servers(0).urls(), ElementsAre("stun:198.51.100.1:3478"));
}

TEST_F(TurnServiceTest, AnonymousCallersGetNoTurnCredentials) {
  const Caller anonymous = {.identity = "addr:10.0.0.7"};
  const v1::GetStrategyResponse response =
      ServiceFixture::Get(v1::NAT_TYPE_SYMMETRIC, 1, v1::NAT_TYPE_SYMMETRIC, "", anonymous);
  // STUN only: the operator's and the chosen TURN server's own.
  ASSERT_EQ(response.ice_config().ice_servers_size(), 1);
  EXPECT_THAT(response.ice_config().ice_servers(0).urls(),
              ElementsAre("stun:stun.example.net:3478", "stun:turn-eu.example.net:3478"));
  EXPECT_FALSE(response.has_fallback_ice_config());
  EXPECT_TRUE(HasReason(response, "authenticated clients only"));
  EXPECT_EQ(response.ice_config().ice_transport_policy(), "all");
  auto claims = signer_.Verify(response.decision_token(), anonymous.identity, now_);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->turn_server_id, "") << "its report may name no TURN server";
}

TEST_F(TurnServiceTest, RegionPicksItsOwnServerWithStaticCredentials) {
  v1::GetStrategyResponse response = Get(v1::NAT_TYPE_FULL_CONE, v1::NAT_TYPE_SYMMETRIC, "us");
  ASSERT_EQ(response.strategy(), v1::STRATEGY_TURN_FALLBACK);
  ASSERT_EQ(response.fallback_ice_config().ice_servers_size(), 2);
  EXPECT_EQ(response.fallback_ice_config().ice_servers(1).username(), "static-user");
  EXPECT_EQ(response.fallback_ice_config().ice_servers(1).credential(), "static-pass");
  EXPECT_EQ(TurnId(response), "us-1");
}

// The client protocol: start without TURN, so that ICE cannot relay before the advised timeout,
// and apply the fallback, TURN included, at the timeout. Both for TURN_FALLBACK and for DIRECT.
TEST_F(TurnServiceTest, DirectFirstAnswersStartWithoutTurnAndFallBackWithIt) {
  for (auto [local, remote, strategy] :
       {std::tuple{v1::NAT_TYPE_FULL_CONE, v1::NAT_TYPE_SYMMETRIC, v1::STRATEGY_TURN_FALLBACK},
        std::tuple{v1::NAT_TYPE_OPEN, v1::NAT_TYPE_OPEN, v1::STRATEGY_DIRECT}}) {
    SCOPED_TRACE(v1::Strategy_Name(strategy));
    const v1::GetStrategyResponse response = Get(local, remote, "eu");
    ASSERT_EQ(response.strategy(), strategy);
    const v1::IceConfig& start = response.ice_config();
    const v1::IceConfig& fallback = response.fallback_ice_config();
    ASSERT_EQ(start.ice_servers_size(), 1);
    EXPECT_THAT(start.ice_servers(0).urls(),
                ElementsAre("stun:stun.example.net:3478", "stun:turn-eu.example.net:3478"));
    EXPECT_EQ(start.ice_servers(0).credential(), "");
    EXPECT_EQ(start.ice_transport_policy(), "all");
    ASSERT_EQ(fallback.ice_servers_size(), 2);
    EXPECT_THAT(fallback.ice_servers(0).urls(), ElementsAreArray(start.ice_servers(0).urls()));
    EXPECT_EQ(fallback.ice_servers(1).urls(0), "turn:turn-eu.example.net:3478?transport=udp");
    EXPECT_NE(fallback.ice_servers(1).credential(), "");
    EXPECT_EQ(fallback.ice_transport_policy(), "all");
    // Browsers refuse a configuration that changes these once gathering has begun.
    EXPECT_EQ(fallback.ice_candidate_pool_size(), start.ice_candidate_pool_size());
    EXPECT_EQ(fallback.bundle_policy(), start.bundle_policy());
    EXPECT_EQ(fallback.rtcp_mux_policy(), start.rtcp_mux_policy());
    EXPECT_EQ(start.ice_candidate_pool_size(), 1u) << "one allocation per TURN transport at most";
    EXPECT_TRUE(HasReason(response, "apply fallback_ice_config"));
    EXPECT_EQ(TurnId(response), "eu-1");
  }
}

TEST_F(TurnServiceTest, BlockedUdpGetsTcpOrTlsUrlsOnly) {
  v1::GetStrategyResponse response = Get(v1::NAT_TYPE_BLOCKED, v1::NAT_TYPE_OPEN, "us");
  EXPECT_EQ(response.preferred_turn_transport(), v1::TURN_TRANSPORT_TCP);
  ASSERT_EQ(response.ice_config().ice_servers_size(), 1);
  const v1::IceServer& turn = response.ice_config().ice_servers(0);
  ASSERT_EQ(turn.urls_size(), 1);  // us-1 has no TCP url: eu-1's turns url it is
  EXPECT_EQ(turn.urls(0), "turns:turn-eu.example.net:5349?transport=tcp");
  EXPECT_EQ(TurnId(response), "eu-1");
}

TEST_F(TurnServiceTest, FailsOverWhenTheServerTurnsUnhealthyAndSaysSoWhenNoneIsLeft) {
  turn::HealthState down;
  down.status = turn::HealthStatus::kUnhealthy;
  down.consecutive_failures = 3;
  down.unhealthy_until = now_ + absl::Minutes(5);
  WithHealth({{"eu-1", "", down}});
  v1::GetStrategyResponse response = Get(v1::NAT_TYPE_SYMMETRIC, v1::NAT_TYPE_SYMMETRIC, "eu");
  EXPECT_EQ(TurnId(response), "us-1");

  WithHealth({{"eu-1", "", down}, {"us-1", "", down}});
  response = Get(v1::NAT_TYPE_SYMMETRIC, v1::NAT_TYPE_SYMMETRIC, "eu");
  EXPECT_EQ(TurnId(response), "");
  ASSERT_EQ(response.ice_config().ice_servers_size(), 1);  // the operator's STUN only
  EXPECT_THAT(response.ice_config().ice_servers(0).urls(),
              ElementsAre("stun:stun.example.net:3478"));
  EXPECT_TRUE(HasReason(response, "no TURN server is usable now"));
  EXPECT_EQ(response.ice_config().ice_transport_policy(), "all");
}

// Exploration: the share of answers that get a pair's exploration decision, what they carry, and
// where their reports land.
class ExplorationServiceTest : public ServiceFixture {
 protected:
  static constexpr strategy::NatPair kPair = {strategy::NatType::kFullCone,
                                              strategy::NatType::kRestrictedCone};

  // Gives kPair a TURN_ONLY decision and a direct-first exploration decision taken with
  // `probability`.
  void Explore(double probability) {
    using strategy::NatPair;
    using strategy::NatType;
    auto next = std::make_shared<Snapshot>(*snapshots_.Get());
    strategy::Advice& advice = next->advice[kPair.Index()];
    advice.decision = strategy::ColdStart(NatPair::Of(NatType::kSymmetric, NatType::kSymmetric));
    advice.decision.pair = kPair;
    strategy::Decision exploration = strategy::ColdStart(kPair);
    exploration.strategy = strategy::Strategy::kTurnFallback;
    exploration.direct_timeout_ms = 3000;
    exploration.reasons = {"exploration (test)"};
    advice.exploration = exploration;
    advice.exploration_probability = probability;
    next->responses[kPair.Index()] = grpc::Slice(Render()(advice.decision));
    next->exploration_responses[kPair.Index()] = grpc::Slice(Render()(exploration));
    snapshots_.Set(next);
  }

  v1::GetStrategyResponse Get() {
    return ServiceFixture::Get(v1::NAT_TYPE_RESTRICTED_CONE, 1, v1::NAT_TYPE_FULL_CONE);
  }
};

TEST_F(ExplorationServiceTest, ColdStartSnapshotHasNoExploration) {
  const std::shared_ptr<const Snapshot> snapshot = snapshots_.Get();
  // An advice and an answer for every pair, so that the loops below check each one.
  ASSERT_EQ(snapshot->advice.size(), static_cast<size_t>(strategy::kNatPairCount));
  ASSERT_EQ(snapshot->responses.size(), snapshot->advice.size());
  ASSERT_EQ(snapshot->exploration_responses.size(), snapshot->responses.size());
  for (const strategy::Advice& advice : snapshot->advice) {
    EXPECT_FALSE(advice.exploration.has_value());
  }
  for (const grpc::Slice& slice : snapshot->exploration_responses) EXPECT_EQ(slice.size(), 0u);
}

TEST_F(ExplorationServiceTest, AlwaysOrNeverAtTheEnds) {
  Explore(1.0);
  for (int i = 0; i < 50; ++i) {
    const v1::GetStrategyResponse response = Get();
    EXPECT_EQ(response.strategy(), v1::STRATEGY_TURN_FALLBACK);
    EXPECT_EQ(response.direct_timeout_ms(), 3000u);
    ASSERT_GT(response.reasons_size(), 0);
    EXPECT_EQ(response.reasons(0), "exploration (test)");
  }
  Explore(0.0);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Get().strategy(), v1::STRATEGY_TURN_ONLY);
}

TEST_F(ExplorationServiceTest, ShareOfAnswersFollowsTheProbability) {
  Explore(0.25);
  constexpr int kAnswers = 4000;
  int explored = 0;
  for (int i = 0; i < kAnswers; ++i) explored += Get().strategy() == v1::STRATEGY_TURN_FALLBACK;
  // 1000 expected, standard deviation 27: the bounds are seven of them away.
  EXPECT_GT(explored, 800);
  EXPECT_LT(explored, 1200);
}

TEST_F(ExplorationServiceTest, TokenAndReportFollowTheAnswerGiven) {
  Explore(1.0);
  const v1::GetStrategyResponse response = Get();
  auto claims = signer_.Verify(response.decision_token(), kAlice.identity, now_);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->strategy, strategy::Strategy::kTurnFallback);
  EXPECT_EQ(claims->direct_timeout_ms, 3000u);

  v1::ReportOutcomeRequest report;
  report.set_decision_token(response.decision_token());
  auto* attempt = report.add_attempts();
  attempt->set_path(v1::PATH_DIRECT);
  attempt->set_result(v1::ATTEMPT_RESULT_TIMED_OUT);
  attempt->set_duration_ms(3000);
  report.set_connected(false);
  ASSERT_TRUE(service_.HandleReportOutcome(report, kAlice).status.ok());
  auto batch = buffer_.NextBatch();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->sessions.size(), 1u);
  EXPECT_EQ(batch->sessions[0].strategy, strategy::Strategy::kTurnFallback);
  EXPECT_EQ(strategy::CountsOf(batch->sessions[0].outcome).direct_censored_hist[5], 1)
      << "(2000, 3000]";
}

// Mutated encodings of valid requests: every one is answered or refused with a status, never a
// crash (run it under scripts/build --sanitize to catch memory errors too).
TEST_F(ServiceTest, MutatedRequestsNeverCrash) {
  v1::GetStrategyRequest get;
  get.mutable_local()->set_nat_type(v1::NAT_TYPE_FULL_CONE);
  get.mutable_local()->set_confidence(0.9f);
  get.mutable_remote()->set_nat_type(v1::NAT_TYPE_SYMMETRIC);
  get.set_region("eu");
  const std::string token = Get(v1::NAT_TYPE_OPEN, 1, v1::NAT_TYPE_OPEN).decision_token();
  const std::string get_bytes = get.SerializeAsString();
  const std::string report_bytes = Report(token).SerializeAsString();
  std::mt19937 random(42);
  int answered = 0, refused = 0;
  google::protobuf::LogSilencer quiet;  // protobuf logs every string that is not UTF-8
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = i % 2 ? get_bytes : report_bytes;
    const int flips = 1 + random() % 4;
    for (int f = 0; f < flips; ++f) bytes[random() % bytes.size()] = static_cast<char>(random());
    if (i % 2) {
      v1::GetStrategyRequest request;
      if (!request.ParseFromString(bytes)) continue;
      service_.HandleGetStrategy(request, kAlice).ok() ? ++answered : ++refused;
    } else {
      v1::ReportOutcomeRequest request;
      if (!request.ParseFromString(bytes)) continue;
      service_.HandleReportOutcome(request, kAlice).status.ok() ? ++answered : ++refused;
    }
  }
  EXPECT_GT(answered, 100);
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace advisor
