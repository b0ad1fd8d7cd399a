#include "services/advisor/decision_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace advisor {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kFixedBytes =
    17;                           // version, pair (2), strategy, timeout (4), issued (8), id length
constexpr size_t kMacBytes = 16;  // HMAC-SHA256 truncated: 128 bits is ample against forgery
// Tokens from a replica whose clock runs a little ahead are still accepted.
constexpr absl::Duration kClockSkew = absl::Seconds(60);

void PutBigEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetBigEndian(std::string_view in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<uint8_t>(in[offset + i]);
  return value;
}

std::string Mac(const std::string& key, std::string_view payload) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), digest, &length);
  return std::string(reinterpret_cast<char*>(digest), kMacBytes);
}

bool SameMac(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("decision_token: malformed (", why, ")"));
}

}  // namespace

absl::StatusOr<TokenSigner> TokenSigner::Create(std::string key, std::string previous_key,
                                                absl::Duration ttl) {
  if (key.size() < kMinKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("token key must be at least ", kMinKeyBytes, " bytes, got ", key.size()));
  }
  if (!previous_key.empty() && previous_key.size() < kMinKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "previous token key must be at least ", kMinKeyBytes, " bytes, got ", previous_key.size()));
  }
  if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("token TTL must be positive");
  return TokenSigner(std::move(key), std::move(previous_key), ttl);
}

std::string TokenSigner::Sign(const TokenClaims& claims) const {
  std::string payload;
  payload.reserve(kFixedBytes + claims.turn_server_id.size());
  payload.push_back(static_cast<char>(kVersion));
  payload.push_back(static_cast<char>(claims.pair.a));
  payload.push_back(static_cast<char>(claims.pair.b));
  payload.push_back(static_cast<char>(claims.strategy));
  PutBigEndian(payload, claims.direct_timeout_ms, 4);
  PutBigEndian(payload, static_cast<uint64_t>(absl::ToUnixSeconds(claims.issued_at)), 8);
  std::string_view id = claims.turn_server_id;
  id = id.substr(0, kMaxTurnServerIdBytes);
  payload.push_back(static_cast<char>(id.size()));
  payload.append(id);
  return absl::StrCat(absl::WebSafeBase64Escape(payload), ".",
                      absl::WebSafeBase64Escape(Mac(key_, payload)));
}

absl::StatusOr<TokenClaims> TokenSigner::Verify(std::string_view token, absl::Time now) const {
  if (token.empty()) return absl::InvalidArgumentError("decision_token: required");
  size_t dot = token.find('.');
  if (dot == std::string_view::npos) return Malformed("no signature part");
  std::string payload, mac;
  if (!absl::WebSafeBase64Unescape(absl::string_view(token.data(), dot), &payload) ||
      !absl::WebSafeBase64Unescape(
          absl::string_view(token.data() + dot + 1, token.size() - dot - 1), &mac)) {
    return Malformed("not base64url");
  }
  if (payload.size() < kFixedBytes || mac.size() != kMacBytes) return Malformed("wrong length");
  if (!SameMac(mac, Mac(key_, payload)) &&
      (previous_key_.empty() || !SameMac(mac, Mac(previous_key_, payload)))) {
    return absl::UnauthenticatedError(
        "decision_token: signature does not match (forged, or signed with a retired key)");
  }
  // The signature is ours, so the fields were written by Sign; still check them, since a key shared
  // with an incompatible build must not crash or mislead this one.
  if (static_cast<uint8_t>(payload[0]) != kVersion) return Malformed("unsupported version");
  const auto a = static_cast<uint8_t>(payload[1]);
  const auto b = static_cast<uint8_t>(payload[2]);
  const auto s = static_cast<uint8_t>(payload[3]);
  if (a >= strategy::kNatTypeCount || b >= strategy::kNatTypeCount || a > b || s == 0 ||
      s >= strategy::kStrategyCount) {
    return Malformed("field out of range");
  }
  const size_t id_length = static_cast<uint8_t>(payload[16]);
  if (payload.size() != kFixedBytes + id_length) return Malformed("wrong length");

  TokenClaims claims;
  claims.pair = {static_cast<strategy::NatType>(a), static_cast<strategy::NatType>(b)};
  claims.strategy = static_cast<strategy::Strategy>(s);
  claims.direct_timeout_ms = static_cast<uint32_t>(GetBigEndian(payload, 4, 4));
  claims.issued_at = absl::FromUnixSeconds(static_cast<int64_t>(GetBigEndian(payload, 8, 8)));
  claims.turn_server_id = payload.substr(kFixedBytes);
  if (claims.issued_at > now + kClockSkew) {
    return absl::UnauthenticatedError("decision_token: issued in the future");
  }
  if (now - claims.issued_at > ttl_) {
    return absl::UnauthenticatedError(absl::StrCat(
        "decision_token: expired (issued ", absl::FormatDuration(now - claims.issued_at),
        " ago, valid for ", absl::FormatDuration(ttl_), ")"));
  }
  return claims;
}

}  // namespace advisor
