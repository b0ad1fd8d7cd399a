// Unit tests of the STUN/TURN codec: the RFC 5769 test vectors, encode/parse round trips of every
// attribute, malformed input rejected with clear errors, stream framing, and a deterministic
// mutation fuzz loop that must never crash (run it under ASan/UBSan too).
#include "lib/turn/message.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/turn/address.h"
#include "lib/turn/credentials.h"

namespace advisor::turn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Bytes = std::vector<uint8_t>;

// "00 01 a1 47" → bytes; whitespace is ignored so the vectors can be laid out as in the RFC.
Bytes Hex(std::string_view text) {
  Bytes out;
  std::string digits;
  for (char c : text) {
    if (c == ' ' || c == '\n') continue;
    digits.push_back(c);
    if (digits.size() == 2) {
      out.push_back(static_cast<uint8_t>(std::stoi(digits, nullptr, 16)));
      digits.clear();
    }
  }
  EXPECT_TRUE(digits.empty()) << "odd number of hex digits";
  return out;
}

// RFC 5769 §2.1-2.4, copied from the RFC's hex dumps (cross-checked against two independent
// transcriptions; any wrong byte outside the MAC and CRC would break the integrity or fingerprint
// checks below). §2.1-2.3 pad with spaces, §2.4 with zeros.
const Bytes kSampleRequest = Hex(
    "00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
    "80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74"  // SOFTWARE "STUN test client"
    "00 24 00 04 6e 00 01 ff"                                      // PRIORITY (ICE)
    "80 29 00 08 93 2f f9 b1 51 26 3b 36"                          // ICE-CONTROLLED
    "00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20"              // USERNAME "evtj:h6vY"
    "00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2"
    "80 28 00 04 e5 7a 3b cf");

const Bytes kSampleIpv4Response =
    Hex("01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
        "80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20"  // SOFTWARE "test vector"
        "00 20 00 08 00 01 a1 47 e1 12 a6 43"              // XOR-MAPPED-ADDRESS
        "00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7"
        "80 28 00 04 c0 7d 4c 96");

const Bytes kSampleIpv6Response =
    Hex("01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
        "80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20"
        "00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9"
        "00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41"
        "80 28 00 04 c8 fb 0b 4c");

const Bytes kSampleLongTermRequest =
    Hex("00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e"
        "00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00"  // USERNAME
        "00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46"  // NONCE
        "53 54 76 79 36 34 73 41"
        "00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00"  // REALM "example.org"
        "00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66");

constexpr std::string_view kShortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt";
// "マトリックス" in UTF-8, spelled out so the test does not depend on the source file's charset.
constexpr std::string_view kMatrixUsername =
    "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";

const TransactionId kRfcTransactionId = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                         0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
const TransactionId kTransactionId = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

SocketAddress Addr(std::string_view ip, uint16_t port) {
  absl::StatusOr<SocketAddress> address = SocketAddress::Parse(ip, port);
  EXPECT_TRUE(address.ok()) << address.status();
  return address.value_or(SocketAddress{});
}

Bytes Build(const MessageBuilder& builder) {
  absl::StatusOr<Bytes> bytes = builder.Build();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.value_or(Bytes{});
}

Message Parse(std::span<const uint8_t> bytes) {
  absl::StatusOr<Message> message = ParseMessage(bytes);
  EXPECT_TRUE(message.ok()) << message.status();
  return message.value_or(Message{});
}

// The error message of parsing `bytes`, which must fail with InvalidArgument.
std::string ParseError(std::span<const uint8_t> bytes) {
  absl::StatusOr<Message> message = ParseMessage(bytes);
  EXPECT_EQ(message.status().code(), absl::StatusCode::kInvalidArgument) << message.status();
  return std::string(message.status().message());
}

void SetLength(Bytes& bytes, size_t length) {
  bytes[2] = static_cast<uint8_t>(length >> 8);
  bytes[3] = static_cast<uint8_t>(length);
}

// Appends a raw attribute (with zero padding) and fixes the header's length, as a hostile or
// broken sender might, bypassing the builder's ordering of MESSAGE-INTEGRITY and FINGERPRINT.
void AppendRaw(Bytes& bytes, uint16_t type, const Bytes& value) {
  bytes.push_back(static_cast<uint8_t>(type >> 8));
  bytes.push_back(static_cast<uint8_t>(type));
  bytes.push_back(static_cast<uint8_t>(value.size() >> 8));
  bytes.push_back(static_cast<uint8_t>(value.size()));
  bytes.insert(bytes.end(), value.begin(), value.end());
  while (bytes.size() % 4 != 0) bytes.push_back(0);
  SetLength(bytes, bytes.size() - kHeaderSize);
}

// --- RFC 5769 ---------------------------------------------------------------------------------

