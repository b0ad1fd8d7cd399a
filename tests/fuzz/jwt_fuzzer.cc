// Fuzz target: client authentication. The first byte picks what the rest is: a JWKS document
// (KeySet::FromJson, as the keys file is read), a compact JWT checked by JwtVerifier::Verify
// against a fixed HS256 key and freshly made ES256 and RS256 keys, or a subject minted into a token
// and verified back.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "lib/auth/jwks.h"
#include "lib/auth/jwt.h"

namespace {

using namespace advisor::auth;

// base64url of "fuzz-hs256-secret-0123456789abcd" (32 bytes); tests/fuzz/corpus/jwt has tokens
// signed with it.
constexpr char kFixedKey[] =
    R"({"kty":"oct","kid":"fuzz-hs","alg":"HS256","k":"ZnV6ei1oczI1Ni1zZWNyZXQtMDEyMzQ1Njc4OWFiY2Q"})";
constexpr int64_t kNow = 1'700'000'000;

// The "keys" array of a generated JWKS, without its brackets.
std::string GeneratedKey(std::string_view alg, std::string_view kid) {
  absl::StatusOr<std::string> jwks = GenerateJwks(alg, kid);
  if (!jwks.ok()) abort();
  const size_t open = jwks->find('[');
  const size_t close = jwks->rfind(']');
  return jwks->substr(open + 1, close - open - 1);
}

struct Fixture {
  std::unique_ptr<JwtVerifier> verifier;
  KeySet keys;
};

const Fixture& Get() {
  static const Fixture* fixture = [] {
    const std::string json = std::string(R"({"keys":[)") + kFixedKey + "," +
                             GeneratedKey("ES256", "fuzz-es") + "," +
                             GeneratedKey("RS256", "fuzz-rs") + "]}";
    char path[] = "/tmp/jwt-fuzzer-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) abort();
    close(fd);
    std::ofstream(path) << json;
    VerifierOptions options;
    options.keys_file = path;
    options.cache_entries = 64;
    auto verifier = JwtVerifier::Create(options);
    unlink(path);
    absl::StatusOr<KeySet> keys = KeySet::FromJson(json);
    if (!verifier.ok() || !keys.ok()) abort();
    return new Fixture{*std::move(verifier), *std::move(keys)};
  }();
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Fixture& f = Get();
  switch (data[0] % 3) {
    case 0: {
      absl::StatusOr<KeySet> keys = KeySet::FromJson(rest);
      if (keys.ok()) {
        for (const Key& k : keys->keys()) (void)keys->Find(k.kid);
        (void)keys->FirstSigningKey();
      }
      break;
    }
    case 1:
      (void)f.verifier->Verify(rest, absl::FromUnixSeconds(kNow));
      (void)f.verifier->Remembers(rest);
      break;
    default: {
      for (std::string_view kid : {"fuzz-hs", "fuzz-es", "fuzz-rs"}) {
        if (kid != "fuzz-hs" && rest.size() % 7 != 0) continue;  // signatures are slow
        MintOptions options;
        options.kid = std::string(kid);
        options.subject = std::string(rest);
        options.scopes = {"advisor.admin"};
        options.issued_at = absl::FromUnixSeconds(kNow);
        absl::StatusOr<std::string> jwt = MintJwt(f.keys, options);
        if (jwt.ok()) (void)f.verifier->Verify(*jwt, absl::FromUnixSeconds(kNow));
      }
      break;
    }
  }
  return 0;
}
