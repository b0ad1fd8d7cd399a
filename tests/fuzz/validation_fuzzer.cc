// Fuzz target: request validation on the bytes a client sends. The first byte picks the message
// (GetStrategyRequest or ReportOutcomeRequest), the rest is its protobuf encoding, parsed as gRPC
// would and validated as the service does; a valid report is also checked against an answer.
#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"
#include "connectivity/advisor/v1/advisor.pb.h"
#include "services/advisor/validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > advisor::kMaxRequestBytes) return 0;
  const uint8_t* body = data + 1;
  const int length = static_cast<int>(size - 1);
  if (data[0] % 2 == 0) {
    connectivity::advisor::v1::GetStrategyRequest request;
    if (!request.ParseFromArray(body, length)) return 0;
    (void)advisor::ParseGetStrategyRequest(request);
    return 0;
  }
  connectivity::advisor::v1::ReportOutcomeRequest request;
  if (!request.ParseFromArray(body, length)) return 0;
  if (!advisor::ParseReportOutcomeRequest(request).ok()) return 0;
  for (int s = 1; s <= 3; ++s) {
    advisor::TokenClaims claims;
    claims.strategy = static_cast<advisor::strategy::Strategy>(s);
    claims.direct_timeout_ms = s == 3 ? 0 : 5000;
    claims.turn_server_id = "eu-1";
    claims.issued_at = absl::FromUnixSeconds(1'700'000'000);
    (void)advisor::CheckAgainstAnswer(request, claims);
  }
  return 0;
}
