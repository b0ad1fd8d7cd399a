#include "services/sim/identity.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/auth/jwt.h"

namespace advisor::sim {

std::string InstallSubject(int64_t install) { return absl::StrCat("sim-install-", install); }

absl::StatusOr<std::unique_ptr<InstallCredentials>> InstallCredentials::Create(auth::KeySet keys,
                                                                               std::string_view kid,
                                                                               absl::Duration ttl) {
  const auth::Key* key = kid.empty() ? keys.FirstSigningKey() : keys.Find(kid);
  if (key == nullptr) {
    return absl::NotFoundError(kid.empty() ? std::string("no key with a private part")
                                           : absl::StrFormat("no key with kid \"%s\"", kid));
  }
  if (!key->can_sign()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("key \"%s\" has no private part to sign with", key->kid));
  }
  if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("ttl must be positive");
  std::string chosen = key->kid;
  return std::unique_ptr<InstallCredentials>(
      new InstallCredentials(std::move(keys), std::move(chosen), ttl));
}

absl::StatusOr<std::string> InstallCredentials::Jwt(int64_t install, absl::Time now) {
  std::lock_guard lock(mu_);
  auto it = cache_.find(install);
  if (it != cache_.end() && it->second.expires - now >= ttl_ / 10) return it->second.jwt;
  auth::MintOptions options;
  options.kid = kid_;
  options.subject = InstallSubject(install);
  options.issued_at = now;
  options.ttl = ttl_;
  absl::StatusOr<std::string> jwt = auth::MintJwt(keys_, options);
  if (!jwt.ok()) return jwt.status();
  cache_[install] = {*jwt, now + ttl_};
  return jwt;
}

}  // namespace advisor::sim
