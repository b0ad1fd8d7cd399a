// Keys files for lib/auth's unit tests, shared by the JWKS and the JWT tests: generated key sets,
// their keys as formats/jwks.proto messages to alter, and key sets printed back from those
// messages. Each helper fails the test on an error rather than returning one.
#ifndef ADVISOR_TESTS_UNIT_AUTH_KEYS_JSON_H_
#define ADVISOR_TESTS_UNIT_AUTH_KEYS_JSON_H_

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "connectivity/advisor/formats/jwks.pb.h"
#include "lib/auth/jwks.h"

namespace advisor::auth {

using ::connectivity::advisor::formats::Jwk;
using ::connectivity::advisor::formats::Jwks;

inline KeySet Keys(const std::string& jwks) {
  absl::StatusOr<KeySet> keys = KeySet::FromJson(jwks);
  EXPECT_TRUE(keys.ok()) << keys.status();
  return keys.ok() ? *std::move(keys) : KeySet();
}

// A fresh JWKS of one key with a private part, as `advisorctl gen-keys` prints it.
inline std::string Generate(std::string_view alg, std::string_view kid) {
  absl::StatusOr<std::string> jwks = GenerateJwks(alg, kid);
  EXPECT_TRUE(jwks.ok()) << jwks.status();
  return jwks.ok() ? *jwks : "";
}

// The keys of a JWKS text, read without unknown members (a generated key set has none).
inline Jwks ParseJwks(const std::string& json) {
  Jwks jwks;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &jwks).ok()) << json;
  return jwks;
}

// The one key of a freshly generated JWKS.
inline Jwk GeneratedKey(std::string_view alg, std::string_view kid) {
  const Jwks jwks = ParseJwks(Generate(alg, kid));
  EXPECT_EQ(jwks.keys_size(), 1);
  return jwks.keys_size() == 1 ? jwks.keys(0) : Jwk();
}

inline std::string JwksOf(std::initializer_list<Jwk> keys) {
  Jwks jwks;
  for (const Jwk& key : keys) *jwks.add_keys() = key;
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(jwks, &json).ok());
  return json;
}

}  // namespace advisor::auth

#endif  // ADVISOR_TESTS_UNIT_AUTH_KEYS_JSON_H_
