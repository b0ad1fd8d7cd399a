// The TURN probe against a real coturn on loopback (UDP, TCP, and TLS with a throwaway
// self-signed certificate): full checks with TURN REST API credentials, the failures a prober must
// tell apart (wrong or expired credentials, a stopped server, a silent port, an untrusted
// certificate), recovery after a restart, and that no check outlives its timeout. A scripted
// fake server on loopback covers what coturn cannot be made to do on demand: a stale nonce, lost
// datagrams, and a response whose integrity does not verify.
#include "lib/turn/probe.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/turn/credentials.h"
#include "lib/turn/message.h"
#include "lib/turn/transport.h"
#include "tests/support/coturn.h"

namespace advisor::turn {
namespace {

using ::advisor::testing::Coturn;
using ::testing::AllOf;
using ::testing::HasSubstr;

// A socket of the test's own on 127.0.0.1 that is bound (so no ICMP error comes back) and, for
// TCP, listening (so the kernel completes handshakes), but never read: a server that is silent.
class SilentSocket {
 public:
  explicit SilentSocket(int type) : fd_(socket(AF_INET, type, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), len);
    if (type == SOCK_STREAM) listen(fd_, 8);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  SilentSocket(const SilentSocket&) = delete;
  SilentSocket& operator=(const SilentSocket&) = delete;
  ~SilentSocket() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

TurnUrl Url(const std::string& text) {
  absl::StatusOr<TurnUrl> url = ParseTurnUrl(text);
  EXPECT_TRUE(url.ok()) << url.status();
  return url.ok() ? *url : TurnUrl{};
}

RestCredentials Credentials(const std::string& secret, absl::Time now = absl::Now()) {
  absl::StatusOr<RestCredentials> c = MakeRestCredentials(secret, "prober", now, absl::Hours(1));
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : RestCredentials{};
}

ProbeResult ProbeWith(const std::string& url, const RestCredentials& credentials,
                      absl::Duration timeout = absl::Seconds(5)) {
  ProbeOptions options;
  options.timeout = timeout;
  return Probe(Url(url), credentials.username, credentials.password, options);
}

class TurnProbeTest : public ::testing::Test {
 protected:
  // One coturn for the suite; ctest runs each case in its own process, where this is one start.
  static void SetUpTestSuite() {
    coturn_ = new Coturn();
    *start_status_ = coturn_->Start();
  }
  static void TearDownTestSuite() {
    delete coturn_;
    coturn_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(start_status_->ok()) << *start_status_; }

  static void ExpectHealthy(const std::string& url) {
    const ProbeResult r = ProbeWith(url, Credentials(coturn_->secret()));
    ASSERT_TRUE(r.ok) << url << ": " << r.error << "\ncoturn log:\n" << coturn_->log();
    EXPECT_EQ(r.error, "");
    const ProbeLatency& l = r.latency;
    EXPECT_GT(l.connect, absl::ZeroDuration()) << url;
    EXPECT_GT(l.allocate, absl::ZeroDuration()) << url;
    EXPECT_GT(l.permission, absl::ZeroDuration()) << url;
    EXPECT_GT(l.relay, absl::ZeroDuration()) << url;
    EXPECT_GT(l.refresh, absl::ZeroDuration()) << url;
    EXPECT_GE(l.total, l.connect + l.allocate + l.permission + l.relay + l.refresh) << url;
    EXPECT_LT(l.total, absl::Seconds(2)) << url;
    EXPECT_EQ(r.relayed.IpString(), "127.0.0.1") << url;
    EXPECT_NE(r.relayed.port, 0) << url;
  }

