// NAT behaviour discovery from the client's side: which of the seven NAT types this host is
// behind, how sure that is, and the public address the NAT maps it to.
//
// Two methods, combined:
//  - RFC 5780 against a STUN server with two addresses (OTHER-ADDRESS in its Binding response).
//    Mapping: the address mapped towards the primary address A1:P1 (test I) is compared with the
//    ones towards A2:P1 (test II) and A2:P2 (test III): II == I endpoint-independent, else
//    III == II address-dependent, else address-and-port-dependent. Filtering: a request to A1:P1
//    with CHANGE-REQUEST change-IP+port answered (from A2:P2) means endpoint-independent, else
//    one with change-port answered (from A1:P2) address-dependent, else address-and-port-
//    dependent. The filtering tests run before the mapping tests, so that no request of ours has
//    opened the NAT towards A2 yet.
//  - The seed's comparison, for servers without RFC 5780: the addresses mapped towards several
//    servers from the same local port. All equal: endpoint-independent mapping; any differing:
//    not (reported as address-dependent when the servers differ in IP only, address-and-port-
//    dependent when two of them share an IP). It says nothing about filtering.
// No Binding answer from any server within the timeout: UDP is blocked. A mapped address equal to
// one of the socket's own addresses: OPEN (no NAT; filtering is reported but does not matter).
//
// Types: non-endpoint-independent mapping = symmetric; endpoint-independent mapping with
// endpoint-independent / address-dependent / address-and-port-dependent filtering = full cone /
// restricted cone / port-restricted cone; endpoint-independent mapping with unknown filtering =
// port-restricted cone (the most restrictive cone, so the advice is never too optimistic), at a
// lower confidence. A single server without RFC 5780 cannot tell mapping apart: unknown.
//
// Confidence, in [0, 1]:
//   OPEN:     quality × agreement, quality 0.95 when two or more servers saw the local address,
//             0.85 for one; agreement = servers that saw it / servers that answered.
//   BLOCKED:  min(0.9, 1 − 0.4 × 0.5^(n − 1)) for n silent servers (0.6, 0.8, 0.9): one silent
//             server may just be down.
//   NAT:      quality × agreement × stability, where
//             quality   = symmetric: 0.95 with an RFC 5780 verdict and a second mapping verdict
//                         (another server or the comparison), 0.85 with RFC 5780 alone, 0.8 from
//                         the comparison only (differing mapped addresses are seen directly);
//                         cone: 0.95 with filtering known and two or more mapping verdicts, 0.85
//                         with filtering known and one, 0.6 with filtering unknown;
//             agreement = mapping verdicts that agree with the chosen one / all mapping verdicts
//                         (the majority wins; a tie goes to the more restrictive behaviour), for a
//                         cone with known filtering times the same share among filtering verdicts;
//             stability = repeated test-I answers that gave the same mapped address as the
//                         first one to the same server / all repeated answers (1 without any).
//   UNKNOWN:  0.
// The advisor treats a type below its confidence threshold (0.5 by default) as unknown.
//
// Every request is retransmitted as RFC 8489 §6.2.1 says, with the count and the first interval
// bounded by the options, and every wait ends at a deadline of the injected clock.
#ifndef ADVISOR_LIB_CLIENT_NAT_DISCOVERY_H_
#define ADVISOR_LIB_CLIENT_NAT_DISCOVERY_H_

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/client/clock.h"
#include "lib/client/stun_transport.h"
#include "lib/strategy/types.h"

