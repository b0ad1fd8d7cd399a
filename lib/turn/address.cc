#include "lib/turn/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace advisor::turn {

SocketAddress SocketAddress::Ipv4(const std::array<uint8_t, 4>& ip, uint16_t port) {
  SocketAddress address;
  address.family = Family::kIpv4;
  std::memcpy(address.ip.data(), ip.data(), ip.size());
  address.port = port;
  return address;
}

SocketAddress SocketAddress::Ipv6(const std::array<uint8_t, 16>& ip, uint16_t port) {
  SocketAddress address;
  address.family = Family::kIpv6;
  address.ip = ip;
  address.port = port;
  return address;
}

absl::StatusOr<SocketAddress> SocketAddress::Parse(std::string_view ip, uint16_t port) {
  // inet_pton wants a NUL-terminated string.
  const std::string text(ip);
  std::array<uint8_t, 4> v4{};
  if (inet_pton(AF_INET, text.c_str(), v4.data()) == 1) return Ipv4(v4, port);
  std::array<uint8_t, 16> v6{};
  if (inet_pton(AF_INET6, text.c_str(), v6.data()) == 1) return Ipv6(v6, port);
  return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a numeric IP address"));
}

absl::StatusOr<SocketAddress> SocketAddress::FromSockaddr(const sockaddr* addr, socklen_t len) {
  if (addr == nullptr) return absl::InvalidArgumentError("no socket address");
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in;
    std::memcpy(&in, addr, sizeof(in));
    std::array<uint8_t, 4> ip;
    std::memcpy(ip.data(), &in.sin_addr, ip.size());
    return Ipv4(ip, ntohs(in.sin_port));
  }
  if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6;
    std::memcpy(&in6, addr, sizeof(in6));
    std::array<uint8_t, 16> ip;
    std::memcpy(ip.data(), &in6.sin6_addr, ip.size());
    return Ipv6(ip, ntohs(in6.sin6_port));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported socket address (family ", addr->sa_family, ", length ", len, ")"));
}

socklen_t SocketAddress::ToSockaddr(sockaddr_storage* out) const {
  std::memset(out, 0, sizeof(*out));
  if (family == Family::kIpv4) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&in.sin_addr, ip.data(), 4);
    std::memcpy(out, &in, sizeof(in));
    return sizeof(in);
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  std::memcpy(&in6.sin6_addr, ip.data(), 16);
  std::memcpy(out, &in6, sizeof(in6));
  return sizeof(in6);
}

std::string SocketAddress::IpString() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == Family::kIpv4 ? AF_INET : AF_INET6, ip.data(), text, sizeof(text));
  return text;
}

std::string SocketAddress::ToString() const {
  if (family == Family::kIpv4) return absl::StrCat(IpString(), ":", port);
  return absl::StrCat("[", IpString(), "]:", port);
}

}  // namespace advisor::turn
