// Fuzz target: the TURN servers file (YAML or JSON), parsed and validated, as advisor-server and
// turn-prober do at start.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/config/turn_servers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)advisor::config::ParseTurnServers(text);
  return 0;
}
