// The TURN servers file that turn-prober and advisor-server both read (--turn-servers-file /
// ADVISOR_TURN_SERVERS_FILE): the registry of TURN servers and, the only place they live, their
// secrets. YAML, which also accepts JSON:
//
//   servers:
//     - id: eu-1
//       urls: ["turn:turn-eu-1.example.net:3478?transport=udp",
//              "turns:turn-eu-1.example.net:5349?transport=tcp"]
//       region: eu
//       auth: {rest_secret: "…"}          # or {username: "…", password: "…"}
//       enabled: true                     # optional, true by default
//
// Parsing is strict: unknown keys are errors (a misspelt `rest_secret` must not silently leave a
// server without credentials), and every error names the place to fix ("servers[2].urls[0]: …").
// Error messages never contain a secret. A file with no servers is valid: a deployment without
// TURN.
#ifndef ADVISOR_LIB_CONFIG_TURN_SERVERS_H_
#define ADVISOR_LIB_CONFIG_TURN_SERVERS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/turn/turn_url.h"

namespace advisor::config {

// Exactly one kind is set: the TURN REST API shared secret (coturn's use-auth-secret), or a static
// long-term username and password.
struct TurnAuth {
  std::string rest_secret;
  std::string username;
  std::string password;
};

struct TurnServerConfig {
  std::string id;                 // [A-Za-z0-9._-], 1 to 64 characters, unique in the file
  std::vector<std::string> urls;  // as written, at least one
  std::string region;             // same characters as id, or empty for "any region"
  TurnAuth auth;
  bool enabled = true;
  std::vector<turn::TurnUrl> parsed_urls;  // urls, parsed, in the same order
};

// Parses and validates the file's text. Errors are InvalidArgument.
absl::StatusOr<std::vector<TurnServerConfig>> ParseTurnServers(std::string_view yaml);

// Reads and parses the file at `path`; every error message starts with the path.
absl::StatusOr<std::vector<TurnServerConfig>> LoadTurnServersFile(const std::string& path);

}  // namespace advisor::config

#endif  // ADVISOR_LIB_CONFIG_TURN_SERVERS_H_
