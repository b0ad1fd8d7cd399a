// A TURN server that never stops streaming must not hold a health check past its timeout: the
// prober skips ChannelData frames and drops responses that are not the awaited one, and before the
// fix a steady stream of either kept it reading past a 1 s timeout (seen here: 6.7 s and 8.2 s, and
// 35 s once; nothing bounded it). The bound checked below is loose, for a loaded machine.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/turn/message.h"
#include "lib/turn/probe.h"

namespace advisor::turn {
namespace {

using ::testing::HasSubstr;

constexpr TransactionId kId = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
constexpr absl::Duration kTimeout = absl::Seconds(1);
// Scheduling on a shared machine, sanitizers; a pinned check overshoots by far more.
constexpr absl::Duration kSlack = absl::Seconds(3);

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
    // Partial writes resume where they stopped, so that the stream stays in frames.
    size_t at = 0;
    while (!stop_) {
      const ssize_t n = send(conn, chunk_.data() + at, chunk_.size() - at, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
      if (n <= 0) continue;
      sent_ += n;
      at = (at + static_cast<size_t>(n)) % chunk_.size();
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

// Runs one check against `server` and expects it to fail by its deadline.
void ExpectEndsByTheDeadline(const StreamingServer& server) {
  absl::StatusOr<TurnUrl> url = ParseTurnUrl(server.url());
  ASSERT_TRUE(url.ok()) << url.status();
  ProbeOptions options;
  options.timeout = kTimeout;
  const absl::Time start = absl::Now();
  const ProbeResult r = Probe(*url, "alice", "secret", options);
  const absl::Duration took = absl::Now() - start;
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr("timed out"));
  EXPECT_LT(took, kTimeout + kSlack);
  EXPECT_GT(server.bytes_sent(), 0);
}

// ChannelData frames are skipped by the stream reader; a flood of them once kept TryReceive from
// returning.
TEST(HostileTurnServerTest, EndlessChannelDataEndsAtTheDeadline) {
  std::vector<uint8_t> frames;
  for (int i = 0; i < 64 * 1024; ++i)
    frames.insert(frames.end(), {0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4});
  StreamingServer server(frames);
  ExpectEndsByTheDeadline(server);
}

// Well-formed STUN messages that answer nothing the prober asked: each is dropped, and the
// Allocate step must still end at the deadline.
TEST(HostileTurnServerTest, EndlessStrayResponsesEndAtTheDeadline) {
  absl::StatusOr<std::vector<uint8_t>> stray =
      MessageBuilder(Method::kAllocate, MessageClass::kSuccessResponse, kId).Build();
  ASSERT_TRUE(stray.ok());
  std::vector<uint8_t> chunk;
  for (int i = 0; i < 16 * 1024; ++i) chunk.insert(chunk.end(), stray->begin(), stray->end());
  StreamingServer server(chunk);
  ExpectEndsByTheDeadline(server);
}

}  // namespace
}  // namespace advisor::turn
