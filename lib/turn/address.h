// A transport address (IP and port) as STUN and TURN carry it: in XOR-MAPPED-ADDRESS,
// XOR-RELAYED-ADDRESS and XOR-PEER-ADDRESS, and as the sockets of a TURN client see it.
//
// It is a plain value (family, 16 address bytes in network order, port) rather than a sockaddr so
// that the codec can fill and compare it byte for byte; ToSockaddr/FromSockaddr cross to the
// socket API where the prober needs it.
#ifndef ADVISOR_LIB_TURN_ADDRESS_H_
#define ADVISOR_LIB_TURN_ADDRESS_H_

#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace advisor::turn {

struct SocketAddress {
  // The values are STUN's address family codes (RFC 8489 §14.1).
  enum class Family : uint8_t { kIpv4 = 0x01, kIpv6 = 0x02 };

  Family family = Family::kIpv4;
  // Network byte order. An IPv4 address uses the first 4 bytes and the other 12 stay zero, so
  // that the defaulted comparison is exact.
  std::array<uint8_t, 16> ip{};
  uint16_t port = 0;

  static SocketAddress Ipv4(const std::array<uint8_t, 4>& ip, uint16_t port);
  static SocketAddress Ipv6(const std::array<uint8_t, 16>& ip, uint16_t port);
  // A numeric IPv4 or IPv6 address ("192.0.2.1", "2001:db8::1"); no name resolution.
  static absl::StatusOr<SocketAddress> Parse(std::string_view ip, uint16_t port);
  // From what recvfrom/getsockname report; only AF_INET and AF_INET6 are accepted.
  static absl::StatusOr<SocketAddress> FromSockaddr(const sockaddr* addr, socklen_t len);

  // Fills *out (zeroed first) for sendto/connect and returns the length to pass with it.
  socklen_t ToSockaddr(sockaddr_storage* out) const;
  // How many address bytes the family uses: 4 or 16.
  size_t IpLength() const { return family == Family::kIpv4 ? 4 : 16; }
  // "192.0.2.1" or "2001:db8::1".
  std::string IpString() const;
  // "192.0.2.1:3478" or "[2001:db8::1]:3478".
  std::string ToString() const;

  friend auto operator<=>(const SocketAddress&, const SocketAddress&) = default;
};

}  // namespace advisor::turn

#endif  // ADVISOR_LIB_TURN_ADDRESS_H_
