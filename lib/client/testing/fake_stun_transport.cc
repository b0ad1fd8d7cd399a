#include "lib/client/testing/fake_stun_transport.h"

#include <algorithm>
#include <array>

#include "lib/turn/message.h"

namespace advisor::client::testing {
namespace {

constexpr absl::Duration kOneWay = absl::Milliseconds(5);

std::vector<uint8_t> PlainAddressValue(const SocketAddress& a) {
  std::vector<uint8_t> v = {0, static_cast<uint8_t>(a.family), static_cast<uint8_t>(a.port >> 8),
                            static_cast<uint8_t>(a.port & 0xff)};
  v.insert(v.end(), a.ip.begin(), a.ip.begin() + a.IpLength());
  return v;
}

SocketAddress WithPort(SocketAddress a, uint16_t port) {
  a.port = port;
  return a;
}

}  // namespace

FakeStunTransport::FakeStunTransport(ManualClock& clock, FakeNat nat,
                                     std::vector<FakeServer> servers, SocketAddress local)
    : clock_(clock), nat_(nat), servers_(std::move(servers)), local_(local) {}

SocketAddress FakeStunTransport::Map(const SocketAddress& to) {
  if (nat_.open) return local_;
  SocketAddress key;  // what the mapping depends on
  switch (nat_.mapping) {
    case Behavior::kAddressDependent:
      key = WithPort(to, 0);
      break;
    case Behavior::kAddressAndPortDependent:
      key = to;
      break;
    default:
      break;
  }
  for (const auto& [k, mapped] : mappings_) {
    if (k == key) return mapped;
  }
  SocketAddress mapped = nat_.public_address;
  mapped.port = static_cast<uint16_t>(mapped.port + mappings_.size());
  mappings_.emplace_back(key, mapped);
  return mapped;
}

bool FakeStunTransport::Admits(const SocketAddress& from) const {
  if (nat_.open) return true;
  switch (nat_.filtering) {
    case Behavior::kAddressDependent:
      return std::any_of(contacted_.begin(), contacted_.end(),
                         [&](const SocketAddress& c) { return c.ip == from.ip; });
    case Behavior::kAddressAndPortDependent:
      return std::find(contacted_.begin(), contacted_.end(), from) != contacted_.end();
    default:
      return true;
  }
}

absl::Status FakeStunTransport::Send(const SocketAddress& to, std::span<const uint8_t> datagram) {
  ++sent_;
  if (nat_.blocked) return absl::OkStatus();
  const SocketAddress mapped = Map(to);
  if (std::find(contacted_.begin(), contacted_.end(), to) == contacted_.end()) {
    contacted_.push_back(to);
  }
  for (FakeServer& server : servers_) {
    const bool ours = to == server.primary ||
                      (server.other &&
                       (to == *server.other || to == WithPort(*server.other, server.primary.port) ||
                        to == WithPort(server.primary, server.other->port)));
    if (!ours) continue;
    if (server.silent) return absl::OkStatus();
    if (server.drop_first > 0) {
      --server.drop_first;
      return absl::OkStatus();
    }
    absl::StatusOr<turn::Message> request = turn::ParseMessage(datagram);
    if (!request.ok() || request->message_class != turn::MessageClass::kRequest) {
      return absl::OkStatus();
    }
    SocketAddress from = to;
    if (server.other) {
      if (const turn::Attribute* change = request->Find(attr::kChangeRequest);
          change != nullptr && change->value.size() == 4) {
        const bool other_ip = to.ip == server.other->ip;
        const bool other_port = to.port == server.other->port;
        // The answer leaves from the address with the IP and/or port flipped.
        if (change->value[3] & kChangeIp) {
          from.ip = other_ip ? server.primary.ip : server.other->ip;
        }
        if (change->value[3] & kChangePort) {
          from.port = other_port ? server.primary.port : server.other->port;
        }
      }
    }
    turn::MessageBuilder response(turn::Method::kBinding, turn::MessageClass::kSuccessResponse,
                                  request->transaction_id);
    response.AddXorAddress(turn::attr::kXorMappedAddress, mapped);
    if (server.other) response.AddAttribute(attr::kOtherAddress, PlainAddressValue(*server.other));
    absl::StatusOr<std::vector<uint8_t>> bytes = response.Build();
    if (!bytes.ok()) return bytes.status();
    if (!Admits(from)) return absl::OkStatus();
    queue_.push_back({clock_.Now() + 2 * kOneWay, Datagram{from, std::move(*bytes)}});
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<StunTransport::Datagram>> FakeStunTransport::Receive(
    absl::Time deadline) {
  if (!queue_.empty() && queue_.front().at <= deadline) {
    Queued next = std::move(queue_.front());
    queue_.pop_front();
    if (next.at > clock_.Now()) clock_.Set(next.at);
    return std::move(next.datagram);
  }
  if (deadline > clock_.Now()) clock_.Set(deadline);
  return std::nullopt;
}

}  // namespace advisor::client::testing
