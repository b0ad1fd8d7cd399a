#include "lib/turn/probe.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lib/turn/credentials.h"
#include "lib/turn/crypto.h"
#include "lib/turn/message.h"
#include "lib/turn/resolver.h"
#include "lib/turn/transport.h"

namespace advisor::turn {
namespace {

// The allocation is deleted at the end of the check; the lifetime only bounds how long one that a
// failed check could not delete occupies the server.
constexpr uint32_t kAllocationLifetimeSeconds = 60;
// RFC 8489 §6.2.1: the initial retransmission timeout, doubled after each retransmission.
constexpr Clock::duration kInitialRto = std::chrono::milliseconds(500);
constexpr size_t kRelayPayloadSize = 16;
// REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.1); the codec has no typed helper for it.
constexpr uint16_t kRequestedAddressFamily = 0x0017;

absl::Duration Since(Clock::time_point start) { return absl::FromChrono(Clock::now() - start); }

std::string ErrorText(const Message& response) {
  absl::StatusOr<ErrorCode> error = response.GetErrorCode();
  if (!error.ok()) return absl::StrCat("error response (", error.status().message(), ")");
  if (error->reason.empty()) return absl::StrCat(error->code);
  return absl::StrCat(error->code, " ", error->reason);
}

int ErrorNumber(const Message& response) {
  absl::StatusOr<ErrorCode> error = response.GetErrorCode();
  return error.ok() ? error->code : 0;
}

// An Allocate error other than a 401 challenge. A 437 (allocation mismatch) is AlreadyExists, which
// the check answers by retrying from another local port.
absl::Status AllocateFailed(const Message& response) {
  const std::string text = absl::StrCat("Allocate: ", ErrorText(response));
  return ErrorNumber(response) == 437 ? absl::AlreadyExistsError(text)
                                      : absl::UnavailableError(text);
}

std::string AttributeList(const std::vector<uint16_t>& types) {
  std::string out;
  for (uint16_t type : types) absl::StrAppend(&out, out.empty() ? "" : ", ", AttributeName(type));
  return out;
}

class Session {
 public:
  Session(const TurnUrl& url, std::string_view username, std::string_view password,
          const ProbeOptions& options)
      : url_(url),
        username_(username),
        password_(password),
        options_(options),
        start_(Clock::now()),
        // Clamped so that an infinite or absurd timeout still gives a deadline the clock can
        // represent.
        deadline_(start_ + absl::ToChronoNanoseconds(std::clamp(
                               options.timeout, absl::ZeroDuration(), absl::Hours(24)))) {}

  ProbeResult Run() {
    absl::Status status = Steps();
    if (!status.ok()) {
      result_.error = std::string(status.message());
      ReleaseQuietly();
    }
    result_.ok = status.ok();
    result_.latency.total = Since(start_);
    return std::move(result_);
  }

 private:
  struct Reply {
    Message message;
    bool retransmitted = false;  // the request went out more than once
  };
  // What a wait ended with: a message from the server, a datagram on the peer socket, or the
  // time it was given ran out.
  struct Event {
    enum class Kind : uint8_t { kServer, kPeer, kTimer } kind = Kind::kTimer;
    std::vector<uint8_t> bytes;    // kServer
    UdpSocket::Datagram datagram;  // kPeer
  };

  absl::Status Steps() {
    if (absl::Status s = Connect(); !s.ok()) return s;
    absl::Status allocated = Allocate();
    if (absl::IsAlreadyExists(allocated)) {
      // RFC 8656 §7.4: the server still holds an allocation for this 5-tuple — a local port the
      // kernel handed out again soon after an earlier check used it. Retry from another one.
      if (absl::Status s = Connect(); !s.ok()) return s;
      allocated = Allocate();
    }
    if (!allocated.ok()) return allocated;
    if (absl::Status s = ChoosePeerAddress(); !s.ok()) return s;
    if (absl::Status s = Permit(); !s.ok()) return s;
    if (absl::Status s = RelayRoundTrip(); !s.ok()) return s;
    return Release();
  }

