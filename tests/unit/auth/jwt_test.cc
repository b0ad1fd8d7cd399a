// lib/auth/jwt.h: JWT minting and verification with keys of every algorithm, the verified-token
// cache and keys-file rotation. Parsing and generating the keys themselves is in jwks_test.cc. Time
// is a fixed fake `now`; the reload check uses it too, so nothing sleeps. Tokens that MintJwt
// cannot make are built from JSON text and signed with cpp-jwt's signing functions.
#include "lib/auth/jwt.h"

#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <jwt/jwt.hpp>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "connectivity/advisor/formats/jwks.pb.h"
#include "lib/auth/jwks.h"
#include "tests/unit/auth/keys_json.h"

namespace advisor::auth {
namespace {

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

std::string Mint(const KeySet& keys, const MintOptions& options) {
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

// A JSON object's members: name → value as JSON text, so that a test can give a member any JSON
// type or leave it out.
using Members = std::map<std::string, std::string>;

std::string Object(const Members& members) {
  return absl::StrCat("{",
                      absl::StrJoin(members, ",",
                                    [](std::string* out, const auto& member) {
                                      absl::StrAppend(out, "\"", member.first,
                                                      "\":", member.second);
                                    }),
                      "}");
}

// `text` as a JSON string; the tests' texts need no escaping.
std::string String(const std::string& text) { return absl::StrCat("\"", text, "\""); }

std::string Base64Url(std::string_view bytes) {
  std::string out;
  absl::WebSafeBase64Escape(absl::string_view(bytes.data(), bytes.size()), &out);
  return out;
}

// A token of this header and these claims as JSON text, signed with `key` ("none": unsigned).
std::string SignJson(const std::string& alg, const std::string& key, const std::string& header,
                     const std::string& claims) {
  const std::string input = absl::StrCat(Base64Url(header), ".", Base64Url(claims));
  std::pair<std::string, std::error_code> signature;
  if (alg == "HS256") {
    signature = jwt::HMACSign<jwt::algo::HS256>::sign(key, input);
  } else if (alg == "RS256") {
    signature = jwt::PEMSign<jwt::algo::RS256>::sign(key, input);
  } else {
    EXPECT_EQ(alg, "none");
  }
  EXPECT_FALSE(signature.second) << signature.second.message();
  return absl::StrCat(input, ".", Base64Url(signature.first));
}

// A token with any header and claims: for refusals that MintJwt cannot produce. The header has
// "alg" and "typ" as cpp-jwt's tokens have, unless `header` gives them.
std::string Sign(const std::string& alg, const std::string& key, Members header,
                 const Members& claims) {
  header.emplace("alg", String(alg));
  header.emplace("typ", String("JWT"));
  return SignJson(alg, key, Object(header), Object(claims));
}

Members GoodClaims() {
  return {{"sub", String("alice")},
          {"aud", String("connectivity-advisor")},
          {"iat", absl::StrCat(absl::ToUnixSeconds(kNow))},
          {"exp", absl::StrCat(absl::ToUnixSeconds(kNow + absl::Hours(1)))}};
}

// A keys file with an HS256 key "hs", an ES256 key "es" and an RS256 key "rsa".
class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The file holds the HMAC secret and only the public halves of the EC and RSA keys, as a
    // server's would; the tests sign with the full sets.
    Jwks file;
    for (const std::string& text :
         {hs_jwks_ = Generate("HS256", "hs"), es_jwks_ = Generate("ES256", "es"),
         rsa_jwks_ = Generate("RS256", "rsa")}) {
      Jwks generated = ParseJwks(text);
      ASSERT_EQ(generated.keys_size(), 1);
      Jwk& key = *file.add_keys() = generated.keys(0);
      if (key.kty() != "oct") {
        key.clear_d();
        key.clear_p();
        key.clear_q();
        key.clear_dp();
        key.clear_dq();
        key.clear_qi();
      }
    }
    std::string file_json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(file, &file_json).ok());
    hs_ = Keys(hs_jwks_);
    es_ = Keys(es_jwks_);
    rsa_ = Keys(rsa_jwks_);
    keys_file_ = dir_.File("keys.json");
    WriteFile(keys_file_, file_json);
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
  Jwks generated = ParseJwks(Generate("ES256", "e"));
  ASSERT_EQ(generated.keys_size(), 1);
  Jwk pub = generated.keys(0);
  pub.clear_d();
  KeySet keys = Keys(JwksOf({pub}));
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
  Members claims = GoodClaims();
  claims["aud"] = R"(["other","connectivity-advisor"])";
  EXPECT_EQ(Refusal(Sign("HS256", HsSecret(), {{"kid", String("hs")}}, claims)), "");
  // typ, when given, says JWT in any case.
  EXPECT_EQ(Refusal(Sign("HS256", HsSecret(), {{"kid", String("hs")}, {"typ", String("jwt")}},
                         GoodClaims())),
            "");
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
  Members claims = GoodClaims();
  claims["scope"] = R"(["advisor.admin"])";
  EXPECT_THAT(Refusal(Sign("HS256", HsSecret(), {{"kid", String("hs")}}, claims)),
              HasSubstr("scope is not a string"));
  claims["scope"] = "null";
  EXPECT_THAT(Refusal(Sign("HS256", HsSecret(), {{"kid", String("hs")}}, claims)),
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
  const Members kid = {{"kid", String("hs")}};
  // The claims with `name` set to `value` (JSON text), or without it.
  auto with = [&](const char* name, std::optional<std::string> value) {
    Members claims = GoodClaims();
    if (value) {
      claims[name] = *value;
    } else {
      claims.erase(name);
    }
    return Sign("HS256", secret, kid, claims);
  };
  const int64_t now = absl::ToUnixSeconds(kNow);
  EXPECT_THAT(Refusal(with("exp", absl::StrCat(now - 3600))), HasSubstr("token expired 1h ago"));
  EXPECT_THAT(Refusal(with("nbf", absl::StrCat(now + 600))),
              HasSubstr("not valid yet: nbf is 10m from now"));
  EXPECT_THAT(Refusal(with("iat", absl::StrCat(now + 600))), HasSubstr("issued in the future"));
  EXPECT_THAT(Refusal(with("aud", String("someone-else"))), HasSubstr("wrong audience"));
  EXPECT_THAT(Refusal(with("aud", R"(["a","b"])")), HasSubstr("wrong audience"));
  EXPECT_THAT(Refusal(with("aud", std::nullopt)), HasSubstr("wrong audience"));
  EXPECT_THAT(Refusal(with("sub", std::nullopt)), HasSubstr("token has no sub"));
  EXPECT_THAT(Refusal(with("sub", String(""))), HasSubstr("token has no sub"));
  EXPECT_THAT(Refusal(with("sub", "42")), HasSubstr("token has no sub"));
  EXPECT_THAT(Refusal(with("sub", String(std::string(300, 'a')))),
              HasSubstr("sub is longer than 256"));
  EXPECT_THAT(Refusal(with("exp", std::nullopt)), HasSubstr("token has no exp"));
  EXPECT_THAT(Refusal(with("exp", String("tomorrow"))), HasSubstr("exp is not a number"));
  // A NumericDate is a JSON number: the same seconds as a string are not one.
  EXPECT_THAT(Refusal(with("exp", String(absl::StrCat(now + 3600)))),
              HasSubstr("exp is not a number"));
  EXPECT_THAT(Refusal(with("nbf", "null")), HasSubstr("nbf is not a number"));
  EXPECT_THAT(Refusal(with("iat", "true")), HasSubstr("iat is not a number"));

  EXPECT_THAT(Refusal(Sign("HS256", secret, {{"kid", String("x")}}, GoodClaims())),
              HasSubstr("unknown kid \"x\""));
  EXPECT_THAT(Refusal(Sign("HS256", secret, {}, GoodClaims())), HasSubstr("token has no kid"));
  EXPECT_THAT(Refusal(Sign("HS256", secret, {{"kid", "7"}}, GoodClaims())),
              HasSubstr("token has no kid"));
  EXPECT_THAT(Refusal(Sign("HS256", std::string(32, 'x'), kid, GoodClaims())),
              HasSubstr("bad signature"));
  EXPECT_THAT(Refusal(Sign("none", "", kid, GoodClaims())), HasSubstr("alg none"));
  EXPECT_THAT(Refusal(Sign("HS256", secret, {{"kid", String("hs")}, {"typ", String("at+jwt")}},
                           GoodClaims())),
              HasSubstr("malformed token: typ"));
}

// What a JSON library decides on its own: a member given twice (one library keeps the first,
// another the last, so the signer may have meant the other subject) or a header or claims that are
// not an object. All malformed, before any signature check.
TEST_F(VerifierTest, AmbiguousOrNonObjectJsonIsMalformed) {
  const std::string secret = HsSecret();
  const std::string header = Object({{"alg", String("HS256")}, {"kid", String("hs")}});
  const std::string claims = Object(GoodClaims());
  const std::string good = SignJson("HS256", secret, header, claims);
  EXPECT_EQ(Refusal(good), "");
  const std::string twice_sub = claims.substr(0, claims.size() - 1) + R"(,"sub":"mallory"})";
  EXPECT_THAT(Refusal(SignJson("HS256", secret, header, twice_sub)), HasSubstr("malformed token"));
  const std::string twice_kid = R"({"alg":"HS256","kid":"nope","kid":"hs"})";
  EXPECT_THAT(Refusal(SignJson("HS256", secret, twice_kid, claims)), HasSubstr("malformed token"));
  const std::string twice_alg = R"({"alg":"none","kid":"hs","alg":"HS256"})";
  EXPECT_THAT(Refusal(SignJson("HS256", secret, twice_alg, claims)), HasSubstr("malformed token"));
  for (const char* not_object : {"[1]", "null", R"("alice")", "", "{} {}"}) {
    SCOPED_TRACE(not_object);
    EXPECT_THAT(Refusal(SignJson("HS256", secret, header, not_object)),
                HasSubstr("malformed token"));
    EXPECT_THAT(Refusal(SignJson("HS256", secret, not_object, claims)),
                HasSubstr("malformed token"));
  }
  EXPECT_THAT(Refusal(SignJson("HS256", secret, R"({"alg":5,"kid":"hs"})", claims)),
              HasSubstr("malformed token: no alg"));
  EXPECT_EQ(verifier_->signature_checks(), 1);
}

// A kid is attacker text that ends up in messages and logs: quotes, control bytes and non-ASCII
// come out escaped, and a long one cut.
TEST_F(VerifierTest, RefusalsQuoteTheKidEscaped) {
  const std::string secret = HsSecret();
  const std::string kid = R"("a\"b\n\u0001\u00e9\\")";  // a"b, newline, U+0001, é, backslash
  EXPECT_THAT(Refusal(Sign("HS256", secret, {{"kid", kid}}, GoodClaims())),
              HasSubstr(R"(unknown kid "a\"b\n\x01\xc3\xa9\\")"));
  EXPECT_THAT(
      Refusal(Sign("HS256", secret, {{"kid", String(std::string(100, 'k'))}}, GoodClaims())),
      HasSubstr(absl::StrCat("unknown kid \"", std::string(64, 'k'), "\"…")));
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
    const std::string forged =
        Sign("HS256", key.verify_key, {{"kid", String(key.kid)}}, GoodClaims());
    EXPECT_THAT(Refusal(forged), HasSubstr("does not match key \"" + key.kid + "\""));
  }
  // And the other way round: an RS256 token naming the HMAC key.
  const std::string rs =
      Sign("RS256", rsa_.keys()[0].signing_key, {{"kid", String("hs")}}, GoodClaims());
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
  Members claims = GoodClaims();
  claims["pad"] = String(std::string(9000, 'x'));
  EXPECT_THAT(Refusal(Sign("HS256", HsSecret(), {{"kid", String("hs")}}, claims)),
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
  const std::string forged =
      Sign("HS256", std::string(32, 'x'), {{"kid", String("hs")}}, GoodClaims());
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
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
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
  EXPECT_LE((*verifier)->signature_checks(), 8 * kThreads);
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

// Segment `index` (0 header, 1 claims) of a compact JWT, parsed.
google::protobuf::Struct Segment(const std::string& token, size_t index) {
  const std::vector<std::string> parts = absl::StrSplit(token, '.');
  std::string json;
  google::protobuf::Struct object;
  EXPECT_EQ(parts.size(), 3u);
  EXPECT_TRUE(index < parts.size() && absl::WebSafeBase64Unescape(parts[index], &json));
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &object).ok()) << json;
  return object;
}

// Member `name` of `object` as JSON text (so with its type: "\"k\"" or 1700000000); "" if absent.
std::string Member(const google::protobuf::Struct& object, const std::string& name) {
  auto it = object.fields().find(name);
  std::string json;
  if (it != object.fields().end()) {
    EXPECT_TRUE(google::protobuf::util::MessageToJsonString(it->second, &json).ok());
  }
  return json;
}

TEST(MintJwt, HasTheExpectedClaims) {
  KeySet keys = Keys(Generate("HS256", "k"));
  MintOptions options = Alice();
  options.scopes = {"a", "advisor.admin"};
  options.audience = "aud-1";
  options.ttl = absl::Minutes(5);
  const std::string token = Mint(keys, options);
  const google::protobuf::Struct header = Segment(token, 0);
  const google::protobuf::Struct claims = Segment(token, 1);
  EXPECT_EQ(Member(header, "kid"), R"("k")");
  EXPECT_EQ(Member(header, "alg"), R"("HS256")");
  EXPECT_EQ(Member(claims, "sub"), R"("alice")");
  EXPECT_EQ(Member(claims, "aud"), R"("aud-1")");
  EXPECT_EQ(Member(claims, "scope"), R"("a advisor.admin")");
  EXPECT_EQ(Member(claims, "iat"), absl::StrCat(absl::ToUnixSeconds(kNow)));
  EXPECT_EQ(Member(claims, "exp"), absl::StrCat(absl::ToUnixSeconds(kNow + absl::Minutes(5))));
}

}  // namespace
}  // namespace advisor::auth
