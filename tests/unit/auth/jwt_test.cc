// lib/auth/jwt.h: JWT minting and verification with keys of every algorithm, the verified-token
// cache and keys-file rotation. Parsing and generating the keys themselves is in jwks_test.cc. Time
// is a fixed fake `now`; the reload check uses it too, so nothing sleeps.
#include "lib/auth/jwt.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <jwt/jwt.hpp>
#include <thread>

#include "absl/strings/match.h"
#include "lib/auth/jwks.h"

namespace advisor::auth {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "auth_test.XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Writes beside the target and renames over it, as Kubernetes' symlink swap does: readers see the
// old or the new file, never half of one.
void WriteFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  std::filesystem::rename(tmp, path);
}

KeySet Keys(const std::string& jwks) {
  absl::StatusOr<KeySet> keys = KeySet::FromJson(jwks);
  EXPECT_TRUE(keys.ok()) << keys.status();
  return keys.ok() ? *std::move(keys) : KeySet();
}

std::string Generate(std::string_view alg, std::string_view kid) {
  absl::StatusOr<std::string> jwks = GenerateJwks(alg, kid);
  EXPECT_TRUE(jwks.ok()) << jwks.status();
  return jwks.ok() ? *jwks : "";
}

std::string Mint(const KeySet& keys, MintOptions options) {
  absl::StatusOr<std::string> token = MintJwt(keys, options);
  EXPECT_TRUE(token.ok()) << token.status();
  return token.ok() ? *token : "";
}

MintOptions Alice(absl::Time issued_at = kNow) {
  MintOptions options;
  options.subject = "alice";
  options.issued_at = issued_at;
  return options;
}

// A token with any header and claims, signed by cpp-jwt directly: for refusals that MintJwt
// cannot produce.
std::string Sign(const std::string& alg, const std::string& secret, const Json& header,
                 const Json& claims) {
  jwt::jwt_object obj{jwt::params::algorithm(alg), jwt::params::secret(secret)};
  for (const auto& [name, value] : header.items()) obj.header().add_header(name, value);
  for (const auto& [name, value] : claims.items()) obj.add_claim(name, value);
  return obj.signature();
}

Json GoodClaims() {
  return {{"sub", "alice"},
          {"aud", "connectivity-advisor"},
          {"iat", absl::ToUnixSeconds(kNow)},
          {"exp", absl::ToUnixSeconds(kNow + absl::Hours(1))}};
}

// A keys file with an HS256 key "hs", an ES256 key "es" and an RS256 key "rsa".
class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The file holds the HMAC secret and only the public halves of the EC and RSA keys, as a
    // server's would; the tests sign with the full sets.
    Json file = {{"keys", Json::array()}};
    for (const std::string& text :
         {hs_jwks_ = Generate("HS256", "hs"), es_jwks_ = Generate("ES256", "es"),
         rsa_jwks_ = Generate("RS256", "rsa")}) {
      Json key = Json::parse(text)["keys"][0];
      if (key["kty"] != "oct") {
        for (const char* member : {"d", "p", "q", "dp", "dq", "qi"}) key.erase(member);
      }
      file["keys"].push_back(key);
    }
    hs_ = Keys(hs_jwks_);
    es_ = Keys(es_jwks_);
    rsa_ = Keys(rsa_jwks_);
    keys_file_ = dir_.File("keys.json");
    WriteFile(keys_file_, file.dump());
    VerifierOptions options;
    options.keys_file = keys_file_;
    absl::StatusOr<std::unique_ptr<JwtVerifier>> verifier = JwtVerifier::Create(options);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);
  }

  std::string HsSecret() const { return hs_.Find("hs")->signing_key; }

  // The refusal message of `token` at kNow; "" when it verified.
  std::string Refusal(const std::string& token, absl::Time now = kNow) {
    absl::StatusOr<Principal> principal = verifier_->Verify(token, now);
    if (principal.ok()) return "";
    EXPECT_EQ(principal.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_TRUE(absl::StartsWith(principal.status().message(), "authorization: "))
        << principal.status();
    return std::string(principal.status().message());
  }

  TempDir dir_;
  std::string keys_file_, hs_jwks_, es_jwks_, rsa_jwks_;
  KeySet hs_, es_, rsa_;
  std::unique_ptr<JwtVerifier> verifier_;
};

