// BuildTurnView: which TURN server a snapshot offers each client region, for any transport and for
// clients without UDP, from the servers file and the probers' health, with the reason the answer
// carries; and the registry ListTurnServers shows. LoadSnapshot, the reload path, on stores faked
// behind the store interfaces: history moves its pair's advice, and a failed read is an error.
#include "services/advisor/snapshot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "connectivity/advisor/v1/advisor.pb.h"
#include "lib/config/turn_servers.h"
#include "lib/store/turn_store.h"
#include "lib/strategy/arrivals.h"
#include "lib/turn/health.h"
#include "services/advisor/service.h"
#include "tests/support/fake_stores.h"

namespace advisor {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// eu-1 offers UDP and TLS in eu, us-1 UDP only in us, any-1 TCP in no region.
constexpr char kServers[] = R"yaml(
servers:
  - id: eu-1
    urls: ["turn:turn-eu.example.net:3478?transport=udp",
           "turns:turn-eu.example.net:5349?transport=tcp"]
    region: eu
    auth: {rest_secret: "eu-secret"}
  - id: us-1
    urls: ["turn:turn-us.example.net:3478?transport=udp"]
    region: us
    auth: {rest_secret: "us-secret"}
  - id: any-1
    urls: ["turn:turn.example.net:3478?transport=tcp"]
    auth: {username: "static-user", password: "static-pass"}
)yaml";
constexpr int kEu = 0;
constexpr int kUs = 1;
constexpr int kAny = 2;

std::vector<config::TurnServerConfig> Servers() {
  auto servers = config::ParseTurnServers(kServers);
  EXPECT_TRUE(servers.ok()) << servers.status();
  return servers.ok() ? *servers : std::vector<config::TurnServerConfig>{};
}

turn::HealthState Healthy(double latency_ms) {
  turn::HealthState health;
  health.status = turn::HealthStatus::kHealthy;
  health.smoothed_latency_ms = latency_ms;
  health.last_check = kNow - absl::Seconds(10);
  return health;
}

// Unhealthy and inside its skip period at kNow.
turn::HealthState Unhealthy() {
  turn::HealthState health;
  health.status = turn::HealthStatus::kUnhealthy;
  health.consecutive_failures = 3;
  health.last_check = kNow - absl::Seconds(10);
  health.unhealthy_until = kNow + absl::Minutes(5);
  return health;
}

store::TurnHealthRow Row(std::string server, std::string prober_region, turn::HealthState health) {
  return {.server_id = std::move(server),
          .prober_region = std::move(prober_region),
          .health = std::move(health)};
}

// The reason a choice appends to answers.
std::string Reason(const TurnChoice& choice) {
  connectivity::advisor::v1::GetStrategyResponse response;
  EXPECT_TRUE(
      response.ParseFromArray(choice.reason.begin(), static_cast<int>(choice.reason.size())));
  EXPECT_EQ(response.reasons_size(), 1);
  return response.reasons_size() == 1 ? response.reasons(0) : "";
}

TEST(BuildTurnViewTest, WithoutServersOffersNoneAndSaysSo) {
  const TurnView view = BuildTurnView({}, {}, {}, kNow);
  EXPECT_THAT(view.any_transport, ElementsAre(Pair("", _)));
  EXPECT_THAT(view.tcp_only, ElementsAre(Pair("", _)));
  for (const bool tcp : {false, true}) {
    EXPECT_EQ(view.For("eu", tcp).server, -1);
    EXPECT_THAT(Reason(view.For("eu", tcp)), HasSubstr("no TURN server is configured"));
  }
  EXPECT_TRUE(view.registry.empty());
}

TEST(BuildTurnViewTest, ChoosesForEveryRegionOfTheServersAndTheProbers) {
  const std::vector<config::TurnServerConfig> servers = Servers();
  const TurnView view = BuildTurnView(servers, {}, {Row("eu-1", "ap", Healthy(30))}, kNow);
  std::vector<std::string> regions;
  for (const auto& [region, choice] : view.any_transport) regions.push_back(region);
  EXPECT_THAT(regions, ElementsAre("", "ap", "eu", "us"));
  regions.clear();
  for (const auto& [region, choice] : view.tcp_only) regions.push_back(region);
  EXPECT_THAT(regions, ElementsAre("", "ap", "eu", "us"));
}

