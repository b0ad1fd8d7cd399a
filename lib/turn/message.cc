#include "lib/turn/message.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/turn/crypto.h"

namespace advisor::turn {
namespace {

constexpr size_t kAttributeHeaderSize = 4;
constexpr size_t kIntegritySize = 20;   // HMAC-SHA1
constexpr size_t kFingerprintSize = 4;  // CRC-32
constexpr uint32_t kFingerprintXor = 0x5354554E;
constexpr size_t kMaxBodySize = 0xFFFF;  // the header's 16-bit length field

// Text attribute limits (RFC 8489 §14.3, 14.9, 14.10, 14.14, 14.8): "fewer than 128 characters",
// which is up to 509 bytes when encoding (USERNAME: fewer than 509 bytes) and up to 763 bytes
// when decoding, since a receiver must accept what other encoders may produce.
constexpr size_t kMaxUsernameEncoded = 508;
constexpr size_t kMaxTextEncoded = 509;
constexpr size_t kMaxSoftwareEncoded = 763;
constexpr size_t kMaxTextDecoded = 763;

uint16_t Read16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}

uint32_t Read32(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint32_t>(b[at]) << 24 | static_cast<uint32_t>(b[at + 1]) << 16 |
         static_cast<uint32_t>(b[at + 2]) << 8 | b[at + 3];
}

void Write16(std::vector<uint8_t>& out, size_t at, uint16_t v) {
  out[at] = static_cast<uint8_t>(v >> 8);
  out[at + 1] = static_cast<uint8_t>(v);
}

void Append16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void Append32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

size_t Padded(size_t length) { return (length + 3) & ~size_t{3}; }

std::string Hex16(uint16_t v) { return absl::StrFormat("0x%04x", v); }

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

// The CRC-32 of ISO 3309 / ITU-T V.42 that FINGERPRINT uses (the one zlib computes), written out
// so that the library needs no zlib for a few lines.
uint32_t Crc32(std::span<const uint8_t> data) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t byte : data) c = kCrcTable[(c ^ byte) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

bool IsXorAddressType(uint16_t type) {
  return type == attr::kXorMappedAddress || type == attr::kXorRelayedAddress ||
         type == attr::kXorPeerAddress;
}

// The comprehension-required types that this codec has code for. MESSAGE-INTEGRITY-SHA256 is
// deliberately absent: a message that relies on it cannot be checked here.
bool IsUnderstood(uint16_t type) {
  switch (type) {
    case attr::kUsername:
    case attr::kMessageIntegrity:
    case attr::kErrorCode:
    case attr::kUnknownAttributes:
    case attr::kChannelNumber:
    case attr::kLifetime:
    case attr::kXorPeerAddress:
    case attr::kData:
    case attr::kRealm:
    case attr::kNonce:
    case attr::kXorRelayedAddress:
    case attr::kRequestedTransport:
    case attr::kXorMappedAddress:
      return true;
    default:
      return false;
  }
}

// A parsed message plus where its integrity and fingerprint attributes start in the datagram,
// which the verifiers need and the Message does not expose.
struct Layout {
  Message message;
  std::optional<size_t> integrity_offset;
  std::optional<size_t> fingerprint_offset;
};

absl::StatusOr<Layout> Walk(std::span<const uint8_t> data) {
  if (data.size() < kHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("STUN message of ", data.size(), " bytes is shorter than the 20-byte header"));
  }
  const uint16_t type = Read16(data, 0);
  if ((type & 0xC000) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("message type ", Hex16(type), " does not start with two zero bits"));
  }
  const uint16_t length = Read16(data, 2);
  if (length % 4 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("message length ", length, " is not a multiple of 4"));
  }
  if (length != data.size() - kHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat("message length field says ", length,
                                                   " bytes but ", data.size() - kHeaderSize,
                                                   " follow the header"));
  }
  if (const uint32_t cookie = Read32(data, 4); cookie != kMagicCookie) {
    return absl::InvalidArgumentError(
        absl::StrFormat("magic cookie 0x%08x is not 0x2112a442", cookie));
  }

  Layout layout;
  Message& message = layout.message;
  message.method =
      static_cast<Method>((type & 0x000F) | (type & 0x00E0) >> 1 | (type & 0x3E00) >> 2);
  message.message_class = static_cast<MessageClass>((type & 0x0010) >> 4 | (type & 0x0100) >> 7);
  std::copy_n(data.begin() + 8, message.transaction_id.size(), message.transaction_id.begin());

  // Once MESSAGE-INTEGRITY(-SHA256) has been seen, what follows is ignored except the attributes
  // that may legitimately come after it (RFC 8489 §14.5, §14.6).
  bool after_integrity = false;
  size_t offset = kHeaderSize;
  // The length is a multiple of 4 and every step below is too, so whenever the loop runs at
  // least the 4 bytes of an attribute header remain.
  while (offset < data.size()) {
    const uint16_t attr_type = Read16(data, offset);
    const uint16_t attr_length = Read16(data, offset + 2);
    if (layout.fingerprint_offset) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attribute ", Hex16(attr_type), " follows FINGERPRINT, which must be the last one"));
    }
    // A multiple of 4, so a value that fits also fits with its padding.
    const size_t available = data.size() - offset - kAttributeHeaderSize;
    if (attr_length > available) {
      return absl::InvalidArgumentError(absl::StrCat("attribute ", Hex16(attr_type), " length ",
                                                     attr_length,
                                                     " runs past the end of the message"));
    }
    // A second MESSAGE-INTEGRITY is among the ignored attributes, so only the first is checked.
    if (attr_type == attr::kMessageIntegrity && !after_integrity && attr_length != kIntegritySize) {
      return absl::InvalidArgumentError(
          absl::StrCat("MESSAGE-INTEGRITY length ", attr_length, ", expected 20"));
    }
    if (attr_type == attr::kFingerprint && attr_length != kFingerprintSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("FINGERPRINT length ", attr_length, ", expected 4"));
    }

    const bool kept = !after_integrity || attr_type == attr::kFingerprint ||
                      attr_type == attr::kMessageIntegritySha256;
    if (kept) {
      if (attr_type == attr::kMessageIntegrity) layout.integrity_offset = offset;
      if (attr_type == attr::kFingerprint) layout.fingerprint_offset = offset;
      const auto value = data.subspan(offset + kAttributeHeaderSize, attr_length);
      message.attributes.push_back(Attribute{attr_type, {value.begin(), value.end()}});
      if (attr_type < 0x8000 && !IsUnderstood(attr_type) &&
          std::find(message.unknown_required.begin(), message.unknown_required.end(), attr_type) ==
              message.unknown_required.end()) {
        message.unknown_required.push_back(attr_type);
      }
    }
    if (attr_type == attr::kMessageIntegrity || attr_type == attr::kMessageIntegritySha256) {
      after_integrity = true;
    }
    offset += kAttributeHeaderSize + Padded(attr_length);
  }
  return layout;
}

