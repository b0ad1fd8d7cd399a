// One TURN health check, as a real client does it: Allocate (401 challenge, then authenticated),
// CreatePermission for a peer socket of the prober's own, one Send/Data round trip through the
// relay, and Refresh with lifetime 0. An allocation that cannot relay counts as a failure.
//
// Runs over UDP, TCP or TLS as the URL says, and never takes longer than the configured timeout.
#ifndef ADVISOR_LIB_TURN_PROBE_H_
#define ADVISOR_LIB_TURN_PROBE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/turn/address.h"
#include "lib/turn/turn_url.h"

namespace advisor::turn {

struct ProbeOptions {
  absl::Duration timeout = absl::Seconds(5);  // for the whole check, every step included
  std::string software = "connectivity-advisor-prober";
  bool verify_tls_peer = false;  // TURN servers often use self-signed certificates
};

struct ProbeLatency {
  absl::Duration connect;     // name resolution, and the TCP connect and TLS handshake if any
  absl::Duration allocate;    // first request to authenticated success
  absl::Duration permission;  // CreatePermission
  absl::Duration relay;       // Send indication out to the Data indication back
  absl::Duration refresh;     // Refresh with lifetime 0
  absl::Duration total;
};

struct ProbeResult {
  bool ok = false;
  // Why it failed, in words: "Allocate: 401 Unauthorized (wrong credentials?)", "timed out after 5s
  // waiting for the CreatePermission response", "connect to 127.0.0.1:3478: Connection refused".
  std::string error;
  ProbeLatency latency;
  SocketAddress relayed;  // the allocation's relayed transport address, when one was made
};

// Runs one health check of `url` with long-term credentials (static or TURN REST API).
ProbeResult Probe(const TurnUrl& url, std::string_view username, std::string_view password,
                  const ProbeOptions& options);

}  // namespace advisor::turn

#endif  // ADVISOR_LIB_TURN_PROBE_H_
