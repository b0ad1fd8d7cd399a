#include "lib/client/stun_transport.h"

#include <ifaddrs.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace advisor::client {
namespace {

bool IsWildcard(const SocketAddress& address) {
  return std::all_of(address.ip.begin(), address.ip.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace

absl::StatusOr<UdpStunTransport> UdpStunTransport::Bind(const SocketAddress& local) {
  absl::StatusOr<turn::UdpSocket> socket = turn::UdpSocket::Bind(local);
  if (!socket.ok()) return socket.status();
  return UdpStunTransport(std::move(*socket));
}

absl::Status UdpStunTransport::Send(const SocketAddress& to, std::span<const uint8_t> datagram) {
  if (to.family != socket_.local().family) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot reach ", to.ToString(), " from a socket bound to ", socket_.local().ToString()));
  }
  return socket_.SendTo(to, datagram);
}

absl::StatusOr<std::optional<StunTransport::Datagram>> UdpStunTransport::Receive(
    absl::Time deadline) {
  // Bounded: every pass either returns or waits, and a wait that returns nothing ends the loop
  // once the deadline has passed.
  for (;;) {
    absl::StatusOr<std::optional<turn::UdpSocket::Datagram>> got = socket_.TryReceive();
    if (!got.ok()) return got.status();
    if (got->has_value()) return Datagram{(*got)->from, std::move((*got)->data)};
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return std::nullopt;
    pollfd p{socket_.fd(), POLLIN, 0};
    const int n =
        poll(&p, 1, turn::PollTimeoutMs(turn::Clock::now() + absl::ToChronoNanoseconds(left)));
    if (n < 0 && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat("poll: ", turn::ErrnoText(errno)));
    }
  }
}

std::vector<SocketAddress> UdpStunTransport::LocalAddresses() const {
  const SocketAddress bound = socket_.local();
  if (!IsWildcard(bound)) return {bound};
  std::vector<SocketAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return {bound};
  const int family = bound.family == SocketAddress::Family::kIpv4 ? AF_INET : AF_INET6;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != family) continue;
    const socklen_t len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    absl::StatusOr<SocketAddress> address = SocketAddress::FromSockaddr(i->ifa_addr, len);
    if (!address.ok()) continue;
    address->port = bound.port;
    if (std::find(out.begin(), out.end(), *address) == out.end()) out.push_back(*address);
  }
  freeifaddrs(list);
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<SocketAddress> ResolveStunServer(absl::string_view host_port,
                                                SocketAddress::Family family) {
  std::string host(absl::StartsWith(host_port, "stun:") ? host_port.substr(5) : host_port);
  uint16_t port = 3478;
  auto parse_port = [&](absl::string_view text) -> absl::Status {
    uint32_t value = 0;
    if (!absl::SimpleAtoi(text, &value) || value == 0 || value > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("STUN server '", host_port, "': port '", text, "' is not 1-65535"));
    }
    port = static_cast<uint16_t>(value);
    return absl::OkStatus();
  };
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("STUN server '", host_port, "': no ']'"));
    }
    const std::string rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("STUN server '", host_port, "': expected ':' after ']'"));
      }
      if (absl::Status s = parse_port(rest.substr(1)); !s.ok()) return s;
    }
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    if (host.find(':') != colon) {
      return absl::InvalidArgumentError(
          absl::StrCat("STUN server '", host_port, "': write IPv6 addresses as [ADDR]:PORT"));
    }
    if (absl::Status s = parse_port(absl::string_view(host).substr(colon + 1)); !s.ok()) return s;
    host.resize(colon);
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("STUN server '", host_port, "': no host"));
  }
  addrinfo hints{};
  hints.ai_family = family == SocketAddress::Family::kIpv4 ? AF_INET : AF_INET6;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0 || result == nullptr) {
    return absl::NotFoundError(absl::StrCat("STUN server '", host_port, "': cannot resolve ", host,
                                            ": ", rc != 0 ? gai_strerror(rc) : "no address"));
  }
  absl::StatusOr<SocketAddress> address =
      SocketAddress::FromSockaddr(result->ai_addr, result->ai_addrlen);
  freeaddrinfo(result);
  if (!address.ok()) return address.status();
  address->port = port;
  return *address;
}

}  // namespace advisor::client
