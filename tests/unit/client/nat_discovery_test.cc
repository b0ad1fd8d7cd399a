// NAT behaviour discovery against the fake network: every mapping and filtering behaviour through
// RFC 5780, the multi-server comparison, blocked and open hosts, retransmission, confidence and
// the per-network cache.
#include "lib/client/nat_discovery.h"

#include <gtest/gtest.h>

#include <vector>

#include "lib/client/testing/fake_stun_transport.h"

namespace advisor::client {
namespace {

using strategy::NatType;
using testing::FakeNat;
using testing::FakeServer;
using testing::FakeStunTransport;

const SocketAddress kA1 = SocketAddress::Ipv4({198, 51, 100, 1}, 3478);
const SocketAddress kA2 = SocketAddress::Ipv4({198, 51, 100, 2}, 3479);
const SocketAddress kB = SocketAddress::Ipv4({192, 0, 2, 10}, 3478);
const SocketAddress kC = SocketAddress::Ipv4({192, 0, 2, 11}, 3478);

FakeServer Rfc5780() { return {.primary = kA1, .other = kA2}; }

DiscoveryOptions Options() {
  DiscoveryOptions options;
  options.timeout = absl::Seconds(1);
  return options;
}

struct Case {
  Behavior mapping;
  Behavior filtering;
  NatType expected;
};

class Rfc5780Test : public ::testing::TestWithParam<Case> {};

TEST_P(Rfc5780Test, FindsMappingAndFiltering) {
  const Case c = GetParam();
  ManualClock clock;
  FakeStunTransport net(clock, {.mapping = c.mapping, .filtering = c.filtering}, {Rfc5780()});
  NatDetector detector(clock, Options());
  const std::vector<SocketAddress> servers = {kA1};
  absl::StatusOr<NatDiscoveryResult> r = detector.Detect(net, servers);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mapping, c.mapping);
  EXPECT_EQ(r->filtering, c.filtering);
  EXPECT_EQ(r->nat_type, c.expected);
  EXPECT_TRUE(r->rfc5780);
  ASSERT_TRUE(r->public_address.has_value());
  EXPECT_EQ(r->public_address->IpString(), "203.0.113.7");
  // One RFC 5780 server alone: quality 0.85, every verdict agreeing.
  EXPECT_FLOAT_EQ(r->confidence, 0.85f);
}

INSTANTIATE_TEST_SUITE_P(
    AllBehaviours, Rfc5780Test,
    ::testing::Values(
        Case{Behavior::kEndpointIndependent, Behavior::kEndpointIndependent, NatType::kFullCone},
        Case{Behavior::kEndpointIndependent, Behavior::kAddressDependent, NatType::kRestrictedCone},
        Case{Behavior::kEndpointIndependent, Behavior::kAddressAndPortDependent,
             NatType::kPortRestrictedCone},
        Case{Behavior::kAddressDependent, Behavior::kEndpointIndependent, NatType::kSymmetric},
        Case{Behavior::kAddressDependent, Behavior::kAddressDependent, NatType::kSymmetric},
        Case{Behavior::kAddressDependent, Behavior::kAddressAndPortDependent, NatType::kSymmetric},
        Case{Behavior::kAddressAndPortDependent, Behavior::kEndpointIndependent,
             NatType::kSymmetric},
        Case{Behavior::kAddressAndPortDependent, Behavior::kAddressDependent, NatType::kSymmetric},
        Case{Behavior::kAddressAndPortDependent, Behavior::kAddressAndPortDependent,
             NatType::kSymmetric}));

TEST(NatDiscoveryTest, NoAnswerFromAnyServerIsBlocked) {
  ManualClock clock;
  const absl::Time start = clock.Now();
  FakeStunTransport net(clock, {.blocked = true}, {Rfc5780(), {.primary = kB}});
  NatDetector detector(clock, Options());
  const std::vector<SocketAddress> servers = {kA1, kB};
  absl::StatusOr<NatDiscoveryResult> r = detector.Detect(net, servers);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->nat_type, NatType::kBlocked);
  EXPECT_FLOAT_EQ(r->confidence, 0.8f);  // two silent servers
  EXPECT_FALSE(r->public_address.has_value());
  // Retransmitted, but bounded: to each server at 0, 200 and 600 ms (the fourth would be due
  // after the 1 s timeout), in one round.
  EXPECT_EQ(net.sent(), 2 * 3);
  EXPECT_EQ(clock.Now() - start, Options().timeout);
}

TEST(NatDiscoveryTest, OneSilentServerIsBlockedWithLowerConfidence) {
  ManualClock clock;
  FakeStunTransport net(clock, {}, {{.primary = kB, .silent = true}});
  NatDetector detector(clock, Options());
  const std::vector<SocketAddress> servers = {kB};
  absl::StatusOr<NatDiscoveryResult> r = detector.Detect(net, servers);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->nat_type, NatType::kBlocked);
  EXPECT_FLOAT_EQ(r->confidence, 0.6f);
}