TEST(Rfc5769Test, SampleRequestParsesAndVerifies) {
  ASSERT_EQ(kSampleRequest.size(), 108u);
  const Message m = Parse(kSampleRequest);
  EXPECT_EQ(m.method, Method::kBinding);
  EXPECT_EQ(m.message_class, MessageClass::kRequest);
  EXPECT_EQ(m.transaction_id, kRfcTransactionId);
  EXPECT_EQ(m.GetSoftware().value_or(""), "STUN test client");
  EXPECT_EQ(m.GetUsername().value_or(""), "evtj:h6vY");
  // PRIORITY is ICE's and comprehension-required, so it is reported; ICE-CONTROLLED is optional
  // and is not, though it stays among the attributes.
  EXPECT_THAT(m.unknown_required, ElementsAre(0x0024));
  ASSERT_NE(m.Find(0x8029), nullptr);
  EXPECT_EQ(m.Find(0x8029)->value, Hex("93 2f f9 b1 51 26 3b 36"));

  EXPECT_TRUE(VerifyIntegrity(kSampleRequest, ShortTermKey(kShortTermPassword)).ok());
  EXPECT_EQ(VerifyIntegrity(kSampleRequest, ShortTermKey("VOkJxbRl1RmTxUk/WvJxBT")).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(VerifyFingerprint(kSampleRequest).ok());
}

TEST(Rfc5769Test, Ipv4ResponseDecodesMappedAddress) {
  const Message m = Parse(kSampleIpv4Response);
  EXPECT_EQ(m.method, Method::kBinding);
  EXPECT_EQ(m.message_class, MessageClass::kSuccessResponse);
  EXPECT_EQ(m.GetSoftware().value_or(""), "test vector");
  EXPECT_THAT(m.unknown_required, IsEmpty());
  absl::StatusOr<SocketAddress> mapped = m.GetXorAddress(attr::kXorMappedAddress);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ(*mapped, Addr("192.0.2.1", 32853));
  EXPECT_EQ(mapped->ToString(), "192.0.2.1:32853");
  EXPECT_TRUE(VerifyIntegrity(kSampleIpv4Response, ShortTermKey(kShortTermPassword)).ok());
  EXPECT_TRUE(VerifyFingerprint(kSampleIpv4Response).ok());

  // Encoding the address gives the RFC's XOR'd bytes.
  const Message again = Parse(
      Build(MessageBuilder(Method::kBinding, MessageClass::kSuccessResponse, kRfcTransactionId)
                .AddXorAddress(attr::kXorMappedAddress, *mapped)));
  ASSERT_NE(again.Find(attr::kXorMappedAddress), nullptr);
  EXPECT_EQ(again.Find(attr::kXorMappedAddress)->value, Hex("00 01 a1 47 e1 12 a6 43"));
}

TEST(Rfc5769Test, Ipv6ResponseDecodesMappedAddress) {
  const Message m = Parse(kSampleIpv6Response);
  EXPECT_EQ(m.message_class, MessageClass::kSuccessResponse);
  absl::StatusOr<SocketAddress> mapped = m.GetXorAddress(attr::kXorMappedAddress);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ(*mapped, Addr("2001:db8:1234:5678:11:2233:4455:6677", 32853));
  EXPECT_EQ(mapped->ToString(), "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
  EXPECT_TRUE(VerifyIntegrity(kSampleIpv6Response, ShortTermKey(kShortTermPassword)).ok());
  EXPECT_TRUE(VerifyFingerprint(kSampleIpv6Response).ok());

  const Message again = Parse(
      Build(MessageBuilder(Method::kBinding, MessageClass::kSuccessResponse, kRfcTransactionId)
                .AddXorAddress(attr::kXorMappedAddress, *mapped)));
  ASSERT_NE(again.Find(attr::kXorMappedAddress), nullptr);
  EXPECT_EQ(again.Find(attr::kXorMappedAddress)->value,
            Hex("00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9"));
}

TEST(Rfc5769Test, LongTermRequestVerifiesAndReencodesExactly) {
  const Message m = Parse(kSampleLongTermRequest);
  EXPECT_EQ(m.GetUsername().value_or(""), kMatrixUsername);
  EXPECT_EQ(m.GetNonce().value_or(""), "f//499k954d6OL34oL9FSTvy64sA");
  EXPECT_EQ(m.GetRealm().value_or(""), "example.org");
  EXPECT_EQ(VerifyFingerprint(kSampleLongTermRequest).code(), absl::StatusCode::kNotFound);

  absl::StatusOr<Bytes> key = LongTermKey(kMatrixUsername, "example.org", "TheMatrIX");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(VerifyIntegrity(kSampleLongTermRequest, *key).ok());
  absl::StatusOr<Bytes> wrong = LongTermKey(kMatrixUsername, "example.org", "TheMatrix");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(VerifyIntegrity(kSampleLongTermRequest, *wrong).code(),
            absl::StatusCode::kUnauthenticated);

  // The sample pads with zeros, so the builder must reproduce it byte for byte.
  const TransactionId id = {0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e};
  EXPECT_EQ(Build(MessageBuilder(Method::kBinding, MessageClass::kRequest, id)
                      .AddUsername(kMatrixUsername)
                      .AddNonce("f//499k954d6OL34oL9FSTvy64sA")
                      .AddRealm("example.org")
                      .WithIntegrity(*key)),
            kSampleLongTermRequest);
}

// --- Header and round trips ---------------------------------------------------------------------

TEST(MessageTypeTest, InterleavesMethodAndClassBits) {
  EXPECT_EQ(MessageType(Method::kBinding, MessageClass::kRequest), 0x0001);
  EXPECT_EQ(MessageType(Method::kBinding, MessageClass::kSuccessResponse), 0x0101);
  EXPECT_EQ(MessageType(Method::kAllocate, MessageClass::kRequest), 0x0003);
  EXPECT_EQ(MessageType(Method::kAllocate, MessageClass::kSuccessResponse), 0x0103);
  EXPECT_EQ(MessageType(Method::kAllocate, MessageClass::kErrorResponse), 0x0113);
  EXPECT_EQ(MessageType(Method::kRefresh, MessageClass::kRequest), 0x0004);
  EXPECT_EQ(MessageType(Method::kSend, MessageClass::kIndication), 0x0016);
  EXPECT_EQ(MessageType(Method::kData, MessageClass::kIndication), 0x0017);
  EXPECT_EQ(MessageType(Method::kCreatePermission, MessageClass::kRequest), 0x0008);
  EXPECT_EQ(MessageType(Method::kChannelBind, MessageClass::kSuccessResponse), 0x0109);
  EXPECT_EQ(MessageType(static_cast<Method>(0xFFF), MessageClass::kErrorResponse), 0x3FFF);
}

TEST(MessageTest, EveryMethodAndClassRoundTrips) {
  for (Method method :
       {Method::kBinding, Method::kAllocate, Method::kRefresh, Method::kSend, Method::kData,
        Method::kCreatePermission, Method::kChannelBind, static_cast<Method>(0xABC)}) {
    for (MessageClass c : {MessageClass::kRequest, MessageClass::kIndication,
                           MessageClass::kSuccessResponse, MessageClass::kErrorResponse}) {
      const Bytes bytes = Build(MessageBuilder(method, c, kTransactionId));
      ASSERT_EQ(bytes.size(), kHeaderSize);
      const Message m = Parse(bytes);
      EXPECT_EQ(m.method, method) << MethodName(method);
      EXPECT_EQ(m.message_class, c) << MethodName(method);
      EXPECT_EQ(m.transaction_id, kTransactionId);
      EXPECT_THAT(m.attributes, IsEmpty());
    }
  }
  EXPECT_EQ(MethodName(Method::kCreatePermission), "CreatePermission");
  EXPECT_EQ(MethodName(static_cast<Method>(0xABC)), "method 0xabc");
}

TEST(MessageTest, EveryAttributeRoundTripsWithIntegrityAndFingerprint) {
  const Bytes payload = {0xde, 0xad, 0xbe, 0xef, 0x00};
  const uint16_t unknown[] = {0x0031, 0x8031, 0x0024};
  const Bytes key = ShortTermKey("secret");
  const Bytes bytes =
      Build(MessageBuilder(Method::kAllocate, MessageClass::kErrorResponse, kTransactionId)
                .AddXorAddress(attr::kXorMappedAddress, Addr("198.51.100.7", 55432))
                .AddXorAddress(attr::kXorRelayedAddress, Addr("2001:db8::42", 49152))
                .AddXorAddress(attr::kXorPeerAddress, Addr("::ffff:10.0.0.1", 1))
                .AddLifetime(600)
                .AddRequestedTransport(kProtocolUdp)
                .AddUsername("1700003600:alice")
                .AddRealm("example.org")
                .AddNonce("nonce-123")
                .AddSoftware("connectivity-advisor")
                .AddData(payload)
                .AddErrorCode(438, "Stale Nonce")
                .AddUnknownAttributes(unknown)
                .AddChannelNumber(0x4001)
                .WithIntegrity(key)
                .WithFingerprint());
  ASSERT_EQ(bytes.size() % 4, 0u);
  const Message m = Parse(bytes);
  EXPECT_EQ(m.method, Method::kAllocate);
  EXPECT_EQ(m.message_class, MessageClass::kErrorResponse);
  EXPECT_EQ(m.GetXorAddress(attr::kXorMappedAddress).value_or(SocketAddress{}),
            Addr("198.51.100.7", 55432));
  EXPECT_EQ(m.GetXorAddress(attr::kXorRelayedAddress).value_or(SocketAddress{}),
            Addr("2001:db8::42", 49152));
  EXPECT_EQ(m.GetXorAddress(attr::kXorPeerAddress).value_or(SocketAddress{}),
            Addr("::ffff:10.0.0.1", 1));
  EXPECT_EQ(m.GetLifetime().value_or(0), 600u);
  EXPECT_EQ(m.GetRequestedTransport().value_or(0), 17);
  EXPECT_EQ(m.GetUsername().value_or(""), "1700003600:alice");
  EXPECT_EQ(m.GetRealm().value_or(""), "example.org");
  EXPECT_EQ(m.GetNonce().value_or(""), "nonce-123");
  EXPECT_EQ(m.GetSoftware().value_or(""), "connectivity-advisor");
  EXPECT_EQ(m.GetData().value_or(Bytes{}), payload);
  absl::StatusOr<ErrorCode> error = m.GetErrorCode();
  ASSERT_TRUE(error.ok()) << error.status();
  EXPECT_EQ(error->code, 438);
  EXPECT_EQ(error->reason, "Stale Nonce");
  EXPECT_THAT(m.GetUnknownAttributes().value_or(std::vector<uint16_t>{}),
              ElementsAre(0x0031, 0x8031, 0x0024));
  EXPECT_EQ(m.GetChannelNumber().value_or(0), 0x4001);
  EXPECT_THAT(m.unknown_required, IsEmpty());
  // MESSAGE-INTEGRITY then FINGERPRINT, last and in that order.
  ASSERT_GE(m.attributes.size(), 2u);
  EXPECT_EQ(m.attributes[m.attributes.size() - 2].type, attr::kMessageIntegrity);
  EXPECT_EQ(m.attributes.back().type, attr::kFingerprint);
  EXPECT_TRUE(VerifyIntegrity(bytes, key).ok());
  EXPECT_TRUE(VerifyFingerprint(bytes).ok());
}

TEST(MessageTest, EmptyValuesAndPaddingRoundTrip) {
  for (size_t n = 0; n <= 9; ++n) {
    const Bytes data(n, 0x5a);
    const Bytes bytes = Build(
        MessageBuilder(Method::kSend, MessageClass::kIndication, kTransactionId).AddData(data));
    EXPECT_EQ(bytes.size(), kHeaderSize + 4 + (n + 3) / 4 * 4) << n;
    EXPECT_EQ(Parse(bytes).GetData().value_or(Bytes{1}), data) << n;
  }
}

TEST(MessageTest, GettersReportMissingAttributes) {
  const Message m = Parse(
      Build(MessageBuilder(Method::kAllocate, MessageClass::kSuccessResponse, kTransactionId)));
  EXPECT_EQ(m.GetXorAddress(attr::kXorRelayedAddress).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(m.GetLifetime().status().message()), HasSubstr("no LIFETIME"));
  EXPECT_EQ(m.GetErrorCode().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m.GetRealm().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m.GetData().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m.GetXorAddress(attr::kLifetime).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyIntegrity(
                Build(MessageBuilder(Method::kBinding, MessageClass::kRequest, kTransactionId)),
                ShortTermKey("x"))
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(MessageTest, UnknownAttributesAreReportedOnlyWhenComprehensionRequired) {
  const Bytes value = {1, 2, 3, 4};
  const Message m =
      Parse(Build(MessageBuilder(Method::kAllocate, MessageClass::kRequest, kTransactionId)
                      .AddAttribute(0x0030, value)
                      .AddAttribute(0x8030, value)
                      .AddAttribute(0x0030, value)
                      .AddAttribute(0x7FFF, {})));
  EXPECT_THAT(m.unknown_required, ElementsAre(0x0030, 0x7FFF));
  EXPECT_EQ(m.attributes.size(), 4u);  // the optional one is skipped, not dropped
}

TEST(MessageTest, FirstOfRepeatedAttributesCounts) {
  const Message m =
      Parse(Build(MessageBuilder(Method::kRefresh, MessageClass::kRequest, kTransactionId)
                      .AddLifetime(0)
                      .AddLifetime(600)));
  EXPECT_EQ(m.GetLifetime().value_or(1), 0u);
}

TEST(MessageBuilderTest, RejectsInvalidArguments) {
  auto error = [](const MessageBuilder& b) { return std::string(b.Build().status().message()); };
  const MessageBuilder base(Method::kAllocate, MessageClass::kRequest, kTransactionId);
  EXPECT_THAT(error(MessageBuilder(base).AddErrorCode(299, "x")), HasSubstr("outside 300-699"));
  EXPECT_THAT(error(MessageBuilder(base).AddErrorCode(700, "x")), HasSubstr("outside 300-699"));
  EXPECT_THAT(error(MessageBuilder(base).AddErrorCode(401, std::string(510, 'r'))),
              HasSubstr("reason of 510 bytes"));
  EXPECT_THAT(error(MessageBuilder(base).AddUsername(std::string(509, 'u'))),
              HasSubstr("USERNAME of 509 bytes"));
  EXPECT_TRUE(MessageBuilder(base).AddUsername(std::string(508, 'u')).Build().ok());
  EXPECT_THAT(error(MessageBuilder(base).AddNonce(std::string(510, 'n'))), HasSubstr("NONCE"));
  EXPECT_THAT(error(MessageBuilder(base).AddRealm(std::string(510, 'r'))), HasSubstr("REALM"));
  EXPECT_THAT(error(MessageBuilder(base).AddSoftware(std::string(764, 's'))),
              HasSubstr("SOFTWARE"));
  EXPECT_THAT(error(MessageBuilder(base).AddChannelNumber(0x3FFF)), HasSubstr("0x3fff"));
  EXPECT_THAT(error(MessageBuilder(base).AddChannelNumber(0x5000)), HasSubstr("0x5000"));
  EXPECT_THAT(error(MessageBuilder(base).AddAttribute(attr::kMessageIntegrity, Bytes(20))),
              HasSubstr("WithIntegrity"));
  EXPECT_THAT(error(MessageBuilder(base).AddAttribute(attr::kFingerprint, Bytes(4))),
              HasSubstr("WithFingerprint"));
  EXPECT_THAT(error(MessageBuilder(base).AddXorAddress(attr::kData, SocketAddress{})),
              HasSubstr("not an XOR address"));
  EXPECT_THAT(
      error(MessageBuilder(static_cast<Method>(0x1000), MessageClass::kRequest, kTransactionId)),
      HasSubstr("12 bits"));
  // The first error wins and later calls do not hide it.
  EXPECT_THAT(error(MessageBuilder(base).AddErrorCode(1, "").AddChannelNumber(1)),
              HasSubstr("error code 1 "));
}

TEST(MessageBuilderTest, RejectsMessagesOverTheLengthField) {
  const Bytes big(65531, 0);  // fits in one attribute, but not with the header's 16-bit length
  EXPECT_TRUE(MessageBuilder(Method::kSend, MessageClass::kIndication, kTransactionId)
                  .AddData(Bytes(65528, 0))
                  .Build()
                  .ok());
  EXPECT_THAT(std::string(MessageBuilder(Method::kSend, MessageClass::kIndication, kTransactionId)
                              .AddData(big)
                              .Build()
                              .status()
                              .message()),
              HasSubstr("exceeds the 65535-byte maximum"));
  EXPECT_FALSE(MessageBuilder(Method::kSend, MessageClass::kIndication, kTransactionId)
                   .AddData(Bytes(65528, 0))
                   .WithFingerprint()
                   .Build()
                   .ok());
  EXPECT_FALSE(MessageBuilder(Method::kSend, MessageClass::kIndication, kTransactionId)
                   .AddData(Bytes(65532, 0))
                   .Build()
                   .ok());
}

// --- Malformed input ----------------------------------------------------------------------------

TEST(MalformedTest, HeaderErrors) {
  EXPECT_THAT(ParseError({}), HasSubstr("0 bytes is shorter than the 20-byte header"));
  EXPECT_THAT(ParseError(std::span(kSampleRequest).first(19)),
              HasSubstr("19 bytes is shorter than the 20-byte header"));

  Bytes bits = kSampleIpv4Response;
  bits[0] |= 0x80;
  EXPECT_THAT(ParseError(bits), HasSubstr("does not start with two zero bits"));

  Bytes odd = kSampleIpv4Response;
  odd.resize(odd.size() - 2);
  SetLength(odd, odd.size() - kHeaderSize);
  EXPECT_THAT(ParseError(odd), HasSubstr("message length 58 is not a multiple of 4"));

  Bytes longer = kSampleIpv4Response;
  longer.insert(longer.end(), {0, 0, 0, 0});
  EXPECT_THAT(ParseError(longer), HasSubstr("length field says 60 bytes but 64 follow"));
  EXPECT_THAT(ParseError(std::span(kSampleIpv4Response).first(76)),
              HasSubstr("length field says 60 bytes but 56 follow"));

  Bytes cookie = kSampleIpv4Response;
  cookie[5] ^= 0x01;
  EXPECT_THAT(ParseError(cookie), HasSubstr("magic cookie 0x2113a442 is not 0x2112a442"));
}

TEST(MalformedTest, AttributeLengthPastTheEnd) {
  // XOR-MAPPED-ADDRESS claims 12 bytes of value, but the message ends after 8.
  Bytes bytes =
      Build(MessageBuilder(Method::kBinding, MessageClass::kSuccessResponse, kTransactionId));
  bytes.insert(bytes.end(), {0x00, 0x20, 0x00, 0x0c, 0, 1, 2, 3, 4, 5, 6, 7});
  SetLength(bytes, bytes.size() - kHeaderSize);
  EXPECT_EQ(ParseError(bytes), "attribute 0x0020 length 12 runs past the end of the message");
}

TEST(MalformedTest, TruncatedAttribute) {
  // The IPv6 response cut in the middle of its XOR-MAPPED-ADDRESS, with the header's length
  // adjusted so that only the attribute gives the truncation away.
  Bytes cut(kSampleIpv6Response.begin(), kSampleIpv6Response.begin() + 20 + 16 + 12);
  SetLength(cut, cut.size() - kHeaderSize);
  EXPECT_EQ(ParseError(cut), "attribute 0x0020 length 20 runs past the end of the message");
  EXPECT_FALSE(VerifyIntegrity(cut, ShortTermKey(kShortTermPassword)).ok());
  EXPECT_FALSE(VerifyFingerprint(cut).ok());
}

TEST(MalformedTest, WrongFixedLengthsOfIntegrityAndFingerprint) {
  Bytes integrity = Build(MessageBuilder(Method::kBinding, MessageClass::kRequest, kTransactionId));
  AppendRaw(integrity, attr::kMessageIntegrity, Bytes(16));
  EXPECT_THAT(ParseError(integrity), HasSubstr("MESSAGE-INTEGRITY length 16, expected 20"));

  Bytes fingerprint =
      Build(MessageBuilder(Method::kBinding, MessageClass::kRequest, kTransactionId));
  AppendRaw(fingerprint, attr::kFingerprint, Bytes(8));
  EXPECT_THAT(ParseError(fingerprint), HasSubstr("FINGERPRINT length 8, expected 4"));
}

TEST(MalformedTest, AttributeAfterFingerprint) {
  Bytes bytes = kSampleIpv4Response;
  AppendRaw(bytes, attr::kLifetime, Bytes(4));
  EXPECT_THAT(ParseError(bytes),
              HasSubstr("attribute 0x000d follows FINGERPRINT, which must be the last one"));
}

TEST(MalformedTest, BadIntegrity) {
  const Bytes key = ShortTermKey(kShortTermPassword);
  // A flipped bit in a covered attribute, and one in the MAC itself.
  for (size_t at : {size_t{25}, size_t{40}, size_t{kSampleIpv4Response.size() - 12}}) {
    Bytes bytes = kSampleIpv4Response;
    bytes[at] ^= 0x01;
    ASSERT_TRUE(ParseMessage(bytes).ok());
    EXPECT_EQ(VerifyIntegrity(bytes, key).code(), absl::StatusCode::kUnauthenticated) << at;
  }
  // The transaction id is covered too.
  Bytes id = kSampleIpv4Response;
  id[10] ^= 0x80;
  EXPECT_EQ(VerifyIntegrity(id, key).code(), absl::StatusCode::kUnauthenticated);
}

TEST(MalformedTest, BadFingerprint) {
  Bytes crc = kSampleIpv4Response;
  crc.back() ^= 0x01;
  EXPECT_THAT(std::string(VerifyFingerprint(crc).message()), HasSubstr("FINGERPRINT 0xc07d4c97"));
  // FINGERPRINT is outside what MESSAGE-INTEGRITY covers, so the latter still holds.
  EXPECT_TRUE(VerifyIntegrity(crc, ShortTermKey(kShortTermPassword)).ok());

  Bytes body = kSampleIpv4Response;
  body[30] ^= 0x20;
  EXPECT_EQ(VerifyFingerprint(body).code(), absl::StatusCode::kInvalidArgument);
}

TEST(MalformedTest, AttributesAfterIntegrityAreIgnoredNotTrusted) {
  // RFC 8489 §14.5: agents ignore attributes after MESSAGE-INTEGRITY other than
  // MESSAGE-INTEGRITY-SHA256 and FINGERPRINT. An attacker who appends a LIFETIME gains nothing:
  // it is not in the parsed message, and the integrity check still covers exactly what it did.
  const Bytes key = ShortTermKey("k");
  Bytes bytes =
      Build(MessageBuilder(Method::kRefresh, MessageClass::kSuccessResponse, kTransactionId)
                .AddLifetime(600)
                .WithIntegrity(key));
  const Bytes lifetime0 = {0, 0, 0, 0};
  AppendRaw(bytes, attr::kLifetime, lifetime0);
  AppendRaw(bytes, 0x0031, lifetime0);  // unknown comprehension-required: ignored, not reported
  const Message m = Parse(bytes);
  EXPECT_EQ(m.GetLifetime().value_or(0), 600u);
  ASSERT_EQ(m.attributes.size(), 2u);
  EXPECT_EQ(m.attributes.back().type, attr::kMessageIntegrity);
  EXPECT_THAT(m.unknown_required, IsEmpty());
  EXPECT_TRUE(VerifyIntegrity(bytes, key).ok());

  // A FINGERPRINT after them is kept and covers everything before it.
  Bytes with_fingerprint = bytes;
  const Bytes placeholder(4);
  AppendRaw(with_fingerprint, attr::kFingerprint, placeholder);
  EXPECT_EQ(Parse(with_fingerprint).attributes.back().type, attr::kFingerprint);
  EXPECT_EQ(VerifyFingerprint(with_fingerprint).code(), absl::StatusCode::kInvalidArgument);
}

TEST(MalformedTest, MalformedAttributeValues) {
  auto message_with = [](uint16_t type, const Bytes& value) {
    Bytes bytes =
        Build(MessageBuilder(Method::kAllocate, MessageClass::kSuccessResponse, kTransactionId));
    AppendRaw(bytes, type, value);
    return Parse(bytes);
  };
  auto code = [](const absl::Status& s) { return s.code(); };
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

  EXPECT_EQ(code(message_with(attr::kLifetime, Bytes(3)).GetLifetime().status()), kInvalid);
  EXPECT_EQ(
      code(message_with(attr::kRequestedTransport, Bytes(1)).GetRequestedTransport().status()),
      kInvalid);
  EXPECT_EQ(code(message_with(attr::kChannelNumber, Bytes(2)).GetChannelNumber().status()),
            kInvalid);
  EXPECT_EQ(code(message_with(attr::kUnknownAttributes, Bytes(3)).GetUnknownAttributes().status()),
            kInvalid);
  EXPECT_EQ(code(message_with(attr::kNonce, Bytes(764, 'n')).GetNonce().status()), kInvalid);
  EXPECT_TRUE(message_with(attr::kNonce, Bytes(763, 'n')).GetNonce().ok());

  const Message short_address = message_with(attr::kXorRelayedAddress, Bytes{0, 1, 0});
  EXPECT_THAT(std::string(short_address.GetXorAddress(attr::kXorRelayedAddress).status().message()),
              HasSubstr("XOR-RELAYED-ADDRESS length 3"));
  EXPECT_EQ(code(message_with(attr::kXorRelayedAddress, Bytes{0, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
                     .GetXorAddress(attr::kXorRelayedAddress)
                     .status()),
            kInvalid);                                                // IPv4 with 8 address bytes
  EXPECT_EQ(code(message_with(attr::kXorRelayedAddress, Bytes(8, 0))  // IPv6 with 4
                     .GetXorAddress(attr::kXorRelayedAddress)
                     .status()),
            kInvalid);
  EXPECT_THAT(std::string(message_with(attr::kXorPeerAddress, Bytes{0, 3, 0, 0, 1, 2, 3, 4})
                              .GetXorAddress(attr::kXorPeerAddress)
                              .status()
                              .message()),
              HasSubstr("unknown address family 3"));

  EXPECT_EQ(code(message_with(attr::kErrorCode, Bytes{0, 0, 4}).GetErrorCode().status()), kInvalid);
  EXPECT_THAT(
      std::string(
          message_with(attr::kErrorCode, Bytes{0, 0, 7, 1}).GetErrorCode().status().message()),
      HasSubstr("class 7 number 1"));
  EXPECT_EQ(code(message_with(attr::kErrorCode, Bytes{0, 0, 4, 100}).GetErrorCode().status()),
            kInvalid);
  EXPECT_EQ(code(message_with(attr::kErrorCode, Bytes{0, 0, 2, 0}).GetErrorCode().status()),
            kInvalid);
  // The reserved bits before the class are ignored, as RFC 8489 §14.8 asks.
  EXPECT_EQ(message_with(attr::kErrorCode, Bytes{0xff, 0xff, 0xfc, 1}).GetErrorCode()->code, 401);
  // A reason padded with NULs (as coturn sends some) reads without them.
  EXPECT_EQ(
      message_with(attr::kErrorCode, Bytes{0, 0, 4, 37, 'B', 'a', 'd', 0}).GetErrorCode()->reason,
      "Bad");
}

// --- Stream framing ----------------------------------------------------------------------------

TEST(StreamFrameTest, NeedsMoreUntilTheSizeIsKnown) {
  for (size_t n = 0; n < 8; ++n) {
    absl::StatusOr<std::optional<StreamFrame>> frame =
        NextStreamFrame(std::span(kSampleRequest).first(n));
    ASSERT_TRUE(frame.ok()) << n << ": " << frame.status();
    EXPECT_FALSE(frame->has_value()) << n;
  }
  absl::StatusOr<std::optional<StreamFrame>> frame =
      NextStreamFrame(std::span(kSampleRequest).first(8));
  ASSERT_TRUE(frame.ok() && frame->has_value());
  EXPECT_FALSE((*frame)->channel_data);
  EXPECT_EQ((*frame)->size, kSampleRequest.size());
}

TEST(StreamFrameTest, SplitsAStreamIntoMessages) {
  const Bytes channel_data = {0x40, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0};
  Bytes stream = kSampleIpv4Response;
  stream.insert(stream.end(), channel_data.begin(), channel_data.end());
  stream.insert(stream.end(), kSampleLongTermRequest.begin(), kSampleLongTermRequest.end());

  std::vector<Bytes> stun;
  size_t channel_frames = 0;
  std::span<const uint8_t> rest(stream);
  while (!rest.empty()) {
    absl::StatusOr<std::optional<StreamFrame>> frame = NextStreamFrame(rest);
    ASSERT_TRUE(frame.ok() && frame->has_value());
    ASSERT_LE((*frame)->size, rest.size());
    if ((*frame)->channel_data) {
      ++channel_frames;
      EXPECT_EQ((*frame)->size, 12u);
    } else {
      stun.emplace_back(rest.begin(), rest.begin() + (*frame)->size);
    }
    rest = rest.subspan((*frame)->size);
  }
  EXPECT_EQ(channel_frames, 1u);
  EXPECT_THAT(stun, ElementsAre(kSampleIpv4Response, kSampleLongTermRequest));
}

TEST(StreamFrameTest, RejectsAStreamOutOfSync) {
  auto error = [](const Bytes& b) { return std::string(NextStreamFrame(b).status().message()); };
  EXPECT_THAT(error({0x80, 0, 0, 0, 0, 0, 0, 0}), HasSubstr("first byte 0x80"));
  EXPECT_THAT(error({0x50, 0x00, 0, 4}), HasSubstr("first byte 0x50"));
  EXPECT_THAT(error({0x00, 0x01, 0x00, 0x06, 0x21, 0x12, 0xa4, 0x42}),
              HasSubstr("length 6 on the stream is not a multiple of 4"));
  EXPECT_THAT(error({0x00, 0x01, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x43}),
              HasSubstr("magic cookie 0x2112a443"));
}

// --- Addresses and ids -------------------------------------------------------------------------

TEST(SocketAddressTest, ParsesFormatsAndConvertsToSockaddr) {
  EXPECT_EQ(Addr("127.0.0.1", 3478).ToString(), "127.0.0.1:3478");
  EXPECT_EQ(Addr("::1", 3478).ToString(), "[::1]:3478");
  EXPECT_EQ(Addr("192.0.2.1", 1).family, SocketAddress::Family::kIpv4);
  EXPECT_FALSE(SocketAddress::Parse("turn.example.net", 3478).ok());
  EXPECT_FALSE(SocketAddress::Parse("1.2.3.4:5", 5).ok());
  EXPECT_FALSE(SocketAddress::Parse("", 5).ok());

  for (const SocketAddress& a : {Addr("203.0.113.9", 49160), Addr("2001:db8::9", 65535)}) {
    sockaddr_storage storage;
    const socklen_t len = a.ToSockaddr(&storage);
    absl::StatusOr<SocketAddress> back =
        SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&storage), len);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, a);
  }
  sockaddr_storage storage;
  const socklen_t len = Addr("203.0.113.9", 80).ToSockaddr(&storage);
  const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
  EXPECT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(ntohs(in->sin_port), 80);
  EXPECT_EQ(ntohl(in->sin_addr.s_addr), 0xCB007109u);
  EXPECT_FALSE(
      SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&storage), len - 1).ok());
  storage.ss_family = AF_UNIX;
  EXPECT_FALSE(SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&storage), len).ok());
}

