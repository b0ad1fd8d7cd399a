// advisor-sim's install identities (identity.h): one JWT per simulated install, verifiable by the
// server's verifier, reused until near its expiry.
#include "services/sim/identity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "lib/auth/jwks.h"
#include "lib/auth/jwt.h"

namespace advisor::sim {
namespace {

using ::testing::HasSubstr;

class InstallCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto jwks = auth::GenerateJwks("HS256", "sim-key");
    ASSERT_TRUE(jwks.ok()) << jwks.status();
    // One file per process: ctest runs these tests side by side.
    keys_file_ = std::filesystem::path(::testing::TempDir()) /
                 absl::StrCat("sim_install_keys_", getpid(), ".jwks");
    std::ofstream(keys_file_) << *jwks;
    auto keys = auth::KeySet::FromJson(*jwks);
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
  }
  void TearDown() override { std::filesystem::remove(keys_file_); }

  // The subject the server would see for `jwt` at `now`.
  std::string SubjectOf(const std::string& jwt, absl::Time now) {
    auth::VerifierOptions options;
    options.keys_file = keys_file_.string();
    auto verifier = auth::JwtVerifier::Create(options);
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    if (!verifier.ok()) return "";
    auto principal = (*verifier)->Verify(jwt, now);
    EXPECT_TRUE(principal.ok()) << principal.status();
    return principal.ok() ? principal->subject : "";
  }

  std::filesystem::path keys_file_;
  auth::KeySet keys_;
};

TEST_F(InstallCredentialsTest, OneVerifiableJwtPerInstallReusedUntilNearExpiry) {
  auto credentials = InstallCredentials::Create(keys_, "", absl::Hours(1));
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ((*credentials)->kid(), "sim-key");
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto first = (*credentials)->Jwt(7, now);
  auto reused = (*credentials)->Jwt(7, now + absl::Minutes(50));
  auto other = (*credentials)->Jwt(8, now);
  auto renewed = (*credentials)->Jwt(7, now + absl::Minutes(55));
  ASSERT_TRUE(first.ok() && reused.ok() && other.ok() && renewed.ok());
  EXPECT_EQ(*first, *reused);
  EXPECT_NE(*first, *other);
  EXPECT_NE(*first, *renewed);
  EXPECT_EQ(SubjectOf(*first, now), InstallSubject(7));
  EXPECT_EQ(SubjectOf(*other, now), InstallSubject(8));
  EXPECT_EQ(SubjectOf(*renewed, now + absl::Minutes(55)), InstallSubject(7));
  EXPECT_NE(InstallSubject(7), InstallSubject(8));
}

TEST_F(InstallCredentialsTest, RefusesAnUnknownKid) {
  auto credentials = InstallCredentials::Create(keys_, "no-such-key");
  ASSERT_FALSE(credentials.ok());
  EXPECT_THAT(credentials.status().message(), HasSubstr("no-such-key"));
}

}  // namespace
}  // namespace advisor::sim
