// lib/auth/jwks.h: generating and parsing JSON Web Key Sets, the RFC 7515 ECDSA example, and an
// error that names the key or the file for every bad one.
#include "lib/auth/jwks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <jwt/jwt.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "lib/auth/jwt.h"
#include "tests/support/process.h"

namespace advisor::auth {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;

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

TEST(GenerateJwks, RefusesUnknownAlgorithmAndEmptyKid) {
  EXPECT_FALSE(GenerateJwks("HS512", "k").ok());
  EXPECT_FALSE(GenerateJwks("none", "k").ok());
  EXPECT_FALSE(GenerateJwks("HS256", "").ok());
}

// RFC 7515 appendix A.3: a JWK → PEM conversion that interoperates, and ES256 signatures in the
// JOSE form (r || s), not OpenSSL's DER.
TEST(KeySet, Rfc7515EcdsaExampleVerifies) {
  KeySet keys = Keys(R"({"keys":[{"kty":"EC","crv":"P-256","kid":"rfc",
      "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
      "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_FALSE(keys.keys()[0].can_sign());
  const std::string input =
      "eyJhbGciOiJFUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv"
      "bS9pc19yb290Ijp0cnVlfQ";
  const std::string signature =
      "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
  jwt::jwt_signature verifier(keys.keys()[0].verify_key);
  auto [valid, error] = verifier.verify(jwt::jwt_header(jwt::algorithm::ES256), input, signature);
  EXPECT_TRUE(valid) << error.message();
  auto [tampered, unused] =
      verifier.verify(jwt::jwt_header(jwt::algorithm::ES256), input + "x", signature);
  EXPECT_FALSE(tampered);
}

TEST(KeySet, RefusesBadFiles) {
  auto error = [](const std::string& json) {
    absl::StatusOr<KeySet> keys = KeySet::FromJson(json);
    EXPECT_FALSE(keys.ok()) << json;
    return std::string(keys.status().message());
  };
  const Json hs = Json::parse(Generate("HS256", "a"))["keys"][0];
  EXPECT_THAT(error("{"), HasSubstr("not valid JSON"));
  EXPECT_THAT(error(R"({"keys": {}})"), HasSubstr("no \"keys\" array"));
  EXPECT_THAT(error(R"({"keys": []})"), HasSubstr("no usable key"));
  EXPECT_THAT(error(Json{{"keys", {hs, hs}}}.dump()),
              HasSubstr("keys[1] (kid \"a\"): duplicate kid"));
  Json no_kid = hs;
  no_kid.erase("kid");
  EXPECT_THAT(error(Json{{"keys", {no_kid}}}.dump()), HasSubstr("missing \"kid\""));
  Json wrong_alg = hs;
  wrong_alg["alg"] = "RS256";
  EXPECT_THAT(error(Json{{"keys", {wrong_alg}}}.dump()), HasSubstr("does not match kty"));
  Json short_key = hs;
  short_key["k"] = "c2hvcnQ";
  EXPECT_THAT(error(Json{{"keys", {short_key}}}.dump()), HasSubstr("at least 32"));
  Json bad_base64 = hs;
  bad_base64["k"] = "not base64url!";
  EXPECT_THAT(error(Json{{"keys", {bad_base64}}}.dump()), HasSubstr("not base64url"));
  Json off_curve = Json::parse(Generate("ES256", "e"))["keys"][0];
  off_curve["y"] = off_curve["x"];
  off_curve.erase("d");
  EXPECT_THAT(error(Json{{"keys", {off_curve}}}.dump()), HasSubstr("keys[0] (kid \"e\")"));
  Json mismatched = Json::parse(Generate("ES256", "e"))["keys"][0];
  mismatched["d"] = Json::parse(Generate("ES256", "other"))["keys"][0]["d"];
  EXPECT_THAT(error(Json{{"keys", {mismatched}}}.dump()), HasSubstr("does not match"));
}

TEST(KeySet, SkipsKeysOfOtherKinds) {
  const Json hs = Json::parse(Generate("HS256", "a"))["keys"][0];
  Json enc = hs;
  enc["use"] = "enc";
  enc["kid"] = "b";
  const Json okp = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"kid", "c"}, {"x", "AAAA"}};
  KeySet keys = Keys(Json{{"keys", {okp, enc, hs}}}.dump());
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_NE(keys.Find("a"), nullptr);
  EXPECT_EQ(keys.Find("b"), nullptr);
}

TEST(KeySet, FileErrorsNameTheFile) {
  const std::string dir = testing::MakeTempDir("jwks-test");
  const std::string absent = dir + "/absent.json", bad = dir + "/bad.json";
  absl::StatusOr<KeySet> missing = KeySet::FromFile(absent);
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr(absent));
  std::ofstream(bad) << "[]";
  VerifierOptions options;
  options.keys_file = bad;
  absl::StatusOr<std::unique_ptr<JwtVerifier>> verifier = JwtVerifier::Create(options);
  EXPECT_FALSE(verifier.ok());
  EXPECT_THAT(verifier.status().message(), HasSubstr("keys file " + bad + ": "));
  testing::RemoveTree(dir);
}

}  // namespace
}  // namespace advisor::auth
