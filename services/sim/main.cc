// advisor-sim: drives a running advisor-server with a simulated fleet from a scenario file and
// reports the quality of its advice against three baselines on the same sessions.
//
//   advisor-sim --target 127.0.0.1:50051 --scenario services/sim/scenarios/steady.json
//
// Exit status: 0 when the run completed, 1 when it could not run or RPCs failed, 2 on a usage
// error.
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "lib/auth/jwks.h"
#include "lib/config/client_tls.h"
#include "lib/config/flags.h"
#include "lib/config/tls.h"
#include "lib/telemetry/logging.h"
#include "services/sim/evaluation.h"
#include "services/sim/identity.h"
#include "services/sim/model.h"
#include "services/sim/report.h"
#include "services/sim/runner.h"
#include "services/sim/scenario.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "advisor-server gRPC address");
ABSL_FLAG(std::string, scenario, "",
          "scenario file (JSON), e.g. services/sim/scenarios/steady.json");
ABSL_FLAG(int64_t, sessions, 0, "sessions to run; 0 runs the scenario's own count");
ABSL_FLAG(int64_t, seed, 1,
          "seed of the session draws; the range keeps it exact in the JSON report");
ABSL_FLAG(int64_t, concurrency, 64, "sessions in flight");
ABSL_FLAG(double, rate, 2000,
          "sessions started per second at most, like a fleet's arrival rate; 0 = as fast as the "
          "server answers");
ABSL_FLAG(std::string, auth_keys_file, "",
          "JWKS with a private key: each install sends its own JWT signed with it; without one, "
          "no JWT is sent (for a server with --allow-anonymous)");
ABSL_FLAG(std::string, auth_kid, "",
          "kid of the signing key; empty = the first key with a private part");
ABSL_FLAG(int64_t, installs, advisor::sim::kDefaultInstalls,
          "installs of the app, each its own identity; sessions are spread over them");
ABSL_FLAG(bool, json, false, "print the report as JSON");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error (logs go to stderr)");

namespace {

constexpr char kSummary[] =
    "The fleet simulator: for each simulated session it asks advisor-server for a strategy with "
    "the\n"
    "clients' reported NAT types, plays the connection out against the scenario's hidden truth "
    "and\n"
    "reports the outcome. Prints success rate, time to connect, relay share and cost of the "
    "advisor\n"
    "and of three baselines on the same sessions (the seed's static tree, always TURN_ONLY, and "
    "the\n"
    "oracle that knows the true odds), overall, per NAT pair and per phase, and what the static\n"
    "tree's success rate would cost.";

}  // namespace

