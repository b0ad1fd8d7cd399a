// Fuzz target: TURN URIs (RFC 7065) as operators write them in the servers file. A URL that parses
// keeps its text, has a host and a port, and a transport that its scheme allows.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lib/turn/turn_url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace advisor::turn;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<TurnUrl> url = ParseTurnUrl(text);
  if (!url.ok()) return 0;
  if (url->text != text || url->host.empty() || url->port == 0 ||
      (url->secure && url->transport == Transport::kUdp)) {
    abort();
  }
  (void)TransportName(url->transport);
  return 0;
}
