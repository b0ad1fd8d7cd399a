// advisorctl: the command-line client of the Connectivity Advisor, for people and scripts.
//
//   advisorctl detect --stun stun.example.org:3478 --json
//   advisorctl connect-plan --stun stun.example.org:3478 --remote symmetric
//   advisorctl get-strategy --local full_cone --remote symmetric
//   advisorctl report --token T --connected --time-to-connect 1200 --attempts direct:succeeded:1200
//   advisorctl turn-servers
//   advisorctl health
//   advisorctl gen-keys --alg ES256 > keys.json
//   advisorctl mint-jwt --keys-file keys.json --sub alice --scope advisor.admin
// Readable text by default, the response as JSON with --json. NAT detection, the plan and the
// report come from lib/client, the library an app links; this file only wires it to flags.
// ConnectivityAdvisor calls carry `authorization: Bearer <jwt>` from --jwt, --jwt-file or the dev
// stack's .dev/advisorctl.jwt.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "lib/auth/jwks.h"
#include "lib/auth/jwt.h"
#include "lib/client/clock.h"
#include "lib/client/connect_plan.h"
#include "lib/client/nat_discovery.h"
#include "lib/client/report_builder.h"
#include "lib/client/stun_transport.h"
#include "lib/config/flags.h"
#include "lib/config/tls.h"
#include "lib/strategy/types.h"

namespace {

namespace v1 = connectivity::advisor::v1;
using advisor::strategy::NatType;

constexpr char kSummary[] =
    "Command-line client of the Connectivity Advisor.\n"
    "Commands:\n"
    "  detect --stun HOST:PORT [--stun HOST:PORT ...] [--bind ADDR]\n"
    "                                                        this host's NAT type (RFC 5780)\n"
    "  connect-plan --remote TYPE (--stun HOST:PORT ... | --local TYPE) [--region R]\n"
    "               [--budget D]                             detect, ask, print the plan\n"
    "  get-strategy --local TYPE --remote TYPE [--region R]   how should these peers connect?\n"
    "  report --token T (--connected --time-to-connect MS | --failed) [--attempts LIST]\n"
    "                                                        report how a session went\n"
    "  report --answer-file F [--events LIST] [--budget D] [--turn-id ID]\n"
    "                                                        the same, built from the plan\n"
    "  turn-servers [--region R]                             TURN servers and their health\n"
    "  health                                                the server's health status\n"
    "  gen-keys [--alg HS256|ES256|RS256] [--kid K]          print a new JWKS, private part "
    "included\n"
    "  mint-jwt --keys-file F --sub S [--kid K] [--scope S] [--ttl 1h] [--audience A]\n"
    "                                                        print a JWT signed with a key of F\n"
    "Authentication: get-strategy, connect-plan, report and turn-servers send\n"
    "`authorization: Bearer JWT` with the JWT from --jwt, else from --jwt-file, else from\n"
    ".dev/advisorctl.jwt in the current directory when it exists (scripts/dev up writes it).\n"
    "health and detect need none.\n"
    "TLS: the server's certificate is checked against --ca-file, else .dev/tls/ca.pem in the\n"
    "current directory when it exists, else the system roots; --insecure talks plaintext.\n"
    "--scope may repeat or hold several space-separated scopes; turn-servers needs "
    "advisor.admin.\n"
    "NAT types: open, full_cone, restricted_cone, port_restricted_cone, symmetric, blocked, "
    "unknown.\n"
    "Attempts: comma-separated PATH:RESULT:MS[:TRANSPORT[:TURN_ID]], e.g.\n"
    "  direct:timed_out:5000,relay:succeeded:900:udp:eu-1\n"
    "Events (times in ms from the start; the plan's own timers are implied), e.g.\n"
    "  failed@2000,connected:relay:tcp@2600   or   connected:direct@800\n"
    "Detection: --stun may repeat; a server started with two addresses (RFC 5780, e.g. coturn\n"
    "with two --listening-ip) tells mapping and filtering apart, several plain servers only the\n"
    "mapping. Each round of STUN tests waits at most --timeout (detect has at most four rounds).\n"
    "No answer from any server: blocked. The JSON has nat_type, confidence, mapping, filtering,\n"
    "public_address, local_address, rfc5780 and servers.";

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
  std::vector<std::string> stun;
  std::string bind;
  absl::Duration budget = absl::Seconds(30);
  std::string answer_file, events, turn_id;
};

}  // namespace

