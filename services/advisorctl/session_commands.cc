// advisorctl's session commands, what lib/client gives an app, wired to flags: detect (this
// host's NAT type, RFC 5780), connect-plan (detect, ask the server, print the plan an app follows)
// and report --answer-file (the report of a session that followed a saved answer, replayed from
// the events the app saw). Readable text by default, JSON with --json.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "lib/client/clock.h"
#include "lib/client/connect_plan.h"
#include "lib/client/nat_discovery.h"
#include "lib/client/report_builder.h"
#include "lib/client/stun_transport.h"
#include "lib/strategy/types.h"
#include "services/advisorctl/commands.h"
#include "services/advisorctl/rpc.h"

namespace advisor::ctl {
namespace {

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

using ActionKind = advisor::client::ConnectPlan::Action::Kind;

std::string ActionName(ActionKind kind) {
  switch (kind) {
    case ActionKind::kCreatePeerConnection:
      return "create_peer_connection";
    case ActionKind::kApplyFallback:
      return "apply_fallback";
    case ActionKind::kSetTimer:
      return "set_timer";
    case ActionKind::kGiveUp:
      return "give_up";
    case ActionKind::kDone:
      return "done";
  }
  return "unknown";
}

// One thing the app does, `at_ms` after the start.
struct PlanStep {
  int64_t at_ms;
  ActionKind kind;
};

// The plan's steps for a session that never connects: what the app does, and when, until it
// gives up. Timers only move forward, so the walk ends within a few steps.
std::vector<PlanStep> PlanSteps(advisor::client::ConnectPlan plan) {
  const absl::Time t0 = absl::UnixEpoch();
  std::vector<PlanStep> steps;
  std::vector<advisor::client::ConnectPlan::Action> actions = plan.OnStarted(t0);
  absl::Time now = t0;
  for (int round = 0; round < 8 && !actions.empty(); ++round) {
    std::optional<absl::Time> timer;
    for (const auto& action : actions) {
      if (action.kind == ActionKind::kSetTimer) {
        timer = action.at;
        continue;
      }
      steps.push_back({.at_ms = absl::ToInt64Milliseconds(now - t0), .kind = action.kind});
    }
    if (!timer) break;
    now = *timer;
    actions = plan.OnTimer(now);
  }
  return steps;
}

json StepsJson(const std::vector<PlanStep>& steps) {
  json out = json::array();
  for (const PlanStep& step : steps) {
    json item = {{"at_ms", step.at_ms}, {"action", ActionName(step.kind)}};
    if (step.kind == ActionKind::kCreatePeerConnection) item["config"] = "ice_config";
    if (step.kind == ActionKind::kApplyFallback) item["config"] = "fallback_ice_config";
    out.push_back(std::move(item));
  }
  return out;
}

// A NAT report of the request, as connect-plan --json prints it.
json NatReportJson(const v1::NatReport& report) {
  return {{"nat_type", advisor::strategy::NatTypeName(
                           static_cast<advisor::strategy::NatType>(report.nat_type()))},
          {"confidence", Rounded(report.confidence())}};
}

// An answer saved from `get-strategy --json` (the response's proto JSON) or from
// `connect-plan --json` (ConnectPlanCommand's own shape).
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

// The report of the session that followed the answer in --answer-file through --events.
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

}  // namespace

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

int ConnectPlanCommand(const std::shared_ptr<grpc::Channel>& channel, const Options& options,
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
  v1::ConnectivityAdvisor::Stub stub(channel);
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
    out["local"] = NatReportJson(request.local());
    out["remote"] = NatReportJson(request.remote());
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
    out["steps"] = StepsJson(PlanSteps(*plan));
    out["reasons"] = response.reasons();
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (detection) PrintDetection(*detection);
  std::cout << absl::StrFormat("strategy:          %s\n", strategy);
  std::cout << absl::StrFormat("TURN transport:    %s\n", transport);
  std::cout << "plan:\n";
  for (const PlanStep& step : PlanSteps(*plan)) {
    const char* what = step.kind == ActionKind::kCreatePeerConnection
                           ? "new RTCPeerConnection(initial config)"
                       : step.kind == ActionKind::kApplyFallback
                           ? "if not connected: setConfiguration(fallback config), restartIce()"
                           : "if not connected: give up";
    std::cout << absl::StrFormat("  at %6d ms  %s\n", step.at_ms, what);
  }
  PrintIceConfig("initial config:", plan->initial_config());
  if (plan->fallback_config()) PrintIceConfig("fallback config:", *plan->fallback_config());
  std::cout << "decision token:    " << response.decision_token() << "\n";
  return 0;
}

int ReportFromAnswer(const std::shared_ptr<grpc::Channel>& channel, const Options& options,
                     const std::string& jwt) {
  absl::StatusOr<v1::ReportOutcomeRequest> request = PlanReport(options);
  if (!request.ok()) return Fail(request.status().message());
  v1::ConnectivityAdvisor::Stub stub(channel);
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

}  // namespace advisor::ctl
