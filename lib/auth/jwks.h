// JSON Web Key Sets (RFC 7517): the keys that sign and verify client JWTs, parsed from the JWKS
// file that operators mount, and freshly generated ones for development stacks and benchmarks.
//
// Only the three algorithms the service accepts are kept: an `oct` key is HS256, an `EC` P-256
// key is ES256, an `RSA` key is RS256. Each key is pinned to exactly one algorithm, so that a
// token can never be checked with a key under an algorithm the key was not meant for (an RSA
// public key used as an HMAC secret is the classic JWT forgery). Keys of other types, curves or
// uses ("enc") are skipped, since an identity provider's JWKS may list them; a key that claims one
// of our algorithms but is malformed is an error, because silently dropping it would turn a typo
// into refused clients with no hint why.
#ifndef ADVISOR_LIB_AUTH_JWKS_H_
#define ADVISOR_LIB_AUTH_JWKS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace advisor::auth {

enum class Algorithm { kHS256, kES256, kRS256 };

// "HS256", "ES256" or "RS256".
std::string_view AlgorithmName(Algorithm alg);
// The inverse of AlgorithmName, exact spelling; std::nullopt for anything else (including "none").
std::optional<Algorithm> ParseAlgorithm(std::string_view name);

struct Key {
  std::string kid;
  Algorithm alg = Algorithm::kHS256;
  // What the JWT library verifies with: the raw secret for HS256, a PEM public key otherwise.
  std::string verify_key;
  // What it signs with: the raw secret for HS256, a PEM private key otherwise; empty when the JWK
  // has no private part.
  std::string signing_key;

  bool can_sign() const { return !signing_key.empty(); }
};

class KeySet {
 public:
  // A JWKS document: {"keys": [...]}. Errors say which key ("key 2 (kid \"a\")") and why.
  static absl::StatusOr<KeySet> FromJson(std::string_view json);
  // Reads and parses a JWKS file; errors start with "keys file PATH: ".
  static absl::StatusOr<KeySet> FromFile(const std::string& path);

  // nullptr when no key has this kid.
  const Key* Find(std::string_view kid) const;
  // The first key with a private part, in file order; nullptr when there is none.
  const Key* FirstSigningKey() const;

  const std::vector<Key>& keys() const { return keys_; }
  size_t size() const { return keys_.size(); }

 private:
  std::vector<Key> keys_;
};

// A new JWKS (JSON text) holding one freshly generated key, private part included: alg "HS256"
// (32 random bytes), "ES256" (P-256) or "RS256" (2048-bit). `kid` must not be empty.
absl::StatusOr<std::string> GenerateJwks(std::string_view alg, std::string_view kid);

}  // namespace advisor::auth

#endif  // ADVISOR_LIB_AUTH_JWKS_H_
