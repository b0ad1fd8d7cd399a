// Fuzz target: the STUN/TURN codec on untrusted bytes. Whatever parses must survive every typed
// getter, and must rebuild (MessageBuilder, with MESSAGE-INTEGRITY and FINGERPRINT) into bytes that
// parse back to the same attributes and verify; the same bytes are also cut as a TCP stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "lib/turn/message.h"

namespace {

using namespace advisor::turn;

void Check(bool ok, const char* what) {
  if (!ok) {
    __builtin_printf("round trip broken: %s\n", what);
    abort();
  }
}

void UseGetters(const Message& m) {
  (void)m.GetXorAddress(attr::kXorMappedAddress);
  (void)m.GetXorAddress(attr::kXorRelayedAddress);
  (void)m.GetXorAddress(attr::kXorPeerAddress);
  (void)m.GetLifetime();
  (void)m.GetRequestedTransport();
  (void)m.GetUsername();
  (void)m.GetRealm();
  (void)m.GetNonce();
  (void)m.GetSoftware();
  (void)m.GetData();
  (void)m.GetErrorCode();
  (void)m.GetUnknownAttributes();
  (void)m.GetChannelNumber();
  (void)MethodName(m.method);
  for (const Attribute& a : m.attributes) (void)AttributeName(a.type);
}

void RoundTrip(const Message& m) {
  const std::vector<uint8_t> key = {'f', 'u', 'z', 'z'};
  MessageBuilder builder(m.method, m.message_class, m.transaction_id);
  std::vector<const Attribute*> kept;
  for (const Attribute& a : m.attributes) {
    if (a.type == attr::kMessageIntegrity || a.type == attr::kFingerprint) continue;
    builder.AddAttribute(a.type, a.value);
    kept.push_back(&a);
  }
  absl::StatusOr<std::vector<uint8_t>> bytes = builder.WithIntegrity(key).WithFingerprint().Build();
  // Too long once the trailer is added, or a second MESSAGE-INTEGRITY-SHA256: refused, not wrong.
  if (!bytes.ok()) return;
  absl::StatusOr<Message> again = ParseMessage(*bytes);
  Check(again.ok(), "builder output does not parse");
  Check(VerifyIntegrity(*bytes, key).ok(), "builder output fails MESSAGE-INTEGRITY");
  Check(VerifyFingerprint(*bytes).ok(), "builder output fails FINGERPRINT");
  Check(again->method == m.method && again->message_class == m.message_class &&
            again->transaction_id == m.transaction_id,
        "header changed");
  std::vector<const Attribute*> got;
  for (const Attribute& a : again->attributes) {
    if (a.type == attr::kMessageIntegrity || a.type == attr::kFingerprint) continue;
    got.push_back(&a);
  }
  // MESSAGE-INTEGRITY-SHA256 moves behind MESSAGE-INTEGRITY; everything else keeps its order.
  std::vector<const Attribute*> want;
  for (const Attribute* a : kept) {
    if (a->type != attr::kMessageIntegritySha256) want.push_back(a);
  }
  for (const Attribute* a : kept) {
    if (a->type == attr::kMessageIntegritySha256) want.push_back(a);
  }
  Check(got.size() == want.size(), "attribute count changed");
  for (size_t i = 0; i < got.size(); ++i) {
    Check(got[i]->type == want[i]->type && got[i]->value == want[i]->value, "attribute changed");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  absl::StatusOr<Message> m = ParseMessage(input);
  (void)VerifyIntegrity(input, std::vector<uint8_t>{'k'});
  (void)VerifyFingerprint(input);
  if (m.ok()) {
    UseGetters(*m);
    RoundTrip(*m);
  }
  // The same bytes as a stream: frames are cut until the stream ends or loses sync.
  std::span<const uint8_t> stream = input;
  for (;;) {
    absl::StatusOr<std::optional<StreamFrame>> frame = NextStreamFrame(stream);
    if (!frame.ok() || !frame->has_value() || (*frame)->size > stream.size()) break;
    Check((*frame)->size > 0, "empty frame");
    if (!(*frame)->channel_data) (void)ParseMessage(stream.first((*frame)->size));
    stream = stream.subspan((*frame)->size);
  }
  return 0;
}