  std::string TimedOut(absl::string_view what) const {
    return absl::StrCat("timed out after ", absl::FormatDuration(options_.timeout), " ", what);
  }

  // Transport errors carry what was going on; a deadline among them becomes "timed out after …".
  absl::Status Explain(const absl::Status& status, absl::string_view step = {}) const {
    if (absl::IsDeadlineExceeded(status)) {
      return absl::DeadlineExceededError(TimedOut(status.message()));
    }
    if (step.empty()) return status;
    return absl::Status(status.code(), absl::StrCat(step, ": ", status.message()));
  }

  absl::Status Connect() {
    const Clock::time_point started = Clock::now();
    absl::StatusOr<SocketAddress> server = Resolve(url_.host, url_.port, deadline_);
    if (!server.ok()) return Explain(server.status());
    server_ = *server;
    absl::StatusOr<std::unique_ptr<StunConnection>> connection = StunConnection::Open(
        url_.transport, server_, url_.host, options_.verify_tls_peer, deadline_);
    if (!connection.ok()) return Explain(connection.status());
    connection_ = std::move(*connection);

    // The relay peer listens on the address the server already sees this host use, which is
    // right whenever no NAT is between the two.
    SocketAddress local = connection_->local();
    local.port = 0;
    absl::StatusOr<UdpSocket> peer = UdpSocket::Bind(local);
    if (!peer.ok()) return Explain(peer.status(), "relay peer");
    peer_.emplace(std::move(*peer));
    // What the STUN server saw of an earlier peer socket (before a 437 retry) is not this one.
    peer_mapped_.reset();
    // Behind a NAT the server sees another address. A STUN server on the URL's port reports it;
    // asking now lets the answer arrive while the allocation is made. A server without UDP there
    // simply does not answer.
    absl::StatusOr<TransactionId> id = NewTransactionId();
    if (!id.ok()) return id.status();
    binding_id_ = *id;
    absl::StatusOr<std::vector<uint8_t>> binding =
        MessageBuilder(Method::kBinding, MessageClass::kRequest, binding_id_)
            .WithFingerprint()
            .Build();
    if (!binding.ok()) return binding.status();
    binding_request_ = std::move(*binding);
    if (absl::Status s = peer_->SendTo(server_, binding_request_); !s.ok()) {
      return Explain(s, "relay peer");
    }
    result_.latency.connect = Since(started);
    return absl::OkStatus();
  }

  absl::Status Allocate() {
    const Clock::time_point started = Clock::now();
    const auto add = [this](MessageBuilder& b) {
      b.AddRequestedTransport(kProtocolUdp).AddLifetime(kAllocationLifetimeSeconds);
      if (server_.family == SocketAddress::Family::kIpv6) {
        // Without it the relay would be IPv4, which an IPv6 peer socket cannot talk to.
        const std::array<uint8_t, 4> family = {static_cast<uint8_t>(SocketAddress::Family::kIpv6),
                                               0, 0, 0};
        b.AddAttribute(kRequestedAddressFamily, family);
      }
    };
    absl::StatusOr<Reply> reply = Request(Method::kAllocate, add);
    if (!reply.ok()) return reply.status();
    // A server that allows anonymous use answers the first request; otherwise it challenges.
    if (reply->message.message_class == MessageClass::kErrorResponse) {
      if (ErrorNumber(reply->message) != 401) return AllocateFailed(reply->message);
      absl::StatusOr<std::string> realm = reply->message.GetRealm();
      absl::StatusOr<std::string> nonce = reply->message.GetNonce();
      if (!realm.ok() || !nonce.ok()) {
        return absl::UnavailableError("Allocate: 401 challenge without REALM and NONCE");
      }
      nonce_ = std::move(*nonce);
      if (absl::Status s = SetRealm(*realm); !s.ok()) return s;
      reply = Request(Method::kAllocate, add);
      if (!reply.ok()) return reply.status();
      if (reply->message.message_class == MessageClass::kErrorResponse) {
        if (ErrorNumber(reply->message) == 401) {
          return absl::UnauthenticatedError(absl::StrCat(
              "Allocate: ", ErrorText(reply->message),
              " after authenticating (wrong secret or username, or expired credentials?)"));
        }
        return AllocateFailed(reply->message);
      }
    }
    absl::StatusOr<SocketAddress> relayed = reply->message.GetXorAddress(attr::kXorRelayedAddress);
    if (!relayed.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "Allocate: success without a usable relayed address: ", relayed.status().message()));
    }
    result_.relayed = *relayed;
    allocated_ = true;
    result_.latency.allocate = Since(started);
    return absl::OkStatus();
  }