absl::Status Missing(uint16_t type) {
  return absl::NotFoundError(absl::StrCat("no ", AttributeName(type), " attribute"));
}

absl::Status BadLength(uint16_t type, size_t length, std::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(AttributeName(type), " length ", length, ", expected ", std::string(expected)));
}

absl::StatusOr<std::string> GetText(const Message& message, uint16_t type) {
  const Attribute* a = message.Find(type);
  if (a == nullptr) return Missing(type);
  if (a->value.size() > kMaxTextDecoded) return BadLength(type, a->value.size(), "at most 763");
  return std::string(a->value.begin(), a->value.end());
}

// The 32-bit (port) and 128-bit (IPv6 address) XOR masks: the magic cookie, then for IPv6 the
// transaction id (RFC 8489 §14.2).
std::array<uint8_t, 16> XorMask(const TransactionId& transaction_id) {
  std::array<uint8_t, 16> mask{};
  for (int i = 0; i < 4; ++i) mask[i] = static_cast<uint8_t>(kMagicCookie >> (24 - 8 * i));
  std::copy(transaction_id.begin(), transaction_id.end(), mask.begin() + 4);
  return mask;
}

}  // namespace

std::string MethodName(Method method) {
  switch (method) {
    case Method::kBinding:
      return "Binding";
    case Method::kAllocate:
      return "Allocate";
    case Method::kRefresh:
      return "Refresh";
    case Method::kSend:
      return "Send";
    case Method::kData:
      return "Data";
    case Method::kCreatePermission:
      return "CreatePermission";
    case Method::kChannelBind:
      return "ChannelBind";
  }
  return absl::StrFormat("method 0x%03x", static_cast<uint16_t>(method));
}

uint16_t MessageType(Method method, MessageClass message_class) {
  const auto m = static_cast<uint16_t>(method);
  const auto c = static_cast<uint16_t>(message_class);
  return static_cast<uint16_t>((m & 0x000F) | (m & 0x0070) << 1 | (m & 0x0F80) << 2 |
                               (c & 0x1) << 4 | (c & 0x2) << 7);
}

