// Decision tokens: HMAC-SHA256 against RFC 4231, every claim round-tripped, and each way a token
// can be refused (expired, from the future, forged, altered, malformed, another receiver's), key
// rotation, distinct ids and nonces, and opaque ids that hide the identity.
#include "services/advisor/decision_token.h"

#include <gtest/gtest.h>

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace advisor {
namespace {

using strategy::NatPair;
using strategy::NatType;
using strategy::Strategy;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
constexpr char kKey[] = "0123456789abcdef0123456789abcdef";
constexpr char kOldKey[] = "fedcba9876543210fedcba9876543210";

constexpr char kAlice[] = "sub:alice";

TokenClaims Claims() {
  return {.id = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
          .pair = NatPair::Of(NatType::kSymmetric, NatType::kFullCone),
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
  EXPECT_EQ(Hex(*HmacSha256::Create("Jefe")->Mac("what do ya want for nothing?", 32)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(Hex(*HmacSha256::Create(std::string(131, '\xaa'))
                     ->Mac("Test Using Larger Than Block-Size Key - Hash Key First", 32)),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(HmacSha256::Create("Jefe")->Mac("what do ya want for nothing?", 16)->size(), 16u);
}

TEST(DecisionToken, RoundTripsEveryClaim) {
  const TokenSigner signer = Signer();
  auto claims = signer.Verify(*signer.Sign(Claims(), kAlice), kAlice, kNow + absl::Minutes(5));
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(*claims, Claims());
}

TEST(DecisionToken, EmptyTurnServerRoundTrips) {
  TokenClaims in = Claims();
  in.turn_server_id.clear();
  const TokenSigner signer = Signer();
  auto out = signer.Verify(*signer.Sign(in, kAlice), kAlice, kNow);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, in);
}

TEST(DecisionToken, ExpiredTokenIsUnauthenticated) {
  const TokenSigner signer = Signer();
  const std::string token = *signer.Sign(Claims(), kAlice);
  EXPECT_TRUE(signer.Verify(token, kAlice, kNow + absl::Hours(1)).ok());
  auto late = signer.Verify(token, kAlice, kNow + absl::Hours(1) + absl::Seconds(1));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
}

TEST(DecisionToken, TokenFromTheFutureIsRefused) {
  const TokenSigner signer = Signer();
  auto early = signer.Verify(*signer.Sign(Claims(), kAlice), kAlice, kNow - absl::Minutes(10));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(DecisionToken, ForgedSignatureIsUnauthenticated) {
  const std::string token = *Signer("another key of enough length!!").Sign(Claims(), kAlice);
  auto result = Signer().Verify(token, kAlice, kNow);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(result.status().message().find("signature"), std::string::npos);
}

TEST(DecisionToken, AlteredPayloadIsUnauthenticated) {
  const TokenSigner signer = Signer();
  std::string token = *signer.Sign(Claims(), kAlice);
  // Flip one payload character: the claims change, the signature no longer matches.
  token[3] = token[3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(signer.Verify(token, kAlice, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(DecisionToken, MalformedTokensAreInvalidArgument) {
  const TokenSigner signer = Signer();
  for (const std::string bad : {"", "no-dot", "!!!.???", "AAAA.AAAA", "."}) {
    auto result = signer.Verify(bad, kAlice, kNow);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(result.status().message().rfind("decision_token: ", 0), 0u) << bad;
  }
}

TEST(DecisionToken, PreviousKeyStillVerifiesDuringRotation) {
  const std::string old_token = *Signer(kOldKey).Sign(Claims(), kAlice);
  EXPECT_TRUE(Signer(kKey, kOldKey).Verify(old_token, kAlice, kNow).ok());
  EXPECT_FALSE(Signer(kKey).Verify(old_token, kAlice, kNow).ok());
  // New tokens are signed with the new key only.
  const std::string new_token = *Signer(kKey, kOldKey).Sign(Claims(), kAlice);
  EXPECT_TRUE(Signer(kKey).Verify(new_token, kAlice, kNow).ok());
  EXPECT_FALSE(Signer(kOldKey).Verify(new_token, kAlice, kNow).ok());
}

TEST(DecisionToken, BelongsToItsReceiver) {
  const TokenSigner signer = Signer();
  const std::string token = *signer.Sign(Claims(), kAlice);
  auto other = signer.Verify(token, "sub:mallory", kNow);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(other.status().message().find("another client"), std::string::npos);
  // The receiver is not readable from the token.
  std::string payload;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token.substr(0, token.find('.')), &payload));
  EXPECT_EQ(payload.find("alice"), std::string::npos);
}

TEST(DecisionToken, NoncesMakeEveryTokenDistinct) {
  const TokenSigner signer = Signer();
  TokenClaims a = Claims(), b = Claims();
  a.id = NewTokenId();
  b.id = NewTokenId();
  EXPECT_NE(a.id, b.id);
  const std::string ta = *signer.Sign(a, kAlice), tb = *signer.Sign(b, kAlice);
  EXPECT_NE(ta, tb);
  EXPECT_EQ(signer.Verify(ta, kAlice, kNow)->id, a.id);
  EXPECT_EQ(signer.Verify(tb, kAlice, kNow)->id, b.id);
}

TEST(DecisionToken, IdsStayDistinctAcrossPoolRefills) {
  // 256 ids come from each 4 KiB draw of the CSPRNG; 2,000 span several.
  std::set<store::TokenId> ids;
  for (int i = 0; i < 2000; ++i) ids.insert(NewTokenId());
  EXPECT_EQ(ids.size(), 2000u);
  EXPECT_EQ(ids.count(store::TokenId{}), 0u);
}

TEST(DecisionToken, OnlyTheCanonicalSpellingVerifies) {
  const TokenSigner signer = Signer();
  const std::string token = *signer.Sign(Claims(), kAlice);
  ASSERT_TRUE(signer.Verify(token, kAlice, kNow).ok());
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string spare_bits = token;
  spare_bits.back() = kAlphabet[kAlphabet.find(spare_bits.back()) ^ 1];
  const std::string payload_padded =
      absl::StrCat(token.substr(0, token.find('.')), "=", token.substr(token.find('.')));
  for (const std::string& variant : {token + "=", token + "==", spare_bits, payload_padded}) {
    auto result = signer.Verify(variant, kAlice, kNow);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << variant;
  }
}

TEST(DecisionToken, UsedTokenRecordsOutliveEveryReplicasAcceptance) {
  const TokenSigner signer = Signer();
  const TokenClaims claims = Claims();
  const absl::Time forget_after = signer.ExpiresAt(claims);
  const std::string token = *signer.Sign(claims, kAlice);
  // A replica whose clock lags by the whole allowed skew still accepts the token until its own
  // issue + TTL, which is at most ExpiresAt on the true clock.
  EXPECT_TRUE(signer.Verify(token, kAlice, claims.issued_at + absl::Hours(1)).ok());
  EXPECT_GE(forget_after, claims.issued_at + absl::Hours(1) + TokenSigner::kClockSkew);
}

TEST(DecisionToken, OpaqueIdsAreStableDistinctAndHideTheIdentity) {
  const TokenSigner signer = Signer();
  EXPECT_EQ(signer.OpaqueId("sub:alice"), signer.OpaqueId("sub:alice"));
  EXPECT_NE(signer.OpaqueId("sub:alice"), signer.OpaqueId("sub:bob"));
  EXPECT_EQ(signer.OpaqueId("sub:alice")->size(), 16u);
  EXPECT_EQ(signer.OpaqueId("sub:alice")->find("alice"), std::string::npos);
}

TEST(DecisionToken, ShortKeysAreRefused) {
  EXPECT_FALSE(TokenSigner::Create("short", "", absl::Hours(1)).ok());
  EXPECT_FALSE(TokenSigner::Create(kKey, "short", absl::Hours(1)).ok());
  EXPECT_FALSE(TokenSigner::Create(kKey, "", absl::ZeroDuration()).ok());
}

}  // namespace
}  // namespace advisor
