// slow_clients: the attack and the measurement of tests/bench/slow_clients.sh. Against one
// advisor-server it opens, over loopback:
//   - --idle connections that send the HTTP/2 preface and SETTINGS, then nothing (they answer the
//     server's SETTINGS and PINGs, as an idle HTTP/2 stack does, so that only the idle limit can
//     close them);
//   - --stall-connections connections that each open --streams GetStrategy streams, declare a gRPC
//     message of --message-bytes in each and send only --sent-bytes of it, then stall; they carry
//     the same JWT as the honest client, as a client of the app with a valid token would;
// while an honest gRPC client sends GetStrategy at --rate per second over its own connection and
// records the latencies, and the server's resident memory (/proc/PID/status) is sampled.
//
// The frames are written by hand (preface, SETTINGS, HEADERS with HPACK literals without
// indexing, DATA within the server's flow-control windows): a test tool needs only these, and a
// hostile client owes the server nothing more. With --idle 0 --stall-connections 0 it measures the
// honest client alone, the baseline.
//
// Timeline: the honest client warms up for 2 s, the attack connects, holds for --hold, closes
// everything, and the honest client goes on for --after before the last memory sample.
// Output: key=value lines "attack ...", "idle ...", "stall ...", "honest ...", "rss ..." (see
// tests/bench/slow_clients.sh, which prints them side by side). Exit status 0, 1 when the server
// could not be reached, 2 on a usage error.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "lib/config/flags.h"

// Its own --ca-file and --insecure, not the client TLS flags of lib/config/client_tls.h: the attack
// speaks HTTP/2 over OpenSSL directly and needs no client certificate.
ABSL_FLAG(std::string, target, "127.0.0.1:50051", "advisor-server gRPC address (IPv4 loopback)");
ABSL_FLAG(std::string, ca_file, "", "PEM CA of the server's certificate");
ABSL_FLAG(bool, insecure, false, "plaintext HTTP/2");
ABSL_FLAG(std::string, jwt, "", "JWT of the honest client");
ABSL_FLAG(int64_t, idle, 2000, "idle connections");
ABSL_FLAG(int64_t, stall_connections, 40, "stalling connections");
ABSL_FLAG(int64_t, streams, 250, "streams opened on each stalling connection");
ABSL_FLAG(int64_t, message_bytes, 16384, "gRPC message length each stream declares");
ABSL_FLAG(int64_t, sent_bytes, 8192, "bytes of it each stream sends");
ABSL_FLAG(int64_t, server_pid, 0, "advisor-server's pid, for its memory");
ABSL_FLAG(double, rate, 20, "honest GetStrategy requests per second");
ABSL_FLAG(absl::Duration, hold, absl::Seconds(20), "how long the attack is held once connected");
ABSL_FLAG(absl::Duration, after, absl::Seconds(5), "honest traffic after the attack closes");
ABSL_FLAG(absl::Duration, idle_limit, absl::Minutes(5), "the server's idle limit, to compare with");

namespace {

namespace v1 = connectivity::advisor::v1;
using Clock = std::chrono::steady_clock;

constexpr char kSummary[] =
    "The slow/idle-client attack of tests/bench/slow_clients.sh, with an honest GetStrategy client "
    "beside it and the server's memory sampled.";
constexpr char kPath[] = "/connectivity.advisor.v1.ConnectivityAdvisor/GetStrategy";

// The flags, read once they are parsed.
struct Settings {
  std::string target;
  std::string ca_file;
  bool insecure;
  std::string jwt;
  int64_t idle;
  int64_t stall_connections;
  int64_t streams;
  int64_t message_bytes;
  int64_t sent_bytes;
  int64_t server_pid;
  double rate;
  absl::Duration hold;
  absl::Duration after;
};

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// --- memory
// ---------------------------------------------------------------------------------------

// VmRSS and VmHWM of `pid` in MiB; zeros when it cannot be read.
std::pair<double, double> ReadRss(int64_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  double rss = 0, hwm = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    double kb = 0;
    fields >> key >> kb;
    if (key == "VmRSS:") rss = kb / 1024;
    if (key == "VmHWM:") hwm = kb / 1024;
  }
  return {rss, hwm};
}

