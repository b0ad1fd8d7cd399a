// Fuzz target: decision-token verification, as ReportOutcome does it with whatever a client sends.
// Input: TOKEN, optionally "\n" and the RECEIVER it is checked for. Forgeries cannot pass the MAC,
// so claims drawn from the same bytes are also signed and must verify back to themselves: that
// covers the parsing behind the signature check.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "services/advisor/decision_token.h"

namespace {

const advisor::TokenSigner& Signer() {
  static const advisor::TokenSigner* signer = [] {
    auto s = advisor::TokenSigner::Create("fuzz-current-key-0123456789",
                                          "fuzz-previous-key-0123456789", absl::Hours(1));
    if (!s.ok()) abort();
    return new advisor::TokenSigner(*std::move(s));
  }();
  return *signer;
}

// Claims from the bytes: always in range, since only Sign's own output is expected to verify.
advisor::TokenClaims ClaimsFrom(std::string_view bytes) {
  auto byte = [&bytes](size_t i) -> uint8_t { return i < bytes.size() ? bytes[i] : 0; };
  advisor::TokenClaims c;
  for (size_t i = 0; i < c.id.size(); ++i) c.id[i] = byte(i);
  c.pair = advisor::strategy::NatPair::Of(
      static_cast<advisor::strategy::NatType>(byte(16) % advisor::strategy::kNatTypeCount),
      static_cast<advisor::strategy::NatType>(byte(17) % advisor::strategy::kNatTypeCount));
  c.strategy = static_cast<advisor::strategy::Strategy>(1 + byte(18) % 3);
  c.direct_timeout_ms = uint32_t{byte(19)} << 24 | uint32_t{byte(20)} << 16 | byte(21) << 8;
  c.issued_at = absl::FromUnixSeconds(1'700'000'000 + (int64_t{byte(22)} << 16));
  if (bytes.size() > 23) {
    c.turn_server_id = std::string(
        bytes.substr(23, std::min(bytes.size() - 23, advisor::TokenSigner::kMaxTurnServerIdBytes)));
  }
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string_view token = input.substr(0, newline);
  const std::string_view receiver =
      newline == std::string_view::npos ? "receiver" : input.substr(newline + 1);
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  (void)Signer().Verify(token, receiver, now);
  (void)Signer().Verify(token, receiver, absl::InfiniteFuture());
  (void)Signer().Verify(token, receiver, absl::InfinitePast());

  const advisor::TokenClaims claims = ClaimsFrom(input);
  const std::string signed_token = *Signer().Sign(claims, receiver);
  auto verified = Signer().Verify(signed_token, receiver, claims.issued_at);
  if (!verified.ok() || !(*verified == claims)) {
    __builtin_printf("Sign/Verify round trip broken: %s\n",
                     verified.ok() ? "claims differ" : verified.status().ToString().c_str());
    abort();
  }
  return 0;
}
