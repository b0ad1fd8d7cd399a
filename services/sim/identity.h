// The simulated fleet's identities: each install of the app has its own JWT subject, as a real
// app's backend would give each user, so that the server's per-identity limits see a fleet of
// many clients rather than one client sending everything.
//
// Which install runs a session is drawn with the session (Session::install, DrawSessions). JWTs are
// minted the first time an install needs one and reused until they are close to expiry, as a
// client reuses its access token.
#ifndef ADVISOR_SERVICES_SIM_IDENTITY_H_
#define ADVISOR_SERVICES_SIM_IDENTITY_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/auth/jwks.h"

namespace advisor::sim {

// The JWT subject of an install.
std::string InstallSubject(int64_t install);

// Mints and caches one JWT per install. Thread-safe.
class InstallCredentials {
 public:
  // Signs with the key `kid` of `keys`, or with the first key that can sign when `kid` is empty.
  static absl::StatusOr<std::unique_ptr<InstallCredentials>> Create(
      auth::KeySet keys, std::string_view kid, absl::Duration ttl = absl::Hours(1));

  InstallCredentials(const InstallCredentials&) = delete;
  InstallCredentials& operator=(const InstallCredentials&) = delete;

  // The install's JWT, minted at `now` unless the cached one is valid for at least a tenth of
  // its lifetime more.
  absl::StatusOr<std::string> Jwt(int64_t install, absl::Time now);

  const std::string& kid() const { return kid_; }

 private:
  struct Minted {
    std::string jwt;
    absl::Time expires;
  };

  InstallCredentials(auth::KeySet keys, std::string kid, absl::Duration ttl)
      : keys_(std::move(keys)), kid_(std::move(kid)), ttl_(ttl) {}

  const auth::KeySet keys_;
  const std::string kid_;
  const absl::Duration ttl_;
  std::mutex mu_;
  std::unordered_map<int64_t, Minted> cache_;  // guarded by mu_
};

}  // namespace advisor::sim

#endif  // ADVISOR_SERVICES_SIM_IDENTITY_H_
