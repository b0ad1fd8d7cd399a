// Client JWTs: verifying the `authorization: Bearer` token of each call, and minting tokens for
// development, operators and the simulator.
//
// An app cannot keep a secret, so its backend mints a short-lived JWT per user (as with LiveKit or
// Twilio access tokens) and the server checks it against the keys of a JWKS file. Verification is
// done by the packaged cpp-jwt library; this file adds what a service needs around it: the key is
// chosen by `kid` and pins the algorithm, claims are checked against a caller-supplied `now`,
// verified tokens are remembered so that a client reusing its token costs a hash lookup rather
// than a signature check, and the keys file is re-read when it changes (rotation without restart).
#ifndef ADVISOR_LIB_AUTH_JWT_H_
#define ADVISOR_LIB_AUTH_JWT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/auth/jwks.h"

namespace advisor::auth {

// The scope that ListTurnServers requires.
inline constexpr char kAdminScope[] = "advisor.admin";
// Longest token Verify looks at, and longest `sub` it accepts.
inline constexpr size_t kMaxTokenBytes = size_t{8} * 1024;
inline constexpr size_t kMaxSubjectBytes = 256;

// Who called: from a verified JWT (or, in anonymous mode, built by the server).
struct Principal {
  std::string subject;                          // `sub`, the client identity
  bool admin = false;                           // `scope` (space-separated) has "advisor.admin"
  absl::Time expires = absl::InfiniteFuture();  // `exp`
};

struct VerifierOptions {
  std::string keys_file;  // JWKS file path
  std::string audience = "connectivity-advisor";
  absl::Duration clock_skew = absl::Seconds(60);
  size_t cache_entries = 100000;                            // verified tokens remembered (bounded)
  absl::Duration reload_check_interval = absl::Seconds(1);  // how often the file is stat()ed
};

class JwtVerifier {  // thread-safe
 public:
  // Loads the keys file; an error (unreadable, invalid JSON, no usable key, duplicate kid...)
  // names the file and why.
  static absl::StatusOr<std::unique_ptr<JwtVerifier>> Create(VerifierOptions options);
  ~JwtVerifier();

  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // Verifies a compact JWT (no "Bearer " prefix). UNAUTHENTICATED with a message saying why,
  // starting "authorization: ". Every time decision uses `now`, including when the keys file is
  // next stat()ed.
  absl::StatusOr<Principal> Verify(std::string_view jwt, absl::Time now);
  // Whether Verify would answer `jwt` from its cache, without a signature check: callers that
  // limit what failed verifications may cost let such tokens through regardless.
  bool Remembers(std::string_view jwt) const;

  // How many signature verifications were done (cache misses that got as far as the signature).
  int64_t signature_checks() const;
  // Keys currently loaded.
  size_t key_count() const;

 private:
  struct State;
  explicit JwtVerifier(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

struct MintOptions {
  std::string kid{};  // empty: the key set's first key with a private part
  std::string subject{};
  std::vector<std::string> scopes{};
  std::string audience = "connectivity-advisor";
  absl::Time issued_at{};
  absl::Duration ttl = absl::Hours(1);
};

// Signs a JWT with a private key of the set (an oct key's k, or EC/RSA with private parts): header
// {alg, typ, kid}, claims sub, aud, iat, exp and, when scopes are given, scope. An error if the
// kid is unknown or has no private part. No I/O: cheap enough for HS256 in a loop.
absl::StatusOr<std::string> MintJwt(const KeySet& keys, const MintOptions& options);

}  // namespace advisor::auth

#endif  // ADVISOR_LIB_AUTH_JWT_H_