std::string AttributeName(uint16_t type) {
  switch (type) {
    case attr::kUsername:
      return "USERNAME";
    case attr::kMessageIntegrity:
      return "MESSAGE-INTEGRITY";
    case attr::kErrorCode:
      return "ERROR-CODE";
    case attr::kUnknownAttributes:
      return "UNKNOWN-ATTRIBUTES";
    case attr::kChannelNumber:
      return "CHANNEL-NUMBER";
    case attr::kLifetime:
      return "LIFETIME";
    case attr::kXorPeerAddress:
      return "XOR-PEER-ADDRESS";
    case attr::kData:
      return "DATA";
    case attr::kRealm:
      return "REALM";
    case attr::kNonce:
      return "NONCE";
    case attr::kXorRelayedAddress:
      return "XOR-RELAYED-ADDRESS";
    case attr::kRequestedTransport:
      return "REQUESTED-TRANSPORT";
    case attr::kMessageIntegritySha256:
      return "MESSAGE-INTEGRITY-SHA256";
    case attr::kXorMappedAddress:
      return "XOR-MAPPED-ADDRESS";
    case attr::kSoftware:
      return "SOFTWARE";
    case attr::kFingerprint:
      return "FINGERPRINT";
  }
  return absl::StrCat("attribute ", Hex16(type));
}

absl::StatusOr<TransactionId> NewTransactionId() {
  TransactionId id;
  if (absl::Status s = RandomBytes(id); !s.ok()) return s;
  return id;
}

// ---------------------------------------------------------------------------------------------
// Message getters

const Attribute* Message::Find(uint16_t type) const {
  for (const Attribute& a : attributes) {
    if (a.type == type) return &a;
  }
  return nullptr;
}

absl::StatusOr<SocketAddress> Message::GetXorAddress(uint16_t type) const {
  if (!IsXorAddressType(type)) {
    return absl::InvalidArgumentError(
        absl::StrCat(AttributeName(type), " is not an XOR address attribute"));
  }
  const Attribute* a = Find(type);
  if (a == nullptr) return Missing(type);
  const std::vector<uint8_t>& v = a->value;
  // The first byte is reserved and ignored by receivers (RFC 8489 §14.1).
  if (v.size() < 4) return BadLength(type, v.size(), "8 (IPv4) or 20 (IPv6)");
  const std::array<uint8_t, 16> mask = XorMask(transaction_id);
  SocketAddress address;
  address.port = static_cast<uint16_t>(Read16(v, 2) ^ (kMagicCookie >> 16));
  switch (v[1]) {
    case static_cast<uint8_t>(SocketAddress::Family::kIpv4):
      if (v.size() != 8) return BadLength(type, v.size(), "8 for IPv4");
      address.family = SocketAddress::Family::kIpv4;
      break;
    case static_cast<uint8_t>(SocketAddress::Family::kIpv6):
      if (v.size() != 20) return BadLength(type, v.size(), "20 for IPv6");
      address.family = SocketAddress::Family::kIpv6;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(AttributeName(type), " has unknown address family ", v[1]));
  }
  for (size_t i = 0; i < address.IpLength(); ++i) address.ip[i] = v[4 + i] ^ mask[i];
  return address;
}

absl::StatusOr<uint32_t> Message::GetLifetime() const {
  const Attribute* a = Find(attr::kLifetime);
  if (a == nullptr) return Missing(attr::kLifetime);
  if (a->value.size() != 4) return BadLength(attr::kLifetime, a->value.size(), "4");
  return Read32(a->value, 0);
}

absl::StatusOr<uint8_t> Message::GetRequestedTransport() const {
  const Attribute* a = Find(attr::kRequestedTransport);
  if (a == nullptr) return Missing(attr::kRequestedTransport);
  if (a->value.size() != 4) return BadLength(attr::kRequestedTransport, a->value.size(), "4");
  return a->value[0];  // the other 3 bytes are RFFU
}

absl::StatusOr<std::string> Message::GetUsername() const { return GetText(*this, attr::kUsername); }
absl::StatusOr<std::string> Message::GetRealm() const { return GetText(*this, attr::kRealm); }
absl::StatusOr<std::string> Message::GetNonce() const { return GetText(*this, attr::kNonce); }
absl::StatusOr<std::string> Message::GetSoftware() const { return GetText(*this, attr::kSoftware); }

