// Decision tokens: what a server decided, signed so that any replica can trust it back in
// ReportOutcome.
//
// A token carries the effective NAT pair, the strategy and timeout, the TURN server offered and the
// issue time, so a report can be folded into the right aggregate without a database lookup. It is
// base64url(payload) "." base64url(HMAC-SHA256(key, payload) truncated to 128 bits). During key
// rotation the previous key still verifies tokens, so replicas can be rolled one by one.
#ifndef ADVISOR_SERVICES_ADVISOR_DECISION_TOKEN_H_
#define ADVISOR_SERVICES_ADVISOR_DECISION_TOKEN_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/strategy/types.h"

namespace advisor {

// HMAC-SHA256 with one key, its padded-key digest states computed once: signing then costs two
// short digests instead of a key schedule and a provider lookup per call. Thread-safe.
class HmacSha256 {
 public:
  explicit HmacSha256(std::string_view key);
  // The first `length` (at most 32) bytes of HMAC-SHA256(key, message).
  std::string Mac(std::string_view message, size_t length) const;

 private:
  struct State;
  std::shared_ptr<const State> state_;
};

struct TokenClaims {
  strategy::NatPair pair;
  strategy::Strategy strategy = strategy::Strategy::kUnspecified;
  uint32_t direct_timeout_ms = 0;
  std::string turn_server_id;  // empty when no TURN server was offered
  absl::Time issued_at;
  friend bool operator==(const TokenClaims&, const TokenClaims&) = default;
};

class TokenSigner {
 public:
  // Keys must be at least kMinKeyBytes long; `previous_key` may be empty.
  static constexpr size_t kMinKeyBytes = 16;
  static constexpr size_t kMaxTurnServerIdBytes = 128;
  static absl::StatusOr<TokenSigner> Create(std::string key, std::string previous_key,
                                            absl::Duration ttl);

  // Issues a token for `claims`, signed with the current key. Issue time is truncated to seconds.
  std::string Sign(const TokenClaims& claims) const;
  // INVALID_ARGUMENT for a token that is not one of ours in shape; UNAUTHENTICATED for a bad
  // signature or an expired token. Messages start with "decision_token: " and say why.
  absl::StatusOr<TokenClaims> Verify(std::string_view token, absl::Time now) const;

 private:
  TokenSigner(const std::string& key, const std::string& previous_key, absl::Duration ttl);

  HmacSha256 key_;
  std::optional<HmacSha256> previous_key_;
  absl::Duration ttl_;
};

}  // namespace advisor

#endif  // ADVISOR_SERVICES_ADVISOR_DECISION_TOKEN_H_
