#include "services/advisor/decision_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

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

bool SameMac(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("decision_token: malformed (", why, ")"));
}

struct DigestCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using DigestCtx = std::unique_ptr<EVP_MD_CTX, DigestCtxFree>;

}  // namespace

struct HmacSha256::State {
  DigestCtx inner{EVP_MD_CTX_new()};  // SHA-256 after absorbing key ^ ipad
  DigestCtx outer{EVP_MD_CTX_new()};  // SHA-256 after absorbing key ^ opad
};

HmacSha256::HmacSha256(std::string_view key) {
  constexpr size_t kBlock = 64;
  unsigned char block[kBlock] = {};
  if (key.size() > kBlock) {
    unsigned int length = 0;
    EVP_Digest(key.data(), key.size(), block, &length, EVP_sha256(), nullptr);
  } else {
    std::memcpy(block, key.data(), key.size());
  }
  unsigned char ipad[kBlock], opad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) {
    ipad[i] = block[i] ^ 0x36;
    opad[i] = block[i] ^ 0x5c;
  }
  auto state = std::make_shared<State>();
  EVP_DigestInit_ex(state->inner.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(state->inner.get(), ipad, kBlock);
  EVP_DigestInit_ex(state->outer.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(state->outer.get(), opad, kBlock);
  state_ = std::move(state);
}

std::string HmacSha256::Mac(std::string_view message, size_t length) const {
  // One scratch context per thread: the keyed states are copied into it, never changed.
  thread_local DigestCtx work{EVP_MD_CTX_new()};
  unsigned char inner[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
  unsigned int inner_length = 0, mac_length = 0;
  EVP_MD_CTX_copy_ex(work.get(), state_->inner.get());
  EVP_DigestUpdate(work.get(), message.data(), message.size());
  EVP_DigestFinal_ex(work.get(), inner, &inner_length);
  EVP_MD_CTX_copy_ex(work.get(), state_->outer.get());
  EVP_DigestUpdate(work.get(), inner, inner_length);
  EVP_DigestFinal_ex(work.get(), mac, &mac_length);
  return std::string(reinterpret_cast<char*>(mac), std::min<size_t>(length, mac_length));
}

TokenSigner::TokenSigner(const std::string& key, const std::string& previous_key,
                         absl::Duration ttl)
    : key_(key), ttl_(ttl) {
  if (!previous_key.empty()) previous_key_.emplace(previous_key);
}

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
  return TokenSigner(key, previous_key, ttl);
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
                      absl::WebSafeBase64Escape(key_.Mac(payload, kMacBytes)));
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
  if (!SameMac(mac, key_.Mac(payload, kMacBytes)) &&
      (!previous_key_ || !SameMac(mac, previous_key_->Mac(payload, kMacBytes)))) {
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
