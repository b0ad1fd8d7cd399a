#include "lib/turn/transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <memory>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/turn/message.h"

namespace advisor::turn {
namespace {

// Big enough for any UDP datagram, so that a STUN message is never cut short by the buffer.
constexpr size_t kMaxDatagram = 65536;
// A TLS record's maximum plaintext.
constexpr size_t kReadChunk = 16384;

struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

absl::Status Errno(std::string_view what, int error) {
  return absl::UnavailableError(absl::StrCat(std::string(what), ": ", ErrnoText(error)));
}

// Waits until `fd` is ready for `events` or the deadline passes (false). Interrupted waits resume
// with the time that is left.
absl::StatusOr<bool> WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, PollTimeoutMs(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return Errno("poll", errno);
  }
}

// The OpenSSL reason for a failed TLS operation: the certificate check's verdict when that is
// what failed, else the first error on this thread's queue, else errno or the SSL error class.
std::string TlsReason(SSL* ssl, int ret) {
  const int error = SSL_get_error(ssl, ret);
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE) {
    ERR_clear_error();
    return absl::StrCat("certificate verify failed: ", X509_verify_cert_error_string(verify));
  }
  if (const unsigned long e = ERR_get_error(); e != 0) {
    char text[256];
    ERR_error_string_n(e, text, sizeof(text));
    ERR_clear_error();
    return text;
  }
  if (error == SSL_ERROR_SYSCALL) return errno != 0 ? ErrnoText(errno) : "unexpected EOF";
  return absl::StrCat("SSL error ", error);
}

class UdpConnection final : public StunConnection {
 public:
  UdpConnection(UniqueFd fd, SocketAddress local, std::string name)
      : StunConnection(std::move(fd), local), name_(std::move(name)), buffer_(kMaxDatagram) {}

  absl::Status Send(std::span<const uint8_t> message) override {
    if (send(fd(), message.data(), message.size(), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
      return absl::OkStatus();
    }
    // A full send buffer drops the datagram as the network might: retransmission covers it.
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return absl::OkStatus();
    return Refused(errno);
  }

  absl::StatusOr<std::optional<std::vector<uint8_t>>> TryReceive() override {
    for (;;) {
      const ssize_t n = recv(fd(), buffer_.data(), buffer_.size(), MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
        return Refused(errno);
      }
      // A truncated datagram cannot be a valid message; drop it like any other garbage.
      if (static_cast<size_t>(n) > buffer_.size()) continue;
      return std::vector<uint8_t>(buffer_.begin(), buffer_.begin() + n);
    }
  }

  bool reliable() const override { return false; }

 private:
  // On a connected UDP socket the kernel reports the server's ICMP port unreachable as
  // ECONNREFUSED, which tells a stopped server from a slow one without waiting for the deadline.
  absl::Status Refused(int error) const {
    if (error == ECONNREFUSED) {
      return absl::UnavailableError(absl::StrCat(
          name_, ": Connection refused (ICMP port unreachable: nothing listens there)"));
    }
    return Errno(name_, error);
  }

  std::string name_;
  std::vector<uint8_t> buffer_;
};

// TCP, or TLS over TCP when `ssl` is set. TLS runs over memory BIOs and this class moves the bytes
// between them and the socket, so that every socket operation is non-blocking, bounded by the
// deadline and sent with MSG_NOSIGNAL (OpenSSL's socket BIO writes with write(), which raises
// SIGPIPE on a connection the server has closed).
class StreamConnection final : public StunConnection {
 public:
  StreamConnection(UniqueFd fd, SocketAddress local, std::string name, SslPtr ssl,
                   Clock::time_point deadline)
      : StunConnection(std::move(fd), local),
        name_(std::move(name)),
        ssl_(std::move(ssl)),
        deadline_(deadline),
        chunk_(kReadChunk) {}

