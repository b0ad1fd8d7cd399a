// STUN/TURN messages (RFC 8489, RFC 8656): encoding, parsing of untrusted bytes, MESSAGE-INTEGRITY
// and FINGERPRINT, and the framing of messages on a TCP/TLS stream.
//
// The parser is written for bytes that come straight off the network: every length is checked
// against the buffer before it is used, nothing is read past the end, and each malformed case has
// its own error message. Typed getters check each attribute's own layout on access, so a message
// whose LIFETIME is malformed still yields its ERROR-CODE. Message-level checks that need a key
// or a checksum (VerifyIntegrity, VerifyFingerprint) work on the received bytes, because both are
// defined over the exact wire encoding.
#ifndef ADVISOR_LIB_TURN_MESSAGE_H_
#define ADVISOR_LIB_TURN_MESSAGE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/turn/address.h"

namespace advisor::turn {

inline constexpr uint32_t kMagicCookie = 0x2112A442;
inline constexpr size_t kHeaderSize = 20;
// REQUESTED-TRANSPORT's protocol number for UDP, the only transport RFC 8656 allocates relays for.
inline constexpr uint8_t kProtocolUdp = 17;

// STUN methods (12 bits). Any 12-bit value can arrive from the network, so a parsed message may
// hold a value that is none of these.
enum class Method : uint16_t {
  kBinding = 0x001,
  kAllocate = 0x003,
  kRefresh = 0x004,
  kSend = 0x006,
  kData = 0x007,
  kCreatePermission = 0x008,
  kChannelBind = 0x009,
};
// "Allocate", …; "method 0x0abc" for others.
std::string MethodName(Method method);

// The values are the class bits C1C0 of the message type.
enum class MessageClass : uint8_t {
  kRequest = 0b00,
  kIndication = 0b01,
  kSuccessResponse = 0b10,
  kErrorResponse = 0b11,
};

// The 16-bit message type: method bits interleaved with the class bits (RFC 8489 §5).
uint16_t MessageType(Method method, MessageClass message_class);

// Attribute types this codec understands. 0x0000-0x7FFF are comprehension-required: an agent that
// does not understand one must not act on the message (RFC 8489 §14).
namespace attr {
inline constexpr uint16_t kUsername = 0x0006;
inline constexpr uint16_t kMessageIntegrity = 0x0008;
inline constexpr uint16_t kErrorCode = 0x0009;
inline constexpr uint16_t kUnknownAttributes = 0x000A;
inline constexpr uint16_t kChannelNumber = 0x000C;
inline constexpr uint16_t kLifetime = 0x000D;
inline constexpr uint16_t kXorPeerAddress = 0x0012;
inline constexpr uint16_t kData = 0x0013;
inline constexpr uint16_t kRealm = 0x0014;
inline constexpr uint16_t kNonce = 0x0015;
inline constexpr uint16_t kXorRelayedAddress = 0x0016;
inline constexpr uint16_t kRequestedTransport = 0x0019;
// Not understood (no SHA-256 integrity here), but named because it may follow MESSAGE-INTEGRITY.
inline constexpr uint16_t kMessageIntegritySha256 = 0x001C;
inline constexpr uint16_t kXorMappedAddress = 0x0020;
inline constexpr uint16_t kSoftware = 0x8022;
inline constexpr uint16_t kFingerprint = 0x8028;
}  // namespace attr
// "XOR-RELAYED-ADDRESS", …; "attribute 0x1234" for others.
std::string AttributeName(uint16_t type);

using TransactionId = std::array<uint8_t, 12>;
// 96 bits from OpenSSL's CSPRNG: RFC 8489 §5 wants transaction ids that an off-path attacker
// cannot guess, since they are what ties a response to its request.
absl::StatusOr<TransactionId> NewTransactionId();

struct Attribute {
  uint16_t type = 0;
  std::vector<uint8_t> value;  // without the padding
};

struct ErrorCode {
  int code = 0;  // 300-699: class * 100 + number
  std::string reason;
};

// A parsed message. Getters return NotFound when the attribute is absent and InvalidArgument when
// its value is malformed; with repeated attributes the first one counts (RFC 8489 §14).
struct Message {
  Method method = Method::kBinding;
  MessageClass message_class = MessageClass::kRequest;
  TransactionId transaction_id{};
  // In wire order, MESSAGE-INTEGRITY and FINGERPRINT included. Attributes that follow
  // MESSAGE-INTEGRITY (other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT) are left out: RFC
  // 8489 §14.5 says to ignore them, and they are not covered by the integrity check.
  std::vector<Attribute> attributes;
  // Comprehension-required types among `attributes` that this codec does not understand, each
  // once, in order of appearance: what a server answers 420 (Unknown Attribute) with, and why a
  // client must not trust a response.
  std::vector<uint16_t> unknown_required;

