#include "lib/client/nat_discovery.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/turn/message.h"

namespace advisor::client {
namespace {

using strategy::NatType;

// Receive calls per round: a flood of stray datagrams must not keep a round going past what its
// requests can need, whatever the clock says.
constexpr int kMaxReceivesPerRequest = 64;

// MAPPED-ADDRESS layout (RFC 8489 §14.1), which OTHER-ADDRESS and RESPONSE-ORIGIN share: a
// reserved byte, the family, the port and the address, none of it XORed.
std::optional<SocketAddress> PlainAddress(const turn::Message& message, uint16_t type) {
  const turn::Attribute* a = message.Find(type);
  if (a == nullptr || a->value.size() < 4) return std::nullopt;
  const std::vector<uint8_t>& v = a->value;
  SocketAddress address;
  address.port = static_cast<uint16_t>((v[2] << 8) | v[3]);
  if (v[1] == static_cast<uint8_t>(SocketAddress::Family::kIpv4) && v.size() == 8) {
    address.family = SocketAddress::Family::kIpv4;
  } else if (v[1] == static_cast<uint8_t>(SocketAddress::Family::kIpv6) && v.size() == 20) {
    address.family = SocketAddress::Family::kIpv6;
  } else {
    return std::nullopt;
  }
  std::copy_n(v.begin() + 4, address.IpLength(), address.ip.begin());
  return address;
}

// The classic attributes a Binding response may carry besides XOR-MAPPED-ADDRESS. They are
// comprehension-required, so lib/turn's parser lists them as unknown; anything else unknown makes
// the response untrustworthy (RFC 8489 §14).
bool OnlyClassicUnknowns(const turn::Message& message) {
  return std::all_of(message.unknown_required.begin(), message.unknown_required.end(),
                     [](uint16_t type) {
                       return type == attr::kMappedAddress || type == attr::kSourceAddress ||
                              type == attr::kChangedAddress;
                     });
}

// One Binding transaction of a round.
struct Transaction {
  SocketAddress to;
  uint8_t change = 0;  // CHANGE-REQUEST flags, 0 for none

  turn::TransactionId id{};
  std::vector<uint8_t> bytes{};
  int sent = 0;
  absl::Time next_send{};
  absl::Duration rto{};
  bool unreachable = false;