  // Ends TLS with close_notify, so that the server sees an orderly close rather than a broken
  // connection. Best effort and without waiting: the check is over.
  ~StreamConnection() override {
    if (!ssl_ || !SSL_is_init_finished(ssl_.get())) return;
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    BIO* out = SSL_get_wbio(ssl_.get());
    const int n = BIO_read(out, chunk_.data(), static_cast<int>(chunk_.size()));
    if (n > 0) send(fd(), chunk_.data(), static_cast<size_t>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
    ERR_clear_error();
  }

  absl::Status Handshake() {
    for (;;) {
      ERR_clear_error();
      const int ret = SSL_do_handshake(ssl_.get());
      // Sends our next flight, or the alert that explains a failure to the server.
      absl::Status flushed = FlushTls();
      if (ret == 1) return flushed;
      if (SSL_get_error(ssl_.get(), ret) != SSL_ERROR_WANT_READ) {
        return absl::UnavailableError(
            absl::StrCat("TLS handshake with ", name_, ": ", TlsReason(ssl_.get(), ret)));
      }
      if (!flushed.ok()) return flushed;
      absl::StatusOr<bool> ready = WaitFor(fd(), POLLIN, deadline_);
      if (!ready.ok()) return ready.status();
      if (!*ready) {
        return absl::DeadlineExceededError(absl::StrCat("in the TLS handshake with ", name_));
      }
      absl::StatusOr<bool> got = ReadSocketIntoTls();
      if (!got.ok()) {
        return absl::UnavailableError(
            absl::StrCat("TLS handshake with ", name_, ": ", got.status().message()));
      }
    }
  }

  absl::Status Send(std::span<const uint8_t> message) override {
    if (!ssl_) return WriteAll(message);
    ERR_clear_error();
    // Memory BIOs take everything, so one call writes the whole message or fails.
    const int ret = SSL_write(ssl_.get(), message.data(), static_cast<int>(message.size()));
    if (ret <= 0) {
      return absl::UnavailableError(
          absl::StrCat("TLS write to ", name_, ": ", TlsReason(ssl_.get(), ret)));
    }
    return FlushTls();
  }

  // Bounded by the connection's deadline as well: a server that streams ChannelData (skipped
  // here) as fast as it is read would otherwise keep this loop from ever returning.
  absl::StatusOr<std::optional<std::vector<uint8_t>>> TryReceive() override {
    for (;;) {
      absl::StatusOr<std::optional<std::vector<uint8_t>>> frame = TakeFrame();
      if (!frame.ok() || frame->has_value()) return frame;
      if (Clock::now() >= deadline_) {
        return absl::DeadlineExceededError(absl::StrCat("reading from ", name_));
      }
      if (!ssl_) {
        absl::StatusOr<size_t> n = ReadSocket();
        if (!n.ok()) return n.status();
        if (*n == 0) return std::nullopt;
        received_.insert(received_.end(), chunk_.begin(),
                         chunk_.begin() + static_cast<std::ptrdiff_t>(*n));
        continue;
      }
      ERR_clear_error();
      const int ret = SSL_read(ssl_.get(), chunk_.data(), static_cast<int>(chunk_.size()));
      if (ret > 0) {
        received_.insert(received_.end(), chunk_.begin(), chunk_.begin() + ret);
        continue;
      }
      const int error = SSL_get_error(ssl_.get(), ret);
      if (error == SSL_ERROR_ZERO_RETURN) {
        return absl::UnavailableError(absl::StrCat(name_, " closed the TLS connection"));
      }
      if (error != SSL_ERROR_WANT_READ) {
        return absl::UnavailableError(
            absl::StrCat("TLS read from ", name_, ": ", TlsReason(ssl_.get(), ret)));
      }
      absl::StatusOr<bool> got = ReadSocketIntoTls();
      if (!got.ok()) return got.status();
      if (!*got) return std::nullopt;
    }
  }

  bool reliable() const override { return true; }

 private:
  // The next STUN message from the bytes received so far, skipping ChannelData frames.
  absl::StatusOr<std::optional<std::vector<uint8_t>>> TakeFrame() {
    for (;;) {
      absl::StatusOr<std::optional<StreamFrame>> next = NextStreamFrame(received_);
      if (!next.ok()) {
        return absl::DataLossError(absl::StrCat(name_, ": ", next.status().message()));
      }
      if (!next->has_value() || received_.size() < (*next)->size) return std::nullopt;
      const auto end = received_.begin() + static_cast<std::ptrdiff_t>((*next)->size);
      std::vector<uint8_t> frame(received_.begin(), end);
      received_.erase(received_.begin(), end);
      if (!(*next)->channel_data) return frame;
    }
  }

  // Reads what the socket has into chunk_: the byte count, 0 when nothing is there yet, an error
  // when the server closed the connection.
  absl::StatusOr<size_t> ReadSocket() {
    for (;;) {
      const ssize_t n = recv(fd(), chunk_.data(), chunk_.size(), MSG_DONTWAIT);
      if (n > 0) return static_cast<size_t>(n);
      if (n == 0) return absl::UnavailableError(absl::StrCat(name_, " closed the connection"));
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return Errno(absl::StrCat("read from ", name_), errno);
    }
  }

  // Feeds what the socket has to OpenSSL; false when nothing was there.
  absl::StatusOr<bool> ReadSocketIntoTls() {
    absl::StatusOr<size_t> n = ReadSocket();
    if (!n.ok()) return n.status();
    if (*n == 0) return false;
    BIO_write(SSL_get_rbio(ssl_.get()), chunk_.data(), static_cast<int>(*n));
    return true;
  }

  // Sends what OpenSSL has written into its output BIO.
  absl::Status FlushTls() {
    BIO* out = SSL_get_wbio(ssl_.get());
    while (BIO_ctrl_pending(out) > 0) {
      const int n = BIO_read(out, chunk_.data(), static_cast<int>(chunk_.size()));
      if (n <= 0) break;
      if (absl::Status s = WriteAll(std::span<const uint8_t>(chunk_.data(), n)); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status WriteAll(std::span<const uint8_t> data) {
    while (!data.empty()) {
      const ssize_t n = send(fd(), data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) {
        data = data.subspan(static_cast<size_t>(n));
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return Errno(absl::StrCat("write to ", name_), errno);
      }
      absl::StatusOr<bool> ready = WaitFor(fd(), POLLOUT, deadline_);
      if (!ready.ok()) return ready.status();
      if (!*ready) return absl::DeadlineExceededError(absl::StrCat("writing to ", name_));
    }
    return absl::OkStatus();
  }

  std::string name_;
  SslPtr ssl_;
  Clock::time_point deadline_;
  std::vector<uint8_t> chunk_;     // scratch for socket reads, TLS reads and BIO reads
  std::vector<uint8_t> received_;  // stream bytes (plaintext for TLS) not yet cut into frames
};

// A TLS client for one connection. Its own context keeps probes independent of each other; the
// cost is small next to the handshake itself.
absl::StatusOr<SslPtr> NewTlsClient(const std::string& host, bool verify_peer) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return absl::InternalError("SSL_CTX_new failed");
  if (verify_peer && SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    return absl::InternalError("cannot load the system's trusted certificates");
  }
  SslPtr ssl(SSL_new(ctx.get()));  // holds its own reference to the context
  if (!ssl) return absl::InternalError("SSL_new failed");
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    return absl::InternalError("BIO_new failed");
  }
  SSL_set_bio(ssl.get(), in, out);
  SSL_set_connect_state(ssl.get());

  const bool is_ip = SocketAddress::Parse(host, 0).ok();
  // RFC 6066 §3: SNI carries host names only, never literal addresses.
  if (!is_ip && SSL_set_tlsext_host_name(ssl.get(), host.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("cannot use \"", host, "\" as TLS SNI"));
  }
  if (verify_peer) {
    SSL_set_verify(ssl.get(), SSL_VERIFY_PEER, nullptr);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    const int set = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                          : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    if (set != 1) return absl::InternalError("cannot set the name to verify the certificate for");
  }
  return ssl;
}

}  // namespace

int PollTimeoutMs(Clock::time_point until) {
  const Clock::duration left = until - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<decltype(ms)>(ms, INT_MAX));
}

std::string ErrnoText(int error) {
  return std::error_code(error, std::system_category()).message();
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.Release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) close(fd_);
}