TEST(NatDiscoveryTest, MappedAddressEqualToLocalIsOpen) {
  ManualClock clock;
  const SocketAddress local = SocketAddress::Ipv4({198, 18, 0, 5}, 41000);
  FakeStunTransport net(clock, {.open = true}, {Rfc5780(), {.primary = kB}}, local);
  NatDetector detector(clock, Options());
  const std::vector<SocketAddress> servers = {kA1, kB};
  absl::StatusOr<NatDiscoveryResult> r = detector.Detect(net, servers);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->nat_type, NatType::kOpen);
  EXPECT_EQ(r->mapping, Behavior::kEndpointIndependent);
  EXPECT_EQ(r->public_address, local);
  EXPECT_FLOAT_EQ(r->confidence, 0.95f);  // both servers saw the local address
}

TEST(NatDiscoveryTest, ComparisonWithoutRfc5780FindsSymmetric) {
  ManualClock clock;
  FakeStunTransport net(clock, {.mapping = Behavior::kAddressAndPortDependent},
                        {{.primary = kB}, {.primary = kC}});
  NatDetector detector(clock, Options());
  const std::vector<SocketAddress> servers = {kB, kC};
  absl::StatusOr<NatDiscoveryResult> r = detector.Detect(net, servers);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->rfc5780);
  EXPECT_EQ(r->nat_type, NatType::kSymmetric);
  // The two servers differ in IP, so the comparison can only say "address-dependent or worse".
  EXPECT_EQ(r->mapping, Behavior::kAddressDependent);
  EXPECT_EQ(r->filtering, Behavior::kUnknown);
  EXPECT_FLOAT_EQ(r->confidence, 0.8f);
}

TEST(NatDiscoveryTest, ComparisonOfServersSharingAnIpFindsPortDependence) {
  ManualClock clock;
  FakeStunTransport net(
      clock, {.mapping = Behavior::kAddressAndPortDependent},
      {{.primary = kB}, {.primary = SocketAddress::Ipv4({192, 0, 2, 10}, 19302)}});
  NatDetector detector(clock, Options());
  const std::vector<SocketAddress> servers = {kB, SocketAddress::Ipv4({192, 0, 2, 10}, 19302)};
  absl::StatusOr<NatDiscoveryResult> r = detector.Detect(net, servers);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mapping, Behavior::kAddressAndPortDependent);
  EXPECT_EQ(r->nat_type, NatType::kSymmetric);
}

TEST(NatDiscoveryTest, ComparisonWithoutRfc5780FindsAConeOfUnknownFiltering) {
  ManualClock clock;
  FakeStunTransport net(clock, {.mapping = Behavior::kEndpointIndependent},
                        {{.primary = kB}, {.primary = kC}});
  NatDetector detector(clock, Options());
  const std::vector<SocketAddress> servers = {kB, kC};
  absl::StatusOr<NatDiscoveryResult> r = detector.Detect(net, servers);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mapping, Behavior::kEndpointIndependent);
  EXPECT_EQ(r->filtering, Behavior::kUnknown);
  EXPECT_EQ(r->nat_type, NatType::kPortRestrictedCone);
  EXPECT_FLOAT_EQ(r->confidence, 0.6f);
}

TEST(NatDiscoveryTest, OnePlainServerCannotTellTheType) {
  ManualClock clock;
  FakeStunTransport net(clock, {}, {{.primary = kB}});
  NatDetector detector(clock, Options());
  const std::vector<SocketAddress> servers = {kB};
  absl::StatusOr<NatDiscoveryResult> r = detector.Detect(net, servers);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->nat_type, NatType::kUnknown);
  EXPECT_EQ(r->confidence, 0.0f);
  EXPECT_TRUE(r->public_address.has_value());
}

TEST(NatDiscoveryTest, ASilentServerLeavesTheResultOfTheOthers) {
  ManualClock clock;
  FakeStunTransport net(clock, {.filtering = Behavior::kAddressDependent},
                        {Rfc5780(), {.primary = kB, .silent = true}});
  NatDetector detector(clock, Options());
  const std::vector<SocketAddress> servers = {kB, kA1};
  absl::StatusOr<NatDiscoveryResult> r = detector.Detect(net, servers);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->nat_type, NatType::kRestrictedCone);
  ASSERT_EQ(r->servers.size(), 2u);
  EXPECT_FALSE(r->servers[0].answered);
  EXPECT_TRUE(r->servers[1].answered);
}

TEST(NatDiscoveryTest, RetransmissionRecoversFromLostRequests) {
  ManualClock clock;
  FakeServer server = Rfc5780();
  server.drop_first = 2;
  FakeStunTransport net(clock, {}, {server});
  NatDetector detector(clock, Options());
  const std::vector<SocketAddress> servers = {kA1};
  absl::StatusOr<NatDiscoveryResult> r = detector.Detect(net, servers);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->nat_type, NatType::kFullCone);
}

