// Unit tests of ParseTurnUrl: the RFC 7065 forms with their defaults, and a named error for each
// way a URL can be wrong.
#include "lib/turn/turn_url.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace advisor::turn {
namespace {

using ::testing::HasSubstr;

TurnUrl MustParse(const std::string& text) {
  absl::StatusOr<TurnUrl> url = ParseTurnUrl(text);
  EXPECT_TRUE(url.ok()) << text << ": " << url.status();
  return url.ok() ? *url : TurnUrl{};
}

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<TurnUrl> url = ParseTurnUrl(text);
  EXPECT_FALSE(url.ok()) << text << " parsed, but should not";
  if (url.ok()) return "";
  EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << text;
  return std::string(url.status().message());
}

TEST(ParseTurnUrlTest, TurnDefaultsToUdpOnPort3478) {
  const TurnUrl url = MustParse("turn:turn-eu-1.example.net");
  EXPECT_EQ(url.text, "turn:turn-eu-1.example.net");
  EXPECT_FALSE(url.secure);
  EXPECT_EQ(url.host, "turn-eu-1.example.net");
  EXPECT_EQ(url.port, 3478);
  EXPECT_EQ(url.transport, Transport::kUdp);
}

TEST(ParseTurnUrlTest, TurnsDefaultsToTlsOnPort5349) {
  const TurnUrl url = MustParse("turns:turn-eu-1.example.net");
  EXPECT_TRUE(url.secure);
  EXPECT_EQ(url.port, 5349);
  EXPECT_EQ(url.transport, Transport::kTls);
}

TEST(ParseTurnUrlTest, ExplicitPortsAndTransports) {
  TurnUrl url = MustParse("turn:turn-eu-1.example.net:3479?transport=udp");
  EXPECT_EQ(url.port, 3479);
  EXPECT_EQ(url.transport, Transport::kUdp);

  url = MustParse("turn:192.0.2.1:80?transport=tcp");
  EXPECT_EQ(url.host, "192.0.2.1");
  EXPECT_EQ(url.port, 80);
  EXPECT_EQ(url.transport, Transport::kTcp);

  // turns over TCP is TLS: RFC 7065's only transport for turns.
  url = MustParse("turns:turn-eu-1.example.net:443?transport=tcp");
  EXPECT_EQ(url.port, 443);
  EXPECT_EQ(url.transport, Transport::kTls);

  url = MustParse("turn:h:65535");
  EXPECT_EQ(url.port, 65535);
  EXPECT_EQ(url.host, "h");
}

TEST(ParseTurnUrlTest, Ipv6AddressesGoInBrackets) {
  TurnUrl url = MustParse("turn:[2001:db8::1]:3478?transport=tcp");
  EXPECT_EQ(url.host, "2001:db8::1");
  EXPECT_EQ(url.port, 3478);
  EXPECT_EQ(url.transport, Transport::kTcp);

  url = MustParse("turns:[::1]");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 5349);
}

TEST(ParseTurnUrlTest, SchemeAndTransportAreCaseInsensitive) {
  const TurnUrl url = MustParse("TURN:Turn.Example.NET?Transport=TCP");
  EXPECT_FALSE(url.secure);
  EXPECT_EQ(url.host, "Turn.Example.NET");
  EXPECT_EQ(url.transport, Transport::kTcp);
  EXPECT_EQ(url.text, "TURN:Turn.Example.NET?Transport=TCP");
}

TEST(ParseTurnUrlTest, RejectsOtherSchemes) {
  EXPECT_THAT(ErrorOf("stun:stun.example.net"), HasSubstr("unknown scheme \"stun\""));
  EXPECT_THAT(ErrorOf("https://turn.example.net"), HasSubstr("unknown scheme \"https\""));
  EXPECT_THAT(ErrorOf("turn.example.net"), HasSubstr("no scheme"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("no scheme"));
}

TEST(ParseTurnUrlTest, RejectsAnAuthorityOrUserInfo) {
  EXPECT_THAT(ErrorOf("turn://turn.example.net:3478"), HasSubstr("no \"//\""));
  EXPECT_THAT(ErrorOf("turn:alice@turn.example.net"), HasSubstr("only host[:port]"));
  EXPECT_THAT(ErrorOf("turn:turn.example.net/path"), HasSubstr("only host[:port]"));
}

TEST(ParseTurnUrlTest, RejectsBadHosts) {
  EXPECT_THAT(ErrorOf("turn:"), HasSubstr("no host"));
  EXPECT_THAT(ErrorOf("turn::3478"), HasSubstr("no host"));
  EXPECT_THAT(ErrorOf("turn:?transport=udp"), HasSubstr("no host"));
  EXPECT_THAT(ErrorOf("turn:turn example.net"), HasSubstr("invalid host"));
  EXPECT_THAT(ErrorOf("turn:2001:db8::1"), HasSubstr("must be in brackets"));
  EXPECT_THAT(ErrorOf("turn:[2001:db8::1"), HasSubstr("without ']'"));
  EXPECT_THAT(ErrorOf("turn:[turn.example.net]"), HasSubstr("not an IPv6 address"));
  EXPECT_THAT(ErrorOf("turn:[192.0.2.1]"), HasSubstr("not an IPv6 address"));
  EXPECT_THAT(ErrorOf("turn:[::1]x"), HasSubstr("after ']'"));
}

TEST(ParseTurnUrlTest, RejectsBadPorts) {
  for (const char* url : {"turn:h:0", "turn:h:65536", "turn:h:123456", "turn:h:", "turn:h:abc",
                          "turn:h:+1", "turn:h:-1", "turn:h:34 78", "turn:[::1]:", "turn:h:1e3"}) {
    EXPECT_THAT(ErrorOf(url), HasSubstr("bad port")) << url;
  }
}

TEST(ParseTurnUrlTest, RejectsUnknownTransportsAndParameters) {
  EXPECT_THAT(ErrorOf("turn:h?transport=sctp"), HasSubstr("unknown transport \"sctp\""));
  EXPECT_THAT(ErrorOf("turn:h?transport="), HasSubstr("unknown transport \"\""));
  EXPECT_THAT(ErrorOf("turn:h?transport"), HasSubstr("unknown transport"));
  EXPECT_THAT(ErrorOf("turn:h?foo=bar"), HasSubstr("unknown parameter \"foo=bar\""));
  EXPECT_THAT(ErrorOf("turn:h?transport=udp&transport=tcp"), HasSubstr("twice"));
  EXPECT_THAT(ErrorOf("turn:h?"), HasSubstr("empty query"));
}

TEST(ParseTurnUrlTest, RejectsTurnsOverUdp) {
  const std::string error = ErrorOf("turns:turn.example.net?transport=udp");
  EXPECT_THAT(error, HasSubstr("DTLS"));
  // The error names the URL it is about.
  EXPECT_THAT(error, HasSubstr("\"turns:turn.example.net?transport=udp\""));
}

TEST(TransportNameTest, NamesEachTransport) {
  EXPECT_EQ(TransportName(Transport::kUdp), "udp");
  EXPECT_EQ(TransportName(Transport::kTcp), "tcp");
  EXPECT_EQ(TransportName(Transport::kTls), "tls");
}

}  // namespace
}  // namespace advisor::turn
