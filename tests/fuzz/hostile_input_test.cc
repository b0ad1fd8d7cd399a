// Regression tests for what fuzzing found in the STUN codec: a message the builder itself produced
// must verify whatever order its attributes were added in. (Inputs that once crashed a parser live
// under tests/fuzz/crashes/ and are replayed by the fuzz_replay.* tests.)
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/turn/message.h"

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

}  // namespace
}  // namespace advisor::turn