TEST(NatDiscoveryTest, AgreementAcrossServersRaisesConfidence) {
  ManualClock clock;
  FakeStunTransport net(clock, {.filtering = Behavior::kAddressAndPortDependent},
                        {Rfc5780(), {.primary = kB}});
  NatDetector detector(clock, Options());
  const std::vector<SocketAddress> servers = {kA1, kB};
  absl::StatusOr<NatDiscoveryResult> r = detector.Detect(net, servers);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->nat_type, NatType::kPortRestrictedCone);
  // RFC 5780's mapping verdict and the comparison agree: quality 0.95.
  EXPECT_FLOAT_EQ(r->confidence, 0.95f);
}

TEST(ClassifyTest, DisagreementAndUnstableRepeatsLowerConfidence) {
  ServerObservation a{.server = kA1,
                      .answered = true,
                      .mapped = SocketAddress::Ipv4({203, 0, 113, 7}, 40000),
                      .other_address = kA2,
                      .repeats_answered = 2,
                      .repeats_same = 1,
                      .mapping = Behavior::kEndpointIndependent,
                      .filtering = Behavior::kEndpointIndependent};
  ServerObservation b{.server = kB,
                      .answered = true,
                      .mapped = SocketAddress::Ipv4({203, 0, 113, 7}, 40000),
                      .repeats_answered = 2,
                      .repeats_same = 2};
  const std::vector<ServerObservation> servers = {a, b};
  const std::vector<SocketAddress> local = {SocketAddress::Ipv4({10, 0, 0, 2}, 5000)};
  // The comparison disagrees with RFC 5780: a tie, which goes to the more restrictive verdict.
  NatDiscoveryResult r = Classify(servers, local, Behavior::kAddressDependent);
  EXPECT_EQ(r.nat_type, NatType::kSymmetric);
  // 0.95 quality × 1/2 agreement × 3/4 stable repeats.
  EXPECT_NEAR(r.confidence, 0.95 * 0.5 * 0.75, 1e-6);

  NatDiscoveryResult agreed = Classify(servers, local, Behavior::kEndpointIndependent);
  EXPECT_EQ(agreed.nat_type, NatType::kFullCone);
  EXPECT_NEAR(agreed.confidence, 0.95 * 0.75, 1e-6);
  EXPECT_GT(agreed.confidence, r.confidence);
}

TEST(NatDiscoveryTest, ResultIsCachedPerNetworkForFiveMinutes) {
  ManualClock clock;
  FakeStunTransport net(clock, {}, {Rfc5780()});
  NatDetector detector(clock, Options());
  const std::vector<SocketAddress> servers = {kA1};
  ASSERT_TRUE(detector.Detect(net, servers).ok());
  const int sent = net.sent();

  clock.Advance(absl::Minutes(4));
  absl::StatusOr<NatDiscoveryResult> cached = detector.Detect(net, servers);
  ASSERT_TRUE(cached.ok());
  EXPECT_TRUE(cached->from_cache);
  EXPECT_EQ(net.sent(), sent);

  // Another local address is another network.
  net.set_local(SocketAddress::Ipv4({10, 1, 1, 1}, 50000));
  absl::StatusOr<NatDiscoveryResult> other = detector.Detect(net, servers);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->from_cache);
  EXPECT_GT(net.sent(), sent);

  net.set_local(SocketAddress::Ipv4({192, 168, 1, 20}, 50001));  // same IP, new port: cached
  clock.Advance(absl::Seconds(50));
  EXPECT_TRUE(detector.Detect(net, servers)->from_cache);
  clock.Advance(absl::Seconds(15));  // past 5 minutes since the first detection
  const int before = net.sent();
  absl::StatusOr<NatDiscoveryResult> fresh = detector.Detect(net, servers);
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->from_cache);
  EXPECT_GT(net.sent(), before);
}

TEST(NatDiscoveryTest, RefusesToRunWithoutServers) {
  ManualClock clock;
  FakeStunTransport net(clock, {}, {});
  NatDetector detector(clock, Options());
  EXPECT_FALSE(detector.Detect(net, {}).ok());
}

TEST(NatDiscoveryTest, BehaviorNames) {
  EXPECT_EQ(BehaviorName(Behavior::kEndpointIndependent), "endpoint_independent");
  EXPECT_EQ(BehaviorName(Behavior::kAddressDependent), "address_dependent");
  EXPECT_EQ(BehaviorName(Behavior::kAddressAndPortDependent), "address_and_port_dependent");
  EXPECT_EQ(BehaviorName(Behavior::kUnknown), "unknown");
}

}  // namespace
}  // namespace advisor::client
