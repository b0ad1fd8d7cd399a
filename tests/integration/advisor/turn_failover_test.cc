// TURN end to end: two real coturn servers, the prober's logic with real probes writing to a real
// PostgreSQL, and advisor-server in-process answering from what the prober published. A server
// that stops is unhealthy after three failed checks and GetStrategy fails over to the other one;
// when it comes back, one good check makes it healthy and preferred again. The credentials in the
// answers are checked against coturn itself.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "lib/turn/probe.h"
#include "prometheus/registry.h"
#include "services/advisor/server.h"
#include "services/prober/prober.h"
#include "tests/support/advisor_server.h"
#include "tests/support/coturn.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace advisor {
namespace {

namespace v1 = connectivity::advisor::v1;

class TurnFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.Init().ok());
    ASSERT_TRUE(store::Migrate(cluster_.url()).ok());
    ASSERT_TRUE(primary_.Start().ok());
    ASSERT_TRUE(backup_.Start().ok());
    auto servers = config::ParseTurnServers(
        absl::StrCat("servers:\n"
                     "  - {id: eu-primary, region: eu, urls: [\"",
                     primary_.udp_url(), "\"], auth: {rest_secret: ", primary_.secret(), "}}\n",
                     "  - {id: us-backup, region: us, urls: [\"", backup_.udp_url(), "\", \"",
                     backup_.tcp_url(), "\"], auth: {rest_secret: ", backup_.secret(), "}}\n"));
    ASSERT_TRUE(servers.ok()) << servers.status();
    servers_ = *servers;

    pg_ = std::make_shared<store::PgStore>(cluster_.url());
    prober::ProberOptions prober_options;
    prober_options.probe.timeout = absl::Seconds(2);
    prober_ = std::make_unique<prober::Prober>(servers_, prober_options, *pg_, turn::Probe,
                                               absl::Now, registry_);

    dir_ = testing::MakeTempDir("turn-failover-test");
    auto keys = testing::TestKeys::Create(dir_);
    ASSERT_TRUE(keys.ok()) << keys.status();
    // An operator's JWT: the test reads health through ListTurnServers and polls faster than an
    // app may.
    jwt_ = keys->Jwt("operator", {"advisor.admin"});
    ServerOptions options;
    options.auth_keys_file = keys->path();
    options.clients.rate_limit = 0;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "127.0.0.1:0";
    options.token_key = "turn-failover-test-key-0123456789";
    options.insecure = true;
    options.snapshot_interval = absl::Milliseconds(200);
    options.snapshot.turn_servers = servers_;
    options.stun_urls = {};
    auto server = AdvisorServer::Start(options, std::make_shared<store::PgStore>(cluster_.url()),
                                       std::make_shared<store::PgStore>(cluster_.url()));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::ConnectivityAdvisor::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
  }

  // The TURN server a symmetric × symmetric client in `region` is offered, with its credentials.
  v1::IceServer Offered(const std::string& region) {
    v1::GetStrategyRequest request;
    request.mutable_local()->set_nat_type(v1::NAT_TYPE_SYMMETRIC);
    request.mutable_local()->set_confidence(1);
    request.mutable_remote()->set_nat_type(v1::NAT_TYPE_SYMMETRIC);
    request.mutable_remote()->set_confidence(1);
    request.set_region(region);
    v1::GetStrategyResponse response;
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + jwt_);
    EXPECT_TRUE(stub_->GetStrategy(&context, request, &response).ok());
    return response.ice_config().ice_servers().empty() ? v1::IceServer()
                                                       : response.ice_config().ice_servers(0);
  }

  // Waits for the advisor's snapshot to offer the server whose first url is `url`.
  bool EventuallyOffers(const std::string& region, const std::string& url) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      v1::IceServer offered = Offered(region);
      if (!offered.urls().empty() && offered.urls(0) == url) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  // The server's own health view, through ListTurnServers.
  v1::TurnServerHealth HealthOf(const std::string& id) {
    v1::ListTurnServersResponse response;
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + jwt_);
    EXPECT_TRUE(stub_->ListTurnServers(&context, v1::ListTurnServersRequest(), &response).ok());
    for (const auto& server : response.servers()) {
      if (server.id() == id && !server.health().empty()) return server.health(0);
    }
    return v1::TurnServerHealth();
  }

  void TearDown() override {
    server_.reset();
    testing::RemoveTree(dir_);
  }

  std::string dir_;
  std::string jwt_;
  testing::PostgresCluster cluster_;
  testing::Coturn primary_{"primary-secret"};
  testing::Coturn backup_{"backup-secret"};
  std::vector<config::TurnServerConfig> servers_;
  std::shared_ptr<store::PgStore> pg_;
  prometheus::Registry registry_;
  std::unique_ptr<prober::Prober> prober_;
  std::unique_ptr<AdvisorServer> server_;
  std::unique_ptr<v1::ConnectivityAdvisor::Stub> stub_;
};

TEST_F(TurnFailoverTest, FailsOverAfterThreeFailuresAndComesBack) {
  auto cycle = prober_->RunCycle();
  ASSERT_EQ(cycle.ok, 2) << cycle.sync << cycle.write;
  ASSERT_TRUE(EventuallyOffers("eu", primary_.udp_url()));

  // The credentials handed to clients work on that very coturn.
  v1::IceServer offered = Offered("eu");
  auto url = turn::ParseTurnUrl(offered.urls(0));
  ASSERT_TRUE(url.ok());
  turn::ProbeResult with_client_credentials =
      turn::Probe(*url, offered.username(), offered.credential(), turn::ProbeOptions());
  EXPECT_TRUE(with_client_credentials.ok) << with_client_credentials.error;

  primary_.Stop();
  for (int i = 1; i <= 2; ++i) {
    cycle = prober_->RunCycle();
    EXPECT_EQ(cycle.ok, 1);
  }
  // Two failures: still offered (below the threshold of three).
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(Offered("eu").urls(0), primary_.udp_url());
  cycle = prober_->RunCycle();
  EXPECT_EQ(cycle.unhealthy, 1);
  ASSERT_TRUE(EventuallyOffers("eu", backup_.udp_url()));
  const v1::TurnServerHealth down = HealthOf("eu-primary");
  EXPECT_EQ(down.status(), "unhealthy");
  EXPECT_EQ(down.consecutive_failures(), 3u);
  EXPECT_FALSE(down.last_error().empty());
  EXPECT_GT(down.unhealthy_until_unix_ms(), absl::ToUnixMillis(absl::Now() + absl::Minutes(4)));

  ASSERT_TRUE(primary_.Start().ok());
  cycle = prober_->RunCycle();
  EXPECT_EQ(cycle.ok, 2);
  EXPECT_TRUE(EventuallyOffers("eu", primary_.udp_url()));
  EXPECT_EQ(HealthOf("eu-primary").status(), "healthy");
}

}  // namespace
}  // namespace advisor
