// RFC 7065 TURN URIs, as the TURN servers file and the advisor's answers give them:
// "turn:host[:port][?transport=udp|tcp]" or "turns:host[:port][?transport=tcp]" (turns means TLS
// over TCP). Default ports: 3478 for turn, 5349 for turns; default transport: udp for turn, tls for
// turns.
#ifndef ADVISOR_LIB_TURN_TURN_URL_H_
#define ADVISOR_LIB_TURN_TURN_URL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/strategy/types.h"

namespace advisor::turn {

// The project's one transport enum; a parsed URL never leaves it kUnspecified.
using strategy::Transport;
using strategy::TransportName;

struct TurnUrl {
  std::string text;  // as written
  bool secure = false;
  std::string host;  // name or numeric address, without IPv6 brackets
  uint16_t port = 0;
  Transport transport = Transport::kUdp;
};

// Errors are InvalidArgument and quote the URL.
absl::StatusOr<TurnUrl> ParseTurnUrl(std::string_view url);

}  // namespace advisor::turn

#endif  // ADVISOR_LIB_TURN_TURN_URL_H_