TEST(BuildTurnViewTest, ClientsOfARegionGetItsServerOthersTheDefaultChoice) {
  const std::vector<config::TurnServerConfig> servers = Servers();
  // Nothing probed yet: every server is of unknown health, so region and then id decide.
  const TurnView view = BuildTurnView(servers, {}, {}, kNow);
  EXPECT_EQ(view.For("eu", false).server, kEu);
  EXPECT_EQ(view.For("us", false).server, kUs);
  EXPECT_EQ(view.For("", false).server, kAny);      // "any-1" sorts first
  EXPECT_EQ(view.For("mars", false).server, kAny);  // an unlisted region uses the "" entry
  EXPECT_THAT(Reason(view.For("eu", false)), HasSubstr("TURN server eu-1 in region eu offered"));
  EXPECT_THAT(Reason(view.For("eu", false)), HasSubstr("(unknown)"));
}

TEST(BuildTurnViewTest, HealthIsThatSeenByTheClientsRegionElseTheGlobalProbers) {
  const std::vector<config::TurnServerConfig> servers = Servers();
  // The global prober finds eu-1 the fastest; the eu prober cannot reach it.
  const TurnView view = BuildTurnView(servers, {},
                                      {Row("eu-1", "", Healthy(5)), Row("eu-1", "eu", Unhealthy()),
                                       Row("us-1", "", Healthy(40)), Row("any-1", "", Healthy(80))},
                                      kNow);
  EXPECT_EQ(view.For("", false).server, kEu);
  EXPECT_THAT(Reason(view.For("", false)),
              HasSubstr("(healthy, 5 ms smoothed allocation latency)"));
  // In eu, eu-1 is skipped; of the others, neither in eu, the lower latency wins.
  EXPECT_EQ(view.For("eu", false).server, kUs);
  // In us, us-1 is in the region, and eu-1's health is the global view.
  EXPECT_EQ(view.For("us", false).server, kUs);
}

TEST(BuildTurnViewTest, ClientsWithoutUdpGetOnlyServersWithTcpOrTls) {
  const std::vector<config::TurnServerConfig> servers = Servers();
  const TurnView view = BuildTurnView(
      servers, {},
      {Row("eu-1", "", Unhealthy()), Row("us-1", "", Healthy(5)), Row("any-1", "", Healthy(50))},
      kNow);
  EXPECT_EQ(view.For("us", false).server, kUs);
  // us-1 has UDP only and eu-1 is unhealthy: any-1 is the one left.
  EXPECT_EQ(view.For("us", true).server, kAny);
  EXPECT_THAT(Reason(view.For("us", true)), HasSubstr("with its TCP/TLS urls only"));
  EXPECT_THAT(Reason(view.For("us", false)), Not(HasSubstr("TCP/TLS")));
}

TEST(BuildTurnViewTest, NoUsableServerOffersNoneAndSaysWhy) {
  std::vector<config::TurnServerConfig> servers = Servers();
  const TurnView unhealthy = BuildTurnView(
      servers, {},
      {Row("eu-1", "", Unhealthy()), Row("us-1", "", Unhealthy()), Row("any-1", "", Unhealthy())},
      kNow);
  EXPECT_EQ(unhealthy.For("eu", false).server, -1);
  EXPECT_THAT(Reason(unhealthy.For("eu", false)), HasSubstr("no TURN server is usable now"));
  // Their skip period over, they are offered again.
  EXPECT_EQ(
      BuildTurnView(servers, {}, unhealthy.health, kNow + absl::Minutes(5)).For("eu", false).server,
      kEu);

  servers[kEu].enabled = false;
  servers[kAny].enabled = false;
  const TurnView udp_only = BuildTurnView(servers, {}, {}, kNow);
  EXPECT_EQ(udp_only.For("eu", false).server, kUs);
  EXPECT_EQ(udp_only.For("eu", true).server, -1);
  EXPECT_THAT(Reason(udp_only.For("eu", true)), HasSubstr("no enabled TURN server offers TCP"));

  servers[kUs].enabled = false;
  const TurnView disabled = BuildTurnView(servers, {}, {}, kNow);
  EXPECT_EQ(disabled.For("us", false).server, -1);
  EXPECT_THAT(Reason(disabled.For("us", false)), HasSubstr("every TURN server is disabled"));
}