// --- the honest client
// ----------------------------------------------------------------------------

// Sends GetStrategy at a steady rate (open loop: a slow answer does not delay the next request) and
// keeps the latency of each request started in a measured phase (1: the attack connecting, 2:
// held), so that the handshakes' burst and the held attack can be told apart.
class HonestClient {
 public:
  HonestClient(std::shared_ptr<grpc::Channel> channel, std::string jwt, double rate)
      : stub_(v1::ConnectivityAdvisor::NewStub(std::move(channel))),
        bearer_(jwt.empty() ? "" : absl::StrCat("Bearer ", jwt)),
        interval_(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(1.0 / std::max(rate, 0.1)))) {
    request_.mutable_local()->set_nat_type(v1::NAT_TYPE_FULL_CONE);
    request_.mutable_local()->set_confidence(0.9f);
    request_.mutable_remote()->set_nat_type(v1::NAT_TYPE_SYMMETRIC);
    request_.mutable_remote()->set_confidence(0.8f);
    thread_ = std::thread([this] { Run(); });
  }
  ~HonestClient() { Stop(); }

  void Measure(int phase) { phase_.store(phase); }

  // Stops sending and waits for every request in flight (each has a deadline).
  void Stop() {
    if (!thread_.joinable()) return;
    stop_.store(true);
    thread_.join();
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [this] { return in_flight_ == 0; });
  }

  struct Figures {
    int64_t requests = 0, ok = 0;
    std::map<std::string, int64_t> errors;
    double p50_ms = 0, p99_ms = 0, max_ms = 0;
  };
  // Figures of the requests started in `phase`, or in any measured phase when 0.
  Figures Collect(int phase) {
    std::lock_guard lock(mu_);
    Figures f;
    std::vector<double> sorted;
    for (const Sample& sample : samples_) {
      if (phase != 0 && sample.phase != phase) continue;
      sorted.push_back(sample.ms);
      if (sample.code == 0) {
        ++f.ok;
      } else {
        ++f.errors[absl::StrCat(sample.code)];
      }
    }
    f.requests = static_cast<int64_t>(sorted.size());
    std::sort(sorted.begin(), sorted.end());
    auto at = [&sorted](double q) {
      return sorted.empty()
                 ? 0.0
                 : sorted[std::min(sorted.size() - 1, static_cast<size_t>(q * sorted.size()))];
    };
    f.p50_ms = at(0.50);
    f.p99_ms = at(0.99);
    f.max_ms = sorted.empty() ? 0 : sorted.back();
    return f;
  }

 private:
  struct Call {
    grpc::ClientContext context;
    v1::GetStrategyResponse response;
    Clock::time_point sent;
    int phase = 0;
  };
  struct Sample {
    int phase;
    double ms;
    int code;
  };

  void Run() {
    auto next = Clock::now();
    while (!stop_.load()) {
      std::this_thread::sleep_until(next);
      next += interval_;
      auto call = std::make_shared<Call>();
      call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      if (!bearer_.empty()) call->context.AddMetadata("authorization", bearer_);
      call->phase = phase_.load();
      call->sent = Clock::now();
      {
        std::lock_guard lock(mu_);
        ++in_flight_;
      }
      stub_->async()->GetStrategy(&call->context, &request_, &call->response,
                                  [this, call](grpc::Status status) { Done(*call, status); });
    }
  }

  void Done(const Call& call, const grpc::Status& status) {
    const double ms = 1000 * Since(call.sent);
    std::lock_guard lock(mu_);
    if (call.phase != 0)
      samples_.push_back({call.phase, ms, static_cast<int>(status.error_code())});
    if (--in_flight_ == 0) idle_cv_.notify_all();
  }

  std::unique_ptr<v1::ConnectivityAdvisor::Stub> stub_;
  const std::string bearer_;
  const Clock::duration interval_;
  v1::GetStrategyRequest request_;
  std::atomic<int> phase_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable idle_cv_;
  int64_t in_flight_ = 0;        // guarded by mu_
  std::vector<Sample> samples_;  // guarded by mu_
};