TEST(GenerateJwks, EachAlgorithmRoundTrips) {
  for (const char* alg : {"HS256", "ES256", "RS256"}) {
    SCOPED_TRACE(alg);
    TempDir dir;
    const std::string jwks = Generate(alg, "k1");
    const std::string path = dir.File("keys.json");
    WriteFile(path, jwks);
    VerifierOptions options;
    options.keys_file = path;
    absl::StatusOr<std::unique_ptr<JwtVerifier>> verifier = JwtVerifier::Create(options);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    EXPECT_EQ((*verifier)->key_count(), 1u);

    KeySet keys = Keys(jwks);
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(AlgorithmName(keys.keys()[0].alg), alg);
    EXPECT_TRUE(keys.keys()[0].can_sign());
    MintOptions mint = Alice();
    mint.scopes = {"advisor.admin"};
    const std::string token = Mint(keys, mint);
    absl::StatusOr<Principal> principal = (*verifier)->Verify(token, kNow);
    ASSERT_TRUE(principal.ok()) << principal.status();
    EXPECT_EQ(principal->subject, "alice");
    EXPECT_TRUE(principal->admin);
    EXPECT_EQ(principal->expires, kNow + absl::Hours(1));
    EXPECT_EQ((*verifier)->signature_checks(), 1);
  }
}

