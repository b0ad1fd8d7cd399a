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
// report come from lib/client, the library an app links; the commands only wire it to flags.
// ConnectivityAdvisor calls carry `authorization: Bearer <jwt>` from --jwt, --jwt-file or the dev
// stack's .dev/advisorctl.jwt.
// This file parses the flags and dispatches: the commands are in rpc_commands.cc (one call
// each), session_commands.cc (detect, connect-plan, report --answer-file) and key_commands.cc.
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/config/client_tls.h"
#include "lib/config/flags.h"
#include "lib/config/tls.h"
#include "services/advisorctl/commands.h"

// Defaults come from Options.
ABSL_FLAG(std::string, target, advisor::ctl::Options{}.target, "advisor-server address HOST:PORT");
ABSL_FLAG(absl::Duration, timeout, advisor::ctl::Options{}.timeout,
          "deadline of each call; detect: how long each round of STUN tests waits");
ABSL_FLAG(bool, json, advisor::ctl::Options{}.json, "print the response as JSON");
ABSL_FLAG(std::string, local, advisor::ctl::Options{}.local,
          "get-strategy, connect-plan (instead of detecting): this peer's NAT type");
ABSL_FLAG(double, local_confidence, advisor::ctl::Options{}.local_confidence,
          "get-strategy: confidence of --local");
ABSL_FLAG(std::string, remote, advisor::ctl::Options{}.remote,
          "get-strategy, connect-plan: the other peer's NAT type");
ABSL_FLAG(double, remote_confidence, advisor::ctl::Options{}.remote_confidence,
          "get-strategy: confidence of --remote");
ABSL_FLAG(std::string, region, advisor::ctl::Options{}.region,
          "get-strategy, connect-plan, turn-servers: client region");
ABSL_FLAG(std::string, token, advisor::ctl::Options{}.token,
          "report: decision token from get-strategy");
ABSL_FLAG(bool, connected, advisor::ctl::Options{}.connected, "report: the session connected");
ABSL_FLAG(bool, failed, advisor::ctl::Options{}.failed, "report: the session did not connect");
ABSL_FLAG(int64_t, time_to_connect, advisor::ctl::Options{}.time_to_connect_ms,
          "report: ms until the session connected");
ABSL_FLAG(std::string, attempts, advisor::ctl::Options{}.attempts,
          "report: attempts made, see above");
ABSL_FLAG(std::string, jwt, advisor::ctl::Options{}.jwt, "JWT sent as `authorization: Bearer JWT`");
ABSL_FLAG(std::string, jwt_file, advisor::ctl::Options{}.jwt_file,
          "file holding the JWT (default: .dev/advisorctl.jwt if it exists)");
ABSL_FLAG(std::string, keys_file, advisor::ctl::Options{}.keys_file,
          "mint-jwt: JWKS file with a private key");
ABSL_FLAG(std::string, kid, advisor::ctl::Options{}.kid,
          "mint-jwt: key to sign with (default: the first with a private part); "
          "gen-keys: kid of the new key (default dev-<alg>)");
ABSL_FLAG(std::string, sub, advisor::ctl::Options{}.sub, "mint-jwt: subject, the client identity");
ABSL_FLAG(std::string, scope, "", "mint-jwt: scope to grant, e.g. advisor.admin");
ABSL_FLAG(absl::Duration, ttl, advisor::ctl::Options{}.ttl, "mint-jwt: lifetime of the token");
ABSL_FLAG(std::string, audience, advisor::ctl::Options{}.audience, "mint-jwt: aud claim");
ABSL_FLAG(std::string, alg, advisor::ctl::Options{}.alg, "gen-keys: HS256, ES256 or RS256");
ABSL_FLAG(std::string, stun, "",
          "detect, connect-plan: STUN server HOST:PORT (may repeat; port 3478 if left out)");
ABSL_FLAG(std::string, bind, advisor::ctl::Options{}.bind,
          "detect, connect-plan: local address to send from, IP or IP:PORT (default any)");
ABSL_FLAG(absl::Duration, budget, advisor::ctl::Options{}.budget,
          "connect-plan, report --answer-file: how long the app gives a session, fallback "
          "included");
ABSL_FLAG(std::string, answer_file, advisor::ctl::Options{}.answer_file,
          "report: the answer the session followed, as get-strategy or connect-plan --json "
          "printed it; the report is then built from --events");
ABSL_FLAG(std::string, events, advisor::ctl::Options{}.events,
          "report --answer-file: what the app saw, see above (none: it never connected)");
ABSL_FLAG(std::string, turn_id, advisor::ctl::Options{}.turn_id,
          "report --answer-file: id of the offered TURN server, named in relay attempts");

namespace advisor::ctl {
namespace {

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

// The dev stack's CA (scripts/dev up), used when no --ca-file is given.
constexpr char kDevCaFile[] = ".dev/tls/ca.pem";

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

// Copies the parsed flags into `options`.
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
  advisor::config::RegisterClientTlsFlags(flags);
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
  advisor::config::ClientTlsFiles tls = advisor::config::ClientTlsFlags();
  if (std::error_code ec;
      !tls.insecure && tls.ca_file.empty() && std::filesystem::exists(kDevCaFile, ec)) {
    tls.ca_file = kDevCaFile;
  }
  auto credentials = advisor::config::MakeChannelCredentials(tls);
  if (!credentials.ok()) return Fail(credentials.status().message());
  auto channel = grpc::CreateChannel(options.target, *credentials);
  if (cli.command == "health") return Health(channel, options);
  absl::StatusOr<std::string> jwt = ResolveJwt(options);
  if (!jwt.ok()) return Fail(jwt.status().message());
  if (cli.command == "get-strategy") return GetStrategy(channel, options, *jwt);
  if (cli.command == "connect-plan") return ConnectPlanCommand(channel, options, *jwt);
  if (cli.command == "report") {
    return options.answer_file.empty() ? Report(channel, options, *jwt)
                                       : ReportFromAnswer(channel, options, *jwt);
  }
  return TurnServers(channel, options, *jwt);
}

}  // namespace
}  // namespace advisor::ctl

int main(int argc, char** argv) { return advisor::ctl::Run(argc, argv); }