// --- HTTP/2 by hand
// -------------------------------------------------------------------------------

constexpr uint8_t kData = 0x0, kHeaders = 0x1, kRstStream = 0x3, kSettings = 0x4, kPing = 0x6,
                  kGoaway = 0x7, kWindowUpdate = 0x8;
constexpr uint8_t kFlagAck = 0x1, kFlagEndHeaders = 0x4;

void AppendFrame(std::string& out, uint8_t type, uint8_t flags, uint32_t stream,
                 std::string_view payload) {
  const uint32_t n = static_cast<uint32_t>(payload.size());
  const char header[9] = {static_cast<char>(n >> 16),
                          static_cast<char>(n >> 8),
                          static_cast<char>(n),
                          static_cast<char>(type),
                          static_cast<char>(flags),
                          static_cast<char>(stream >> 24 & 0x7f),
                          static_cast<char>(stream >> 16),
                          static_cast<char>(stream >> 8),
                          static_cast<char>(stream)};
  out.append(header, 9);
  out.append(payload);
}

// HPACK integer with an N-bit prefix (RFC 7541 §5.1), the prefix's high bits in `first`.
void AppendHpackInt(std::string& out, uint8_t first, int prefix_bits, size_t value) {
  const size_t max = (1u << prefix_bits) - 1;
  if (value < max) {
    out.push_back(static_cast<char>(first | value));
    return;
  }
  out.push_back(static_cast<char>(first | max));
  for (value -= max; value >= 128; value >>= 7) out.push_back(static_cast<char>(value % 128 + 128));
  out.push_back(static_cast<char>(value));
}

// A literal header field without indexing, with a new name (RFC 7541 §6.2.2), no Huffman coding.
void AppendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.push_back(0);
  AppendHpackInt(out, 0, 7, name.size());
  out.append(name);
  AppendHpackInt(out, 0, 7, value.size());
  out.append(value);
}

uint32_t Read32(const std::string& b, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[at])) << 24 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 2])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 3]));
}

// One attacking connection: a socket (and TLS session), what it still has to send, and what the
// server did to it.
struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  bool stall = false;
  bool open = true;
  std::string out, in;
  double opened_s = 0, goaway_s = -1, closed_s = -1;
  bool streams_started = false;
  // DATA still to send: stream id -> bytes left of its partial message.
  std::map<uint32_t, int64_t> pending;
  int64_t conn_window = 65535, initial_stream_window = 65535;
  std::map<uint32_t, int64_t> stream_window;
  int64_t streams_refused = 0, data_sent = 0;
};

class Attack {
 public:
  Attack(const Settings& settings, SSL_CTX* tls, std::string authority, sockaddr_in address,
         Clock::time_point t0)
      : settings_(settings),
        tls_(tls),
        authority_(std::move(authority)),
        bearer_(settings.jwt.empty() ? "" : absl::StrCat("Bearer ", settings.jwt)),
        address_(address),
        t0_(t0) {}
  ~Attack() { CloseAll(); }

  // Connects the idle connections, then the stalling ones. Returns the connections that failed.
  int64_t Connect() {
    int64_t failures = 0;
    for (int64_t i = 0; i < settings_.idle + settings_.stall_connections; ++i) {
      auto conn = std::make_unique<Conn>();
      conn->stall = i >= settings_.idle;
      if (!Open(*conn)) {
        ++failures;
        continue;
      }
      conn->out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
      AppendFrame(conn->out, kSettings, 0, 0, "");
      conns_.push_back(std::move(conn));
      // Keep reading and writing the ones already open while the rest connect.
      if (i % 50 == 49) Step(0);
    }
    return failures;
  }

  // Serves the connections for `seconds`: reads the server's frames, answers SETTINGS and PING,
  // sends what the flow-control windows allow.
  void Serve(double seconds) {
    const double end = Since(t0_) + seconds;
    while (Since(t0_) < end) Step(50);
  }

  void CloseAll() {
    for (auto& conn : conns_) Close(*conn, false);
  }