TEST(MintJwt, NeedsAPrivatePart) {
  Json pub = Json::parse(Generate("ES256", "e"))["keys"][0];
  pub.erase("d");
  KeySet keys = Keys(Json{{"keys", {pub}}}.dump());
  MintOptions options = Alice();
  EXPECT_EQ(MintJwt(keys, options).status().code(), absl::StatusCode::kNotFound);
  options.kid = "e";
  absl::StatusOr<std::string> token = MintJwt(keys, options);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(token.status().message(), HasSubstr("no private part"));
  options.kid = "nope";
  EXPECT_EQ(MintJwt(keys, options).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(VerifierTest, AcceptsEachAlgorithmByKid) {
  EXPECT_EQ(verifier_->key_count(), 3u);
  EXPECT_EQ(Refusal(Mint(hs_, Alice())), "");
  EXPECT_EQ(Refusal(Mint(es_, Alice())), "");
  EXPECT_EQ(Refusal(Mint(rsa_, Alice())), "");
  // aud may be an array that contains the audience.
  Json claims = GoodClaims();
  claims["aud"] = {"other", "connectivity-advisor"};
  EXPECT_EQ(Refusal(Sign("HS256", HsSecret(), {{"kid", "hs"}}, claims)), "");
}

TEST_F(VerifierTest, ScopeParsing) {
  auto admin = [&](std::vector<std::string> scopes) {
    MintOptions options = Alice();
    options.scopes = std::move(scopes);
    absl::StatusOr<Principal> principal = verifier_->Verify(Mint(hs_, options), kNow);
    EXPECT_TRUE(principal.ok()) << principal.status();
    return principal.ok() && principal->admin;
  };
  EXPECT_FALSE(admin({}));
  EXPECT_TRUE(admin({"advisor.admin"}));
  EXPECT_TRUE(admin({"read write advisor.admin"}));
  EXPECT_TRUE(admin({"read", "advisor.admin"}));
  EXPECT_FALSE(admin({"advisor.administrator"}));
  EXPECT_FALSE(admin({"advisor"}));
  Json claims = GoodClaims();
  claims["scope"] = Json::array({"advisor.admin"});
  EXPECT_THAT(Refusal(Sign("HS256", HsSecret(), {{"kid", "hs"}}, claims)),
              HasSubstr("scope is not a string"));
}

TEST_F(VerifierTest, ClockSkew) {
  const absl::Duration hour = absl::Hours(1);
  EXPECT_EQ(Refusal(Mint(hs_, Alice(kNow - hour - absl::Seconds(30)))), "");
  EXPECT_THAT(Refusal(Mint(hs_, Alice(kNow - hour - absl::Seconds(90)))),
              HasSubstr("token expired 1m30s ago"));
  // iat 30 s ahead of our clock: the issuer's clock runs a little fast, which is fine.
  EXPECT_EQ(Refusal(Mint(hs_, Alice(kNow + absl::Seconds(30)))), "");
}

TEST_F(VerifierTest, RefusalsSayWhy) {
  const std::string secret = HsSecret();
  const Json kid = {{"kid", "hs"}};
  auto with = [&](const char* name, Json value) {
    Json claims = GoodClaims();
    if (value.is_null()) {
      claims.erase(name);
    } else {
      claims[name] = value;
    }
    return Sign("HS256", secret, kid, claims);
  };
  const int64_t now = absl::ToUnixSeconds(kNow);
  EXPECT_THAT(Refusal(with("exp", now - 3600)), HasSubstr("token expired 1h ago"));
  EXPECT_THAT(Refusal(with("nbf", now + 600)), HasSubstr("not valid yet: nbf is 10m from now"));
  EXPECT_THAT(Refusal(with("iat", now + 600)), HasSubstr("issued in the future"));
  EXPECT_THAT(Refusal(with("aud", "someone-else")), HasSubstr("wrong audience"));
  EXPECT_THAT(Refusal(with("aud", Json::array({"a", "b"}))), HasSubstr("wrong audience"));
  EXPECT_THAT(Refusal(with("aud", nullptr)), HasSubstr("wrong audience"));
  EXPECT_THAT(Refusal(with("sub", nullptr)), HasSubstr("token has no sub"));
  EXPECT_THAT(Refusal(with("sub", "")), HasSubstr("token has no sub"));
  EXPECT_THAT(Refusal(with("sub", 42)), HasSubstr("token has no sub"));
  EXPECT_THAT(Refusal(with("sub", std::string(300, 'a'))), HasSubstr("sub is longer than 256"));
  EXPECT_THAT(Refusal(with("exp", nullptr)), HasSubstr("token has no exp"));
  EXPECT_THAT(Refusal(with("exp", "tomorrow")), HasSubstr("exp is not a number"));

  EXPECT_THAT(Refusal(Sign("HS256", secret, {{"kid", "x"}}, GoodClaims())),
              HasSubstr("unknown kid \"x\""));
  EXPECT_THAT(Refusal(Sign("HS256", secret, Json::object(), GoodClaims())),
              HasSubstr("token has no kid"));
  EXPECT_THAT(Refusal(Sign("HS256", std::string(32, 'x'), kid, GoodClaims())),
              HasSubstr("bad signature"));
  EXPECT_THAT(Refusal(Sign("none", "", kid, GoodClaims())), HasSubstr("alg none"));
}

TEST_F(VerifierTest, TamperedTokensAreRefused) {
  const std::string token = Mint(hs_, Alice());
  const size_t first = token.find('.'), last = token.rfind('.');
  MintOptions mallory = Alice();
  mallory.subject = "mallory";
  // Same kid, another secret: a validly encoded payload that this signature does not cover.
  const std::string other = Mint(Keys(Generate("HS256", "hs")), mallory);
  const std::string other_payload =
      other.substr(other.find('.') + 1, other.rfind('.') - other.find('.') - 1);
  const std::string swapped = token.substr(0, first + 1) + other_payload + token.substr(last);
  EXPECT_THAT(Refusal(swapped), HasSubstr("bad signature"));

  std::string flipped = token;
  char& c = flipped[last + 5];
  c = c == 'A' ? 'B' : 'A';
  EXPECT_THAT(Refusal(flipped), HasSubstr("bad signature"));

  const std::string es = Mint(es_, Alice());
  std::string es_flipped = es;
  char& e = es_flipped[es.rfind('.') + 5];
  e = e == 'A' ? 'B' : 'A';
  EXPECT_THAT(Refusal(es_flipped), HasSubstr("bad signature"));
  EXPECT_THAT(Refusal(es.substr(0, es.rfind('.') + 1)), HasSubstr("malformed"));
}

// The classic forgery: take the server's public key, "sign" an HS256 token with its PEM as the
// HMAC secret, and hope the server verifies HMAC with the key it has for that kid.
TEST_F(VerifierTest, AlgorithmConfusionIsRefused) {
  for (const KeySet* keys : {&rsa_, &es_}) {
    const Key& key = keys->keys()[0];
    const std::string forged = Sign("HS256", key.verify_key, {{"kid", key.kid}}, GoodClaims());
    EXPECT_THAT(Refusal(forged), HasSubstr("does not match key \"" + key.kid + "\""));
  }
  // And the other way round: an RS256 token naming the HMAC key.
  const std::string rs = Sign("RS256", rsa_.keys()[0].signing_key, {{"kid", "hs"}}, GoodClaims());
  EXPECT_THAT(Refusal(rs), HasSubstr("\"RS256\" does not match key \"hs\" (HS256)"));
  EXPECT_EQ(verifier_->signature_checks(), 0);
}

TEST_F(VerifierTest, GarbageAndOversizeAreRefused) {
  EXPECT_THAT(Refusal(""), HasSubstr("empty token"));
  EXPECT_THAT(Refusal("not a jwt"), HasSubstr("malformed"));
  EXPECT_THAT(Refusal("a.b.c"), HasSubstr("malformed"));
  EXPECT_THAT(Refusal("..."), HasSubstr("malformed"));
  EXPECT_THAT(Refusal("\xff\xfe.\x80\x81.abc"), HasSubstr("malformed"));
  EXPECT_THAT(Refusal("eyJhbGciOiJIUzI1NiJ9.e30=.abc"), HasSubstr("malformed"));
  // Valid base64url of JSON that is not an object.
  EXPECT_THAT(Refusal("WzFd.WzFd.abc"), HasSubstr("malformed"));
  EXPECT_THAT(Refusal(std::string(9000, 'a')), HasSubstr("longer than 8192"));
  Json claims = GoodClaims();
  claims["pad"] = std::string(9000, 'x');
  EXPECT_THAT(Refusal(Sign("HS256", HsSecret(), {{"kid", "hs"}}, claims)),
              HasSubstr("longer than 8192"));
  EXPECT_EQ(verifier_->signature_checks(), 0);
}

TEST_F(VerifierTest, CacheSavesSignatureChecksButHonoursExpiry) {
  const std::string token = Mint(es_, Alice());
  EXPECT_FALSE(verifier_->Remembers(token));
  EXPECT_EQ(Refusal(token), "");
  EXPECT_EQ(verifier_->signature_checks(), 1);
  EXPECT_TRUE(verifier_->Remembers(token));
  absl::StatusOr<Principal> again = verifier_->Verify(token, kNow + absl::Minutes(30));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->subject, "alice");
  EXPECT_EQ(verifier_->signature_checks(), 1);
  EXPECT_THAT(Refusal(token, kNow + absl::Hours(2)), HasSubstr("token expired 1h ago"));
  EXPECT_EQ(verifier_->signature_checks(), 1);
  // Refused tokens are not remembered: each costs its own check.
  const std::string forged = Sign("HS256", std::string(32, 'x'), {{"kid", "hs"}}, GoodClaims());
  Refusal(forged);
  Refusal(forged);
  EXPECT_EQ(verifier_->signature_checks(), 3);
  EXPECT_FALSE(verifier_->Remembers(forged));
}

TEST(VerifierCache, StaysBoundedWhenFull) {
  TempDir dir;
  const std::string jwks = Generate("HS256", "k");
  WriteFile(dir.File("keys.json"), jwks);
  VerifierOptions options;
  options.keys_file = dir.File("keys.json");
  options.cache_entries = 16;  // one entry per shard
  absl::StatusOr<std::unique_ptr<JwtVerifier>> verifier = JwtVerifier::Create(options);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  KeySet keys = Keys(jwks);
  std::vector<std::string> tokens;
  for (int i = 0; i < 200; ++i) {
    MintOptions mint = Alice();
    mint.subject = "user-" + std::to_string(i);
    tokens.push_back(Mint(keys, mint));
    ASSERT_TRUE((*verifier)->Verify(tokens.back(), kNow).ok());
  }
  EXPECT_EQ((*verifier)->signature_checks(), 200);
  // With 16 slots for 200 tokens most have been evicted and are checked again, yet all still pass.
  for (const std::string& token : tokens) ASSERT_TRUE((*verifier)->Verify(token, kNow).ok());
  EXPECT_GT((*verifier)->signature_checks(), 300);
}

TEST(VerifierCache, ThreadsShareOneVerifier) {
  TempDir dir;
  const std::string jwks = Generate("HS256", "k");
  WriteFile(dir.File("keys.json"), jwks);
  VerifierOptions options;
  options.keys_file = dir.File("keys.json");
  absl::StatusOr<std::unique_ptr<JwtVerifier>> verifier = JwtVerifier::Create(options);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  KeySet keys = Keys(jwks);
  std::vector<std::string> tokens;
  for (int i = 0; i < 8; ++i) {
    MintOptions mint = Alice();
    mint.subject = "user-" + std::to_string(i);
    tokens.push_back(Mint(keys, mint));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string& token = tokens[(i + t) % tokens.size()];
        absl::StatusOr<Principal> p = (*verifier)->Verify(token, kNow + absl::Milliseconds(i));
        if (!p.ok() || p->subject != "user-" + std::to_string((i + t) % tokens.size())) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  // Each token is checked once per thread at most (two threads may race on the first miss).
  EXPECT_LE((*verifier)->signature_checks(), 8 * 4);
}

TEST(VerifierRotation, ReloadsChangedKeysFileAndKeepsOldKeysOnBadRewrite) {
  TempDir dir;
  const std::string path = dir.File("keys.json");
  const std::string first = Generate("HS256", "k1");
  const std::string second = Generate("ES256", "k2");
  WriteFile(path, first);
  VerifierOptions options;
  options.keys_file = path;
  options.reload_check_interval = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<JwtVerifier>> created = JwtVerifier::Create(options);
  ASSERT_TRUE(created.ok()) << created.status();
  JwtVerifier& verifier = **created;

  const std::string old_token = Mint(Keys(first), Alice());
  const std::string new_token = Mint(Keys(second), Alice());
  ASSERT_TRUE(verifier.Verify(old_token, kNow).ok());

  WriteFile(path, second);
  // Within the check interval the change is not looked at yet.
  EXPECT_THAT(verifier.Verify(new_token, kNow + absl::Milliseconds(500)).status().message(),
              HasSubstr("unknown kid \"k2\""));
  EXPECT_TRUE(verifier.Verify(old_token, kNow + absl::Milliseconds(500)).ok());

  const absl::Time later = kNow + absl::Seconds(2);
  absl::StatusOr<Principal> rotated = verifier.Verify(new_token, later);
  EXPECT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(verifier.key_count(), 1u);
  // The old token was cached, but the cache does not outlive the keys that verified it.
  EXPECT_THAT(verifier.Verify(old_token, later).status().message(),
              HasSubstr("unknown kid \"k1\""));

  WriteFile(path, "{ not json");
  const absl::Time after_bad = later + absl::Seconds(2);
  MintOptions fresh = Alice();
  fresh.subject = "bob";
  const std::string fresh_token = Mint(Keys(second), fresh);
  const int64_t checks = verifier.signature_checks();
  absl::StatusOr<Principal> kept = verifier.Verify(fresh_token, after_bad);
  EXPECT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(verifier.signature_checks(), checks + 1);
  EXPECT_EQ(verifier.key_count(), 1u);

  // Removing the file (mid-swap) keeps the keys too; a good file afterwards is picked up.
  std::filesystem::remove(path);
  EXPECT_TRUE(verifier.Verify(new_token, after_bad + absl::Seconds(2)).ok());
  WriteFile(path, first);
  EXPECT_TRUE(verifier.Verify(old_token, after_bad + absl::Seconds(4)).ok());
  EXPECT_THAT(verifier.Verify(new_token, after_bad + absl::Seconds(4)).status().message(),
              HasSubstr("unknown kid \"k2\""));
}

TEST(MintJwt, HasTheExpectedClaims) {
  KeySet keys = Keys(Generate("HS256", "k"));
  MintOptions options = Alice();
  options.scopes = {"a", "advisor.admin"};
  options.audience = "aud-1";
  options.ttl = absl::Minutes(5);
  const std::string token = Mint(keys, options);
  jwt::jwt_object obj =
      jwt::decode(token, jwt::params::algorithms({"HS256"}), jwt::params::verify(false));
  const Json& header = obj.header().create_json_obj();
  const Json& claims = obj.payload().create_json_obj();
  EXPECT_EQ(header["kid"], "k");
  EXPECT_EQ(header["alg"], "HS256");
  EXPECT_EQ(claims["sub"], "alice");
  EXPECT_EQ(claims["aud"], "aud-1");
  EXPECT_EQ(claims["scope"], "a advisor.admin");
  EXPECT_EQ(claims["iat"], absl::ToUnixSeconds(kNow));
  EXPECT_EQ(claims["exp"], absl::ToUnixSeconds(kNow + absl::Minutes(5)));
}

}  // namespace
}  // namespace advisor::auth