// Defaults come from Options, which main() also fills the client TLS files of.
ABSL_FLAG(std::string, target, Options{}.target, "advisor-server address HOST:PORT");
ABSL_FLAG(absl::Duration, timeout, Options{}.timeout,
          "deadline of each call; detect: how long each round of STUN tests waits");
ABSL_FLAG(bool, json, Options{}.json, "print the response as JSON");
ABSL_FLAG(std::string, local, Options{}.local,
          "get-strategy, connect-plan (instead of detecting): this peer's NAT type");
ABSL_FLAG(double, local_confidence, Options{}.local_confidence,
          "get-strategy: confidence of --local");
ABSL_FLAG(std::string, remote, Options{}.remote,
          "get-strategy, connect-plan: the other peer's NAT type");
ABSL_FLAG(double, remote_confidence, Options{}.remote_confidence,
          "get-strategy: confidence of --remote");
ABSL_FLAG(std::string, region, Options{}.region,
          "get-strategy, connect-plan, turn-servers: client region");
ABSL_FLAG(std::string, token, Options{}.token, "report: decision token from get-strategy");
ABSL_FLAG(bool, connected, Options{}.connected, "report: the session connected");
ABSL_FLAG(bool, failed, Options{}.failed, "report: the session did not connect");
ABSL_FLAG(int64_t, time_to_connect, Options{}.time_to_connect_ms,
          "report: ms until the session connected");
ABSL_FLAG(std::string, attempts, Options{}.attempts, "report: attempts made, see above");
ABSL_FLAG(std::string, jwt, Options{}.jwt, "JWT sent as `authorization: Bearer JWT`");
ABSL_FLAG(std::string, jwt_file, Options{}.jwt_file,
          "file holding the JWT (default: .dev/advisorctl.jwt if it exists)");
ABSL_FLAG(std::string, keys_file, Options{}.keys_file, "mint-jwt: JWKS file with a private key");
ABSL_FLAG(std::string, kid, Options{}.kid,
          "mint-jwt: key to sign with (default: the first with a private part); "
          "gen-keys: kid of the new key (default dev-<alg>)");
ABSL_FLAG(std::string, sub, Options{}.sub, "mint-jwt: subject, the client identity");
ABSL_FLAG(std::string, scope, "", "mint-jwt: scope to grant, e.g. advisor.admin");
ABSL_FLAG(absl::Duration, ttl, Options{}.ttl, "mint-jwt: lifetime of the token");
ABSL_FLAG(std::string, audience, Options{}.audience, "mint-jwt: aud claim");
ABSL_FLAG(std::string, alg, Options{}.alg, "gen-keys: HS256, ES256 or RS256");
ABSL_FLAG(std::string, stun, "",
          "detect, connect-plan: STUN server HOST:PORT (may repeat; port 3478 if left out)");
ABSL_FLAG(std::string, bind, Options{}.bind,
          "detect, connect-plan: local address to send from, IP or IP:PORT (default any)");
ABSL_FLAG(absl::Duration, budget, Options{}.budget,
          "connect-plan, report --answer-file: how long the app gives a session, fallback "
          "included");
ABSL_FLAG(std::string, answer_file, Options{}.answer_file,
          "report: the answer the session followed, as get-strategy or connect-plan --json "
          "printed it; the report is then built from --events");
ABSL_FLAG(std::string, events, Options{}.events,
          "report --answer-file: what the app saw, see above (none: it never connected)");
ABSL_FLAG(std::string, turn_id, Options{}.turn_id,
          "report --answer-file: id of the offered TURN server, named in relay attempts");