absl::StatusOr<std::vector<uint8_t>> Message::GetData() const {
  const Attribute* a = Find(attr::kData);
  if (a == nullptr) return Missing(attr::kData);
  return a->value;
}

absl::StatusOr<ErrorCode> Message::GetErrorCode() const {
  const Attribute* a = Find(attr::kErrorCode);
  if (a == nullptr) return Missing(attr::kErrorCode);
  const std::vector<uint8_t>& v = a->value;
  if (v.size() < 4) return BadLength(attr::kErrorCode, v.size(), "at least 4");
  if (v.size() > 4 + kMaxTextDecoded) return BadLength(attr::kErrorCode, v.size(), "at most 767");
  const int error_class = v[2] & 0x07;
  const int number = v[3];
  if (error_class < 3 || error_class > 6 || number > 99) {
    return absl::InvalidArgumentError(absl::StrCat("ERROR-CODE class ", error_class, " number ",
                                                   number, " is not a code in 300-699"));
  }
  std::string reason(v.begin() + 4, v.end());
  // Some servers pad the reason phrase with NULs up to the attribute's 4-byte boundary.
  while (!reason.empty() && reason.back() == '\0') reason.pop_back();
  return ErrorCode{error_class * 100 + number, std::move(reason)};
}

absl::StatusOr<std::vector<uint16_t>> Message::GetUnknownAttributes() const {
  const Attribute* a = Find(attr::kUnknownAttributes);
  if (a == nullptr) return Missing(attr::kUnknownAttributes);
  if (a->value.size() % 2 != 0) {
    return BadLength(attr::kUnknownAttributes, a->value.size(), "a multiple of 2");
  }
  std::vector<uint16_t> types;
  for (size_t i = 0; i < a->value.size(); i += 2) types.push_back(Read16(a->value, i));
  return types;
}

absl::StatusOr<uint16_t> Message::GetChannelNumber() const {
  const Attribute* a = Find(attr::kChannelNumber);
  if (a == nullptr) return Missing(attr::kChannelNumber);
  if (a->value.size() != 4) return BadLength(attr::kChannelNumber, a->value.size(), "4");
  return Read16(a->value, 0);  // the other 2 bytes are RFFU
}

// ---------------------------------------------------------------------------------------------
// Parsing and verification

absl::StatusOr<Message> ParseMessage(std::span<const uint8_t> datagram) {
  absl::StatusOr<Layout> layout = Walk(datagram);
  if (!layout.ok()) return layout.status();
  return std::move(layout->message);
}

absl::Status VerifyIntegrity(std::span<const uint8_t> datagram, std::span<const uint8_t> key) {
  absl::StatusOr<Layout> layout = Walk(datagram);
  if (!layout.ok()) return layout.status();
  if (!layout->integrity_offset) return Missing(attr::kMessageIntegrity);
  const size_t at = *layout->integrity_offset;
  // The HMAC covers the message up to MESSAGE-INTEGRITY with the length field counting through
  // MESSAGE-INTEGRITY itself, as the sender computed it before appending anything after it.
  std::vector<uint8_t> covered(datagram.begin(),
                               datagram.begin() + static_cast<std::ptrdiff_t>(at));
  Write16(covered, 2,
          static_cast<uint16_t>(at + kAttributeHeaderSize + kIntegritySize - kHeaderSize));
  absl::StatusOr<std::array<uint8_t, 20>> mac = HmacSha1(key, covered);
  if (!mac.ok()) return mac.status();
  if (!ConstantTimeEqual(*mac, datagram.subspan(at + kAttributeHeaderSize, kIntegritySize))) {
    return absl::UnauthenticatedError(
        "MESSAGE-INTEGRITY does not match: wrong key or altered message");
  }
  return absl::OkStatus();
}

absl::Status VerifyFingerprint(std::span<const uint8_t> datagram) {
  absl::StatusOr<Layout> layout = Walk(datagram);
  if (!layout.ok()) return layout.status();
  if (!layout->fingerprint_offset) return Missing(attr::kFingerprint);
  const size_t at = *layout->fingerprint_offset;
  // FINGERPRINT is last (Walk enforces it), so the length field already counts it as the sender
  // had set it when computing the CRC.
  const uint32_t expected = Crc32(datagram.first(at)) ^ kFingerprintXor;
  const uint32_t actual = Read32(datagram, at + kAttributeHeaderSize);
  if (expected != actual) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "FINGERPRINT 0x%08x does not match the message (CRC gives 0x%08x)", actual, expected));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Encoding