int main(int argc, char** argv) {
  using advisor::sim::Drive;
  advisor::config::FlagSet flags("advisor-sim --scenario FILE [flags]", kSummary);
  flags.HostPort(FLAGS_target, "ADVISOR_SIM_TARGET");
  flags.String(FLAGS_scenario, "ADVISOR_SIM_SCENARIO");
  flags.Int(FLAGS_sessions, "ADVISOR_SIM_SESSIONS", 0, 100'000'000);
  flags.Int(FLAGS_seed, "ADVISOR_SIM_SEED", 0, (int64_t{1} << 53) - 1);
  flags.Int(FLAGS_concurrency, "ADVISOR_SIM_CONCURRENCY", 1, 4096);
  flags.Double(FLAGS_rate, "ADVISOR_SIM_RATE", 0, 1e6);
  flags.String(FLAGS_auth_keys_file, "ADVISOR_SIM_AUTH_KEYS_FILE");
  flags.String(FLAGS_auth_kid, "ADVISOR_SIM_AUTH_KID");
  flags.Int(FLAGS_installs, "ADVISOR_SIM_INSTALLS", 1, 100'000'000);
  advisor::config::RegisterClientTlsFlags(flags);
  flags.Bool(FLAGS_json, "ADVISOR_SIM_JSON");
  flags.String(FLAGS_log_level, "ADVISOR_SIM_LOG_LEVEL");
  const advisor::config::ParsedCommand cli =
      advisor::config::ParseCommand(flags, argc, argv, "advisor-sim");
  if (cli.exit_code) return *cli.exit_code;
  const std::string target = absl::GetFlag(FLAGS_target);
  const std::string scenario_file = absl::GetFlag(FLAGS_scenario);
  const int64_t sessions = absl::GetFlag(FLAGS_sessions);
  const int64_t seed = absl::GetFlag(FLAGS_seed);
  const int64_t concurrency = absl::GetFlag(FLAGS_concurrency);
  const double rate = absl::GetFlag(FLAGS_rate);
  const std::string keys_file = absl::GetFlag(FLAGS_auth_keys_file);
  const std::string kid = absl::GetFlag(FLAGS_auth_kid);
  const int64_t installs = absl::GetFlag(FLAGS_installs);
  if (scenario_file.empty()) {
    std::cerr << "advisor-sim: --scenario is required\n";
    return 2;
  }
  if (auto status = advisor::telemetry::InitLogging(absl::GetFlag(FLAGS_log_level), "sim");
      !status.ok()) {
    std::cerr << "advisor-sim: --log-level: " << status.message() << "\n";
    return 2;
  }

  auto scenario = advisor::sim::LoadScenario(scenario_file);
  if (!scenario.ok()) {
    spdlog::error("{}", scenario.status().message());
    return 1;
  }
  const int64_t count = sessions > 0 ? sessions : scenario->sessions;
  for (size_t p = 1; p < scenario->phases.size(); ++p) {
    if (scenario->phases[p].at_session >= count) {
      spdlog::warn("phase {} starts at session {}, after the last of the {} sessions run", p,
                   scenario->phases[p].at_session, count);
    }
  }
  const auto drawn =
      advisor::sim::DrawSessions(*scenario, count, static_cast<uint64_t>(seed), installs);

  advisor::sim::RunOptions options;
  options.target = target;
  auto channel_credentials =
      advisor::config::MakeChannelCredentials(advisor::config::ClientTlsFlags());
  if (!channel_credentials.ok()) {
    std::cerr << "advisor-sim: " << channel_credentials.status().message() << "\n";
    return 2;
  }
  options.channel_credentials = *std::move(channel_credentials);
  options.concurrency = static_cast<int>(concurrency);
  options.rate = rate;
  std::unique_ptr<advisor::sim::InstallCredentials> credentials;
  if (!keys_file.empty()) {
    auto keys = advisor::auth::KeySet::FromFile(keys_file);
    if (!keys.ok()) {
      spdlog::error("--auth-keys-file: {}", keys.status().message());
      return 1;
    }
    auto created = advisor::sim::InstallCredentials::Create(*std::move(keys), kid);
    if (!created.ok()) {
      spdlog::error("--auth-keys-file {}: {}", keys_file, created.status().message());
      return 1;
    }
    credentials = *std::move(created);
    options.credentials = [&credentials](int64_t install) {
      return credentials->Jwt(install, absl::Now());
    };
  } else if (!kid.empty()) {
    std::cerr << "advisor-sim: --auth-kid needs --auth-keys-file\n";
    return 2;
  }
  spdlog::info("scenario \"{}\": {} sessions against {}, {} in flight, at most {} sessions/s, {}",
               scenario->name, count, target, concurrency, rate,
               credentials ? absl::StrFormat("%d installs with JWTs signed by key \"%s\"", installs,
                                             credentials->kid())
                           : std::string("anonymous"));
  auto run = Drive(options, *scenario, drawn);
  if (!run.ok()) {
    spdlog::error("{}", run.status().message());
    return 1;
  }
  spdlog::info("{} sessions in {:.1f} s: {:.0f} sessions/s", count,
               absl::ToDoubleSeconds(run->stats.elapsed), run->stats.sessions_per_s);

  const advisor::sim::Evaluation evaluation =
      advisor::sim::Evaluate(*scenario, drawn, run->advisor);
  const advisor::sim::RunInfo info{
      scenario_file, target,    static_cast<uint64_t>(seed), static_cast<int>(concurrency),
      rate,          run->stats};
  if (absl::GetFlag(FLAGS_json)) {
    auto json = advisor::sim::RenderJson(*scenario, info, evaluation);
    if (!json.ok()) {
      spdlog::error("{}", json.status().message());
      return 1;
    }
    std::cout << *json;
  } else {
    std::cout << advisor::sim::RenderText(*scenario, info, evaluation);
  }
  const bool failed_rpcs = run->stats.get_strategy_errors + run->stats.report_errors > 0;
  if (failed_rpcs) spdlog::error("some RPCs failed: {}", run->stats.first_error);
  return failed_rpcs ? 1 : 0;
}