  const Attribute* Find(uint16_t type) const;
  // XOR-MAPPED-ADDRESS, XOR-RELAYED-ADDRESS or XOR-PEER-ADDRESS, un-XORed.
  absl::StatusOr<SocketAddress> GetXorAddress(uint16_t type) const;
  absl::StatusOr<uint32_t> GetLifetime() const;  // seconds
  absl::StatusOr<uint8_t> GetRequestedTransport() const;
  absl::StatusOr<std::string> GetUsername() const;
  absl::StatusOr<std::string> GetRealm() const;
  absl::StatusOr<std::string> GetNonce() const;
  absl::StatusOr<std::string> GetSoftware() const;
  absl::StatusOr<std::vector<uint8_t>> GetData() const;
  absl::StatusOr<ErrorCode> GetErrorCode() const;
  absl::StatusOr<std::vector<uint16_t>> GetUnknownAttributes() const;
  absl::StatusOr<uint16_t> GetChannelNumber() const;
};

// Parses one whole datagram (or one frame cut from a stream by NextStreamFrame). Checks the
// header (first two bits zero, length a multiple of 4 and equal to the bytes after the header,
// magic cookie), every attribute's length against the message, the fixed lengths of
// MESSAGE-INTEGRITY and FINGERPRINT, and that FINGERPRINT is last. Padding bytes are not checked:
// RFC 8489 §14 tells receivers to ignore them (RFC 5769's samples pad with spaces).
absl::StatusOr<Message> ParseMessage(std::span<const uint8_t> datagram);

// Checks MESSAGE-INTEGRITY (HMAC-SHA1 with `key`, see credentials.h for the keys) over the
// datagram as RFC 8489 §14.5 defines it: the bytes before the attribute, with the header's length
// field as if MESSAGE-INTEGRITY were the last attribute. OK when it matches; NotFound without
// MESSAGE-INTEGRITY; Unauthenticated when it does not match; InvalidArgument when the datagram
// does not parse.
absl::Status VerifyIntegrity(std::span<const uint8_t> datagram, std::span<const uint8_t> key);

// Checks FINGERPRINT (CRC-32 of the bytes before it, XOR 0x5354554e). OK when it matches;
// NotFound without FINGERPRINT; InvalidArgument when it does not match or the datagram does not
// parse.
absl::Status VerifyFingerprint(std::span<const uint8_t> datagram);

// Encodes one message. Attributes go out in the order they are added; MESSAGE-INTEGRITY,
// MESSAGE-INTEGRITY-SHA256 (given as raw bytes to AddAttribute) and then FINGERPRINT, when asked
// for, are appended by Build, so that they come last in the order RFC 8489 §14.6 requires: the
// reverse order would leave MESSAGE-INTEGRITY among the attributes a receiver ignores, and the
// builder's own output would not verify. An invalid argument to any Add call is remembered and
// returned by Build, which keeps call sites a single chain.
class MessageBuilder {
 public:
  MessageBuilder(Method method, MessageClass message_class, const TransactionId& transaction_id);

  // `type` is one of the three XOR address attributes.
  MessageBuilder& AddXorAddress(uint16_t type, const SocketAddress& address);
  MessageBuilder& AddLifetime(uint32_t seconds);
  MessageBuilder& AddRequestedTransport(uint8_t protocol);
  MessageBuilder& AddUsername(std::string_view username);
  MessageBuilder& AddRealm(std::string_view realm);
  MessageBuilder& AddNonce(std::string_view nonce);
  MessageBuilder& AddSoftware(std::string_view software);
  MessageBuilder& AddData(std::span<const uint8_t> data);
  MessageBuilder& AddErrorCode(int code, std::string_view reason);
  MessageBuilder& AddUnknownAttributes(std::span<const uint16_t> types);
  MessageBuilder& AddChannelNumber(uint16_t channel);  // 0x4000-0x4FFF (RFC 8656 §12)
  // Any attribute as raw bytes, for types without a typed helper. Not MESSAGE-INTEGRITY or
  // FINGERPRINT: those are computed by Build. MESSAGE-INTEGRITY-SHA256 is kept aside and placed
  // by Build; at most one.
  MessageBuilder& AddAttribute(uint16_t type, std::span<const uint8_t> value);

  MessageBuilder& WithIntegrity(std::span<const uint8_t> key);
  MessageBuilder& WithFingerprint();

  absl::StatusOr<std::vector<uint8_t>> Build() const;

 private:
  MessageBuilder& AddText(uint16_t type, std::string_view text, size_t max_bytes);
  MessageBuilder& Fail(absl::Status status);

  std::vector<uint8_t> bytes_;  // header (length field filled in by Build) and attributes so far
  absl::Status status_;
  std::optional<std::vector<uint8_t>> integrity_key_;
  std::optional<std::vector<uint8_t>> integrity_sha256_;  // MESSAGE-INTEGRITY-SHA256's value
  bool fingerprint_ = false;
};

// The next frame of a TURN stream over TCP or TLS (RFC 8656 §12): a STUN message, whose size is
// in its header, or a ChannelData message, padded to a multiple of 4 on streams.
struct StreamFrame {
  bool channel_data = false;
  size_t size = 0;  // bytes of the stream that the frame takes, header and padding included
};
// Looks at the start of `stream`. nullopt: too few bytes to tell the size yet (8 for STUN, so
// that the magic cookie is checked before waiting for up to 64 KiB; 4 for ChannelData). An error:
// the stream is not STUN/TURN or has lost sync, and the connection should be closed. The caller
// takes the frame once `size` bytes are there and parses it with ParseMessage.
absl::StatusOr<std::optional<StreamFrame>> NextStreamFrame(std::span<const uint8_t> stream);

}  // namespace advisor::turn

#endif  // ADVISOR_LIB_TURN_MESSAGE_H_