  void Print(double idle_limit_s) const {
    int64_t idle = 0, goaway = 0, closed = 0, stall = 0, stall_closed = 0, stall_goaway = 0;
    int64_t refused = 0, opened = 0, data = 0;
    std::vector<double> goaway_after, closed_after, stall_closed_after;
    for (const auto& conn : conns_) {
      if (conn->stall) {
        ++stall;
        stall_goaway += conn->goaway_s >= 0;
        if (conn->closed_s >= 0) {
          ++stall_closed;
          stall_closed_after.push_back(conn->closed_s - conn->opened_s);
        }
        refused += conn->streams_refused;
        opened += conn->streams_started ? settings_.streams : 0;
        data += conn->data_sent;
        continue;
      }
      ++idle;
      if (conn->goaway_s >= 0) {
        ++goaway;
        goaway_after.push_back(conn->goaway_s - conn->opened_s);
      }
      if (conn->closed_s >= 0) {
        ++closed;
        closed_after.push_back(conn->closed_s - conn->opened_s);
      }
    }
    auto stats = [](std::string_view prefix, std::vector<double> v) {
      if (v.empty()) return absl::StrFormat("%1$smin_s=- %1$smedian_s=- %1$smax_s=-", prefix);
      std::sort(v.begin(), v.end());
      return absl::StrFormat("%1$smin_s=%2$.2f %1$smedian_s=%3$.2f %1$smax_s=%4$.2f", prefix,
                             v.front(), v[v.size() / 2], v.back());
    };
    // gRPC closes an idle connection gracefully (GOAWAY, a PING round trip, the final GOAWAY, the
    // close), and its timer starts a little after our handshake ends: 10% of slack covers both.
    const int64_t within = std::count_if(closed_after.begin(), closed_after.end(),
                                         [&](double s) { return s <= 1.1 * idle_limit_s; });
    std::cout << absl::StrFormat("idle connections=%d goaway=%d %s\n", idle, goaway,
                                 stats("goaway_", goaway_after));
    std::cout << absl::StrFormat("idle connections=%d closed=%d closed_within_limit=%d %s\n", idle,
                                 closed, within, stats("closed_", closed_after));
    std::cout << absl::StrFormat(
        "stall connections=%d streams_opened=%d streams_refused=%d data_bytes=%d goaway=%d "
        "closed=%d %s\n",
        stall, opened, refused, data, stall_goaway, stall_closed,
        stats("closed_", stall_closed_after));
  }

 private:
  bool Open(Conn& conn) {
    conn.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (conn.fd < 0) return false;
    const int one = 1;
    setsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(conn.fd, reinterpret_cast<const sockaddr*>(&address_), sizeof address_) != 0) {
      close(conn.fd);
      conn.fd = -1;
      return false;
    }
    if (tls_ != nullptr) {
      conn.ssl = SSL_new(tls_);
      SSL_set_fd(conn.ssl, conn.fd);
      SSL_set_tlsext_host_name(conn.ssl, "localhost");
      if (SSL_connect(conn.ssl) != 1) {
        ERR_print_errors_fp(stderr);
        SSL_free(conn.ssl);
        conn.ssl = nullptr;
        close(conn.fd);
        conn.fd = -1;
        return false;
      }
      SSL_set_mode(conn.ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    fcntl(conn.fd, F_SETFL, fcntl(conn.fd, F_GETFL) | O_NONBLOCK);
    conn.opened_s = Since(t0_);
    return true;
  }

  void Close(Conn& conn, bool by_server) {
    if (!conn.open) return;
    conn.open = false;
    if (by_server) conn.closed_s = Since(t0_);
    if (conn.ssl != nullptr) SSL_free(conn.ssl);
    if (conn.fd >= 0) close(conn.fd);
    conn.ssl = nullptr;
    conn.fd = -1;
  }

  // One poll over every open connection, then reads and writes what is ready.
  void Step(int timeout_ms) {
    std::vector<pollfd> fds;
    std::vector<Conn*> which;
    for (auto& conn : conns_) {
      if (!conn->open) continue;
      Fill(*conn);
      short events = POLLIN;
      if (!conn->out.empty()) events |= POLLOUT;
      fds.push_back({conn->fd, events, 0});
      which.push_back(conn.get());
    }
    if (fds.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
      return;
    }
    if (poll(fds.data(), fds.size(), timeout_ms) <= 0) return;
    for (size_t i = 0; i < fds.size(); ++i) {
      Conn& conn = *which[i];
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) Receive(conn);
      if (conn.open && !conn.out.empty()) Send(conn);
    }
  }