int UniqueFd::Release() { return std::exchange(fd_, -1); }

absl::StatusOr<std::unique_ptr<StunConnection>> StunConnection::Open(Transport transport,
                                                                     const SocketAddress& server,
                                                                     const std::string& tls_host,
                                                                     bool verify_tls_peer,
                                                                     Clock::time_point deadline) {
  const std::string name =
      absl::StrCat(server.ToString(), " over ", std::string(TransportName(transport)));
  const int family = server.family == SocketAddress::Family::kIpv4 ? AF_INET : AF_INET6;
  const int type = transport == Transport::kUdp ? SOCK_DGRAM : SOCK_STREAM;
  UniqueFd fd(socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Errno("socket", errno);

  sockaddr_storage addr;
  const socklen_t addr_len = server.ToSockaddr(&addr);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0) {
    if (errno != EINPROGRESS) return Errno(absl::StrCat("connect to ", name), errno);
    absl::StatusOr<bool> ready = WaitFor(fd.get(), POLLOUT, deadline);
    if (!ready.ok()) return ready.status();
    if (!*ready) return absl::DeadlineExceededError(absl::StrCat("connecting to ", name));
    int error = 0;
    socklen_t error_len = sizeof(error);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &error_len);
    if (error != 0) return Errno(absl::StrCat("connect to ", name), error);
  }

  sockaddr_storage local_addr;
  socklen_t local_len = sizeof(local_addr);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local_addr), &local_len) != 0) {
    return Errno("getsockname", errno);
  }
  absl::StatusOr<SocketAddress> local =
      SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&local_addr), local_len);
  if (!local.ok()) return local.status();

  if (transport == Transport::kUdp) {
    return std::make_unique<UdpConnection>(std::move(fd), *local, name);
  }
  // Requests are small and each waits for its answer: Nagle would only add delay.
  const int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (transport == Transport::kTcp) {
    return std::make_unique<StreamConnection>(std::move(fd), *local, name, nullptr, deadline);
  }
  absl::StatusOr<SslPtr> ssl = NewTlsClient(tls_host, verify_tls_peer);
  if (!ssl.ok()) return ssl.status();
  auto connection =
      std::make_unique<StreamConnection>(std::move(fd), *local, name, std::move(*ssl), deadline);
  if (absl::Status s = connection->Handshake(); !s.ok()) return s;
  return connection;
}