  static Coturn* coturn_;
  static absl::Status* start_status_;
};

Coturn* TurnProbeTest::coturn_ = nullptr;
absl::Status* TurnProbeTest::start_status_ = new absl::Status();

TEST_F(TurnProbeTest, SucceedsOverUdp) { ExpectHealthy(coturn_->udp_url()); }

TEST_F(TurnProbeTest, SucceedsOverTcp) { ExpectHealthy(coturn_->tcp_url()); }

TEST_F(TurnProbeTest, SucceedsOverTls) { ExpectHealthy(coturn_->tls_url()); }

TEST_F(TurnProbeTest, ResolvesHostNames) {
  ExpectHealthy(absl::StrCat("turns:localhost:", coturn_->tls_port(), "?transport=tcp"));
}

TEST_F(TurnProbeTest, WrongSecretFailsWith401) {
  for (const std::string& url : {coturn_->udp_url(), coturn_->tcp_url(), coturn_->tls_url()}) {
    const ProbeResult r = ProbeWith(url, Credentials("not-the-secret"));
    EXPECT_FALSE(r.ok) << url;
    EXPECT_THAT(r.error,
                AllOf(HasSubstr("Allocate"), HasSubstr("401"), HasSubstr("after authenticating")))
        << url;
    EXPECT_LT(r.latency.total, absl::Seconds(1)) << url << ": " << r.error;
  }
}

TEST_F(TurnProbeTest, ExpiredCredentialFailsWith401) {
  // Valid for an hour from two hours ago.
  const RestCredentials expired = Credentials(coturn_->secret(), absl::Now() - absl::Hours(2));
  const ProbeResult r = ProbeWith(coturn_->udp_url(), expired);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, AllOf(HasSubstr("Allocate"), HasSubstr("401")));
}

TEST_F(TurnProbeTest, ConcurrentProbesEachSucceed) {
  // The prober runs checks from a thread pool: each must own its sockets and state.
  const std::vector<std::string> urls = {coturn_->udp_url(), coturn_->tcp_url(),
                                         coturn_->tls_url()};
  std::vector<ProbeResult> results(12);
  std::vector<std::thread> threads;
  const RestCredentials credentials = Credentials(coturn_->secret());
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = ProbeWith(urls[i % urls.size()], credentials); });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_TRUE(results[i].ok) << urls[i % urls.size()] << ": " << results[i].error;
  }
  // Every check had its own allocation.
  for (size_t i = 0; i < results.size(); ++i) {
    for (size_t j = i + 1; j < results.size(); ++j) {
      if (results[i].ok && results[j].ok) {
        EXPECT_NE(results[i].relayed, results[j].relayed);
      }
    }
  }
}

TEST_F(TurnProbeTest, UntrustedCertificateFailsWhenVerifying) {
  ProbeOptions options;
  options.verify_tls_peer = true;
  const RestCredentials c = Credentials(coturn_->secret());
  const ProbeResult r = Probe(Url(coturn_->tls_url()), c.username, c.password, options);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, AllOf(HasSubstr("TLS handshake"), HasSubstr("certificate verify failed"),
                             HasSubstr("signed certificate")));
}

// Its own coturn, since it stops and restarts it.
TEST(TurnProbeRestartTest, StoppedServerFailsQuicklyAndRestartedServerRecovers) {
  Coturn coturn;
  ASSERT_TRUE(coturn.Start().ok());
  const RestCredentials c = Credentials(coturn.secret());
  for (const std::string& url : {coturn.udp_url(), coturn.tcp_url(), coturn.tls_url()}) {
    const ProbeResult r = ProbeWith(url, c);
    EXPECT_TRUE(r.ok) << url << ": " << r.error;
  }

  coturn.Stop();
  const absl::Duration timeout = absl::Seconds(5);
  // Over UDP the kernel reports the ICMP port unreachable; at worst it would be the timeout.
  absl::Time start = absl::Now();
  ProbeResult r = ProbeWith(coturn.udp_url(), c, timeout);
  EXPECT_FALSE(r.ok);
  EXPECT_LE(absl::Now() - start, timeout + absl::Milliseconds(500)) << r.error;
  EXPECT_THAT(r.error, HasSubstr("Connection refused"));
  for (const std::string& url : {coturn.tcp_url(), coturn.tls_url()}) {
    start = absl::Now();
    r = ProbeWith(url, c, timeout);
    EXPECT_FALSE(r.ok) << url;
    EXPECT_THAT(r.error, AllOf(HasSubstr("connect to 127.0.0.1"), HasSubstr("Connection refused")))
        << url;
    EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << url;
  }

  ASSERT_TRUE(coturn.Start().ok());
  for (const std::string& url : {coturn.udp_url(), coturn.tcp_url(), coturn.tls_url()}) {
    r = ProbeWith(url, c);
    EXPECT_TRUE(r.ok) << url << ": " << r.error << "\ncoturn log:\n" << coturn.log();
  }
}