  // Moves the DATA the windows allow into `out`.
  void Fill(Conn& conn) {
    for (auto it = conn.pending.begin(); it != conn.pending.end() && conn.conn_window > 0;) {
      auto window = conn.stream_window.try_emplace(it->first, conn.initial_stream_window).first;
      const int64_t n = std::min({it->second, conn.conn_window, window->second, int64_t{16384}});
      if (n <= 0) {
        ++it;
        continue;
      }
      std::string payload;
      if (it->second == settings_.sent_bytes + 5) {
        // The gRPC message prefix: not compressed, then the length the whole message would have.
        const uint32_t length = static_cast<uint32_t>(settings_.message_bytes);
        payload = {0, static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                   static_cast<char>(length >> 8), static_cast<char>(length)};
      }
      payload.resize(static_cast<size_t>(n), 'x');
      AppendFrame(conn.out, kData, 0, it->first, payload);
      conn.conn_window -= n;
      window->second -= n;
      conn.data_sent += n;
      it->second -= n;
      it = it->second == 0 ? conn.pending.erase(it) : std::next(it);
    }
  }

  void StartStreams(Conn& conn) {
    conn.streams_started = true;
    const std::string scheme = tls_ != nullptr ? "https" : "http";
    for (int64_t s = 0; s < settings_.streams; ++s) {
      const uint32_t id = static_cast<uint32_t>(2 * s + 1);
      std::string block;
      AppendHeader(block, ":method", "POST");
      AppendHeader(block, ":scheme", scheme);
      AppendHeader(block, ":path", kPath);
      AppendHeader(block, ":authority", authority_);
      AppendHeader(block, "content-type", "application/grpc");
      AppendHeader(block, "te", "trailers");
      if (!bearer_.empty()) AppendHeader(block, "authorization", bearer_);
      AppendFrame(conn.out, kHeaders, kFlagEndHeaders, id, block);
      conn.pending[id] = settings_.sent_bytes + 5;
    }
  }