MessageBuilder::MessageBuilder(Method method, MessageClass message_class,
                               const TransactionId& transaction_id) {
  if (static_cast<uint16_t>(method) > 0x0FFF) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat(MethodName(method), " does not fit in the 12 bits of a STUN method")));
  }
  bytes_.reserve(128);
  Append16(bytes_, MessageType(method, message_class));
  Append16(bytes_, 0);  // length, set by Build
  Append32(bytes_, kMagicCookie);
  bytes_.insert(bytes_.end(), transaction_id.begin(), transaction_id.end());
}

MessageBuilder& MessageBuilder::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
  return *this;
}

MessageBuilder& MessageBuilder::AddAttribute(uint16_t type, std::span<const uint8_t> value) {
  if (type == attr::kMessageIntegrity || type == attr::kFingerprint) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        AttributeName(type), " is computed by Build; use WithIntegrity/WithFingerprint")));
  }
  if (value.size() > kMaxBodySize - kAttributeHeaderSize) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        AttributeName(type), " value of ", value.size(), " bytes does not fit in a message")));
  }
  if (type == attr::kMessageIntegritySha256) {
    if (integrity_sha256_) {
      return Fail(absl::InvalidArgumentError("MESSAGE-INTEGRITY-SHA256 added twice"));
    }
    integrity_sha256_.emplace(value.begin(), value.end());
    return *this;
  }
  Append16(bytes_, type);
  Append16(bytes_, static_cast<uint16_t>(value.size()));
  bytes_.insert(bytes_.end(), value.begin(), value.end());
  bytes_.resize(kHeaderSize + Padded(bytes_.size() - kHeaderSize), 0);
  return *this;
}

MessageBuilder& MessageBuilder::AddXorAddress(uint16_t type, const SocketAddress& address) {
  if (!IsXorAddressType(type)) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(AttributeName(type), " is not an XOR address attribute")));
  }
  TransactionId transaction_id;
  std::copy_n(bytes_.begin() + 8, transaction_id.size(), transaction_id.begin());
  const std::array<uint8_t, 16> mask = XorMask(transaction_id);
  std::vector<uint8_t> value = {0, static_cast<uint8_t>(address.family)};
  Append16(value, static_cast<uint16_t>(address.port ^ (kMagicCookie >> 16)));
  for (size_t i = 0; i < address.IpLength(); ++i) value.push_back(address.ip[i] ^ mask[i]);
  return AddAttribute(type, value);
}

MessageBuilder& MessageBuilder::AddLifetime(uint32_t seconds) {
  std::vector<uint8_t> value;
  Append32(value, seconds);
  return AddAttribute(attr::kLifetime, value);
}

MessageBuilder& MessageBuilder::AddRequestedTransport(uint8_t protocol) {
  const uint8_t value[4] = {protocol, 0, 0, 0};
  return AddAttribute(attr::kRequestedTransport, value);
}

MessageBuilder& MessageBuilder::AddText(uint16_t type, std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(AttributeName(type), " of ", text.size(),
                                                        " bytes is longer than ", max_bytes)));
  }
  return AddAttribute(type, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

MessageBuilder& MessageBuilder::AddUsername(std::string_view username) {
  return AddText(attr::kUsername, username, kMaxUsernameEncoded);
}
MessageBuilder& MessageBuilder::AddRealm(std::string_view realm) {
  return AddText(attr::kRealm, realm, kMaxTextEncoded);
}
MessageBuilder& MessageBuilder::AddNonce(std::string_view nonce) {
  return AddText(attr::kNonce, nonce, kMaxTextEncoded);
}
MessageBuilder& MessageBuilder::AddSoftware(std::string_view software) {
  return AddText(attr::kSoftware, software, kMaxSoftwareEncoded);
}

MessageBuilder& MessageBuilder::AddData(std::span<const uint8_t> data) {
  return AddAttribute(attr::kData, data);
}

MessageBuilder& MessageBuilder::AddErrorCode(int code, std::string_view reason) {
  if (code < 300 || code > 699) {
    return Fail(
        absl::InvalidArgumentError(absl::StrCat("error code ", code, " is outside 300-699")));
  }
  if (reason.size() > kMaxTextEncoded) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "ERROR-CODE reason of ", reason.size(), " bytes is longer than ", kMaxTextEncoded)));
  }
  std::vector<uint8_t> value = {0, 0, static_cast<uint8_t>(code / 100),
                                static_cast<uint8_t>(code % 100)};
  value.insert(value.end(), reason.begin(), reason.end());
  return AddAttribute(attr::kErrorCode, value);
}