// The bound the issue sets: a UDP port that never answers fails after the 5 s timeout, not
// later. absl::Now around the call measures what a caller sees.
TEST(TurnProbeTimeoutTest, SilentUdpPortTimesOutAfterTheTimeoutAndNoLater) {
  SilentSocket silent(SOCK_DGRAM);
  const RestCredentials c = Credentials("any-secret");
  const absl::Time start = absl::Now();
  const ProbeResult r =
      ProbeWith(absl::StrCat("turn:127.0.0.1:", silent.port(), "?transport=udp"), c);
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "timed out after 5s waiting for the Allocate response");
  EXPECT_GE(elapsed, absl::Seconds(5));
  EXPECT_LE(elapsed, absl::Seconds(6));
  EXPECT_GE(r.latency.total, absl::Seconds(5));
  std::cout << "silent UDP port: failed after " << absl::FormatDuration(elapsed) << "\n";
}

TEST(TurnProbeTimeoutTest, SilentTcpAndTlsServersTimeOutAtTheDeadline) {
  SilentSocket silent(SOCK_STREAM);
  const RestCredentials c = Credentials("any-secret");
  const absl::Duration timeout = absl::Seconds(1);
  absl::Time start = absl::Now();
  ProbeResult r =
      ProbeWith(absl::StrCat("turn:127.0.0.1:", silent.port(), "?transport=tcp"), c, timeout);
  absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(r.error, "timed out after 1s waiting for the Allocate response");
  EXPECT_GE(elapsed, timeout);
  EXPECT_LE(elapsed, timeout + absl::Milliseconds(300));

  start = absl::Now();
  r = ProbeWith(absl::StrCat("turns:127.0.0.1:", silent.port(), "?transport=tcp"), c, timeout);
  elapsed = absl::Now() - start;
  EXPECT_THAT(r.error, HasSubstr("timed out after 1s in the TLS handshake with 127.0.0.1:"));
  EXPECT_GE(elapsed, timeout);
  EXPECT_LE(elapsed, timeout + absl::Milliseconds(300));
}

TEST(TurnProbeTimeoutTest, NameResolutionIsBoundedByTheDeadlineToo) {
  // .invalid never resolves (RFC 6761); whether the resolver says so at once or is slow, the
  // check ends by its deadline.
  const absl::Duration timeout = absl::Seconds(1);
  const absl::Time start = absl::Now();
  const ProbeResult r = ProbeWith("turn:turn.example.invalid", Credentials("s"), timeout);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr("turn.example.invalid"));
  EXPECT_LE(absl::Now() - start, timeout + absl::Milliseconds(300)) << r.error;
}

// A TURN server over UDP that follows a script, with a relay socket of its own.
class FakeTurnServer {
 public:
  struct Script {
    int drop_allocates = 0;         // ignore the first Allocates, so that the client retransmits
    bool stale_nonce_once = false;  // answer the first authenticated Allocate with 438
    bool wrong_integrity = false;   // sign success responses with a wrong key
    int mismatch_allocates = 0;     // answer the first authenticated Allocates with 437
  };

