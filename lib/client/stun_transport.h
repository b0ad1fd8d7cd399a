// The I/O that NAT discovery needs, behind a small interface: one local UDP socket that sends
// datagrams to any address and receives them with their source, by a deadline.
//
// RFC 5780's tests are only meaningful when every request leaves from the same local port (the
// NAT's mapping is per local transport address), so the interface is one socket, not one per
// server. UdpStunTransport is the real one; tests use lib/client/testing/fake_stun_transport.h.
#ifndef ADVISOR_LIB_CLIENT_STUN_TRANSPORT_H_
#define ADVISOR_LIB_CLIENT_STUN_TRANSPORT_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/turn/address.h"
#include "lib/turn/transport.h"

namespace advisor::client {

using turn::SocketAddress;

class StunTransport {
 public:
  virtual ~StunTransport() = default;

  // Sends one datagram from the transport's socket. A datagram the network drops is not an error;
  // an error means the destination cannot be reached at all from here (e.g. no route).
  virtual absl::Status Send(const SocketAddress& to, std::span<const uint8_t> datagram) = 0;

  struct Datagram {
    SocketAddress from;
    std::vector<uint8_t> data;
  };
  // The next datagram, waiting for one until `deadline` (as the clock the transport was made
  // with reads it); nullopt when the deadline passes first.
  virtual absl::StatusOr<std::optional<Datagram>> Receive(absl::Time deadline) = 0;

  // The socket's own address as bound (the IP may be the wildcard).
  virtual SocketAddress local() const = 0;
  // Every address this socket can be reached at without a NAT: the bound address, or for a
  // wildcard bind each address of the host's interfaces of that family, with the bound port. A
  // mapped address among these means there is no NAT; their IPs identify the local network.
  virtual std::vector<SocketAddress> LocalAddresses() const = 0;
};

// A non-blocking UDP socket waited on with poll(); deadlines are read from the system clock.
class UdpStunTransport final : public StunTransport {
 public:
  // Binds to `local` (port 0 for any; IP 0.0.0.0 or :: for any).
  static absl::StatusOr<UdpStunTransport> Bind(const SocketAddress& local);

  absl::Status Send(const SocketAddress& to, std::span<const uint8_t> datagram) override;
  absl::StatusOr<std::optional<Datagram>> Receive(absl::Time deadline) override;
  SocketAddress local() const override { return socket_.local(); }
  std::vector<SocketAddress> LocalAddresses() const override;

 private:
  explicit UdpStunTransport(turn::UdpSocket socket) : socket_(std::move(socket)) {}

  turn::UdpSocket socket_;
};

// "host:port", "[v6]:port", or "host" for port 3478, each optionally as a "stun:" URL as
// ice_config carries them, resolved to the first address of `family` (getaddrinfo, so names
// work). InvalidArgument for a malformed string, NotFound when the name does not resolve.
absl::StatusOr<SocketAddress> ResolveStunServer(absl::string_view host_port,
                                                SocketAddress::Family family);

}  // namespace advisor::client

#endif  // ADVISOR_LIB_CLIENT_STUN_TRANSPORT_H_