MessageBuilder& MessageBuilder::AddUnknownAttributes(std::span<const uint16_t> types) {
  std::vector<uint8_t> value;
  for (uint16_t type : types) Append16(value, type);
  return AddAttribute(attr::kUnknownAttributes, value);
}

MessageBuilder& MessageBuilder::AddChannelNumber(uint16_t channel) {
  if (channel < 0x4000 || channel > 0x4FFF) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("channel number ", Hex16(channel), " is outside 0x4000-0x4fff")));
  }
  std::vector<uint8_t> value;
  Append16(value, channel);
  Append16(value, 0);
  return AddAttribute(attr::kChannelNumber, value);
}

MessageBuilder& MessageBuilder::WithIntegrity(std::span<const uint8_t> key) {
  integrity_key_.emplace(key.begin(), key.end());
  return *this;
}

MessageBuilder& MessageBuilder::WithFingerprint() {
  fingerprint_ = true;
  return *this;
}

absl::StatusOr<std::vector<uint8_t>> MessageBuilder::Build() const {
  if (!status_.ok()) return status_;
  const size_t trailer =
      (integrity_key_ ? kAttributeHeaderSize + kIntegritySize : 0) +
      (integrity_sha256_ ? kAttributeHeaderSize + Padded(integrity_sha256_->size()) : 0) +
      (fingerprint_ ? kAttributeHeaderSize + kFingerprintSize : 0);
  if (bytes_.size() - kHeaderSize + trailer > kMaxBodySize) {
    return absl::InvalidArgumentError(absl::StrCat("message body of ", bytes_.size() - kHeaderSize,
                                                   " + ", trailer,
                                                   " bytes exceeds the 65535-byte maximum"));
  }
  std::vector<uint8_t> out = bytes_;
  out.reserve(out.size() + trailer);
  // Each of the two is computed with the length field counting up to and including itself.
  if (integrity_key_) {
    Write16(
        out, 2,
        static_cast<uint16_t>(out.size() - kHeaderSize + kAttributeHeaderSize + kIntegritySize));
    absl::StatusOr<std::array<uint8_t, 20>> mac = HmacSha1(*integrity_key_, out);
    if (!mac.ok()) return mac.status();
    Append16(out, attr::kMessageIntegrity);
    Append16(out, kIntegritySize);
    out.insert(out.end(), mac->begin(), mac->end());
  }
  if (integrity_sha256_) {
    Append16(out, attr::kMessageIntegritySha256);
    Append16(out, static_cast<uint16_t>(integrity_sha256_->size()));
    out.insert(out.end(), integrity_sha256_->begin(), integrity_sha256_->end());
    out.resize(kHeaderSize + Padded(out.size() - kHeaderSize), 0);
  }
  if (fingerprint_) {
    Write16(
        out, 2,
        static_cast<uint16_t>(out.size() - kHeaderSize + kAttributeHeaderSize + kFingerprintSize));
    const uint32_t crc = Crc32(out) ^ kFingerprintXor;
    Append16(out, attr::kFingerprint);
    Append16(out, kFingerprintSize);
    Append32(out, crc);
  }
  Write16(out, 2, static_cast<uint16_t>(out.size() - kHeaderSize));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Stream framing

absl::StatusOr<std::optional<StreamFrame>> NextStreamFrame(std::span<const uint8_t> stream) {
  if (stream.empty()) return std::nullopt;
  if ((stream[0] & 0xC0) == 0) {  // STUN: the first two bits are zero
    if (stream.size() < 8) return std::nullopt;
    const uint16_t length = Read16(stream, 2);
    if (length % 4 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("STUN message length ", length, " on the stream is not a multiple of 4"));
    }
    if (const uint32_t cookie = Read32(stream, 4); cookie != kMagicCookie) {
      return absl::InvalidArgumentError(
          absl::StrFormat("stream lost sync: magic cookie 0x%08x is not 0x2112a442", cookie));
    }
    return StreamFrame{false, kHeaderSize + length};
  }
  // ChannelData: channel numbers are 0x4000-0x4FFF (0x5000 and up are reserved, RFC 8656 §12).
  if ((stream[0] & 0xF0) == 0x40) {
    if (stream.size() < 4) return std::nullopt;
    return StreamFrame{true, 4 + Padded(Read16(stream, 2))};
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "stream lost sync: first byte 0x%02x starts neither STUN nor ChannelData", stream[0]));
}

}  // namespace advisor::turn
