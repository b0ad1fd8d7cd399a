#include "lib/turn/credentials.h"

#include <array>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lib/turn/crypto.h"

namespace advisor::turn {
namespace {

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

}  // namespace

std::vector<uint8_t> ShortTermKey(std::string_view password) {
  const std::span<const uint8_t> bytes = Bytes(password);
  return {bytes.begin(), bytes.end()};
}

absl::StatusOr<std::vector<uint8_t>> LongTermKey(std::string_view username, std::string_view realm,
                                                 std::string_view password) {
  const std::string input = absl::StrCat(absl::string_view(username.data(), username.size()), ":",
                                         absl::string_view(realm.data(), realm.size()), ":",
                                         absl::string_view(password.data(), password.size()));
  absl::StatusOr<std::array<uint8_t, 16>> digest = Md5(Bytes(input));
  if (!digest.ok()) return digest.status();
  return std::vector<uint8_t>(digest->begin(), digest->end());
}

absl::StatusOr<RestCredentials> MakeRestCredentials(std::string_view secret, std::string_view user,
                                                    absl::Time now, absl::Duration ttl) {
  if (secret.empty()) return absl::InvalidArgumentError("TURN REST API secret is empty");
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("TURN credential lifetime ", absl::FormatDuration(ttl), " is not positive"));
  }
  const int64_t expiry = absl::ToUnixSeconds(now + ttl);
  // coturn only reads the time from an all-digit prefix, so a negative one could never work.
  if (expiry < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("TURN credential expiry ", expiry, " is before 1970"));
  }
  RestCredentials credentials;
  credentials.username =
      user.empty() ? absl::StrCat(expiry)
                   : absl::StrCat(expiry, ":", absl::string_view(user.data(), user.size()));
  absl::StatusOr<std::array<uint8_t, 20>> mac =
      HmacSha1(Bytes(secret), Bytes(credentials.username));
  if (!mac.ok()) return mac.status();
  credentials.password = Base64(*mac);
  credentials.expires_at = absl::FromUnixSeconds(expiry);
  return credentials;
}

}  // namespace advisor::turn
