// advisorctl's offline commands for the server's JWT authentication: gen-keys prints a new JWKS
// (the private part included) and mint-jwt a token signed with one of its keys.
#include <iostream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/auth/jwks.h"
#include "lib/auth/jwt.h"
#include "services/advisorctl/commands.h"

namespace advisor::ctl {

int GenKeys(const Options& options) {
  const std::string alg = absl::AsciiStrToUpper(options.alg);
  const std::string kid =
      options.kid.empty() ? absl::StrCat("dev-", absl::AsciiStrToLower(alg)) : options.kid;
  absl::StatusOr<std::string> jwks = advisor::auth::GenerateJwks(alg, kid);
  if (!jwks.ok()) return Fail(absl::StrCat("gen-keys: ", jwks.status().message()));
  std::cout << *jwks;
  return 0;
}

int MintJwt(const Options& options) {
  if (options.keys_file.empty() || options.sub.empty()) {
    return Fail("mint-jwt needs --keys-file and --sub");
  }
  absl::StatusOr<advisor::auth::KeySet> keys = advisor::auth::KeySet::FromFile(options.keys_file);
  if (!keys.ok()) return Fail(keys.status().message());
  advisor::auth::MintOptions mint;
  mint.kid = options.kid;
  mint.subject = options.sub;
  mint.scopes = options.scopes;
  mint.audience = options.audience;
  mint.issued_at = absl::Now();
  mint.ttl = options.ttl;
  absl::StatusOr<std::string> token = advisor::auth::MintJwt(*keys, mint);
  if (!token.ok()) return Fail(absl::StrCat("mint-jwt: ", token.status().message()));
  std::cout << *token << "\n";
  return 0;
}

}  // namespace advisor::ctl