  absl::Status SetRealm(const std::string& realm) {
    absl::StatusOr<std::vector<uint8_t>> key = LongTermKey(username_, realm, password_);
    if (!key.ok()) return key.status();
    realm_ = realm;
    key_ = std::move(*key);
    return absl::OkStatus();
  }

  // The peer's address as the relay will see it: the server-reflexive one when the server told
  // us, else the local one. Over UDP the server surely has STUN on that port, so a lost Binding
  // exchange is worth one more try, bounded by the first retransmission timeout.
  absl::Status ChoosePeerAddress() {
    if (!peer_mapped_ && url_.transport == Transport::kUdp) {
      if (absl::Status s = peer_->SendTo(server_, binding_request_); !s.ok()) {
        return Explain(s, "relay peer");
      }
      const Clock::time_point until = std::min(Clock::now() + kInitialRto, deadline_);
      while (!peer_mapped_) {
        absl::StatusOr<Event> event = WaitEvent(until);
        if (!event.ok()) return Explain(event.status(), "relay peer");
        if (event->kind == Event::Kind::kTimer) break;
        if (event->kind == Event::Kind::kPeer) OnPeerDatagram(event->datagram);
      }
    }
    peer_address_ = peer_mapped_ ? *peer_mapped_ : peer_->local();
    return absl::OkStatus();
  }

  absl::Status Permit() {
    const Clock::time_point started = Clock::now();
    absl::StatusOr<Reply> reply = Request(Method::kCreatePermission, [this](MessageBuilder& b) {
      b.AddXorAddress(attr::kXorPeerAddress, peer_address_);
    });
    if (!reply.ok()) return reply.status();
    if (reply->message.message_class == MessageClass::kErrorResponse) {
      return absl::UnavailableError(absl::StrCat("CreatePermission for ", peer_address_.IpString(),
                                                 ": ", ErrorText(reply->message)));
    }
    result_.latency.permission = Since(started);
    return absl::OkStatus();
  }

