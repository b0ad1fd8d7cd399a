// advisorctl: the command-line client of the Connectivity Advisor, for people and scripts.
//
//   advisorctl get-strategy --local full_cone --remote symmetric
//   advisorctl report --token TOKEN --connected --time-to-connect 1200 --attempts
//   direct:succeeded:1200 advisorctl turn-servers advisorctl health
//   advisorctl gen-keys --alg ES256 > keys.json
//   advisorctl mint-jwt --keys-file keys.json --sub alice --scope advisor.admin
// Readable text by default, the response as JSON with --json. ConnectivityAdvisor calls carry
// `authorization: Bearer <jwt>` from --jwt, --jwt-file or the dev stack's .dev/advisorctl.jwt.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "lib/auth/jwks.h"
#include "lib/auth/jwt.h"
#include "lib/config/flags.h"
#include "lib/config/tls.h"
#include "lib/strategy/types.h"

namespace {

namespace v1 = connectivity::advisor::v1;
using advisor::strategy::NatType;

constexpr char kSummary[] =
    "Command-line client of the Connectivity Advisor.\n"
    "Commands:\n"
    "  get-strategy --local TYPE --remote TYPE [--region R]   how should these peers connect?\n"
    "  report --token T (--connected --time-to-connect MS | --failed) [--attempts LIST]\n"
    "                                                        report how a session went\n"
    "  turn-servers [--region R]                             TURN servers and their health\n"
    "  health                                                the server's health status\n"
    "  gen-keys [--alg HS256|ES256|RS256] [--kid K]          print a new JWKS, private part "
    "included\n"
    "  mint-jwt --keys-file F --sub S [--kid K] [--scope S] [--ttl 1h] [--audience A]\n"
    "                                                        print a JWT signed with a key of F\n"
    "Authentication: get-strategy, report and turn-servers send `authorization: Bearer JWT`\n"
    "with the JWT from --jwt, else from --jwt-file, else from .dev/advisorctl.jwt in the current\n"
    "directory when it exists (scripts/dev up writes it). health needs none.\n"
    "TLS: the server's certificate is checked against --ca-file, else .dev/tls/ca.pem in the\n"
    "current directory when it exists, else the system roots; --insecure talks plaintext.\n"
    "--scope may repeat or hold several space-separated scopes; turn-servers needs "
    "advisor.admin.\n"
    "NAT types: open, full_cone, restricted_cone, port_restricted_cone, symmetric, blocked, "
    "unknown.\n"
    "Attempts: comma-separated PATH:RESULT:MS[:TRANSPORT[:TURN_ID]], e.g.\n"
    "  direct:timed_out:5000,relay:succeeded:900:udp:eu-1";

struct Options {
  std::string target = "127.0.0.1:50051";
  absl::Duration timeout = absl::Seconds(5);
  bool json = false;
  std::string local, remote, region, token, attempts;
  double local_confidence = 1.0, remote_confidence = 1.0;
  bool connected = false, failed = false;
  int64_t time_to_connect_ms = 0;
  std::string jwt, jwt_file;
  advisor::config::ClientTlsFiles tls;
  std::string keys_file, kid, sub, audience = "connectivity-advisor", alg = "HS256";
  std::vector<std::string> scopes;
  absl::Duration ttl = absl::Hours(1);
};

// Where `scripts/dev up` leaves a JWT for advisorctl, relative to the repository root.
constexpr char kDevJwtFile[] = ".dev/advisorctl.jwt";
// The dev stack's CA (scripts/dev up), used when no --ca-file is given.
constexpr char kDevCaFile[] = ".dev/tls/ca.pem";

int Fail(absl::string_view message) {
  std::cerr << "advisorctl: " << message << "\n";
  return 2;
}

int RpcFailed(const grpc::Status& status) {
  std::cerr << "advisorctl: " << status.error_message() << " (gRPC status " << status.error_code()
            << ")\n";
  return 1;
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

// `jwt` empty: a call without credentials (health).
std::unique_ptr<grpc::ClientContext> Context(const Options& options, const std::string& jwt = "") {
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
  std::string out(enum_name.substr(std::min(prefix.size(), enum_name.size())));
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int GetStrategy(v1::ConnectivityAdvisor::Stub& stub, const Options& options,
                const std::string& jwt) {
  if (options.local.empty() || options.remote.empty()) {
    return Fail("get-strategy needs --local and --remote");
  }
  auto local = advisor::strategy::ParseNatType(options.local);
  if (!local) return Fail(absl::StrCat("--local: unknown NAT type '", options.local, "'"));
  auto remote = advisor::strategy::ParseNatType(options.remote);
  if (!remote) return Fail(absl::StrCat("--remote: unknown NAT type '", options.remote, "'"));
  v1::GetStrategyRequest request;
  request.mutable_local()->set_nat_type(static_cast<v1::NatType>(*local));
  request.mutable_local()->set_confidence(static_cast<float>(options.local_confidence));
  request.mutable_remote()->set_nat_type(static_cast<v1::NatType>(*remote));
  request.mutable_remote()->set_confidence(static_cast<float>(options.remote_confidence));
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
  const v1::IceConfig& ice = response.ice_config();
  std::cout << absl::StrFormat("ICE:               policy %s, candidate pool %d, %s, rtcp-mux %s\n",
                               ice.ice_transport_policy(), ice.ice_candidate_pool_size(),
                               ice.bundle_policy(), ice.rtcp_mux_policy());
  for (const v1::IceServer& server : ice.ice_servers()) {
    std::cout << "  ice server:      " << absl::StrJoin(server.urls(), " ");
    if (!server.username().empty()) std::cout << " (username " << server.username() << ")";
    std::cout << "\n";
  }
  std::cout << "reasons:\n";
  for (const std::string& reason : response.reasons()) std::cout << "  - " << reason << "\n";
  std::cout << "decision token:    " << response.decision_token() << "\n";
  return 0;
}

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

int Report(v1::ConnectivityAdvisor::Stub& stub, const Options& options, const std::string& jwt) {
  if (options.token.empty()) return Fail("report needs --token (from get-strategy)");
  if (options.connected == options.failed) return Fail("report needs one of --connected, --failed");
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

int TurnServers(v1::ConnectivityAdvisor::Stub& stub, const Options& options,
                const std::string& jwt) {
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

// Every --scope value in `args`: the flag parser keeps only the last of a repeated flag.
std::vector<std::string> Scopes(int argc, char** argv) {
  std::vector<std::string> scopes;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (absl::StartsWith(arg, "--scope=")) {
      scopes.emplace_back(arg.substr(8));
    } else if (arg == "--scope" && i + 1 < argc) {
      scopes.emplace_back(argv[++i]);
    }
  }
  return scopes;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  advisor::config::FlagSet flags("advisorctl [flags] COMMAND [command flags]", kSummary);
  flags.String("target", "ADVISOR_TARGET", &options.target, "advisor-server address HOST:PORT");
  flags.Duration("timeout", "ADVISOR_TIMEOUT", &options.timeout, "deadline of each call");
  flags.Bool("json", "", &options.json, "print the response as JSON");
  flags.String("local", "", &options.local, "get-strategy: this peer's NAT type");
  flags.Double("local-confidence", "", &options.local_confidence,
               "get-strategy: confidence of --local", 0, 1);
  flags.String("remote", "", &options.remote, "get-strategy: the other peer's NAT type");
  flags.Double("remote-confidence", "", &options.remote_confidence,
               "get-strategy: confidence of --remote", 0, 1);
  flags.String("region", "", &options.region, "get-strategy, turn-servers: client region");
  flags.String("token", "", &options.token, "report: decision token from get-strategy");
  flags.Bool("connected", "", &options.connected, "report: the session connected");
  flags.Bool("failed", "", &options.failed, "report: the session did not connect");
  flags.Int("time-to-connect", "", &options.time_to_connect_ms,
            "report: ms until the session connected", 0, 600'000);
  flags.String("attempts", "", &options.attempts, "report: attempts made, see above");
  flags.Secret("jwt", "ADVISOR_JWT", &options.jwt, "JWT sent as `authorization: Bearer JWT`");
  flags.String("jwt-file", "ADVISOR_JWT_FILE", &options.jwt_file,
               "file holding the JWT (default: .dev/advisorctl.jwt if it exists)");
  advisor::config::RegisterClientTlsFlags(flags, &options.tls);
  flags.String("keys-file", "", &options.keys_file, "mint-jwt: JWKS file with a private key");
  flags.String("kid", "", &options.kid,
               "mint-jwt: key to sign with (default: the first with a private part); "
               "gen-keys: kid of the new key (default dev-<alg>)");
  flags.String("sub", "", &options.sub, "mint-jwt: subject, the client identity");
  std::string scope_flag;
  flags.String("scope", "", &scope_flag, "mint-jwt: scope to grant, e.g. advisor.admin");
  flags.Duration("ttl", "", &options.ttl, "mint-jwt: lifetime of the token");
  flags.String("audience", "", &options.audience, "mint-jwt: aud claim");
  flags.String("alg", "", &options.alg, "gen-keys: HS256, ES256 or RS256");

  const advisor::config::ParsedCommand cli = advisor::config::ParseCommand(
      flags, argc, argv, "advisorctl",
      {"get-strategy", "report", "turn-servers", "health", "gen-keys", "mint-jwt"});
  if (cli.exit_code) return *cli.exit_code;
  options.scopes = Scopes(argc, argv);
  if (cli.command == "gen-keys") return GenKeys(options);
  if (cli.command == "mint-jwt") return MintJwt(options);
  if (absl::Status status = advisor::config::ValidateHostPort("--target", options.target);
      !status.ok()) {
    return Fail(status.message());
  }
  if (std::error_code ec; !options.tls.insecure && options.tls.ca_file.empty() &&
                          std::filesystem::exists(kDevCaFile, ec)) {
    options.tls.ca_file = kDevCaFile;
  }
  auto credentials = advisor::config::MakeChannelCredentials(options.tls);
  if (!credentials.ok()) return Fail(credentials.status().message());
  auto channel = grpc::CreateChannel(options.target, *credentials);
  if (cli.command == "health") return Health(channel, options);
  absl::StatusOr<std::string> jwt = ResolveJwt(options);
  if (!jwt.ok()) return Fail(jwt.status().message());
  v1::ConnectivityAdvisor::Stub stub(channel);
  if (cli.command == "get-strategy") return GetStrategy(stub, options, *jwt);
  if (cli.command == "report") return Report(stub, options, *jwt);
  return TurnServers(stub, options, *jwt);
}
