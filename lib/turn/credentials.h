// TURN credentials: the MESSAGE-INTEGRITY keys of STUN's credential mechanisms (RFC 8489 §9),
// static long-term users, and the time-limited credentials of the TURN REST API that coturn
// implements with `use-auth-secret` (draft-uberti-behave-turn-rest-00).
//
// SASLprep/OpaqueString is the identity here: it changes nothing in the ASCII that REST API
// usernames and base64 passwords are made of, and a static password with non-ASCII characters
// must be given already prepared (as RFC 5769 §2.4 gives "TheMatrIX" for "TheMªtrⅨ").
#ifndef ADVISOR_LIB_TURN_CREDENTIALS_H_
#define ADVISOR_LIB_TURN_CREDENTIALS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace advisor::turn {

// A static long-term user, as configured for a TURN server (`auth: {username, password}`).
struct LongTermCredentials {
  std::string username;
  std::string password;
};

// Short-term credential key: the password's bytes (RFC 8489 §9.1.1).
std::vector<uint8_t> ShortTermKey(std::string_view password);

// Long-term credential key: MD5(username ":" realm ":" password) (RFC 8489 §9.2.2), with the
// realm as the server sent it in REALM.
absl::StatusOr<std::vector<uint8_t>> LongTermKey(std::string_view username, std::string_view realm,
                                                 std::string_view password);

// Credentials a TURN server with the shared `secret` accepts until `expires_at`; used as
// long-term credentials (the key still comes from LongTermKey with the server's realm).
struct RestCredentials {
  std::string username;  // "<expires_at as unix seconds>:<user>", or just the time for no user
  std::string password;  // base64(HMAC-SHA1(secret, username))
  absl::Time expires_at;
};

// Valid from `now` for `ttl`, rounded down to whole seconds as the username carries them. The
// user may contain ':' (coturn takes the time from before the first one). Errors: empty secret,
// non-positive ttl, or an expiry before 1970.
absl::StatusOr<RestCredentials> MakeRestCredentials(std::string_view secret, std::string_view user,
                                                    absl::Time now, absl::Duration ttl);

}  // namespace advisor::turn

#endif  // ADVISOR_LIB_TURN_CREDENTIALS_H_
