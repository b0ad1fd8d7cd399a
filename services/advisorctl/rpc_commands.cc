// advisorctl's calls to the server: the call plumbing every command that calls it shares (the
// deadline, the `authorization: Bearer <jwt>` metadata and where the JWT comes from, failed calls)
// and the commands that are one call each: get-strategy, report --token, turn-servers, health.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "lib/strategy/types.h"
#include "services/advisorctl/commands.h"
#include "services/advisorctl/rpc.h"

namespace advisor::ctl {
namespace {

// Where `scripts/dev up` leaves a JWT for advisorctl, relative to the repository root.
constexpr char kDevJwtFile[] = ".dev/advisorctl.jwt";

// One "PATH:RESULT:MS[:TRANSPORT[:TURN_ID]]" item of --attempts.
absl::Status ParseAttempt(absl::string_view text, v1::Attempt& attempt) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  if (parts.size() < 3 || parts.size() > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("--attempts: '", text, "' is not PATH:RESULT:MS[:TRANSPORT[:TURN_ID]]"));
  }
  v1::Path path;
  if (!v1::Path_Parse(absl::StrCat("PATH_", absl::AsciiStrToUpper(parts[0])), &path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--attempts: path '", parts[0], "' is not direct or relay"));
  }
  v1::AttemptResult result;
  if (!v1::AttemptResult_Parse(absl::StrCat("ATTEMPT_RESULT_", absl::AsciiStrToUpper(parts[1])),
                               &result)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--attempts: result '", parts[1], "' is not succeeded, timed_out or failed"));
  }
  uint32_t ms = 0;
  if (!absl::SimpleAtoi(parts[2], &ms)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--attempts: duration '", parts[2], "' is not a number of ms"));
  }
  attempt.set_path(path);
  attempt.set_result(result);
  attempt.set_duration_ms(ms);
  if (parts.size() >= 4) {
    v1::TurnTransport transport;
    if (!v1::TurnTransport_Parse(absl::StrCat("TURN_TRANSPORT_", absl::AsciiStrToUpper(parts[3])),
                                 &transport)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--attempts: transport '", parts[3], "' is not udp, tcp or tls"));
    }
    attempt.set_transport(transport);
  }
  if (parts.size() == 5) attempt.set_turn_server_id(parts[4]);
  return absl::OkStatus();
}

}  // namespace

int RpcFailed(const grpc::Status& status) {
  std::cerr << "advisorctl: " << status.error_message() << " (gRPC status " << status.error_code()
            << ")\n";
  return 1;
}

std::optional<std::string> SetNatReport(absl::string_view flag, const std::string& type,
                                        double confidence, v1::NatReport& report) {
  const auto parsed = advisor::strategy::ParseNatType(type);
  if (!parsed) return absl::StrCat(flag, ": unknown NAT type '", type, "'");
  report.set_nat_type(static_cast<v1::NatType>(*parsed));
  report.set_confidence(static_cast<float>(confidence));
  return std::nullopt;
}

void PrintIceConfig(absl::string_view name, const v1::IceConfig& ice) {
  std::cout << absl::StrFormat("%-18s policy %s, candidate pool %d, %s, rtcp-mux %s\n", name,
                               ice.ice_transport_policy(), ice.ice_candidate_pool_size(),
                               ice.bundle_policy(), ice.rtcp_mux_policy());
  for (const v1::IceServer& server : ice.ice_servers()) {
    std::cout << "  ice server:      " << absl::StrJoin(server.urls(), " ");
    if (!server.username().empty()) std::cout << " (username " << server.username() << ")";
    std::cout << "\n";
  }
}

void PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) {
    json = message.ShortDebugString();
  }
  std::cout << json;
}

std::unique_ptr<grpc::ClientContext> Context(const Options& options, const std::string& jwt) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(options.timeout));
  if (!jwt.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", jwt));
  return context;
}

// The JWT for ConnectivityAdvisor calls: --jwt, else --jwt-file, else the dev stack's file when
// it exists; empty when there is none (the server may allow anonymous callers).
absl::StatusOr<std::string> ResolveJwt(const Options& options) {
  if (!options.jwt.empty()) return std::string(absl::StripAsciiWhitespace(options.jwt));
  std::string path = options.jwt_file;
  if (path.empty()) {
    std::error_code ec;
    if (!std::filesystem::exists(kDevJwtFile, ec)) return std::string();
    path = kDevJwtFile;
  }
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the JWT file ", path));
  std::string jwt(absl::StripAsciiWhitespace(text.str()));
  if (jwt.empty())
    return absl::InvalidArgumentError(absl::StrCat("the JWT file ", path, " is empty"));
  return jwt;
}

std::string Lower(absl::string_view enum_name, absl::string_view prefix) {
  return absl::AsciiStrToLower(enum_name.substr(std::min(prefix.size(), enum_name.size())));
}