  // Send indication to the peer through the relay, the peer's answer back as a Data indication.
  absl::Status RelayRoundTrip() {
    const Clock::time_point started = Clock::now();
    std::array<uint8_t, kRelayPayloadSize> outbound, inbound, opener;
    for (std::span<uint8_t> payload :
         {std::span<uint8_t>(outbound), std::span<uint8_t>(inbound), std::span<uint8_t>(opener)}) {
      if (absl::Status s = RandomBytes(payload); !s.ok()) return s;
    }
    absl::StatusOr<TransactionId> id = NewTransactionId();
    if (!id.ok()) return id.status();
    absl::StatusOr<std::vector<uint8_t>> send =
        MessageBuilder(Method::kSend, MessageClass::kIndication, *id)
            .AddXorAddress(attr::kXorPeerAddress, peer_address_)
            .AddData(outbound)
            .WithFingerprint()
            .Build();
    if (!send.ok()) return send.status();

    const SocketAddress relayed = result_.relayed;
    // A NAT in front of the peer lets the relay's datagram in only after the peer has sent to the
    // relayed address; the server forwards this opener to us (the permission exists) and the
    // Data indication that carries it is ignored below.
    if (absl::Status s = peer_->SendTo(relayed, opener); !s.ok()) return Explain(s, "relay check");
    if (absl::Status s = connection_->Send(*send); !s.ok()) return Explain(s, "relay check");

    // Indications are not retransmitted by STUN, but a lost datagram on either UDP leg must not
    // fail the check, so whichever side has not been heard from yet sends again on the RTO
    // schedule.
    bool peer_heard = false;
    Clock::duration rto = kInitialRto;
    Clock::time_point resend = Clock::now() + rto;
    for (;;) {
      absl::StatusOr<Event> event = WaitEvent(std::min(resend, deadline_));
      if (!event.ok()) return Explain(event.status(), "relay check");
      switch (event->kind) {
        case Event::Kind::kTimer: {
          if (Clock::now() >= deadline_) {
            if (!peer_heard) {
              return absl::DeadlineExceededError(
                  absl::StrCat("relay check: the peer ", peer_address_.ToString(),
                               " received nothing from the relayed address ", relayed.ToString(),
                               " within the deadline"));
            }
            return absl::DeadlineExceededError(
                "relay check: no Data indication within the deadline (the peer got the data "
                "and answered)");
          }
          absl::Status s;
          if (peer_heard) {
            s = peer_->SendTo(relayed, inbound);
          } else if (!connection_->reliable()) {
            s = connection_->Send(*send);
          }
          if (!s.ok()) return Explain(s, "relay check");
          rto *= 2;
          resend = Clock::now() + rto;
          break;
        }
        case Event::Kind::kPeer: {
          const UdpSocket::Datagram& d = event->datagram;
          if (d.from == relayed && std::ranges::equal(d.data, outbound)) {
            peer_heard = true;
            if (absl::Status s = peer_->SendTo(relayed, inbound); !s.ok()) {
              return Explain(s, "relay check");
            }
          } else {
            OnPeerDatagram(d);
          }
          break;
        }
        case Event::Kind::kServer: {
          absl::StatusOr<Message> m = ParseMessage(event->bytes);
          if (!m.ok() || m->method != Method::kData ||
              m->message_class != MessageClass::kIndication) {
            break;
          }
          absl::StatusOr<SocketAddress> from = m->GetXorAddress(attr::kXorPeerAddress);
          absl::StatusOr<std::vector<uint8_t>> data = m->GetData();
          if (from.ok() && *from == peer_address_ && data.ok() &&
              std::ranges::equal(*data, inbound)) {
            result_.latency.relay = Since(started);
            return absl::OkStatus();
          }
          break;
        }
      }
    }
  }

  absl::Status Release() {
    const Clock::time_point started = Clock::now();
    absl::StatusOr<Reply> reply =
        Request(Method::kRefresh, [](MessageBuilder& b) { b.AddLifetime(0); });
    if (!reply.ok()) return reply.status();
    allocated_ = false;
    // RFC 8656 §7.3: when a lifetime-0 Refresh was retransmitted, a 437 (Allocation Mismatch)
    // means an earlier copy already deleted the allocation.
    if (reply->message.message_class == MessageClass::kErrorResponse &&
        !(reply->retransmitted && ErrorNumber(reply->message) == 437)) {
      return absl::UnavailableError(absl::StrCat("Refresh: ", ErrorText(reply->message)));
    }
    result_.latency.refresh = Since(started);
    return absl::OkStatus();
  }

  // After a failure, asks the server once to delete the allocation, without waiting: the check
  // has failed already, and the lifetime bounds the leak if this is lost. Over TCP and TLS
  // closing the connection deletes it anyway.
  void ReleaseQuietly() {
    if (!allocated_ || !connection_ || connection_->reliable()) return;
    absl::StatusOr<TransactionId> id = NewTransactionId();
    if (!id.ok()) return;
    MessageBuilder b(Method::kRefresh, MessageClass::kRequest, *id);
    b.AddLifetime(0);
    absl::StatusOr<std::vector<uint8_t>> request = Finish(b);
    if (request.ok()) connection_->Send(*request).IgnoreError();
  }

