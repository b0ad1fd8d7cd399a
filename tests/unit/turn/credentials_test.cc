// Unit tests of TURN credentials: REST API credentials against values computed independently with
// the openssl command line, and the long-term key of RFC 5769 §2.4.
#include "lib/turn/credentials.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace advisor::turn {
namespace {

using ::testing::HasSubstr;

constexpr char kSecret[] = "example-rest-secret";
const absl::Time kNow = absl::FromUnixSeconds(1700000000);

TEST(RestCredentialsTest, MatchesOpenSslComputation) {
  absl::StatusOr<RestCredentials> c = MakeRestCredentials(kSecret, "alice", kNow, absl::Hours(1));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->username, "1700003600:alice");
  // printf %s "1700003600:alice" | openssl dgst -binary -sha1 -hmac "example-rest-secret" | base64
  EXPECT_EQ(c->password, "Li0Myz8gH7mPTqW4iXLFQsTrCw0=");
  EXPECT_EQ(c->expires_at, absl::FromUnixSeconds(1700003600));
}

TEST(RestCredentialsTest, WithoutUserTheUsernameIsTheExpiry) {
  absl::StatusOr<RestCredentials> c = MakeRestCredentials(kSecret, "", kNow, absl::Hours(1));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->username, "1700003600");
  // printf %s "1700003600" | openssl dgst -binary -sha1 -hmac "example-rest-secret" | base64
  EXPECT_EQ(c->password, "hFZXLV+CGKD+IqOqI9te22ytsb0=");
}

TEST(RestCredentialsTest, ExpiryRoundsDownToWholeSeconds) {
  absl::StatusOr<RestCredentials> c =
      MakeRestCredentials(kSecret, "alice", kNow + absl::Milliseconds(999), absl::Hours(1));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->username, "1700003600:alice");
  EXPECT_EQ(c->expires_at, absl::FromUnixSeconds(1700003600));
}

TEST(RestCredentialsTest, DifferentSecretsOrUsersGiveDifferentPasswords) {
  const std::string base = MakeRestCredentials(kSecret, "alice", kNow, absl::Hours(1))->password;
  EXPECT_NE(MakeRestCredentials("other", "alice", kNow, absl::Hours(1))->password, base);
  EXPECT_NE(MakeRestCredentials(kSecret, "bob", kNow, absl::Hours(1))->password, base);
  EXPECT_NE(MakeRestCredentials(kSecret, "alice", kNow, absl::Hours(2))->password, base);
  // A user with ':' is kept whole; coturn takes the time from before the first ':'.
  EXPECT_EQ(MakeRestCredentials(kSecret, "a:b", kNow, absl::Hours(1))->username, "1700003600:a:b");
}

TEST(RestCredentialsTest, RejectsInvalidArguments) {
  EXPECT_THAT(
      std::string(MakeRestCredentials("", "alice", kNow, absl::Hours(1)).status().message()),
      HasSubstr("secret is empty"));
  EXPECT_EQ(MakeRestCredentials(kSecret, "alice", kNow, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeRestCredentials(kSecret, "alice", kNow, -absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(MakeRestCredentials(kSecret, "alice", absl::FromUnixSeconds(-7200),
                                              absl::Hours(1))
                              .status()
                              .message()),
              HasSubstr("before 1970"));
}

TEST(LongTermKeyTest, Rfc5769SampleKey) {
  // printf %s "マトリックス:example.org:TheMatrIX" | openssl dgst -md5
  const std::vector<uint8_t> expected = {0xe8, 0xca, 0x7a, 0xd5, 0x9d, 0x5e, 0xb0, 0x51,
                                         0x8e, 0x31, 0x29, 0x11, 0xd2, 0xda, 0xb2, 0xa9};
  absl::StatusOr<std::vector<uint8_t>> key =
      LongTermKey("\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9",
                  "example.org", "TheMatrIX");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, expected);
}

TEST(ShortTermKeyTest, IsThePasswordBytes) {
  EXPECT_EQ(ShortTermKey("pw"), (std::vector<uint8_t>{'p', 'w'}));
  EXPECT_TRUE(ShortTermKey("").empty());
}

}  // namespace
}  // namespace advisor::turn
