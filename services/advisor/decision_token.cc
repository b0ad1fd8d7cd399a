#include "services/advisor/decision_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace advisor {
namespace {

constexpr uint8_t kVersion = 2;
// version, key id (4), nonce (16), receiver digest (12), pair (2), strategy, timeout (4),
// issued (8), TURN server id length
constexpr size_t kKeyIdAt = 1, kNonceAt = 5, kReceiverAt = 21, kPairAt = 33, kStrategyAt = 35,
                 kTimeoutAt = 36, kIssuedAt = 40, kIdLengthAt = 48, kFixedBytes = 49;
constexpr size_t kReceiverBytes = 12;  // 96 bits: a collision between two clients is not a concern
constexpr size_t kMacBytes = 16;       // HMAC-SHA256 truncated: 128 bits is ample against forgery

uint64_t GetBigEndian(std::string_view in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<uint8_t>(in[offset + i]);
  return value;
}

// MACs, ids and digests are byte arrays; the token's layout and comparisons speak chars.
std::string_view Chars(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string WebSafeBase64(std::span<const uint8_t> bytes) {
  return absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

bool SameBytes(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("decision_token: malformed (", why, ")"));
}

// Decodes unpadded base64url, and only the spelling Sign writes: padding, or stray bits in the
// last character, would give one token several spellings.
bool DecodeCanonical(std::string_view text, std::string& out) {
  const absl::string_view in(text.data(), text.size());
  return absl::WebSafeBase64Unescape(in, &out) && absl::WebSafeBase64Escape(out) == in;
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

absl::StatusOr<HmacSha256> HmacSha256::Create(std::string_view key) {
  constexpr size_t kBlock = 64;
  auto state = std::make_shared<State>();
  unsigned char block[kBlock] = {};
  bool ok = state->inner != nullptr && state->outer != nullptr;
  if (key.size() > kBlock) {
    unsigned int length = 0;
    ok = ok && EVP_Digest(key.data(), key.size(), block, &length, EVP_sha256(), nullptr) == 1;
  } else {
    std::memcpy(block, key.data(), key.size());
  }
  unsigned char ipad[kBlock], opad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) {
    ipad[i] = block[i] ^ 0x36;
    opad[i] = block[i] ^ 0x5c;
  }
  ok = ok && EVP_DigestInit_ex(state->inner.get(), EVP_sha256(), nullptr) == 1 &&
       EVP_DigestUpdate(state->inner.get(), ipad, kBlock) == 1 &&
       EVP_DigestInit_ex(state->outer.get(), EVP_sha256(), nullptr) == 1 &&
       EVP_DigestUpdate(state->outer.get(), opad, kBlock) == 1;
  OPENSSL_cleanse(block, kBlock);
  OPENSSL_cleanse(ipad, kBlock);
  OPENSSL_cleanse(opad, kBlock);
  if (!ok) return absl::InternalError("HMAC-SHA256: OpenSSL could not set up the key");
  return HmacSha256(std::move(state));
}

absl::StatusOr<std::string> HmacSha256::Mac(std::string_view message, size_t length) const {
  std::array<uint8_t, 32> mac;
  const size_t n = std::min(length, mac.size());
  if (absl::Status status = MacInto({}, message, std::span<uint8_t>(mac).first(n)); !status.ok()) {
    return status;
  }
  return std::string(Chars(std::span<const uint8_t>(mac).first(n)));
}

absl::Status HmacSha256::MacInto(std::string_view prefix, std::string_view message,
                                 std::span<uint8_t> out) const {
  // One scratch context per thread: the keyed states are copied into it, never changed.
  thread_local DigestCtx work{EVP_MD_CTX_new()};
  unsigned char inner[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
  unsigned int inner_length = 0, mac_length = 0;
  const bool ok =
      work != nullptr && EVP_MD_CTX_copy_ex(work.get(), state_->inner.get()) == 1 &&
      (prefix.empty() || EVP_DigestUpdate(work.get(), prefix.data(), prefix.size()) == 1) &&
      EVP_DigestUpdate(work.get(), message.data(), message.size()) == 1 &&
      EVP_DigestFinal_ex(work.get(), inner, &inner_length) == 1 &&
      EVP_MD_CTX_copy_ex(work.get(), state_->outer.get()) == 1 &&
      EVP_DigestUpdate(work.get(), inner, inner_length) == 1 &&
      EVP_DigestFinal_ex(work.get(), mac, &mac_length) == 1 && out.size() <= mac_length;
  if (!ok) return absl::InternalError("HMAC-SHA256: an OpenSSL digest step failed");
  std::copy_n(mac, out.size(), out.begin());
  return absl::OkStatus();
}

store::TokenId NewTokenId() {
  // OpenSSL's CSPRNG output, drawn 4 KiB at a time per thread: one RAND_bytes call costs about
  // 0.66 µs whatever its size up to there, a large part of a GetStrategy answer
  // (tests/bench/grpc.sh measures the server's CPU per request). Each byte is still handed out
  // once.
  struct Pool {
    std::array<uint8_t, 4096> bytes;
    size_t used = sizeof(bytes);
  };
  thread_local Pool pool;
  store::TokenId id;
  if (pool.used + id.size() > pool.bytes.size()) {
    // RAND_bytes fails only when the CSPRNG cannot be seeded; a token must then not be issued with
    // a guessable id, so stopping is the safe answer.
    if (RAND_bytes(pool.bytes.data(), static_cast<int>(pool.bytes.size())) != 1) std::abort();
    pool.used = 0;
  }
  std::copy_n(pool.bytes.begin() + static_cast<std::ptrdiff_t>(pool.used), id.size(), id.begin());
  // Forget what was handed out, so that a later memory disclosure cannot replay past ids.
  OPENSSL_cleanse(pool.bytes.data() + pool.used, id.size());
  pool.used += id.size();
  return id;
}

absl::StatusOr<TokenSigner::Key> TokenSigner::Key::Create(std::string_view secret) {
  absl::StatusOr<HmacSha256> mac = HmacSha256::Create(secret);
  if (!mac.ok()) return mac.status();
  // The id names the key without revealing anything about it.
  Key key{.mac = *std::move(mac), .id = {}};
  if (absl::Status status = key.mac.MacInto({}, "decision-token key id", key.id); !status.ok()) {
    return status;
  }
  return key;
}

absl::StatusOr<TokenSigner> TokenSigner::Create(std::string_view key, std::string_view previous_key,
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
  absl::StatusOr<Key> current = Key::Create(key);
  if (!current.ok()) return current.status();
  std::optional<Key> previous;
  if (!previous_key.empty()) {
    absl::StatusOr<Key> made = Key::Create(previous_key);
    if (!made.ok()) return made.status();
    previous.emplace(*std::move(made));
  }
  return TokenSigner(*std::move(current), std::move(previous), ttl);
}

absl::Status TokenSigner::ReceiverDigest(const Key& key, std::string_view receiver,
                                         std::span<uint8_t> out) const {
  return key.mac.MacInto("receiver\n", receiver, out);
}

absl::StatusOr<std::string> TokenSigner::OpaqueId(std::string_view identity) const {
  std::array<uint8_t, 12> digest;
  if (absl::Status status = key_.mac.MacInto("turn user\n", identity, digest); !status.ok()) {
    return status;
  }
  return WebSafeBase64(digest);
}

absl::StatusOr<std::string> TokenSigner::Sign(const TokenClaims& claims,
                                              std::string_view receiver) const {
  std::string_view id = claims.turn_server_id;
  id = id.substr(0, kMaxTurnServerIdBytes);
  // Built on the stack: a token is signed for every answer.
  std::array<char, kFixedBytes + kMaxTurnServerIdBytes> buffer;
  char* at = buffer.data();
  auto put = [&at](std::string_view bytes) { at = std::copy(bytes.begin(), bytes.end(), at); };
  auto put_big_endian = [&at](uint64_t value, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) *at++ = static_cast<char>((value >> (8 * i)) & 0xff);
  };
  *at++ = static_cast<char>(kVersion);
  put(Chars(key_.id));
  put(Chars(claims.id));
  if (absl::Status status = ReceiverDigest(
          key_, receiver, std::span<uint8_t>(reinterpret_cast<uint8_t*>(at), kReceiverBytes));
      !status.ok()) {
    return status;
  }
  at += kReceiverBytes;
  *at++ = static_cast<char>(claims.pair.a);
  *at++ = static_cast<char>(claims.pair.b);
  *at++ = static_cast<char>(claims.strategy);
  put_big_endian(claims.direct_timeout_ms, 4);
  put_big_endian(static_cast<uint64_t>(absl::ToUnixSeconds(claims.issued_at)), 8);
  *at++ = static_cast<char>(id.size());
  put(id);
  const std::string_view payload(buffer.data(), static_cast<size_t>(at - buffer.data()));
  std::array<uint8_t, kMacBytes> mac;
  if (absl::Status status = key_.mac.MacInto({}, payload, mac); !status.ok()) return status;
  std::string token;
  absl::WebSafeBase64Escape(absl::string_view(payload.data(), payload.size()), &token);
  token.push_back('.');
  token.append(WebSafeBase64(mac));
  return token;
}

absl::StatusOr<TokenClaims> TokenSigner::Verify(std::string_view token, std::string_view receiver,
                                                absl::Time now) const {
  if (token.empty()) return absl::InvalidArgumentError("decision_token: required");
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos) return Malformed("no signature part");
  std::string payload, mac;
  if (!DecodeCanonical(token.substr(0, dot), payload) ||
      !DecodeCanonical(token.substr(dot + 1), mac)) {
    return Malformed("not canonical unpadded base64url");
  }
  if (payload.size() < kFixedBytes || mac.size() != kMacBytes) return Malformed("wrong length");
  if (static_cast<uint8_t>(payload[0]) != kVersion) return Malformed("unsupported version");

  const std::string_view key_id(payload.data() + kKeyIdAt, 4);
  const Key* key = nullptr;
  for (const Key* candidate : {&key_, previous_key_ ? &*previous_key_ : nullptr}) {
    if (candidate == nullptr || !SameBytes(key_id, Chars(candidate->id))) {
      continue;
    }
    std::array<uint8_t, kMacBytes> expected;
    if (absl::Status status = candidate->mac.MacInto({}, payload, expected); !status.ok()) {
      return status;
    }
    if (SameBytes(mac, Chars(expected))) {
      key = candidate;
      break;
    }
  }
  if (key == nullptr) {
    return absl::UnauthenticatedError(
        "decision_token: signature does not match a key of this server (forged, or signed with "
        "a retired key)");
  }
  // The signature is ours, so the fields were written by Sign; still check them, since a key shared
  // with an incompatible build must not crash or mislead this one.
  const auto a = static_cast<uint8_t>(payload[kPairAt]);
  const auto b = static_cast<uint8_t>(payload[kPairAt + 1]);
  const auto s = static_cast<uint8_t>(payload[kStrategyAt]);
  if (a >= strategy::kNatTypeCount || b >= strategy::kNatTypeCount || a > b || s == 0 ||
      s >= strategy::kStrategyCount) {
    return Malformed("field out of range");
  }
  const size_t id_length = static_cast<uint8_t>(payload[kIdLengthAt]);
  if (payload.size() != kFixedBytes + id_length) return Malformed("wrong length");

  TokenClaims claims;
  std::copy_n(payload.begin() + kNonceAt, claims.id.size(), claims.id.begin());
  claims.pair = {static_cast<strategy::NatType>(a), static_cast<strategy::NatType>(b)};
  claims.strategy = static_cast<strategy::Strategy>(s);
  claims.direct_timeout_ms = static_cast<uint32_t>(GetBigEndian(payload, kTimeoutAt, 4));
  claims.issued_at =
      absl::FromUnixSeconds(static_cast<int64_t>(GetBigEndian(payload, kIssuedAt, 8)));
  claims.turn_server_id = payload.substr(kFixedBytes);
  if (claims.issued_at > now + TokenSigner::kClockSkew) {
    return absl::UnauthenticatedError("decision_token: issued in the future");
  }
  if (now - claims.issued_at > ttl_) {
    return absl::UnauthenticatedError(absl::StrCat(
        "decision_token: expired (issued ", absl::FormatDuration(now - claims.issued_at),
        " ago, valid for ", absl::FormatDuration(ttl_), ")"));
  }
  std::array<uint8_t, kReceiverBytes> receiver_digest;
  if (absl::Status status = ReceiverDigest(*key, receiver, receiver_digest); !status.ok()) {
    return status;
  }
  if (!SameBytes(std::string_view(payload.data() + kReceiverAt, kReceiverBytes),
                 Chars(receiver_digest))) {
    return absl::PermissionDeniedError(
        "decision_token: issued to another client; report with the credentials that asked for "
        "the strategy");
  }
  return claims;
}

}  // namespace advisor