namespace {

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

// Sets `report` to the NAT type named `type` (as get-strategy takes it) at `confidence`; an error
// naming `flag` when the name is unknown.
std::optional<std::string> SetNatReport(absl::string_view flag, const std::string& type,
                                        double confidence, v1::NatReport& report) {
  const auto parsed = advisor::strategy::ParseNatType(type);
  if (!parsed) return absl::StrCat(flag, ": unknown NAT type '", type, "'");
  report.set_nat_type(static_cast<v1::NatType>(*parsed));
  report.set_confidence(static_cast<float>(confidence));
  return std::nullopt;
}

// One ICE configuration of an answer, under `name`, with its servers (credentials left out).
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

// The report of the session that followed the answer in --answer-file through --events.
absl::StatusOr<v1::ReportOutcomeRequest> PlanReport(const Options& options);

int Report(v1::ConnectivityAdvisor::Stub& stub, const Options& options, const std::string& jwt) {
  if (!options.answer_file.empty()) {
    absl::StatusOr<v1::ReportOutcomeRequest> request = PlanReport(options);
    if (!request.ok()) return Fail(request.status().message());
    v1::ReportOutcomeResponse response;
    grpc::Status status = stub.ReportOutcome(Context(options, jwt).get(), *request, &response);
    if (!status.ok()) return RpcFailed(status);
    if (options.json) {
      PrintJson(*request);
    } else {
      std::cout << "report accepted: " << request->ShortDebugString() << "\n";
    }
    return 0;
  }
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

using advisor::client::Behavior;
using advisor::client::BehaviorName;
using advisor::client::NatDiscoveryResult;
using advisor::turn::SocketAddress;
using json = nlohmann::ordered_json;

// --bind: "IP" or "IP:PORT" ("[v6]:PORT"); empty for 0.0.0.0 and any port.
absl::StatusOr<SocketAddress> BindAddress(const std::string& bind) {
  if (bind.empty()) return SocketAddress::Ipv4({0, 0, 0, 0}, 0);
  if (absl::StatusOr<SocketAddress> ip = SocketAddress::Parse(bind, 0); ip.ok()) return ip;
  std::string host = bind;
  std::string port_text;
  if (const size_t colon = bind.rfind(':'); colon != std::string::npos) {
    host = bind.substr(0, colon);
    port_text = bind.substr(colon + 1);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  uint32_t port = 0;
  absl::StatusOr<SocketAddress> address = SocketAddress::Parse(host, 0);
  if (!address.ok() || !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--bind: '", bind, "' is not IP or IP:PORT (numeric, no names)"));
  }
  address->port = static_cast<uint16_t>(port);
  return address;
}

absl::StatusOr<NatDiscoveryResult> Detect(const Options& options) {
  if (options.stun.empty()) return absl::InvalidArgumentError("detection needs --stun HOST:PORT");
  absl::StatusOr<SocketAddress> bind = BindAddress(options.bind);
  if (!bind.ok()) return bind.status();
  std::vector<SocketAddress> servers;
  for (const std::string& stun : options.stun) {
    absl::StatusOr<SocketAddress> server = advisor::client::ResolveStunServer(stun, bind->family);
    if (!server.ok()) return server.status();
    servers.push_back(*server);
  }
  absl::StatusOr<advisor::client::UdpStunTransport> transport =
      advisor::client::UdpStunTransport::Bind(*bind);
  if (!transport.ok()) return transport.status();
  advisor::client::SystemClock clock;
  advisor::client::DiscoveryOptions discovery;
  discovery.timeout = options.timeout;
  advisor::client::NatDetector detector(clock, discovery);
  return detector.Detect(*transport, servers);
}

// Confidence with three decimals, so that a float's binary tail does not show in the JSON.
double Rounded(float confidence) {
  return std::round(static_cast<double>(confidence) * 1000) / 1000;
}

json AddressJson(const std::optional<SocketAddress>& address) {
  return address ? json(address->ToString()) : json(nullptr);
}

json DetectionJson(const NatDiscoveryResult& r) {
  json servers = json::array();
  for (const advisor::client::ServerObservation& s : r.servers) {
    servers.push_back({{"server", s.server.ToString()},
                       {"answered", s.answered},
                       {"mapped", AddressJson(s.mapped)},
                       {"other_address", AddressJson(s.other_address)},
                       {"mapping", BehaviorName(s.mapping)},
                       {"filtering", BehaviorName(s.filtering)},
                       {"note", s.note}});
  }
  return {{"nat_type", advisor::strategy::NatTypeName(r.nat_type)},
          {"confidence", Rounded(r.confidence)},
          {"mapping", BehaviorName(r.mapping)},
          {"filtering", BehaviorName(r.filtering)},
          {"public_address", AddressJson(r.public_address)},
          {"local_address", r.local_address.ToString()},
          {"rfc5780", r.rfc5780},
          {"servers", std::move(servers)}};
}

void PrintDetection(const NatDiscoveryResult& r) {
  std::cout << absl::StrFormat("NAT type:          %s (confidence %.2f)\n",
                               advisor::strategy::NatTypeName(r.nat_type), r.confidence);
  std::cout << absl::StrFormat("mapping:           %s\n", BehaviorName(r.mapping));
  std::cout << absl::StrFormat("filtering:         %s\n", BehaviorName(r.filtering));
  std::cout << absl::StrFormat("public address:    %s\n",
                               r.public_address ? r.public_address->ToString() : "-");
  std::cout << absl::StrFormat("local address:     %s\n", r.local_address.ToString());
  std::cout << absl::StrFormat("RFC 5780:          %s\n", r.rfc5780 ? "yes" : "no");
  for (const advisor::client::ServerObservation& s : r.servers) {
    std::cout << "  server " << s.server.ToString() << ": ";
    if (!s.answered) {
      std::cout << "no answer";
    } else {
      std::cout << "mapped " << s.mapped->ToString();
      if (s.other_address) std::cout << ", other address " << s.other_address->ToString();
      if (s.mapping != Behavior::kUnknown) std::cout << ", mapping " << BehaviorName(s.mapping);
      if (s.filtering != Behavior::kUnknown) {
        std::cout << ", filtering " << BehaviorName(s.filtering);
      }
    }
    if (!s.note.empty() && s.answered) std::cout << " (" << s.note << ")";
    std::cout << "\n";
  }
}

int DetectCommand(const Options& options) {
  absl::StatusOr<NatDiscoveryResult> result = Detect(options);
  if (!result.ok()) return Fail(result.status().message());
  if (options.json) {
    std::cout << DetectionJson(*result).dump(2) << "\n";
  } else {
    PrintDetection(*result);
  }
  return 0;
}

// An IceConfig as RTCConfiguration spells it (iceServers, iceTransportPolicy, ...): proto3's JSON
// names are those, so the object can go to new RTCPeerConnection() as it is.
json IceConfigJson(const v1::IceConfig& config) {
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(config, &text).ok()) return json::object();
  json out = json::parse(text, nullptr, false);
  if (out.is_discarded()) return json::object();
  if (!out.contains("iceServers")) out["iceServers"] = json::array();
  return out;
}

std::string ActionName(advisor::client::ConnectPlan::Action::Kind kind) {
  using Kind = advisor::client::ConnectPlan::Action::Kind;
  switch (kind) {
    case Kind::kCreatePeerConnection:
      return "create_peer_connection";
    case Kind::kApplyFallback:
      return "apply_fallback";
    case Kind::kSetTimer:
      return "set_timer";
    case Kind::kGiveUp:
      return "give_up";
    case Kind::kDone:
      return "done";
  }
  return "unknown";
}

// The plan's steps for a session that never connects: what the app does, and when, until it
// gives up. Timers only move forward, so the walk ends within a few steps.
json PlanSteps(advisor::client::ConnectPlan plan) {
  using Kind = advisor::client::ConnectPlan::Action::Kind;
  const absl::Time t0 = absl::UnixEpoch();
  json steps = json::array();
  std::vector<advisor::client::ConnectPlan::Action> actions = plan.OnStarted(t0);
  absl::Time now = t0;
  for (int round = 0; round < 8 && !actions.empty(); ++round) {
    std::optional<absl::Time> timer;
    for (const auto& action : actions) {
      if (action.kind == Kind::kSetTimer) {
        timer = action.at;
        continue;
      }
      json step = {{"at_ms", absl::ToInt64Milliseconds(now - t0)},
                   {"action", ActionName(action.kind)}};
      if (action.kind == Kind::kCreatePeerConnection) step["config"] = "ice_config";
      if (action.kind == Kind::kApplyFallback) step["config"] = "fallback_ice_config";
      steps.push_back(std::move(step));
    }
    if (!timer) break;
    now = *timer;
    actions = plan.OnTimer(now);
  }
  return steps;
}

int ConnectPlanCommand(v1::ConnectivityAdvisor::Stub& stub, const Options& options,
                       const std::string& jwt) {
  if (options.remote.empty()) return Fail("connect-plan needs --remote");
  v1::GetStrategyRequest request;
  if (auto error = SetNatReport("--remote", options.remote, options.remote_confidence,
                                *request.mutable_remote())) {
    return Fail(*error);
  }
  std::optional<NatDiscoveryResult> detection;
  if (!options.stun.empty()) {
    absl::StatusOr<NatDiscoveryResult> result = Detect(options);
    if (!result.ok()) return Fail(result.status().message());
    detection = *result;
    request.mutable_local()->set_nat_type(static_cast<v1::NatType>(result->nat_type));
    request.mutable_local()->set_confidence(result->confidence);
  } else if (!options.local.empty()) {
    if (auto error = SetNatReport("--local", options.local, options.local_confidence,
                                  *request.mutable_local())) {
      return Fail(*error);
    }
  } else {
    return Fail("connect-plan needs --stun HOST:PORT (to detect) or --local TYPE");
  }
  request.set_region(options.region);
  v1::GetStrategyResponse response;
  grpc::Status status = stub.GetStrategy(Context(options, jwt).get(), request, &response);
  if (!status.ok()) return RpcFailed(status);
  absl::StatusOr<advisor::client::ConnectPlan> plan =
      advisor::client::ConnectPlan::Create(response, options.budget);
  if (!plan.ok()) return Fail(absl::StrCat("connect-plan: ", plan.status().message()));
  const std::optional<absl::Duration> fallback_after = plan->fallback_after();
  const std::string strategy = Lower(v1::Strategy_Name(response.strategy()), "STRATEGY_");
  const std::string transport =
      Lower(v1::TurnTransport_Name(response.preferred_turn_transport()), "TURN_TRANSPORT_");
  if (options.json) {
    json out;
    out["detection"] = detection ? DetectionJson(*detection) : json(nullptr);
    out["local"] = {
        {"nat_type", advisor::strategy::NatTypeName(
                         static_cast<advisor::strategy::NatType>(request.local().nat_type()))},
        {"confidence", Rounded(request.local().confidence())}};
    out["remote"] = {
        {"nat_type", advisor::strategy::NatTypeName(
                         static_cast<advisor::strategy::NatType>(request.remote().nat_type()))},
        {"confidence", Rounded(request.remote().confidence())}};
    out["strategy"] = strategy;
    out["direct_timeout_ms"] = response.direct_timeout_ms();
    out["fallback_at_ms"] =
        fallback_after ? json(absl::ToInt64Milliseconds(*fallback_after)) : json(nullptr);
    out["budget_ms"] = absl::ToInt64Milliseconds(options.budget);
    out["preferred_turn_transport"] = transport;
    out["expected_success_rate"] = response.expected_success_rate();
    out["expected_connect_time_ms"] = response.expected_connect_time_ms();
    out["decision_token"] = response.decision_token();
    out["ice_config"] = IceConfigJson(plan->initial_config());
    out["fallback_ice_config"] =
        plan->fallback_config() ? IceConfigJson(*plan->fallback_config()) : json(nullptr);
    out["steps"] = PlanSteps(*plan);
    out["reasons"] = response.reasons();
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (detection) PrintDetection(*detection);
  std::cout << absl::StrFormat("strategy:          %s\n", strategy);
  std::cout << absl::StrFormat("TURN transport:    %s\n", transport);
  std::cout << "plan:\n";
  for (const json& step : PlanSteps(*plan)) {
    const std::string action = step["action"].get<std::string>();
    const std::string what =
        action == "create_peer_connection" ? "new RTCPeerConnection(initial config)"
        : action == "apply_fallback"
            ? "if not connected: setConfiguration(fallback config), restartIce()"
            : "if not connected: give up";
    std::cout << absl::StrFormat("  at %6d ms  %s\n", step["at_ms"].get<int64_t>(), what);
  }
  PrintIceConfig("initial config:", plan->initial_config());
  if (plan->fallback_config()) PrintIceConfig("fallback config:", *plan->fallback_config());
  std::cout << "decision token:    " << response.decision_token() << "\n";
  return 0;
}

// An answer saved from `get-strategy --json` (the response's proto JSON) or from
// `connect-plan --json` (this file's own shape).
absl::StatusOr<v1::GetStrategyResponse> LoadAnswer(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the answer file ", path));
  const json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a JSON object"));
  }
  v1::GetStrategyResponse answer;
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = true;
  if (!j.contains("decision_token")) {
    if (!google::protobuf::util::JsonStringToMessage(text.str(), &answer, parse).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, " is not a GetStrategy answer"));
    }
    return answer;
  }
  v1::Strategy strategy;
  v1::TurnTransport transport = v1::TURN_TRANSPORT_UNSPECIFIED;
  if (!v1::Strategy_Parse(absl::StrCat("STRATEGY_", absl::AsciiStrToUpper(j.value("strategy", ""))),
                          &strategy)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no strategy"));
  }
  v1::TurnTransport_Parse(
      absl::StrCat("TURN_TRANSPORT_",
                   absl::AsciiStrToUpper(j.value("preferred_turn_transport", "unspecified"))),
      &transport);
  answer.set_strategy(strategy);
  answer.set_preferred_turn_transport(transport);
  answer.set_direct_timeout_ms(j.value("direct_timeout_ms", 0u));
  answer.set_decision_token(j.value("decision_token", ""));
  for (const char* name : {"ice_config", "fallback_ice_config"}) {
    if (!j.contains(name) || !j[name].is_object()) continue;
    v1::IceConfig* config = std::string(name) == "ice_config"
                                ? answer.mutable_ice_config()
                                : answer.mutable_fallback_ice_config();
    if (!google::protobuf::util::JsonStringToMessage(j[name].dump(), config, parse).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", name, " is not an IceConfig"));
    }
  }
  return answer;
}