  bool answered = false;
  bool error_response = false;
  SocketAddress from{};
  std::optional<SocketAddress> mapped{};
  std::optional<SocketAddress> other{};
};

// Runs the transactions side by side from the one socket until each is answered or the round's
// deadline passes. Responses are matched by transaction id, not by source, since the filtering
// tests are answered from another address than the one asked.
void RunRound(StunTransport& transport, const Clock& clock, const DiscoveryOptions& options,
              std::vector<Transaction>& round) {
  if (round.empty()) return;
  const absl::Time start = clock.Now();
  const absl::Time deadline = start + options.timeout;
  for (Transaction& t : round) {
    absl::StatusOr<turn::TransactionId> id = turn::NewTransactionId();
    turn::MessageBuilder builder(turn::Method::kBinding, turn::MessageClass::kRequest,
                                 id.ok() ? *id : turn::TransactionId{});
    if (t.change != 0) {
      const std::array<uint8_t, 4> value = {0, 0, 0, t.change};
      builder.AddAttribute(attr::kChangeRequest, value);
    }
    absl::StatusOr<std::vector<uint8_t>> bytes = builder.Build();
    if (!id.ok() || !bytes.ok()) {
      t.unreachable = true;
      continue;
    }
    t.id = *id;
    t.bytes = std::move(*bytes);
    t.next_send = start;
    t.rto = options.initial_rto;
  }
  const int max_receives = kMaxReceivesPerRequest * static_cast<int>(round.size());
  for (int receives = 0; receives < max_receives; ++receives) {
    const absl::Time now = clock.Now();
    bool waiting = false;
    absl::Time wake = deadline;
    for (Transaction& t : round) {
      if (t.answered || t.unreachable) continue;
      if (t.sent < options.max_transmissions && now >= t.next_send) {
        if (!transport.Send(t.to, t.bytes).ok()) {
          t.unreachable = true;
          continue;
        }
        ++t.sent;
        t.next_send = now + t.rto;
        t.rto *= 2;
      }
      if (t.sent < options.max_transmissions) wake = std::min(wake, t.next_send);
      waiting = true;
    }
    if (!waiting || now >= deadline) return;
    absl::StatusOr<std::optional<StunTransport::Datagram>> got = transport.Receive(wake);
    if (!got.ok()) return;
    if (!got->has_value()) continue;
    absl::StatusOr<turn::Message> message = turn::ParseMessage((*got)->data);
    if (!message.ok() || message->method != turn::Method::kBinding) continue;
    auto match = std::find_if(round.begin(), round.end(), [&](const Transaction& t) {
      return !t.answered && t.sent > 0 && t.id == message->transaction_id;
    });
    if (match == round.end()) continue;
    if (message->message_class == turn::MessageClass::kErrorResponse) {
      match->answered = true;
      match->error_response = true;
      match->from = (*got)->from;
      continue;
    }
    if (message->message_class != turn::MessageClass::kSuccessResponse ||
        !OnlyClassicUnknowns(*message)) {
      continue;
    }
    absl::StatusOr<SocketAddress> xor_mapped =
        message->GetXorAddress(turn::attr::kXorMappedAddress);
    std::optional<SocketAddress> mapped =
        xor_mapped.ok() ? std::optional(*xor_mapped) : PlainAddress(*message, attr::kMappedAddress);
    if (!mapped) continue;
    match->answered = true;
    match->from = (*got)->from;
    match->mapped = mapped;
    match->other = PlainAddress(*message, attr::kOtherAddress);
  }
}

// OTHER-ADDRESS that RFC 5780's tests can use: another IP and another port of the same family.
bool UsableOther(const SocketAddress& primary, const std::optional<SocketAddress>& other) {
  return other && other->family == primary.family && other->ip != primary.ip &&
         other->port != primary.port;
}

SocketAddress WithPort(SocketAddress address, uint16_t port) {
  address.port = port;
  return address;
}

// The majority among `verdicts`; a tie goes to the more restrictive behaviour (higher value), so
// that a split never makes the advice more optimistic than one of the servers saw.
std::pair<Behavior, double> Majority(const std::vector<Behavior>& verdicts) {
  if (verdicts.empty()) return {Behavior::kUnknown, 0};
  std::array<int, 4> count{};
  for (Behavior b : verdicts) ++count[static_cast<int>(b)];
  int best = 1;
  for (int b = 2; b <= 3; ++b) {
    if (count[b] >= count[best]) best = b;
  }
  return {static_cast<Behavior>(best),
          static_cast<double>(count[best]) / static_cast<double>(verdicts.size())};
}

NatType ConeType(Behavior filtering) {
  switch (filtering) {
    case Behavior::kEndpointIndependent:
      return NatType::kFullCone;
    case Behavior::kAddressDependent:
      return NatType::kRestrictedCone;
    default:
      return NatType::kPortRestrictedCone;
  }
}

}  // namespace

std::string_view BehaviorName(Behavior behavior) {
  switch (behavior) {
    case Behavior::kEndpointIndependent:
      return "endpoint_independent";
    case Behavior::kAddressDependent:
      return "address_dependent";
    case Behavior::kAddressAndPortDependent:
      return "address_and_port_dependent";
    case Behavior::kUnknown:
      break;
  }
  return "unknown";
}

Behavior CompareMappings(std::span<const ServerObservation> servers) {
  std::vector<const ServerObservation*> answered;
  for (const ServerObservation& s : servers) {
    if (s.answered && s.mapped) answered.push_back(&s);
  }
  if (answered.size() < 2) return Behavior::kUnknown;
  bool all_same = true;
  bool same_ip_differs = false;
  for (size_t i = 0; i < answered.size(); ++i) {
    for (size_t j = i + 1; j < answered.size(); ++j) {
      if (*answered[i]->mapped == *answered[j]->mapped) continue;
      all_same = false;
      if (answered[i]->server.family == answered[j]->server.family &&
          answered[i]->server.ip == answered[j]->server.ip) {
        same_ip_differs = true;
      }
    }
  }
  if (all_same) return Behavior::kEndpointIndependent;
  return same_ip_differs ? Behavior::kAddressAndPortDependent : Behavior::kAddressDependent;
}

NatDiscoveryResult Classify(std::span<const ServerObservation> servers,
                            std::span<const SocketAddress> local, Behavior comparison) {
  NatDiscoveryResult result;
  result.servers.assign(servers.begin(), servers.end());
  std::vector<const ServerObservation*> answered;
  for (const ServerObservation& s : servers) {
    if (s.answered && s.mapped) answered.push_back(&s);
    if (UsableOther(s.server, s.other_address)) result.rfc5780 = true;
  }
  if (answered.empty()) {
    result.nat_type = NatType::kBlocked;
    const int n = std::max<int>(1, static_cast<int>(servers.size()));
    result.confidence = static_cast<float>(std::min(0.9, 1 - 0.4 * std::pow(0.5, n - 1)));
    return result;
  }

  // The public address: the mapped address most servers saw (the first such on a tie).
  std::map<SocketAddress, int> seen;
  for (const ServerObservation* s : answered) ++seen[*s->mapped];
  int best = 0;
  for (const ServerObservation* s : answered) {
    if (seen[*s->mapped] > best) {
      best = seen[*s->mapped];
      result.public_address = s->mapped;
    }
  }

  std::vector<Behavior> mapping_votes;
  std::vector<Behavior> filtering_votes;
  bool rfc5780_mapping = false;
  for (const ServerObservation* s : answered) {
    if (s->mapping != Behavior::kUnknown) {
      mapping_votes.push_back(s->mapping);
      rfc5780_mapping = true;
    }
    if (s->filtering != Behavior::kUnknown) filtering_votes.push_back(s->filtering);
  }
  if (comparison != Behavior::kUnknown) mapping_votes.push_back(comparison);
  const auto [mapping, mapping_agreement] = Majority(mapping_votes);
  const auto [filtering, filtering_agreement] = Majority(filtering_votes);
  result.mapping = mapping;
  result.filtering = filtering;

  const auto open = std::count_if(answered.begin(), answered.end(), [&](const auto* s) {
    return std::find(local.begin(), local.end(), *s->mapped) != local.end();
  });
  if (2 * open >= static_cast<long>(answered.size())) {
    result.nat_type = NatType::kOpen;
    // Without translation the mapping is endpoint-independent by definition.
    if (result.mapping == Behavior::kUnknown) result.mapping = Behavior::kEndpointIndependent;
    const double quality = open >= 2 ? 0.95 : 0.85;
    result.confidence = static_cast<float>(quality * static_cast<double>(open) /
                                           static_cast<double>(answered.size()));
    return result;
  }
  if (mapping == Behavior::kUnknown) return result;  // one plain server: type unknown

  int repeats = 0, same = 0;
  for (const ServerObservation* s : answered) {
    repeats += s->repeats_answered;
    same += s->repeats_same;
  }
  const double stability = repeats > 0 ? static_cast<double>(same) / repeats : 1.0;
  const bool corroborated = mapping_votes.size() >= 2;
  double quality;
  double agreement = mapping_agreement;
  if (mapping != Behavior::kEndpointIndependent) {
    result.nat_type = NatType::kSymmetric;
    quality = rfc5780_mapping ? (corroborated ? 0.95 : 0.85) : 0.8;
  } else if (filtering != Behavior::kUnknown) {
    result.nat_type = ConeType(filtering);
    quality = corroborated ? 0.95 : 0.85;
    agreement *= filtering_agreement;
  } else {
    result.nat_type = NatType::kPortRestrictedCone;
    quality = 0.6;
  }
  result.confidence = static_cast<float>(quality * agreement * stability);
  return result;
}

std::string DiscoveryCache::NetworkKey(std::span<const SocketAddress> local) {
  std::set<std::string> ips;
  for (const SocketAddress& a : local) ips.insert(a.IpString());
  return absl::StrJoin(ips, ",");
}

std::optional<NatDiscoveryResult> DiscoveryCache::Lookup(const std::string& key,
                                                         absl::Time now) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  // A clock that went backwards makes the entry's age unknown: detect again.
  if (now < it->second.detected_at || now - it->second.detected_at >= ttl_) return std::nullopt;
  return it->second;
}

