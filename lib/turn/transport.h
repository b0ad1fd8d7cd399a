// The socket layer of the TURN prober: a client connection to a TURN server over UDP, TCP or TLS
// that hands out whole STUN messages, and a plain UDP socket for the prober's own relay peer.
//
// Everything is non-blocking. Operations that must wait (connect, the TLS handshake, writing to a
// stream) wait with poll() until the deadline the connection was opened with, so that one health
// check never outlives its timeout; receiving never waits; the caller polls fd() itself, which
// lets it wait on the connection and the peer socket together.
#ifndef ADVISOR_LIB_TURN_TRANSPORT_H_
#define ADVISOR_LIB_TURN_TRANSPORT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/turn/address.h"
#include "lib/turn/turn_url.h"

namespace advisor::turn {

// Monotonic, so that a wall-clock step cannot stretch or cut a deadline.
using Clock = std::chrono::steady_clock;

// Milliseconds for poll() until `until`: 0 when it has passed, rounded up otherwise, so that a
// wait does not wake just before its deadline and spin.
int PollTimeoutMs(Clock::time_point until);

// An owned file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  int Release();

 private:
  int fd_ = -1;
};

// A connection to a TURN server that carries STUN messages: datagrams over UDP, frames of the
// stream over TCP and TLS (ChannelData frames are skipped: the prober binds no channels).
class StunConnection {
 public:
  virtual ~StunConnection() = default;

  // Connects to `server` (and completes the TLS handshake) by `deadline`, which also bounds every
  // later Send. For TLS, `tls_host` is the name sent as SNI (unless it is a numeric address, which
  // SNI does not carry) and, with `verify_tls_peer`, the name the certificate must match.
  static absl::StatusOr<std::unique_ptr<StunConnection>> Open(Transport transport,
                                                              const SocketAddress& server,
                                                              const std::string& tls_host,
                                                              bool verify_tls_peer,
                                                              Clock::time_point deadline);

  virtual absl::Status Send(std::span<const uint8_t> message) = 0;
  // The next whole message if one is there without waiting; nullopt when the caller should
  // poll(fd(), POLLIN) first. An error means the connection is unusable; on streams,
  // DeadlineExceeded once the deadline passes while bytes keep coming without a message.
  virtual absl::StatusOr<std::optional<std::vector<uint8_t>>> TryReceive() = 0;

  int fd() const { return fd_.get(); }
  // The local address the server sees the connection come from (before any NAT).
  const SocketAddress& local() const { return local_; }
  // TCP and TLS deliver or fail; only UDP requests need retransmitting.
  virtual bool reliable() const = 0;

 protected:
  StunConnection(UniqueFd fd, SocketAddress local) : fd_(std::move(fd)), local_(local) {}

 private:
  UniqueFd fd_;
  SocketAddress local_;
};

// An unconnected UDP socket: the prober's relay peer.
class UdpSocket {
 public:
  // Binds to `local` (port 0 for any).
  static absl::StatusOr<UdpSocket> Bind(const SocketAddress& local);

  absl::Status SendTo(const SocketAddress& to, std::span<const uint8_t> data);
  struct Datagram {
    SocketAddress from;
    std::vector<uint8_t> data;
  };
  // nullopt when nothing is queued.
  absl::StatusOr<std::optional<Datagram>> TryReceive();

  int fd() const { return fd_.get(); }
  const SocketAddress& local() const { return local_; }

 private:
  UdpSocket(UniqueFd fd, SocketAddress local, size_t max_datagram)
      : fd_(std::move(fd)), local_(local), buffer_(max_datagram) {}

  UniqueFd fd_;
  SocketAddress local_;
  std::vector<uint8_t> buffer_;  // receives into it, so that polling an empty socket is cheap
};

// "Connection refused" for an errno value; thread-safe, unlike strerror.
std::string ErrnoText(int error);

}  // namespace advisor::turn

#endif  // ADVISOR_LIB_TURN_TRANSPORT_H_