TEST(BuildTurnViewTest, RegistryIsThePublishedOneElseTheServersFileWithoutSecrets) {
  const std::vector<config::TurnServerConfig> servers = Servers();
  const std::vector<store::TurnHealthRow> health = {Row("eu-1", "eu", Healthy(12))};
  const TurnView from_file = BuildTurnView(servers, {}, health, kNow);
  ASSERT_EQ(from_file.registry.size(), servers.size());
  EXPECT_EQ(from_file.registry[kEu].id, "eu-1");
  EXPECT_EQ(from_file.registry[kEu].region, "eu");
  EXPECT_THAT(from_file.registry[kEu].transports, ElementsAre("udp", "tls"));
  EXPECT_THAT(from_file.registry[kAny].transports, ElementsAre("tcp"));
  EXPECT_EQ(from_file.health, health);

  const std::vector<store::TurnServerRow> published = {
      {.id = "eu-1", .urls = {"turn:192.0.2.1:3478"}, .region = "eu", .transports = {"udp"}}};
  EXPECT_EQ(BuildTurnView(servers, published, health, kNow).registry, published);
}

using ::advisor::testing::FakeOutcomeStore;
using ::advisor::testing::FakeTurnStore;

// `sessions` direct attempts of open x open under DIRECT, every one timed out at 15 s, in the
// bucket that holds kNow.
strategy::BucketAggregate TimedOutDirect(int64_t sessions, absl::Duration width) {
  strategy::BucketAggregate row;
  row.pair = strategy::NatPair::Of(strategy::NatType::kOpen, strategy::NatType::kOpen);
  row.strategy = strategy::Strategy::kDirect;
  row.bucket_start = absl::UnixEpoch() + absl::Floor(kNow - absl::UnixEpoch(), width);
  row.counts.sessions = sessions;
  row.counts.direct_attempts = sessions;
  row.counts.direct_timeouts = sessions;
  row.counts.direct_censored_hist[strategy::ConnectTimeBucket(15'000)] = sessions;
  row.counts.relay_attempts = sessions;
  row.counts.relay_successes = sessions;
  row.counts.relay_ms_hist[strategy::ConnectTimeBucket(800)] = sessions;
  row.counts.connected = sessions;
  return row;
}

TEST(LoadSnapshotTest, HistoryMovesItsPairsAdviceAndNoOther) {
  SnapshotConfig config;
  FakeOutcomeStore outcomes;
  FakeTurnStore turn;
  strategy::ArrivalLog arrivals(config.bucket_width);
  const strategy::NatPair open =
      strategy::NatPair::Of(strategy::NatType::kOpen, strategy::NatType::kOpen);
  const strategy::NatPair cone =
      strategy::NatPair::Of(strategy::NatType::kFullCone, strategy::NatType::kFullCone);
  const std::shared_ptr<const Snapshot> cold =
      ColdStartSnapshot(config, RenderGetStrategyResponse, kNow);
  ASSERT_EQ(cold->advice_for(open).decision.strategy, strategy::Strategy::kDirect);

  outcomes.aggregates = {TimedOutDirect(500, config.bucket_width)};
  auto loaded = LoadSnapshot(outcomes, turn, kNow, config, RenderGetStrategyResponse, arrivals);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(outcomes.since_asked, kNow - config.history_window);
  EXPECT_EQ((*loaded)->loaded_at, kNow);
  const strategy::Decision& moved = (*loaded)->advice_for(open).decision;
  EXPECT_NE(moved.strategy, strategy::Strategy::kDirect)
      << "500 direct attempts, all timed out, and still DIRECT";
  EXPECT_GT(moved.history_samples, 0u);
  EXPECT_EQ((*loaded)->advice_for(cone), cold->advice_for(cone));
  ASSERT_EQ((*loaded)->responses.size(), cold->responses.size());
  EXPECT_NE((*loaded)->responses[open.Index()].size(), 0u);
}

TEST(LoadSnapshotTest, AFailedReadIsAnErrorNotAColdStart) {
  SnapshotConfig config;
  FakeOutcomeStore outcomes;
  FakeTurnStore turn;
  strategy::ArrivalLog arrivals(config.bucket_width);
  outcomes.load_error = absl::UnavailableError("connection refused");
  auto loaded = LoadSnapshot(outcomes, turn, kNow, config, RenderGetStrategyResponse, arrivals);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("connection refused"));
}

}  // namespace
}  // namespace advisor