absl::StatusOr<UdpSocket> UdpSocket::Bind(const SocketAddress& local) {
  const int family = local.family == SocketAddress::Family::kIpv4 ? AF_INET : AF_INET6;
  UniqueFd fd(socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Errno("socket", errno);
  sockaddr_storage addr;
  const socklen_t addr_len = local.ToSockaddr(&addr);
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0) {
    return Errno(absl::StrCat("bind UDP socket to ", local.ToString()), errno);
  }
  socklen_t len = sizeof(addr);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Errno("getsockname", errno);
  }
  absl::StatusOr<SocketAddress> bound =
      SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&addr), len);
  if (!bound.ok()) return bound.status();
  return UdpSocket(std::move(fd), *bound, kMaxDatagram);
}

absl::Status UdpSocket::SendTo(const SocketAddress& to, std::span<const uint8_t> data) {
  sockaddr_storage addr;
  const socklen_t addr_len = to.ToSockaddr(&addr);
  if (sendto(fd_.get(), data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
             reinterpret_cast<const sockaddr*>(&addr), addr_len) >= 0) {
    return absl::OkStatus();
  }
  // As on the client side: a datagram the kernel cannot queue is a lost datagram.
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return absl::OkStatus();
  return Errno(absl::StrCat("send to ", to.ToString()), errno);
}

absl::StatusOr<std::optional<UdpSocket::Datagram>> UdpSocket::TryReceive() {
  for (;;) {
    sockaddr_storage from;
    socklen_t from_len = sizeof(from);
    const ssize_t n = recvfrom(fd_.get(), buffer_.data(), buffer_.size(), MSG_DONTWAIT | MSG_TRUNC,
                               reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      // An ICMP error for an earlier datagram of ours (the Binding request to a server without
      // UDP) says nothing about what is queued now.
      if (errno == EINTR || errno == ECONNREFUSED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
      return Errno("receive on the peer socket", errno);
    }
    if (static_cast<size_t>(n) > buffer_.size()) continue;
    absl::StatusOr<SocketAddress> source =
        SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&from), from_len);
    if (!source.ok()) continue;
    return Datagram{*source, std::vector<uint8_t>(buffer_.begin(), buffer_.begin() + n)};
  }
}

}  // namespace advisor::turn