namespace advisor::client {

// RFC 5780 §4: the same three classes serve mapping and filtering.
enum class Behavior : uint8_t {
  kUnknown = 0,
  kEndpointIndependent = 1,
  kAddressDependent = 2,
  kAddressAndPortDependent = 3,
};
// "unknown", "endpoint_independent", "address_dependent", "address_and_port_dependent".
std::string_view BehaviorName(Behavior behavior);

// RFC 5780 attributes (and the RFC 3489 ones a classic server sends) that lib/turn's codec does
// not name.
namespace attr {
inline constexpr uint16_t kMappedAddress = 0x0001;
inline constexpr uint16_t kChangeRequest = 0x0003;
inline constexpr uint16_t kSourceAddress = 0x0004;   // RFC 3489
inline constexpr uint16_t kChangedAddress = 0x0005;  // RFC 3489
inline constexpr uint16_t kResponseOrigin = 0x802B;
inline constexpr uint16_t kOtherAddress = 0x802C;
}  // namespace attr
inline constexpr uint8_t kChangeIp = 0x04;
inline constexpr uint8_t kChangePort = 0x02;

struct DiscoveryOptions {
  // How long one round of tests waits for its answers, retransmissions included. Discovery runs
  // at most 2 + repeats rounds.
  absl::Duration timeout = absl::Seconds(2);
  // RFC 8489's RTO, doubled after each retransmission; its default of 500 ms would leave too few
  // transmissions within a short timeout.
  absl::Duration initial_rto = absl::Milliseconds(200);
  int max_transmissions = 4;
  // Extra test-I rounds per server whose mapped addresses must match the first: a NAT whose
  // mapping changes between requests to one server is not what its single answer suggests.
  int repeats = 1;
  // How long a result stays valid for the same local network.
  absl::Duration cache_ttl = absl::Minutes(5);
};

// What one server told.
struct ServerObservation {
  SocketAddress server{};
  bool answered = false;
  std::optional<SocketAddress> mapped{};         // test I
  std::optional<SocketAddress> other_address{};  // OTHER-ADDRESS: RFC 5780 support
  int repeats_answered = 0;
  int repeats_same = 0;                     // repeated test-I answers with the same mapped address
  Behavior mapping = Behavior::kUnknown;    // from this server's RFC 5780 tests
  Behavior filtering = Behavior::kUnknown;  // from this server's RFC 5780 tests
  std::string note{};                       // why a test could not be made, if it could not
};

struct NatDiscoveryResult {
  strategy::NatType nat_type = strategy::NatType::kUnknown;
  float confidence = 0;
  Behavior mapping = Behavior::kUnknown;
  Behavior filtering = Behavior::kUnknown;
  std::optional<SocketAddress> public_address;  // the mapped address most servers agree on
  SocketAddress local_address;                  // the socket's, as bound
  bool rfc5780 = false;                         // a server with two addresses took part
  bool from_cache = false;
  absl::Time detected_at;
  std::vector<ServerObservation> servers;
};

// The decision part of discovery, pure: the result that these observations support. `local` is
// StunTransport::LocalAddresses(). `comparison` is the mapping verdict of the multi-server
// comparison (kUnknown when fewer than two servers answered).
NatDiscoveryResult Classify(std::span<const ServerObservation> servers,
                            std::span<const SocketAddress> local, Behavior comparison);

// The comparison of mapped addresses across servers (the seed's method): kUnknown with fewer than
// two answers.
Behavior CompareMappings(std::span<const ServerObservation> servers);

// Results per local network for cache_ttl: the key is the sorted set of the socket's local IPs
// (ports left out, since every detection binds a new socket), so a host that moves to another
// network, or gets another address, detects again.
class DiscoveryCache {
 public:
  explicit DiscoveryCache(absl::Duration ttl) : ttl_(ttl) {}
  static std::string NetworkKey(std::span<const SocketAddress> local);
  std::optional<NatDiscoveryResult> Lookup(const std::string& key, absl::Time now) const;
  void Store(const std::string& key, const NatDiscoveryResult& result);
  void Clear() { entries_.clear(); }

 private:
  absl::Duration ttl_;
  std::map<std::string, NatDiscoveryResult> entries_;
};

// Not thread-safe: one detector per thread, or calls serialised by the caller.
class NatDetector {
 public:
  NatDetector(const Clock& clock, DiscoveryOptions options)
      : clock_(clock), options_(options), cache_(options.cache_ttl) {}

  // Runs discovery from `transport`'s socket against `servers` (primary addresses), or returns
  // the cached result for this network (from_cache set). An error only for arguments that make
  // discovery impossible (no servers, a non-positive timeout); a network that answers nothing is
  // a result (BLOCKED), not an error. UNKNOWN results are not cached.
  absl::StatusOr<NatDiscoveryResult> Detect(StunTransport& transport,
                                            std::span<const SocketAddress> servers);
  DiscoveryCache& cache() { return cache_; }

 private:
  const Clock& clock_;
  DiscoveryOptions options_;
  DiscoveryCache cache_;
};

}  // namespace advisor::client

#endif  // ADVISOR_LIB_CLIENT_NAT_DISCOVERY_H_