TEST(TransactionIdTest, IsRandom) {
  absl::StatusOr<TransactionId> a = NewTransactionId();
  absl::StatusOr<TransactionId> b = NewTransactionId();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

// --- Fuzz ----------------------------------------------------------------------------------------

// Exercises everything a receiver would call on hostile bytes; any out-of-bounds read shows up
// under ASan, and the checks below catch a parser that accepts what its own rules forbid.
void Probe(std::span<const uint8_t> bytes, int& accepted) {
  (void)NextStreamFrame(bytes);
  (void)VerifyIntegrity(bytes, ShortTermKey(kShortTermPassword));
  (void)VerifyFingerprint(bytes);
  absl::StatusOr<Message> m = ParseMessage(bytes);
  if (!m.ok()) {
    EXPECT_FALSE(m.status().message().empty());
    return;
  }
  ++accepted;
  ASSERT_GE(bytes.size(), kHeaderSize);
  EXPECT_EQ((bytes.size() - kHeaderSize) % 4, 0u);
  EXPECT_EQ(bytes[0] & 0xC0, 0);
  size_t total = 0;
  for (const Attribute& a : m->attributes) total += 4 + (a.value.size() + 3) / 4 * 4;
  EXPECT_LE(total, bytes.size() - kHeaderSize);
  for (uint16_t type : {attr::kXorMappedAddress, attr::kXorRelayedAddress, attr::kXorPeerAddress}) {
    if (absl::StatusOr<SocketAddress> a = m->GetXorAddress(type); a.ok()) (void)a->ToString();
  }
  (void)m->GetLifetime();
  (void)m->GetRequestedTransport();
  (void)m->GetUsername();
  (void)m->GetRealm();
  (void)m->GetNonce();
  (void)m->GetSoftware();
  (void)m->GetData();
  (void)m->GetErrorCode();
  (void)m->GetUnknownAttributes();
  (void)m->GetChannelNumber();
}

TEST(FuzzTest, MutatedMessagesNeverCrash) {
  const Bytes key = ShortTermKey(kShortTermPassword);
  const std::vector<Bytes> seeds = {
      kSampleRequest, kSampleIpv4Response, kSampleIpv6Response, kSampleLongTermRequest,
      Build(MessageBuilder(Method::kAllocate, MessageClass::kErrorResponse, kTransactionId)
                .AddErrorCode(401, "Unauthorized")
                .AddRealm("example.org")
                .AddNonce("abc")
                .AddXorAddress(attr::kXorRelayedAddress, Addr("2001:db8::1", 5))
                .AddData(Bytes(13, 7))
                .WithIntegrity(key)
                .WithFingerprint())};
  std::mt19937 rng(5769);  // fixed: a failure must reproduce
  auto below = [&rng](size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  };
  int accepted = 0;
  int rejected = 0;
  for (int i = 0; i < 30000; ++i) {
    Bytes b = seeds[below(seeds.size())];
    switch (i % 6) {
      case 0:  // flip a few bits
        for (int k = 0, n = 1 + static_cast<int>(below(4)); k < n; ++k)
          b[below(b.size())] ^= 1 << below(8);
        break;
      case 1:  // truncate
        b.resize(below(b.size() + 1));
        break;
      case 2:  // random attribute length, header kept consistent so the walk goes deep
        if (b.size() > 24) {
          const size_t at = kHeaderSize + 4 * below((b.size() - kHeaderSize) / 4);
          b[at + 2] = static_cast<uint8_t>(below(256));
          b[at + 3] = static_cast<uint8_t>(below(256));
        }
        break;
      case 3:  // cut at a 4-byte boundary and fix the header length
        b.resize(kHeaderSize + 4 * below((b.size() - kHeaderSize) / 4 + 1));
        SetLength(b, b.size() - kHeaderSize);
        break;
      case 4:  // random attribute soup behind a valid header
        b.resize(kHeaderSize + 4 * below(40));
        for (size_t k = kHeaderSize; k < b.size(); ++k) b[k] = static_cast<uint8_t>(below(256));
        SetLength(b, b.size() - kHeaderSize);
        break;
      default:  // random bytes
        b.resize(below(120));
        for (uint8_t& byte : b) byte = static_cast<uint8_t>(below(256));
        break;
    }
    const int before = accepted;
    Probe(b, accepted);
    if (accepted == before) ++rejected;
    if (HasFailure()) {
      ADD_FAILURE() << "iteration " << i;
      return;
    }
  }
  // Both paths must have been exercised for the loop to mean anything.
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(rejected, 1000);
}

}  // namespace
}  // namespace advisor::turn