int GetStrategy(const std::shared_ptr<grpc::Channel>& channel, const Options& options,
                const std::string& jwt) {
  v1::ConnectivityAdvisor::Stub stub(channel);
  if (options.local.empty() || options.remote.empty()) {
    return Fail("get-strategy needs --local and --remote");
  }
  v1::GetStrategyRequest request;
  for (auto error :
       {SetNatReport("--local", options.local, options.local_confidence, *request.mutable_local()),
        SetNatReport("--remote", options.remote, options.remote_confidence,
                     *request.mutable_remote())}) {
    if (error) return Fail(*error);
  }
  request.set_region(options.region);
  v1::GetStrategyResponse response;
  grpc::Status status = stub.GetStrategy(Context(options, jwt).get(), request, &response);
  if (!status.ok()) return RpcFailed(status);
  if (options.json) {
    PrintJson(response);
    return 0;
  }
  std::cout << absl::StrFormat("strategy:          %s\n",
                               Lower(v1::Strategy_Name(response.strategy()), "STRATEGY_"));
  std::cout << absl::StrFormat("direct timeout:    %d ms\n", response.direct_timeout_ms());
  std::cout << absl::StrFormat(
      "TURN transport:    %s\n",
      Lower(v1::TurnTransport_Name(response.preferred_turn_transport()), "TURN_TRANSPORT_"));
  std::cout << absl::StrFormat("expected success:  %.1f%%\n",
                               100 * response.expected_success_rate());
  std::cout << absl::StrFormat("expected connect:  %d ms\n", response.expected_connect_time_ms());
  std::cout << absl::StrFormat("history samples:   %d\n", response.history_samples());
  PrintIceConfig("ICE:", response.ice_config());
  if (response.has_fallback_ice_config()) {
    PrintIceConfig(absl::StrFormat("fallback at %d ms:", response.direct_timeout_ms()),
                   response.fallback_ice_config());
  }
  std::cout << "reasons:\n";
  for (const std::string& reason : response.reasons()) std::cout << "  - " << reason << "\n";
  std::cout << "decision token:    " << response.decision_token() << "\n";
  return 0;
}

int Report(const std::shared_ptr<grpc::Channel>& channel, const Options& options,
           const std::string& jwt) {
  if (options.token.empty()) return Fail("report needs --token (from get-strategy)");
  if (options.connected == options.failed) return Fail("report needs one of --connected, --failed");
  v1::ConnectivityAdvisor::Stub stub(channel);
  v1::ReportOutcomeRequest request;
  request.set_decision_token(options.token);
  request.set_connected(options.connected);
  request.set_time_to_connect_ms(static_cast<uint32_t>(options.time_to_connect_ms));
  for (absl::string_view item : absl::StrSplit(options.attempts, ',', absl::SkipEmpty())) {
    if (absl::Status status = ParseAttempt(item, *request.add_attempts()); !status.ok()) {
      return Fail(status.message());
    }
  }
  v1::ReportOutcomeResponse response;
  grpc::Status status = stub.ReportOutcome(Context(options, jwt).get(), request, &response);
  if (!status.ok()) return RpcFailed(status);
  if (options.json) {
    PrintJson(response);
  } else {
    std::cout << "report accepted\n";
  }
  return 0;
}

int TurnServers(const std::shared_ptr<grpc::Channel>& channel, const Options& options,
                const std::string& jwt) {
  v1::ConnectivityAdvisor::Stub stub(channel);
  v1::ListTurnServersRequest request;
  request.set_region(options.region);
  v1::ListTurnServersResponse response;
  grpc::Status status = stub.ListTurnServers(Context(options, jwt).get(), request, &response);
  if (!status.ok()) return RpcFailed(status);
  if (options.json) {
    PrintJson(response);
    return 0;
  }
  if (response.servers().empty()) {
    std::cout << "no TURN servers registered\n";
    return 0;
  }
  std::cout << absl::StrFormat("%-16s %-8s %-8s %-10s %10s %6s  %s\n", "ID", "REGION", "ENABLED",
                               "STATUS", "LATENCY", "FAILS", "URLS");
  for (const v1::TurnServer& server : response.servers()) {
    const v1::TurnServerHealth health =
        server.health().empty() ? v1::TurnServerHealth() : server.health(0);
    // A server never checked successfully has no latency yet.
    const std::string latency = health.smoothed_latency_ms() > 0
                                    ? absl::StrFormat("%.1fms", health.smoothed_latency_ms())
                                    : "-";
    std::cout << absl::StrFormat("%-16s %-8s %-8s %-10s %10s %6d  %s\n", server.id(),
                                 server.region(), server.enabled() ? "yes" : "no",
                                 health.status().empty() ? "unknown" : health.status(), latency,
                                 health.consecutive_failures(), absl::StrJoin(server.urls(), " "));
  }
  return 0;
}

int Health(const std::shared_ptr<grpc::Channel>& channel, const Options& options) {
  grpc::health::v1::Health::Stub stub(channel);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub.Check(Context(options).get(), request, &response);
  if (!status.ok()) return RpcFailed(status);
  if (options.json) {
    PrintJson(response);
  } else {
    std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())
              << "\n";
  }
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace advisor::ctl
