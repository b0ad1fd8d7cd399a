// The few OpenSSL primitives that STUN/TURN needs (HMAC-SHA1, MD5, base64, random bytes), wrapped
// so that the rest of lib/turn sees spans and absl::Status rather than OpenSSL's C API.
//
// They return errors rather than assume success because OpenSSL can refuse an algorithm at run
// time: MD5 is unavailable under a FIPS-only provider configuration.
#ifndef ADVISOR_LIB_TURN_CRYPTO_H_
#define ADVISOR_LIB_TURN_CRYPTO_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace advisor::turn {

absl::StatusOr<std::array<uint8_t, 20>> HmacSha1(std::span<const uint8_t> key,
                                                 std::span<const uint8_t> data);
absl::StatusOr<std::array<uint8_t, 16>> Md5(std::span<const uint8_t> data);
// Standard alphabet, with '=' padding (what coturn's REST API passwords use). For short inputs
// such as MACs: the length goes through OpenSSL's int.
std::string Base64(std::span<const uint8_t> data);
absl::Status RandomBytes(std::span<uint8_t> out);
// Compares in time independent of where the first difference is, for MACs.
bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace advisor::turn

#endif  // ADVISOR_LIB_TURN_CRYPTO_H_