  // SOFTWARE, the credentials once the server has challenged, MESSAGE-INTEGRITY and FINGERPRINT.
  absl::StatusOr<std::vector<uint8_t>> Finish(MessageBuilder& b) const {
    if (!options_.software.empty()) b.AddSoftware(options_.software);
    if (!key_.empty())
      b.AddUsername(username_).AddRealm(realm_).AddNonce(nonce_).WithIntegrity(key_);
    return b.WithFingerprint().Build();
  }

  // One request and its response (success or error). A 438 (Stale Nonce) is answered once with
  // the server's new nonce, as RFC 8489 §9.2.5 asks.
  absl::StatusOr<Reply> Request(Method method, const std::function<void(MessageBuilder&)>& add) {
    for (int attempt = 0;; ++attempt) {
      absl::StatusOr<TransactionId> id = NewTransactionId();
      if (!id.ok()) return id.status();
      MessageBuilder b(method, MessageClass::kRequest, *id);
      add(b);
      absl::StatusOr<std::vector<uint8_t>> request = Finish(b);
      if (!request.ok()) return request.status();
      absl::StatusOr<Reply> reply = Transact(method, *id, *request);
      if (!reply.ok()) return reply;
      const Message& m = reply->message;
      if (attempt == 0 && !key_.empty() && m.message_class == MessageClass::kErrorResponse &&
          ErrorNumber(m) == 438) {
        absl::StatusOr<std::string> nonce = m.GetNonce();
        if (nonce.ok()) {
          nonce_ = std::move(*nonce);
          if (absl::StatusOr<std::string> realm = m.GetRealm(); realm.ok() && *realm != realm_) {
            if (absl::Status s = SetRealm(*realm); !s.ok()) return s;
          }
          continue;
        }
      }
      return reply;
    }
  }

  // Sends `request` and waits for the response with its transaction id, retransmitting over UDP.
  // Responses that fail their checks are dropped as if never received (RFC 8489 §6.3), so that
  // a forged or damaged one cannot end the transaction; the timeout then says what was dropped.
  absl::StatusOr<Reply> Transact(Method method, const TransactionId& id,
                                 std::span<const uint8_t> request) {
    const std::string step = MethodName(method);
    if (absl::Status s = connection_->Send(request); !s.ok()) return Explain(s, step);
    Reply reply;
    std::string dropped;
    Clock::duration rto = kInitialRto;
    Clock::time_point resend = connection_->reliable() ? deadline_ : Clock::now() + rto;
    for (;;) {
      absl::StatusOr<Event> event = WaitEvent(std::min(resend, deadline_));
      if (!event.ok()) return Explain(event.status(), step);
      if (event->kind == Event::Kind::kTimer) {
        if (Clock::now() >= deadline_) {
          return absl::DeadlineExceededError(
              absl::StrCat(TimedOut(absl::StrCat("waiting for the ", step, " response")),
                           dropped.empty() ? "" : absl::StrCat(" (dropped ", dropped, ")")));
        }
        if (absl::Status s = connection_->Send(request); !s.ok()) return Explain(s, step);
        reply.retransmitted = true;
        rto *= 2;
        resend = Clock::now() + rto;
        continue;
      }
      if (event->kind == Event::Kind::kPeer) {
        OnPeerDatagram(event->datagram);
        continue;
      }
      absl::StatusOr<Message> m = ParseMessage(event->bytes);
      if (!m.ok() || m->transaction_id != id || m->method != method ||
          (m->message_class != MessageClass::kSuccessResponse &&
           m->message_class != MessageClass::kErrorResponse)) {
        continue;  // not ours: garbage, a stray, or a late answer to an earlier request
      }
      if (absl::Status s = VerifyFingerprint(event->bytes); !s.ok() && !absl::IsNotFound(s)) {
        dropped = "a response with a wrong FINGERPRINT";
        continue;
      }
      const bool success = m->message_class == MessageClass::kSuccessResponse;
      if (!key_.empty()) {
        // Challenges (401, 438) cannot carry integrity; other responses to an authenticated
        // request must, with the same key (RFC 8489 §9.2.4).
        const absl::Status integrity = VerifyIntegrity(event->bytes, key_);
        if (absl::IsNotFound(integrity) && success) {
          dropped = "a success response without MESSAGE-INTEGRITY";
          continue;
        }
        if (!integrity.ok() && !absl::IsNotFound(integrity)) {
          dropped = "a response whose MESSAGE-INTEGRITY did not verify";
          continue;
        }
      }
      if (success && !m->unknown_required.empty()) {
        return absl::UnavailableError(
            absl::StrCat(step, ": the response has comprehension-required attributes ",
                         "this client does not understand: ", AttributeList(m->unknown_required)));
      }
      reply.message = *std::move(m);
      return reply;
    }
  }