absl::StatusOr<v1::ReportOutcomeRequest> PlanReport(const Options& options) {
  absl::StatusOr<v1::GetStrategyResponse> answer = LoadAnswer(options.answer_file);
  if (!answer.ok()) return answer.status();
  absl::StatusOr<advisor::client::ConnectPlan> plan =
      advisor::client::ConnectPlan::Create(*answer, options.budget);
  if (!plan.ok()) return plan.status();
  absl::StatusOr<std::vector<advisor::client::PlanEvent>> events =
      advisor::client::ParsePlanEvents(options.events);
  if (!events.ok())
    return absl::InvalidArgumentError(absl::StrCat("--events: ", events.status().message()));
  absl::StatusOr<advisor::client::ObservedSession> session =
      advisor::client::Replay(*std::move(plan), *events);
  if (!session.ok()) return session.status();
  return advisor::client::BuildReport(*answer, *session, options.turn_id);
}

// Every value of a repeatable flag (--scope, --stun) in `args`: the flag parser keeps only the
// last of a repeated flag.
std::vector<std::string> Repeated(int argc, char** argv, absl::string_view name) {
  const std::string flag = absl::StrCat("--", name);
  const std::string with_value = absl::StrCat(flag, "=");
  std::vector<std::string> values;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (absl::StartsWith(arg, with_value)) {
      values.emplace_back(arg.substr(with_value.size()));
    } else if (arg == flag && i + 1 < argc) {
      values.emplace_back(argv[++i]);
    }
  }
  return values;
}

