// NAT discovery (lib/client), `advisorctl detect` and `connect-plan` against a real coturn with two
// addresses on loopback (127.0.0.1 and 127.0.0.2, STUN only), which makes it an RFC 5780 server: on
// loopback there is no NAT, so the host must come out OPEN with endpoint-independent behaviour; a
// second server that never answers must not spoil the result; servers that all stay silent mean UDP
// is blocked.
#include <arpa/inet.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "lib/client/clock.h"
#include "lib/client/nat_discovery.h"
#include "lib/client/stun_transport.h"
#include "lib/config/turn_servers.h"
#include "tests/support/advisor_server.h"
#include "tests/support/process.h"

namespace advisor::client {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using strategy::NatType;

const std::string kAdvisorctl = ADVISOR_BINARY_DIR "/services/advisorctl/advisorctl";

// execve does not search PATH.
std::string Turnserver() {
  const char* path = std::getenv("PATH");
  for (const auto& dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir, "/turnserver");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

bool CanBind(int type, const char* ip, int port) {
  const int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip, &addr.sin_addr);
  const bool ok = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// A UDP socket on 127.0.0.1 that is bound (so no ICMP error comes back) but never read: a STUN
// server that is silent. Its port is 0 if the socket could not be bound.
class SilentUdp {
 public:
  SilentUdp() : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  SilentUdp(const SilentUdp&) = delete;
  SilentUdp& operator=(const SilentUdp&) = delete;
  ~SilentUdp() { close(fd_); }
  SocketAddress address() const {
    return SocketAddress::Ipv4({127, 0, 0, 1}, static_cast<uint16_t>(port_));
  }

 private:
  int fd_;
  int port_ = 0;
};

// advisorctl's JSON output, read as any script reads it: an object, or an error.
absl::StatusOr<Struct> JsonObject(const std::string& text) {
  Struct object;
  if (!google::protobuf::util::JsonStringToMessage(text, &object).ok()) {
    return absl::InvalidArgumentError("not a JSON object");
  }
  return object;
}

// `object[key]`; a Value of no kind when there is no such key.
const Value& Member(const Struct& object, const std::string& key) {
  const auto it = object.fields().find(key);
  return it == object.fields().end() ? Value::default_instance() : it->second;
}

// `object[key]` when it is a string, a number or a bool; `otherwise` when it is missing or of
// another type.
std::string String(const Struct& object, const std::string& key,
                   const std::string& otherwise = "") {
  const Value& value = Member(object, key);
  return value.kind_case() == Value::kStringValue ? value.string_value() : otherwise;
}
double Number(const Struct& object, const std::string& key, double otherwise) {
  const Value& value = Member(object, key);
  return value.kind_case() == Value::kNumberValue ? value.number_value() : otherwise;
}
bool Bool(const Struct& object, const std::string& key, bool otherwise) {
  const Value& value = Member(object, key);
  return value.kind_case() == Value::kBoolValue ? value.bool_value() : otherwise;
}

DiscoveryOptions Options(absl::Duration timeout) {
  DiscoveryOptions options;
  options.timeout = timeout;
  return options;
}

// coturn as a STUN-only RFC 5780 server: primary 127.0.0.1:P, alternate 127.0.0.2:P+1.
class Rfc5780Coturn {
 public:
  Rfc5780Coturn() : dir_(advisor::testing::MakeTempDir("client-detect")) {}
  Rfc5780Coturn(const Rfc5780Coturn&) = delete;
  Rfc5780Coturn& operator=(const Rfc5780Coturn&) = delete;
  ~Rfc5780Coturn() {
    if (process_.pid() > 0) process_.Stop(SIGTERM, absl::Seconds(5));
    advisor::testing::RemoveTree(dir_);
  }

  // Starts turnserver and waits (at most 10 s) until both addresses answer, i.e. until discovery
  // sees RFC 5780.
  absl::Status Start() {
    for (int attempt = 0; attempt < 50 && port_ == 0; ++attempt) {
      const int port = advisor::testing::FreePort();
      if (port >= 65535) continue;
      bool free = true;
      for (const char* ip : {"127.0.0.1", "127.0.0.2"}) {
        // coturn listens on UDP and TCP on both ports of both addresses.
        for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
          free = free && CanBind(type, ip, port) && CanBind(type, ip, port + 1);
        }
      }
      if (free) port_ = port;
    }
    if (port_ == 0) return absl::UnavailableError("no free port pair on 127.0.0.1 and 127.0.0.2");
    const std::string turnserver = Turnserver();
    if (turnserver.empty()) return absl::NotFoundError("turnserver not found on PATH (coturn)");
    const std::vector<std::string> argv = {turnserver,
                                           "-n",
                                           "--listening-ip=127.0.0.1",
                                           "--listening-ip=127.0.0.2",
                                           absl::StrCat("--listening-port=", port_),
                                           absl::StrCat("--alt-listening-port=", port_ + 1),
                                           "--stun-only",
                                           "--no-auth",
                                           "--no-cli",
                                           "--no-tls",
                                           "--no-dtls",
                                           absl::StrCat("--pidfile=", dir_, "/turnserver.pid"),
                                           absl::StrCat("--userdb=", dir_, "/turndb"),
                                           "--log-file=stdout",
                                           "--simple-log"};
    if (absl::Status s = process_.Start(argv, dir_ + "/turnserver.log"); !s.ok()) return s;
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    SystemClock clock;
    while (absl::Now() < deadline && process_.Running()) {
      absl::StatusOr<UdpStunTransport> transport =
          UdpStunTransport::Bind(SocketAddress::Ipv4({127, 0, 0, 1}, 0));
      if (!transport.ok()) return transport.status();
      NatDetector detector(clock, Options(absl::Milliseconds(200)));
      const std::vector<SocketAddress> servers = {primary()};
      absl::StatusOr<NatDiscoveryResult> r = detector.Detect(*transport, servers);
      if (r.ok() && r->rfc5780 && r->mapping != Behavior::kUnknown) return absl::OkStatus();
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::DeadlineExceededError(
        absl::StrCat("coturn did not answer on both addresses; log:\n",
                     advisor::testing::ReadFile(dir_ + "/turnserver.log")));
  }

  int port() const { return port_; }
  SocketAddress primary() const {
    return SocketAddress::Ipv4({127, 0, 0, 1}, static_cast<uint16_t>(port_));
  }

 private:
  std::string dir_;
  int port_ = 0;
  advisor::testing::ChildProcess process_;
};

class ClientDetectTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    coturn_ = new Rfc5780Coturn();
    start_ = new absl::Status(coturn_->Start());
  }
  static void TearDownTestSuite() {
    delete coturn_;
    delete start_;
  }
  void SetUp() override { ASSERT_TRUE(start_->ok()) << *start_; }

