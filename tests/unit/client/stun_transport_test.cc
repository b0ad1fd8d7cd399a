// The parts of the real STUN transport that need no network: parsing and resolving server
// addresses (numeric ones only, so that no name lookup leaves the machine).
#include "lib/client/stun_transport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/time/clock.h"

namespace advisor::client {
namespace {

using Family = SocketAddress::Family;

TEST(ResolveStunServerTest, AcceptsTheUsualSpellings) {
  struct Case {
    const char* text;
    Family family;
    const char* expected;
  };
  for (const Case& c : {Case{"127.0.0.1:3479", Family::kIpv4, "127.0.0.1:3479"},
                        Case{"127.0.0.1", Family::kIpv4, "127.0.0.1:3478"},
                        Case{"stun:192.0.2.1:19302", Family::kIpv4, "192.0.2.1:19302"},
                        Case{"[::1]:5349", Family::kIpv6, "[::1]:5349"},
                        Case{"[2001:db8::1]", Family::kIpv6, "[2001:db8::1]:3478"}}) {
    absl::StatusOr<SocketAddress> address = ResolveStunServer(c.text, c.family);
    ASSERT_TRUE(address.ok()) << c.text << ": " << address.status();
    EXPECT_EQ(address->ToString(), c.expected) << c.text;
  }
}

TEST(ResolveStunServerTest, RefusesMalformedAddresses) {
  for (const char* text : {"", ":3478", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:port",
                           "::1:3478", "[::1", "[::1]3478"}) {
    absl::StatusOr<SocketAddress> address = ResolveStunServer(text, Family::kIpv4);
    EXPECT_FALSE(address.ok()) << text;
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  // A literal of the other family does not resolve in this one.
  EXPECT_FALSE(ResolveStunServer("[::1]:3478", Family::kIpv4).ok());
}

TEST(UdpStunTransportTest, ReportsItsAddressesAndTimesOut) {
  absl::StatusOr<UdpStunTransport> transport =
      UdpStunTransport::Bind(SocketAddress::Ipv4({127, 0, 0, 1}, 0));
  ASSERT_TRUE(transport.ok()) << transport.status();
  EXPECT_NE(transport->local().port, 0);
  EXPECT_EQ(transport->LocalAddresses(), std::vector<SocketAddress>{transport->local()});
  // Nothing was sent to it: a deadline already past returns at once, empty.
  absl::StatusOr<std::optional<StunTransport::Datagram>> got =
      transport->Receive(absl::InfinitePast());
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  // A datagram to itself comes back with its source.
  const std::vector<uint8_t> data = {1, 2, 3};
  ASSERT_TRUE(transport->Send(transport->local(), data).ok());
  got = transport->Receive(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->from, transport->local());
  EXPECT_EQ((*got)->data, data);

  absl::StatusOr<UdpStunTransport> any =
      UdpStunTransport::Bind(SocketAddress::Ipv4({0, 0, 0, 0}, 0));
  ASSERT_TRUE(any.ok());
  const std::vector<SocketAddress> local = any->LocalAddresses();
  const SocketAddress loopback = SocketAddress::Ipv4({127, 0, 0, 1}, any->local().port);
  EXPECT_NE(std::find(local.begin(), local.end(), loopback), local.end());
}

}  // namespace
}  // namespace advisor::client
