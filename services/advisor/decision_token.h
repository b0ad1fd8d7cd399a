// Decision tokens: what a server decided, for whom, signed so that any replica can trust it back in
// ReportOutcome.
//
// A token carries a random 128-bit nonce (its id: each id counts once, fleet-wide), the id of the
// key that signed it, an opaque digest of the identity it was issued to, the effective NAT pair,
// the strategy and timeout, the TURN server offered and the issue time, so a report can be checked
// and folded into the right aggregate without a database lookup. It is base64url(payload) "."
// base64url(HMAC-SHA256(key, payload) truncated to 128 bits), unpadded, and only that one spelling
// verifies. Verification picks the key by its id among the current and the previous key, so
// replicas can be rolled one by one while the key rotates (README, "Rotating the token key").
#ifndef ADVISOR_SERVICES_ADVISOR_DECISION_TOKEN_H_
#define ADVISOR_SERVICES_ADVISOR_DECISION_TOKEN_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/store/store.h"
#include "lib/strategy/types.h"

namespace advisor {

// HMAC-SHA256 with one key, its padded-key digest states computed once: a MAC then costs two
// short digests instead of a key schedule and a provider lookup per call. GetStrategy signs a token
// and derives two per-client names with it on every answer; the saving is in the server CPU per
// request that tests/bench/grpc.sh reports (and in the instruction counts of docs/performance.md).
// Thread-safe.
class HmacSha256 {
 public:
  // INTERNAL when OpenSSL cannot set up the digest states.
  static absl::StatusOr<HmacSha256> Create(std::string_view key);
  // The first `length` bytes (at most 32) of HMAC-SHA256(key, message). INTERNAL when a digest
  // step fails (OpenSSL out of memory): a MAC of unfinished state must never be handed out.
  absl::StatusOr<std::string> Mac(std::string_view message, size_t length) const;
  // The first out.size() bytes (at most 32) of HMAC-SHA256(key, prefix + message), written to
  // `out` without joining prefix and message first: what a token's fields take, without a string
  // per MAC.
  absl::Status MacInto(std::string_view prefix, std::string_view message,
                       std::span<uint8_t> out) const;

 private:
  struct State;
  explicit HmacSha256(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

// A fresh random token id (nonce) from OpenSSL's CSPRNG.
store::TokenId NewTokenId();

struct TokenClaims {
  store::TokenId id{};
  strategy::NatPair pair{};
  strategy::Strategy strategy = strategy::Strategy::kUnspecified;
  uint32_t direct_timeout_ms = 0;
  std::string turn_server_id;  // empty when no TURN server was offered
  absl::Time issued_at{};
  friend bool operator==(const TokenClaims&, const TokenClaims&) = default;
};

class TokenSigner {
 public:
  // Keys must be at least kMinKeyBytes long; `previous_key` may be empty.
  static constexpr size_t kMinKeyBytes = 16;
  static constexpr size_t kMaxTurnServerIdBytes = 128;
  static absl::StatusOr<TokenSigner> Create(std::string_view key, std::string_view previous_key,
                                            absl::Duration ttl);

  // Issues a token for `claims` to the caller `receiver`, signed with the current key. The issue
  // time is truncated to seconds. INTERNAL only when OpenSSL fails (see HmacSha256::Mac).
  absl::StatusOr<std::string> Sign(const TokenClaims& claims, std::string_view receiver) const;
  // INVALID_ARGUMENT for a token that is not one of ours in shape or spelling; UNAUTHENTICATED for
  // an unknown key, a bad signature or an expired token; PERMISSION_DENIED for a token issued to
  // another receiver. Messages start with "decision_token: " and say why.
  absl::StatusOr<TokenClaims> Verify(std::string_view token, std::string_view receiver,
                                     absl::Time now) const;
  // Replicas accept tokens from a clock up to this much ahead, and judge expiry by their own.
  static constexpr absl::Duration kClockSkew = absl::Seconds(60);
  // The last moment at which any replica whose clock is within kClockSkew may still accept a token
  // with these claims: its used-token record can go after that.
  absl::Time ExpiresAt(const TokenClaims& claims) const {
    return claims.issued_at + ttl_ + kClockSkew;
  }
  // A stable opaque name for `identity` (16 base64url characters), for TURN usernames: it lets
  // coturn's logs tell clients apart without showing who they are. INTERNAL only when OpenSSL
  // fails.
  absl::StatusOr<std::string> OpaqueId(std::string_view identity) const;

 private:
  struct Key {
    static absl::StatusOr<Key> Create(std::string_view secret);
    HmacSha256 mac;
    std::array<uint8_t, 4> id;
  };
  TokenSigner(Key key, std::optional<Key> previous_key, absl::Duration ttl)
      : key_(std::move(key)), previous_key_(std::move(previous_key)), ttl_(ttl) {}
  absl::Status ReceiverDigest(const Key& key, std::string_view receiver,
                              std::span<uint8_t> out) const;

  Key key_;
  std::optional<Key> previous_key_;
  absl::Duration ttl_;
};

}  // namespace advisor

#endif  // ADVISOR_SERVICES_ADVISOR_DECISION_TOKEN_H_