  static SocketAddress Primary() { return coturn_->primary(); }

  static absl::StatusOr<NatDiscoveryResult> DetectFrom(const SocketAddress& bind,
                                                       std::vector<SocketAddress> servers,
                                                       absl::Duration timeout) {
    absl::StatusOr<UdpStunTransport> transport = UdpStunTransport::Bind(bind);
    if (!transport.ok()) return transport.status();
    SystemClock clock;
    NatDetector detector(clock, Options(timeout));
    return detector.Detect(*transport, servers);
  }

  static inline Rfc5780Coturn* coturn_ = nullptr;
  static inline absl::Status* start_ = nullptr;
};

TEST_F(ClientDetectTest, LoopbackIsOpenWithEndpointIndependentBehaviour) {
  for (const SocketAddress& bind :
       {SocketAddress::Ipv4({0, 0, 0, 0}, 0), SocketAddress::Ipv4({127, 0, 0, 1}, 0)}) {
    SCOPED_TRACE(bind.ToString());
    absl::StatusOr<NatDiscoveryResult> r = DetectFrom(bind, {Primary()}, absl::Seconds(1));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->nat_type, NatType::kOpen);
    EXPECT_TRUE(r->rfc5780);
    EXPECT_EQ(r->mapping, Behavior::kEndpointIndependent);
    EXPECT_EQ(r->filtering, Behavior::kEndpointIndependent);
    ASSERT_TRUE(r->public_address.has_value());
    EXPECT_EQ(r->public_address->IpString(), "127.0.0.1");
    EXPECT_EQ(r->public_address->port, r->local_address.port);
    ASSERT_EQ(r->servers.size(), 1u);
    ASSERT_TRUE(r->servers[0].other_address.has_value());
    EXPECT_EQ(r->servers[0].other_address->ToString(),
              absl::StrCat("127.0.0.2:", coturn_->port() + 1));
    EXPECT_GE(r->confidence, 0.5f);
  }
}