  FakeTurnServer(Script script, std::string username, std::string password)
      : script_(script), username_(std::move(username)), password_(std::move(password)) {
    const SocketAddress loopback = *SocketAddress::Parse("127.0.0.1", 0);
    server_.emplace(*UdpSocket::Bind(loopback));
    relay_.emplace(*UdpSocket::Bind(loopback));
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeTurnServer() {
    stop_ = true;
    thread_.join();
  }

  std::string url() const {
    return absl::StrCat("turn:127.0.0.1:", server_->local().port, "?transport=udp");
  }
  int allocate_requests() const { return allocate_requests_; }
  // The client ports that Allocates came from, in order, without repeats.
  std::vector<uint16_t> allocate_ports() const {
    std::lock_guard lock(mu_);
    return allocate_ports_;
  }

 private:
  static constexpr char kRealm[] = "fake.test";

  void Loop() {
    while (!stop_) {
      std::array<pollfd, 2> fds = {pollfd{server_->fd(), POLLIN, 0},
                                   pollfd{relay_->fd(), POLLIN, 0}};
      poll(fds.data(), fds.size(), 20);
      for (auto d = server_->TryReceive(); d.ok() && d->has_value(); d = server_->TryReceive()) {
        OnServer(**d);
      }
      for (auto d = relay_->TryReceive(); d.ok() && d->has_value(); d = relay_->TryReceive()) {
        // Relayed to the client as a Data indication when the peer has a permission.
        if (!client_ || permitted_ip_ != (*d)->from.ip) continue;
        SendToClient(MessageBuilder(Method::kData, MessageClass::kIndication, *NewTransactionId())
                         .AddXorAddress(attr::kXorPeerAddress, (*d)->from)
                         .AddData((*d)->data));
      }
    }
  }

  void OnServer(const UdpSocket::Datagram& d) {
    absl::StatusOr<Message> m = ParseMessage(d.data);
    if (!m.ok()) return;
    client_ = d.from;
    const std::vector<uint8_t> key = *LongTermKey(username_, kRealm, password_);
    if (m->message_class == MessageClass::kIndication && m->method == Method::kSend) {
      relay_->SendTo(*m->GetXorAddress(attr::kXorPeerAddress), *m->GetData()).IgnoreError();
      return;
    }
    if (m->message_class != MessageClass::kRequest) return;
    if (m->method == Method::kAllocate && script_.drop_allocates > 0) {
      --script_.drop_allocates;
      return;
    }
    MessageBuilder ok(m->method, MessageClass::kSuccessResponse, m->transaction_id);
    if (m->method == Method::kBinding) {
      SendToClient(ok.AddXorAddress(attr::kXorMappedAddress, d.from));
      return;
    }
    if (m->method == Method::kAllocate) {
      ++allocate_requests_;
      std::lock_guard lock(mu_);
      if (allocate_ports_.empty() || allocate_ports_.back() != d.from.port) {
        allocate_ports_.push_back(d.from.port);
      }
    }
    if (m->Find(attr::kMessageIntegrity) == nullptr || !VerifyIntegrity(d.data, key).ok()) {
      SendToClient(Error(*m, 401, "Unauthorized").AddRealm(kRealm).AddNonce(nonce_));
      return;
    }
    if (script_.stale_nonce_once) {
      script_.stale_nonce_once = false;
      nonce_ = "second-nonce";
    }
    if (*m->GetNonce() != nonce_) {
      SendToClient(Error(*m, 438, "Stale Nonce").AddRealm(kRealm).AddNonce(nonce_));
      return;
    }
    if (m->method == Method::kAllocate && script_.mismatch_allocates > 0) {
      --script_.mismatch_allocates;
      SendToClient(Error(*m, 437, "Allocation Mismatch"));
      return;
    }
    if (m->method == Method::kAllocate) {
      ok.AddXorAddress(attr::kXorRelayedAddress, relay_->local())
          .AddXorAddress(attr::kXorMappedAddress, d.from)
          .AddLifetime(60);
    } else if (m->method == Method::kCreatePermission) {
      permitted_ip_ = m->GetXorAddress(attr::kXorPeerAddress)->ip;
    }
    const std::vector<uint8_t> wrong = {1, 2, 3};
    SendToClient(ok.WithIntegrity(script_.wrong_integrity ? wrong : key));
  }

  static MessageBuilder Error(const Message& request, int code, std::string_view reason) {
    MessageBuilder b(request.method, MessageClass::kErrorResponse, request.transaction_id);
    b.AddErrorCode(code, reason);
    return b;
  }

  void SendToClient(MessageBuilder& b) {
    server_->SendTo(*client_, *b.WithFingerprint().Build()).IgnoreError();
  }
  void SendToClient(MessageBuilder&& b) { SendToClient(b); }

  Script script_;
  const std::string username_;
  const std::string password_;
  std::string nonce_ = "first-nonce";
  std::optional<UdpSocket> server_;
  std::optional<UdpSocket> relay_;
  std::optional<SocketAddress> client_;
  std::array<uint8_t, 16> permitted_ip_{};
  std::atomic<int> allocate_requests_ = 0;
  mutable std::mutex mu_;
  std::vector<uint16_t> allocate_ports_;  // guarded by mu_
  std::atomic<bool> stop_ = false;
  std::thread thread_;
};

TEST(TurnProbeFakeServerTest, StaleNonceIsRetriedOnceWithTheNewNonce) {
  FakeTurnServer server({.stale_nonce_once = true}, "alice", "secret");
  const ProbeResult r = Probe(Url(server.url()), "alice", "secret", {});
  EXPECT_TRUE(r.ok) << r.error;
  // Challenge, stale nonce, success.
  EXPECT_EQ(server.allocate_requests(), 3);
}

TEST(TurnProbeFakeServerTest, LostUdpRequestsAreRetransmitted) {
  FakeTurnServer server({.drop_allocates = 2}, "alice", "secret");
  const ProbeResult r = Probe(Url(server.url()), "alice", "secret", {});
  EXPECT_TRUE(r.ok) << r.error;
  // Answered by the second retransmission: after 500 ms and another 1000 ms.
  EXPECT_GE(r.latency.allocate, absl::Milliseconds(1500));
  EXPECT_LT(r.latency.allocate, absl::Milliseconds(2500));
}

TEST(TurnProbeFakeServerTest, ResponsesThatFailIntegrityAreDropped) {
  FakeTurnServer server({.wrong_integrity = true}, "alice", "secret");
  ProbeOptions options;
  options.timeout = absl::Seconds(1);
  const ProbeResult r = Probe(Url(server.url()), "alice", "secret", options);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error,
            "timed out after 1s waiting for the Allocate response (dropped a response whose "
            "MESSAGE-INTEGRITY did not verify)");
}

TEST(TurnProbeFakeServerTest, AllocationMismatchIsRetriedOnceFromAnotherPort) {
  FakeTurnServer once({.mismatch_allocates = 1}, "alice", "secret");
  const ProbeResult r = Probe(Url(once.url()), "alice", "secret", {});
  EXPECT_TRUE(r.ok) << r.error;
  ASSERT_EQ(once.allocate_ports().size(), 2u);

  FakeTurnServer always({.mismatch_allocates = 100}, "alice", "secret");
  const ProbeResult failed = Probe(Url(always.url()), "alice", "secret", {});
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.error, "Allocate: 437 Allocation Mismatch");
  EXPECT_EQ(always.allocate_ports().size(), 2u);
}

TEST(TurnProbeFakeServerTest, WrongPasswordIsRefused) {
  FakeTurnServer server({}, "alice", "secret");
  const ProbeResult r = Probe(Url(server.url()), "alice", "not-the-password", {});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error,
            "Allocate: 401 Unauthorized after authenticating (wrong secret or username, or "
            "expired credentials?)");
}

}  // namespace
}  // namespace advisor::turn
