// What the advisorctl commands that call the server share (rpc_commands.cc defines it,
// session_commands.cc uses it too): the call context, how a failed call is reported, and how an
// answer's parts are parsed and printed. Private to services/advisorctl.
#ifndef ADVISOR_SERVICES_ADVISORCTL_RPC_H_
#define ADVISOR_SERVICES_ADVISORCTL_RPC_H_

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "connectivity/advisor/v1/advisor.pb.h"
#include "services/advisorctl/commands.h"

namespace advisor::ctl {

namespace v1 = connectivity::advisor::v1;

// A failed call: its message and code on stderr; the exit status, 1.
int RpcFailed(const grpc::Status& status);

// A call's context with the --timeout deadline; `jwt` empty: a call without credentials (health).
std::unique_ptr<grpc::ClientContext> Context(const Options& options, const std::string& jwt = "");

// Sets `report` to the NAT type named `type` (as get-strategy takes it) at `confidence`; an error
// naming `flag` when the name is unknown.
std::optional<std::string> SetNatReport(absl::string_view flag, const std::string& type,
                                        double confidence, v1::NatReport& report);

// An enum value's name without `prefix`, in lower case: STRATEGY_TURN_FALLBACK, "STRATEGY_" ->
// turn_fallback.
std::string Lower(absl::string_view enum_name, absl::string_view prefix);

// One ICE configuration of an answer, under `name`, with its servers (credentials left out).
void PrintIceConfig(absl::string_view name, const v1::IceConfig& ice);

// `message` as proto3 JSON, every field included, on stdout.
void PrintJson(const google::protobuf::Message& message);

}  // namespace advisor::ctl

#endif  // ADVISOR_SERVICES_ADVISORCTL_RPC_H_
