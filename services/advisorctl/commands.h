// advisorctl's commands as main.cc dispatches to them, and the options they read, parsed from the
// flags by main.cc. Private to services/advisorctl: rpc_commands.cc, session_commands.cc and
// key_commands.cc each define some of these.
#ifndef ADVISOR_SERVICES_ADVISORCTL_COMMANDS_H_
#define ADVISOR_SERVICES_ADVISORCTL_COMMANDS_H_

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace advisor::ctl {

// The flags' values; the defaults are the flags' defaults. The client TLS files are main.cc's
// alone: only opening the channel reads them.
struct Options {
  std::string target = "127.0.0.1:50051";
  absl::Duration timeout = absl::Seconds(5);
  bool json = false;
  std::string local, remote, region, token, attempts;
  double local_confidence = 1.0, remote_confidence = 1.0;
  bool connected = false, failed = false;
  int64_t time_to_connect_ms = 0;
  std::string jwt, jwt_file;
  std::string keys_file, kid, sub, audience = "connectivity-advisor", alg = "HS256";
  std::vector<std::string> scopes;
  absl::Duration ttl = absl::Hours(1);
  std::vector<std::string> stun;
  std::string bind;
  absl::Duration budget = absl::Seconds(30);
  std::string answer_file, events, turn_id;
};

// A usage or input error: says so on stderr and gives the exit status, 2.
inline int Fail(absl::string_view message) {
  std::cerr << "advisorctl: " << message << "\n";
  return 2;
}

// rpc_commands.cc: the JWT for ConnectivityAdvisor calls and the commands that are one call each.
absl::StatusOr<std::string> ResolveJwt(const Options& options);
int GetStrategy(const std::shared_ptr<grpc::Channel>& channel, const Options& options,
                const std::string& jwt);
// report --token.
int Report(const std::shared_ptr<grpc::Channel>& channel, const Options& options,
           const std::string& jwt);
int TurnServers(const std::shared_ptr<grpc::Channel>& channel, const Options& options,
                const std::string& jwt);
int Health(const std::shared_ptr<grpc::Channel>& channel, const Options& options);

// session_commands.cc: NAT detection, the connect plan, and the report of a session that followed
// a saved answer (report --answer-file).
int DetectCommand(const Options& options);
int ConnectPlanCommand(const std::shared_ptr<grpc::Channel>& channel, const Options& options,
                       const std::string& jwt);
int ReportFromAnswer(const std::shared_ptr<grpc::Channel>& channel, const Options& options,
                     const std::string& jwt);

// key_commands.cc: keys and tokens for the server's JWT authentication, made offline.
int GenKeys(const Options& options);
int MintJwt(const Options& options);

}  // namespace advisor::ctl

#endif  // ADVISOR_SERVICES_ADVISORCTL_COMMANDS_H_