// Copies the parsed flags into `options` (whose client TLS files the flag set fills itself).
void SetFromFlags(Options& options) {
  options.target = absl::GetFlag(FLAGS_target);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.json = absl::GetFlag(FLAGS_json);
  options.local = absl::GetFlag(FLAGS_local);
  options.local_confidence = absl::GetFlag(FLAGS_local_confidence);
  options.remote = absl::GetFlag(FLAGS_remote);
  options.remote_confidence = absl::GetFlag(FLAGS_remote_confidence);
  options.region = absl::GetFlag(FLAGS_region);
  options.token = absl::GetFlag(FLAGS_token);
  options.connected = absl::GetFlag(FLAGS_connected);
  options.failed = absl::GetFlag(FLAGS_failed);
  options.time_to_connect_ms = absl::GetFlag(FLAGS_time_to_connect);
  options.attempts = absl::GetFlag(FLAGS_attempts);
  options.jwt = absl::GetFlag(FLAGS_jwt);
  options.jwt_file = absl::GetFlag(FLAGS_jwt_file);
  options.keys_file = absl::GetFlag(FLAGS_keys_file);
  options.kid = absl::GetFlag(FLAGS_kid);
  options.sub = absl::GetFlag(FLAGS_sub);
  options.ttl = absl::GetFlag(FLAGS_ttl);
  options.audience = absl::GetFlag(FLAGS_audience);
  options.alg = absl::GetFlag(FLAGS_alg);
  options.bind = absl::GetFlag(FLAGS_bind);
  options.budget = absl::GetFlag(FLAGS_budget);
  options.answer_file = absl::GetFlag(FLAGS_answer_file);
  options.events = absl::GetFlag(FLAGS_events);
  options.turn_id = absl::GetFlag(FLAGS_turn_id);
}

