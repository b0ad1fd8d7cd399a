// advisorctl's session commands, what lib/client gives an app, wired to flags: detect (this
// host's NAT type, RFC 5780), connect-plan (detect, ask the server, print the plan an app follows)
// and report --answer-file (the report of a session that followed a saved answer, replayed from
// the events the app saw). Readable text by default, JSON with --json.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "connectivity/advisor/formats/advisorctl.pb.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "lib/client/clock.h"
#include "lib/client/connect_plan.h"
#include "lib/client/nat_discovery.h"
#include "lib/client/report_builder.h"
#include "lib/client/stun_transport.h"
#include "lib/config/json.h"
#include "lib/strategy/types.h"
#include "services/advisorctl/commands.h"
#include "services/advisorctl/rpc.h"

namespace advisor::ctl {
namespace {

using advisor::client::Behavior;
using advisor::client::BehaviorName;
using advisor::client::NatDiscoveryResult;
using advisor::turn::SocketAddress;
using google::protobuf::util::JsonParseOptions;
using google::protobuf::util::JsonPrintOptions;
namespace formats = connectivity::advisor::formats;

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

// A protobuf status's message, for an absl::Status.
std::string ErrorText(const google::protobuf::util::Status& status) {
  return std::string(status.message());
}

// The JSON options of advisorctl's documents: the fields' own names, and no
// always_print_primitive_fields (advisorctl.proto says why; its messages print every key anyway).
JsonPrintOptions DocumentOptions() {
  JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  return options;
}

// `message` as the document advisorctl prints: indented, and with the keys of the Struct objects
// inside sorted, the same on every run.
absl::StatusOr<std::string> DocumentJson(const google::protobuf::Message& message) {
  JsonPrintOptions options = DocumentOptions();
  options.add_whitespace = true;
  return advisor::config::StableJson(message, options);
}

// `message` printed with `options`, as a JSON value inside another document.
absl::StatusOr<google::protobuf::Value> JsonValue(const google::protobuf::Message& message,
                                                  const JsonPrintOptions& options) {
  std::string text;
  google::protobuf::Value value;
  google::protobuf::util::Status status =
      google::protobuf::util::MessageToJsonString(message, &text, options);
  if (status.ok()) status = google::protobuf::util::JsonStringToMessage(text, &value);
  if (!status.ok()) return absl::InternalError(ErrorText(status));
  return value;
}

// An address as the documents show it: IP:PORT, or null when there is none.
google::protobuf::Value AddressValue(const std::optional<SocketAddress>& address) {
  google::protobuf::Value value;
  if (address) {
    value.set_string_value(address->ToString());
  } else {
    value.set_null_value(google::protobuf::NULL_VALUE);
  }
  return value;
}

// detect --json, and connect-plan's detection.
formats::NatDetection DetectionMessage(const NatDiscoveryResult& r) {
  formats::NatDetection out;
  out.mutable_nat_type()->set_value(std::string(advisor::strategy::NatTypeName(r.nat_type)));
  out.mutable_confidence()->set_value(Rounded(r.confidence));
  out.mutable_mapping()->set_value(std::string(BehaviorName(r.mapping)));
  out.mutable_filtering()->set_value(std::string(BehaviorName(r.filtering)));
  *out.mutable_public_address() = AddressValue(r.public_address);
  out.mutable_local_address()->set_value(r.local_address.ToString());
  out.mutable_rfc5780()->set_value(r.rfc5780);
  for (const advisor::client::ServerObservation& s : r.servers) {
    formats::ServerObservation& server = *out.add_servers();
    server.mutable_server()->set_value(s.server.ToString());
    server.mutable_answered()->set_value(s.answered);
    *server.mutable_mapped() = AddressValue(s.mapped);
    *server.mutable_other_address() = AddressValue(s.other_address);
    server.mutable_mapping()->set_value(std::string(BehaviorName(s.mapping)));
    server.mutable_filtering()->set_value(std::string(BehaviorName(s.filtering)));
    server.mutable_note()->set_value(s.note);
  }
  return out;
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
// names are those, so the object can go to new RTCPeerConnection() as it is. Fields at their
// defaults are left out, as proto3 JSON does, but iceServers, which RTCConfiguration expects.
absl::StatusOr<google::protobuf::Value> IceConfigValue(const v1::IceConfig& config) {
  absl::StatusOr<google::protobuf::Value> value = JsonValue(config, JsonPrintOptions());
  if (!value.ok()) return value.status();
  auto& fields = *value->mutable_struct_value()->mutable_fields();
  if (!fields.contains("iceServers")) fields["iceServers"].mutable_list_value();
  return value;
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

void AddSteps(const std::vector<PlanStep>& steps, formats::ConnectPlan& out) {
  for (const PlanStep& step : steps) {
    formats::PlanStep& item = *out.add_steps();
    item.mutable_at_ms()->set_value(static_cast<double>(step.at_ms));
    item.mutable_action()->set_value(ActionName(step.kind));
    if (step.kind == ActionKind::kCreatePeerConnection) {
      item.mutable_config()->set_value("ice_config");
    }
    if (step.kind == ActionKind::kApplyFallback) {
      item.mutable_config()->set_value("fallback_ice_config");
    }
  }
}

// A NAT report of the request, as connect-plan --json prints it.
formats::PlanNatReport NatReportMessage(const v1::NatReport& report) {
  formats::PlanNatReport out;
  out.mutable_nat_type()->set_value(std::string(
      advisor::strategy::NatTypeName(static_cast<advisor::strategy::NatType>(report.nat_type()))));
  out.mutable_confidence()->set_value(Rounded(report.confidence()));
  return out;
}

// connect-plan --json: the request, the answer and the plan's steps.
absl::StatusOr<formats::ConnectPlan> PlanMessage(const std::optional<NatDiscoveryResult>& detection,
                                                 const v1::GetStrategyRequest& request,
                                                 const v1::GetStrategyResponse& response,
                                                 const advisor::client::ConnectPlan& plan) {
  formats::ConnectPlan out;
  if (detection) {
    absl::StatusOr<google::protobuf::Value> value =
        JsonValue(DetectionMessage(*detection), DocumentOptions());
    if (!value.ok()) return value.status();
    *out.mutable_detection() = *std::move(value);
  } else {
    out.mutable_detection()->set_null_value(google::protobuf::NULL_VALUE);
  }
  *out.mutable_local() = NatReportMessage(request.local());
  *out.mutable_remote() = NatReportMessage(request.remote());
  out.mutable_strategy()->set_value(Lower(v1::Strategy_Name(response.strategy()), "STRATEGY_"));
  out.mutable_direct_timeout_ms()->set_value(response.direct_timeout_ms());
  if (const std::optional<absl::Duration> fallback_after = plan.fallback_after()) {
    out.mutable_fallback_at_ms()->set_number_value(
        static_cast<double>(absl::ToInt64Milliseconds(*fallback_after)));
  } else {
    out.mutable_fallback_at_ms()->set_null_value(google::protobuf::NULL_VALUE);
  }
  out.mutable_budget_ms()->set_value(static_cast<double>(absl::ToInt64Milliseconds(plan.budget())));
  out.mutable_preferred_turn_transport()->set_value(
      Lower(v1::TurnTransport_Name(response.preferred_turn_transport()), "TURN_TRANSPORT_"));
  out.mutable_expected_success_rate()->set_value(response.expected_success_rate());
  out.mutable_expected_connect_time_ms()->set_value(response.expected_connect_time_ms());
  out.mutable_decision_token()->set_value(response.decision_token());
  absl::StatusOr<google::protobuf::Value> initial = IceConfigValue(plan.initial_config());
  if (!initial.ok()) return initial.status();
  *out.mutable_ice_config() = *std::move(initial);
  if (plan.fallback_config()) {
    absl::StatusOr<google::protobuf::Value> fallback = IceConfigValue(*plan.fallback_config());
    if (!fallback.ok()) return fallback.status();
    *out.mutable_fallback_ice_config() = *std::move(fallback);
  } else {
    out.mutable_fallback_ice_config()->set_null_value(google::protobuf::NULL_VALUE);
  }
  AddSteps(PlanSteps(plan), out);
  google::protobuf::ListValue& reasons = *out.mutable_reasons();
  for (const std::string& reason : response.reasons()) {
    reasons.add_values()->set_string_value(reason);
  }
  return out;
}

// An answer saved from `get-strategy --json` (the response's proto JSON) or from
// `connect-plan --json` (a ConnectPlan document, told apart by its decision_token key).
absl::StatusOr<v1::GetStrategyResponse> LoadAnswer(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the answer file ", path));
  google::protobuf::Struct object;
  if (!google::protobuf::util::JsonStringToMessage(text.str(), &object).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a JSON object"));
  }
  v1::GetStrategyResponse answer;
  JsonParseOptions parse;
  parse.ignore_unknown_fields = true;
  if (!object.fields().contains("decision_token")) {
    if (!google::protobuf::util::JsonStringToMessage(text.str(), &answer, parse).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, " is not a GetStrategy answer"));
    }
    return answer;
  }
  formats::PlanAnswer plan;
  if (const google::protobuf::util::Status status =
          google::protobuf::util::JsonStringToMessage(text.str(), &plan, parse);
      !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a connect-plan answer: ", ErrorText(status)));
  }
  v1::Strategy strategy;
  v1::TurnTransport transport = v1::TURN_TRANSPORT_UNSPECIFIED;
  if (!v1::Strategy_Parse(absl::StrCat("STRATEGY_", absl::AsciiStrToUpper(plan.strategy())),
                          &strategy)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no strategy"));
  }
  // An unknown or missing transport leaves it unspecified.
  v1::TurnTransport_Parse(
      absl::StrCat("TURN_TRANSPORT_", absl::AsciiStrToUpper(plan.preferred_turn_transport())),
      &transport);
  answer.set_strategy(strategy);
  answer.set_preferred_turn_transport(transport);
  answer.set_direct_timeout_ms(plan.direct_timeout_ms());
  answer.set_decision_token(plan.decision_token());
  for (const bool fallback : {false, true}) {
    const google::protobuf::Value& value =
        fallback ? plan.fallback_ice_config() : plan.ice_config();
    if (value.kind_case() != google::protobuf::Value::kStructValue) continue;
    v1::IceConfig* config =
        fallback ? answer.mutable_fallback_ice_config() : answer.mutable_ice_config();
    std::string json;
    if (!google::protobuf::util::MessageToJsonString(value.struct_value(), &json).ok() ||
        !google::protobuf::util::JsonStringToMessage(json, config, parse).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": ", fallback ? "fallback_ice_config" : "ice_config", " is not an IceConfig"));
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
    absl::StatusOr<std::string> json = DocumentJson(DetectionMessage(*result));
    if (!json.ok()) return Fail(absl::StrCat("detect: ", json.status().message()));
    std::cout << *json;
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
  if (options.json) {
    absl::StatusOr<formats::ConnectPlan> message = PlanMessage(detection, request, response, *plan);
    if (!message.ok()) return Fail(absl::StrCat("connect-plan: ", message.status().message()));
    absl::StatusOr<std::string> json = DocumentJson(*message);
    if (!json.ok()) return Fail(absl::StrCat("connect-plan: ", json.status().message()));
    std::cout << *json;
    return 0;
  }
  const std::string strategy = Lower(v1::Strategy_Name(response.strategy()), "STRATEGY_");
  const std::string transport =
      Lower(v1::TurnTransport_Name(response.preferred_turn_transport()), "TURN_TRANSPORT_");
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