  // The peer socket also receives the answer to the Binding request sent from it.
  void OnPeerDatagram(const UdpSocket::Datagram& d) {
    if (peer_mapped_ || d.from != server_) return;
    absl::StatusOr<Message> m = ParseMessage(d.data);
    if (!m.ok() || m->transaction_id != binding_id_ || m->method != Method::kBinding ||
        m->message_class != MessageClass::kSuccessResponse) {
      return;
    }
    absl::StatusOr<SocketAddress> mapped = m->GetXorAddress(attr::kXorMappedAddress);
    if (mapped.ok() && mapped->family == peer_->local().family) peer_mapped_ = *mapped;
  }

  // Waits until the server sends a message, the peer socket receives a datagram, or `until`.
  // Whatever is already buffered comes first: TLS may hold decrypted bytes that poll cannot see.
  // Once `until` has passed it answers with the timer before looking for more, so that a server
  // (or anyone sending to the peer socket) that never stops sending messages other than the one
  // awaited cannot hold a step, or the check, past its time.
  absl::StatusOr<Event> WaitEvent(Clock::time_point until) {
    for (;;) {
      if (Clock::now() >= until) return Event{};
      absl::StatusOr<std::optional<std::vector<uint8_t>>> message = connection_->TryReceive();
      if (!message.ok()) return message.status();
      if (*message) return Event{Event::Kind::kServer, std::move(**message), {}};
      absl::StatusOr<std::optional<UdpSocket::Datagram>> datagram = peer_->TryReceive();
      if (!datagram.ok()) return datagram.status();
      if (*datagram) return Event{Event::Kind::kPeer, {}, std::move(**datagram)};
      std::array<pollfd, 2> fds = {pollfd{connection_->fd(), POLLIN, 0},
                                   pollfd{peer_->fd(), POLLIN, 0}};
      if (poll(fds.data(), fds.size(), PollTimeoutMs(until)) < 0 && errno != EINTR) {
        return absl::InternalError(absl::StrCat("poll: ", ErrnoText(errno)));
      }
    }
  }

  const TurnUrl& url_;
  const std::string username_;
  const std::string password_;
  const ProbeOptions& options_;
  const Clock::time_point start_;
  const Clock::time_point deadline_;

  SocketAddress server_;
  std::unique_ptr<StunConnection> connection_;
  std::optional<UdpSocket> peer_;
  TransactionId binding_id_{};
  std::vector<uint8_t> binding_request_;
  std::optional<SocketAddress> peer_mapped_;
  SocketAddress peer_address_;

  std::string realm_;
  std::string nonce_;
  std::vector<uint8_t> key_;  // empty until the server has challenged
  bool allocated_ = false;
  ProbeResult result_;
};

}  // namespace

ProbeResult Probe(const TurnUrl& url, std::string_view username, std::string_view password,
                  const ProbeOptions& options) {
  return Session(url, username, password, options).Run();
}

}  // namespace advisor::turn
