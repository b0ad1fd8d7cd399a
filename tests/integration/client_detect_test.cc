// NAT discovery (lib/client) and `advisorctl detect` against a real coturn with two addresses on
// loopback (127.0.0.1 and 127.0.0.2, STUN only), which makes it an RFC 5780 server: on loopback
// there is no NAT, so the host must come out OPEN with endpoint-independent behaviour; a second
// server that never answers must not spoil the result; servers that all stay silent mean UDP is
// blocked.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "lib/client/clock.h"
#include "lib/client/nat_discovery.h"
#include "lib/client/stun_transport.h"
#include "tests/support/process.h"

namespace advisor::client {
namespace {

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

bool CanBindUdp(const char* ip, int port) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
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
// server that is silent.
class SilentUdp {
 public:
  SilentUdp() : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), len);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
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

DiscoveryOptions Options(absl::Duration timeout) {
  DiscoveryOptions options;
  options.timeout = timeout;
  return options;
}

// coturn as a STUN-only RFC 5780 server: primary 127.0.0.1:P, alternate 127.0.0.2:P+1.
class ClientDetectTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(advisor::testing::MakeTempDir("client-detect"));
    process_ = new advisor::testing::ChildProcess();
    for (int attempt = 0; attempt < 50 && port_ == 0; ++attempt) {
      const int port = advisor::testing::FreePort();
      if (port >= 65535) continue;
      bool free = true;
      for (const char* ip : {"127.0.0.1", "127.0.0.2"}) {
        free = free && CanBindUdp(ip, port) && CanBindUdp(ip, port + 1);
      }
      if (free) port_ = port;
    }
    ASSERT_NE(port_, 0) << "no free port pair on 127.0.0.1 and 127.0.0.2";
    const std::string turnserver = Turnserver();
    ASSERT_FALSE(turnserver.empty()) << "turnserver not found on PATH (coturn)";
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
                                           absl::StrCat("--pidfile=", *dir_, "/turnserver.pid"),
                                           absl::StrCat("--userdb=", *dir_, "/turndb"),
                                           "--log-file=stdout",
                                           "--simple-log"};
    ASSERT_TRUE(process_->Start(argv, *dir_ + "/turnserver.log").ok());
    // Ready once both addresses answer, i.e. discovery sees RFC 5780.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    SystemClock clock;
    while (absl::Now() < deadline && process_->Running()) {
      absl::StatusOr<UdpStunTransport> transport =
          UdpStunTransport::Bind(SocketAddress::Ipv4({127, 0, 0, 1}, 0));
      ASSERT_TRUE(transport.ok());
      NatDetector detector(clock, Options(absl::Milliseconds(200)));
      const std::vector<SocketAddress> servers = {Primary()};
      absl::StatusOr<NatDiscoveryResult> r = detector.Detect(*transport, servers);
      if (r.ok() && r->rfc5780 && r->mapping != Behavior::kUnknown) {
        ready_ = true;
        return;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  static void TearDownTestSuite() {
    process_->Stop(SIGTERM, absl::Seconds(5));
    delete process_;
    advisor::testing::RemoveTree(*dir_);
    delete dir_;
  }

  void SetUp() override {
    ASSERT_TRUE(ready_) << "coturn did not answer on both addresses; log:\n"
                        << advisor::testing::ReadFile(*dir_ + "/turnserver.log");
  }

  static SocketAddress Primary() {
    return SocketAddress::Ipv4({127, 0, 0, 1}, static_cast<uint16_t>(port_));
  }

  static absl::StatusOr<NatDiscoveryResult> DetectFrom(const SocketAddress& bind,
                                                       std::vector<SocketAddress> servers,
                                                       absl::Duration timeout) {
    absl::StatusOr<UdpStunTransport> transport = UdpStunTransport::Bind(bind);
    if (!transport.ok()) return transport.status();
    SystemClock clock;
    NatDetector detector(clock, Options(timeout));
    return detector.Detect(*transport, servers);
  }

  static inline std::string* dir_ = nullptr;
  static inline advisor::testing::ChildProcess* process_ = nullptr;
  static inline int port_ = 0;
  static inline bool ready_ = false;
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
    EXPECT_EQ(r->servers[0].other_address->ToString(), absl::StrCat("127.0.0.2:", port_ + 1));
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
  absl::StatusOr<int> code =
      advisor::testing::Run({kAdvisorctl, "detect", "--stun", absl::StrCat("127.0.0.1:", port_),
                             "--stun", silent.address().ToString(), "--timeout", "500ms", "--json"},
                            &out);
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_EQ(*code, 0) << out;
  const nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j.value("nat_type", ""), "open");
  EXPECT_GE(j.value("confidence", 0.0), 0.5);
  EXPECT_EQ(j.value("mapping", ""), "endpoint_independent");
  EXPECT_EQ(j.value("filtering", ""), "endpoint_independent");
  ASSERT_TRUE(j.contains("public_address") && j["public_address"].is_string()) << out;
  EXPECT_EQ(j["public_address"].get<std::string>().rfind("127.0.0.1:", 0), 0u);
  EXPECT_TRUE(j.value("rfc5780", false));
  ASSERT_TRUE(j.contains("servers") && j["servers"].size() == 2) << out;
  EXPECT_FALSE(j["servers"][1].value("answered", true));

  // Nothing answering: still a result, "blocked", and exit code 0.
  code = advisor::testing::Run({kAdvisorctl, "detect", "--stun", silent.address().ToString(),
                                "--timeout", "200ms", "--json"},
                               &out);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out, nullptr, false).value("nat_type", ""), "blocked") << out;

  // A malformed server is a usage error.
  code = advisor::testing::Run({kAdvisorctl, "detect", "--stun", "127.0.0.1:notaport"}, &out);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2) << out;
}

}  // namespace
}  // namespace advisor::client
