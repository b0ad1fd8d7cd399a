#include "services/advisor/decision_token.h"

#include <gtest/gtest.h>

namespace advisor {
namespace {

using strategy::NatPair;
using strategy::NatType;
using strategy::Strategy;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
constexpr char kKey[] = "0123456789abcdef0123456789abcdef";
constexpr char kOldKey[] = "fedcba9876543210fedcba9876543210";

TokenClaims Claims() {
  return {.pair = NatPair::Of(NatType::kSymmetric, NatType::kFullCone),
          .strategy = Strategy::kTurnFallback,
          .direct_timeout_ms = 5000,
          .turn_server_id = "eu-1",
          .issued_at = kNow};
}

TokenSigner Signer(std::string key = kKey, std::string previous = "") {
  return *TokenSigner::Create(std::move(key), std::move(previous), absl::Hours(1));
}

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// RFC 4231 test cases 2 (short key) and 6 (key longer than the block size).
TEST(HmacSha256, MatchesRfc4231) {
  EXPECT_EQ(Hex(HmacSha256("Jefe").Mac("what do ya want for nothing?", 32)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(Hex(HmacSha256(std::string(131, '\xaa'))
                    .Mac("Test Using Larger Than Block-Size Key - Hash Key First", 32)),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(HmacSha256("Jefe").Mac("what do ya want for nothing?", 16).size(), 16u);
}

TEST(DecisionToken, RoundTripsEveryClaim) {
  const TokenSigner signer = Signer();
  auto claims = signer.Verify(signer.Sign(Claims()), kNow + absl::Minutes(5));
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(*claims, Claims());
}

TEST(DecisionToken, EmptyTurnServerRoundTrips) {
  TokenClaims in = Claims();
  in.turn_server_id.clear();
  const TokenSigner signer = Signer();
  auto out = signer.Verify(signer.Sign(in), kNow);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, in);
}

TEST(DecisionToken, ExpiredTokenIsUnauthenticated) {
  const TokenSigner signer = Signer();
  const std::string token = signer.Sign(Claims());
  EXPECT_TRUE(signer.Verify(token, kNow + absl::Hours(1)).ok());
  auto late = signer.Verify(token, kNow + absl::Hours(1) + absl::Seconds(1));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
}

TEST(DecisionToken, TokenFromTheFutureIsRefused) {
  const TokenSigner signer = Signer();
  auto early = signer.Verify(signer.Sign(Claims()), kNow - absl::Minutes(10));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(DecisionToken, ForgedSignatureIsUnauthenticated) {
  const std::string token = Signer("another key of enough length!!").Sign(Claims());
  auto result = Signer().Verify(token, kNow);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(result.status().message().find("signature"), std::string::npos);
}

TEST(DecisionToken, AlteredPayloadIsUnauthenticated) {
  const TokenSigner signer = Signer();
  std::string token = signer.Sign(Claims());
  // Flip one payload character: the claims change, the signature no longer matches.
  token[3] = token[3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(signer.Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(DecisionToken, MalformedTokensAreInvalidArgument) {
  const TokenSigner signer = Signer();
  for (const std::string bad : {"", "no-dot", "!!!.???", "AAAA.AAAA", "."}) {
    auto result = signer.Verify(bad, kNow);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(result.status().message().rfind("decision_token: ", 0), 0u) << bad;
  }
}

TEST(DecisionToken, PreviousKeyStillVerifiesDuringRotation) {
  const std::string old_token = Signer(kOldKey).Sign(Claims());
  EXPECT_TRUE(Signer(kKey, kOldKey).Verify(old_token, kNow).ok());
  EXPECT_FALSE(Signer(kKey).Verify(old_token, kNow).ok());
  // New tokens are signed with the new key only.
  const std::string new_token = Signer(kKey, kOldKey).Sign(Claims());
  EXPECT_TRUE(Signer(kKey).Verify(new_token, kNow).ok());
  EXPECT_FALSE(Signer(kOldKey).Verify(new_token, kNow).ok());
}

TEST(DecisionToken, ShortKeysAreRefused) {
  EXPECT_FALSE(TokenSigner::Create("short", "", absl::Hours(1)).ok());
  EXPECT_FALSE(TokenSigner::Create(kKey, "short", absl::Hours(1)).ok());
  EXPECT_FALSE(TokenSigner::Create(kKey, "", absl::ZeroDuration()).ok());
}

}  // namespace
}  // namespace advisor