TEST_F(ClientDetectTest, ASilentSecondServerLeavesTheResult) {
  SilentUdp silent;
  const absl::Time start = absl::Now();
  absl::StatusOr<NatDiscoveryResult> r = DetectFrom(
      SocketAddress::Ipv4({127, 0, 0, 1}, 0), {silent.address(), Primary()}, absl::Seconds(1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->nat_type, NatType::kOpen);
  EXPECT_EQ(r->mapping, Behavior::kEndpointIndependent);
  ASSERT_EQ(r->servers.size(), 2u);
  EXPECT_FALSE(r->servers[0].answered);
  EXPECT_TRUE(r->servers[1].answered);
  // The silent server costs the first round its timeout, no more: bounded.
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST_F(ClientDetectTest, AllServersSilentIsBlocked) {
  SilentUdp a, b;
  const absl::Time start = absl::Now();
  absl::StatusOr<NatDiscoveryResult> r = DetectFrom(
      SocketAddress::Ipv4({127, 0, 0, 1}, 0), {a.address(), b.address()}, absl::Milliseconds(300));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->nat_type, NatType::kBlocked);
  EXPECT_FALSE(r->public_address.has_value());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(ClientDetectTest, AdvisorctlDetectPrintsTheJsonTheLabReads) {
  SilentUdp silent;
  std::string out;
  absl::StatusOr<int> code = advisor::testing::Run(
      {kAdvisorctl, "detect", "--stun", absl::StrCat("127.0.0.1:", coturn_->port()), "--stun",
       silent.address().ToString(), "--timeout", "500ms", "--json"},
      &out);
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_EQ(*code, 0) << out;
  absl::StatusOr<Struct> j = JsonObject(out);
  ASSERT_TRUE(j.ok()) << out;
  EXPECT_EQ(String(*j, "nat_type"), "open");
  EXPECT_GE(Number(*j, "confidence", 0.0), 0.5);
  EXPECT_EQ(String(*j, "mapping"), "endpoint_independent");
  EXPECT_EQ(String(*j, "filtering"), "endpoint_independent");
  ASSERT_EQ(Member(*j, "public_address").kind_case(), Value::kStringValue) << out;
  EXPECT_EQ(String(*j, "public_address").rfind("127.0.0.1:", 0), 0u);
  EXPECT_TRUE(Bool(*j, "rfc5780", false));
  const Value& servers = Member(*j, "servers");
  ASSERT_TRUE(servers.kind_case() == Value::kListValue && servers.list_value().values_size() == 2)
      << out;
  EXPECT_FALSE(Bool(servers.list_value().values(1).struct_value(), "answered", true));

  // Nothing answering: still a result, "blocked", and exit code 0.
  code = advisor::testing::Run({kAdvisorctl, "detect", "--stun", silent.address().ToString(),
                                "--timeout", "200ms", "--json"},
                               &out);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << out;
  j = JsonObject(out);
  ASSERT_TRUE(j.ok()) << out;
  EXPECT_EQ(String(*j, "nat_type"), "blocked") << out;

  // A malformed server is a usage error.
  code = advisor::testing::Run({kAdvisorctl, "detect", "--stun", "127.0.0.1:notaport"}, &out);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2) << out;
}

// `advisorctl connect-plan` end to end: detect against coturn, ask an in-process advisor-server
// with a TURN server registered, print the plan; then `report --answer-file` builds the report
// from that plan and the events, and the server accepts and stores it.
class ClientPlanTest : public advisor::testing::AdvisorServerTest {
 protected:
  static void SetUpTestSuite() {
    AdvisorServerTest::SetUpTestSuite();
    coturn_ = new Rfc5780Coturn();
    start_ = new absl::Status(coturn_->Start());
  }
  static void TearDownTestSuite() {
    delete coturn_;
    delete start_;
    AdvisorServerTest::TearDownTestSuite();
  }
  void SetUp() override {
    AdvisorServerTest::SetUp();
    ASSERT_TRUE(start_->ok()) << *start_;
    auto servers = config::ParseTurnServers(R"(
servers:
  - id: lab-1
    urls: ["turn:127.0.0.1:3478?transport=udp"]
    auth: {rest_secret: "a-shared-secret-of-coturn"}
)");
    ASSERT_TRUE(servers.ok()) << servers.status();
    options_.snapshot.turn_servers = *servers;
  }

  // Runs advisorctl against server_ as `subject`; its stdout in *out.
  int Ctl(std::vector<std::string> args, std::string* out, const std::string& subject = "app-1") {
    std::vector<std::string> argv = {kAdvisorctl,  "--target", target(*server_),
                                     "--insecure", "--jwt",    Jwt(subject)};
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<int> code = advisor::testing::Run(argv, out);
    EXPECT_TRUE(code.ok()) << code.status();
    return code.ok() ? *code : -1;
  }

  static inline Rfc5780Coturn* coturn_ = nullptr;
  static inline absl::Status* start_ = nullptr;
};

TEST_F(ClientPlanTest, ConnectPlanDetectsAsksAndPrintsThePlan) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::string out;
  ASSERT_EQ(Ctl({"connect-plan", "--stun", coturn_->primary().ToString(), "--remote", "symmetric",
                 "--timeout", "2s", "--json"},
                &out),
            0)
      << out;
  const absl::StatusOr<Struct> parsed = JsonObject(out);
  ASSERT_TRUE(parsed.ok()) << out;
  const Struct& plan = *parsed;
  EXPECT_EQ(String(Member(plan, "detection").struct_value(), "nat_type"), "open");
  EXPECT_EQ(String(Member(plan, "local").struct_value(), "nat_type"), "open");
  EXPECT_EQ(String(Member(plan, "remote").struct_value(), "nat_type"), "symmetric");
  EXPECT_NE(String(plan, "strategy"), "");
  EXPECT_NE(String(plan, "decision_token"), "");
  EXPECT_EQ(Number(plan, "budget_ms", 0), 30000);
  const Value& ice_config = Member(plan, "ice_config");
  ASSERT_EQ(ice_config.kind_case(), Value::kStructValue) << out;
  EXPECT_EQ(Member(ice_config.struct_value(), "iceServers").kind_case(), Value::kListValue) << out;

  const Value& steps_value = Member(plan, "steps");
  ASSERT_TRUE(steps_value.kind_case() == Value::kListValue &&
              steps_value.list_value().values_size() >= 2)
      << out;
  const auto& steps = steps_value.list_value().values();
  EXPECT_EQ(String(steps[0].struct_value(), "action"), "create_peer_connection");
  EXPECT_EQ(Number(steps[0].struct_value(), "at_ms", -1), 0);
  EXPECT_EQ(String(steps[steps.size() - 1].struct_value(), "action"), "give_up");
  const Value& fallback = Member(plan, "fallback_ice_config");
  const Value& fallback_at_ms = Member(plan, "fallback_at_ms");
  if (fallback.kind_case() == Value::kStructValue) {
    // The fallback is a step at fallback_at_ms, and it carries the TURN server.
    ASSERT_EQ(fallback_at_ms.kind_case(), Value::kNumberValue) << out;
    ASSERT_EQ(steps.size(), 3) << out;
    EXPECT_EQ(String(steps[1].struct_value(), "action"), "apply_fallback");
    EXPECT_EQ(Number(steps[1].struct_value(), "at_ms", -1), fallback_at_ms.number_value());
    std::string fallback_json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(fallback, &fallback_json).ok());
    EXPECT_NE(fallback_json.find("turn:127.0.0.1:3478"), std::string::npos);
  } else {
    EXPECT_EQ(fallback_at_ms.kind_case(), Value::kNullValue) << out;
  }

  // The app connected over the relay after the fallback (or at once under TURN_ONLY), and
  // reports it from the plan.
  const std::string answer_file = dir_ + "/plan.json";
  std::ofstream(answer_file) << out;
  const int fallback_at = fallback_at_ms.kind_case() == Value::kNumberValue
                              ? static_cast<int>(fallback_at_ms.number_value())
                              : 0;
  const std::string events = String(plan, "strategy") == "turn_only" || fallback_at > 0
                                 ? absl::StrCat("connected:relay:udp@", fallback_at + 350)
                                 : "connected:direct@350";
  ASSERT_EQ(Ctl({"report", "--answer-file", answer_file, "--events", events, "--turn-id", "lab-1",
                 "--json"},
                &out),
            0)
      << out;
  const absl::StatusOr<Struct> report = JsonObject(out);
  ASSERT_TRUE(report.ok()) << out;
  EXPECT_TRUE(Bool(*report, "connected", false)) << out;
  const Value& attempts = Member(*report, "attempts");
  ASSERT_TRUE(attempts.kind_case() == Value::kListValue && attempts.list_value().values_size() > 0)
      << out;
  const auto& attempt_list = attempts.list_value().values();
  EXPECT_EQ(String(attempt_list[attempt_list.size() - 1].struct_value(), "turnServerId"), "lab-1")
      << out;
  EXPECT_TRUE(Eventually([&] { return SessionsInDatabase() == 1; })) << out;

  // The text form of a plan told the local type instead of detecting it.
  ASSERT_EQ(Ctl({"connect-plan", "--local", "full_cone", "--remote", "symmetric"}, &out), 0) << out;
  EXPECT_NE(out.find("new RTCPeerConnection(initial config)"), std::string::npos) << out;
  EXPECT_NE(out.find("give up"), std::string::npos) << out;

  // The same answer from another identity is refused: the token is bound to its receiver.
  EXPECT_NE(Ctl({"report", "--answer-file", answer_file, "--events", events}, &out, "app-2"), 0);
}

}  // namespace
}  // namespace advisor::client