int Run(int argc, char** argv) {
  Options options;
  advisor::config::FlagSet flags("advisorctl [flags] COMMAND [command flags]", kSummary);
  flags.String(FLAGS_target, "ADVISOR_TARGET");
  flags.Duration(FLAGS_timeout, "ADVISOR_TIMEOUT");
  flags.Bool(FLAGS_json, "");
  flags.String(FLAGS_local, "");
  flags.Double(FLAGS_local_confidence, "", 0, 1);
  flags.String(FLAGS_remote, "");
  flags.Double(FLAGS_remote_confidence, "", 0, 1);
  flags.String(FLAGS_region, "");
  flags.String(FLAGS_token, "");
  flags.Bool(FLAGS_connected, "");
  flags.Bool(FLAGS_failed, "");
  flags.Int(FLAGS_time_to_connect, "", 0, 600'000);
  flags.String(FLAGS_attempts, "");
  flags.Secret(FLAGS_jwt, "ADVISOR_JWT");
  flags.String(FLAGS_jwt_file, "ADVISOR_JWT_FILE");
  advisor::config::RegisterClientTlsFlags(flags, &options.tls);
  flags.String(FLAGS_keys_file, "");
  flags.String(FLAGS_kid, "");
  flags.String(FLAGS_sub, "");
  flags.String(FLAGS_scope, "");
  flags.Duration(FLAGS_ttl, "");
  flags.String(FLAGS_audience, "");
  flags.String(FLAGS_alg, "");
  flags.String(FLAGS_stun, "");
  flags.String(FLAGS_bind, "");
  flags.Duration(FLAGS_budget, "");
  flags.String(FLAGS_answer_file, "");
  flags.String(FLAGS_events, "");
  flags.String(FLAGS_turn_id, "");

  const advisor::config::ParsedCommand cli =
      advisor::config::ParseCommand(flags, argc, argv, "advisorctl",
                                    {"detect", "connect-plan", "get-strategy", "report",
                                     "turn-servers", "health", "gen-keys", "mint-jwt"});
  if (cli.exit_code) return *cli.exit_code;
  SetFromFlags(options);
  options.scopes = Repeated(argc, argv, "scope");
  options.stun = Repeated(argc, argv, "stun");
  if (cli.command == "detect") return DetectCommand(options);
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
  if (cli.command == "connect-plan") return ConnectPlanCommand(stub, options, *jwt);
  if (cli.command == "report") return Report(stub, options, *jwt);
  return TurnServers(stub, options, *jwt);
}

}  // namespace

int main(int argc, char** argv) {
  // nlohmann::json throws, e.g. on a string that is not UTF-8 in what it is asked to print: say so
  // and exit 1 rather than abort.
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    return Fail(absl::StrCat("unexpected error: ", e.what()));
  }
}
