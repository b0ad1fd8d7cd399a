// lib/auth/jwks.h: generating and parsing JSON Web Key Sets, the RFC 7515 ECDSA example, and an
// error that names the key or the file for every bad one. Bad files are generated keys altered
// through the formats/jwks.proto messages, or JSON text where the text itself is the point.
#include "lib/auth/jwks.h"

#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <jwt/jwt.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "connectivity/advisor/formats/jwks.pb.h"
#include "lib/auth/jwt.h"
#include "tests/support/process.h"
#include "tests/unit/auth/keys_json.h"

namespace advisor::auth {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::string Error(const std::string& json) {
  absl::StatusOr<KeySet> keys = KeySet::FromJson(json);
  EXPECT_FALSE(keys.ok()) << json;
  return std::string(keys.status().message());
}

// The public key of RFC 7515 appendix A.3, as the members of a JWK object.
constexpr char kRfcEcKey[] = R"("kty":"EC","crv":"P-256","kid":"rfc",
    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")";

std::string RfcJwks(const std::string& more_members) {
  return absl::StrCat(R"({"keys":[{)", kRfcEcKey, more_members, "}]}");
}

TEST(GenerateJwks, RefusesUnknownAlgorithmAndEmptyKid) {
  EXPECT_FALSE(GenerateJwks("HS512", "k").ok());
  EXPECT_FALSE(GenerateJwks("none", "k").ok());
  EXPECT_FALSE(GenerateJwks("HS256", "").ok());
}

// RFC 7515 appendix A.3: a JWK → PEM conversion that interoperates, and ES256 signatures in the
// JOSE form (r || s), not OpenSSL's DER.
TEST(KeySet, Rfc7515EcdsaExampleVerifies) {
  KeySet keys = Keys(RfcJwks(""));
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

// What `advisorctl gen-keys` prints: the members RFC 7518 gives each key type, private part
// included, and nothing else.
TEST(GenerateJwks, PrintsTheMembersOfEachKeyType) {
  const std::vector<std::pair<const char*, std::vector<std::string>>> expected = {
      {"HS256", {"alg", "k", "kid", "kty", "use"}},
      {"ES256", {"alg", "crv", "d", "kid", "kty", "use", "x", "y"}},
      {"RS256", {"alg", "d", "dp", "dq", "e", "kid", "kty", "n", "p", "q", "qi", "use"}}};
  for (const auto& [alg, members] : expected) {
    SCOPED_TRACE(alg);
    google::protobuf::Struct jwks;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(Generate(alg, "k1"), &jwks).ok());
    ASSERT_EQ(jwks.fields().size(), 1u);
    const google::protobuf::ListValue& keys = jwks.fields().at("keys").list_value();
    ASSERT_EQ(keys.values_size(), 1);
    std::vector<std::string> names;
    for (const auto& [name, value] : keys.values(0).struct_value().fields()) {
      EXPECT_TRUE(value.has_string_value()) << name;
      names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    EXPECT_THAT(names, ElementsAreArray(members));
    const Jwk key = GeneratedKey(alg, "k1");
    EXPECT_EQ(key.kid(), "k1");
    EXPECT_EQ(key.alg(), alg);
    EXPECT_EQ(key.use(), "sig");
  }
}

TEST(KeySet, RefusesBadFiles) {
  const Jwk hs = GeneratedKey("HS256", "a");
  EXPECT_THAT(Error("{"), HasSubstr("not valid JSON"));
  EXPECT_THAT(Error(R"({"keys": {}})"), HasSubstr("no \"keys\" array"));
  EXPECT_THAT(Error(R"({"keys": []})"), HasSubstr("no usable key"));
  EXPECT_THAT(Error(JwksOf({hs, hs})), HasSubstr("keys[1] (kid \"a\"): duplicate kid"));
  Jwk no_kid = hs;
  no_kid.clear_kid();
  EXPECT_THAT(Error(JwksOf({no_kid})), HasSubstr("missing \"kid\""));
  Jwk wrong_alg = hs;
  wrong_alg.set_alg("RS256");
  EXPECT_THAT(Error(JwksOf({wrong_alg})), HasSubstr("does not match kty"));
  Jwk short_key = hs;
  short_key.set_k("c2hvcnQ");
  EXPECT_THAT(Error(JwksOf({short_key})), HasSubstr("at least 32"));
  Jwk bad_base64 = hs;
  bad_base64.set_k("not base64url!");
  EXPECT_THAT(Error(JwksOf({bad_base64})), HasSubstr("not base64url"));
  Jwk off_curve = GeneratedKey("ES256", "e");
  off_curve.set_y(off_curve.x());
  off_curve.clear_d();
  EXPECT_THAT(Error(JwksOf({off_curve})), HasSubstr("keys[0] (kid \"e\")"));
  Jwk mismatched = GeneratedKey("ES256", "e");
  mismatched.set_d(GeneratedKey("ES256", "other").d());
  EXPECT_THAT(Error(JwksOf({mismatched})), HasSubstr("does not match"));
}

// What a parse into the typed messages alone would let through: a member given twice (kept once,
// but which one?), a null where a key should be (dropped), a null member (taken as absent: "d":
// null would make a private key public), a member of the wrong JSON type.
TEST(KeySet, RefusesWhatATypedParseAloneWouldHide) {
  ASSERT_EQ(Keys(RfcJwks("")).size(), 1u);
  EXPECT_THAT(Error(RfcJwks(R"(,"kid":"other")")), HasSubstr("Repeated map key"));
  EXPECT_THAT(Error(absl::StrCat(R"({"keys":[],"keys":[{)", kRfcEcKey, "}]}")),
              HasSubstr("Repeated map key"));
  EXPECT_THAT(Error(R"({"keys":[null]})"), HasSubstr("keys[0]: not a JSON object"));
  EXPECT_THAT(Error(R"({"keys":[1]})"), HasSubstr("keys[0]: not a JSON object"));
  EXPECT_THAT(Error("[]"), HasSubstr("no \"keys\" array"));
  EXPECT_THAT(Error(R"({"keys":null})"), HasSubstr("no \"keys\" array"));
  EXPECT_THAT(Error(RfcJwks(R"(,"d":null)")),
              HasSubstr("keys[0] (kid \"rfc\"): \"d\" is not a string"));
  EXPECT_THAT(Error(RfcJwks(R"(,"alg":null)")), HasSubstr("\"alg\" is not a string"));
  EXPECT_THAT(Error(RfcJwks(R"(,"alg":5)")), HasSubstr("keys[0].alg"));
  EXPECT_THAT(Error(RfcJwks(R"(,"use":["sig"])")), HasSubstr("invalid JWKS: (keys[0]"));
  EXPECT_THAT(Error(R"({"keys":[{"kty":"oct","kid":7,"k":"c2hvcnQ"}]})"), HasSubstr("keys[0].kid"));
  // Trailing text is not part of any JSON value.
  EXPECT_THAT(Error(RfcJwks("") + " {}"), HasSubstr("not valid JSON"));
}

TEST(KeySet, AcceptsMembersItDoesNotRead) {
  KeySet keys = Keys(absl::StrCat(R"({"keys":[{)", kRfcEcKey, R"(,"use":"sig","alg":"ES256",
      "key_ops":["verify"],"ext":true,"x5c":["MIIB"],"x5t#S256":"abc","exp":1700000000,
      "oth":[{"r":"AQAB"}]}],"issuer":"https://idp.example"})"));
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys.keys()[0].kid, "rfc");
}

TEST(KeySet, SkipsKeysOfOtherKinds) {
  const Jwk hs = GeneratedKey("HS256", "a");
  Jwk enc = hs;
  enc.set_use("enc");
  enc.set_kid("b");
  Jwk okp;
  okp.set_kty("OKP");
  okp.set_crv("Ed25519");
  okp.set_kid("c");
  okp.set_x("AAAA");
  KeySet keys = Keys(JwksOf({okp, enc, hs}));
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_NE(keys.Find("a"), nullptr);
  EXPECT_EQ(keys.Find("b"), nullptr);
  // "use" given as null is not "sig" either, as before the typed parse.
  EXPECT_THAT(Error(RfcJwks(R"(,"use":null)")), HasSubstr("no usable key"));
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
