// A fake network for NAT discovery tests: one local socket behind a simulated NAT with a chosen
// mapping and filtering behaviour, and STUN servers with one or two addresses that answer
// Binding requests (CHANGE-REQUEST included) as RFC 5780 servers, classic ones or not at all.
//
// Time is the ManualClock's: a Receive that finds nothing due moves the clock to its deadline, so
// a test runs every timeout and retransmission without sleeping.
#ifndef ADVISOR_LIB_CLIENT_TESTING_FAKE_STUN_TRANSPORT_H_
#define ADVISOR_LIB_CLIENT_TESTING_FAKE_STUN_TRANSPORT_H_

#include <deque>
#include <optional>
#include <vector>

#include "lib/client/clock.h"
#include "lib/client/nat_discovery.h"
#include "lib/client/stun_transport.h"

namespace advisor::client::testing {

struct FakeNat {
  bool open = false;     // no NAT: the mapped address is the local one
  bool blocked = false;  // UDP dropped both ways
  Behavior mapping = Behavior::kEndpointIndependent;
  Behavior filtering = Behavior::kEndpointIndependent;
  SocketAddress public_address = SocketAddress::Ipv4({203, 0, 113, 7}, 40000);  // first mapping
};

struct FakeServer {
  SocketAddress primary{};
  std::optional<SocketAddress> other{};  // OTHER-ADDRESS; with it the server honours CHANGE-REQUEST
  bool silent = false;                   // drops everything
  int drop_first = 0;                    // requests dropped before it starts answering
};

class FakeStunTransport final : public StunTransport {
 public:
  FakeStunTransport(ManualClock& clock, FakeNat nat, std::vector<FakeServer> servers,
                    SocketAddress local = SocketAddress::Ipv4({192, 168, 1, 20}, 50000));

  absl::Status Send(const SocketAddress& to, std::span<const uint8_t> datagram) override;
  absl::StatusOr<std::optional<Datagram>> Receive(absl::Time deadline) override;
  SocketAddress local() const override { return local_; }
  std::vector<SocketAddress> LocalAddresses() const override { return {local_}; }

  int sent() const { return sent_; }
  void set_local(const SocketAddress& local) { local_ = local; }

 private:
  SocketAddress Map(const SocketAddress& to);
  bool Admits(const SocketAddress& from) const;

  ManualClock& clock_;
  FakeNat nat_;
  std::vector<FakeServer> servers_;
  SocketAddress local_;
  int sent_ = 0;
  std::vector<SocketAddress> contacted_;  // what the NAT has seen us send to
  std::vector<std::pair<SocketAddress, SocketAddress>> mappings_;  // key → mapped
  struct Queued {
    absl::Time at;
    Datagram datagram;
  };
  std::deque<Queued> queue_;
};

}  // namespace advisor::client::testing

#endif  // ADVISOR_LIB_CLIENT_TESTING_FAKE_STUN_TRANSPORT_H_
