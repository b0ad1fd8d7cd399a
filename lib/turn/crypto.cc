#include "lib/turn/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <climits>

namespace advisor::turn {

absl::StatusOr<std::array<uint8_t, 20>> HmacSha1(std::span<const uint8_t> key,
                                                 std::span<const uint8_t> data) {
  if (key.size() > INT_MAX) return absl::InvalidArgumentError("HMAC key too long");
  // OpenSSL 3 rejects a null key pointer even with length 0, and an empty key is legal HMAC.
  static constexpr uint8_t kNoKey = 0;
  const uint8_t* key_data = key.empty() ? &kNoKey : key.data();
  std::array<uint8_t, 20> mac;
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha1(), key_data, static_cast<int>(key.size()), data.data(), data.size(), mac.data(),
           &mac_len) == nullptr ||
      mac_len != mac.size()) {
    return absl::InternalError("OpenSSL HMAC-SHA1 failed");
  }
  return mac;
}

absl::StatusOr<std::array<uint8_t, 16>> Md5(std::span<const uint8_t> data) {
  std::array<uint8_t, 16> digest;
  unsigned int digest_len = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &digest_len, EVP_md5(), nullptr) != 1 ||
      digest_len != digest.size()) {
    return absl::InternalError("OpenSSL MD5 failed (is MD5 disabled by a FIPS configuration?)");
  }
  return digest;
}

std::string Base64(std::span<const uint8_t> data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                                      static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(written));
  return out;
}

absl::Status RandomBytes(std::span<uint8_t> out) {
  if (out.size() > INT_MAX || RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed");
  }
  return absl::OkStatus();
}

bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace advisor::turn
