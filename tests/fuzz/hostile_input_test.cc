// Regression tests for what fuzzing and hostile peers found: a STUN message the builder itself
// produced must verify whatever order its attributes were added in, a TURN server that never stops
// streaming cannot hold a health check past its timeout, and each input under tests/fuzz/crashes/
// that once crashed a parser (replayed by the *_replay tests) stays fixed.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/turn/message.h"
#include "lib/turn/probe.h"

namespace advisor::turn {
namespace {

using ::testing::HasSubstr;

constexpr TransactionId kId = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
const std::vector<uint8_t> kKey = {'k', 'e', 'y'};
const std::vector<uint8_t> kSha256(32, 0xab);

TEST(MessageBuilderOrderTest, Sha256AddedBeforeIntegrityStillVerifies) {
  absl::StatusOr<std::vector<uint8_t>> bytes =
      MessageBuilder(Method::kAllocate, MessageClass::kRequest, kId)
          .AddAttribute(attr::kMessageIntegritySha256, kSha256)
          .AddUsername("alice")
          .WithIntegrity(kKey)
          .WithFingerprint()
          .Build();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_TRUE(VerifyIntegrity(*bytes, kKey).ok());
  EXPECT_TRUE(VerifyFingerprint(*bytes).ok());
  absl::StatusOr<Message> m = ParseMessage(*bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  // USERNAME is covered by MESSAGE-INTEGRITY, and MESSAGE-INTEGRITY-SHA256 follows it.
  ASSERT_EQ(m->attributes.size(), 4u);
  EXPECT_EQ(m->attributes[0].type, attr::kUsername);
  EXPECT_EQ(m->attributes[1].type, attr::kMessageIntegrity);
  EXPECT_EQ(m->attributes[2].type, attr::kMessageIntegritySha256);
  EXPECT_EQ(m->attributes[2].value, kSha256);
  EXPECT_EQ(m->attributes[3].type, attr::kFingerprint);
}

TEST(MessageBuilderOrderTest, Sha256WithoutIntegrityComesAfterEveryOtherAttribute) {
  absl::StatusOr<std::vector<uint8_t>> bytes =
      MessageBuilder(Method::kBinding, MessageClass::kRequest, kId)
          .AddAttribute(attr::kMessageIntegritySha256, kSha256)
          .AddSoftware("x")
          .Build();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<Message> m = ParseMessage(*bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  // SOFTWARE after MESSAGE-INTEGRITY-SHA256 would be ignored by the parser.
  ASSERT_EQ(m->attributes.size(), 2u);
  EXPECT_EQ(m->attributes[0].type, attr::kSoftware);
  EXPECT_EQ(m->attributes[1].type, attr::kMessageIntegritySha256);
}

TEST(MessageBuilderOrderTest, SecondSha256IsAnError) {
  absl::StatusOr<std::vector<uint8_t>> bytes =
      MessageBuilder(Method::kBinding, MessageClass::kRequest, kId)
          .AddAttribute(attr::kMessageIntegritySha256, kSha256)
          .AddAttribute(attr::kMessageIntegritySha256, kSha256)
          .Build();
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bytes.status().message(), HasSubstr("MESSAGE-INTEGRITY-SHA256"));
}

// A TCP "TURN server" on 127.0.0.1 that accepts one connection and then writes `chunk` over and
// over until the client goes away or the test ends.
class StreamingServer {
 public:
  explicit StreamingServer(std::vector<uint8_t> chunk) : chunk_(std::move(chunk)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~StreamingServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    close(fd_);
  }

  std::string url() const { return absl::StrCat("turn:127.0.0.1:", port_, "?transport=tcp"); }
  int64_t bytes_sent() const { return sent_; }

 private:
  void Serve() {
    const int conn = accept(fd_, nullptr, nullptr);
    if (conn < 0) return;
    timeval tv{0, 100000};  // so that a full socket buffer does not outlive stop_
    setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    while (!stop_) {
      const ssize_t n = send(conn, chunk_.data(), chunk_.size(), MSG_NOSIGNAL);
      if (n > 0) sent_ += n;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
    }
    close(conn);
  }

  std::vector<uint8_t> chunk_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> sent_{0};
  std::thread thread_;
};

ProbeResult ProbeFor(const StreamingServer& server, absl::Duration timeout) {
  absl::StatusOr<TurnUrl> url = ParseTurnUrl(server.url());
  EXPECT_TRUE(url.ok()) << url.status();
  ProbeOptions options;
  options.timeout = timeout;
  return Probe(*url, "alice", "secret", options);
}

// ChannelData frames are skipped by the stream reader; a flood of them once kept TryReceive from
// returning.
TEST(HostileTurnServerTest, EndlessChannelDataEndsAtTheDeadline) {
  std::vector<uint8_t> frames;
  for (int i = 0; i < 256; ++i) frames.insert(frames.end(), {0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4});
  StreamingServer server(frames);
  const ProbeResult r = ProbeFor(server, absl::Milliseconds(500));
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr("timed out"));
  EXPECT_GT(server.bytes_sent(), 0);
}

// Well-formed STUN messages that answer nothing the prober asked: each is dropped, and the
// Allocate step must still end at the deadline.
TEST(HostileTurnServerTest, EndlessStrayResponsesEndAtTheDeadline) {
  absl::StatusOr<std::vector<uint8_t>> stray =
      MessageBuilder(Method::kAllocate, MessageClass::kSuccessResponse, kId).Build();
  ASSERT_TRUE(stray.ok());
  std::vector<uint8_t> chunk;
  for (int i = 0; i < 64; ++i) chunk.insert(chunk.end(), stray->begin(), stray->end());
  StreamingServer server(chunk);
  const ProbeResult r = ProbeFor(server, absl::Milliseconds(500));
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr("timed out"));
  EXPECT_GT(server.bytes_sent(), 0);
}

}  // namespace
}  // namespace advisor::turn