  void Receive(Conn& conn) {
    char buffer[16384];
    while (conn.open) {
      ssize_t n = 0;
      if (conn.ssl != nullptr) {
        n = SSL_read(conn.ssl, buffer, sizeof buffer);
        if (n <= 0) {
          const int error = SSL_get_error(conn.ssl, static_cast<int>(n));
          if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) break;
          Close(conn, true);
          break;
        }
      } else {
        n = read(conn.fd, buffer, sizeof buffer);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (n <= 0) {
          Close(conn, true);
          break;
        }
      }
      conn.in.append(buffer, static_cast<size_t>(n));
    }
    Parse(conn);
  }

  void Parse(Conn& conn) {
    size_t at = 0;
    while (conn.in.size() - at >= 9) {
      const std::string& b = conn.in;
      const size_t length = static_cast<uint8_t>(b[at]) << 16 |
                            static_cast<uint8_t>(b[at + 1]) << 8 | static_cast<uint8_t>(b[at + 2]);
      if (b.size() - at < 9 + length) break;
      const uint8_t type = static_cast<uint8_t>(b[at + 3]), flags = static_cast<uint8_t>(b[at + 4]);
      const uint32_t stream = Read32(b, at + 5) & 0x7fffffff;
      const size_t p = at + 9;
      switch (type) {
        case kSettings:
          if (flags & kFlagAck) break;
          for (size_t s = p; s + 6 <= p + length; s += 6) {
            const uint16_t id = static_cast<uint16_t>(static_cast<uint8_t>(b[s]) << 8 |
                                                      static_cast<uint8_t>(b[s + 1]));
            if (id == 0x4) {  // SETTINGS_INITIAL_WINDOW_SIZE
              const int64_t delta =
                  static_cast<int64_t>(Read32(b, s + 2)) - conn.initial_stream_window;
              conn.initial_stream_window += delta;
              for (auto& [_, window] : conn.stream_window) window += delta;
            }
          }
          AppendFrame(conn.out, kSettings, kFlagAck, 0, "");
          // Streams open after our ACK, so the server's advertised limits apply to them.
          if (conn.stall && !conn.streams_started) StartStreams(conn);
          break;
        case kPing:
          if (!(flags & kFlagAck)) {
            AppendFrame(conn.out, kPing, kFlagAck, 0, std::string_view(b).substr(p, length));
          }
          break;
        case kWindowUpdate:
          if (length == 4) {
            const int64_t increment = Read32(b, p) & 0x7fffffff;
            if (stream == 0) {
              conn.conn_window += increment;
            } else {
              conn.stream_window.try_emplace(stream, conn.initial_stream_window).first->second +=
                  increment;
            }
          }
          break;
        case kRstStream:
          ++conn.streams_refused;
          conn.pending.erase(stream);
          break;
        case kGoaway:
          if (conn.goaway_s < 0) conn.goaway_s = Since(t0_);
          break;
        default:
          break;  // HEADERS/DATA of refused or failed streams: nothing to do
      }
      at += 9 + length;
    }
    conn.in.erase(0, at);
  }

  void Send(Conn& conn) {
    while (!conn.out.empty()) {
      ssize_t n = 0;
      if (conn.ssl != nullptr) {
        n = SSL_write(conn.ssl, conn.out.data(), static_cast<int>(conn.out.size()));
        if (n <= 0) {
          const int error = SSL_get_error(conn.ssl, static_cast<int>(n));
          if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
          Close(conn, true);
          return;
        }
      } else {
        n = write(conn.fd, conn.out.data(), conn.out.size());
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) {
          Close(conn, true);
          return;
        }
      }
      conn.out.erase(0, static_cast<size_t>(n));
    }
  }

  const Settings& settings_;
  SSL_CTX* const tls_;
  const std::string authority_;
  const std::string bearer_;  // the stalled streams carry the JWT: they pass authentication
  const sockaddr_in address_;
  const Clock::time_point t0_;
  std::vector<std::unique_ptr<Conn>> conns_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace

int main(int argc, char** argv) {
  advisor::config::FlagSet flags("slow_clients [flags]", kSummary);
  flags.HostPort(FLAGS_target, "");
  flags.String(FLAGS_ca_file, "ADVISOR_CA_FILE");
  flags.Bool(FLAGS_insecure, "ADVISOR_INSECURE");
  flags.Secret(FLAGS_jwt, "ADVISOR_JWT");
  flags.Int(FLAGS_idle, "", 0, 100000);
  flags.Int(FLAGS_stall_connections, "", 0, 10000);
  flags.Int(FLAGS_streams, "", 1, 100000);
  flags.Int(FLAGS_message_bytes, "", 1, 1 << 24);
  flags.Int(FLAGS_sent_bytes, "", 0, 1 << 24);
  flags.Int(FLAGS_server_pid, "", 0, 1 << 30);
  flags.Double(FLAGS_rate, "", 0.1, 10000);
  flags.Duration(FLAGS_hold, "");
  flags.Duration(FLAGS_after, "");
  flags.Duration(FLAGS_idle_limit, "");
  const advisor::config::ParsedCommand cli =
      advisor::config::ParseCommand(flags, argc, argv, "slow_clients");
  if (cli.exit_code) return *cli.exit_code;
  const Settings settings{.target = absl::GetFlag(FLAGS_target),
                          .ca_file = absl::GetFlag(FLAGS_ca_file),
                          .insecure = absl::GetFlag(FLAGS_insecure),
                          .jwt = absl::GetFlag(FLAGS_jwt),
                          .idle = absl::GetFlag(FLAGS_idle),
                          .stall_connections = absl::GetFlag(FLAGS_stall_connections),
                          .streams = absl::GetFlag(FLAGS_streams),
                          .message_bytes = absl::GetFlag(FLAGS_message_bytes),
                          .sent_bytes = absl::GetFlag(FLAGS_sent_bytes),
                          .server_pid = absl::GetFlag(FLAGS_server_pid),
                          .rate = absl::GetFlag(FLAGS_rate),
                          .hold = absl::GetFlag(FLAGS_hold),
                          .after = absl::GetFlag(FLAGS_after)};
  const absl::Duration idle_limit = absl::GetFlag(FLAGS_idle_limit);
  if (settings.sent_bytes >= settings.message_bytes) {
    std::cerr << "slow_clients: --sent-bytes must be less than --message-bytes\n";
    return 2;
  }
  const size_t colon = settings.target.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(settings.target.substr(colon + 1), &port) ||
      inet_pton(AF_INET, settings.target.substr(0, colon).c_str(), &address.sin_addr) != 1) {
    std::cerr << "slow_clients: --target must be IPV4:PORT\n";
    return 2;
  }
  address.sin_port = htons(static_cast<uint16_t>(port));

  // A write to a connection the server has just closed must fail with EPIPE, not end the process.
  signal(SIGPIPE, SIG_IGN);
  SSL_CTX* tls = nullptr;
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!settings.insecure) {
    grpc::SslCredentialsOptions options;
    if (!settings.ca_file.empty()) options.pem_root_certs = ReadAll(settings.ca_file);
    credentials = grpc::SslCredentials(options);
    tls = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(tls, SSL_VERIFY_NONE, nullptr);  // the attacker does not care who it is
    static const unsigned char kAlpn[] = {2, 'h', '2'};
    SSL_CTX_set_alpn_protos(tls, kAlpn, sizeof kAlpn);
  }

  const auto t0 = Clock::now();
  std::atomic<bool> sampling{true};
  std::atomic<double> peak_rss{0};
  const double rss_before = ReadRss(settings.server_pid).first;
  std::thread sampler([&] {
    while (sampling.load()) {
      const double rss = ReadRss(settings.server_pid).first;
      if (rss > peak_rss.load()) peak_rss.store(rss);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  auto channel = grpc::CreateChannel(settings.target, credentials);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    sampling.store(false);
    sampler.join();
    std::cerr << "slow_clients: cannot connect to " << settings.target << "\n";
    return 1;
  }
  HonestClient honest(channel, settings.jwt, settings.rate);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // warm-up, not measured
  honest.Measure(1);

  Attack attack(settings, tls, settings.target, address, t0);
  const double attack_began = Since(t0);
  const int64_t failures = attack.Connect();
  const double connected = Since(t0);
  honest.Measure(2);
  attack.Serve(absl::ToDoubleSeconds(settings.hold));
  const double rss_held = ReadRss(settings.server_pid).first;
  attack.CloseAll();
  honest.Measure(0);
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(settings.after));
  honest.Stop();
  sampling.store(false);
  sampler.join();
  const auto [rss_after, hwm] = ReadRss(settings.server_pid);

  std::cout << absl::StrFormat(
      "attack connect_s=%.1f hold_s=%.1f connect_failures=%d idle_limit_s=%.1f\n",
      connected - attack_began, absl::ToDoubleSeconds(settings.hold), failures,
      absl::ToDoubleSeconds(idle_limit));
  // Idle times count from each connection's handshake; the idle limit starts there too.
  attack.Print(absl::ToDoubleSeconds(idle_limit));
  // "honest": the whole attack; "honest_held": once every attacking connection was open.
  for (const auto& [name, phase] : {std::pair{"honest", 0}, std::pair{"honest_held", 2}}) {
    const HonestClient::Figures f = honest.Collect(phase);
    std::string errors;
    for (const auto& [code, n] : f.errors) {
      absl::StrAppend(&errors, errors.empty() ? "" : ",", code, ":", n);
    }
    std::cout << absl::StrFormat(
        "%s requests=%d ok=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f errors=%s\n", name, f.requests,
        f.ok, f.p50_ms, f.p99_ms, f.max_ms, errors.empty() ? "none" : errors);
  }
  std::cout << absl::StrFormat(
      "rss before_mb=%.1f peak_mb=%.1f held_mb=%.1f after_mb=%.1f hwm_mb=%.1f\n", rss_before,
      peak_rss.load(), rss_held, rss_after, hwm);
  if (tls != nullptr) SSL_CTX_free(tls);
  return 0;
}