void DiscoveryCache::Store(const std::string& key, const NatDiscoveryResult& result) {
  entries_[key] = result;
}

absl::StatusOr<NatDiscoveryResult> NatDetector::Detect(StunTransport& transport,
                                                       std::span<const SocketAddress> servers) {
  if (servers.empty()) return absl::InvalidArgumentError("NAT discovery needs a STUN server");
  if (options_.timeout <= absl::ZeroDuration() || options_.max_transmissions < 1 ||
      options_.initial_rto <= absl::ZeroDuration() || options_.repeats < 0) {
    return absl::InvalidArgumentError(
        "NAT discovery needs a positive timeout, RTO and transmission count");
  }
  const std::vector<SocketAddress> local = transport.LocalAddresses();
  const std::string key = DiscoveryCache::NetworkKey(local);
  if (std::optional<NatDiscoveryResult> cached = cache_.Lookup(key, clock_.Now())) {
    cached->from_cache = true;
    return *cached;
  }

  std::vector<ServerObservation> obs(servers.size());
  for (size_t i = 0; i < servers.size(); ++i) obs[i].server = servers[i];

  // Test I, to every server at once, then the repeats to those that answered.
  std::vector<Transaction> round;
  for (const SocketAddress& s : servers) round.push_back({.to = s});
  RunRound(transport, clock_, options_, round);
  for (size_t i = 0; i < obs.size(); ++i) {
    obs[i].answered = round[i].answered && round[i].mapped.has_value();
    obs[i].mapped = round[i].mapped;
    obs[i].other_address = round[i].other;
    if (!obs[i].answered) obs[i].note = round[i].unreachable ? "unreachable" : "no answer";
  }
  for (int r = 0; r < options_.repeats; ++r) {
    std::vector<size_t> who;
    round.clear();
    for (size_t i = 0; i < obs.size(); ++i) {
      if (!obs[i].answered) continue;
      who.push_back(i);
      round.push_back({.to = obs[i].server});
    }
    RunRound(transport, clock_, options_, round);
    for (size_t k = 0; k < who.size(); ++k) {
      if (!round[k].mapped) continue;
      ++obs[who[k]].repeats_answered;
      if (*round[k].mapped == *obs[who[k]].mapped) ++obs[who[k]].repeats_same;
    }
  }

  // Filtering first: so far the NAT has seen requests to the servers' primary addresses only.
  std::vector<size_t> rfc5780;
  for (size_t i = 0; i < obs.size(); ++i) {
    if (obs[i].answered && UsableOther(obs[i].server, obs[i].other_address)) rfc5780.push_back(i);
  }
  round.clear();
  std::vector<size_t> filtered;
  for (size_t i : rfc5780) {
    const SocketAddress& a1 = obs[i].server;
    const SocketAddress& other = *obs[i].other_address;
    const bool polluted = std::any_of(servers.begin(), servers.end(), [&](const SocketAddress& s) {
      return s.ip == other.ip || s == WithPort(a1, other.port);
    });
    if (polluted) {
      obs[i].note = "filtering not tested: another server given shares its alternate address";
      continue;
    }
    filtered.push_back(i);
    round.push_back({.to = a1, .change = static_cast<uint8_t>(kChangeIp | kChangePort)});
    round.push_back({.to = a1, .change = kChangePort});
  }
  RunRound(transport, clock_, options_, round);
  for (size_t k = 0; k < filtered.size(); ++k) {
    ServerObservation& s = obs[filtered[k]];
    const Transaction& both = round[2 * k];
    const Transaction& port = round[2 * k + 1];
    const SocketAddress a1p2 = WithPort(s.server, s.other_address->port);
    if (both.error_response || port.error_response) {
      s.note = "the server refused CHANGE-REQUEST";
    } else if (both.answered && both.from.ip != s.server.ip && both.from.port != s.server.port) {
      s.filtering = Behavior::kEndpointIndependent;
    } else if (both.answered || (port.answered && port.from != a1p2)) {
      // An answer from an address the request did not ask for.
      s.note = "the server ignored CHANGE-REQUEST";
    } else if (port.answered) {
      s.filtering = Behavior::kAddressDependent;
    } else {
      s.filtering = Behavior::kAddressAndPortDependent;
    }
  }

  // Mapping: tests II (A2:P1) and III (A2:P2) side by side.
  round.clear();
  for (size_t i : rfc5780) {
    round.push_back({.to = WithPort(*obs[i].other_address, obs[i].server.port)});
    round.push_back({.to = *obs[i].other_address});
  }
  RunRound(transport, clock_, options_, round);
  for (size_t k = 0; k < rfc5780.size(); ++k) {
    ServerObservation& s = obs[rfc5780[k]];
    const std::optional<SocketAddress>& m2 = round[2 * k].mapped;
    const std::optional<SocketAddress>& m3 = round[2 * k + 1].mapped;
    if (!m2) {
      s.note = "its alternate address did not answer";
    } else if (*m2 == *s.mapped) {
      s.mapping = Behavior::kEndpointIndependent;
    } else if (m3 && *m3 != *m2) {
      s.mapping = Behavior::kAddressAndPortDependent;
    } else {
      // Without test III's answer the mapping is at least address-dependent.
      s.mapping = Behavior::kAddressDependent;
    }
  }

  NatDiscoveryResult result = Classify(obs, local, CompareMappings(obs));
  result.local_address = transport.local();
  result.detected_at = clock_.Now();
  if (result.nat_type != NatType::kUnknown) cache_.Store(key, result);
  return result;
}

}  // namespace advisor::client
