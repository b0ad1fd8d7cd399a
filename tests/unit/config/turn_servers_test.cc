// The TURN servers file: the documented shape in YAML and JSON, and an error that names the place
// (and never a secret) for every mistake.
#include "lib/config/turn_servers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/status/status.h"

namespace advisor::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kSecret[] = "s3cr3t-do-not-print";

// The error of a parse that must fail; "" (and a test failure) if it succeeds.
std::string Error(const std::string& yaml) {
  absl::StatusOr<std::vector<TurnServerConfig>> servers = ParseTurnServers(yaml);
  EXPECT_FALSE(servers.ok()) << yaml;
  if (servers.ok()) return "";
  EXPECT_EQ(servers.status().code(), absl::StatusCode::kInvalidArgument) << servers.status();
  EXPECT_THAT(servers.status().message(), Not(HasSubstr(kSecret)));
  return std::string(servers.status().message());
}

std::vector<TurnServerConfig> Parse(const std::string& yaml) {
  absl::StatusOr<std::vector<TurnServerConfig>> servers = ParseTurnServers(yaml);
  EXPECT_TRUE(servers.ok()) << servers.status();
  return servers.ok() ? *servers : std::vector<TurnServerConfig>{};
}

// A file of one server whose entry is `entry` (a flow map's inside), after a valid first one.
std::string SecondServer(const std::string& entry) {
  return std::string("servers:\n") +
         "  - {id: ok, urls: [\"turn:ok.example.net\"], auth: {rest_secret: x}}\n" + "  - {" +
         entry + "}\n";
}

TEST(TurnServersTest, ParsesTheDocumentedShape) {
  const std::vector<TurnServerConfig> servers = Parse(R"(
servers:
  - id: eu-1
    urls: ["turn:turn-eu-1.example.net:3478?transport=udp", "turns:turn-eu-1.example.net:5349?transport=tcp"]
    region: eu
    auth: {rest_secret: "s3cr3t-do-not-print"}
    enabled: true
  - id: us_2.b
    urls:
      - turn:198.51.100.7?transport=tcp
    auth:
      username: alice
      password: wonderland
    enabled: false
)");
  ASSERT_EQ(servers.size(), 2u);
  const TurnServerConfig& eu = servers[0];
  EXPECT_EQ(eu.id, "eu-1");
  EXPECT_THAT(eu.urls, ElementsAre("turn:turn-eu-1.example.net:3478?transport=udp",
                                   "turns:turn-eu-1.example.net:5349?transport=tcp"));
  EXPECT_EQ(eu.region, "eu");
  EXPECT_EQ(eu.auth.rest_secret, kSecret);
  EXPECT_EQ(eu.auth.username, "");
  EXPECT_TRUE(eu.enabled);
  ASSERT_EQ(eu.parsed_urls.size(), 2u);
  EXPECT_EQ(eu.parsed_urls[0].host, "turn-eu-1.example.net");
  EXPECT_EQ(eu.parsed_urls[0].port, 3478);
  EXPECT_EQ(eu.parsed_urls[0].transport, turn::Transport::kUdp);
  EXPECT_TRUE(eu.parsed_urls[1].secure);
  EXPECT_EQ(eu.parsed_urls[1].port, 5349);
  EXPECT_EQ(eu.parsed_urls[1].transport, turn::Transport::kTls);

  const TurnServerConfig& us = servers[1];
  EXPECT_EQ(us.id, "us_2.b");
  EXPECT_EQ(us.region, "");
  EXPECT_EQ(us.auth.rest_secret, "");
  EXPECT_EQ(us.auth.username, "alice");
  EXPECT_EQ(us.auth.password, "wonderland");
  EXPECT_FALSE(us.enabled);
  ASSERT_EQ(us.parsed_urls.size(), 1u);
  EXPECT_EQ(us.parsed_urls[0].host, "198.51.100.7");
  EXPECT_EQ(us.parsed_urls[0].transport, turn::Transport::kTcp);
}

TEST(TurnServersTest, AcceptsJson) {
  const std::vector<TurnServerConfig> servers = Parse(R"({
    "servers": [
      {"id": "eu-1", "urls": ["turn:127.0.0.1:3478"], "region": "eu",
       "auth": {"rest_secret": "abc"}}
    ]
  })");
  ASSERT_EQ(servers.size(), 1u);
  EXPECT_EQ(servers[0].id, "eu-1");
  EXPECT_EQ(servers[0].auth.rest_secret, "abc");
  EXPECT_TRUE(servers[0].enabled);  // the default
}

TEST(TurnServersTest, NoServersIsAnEmptyList) {
  EXPECT_THAT(Parse(""), IsEmpty());
  EXPECT_THAT(Parse("# TURN is not used here\n"), IsEmpty());
  EXPECT_THAT(Parse("servers:\n"), IsEmpty());
  EXPECT_THAT(Parse("servers: []\n"), IsEmpty());
  EXPECT_THAT(Parse("{}"), IsEmpty());
}

TEST(TurnServersTest, BadUrlNamesItsPlace) {
  const std::string error =
      Error(SecondServer("id: b, auth: {rest_secret: x}, urls: [\"turn:a.example.net\", "
                         "\"turn:b.example.net?transport=sctp\"]"));
  EXPECT_THAT(error, HasSubstr("servers[1].urls[1]: "));
  EXPECT_THAT(error, HasSubstr("sctp"));
  EXPECT_THAT(Error(SecondServer("id: b, auth: {rest_secret: x}, urls: [\"http://x\"]")),
              HasSubstr("servers[1].urls[0]: "));
}

TEST(TurnServersTest, UrlsAreRequiredAndNonEmpty) {
  EXPECT_THAT(Error(SecondServer("id: b, auth: {rest_secret: x}")),
              HasSubstr("servers[1].urls: required"));
  EXPECT_THAT(Error(SecondServer("id: b, auth: {rest_secret: x}, urls: []")),
              HasSubstr("servers[1].urls: needs at least one url"));
  EXPECT_THAT(Error(SecondServer("id: b, auth: {rest_secret: x}, urls: \"turn:x\"")),
              HasSubstr("servers[1].urls: expected a list"));
  EXPECT_THAT(Error(SecondServer("id: b, auth: {rest_secret: x}, urls: [[\"turn:x\"]]")),
              HasSubstr("servers[1].urls[0]: expected a string"));
}

TEST(TurnServersTest, DuplicateIdsAreRefused) {
  EXPECT_EQ(Error(SecondServer("id: ok, auth: {rest_secret: x}, urls: [\"turn:x\"]")),
            "servers[1].id: duplicate id \"ok\" (also servers[0])");
}

TEST(TurnServersTest, IdCharset) {
  const std::string urls = ", auth: {rest_secret: x}, urls: [\"turn:x\"]";
  EXPECT_THAT(Error(SecondServer("id: \"eu 1\"" + urls)), HasSubstr("servers[1].id: \"eu 1\""));
  EXPECT_THAT(Error(SecondServer("id: \"eu/1\"" + urls)), HasSubstr("servers[1].id:"));
  EXPECT_THAT(Error(SecondServer("id: \"ü\"" + urls)), HasSubstr("servers[1].id:"));
  EXPECT_THAT(Error(SecondServer("id: \"\"" + urls)), HasSubstr("servers[1].id: required"));
  EXPECT_THAT(Error(SecondServer(urls.substr(2))), HasSubstr("servers[1].id: required"));
  EXPECT_THAT(Error(SecondServer("id: [a]" + urls)), HasSubstr("servers[1].id: expected a string"));
  EXPECT_THAT(Error(SecondServer("id: " + std::string(65, 'a') + urls)),
              HasSubstr("servers[1].id:"));
  EXPECT_THAT(Parse(SecondServer("id: " + std::string(64, 'a') + urls)), Not(IsEmpty()));
  EXPECT_THAT(Parse(SecondServer("id: A-z_0.9" + urls)), Not(IsEmpty()));
  // A numeric id is a string of digits, not an error.
  EXPECT_THAT(Parse(SecondServer("id: 42" + urls)), Not(IsEmpty()));
}

TEST(TurnServersTest, RegionCharset) {
  EXPECT_THAT(
      Error(SecondServer("id: b, region: \"eu west\", auth: {rest_secret: x}, urls: [\"turn:x\"]")),
      HasSubstr("servers[1].region:"));
}

TEST(TurnServersTest, ExactlyOneAuthKind) {
  const std::string base = "id: b, urls: [\"turn:x\"]";
  EXPECT_THAT(Error(SecondServer(base)), HasSubstr("servers[1].auth: required"));
  EXPECT_THAT(Error(SecondServer(base + ", auth: {}")),
              HasSubstr("servers[1].auth: needs rest_secret, or username and password"));
  const std::string both = Error(SecondServer(base + ", auth: {rest_secret: " + kSecret +
                                              ", username: u, password: " + kSecret + "}"));
  EXPECT_THAT(both, HasSubstr("servers[1].auth: either rest_secret or username and password"));
  EXPECT_THAT(Error(SecondServer(base + ", auth: {username: u}")),
              HasSubstr("servers[1].auth: username without password"));
  EXPECT_THAT(Error(SecondServer(base + ", auth: {password: " + kSecret + "}")),
              HasSubstr("servers[1].auth: password without username"));
  EXPECT_THAT(Error(SecondServer(base + ", auth: {rest_secret: \"\"}")),
              HasSubstr("servers[1].auth.rest_secret: must not be empty"));
  EXPECT_THAT(Error(SecondServer(base + ", auth: {rest_secret: }")),
              HasSubstr("servers[1].auth.rest_secret: must not be empty"));
  EXPECT_THAT(Error(SecondServer(base + ", auth: {rest_secret: [a]}")),
              HasSubstr("servers[1].auth.rest_secret: expected a string"));
  EXPECT_THAT(Error(SecondServer(base + ", auth: " + kSecret)),
              HasSubstr("servers[1].auth: expected a map"));
}

TEST(TurnServersTest, UnknownKeysAreRefused) {
  // A typo in the auth block must not leave the server without credentials.
  EXPECT_THAT(Error(SecondServer("id: b, urls: [\"turn:x\"], auth: {rest_secret: x, "
                                 "pasword: y}")),
              HasSubstr("servers[1].auth: unknown key"));
  EXPECT_THAT(Error(SecondServer("id: b, urls: [\"turn:x\"], auth: {rest_secret: x}, "
                                 "enable: false")),
              HasSubstr("servers[1]: unknown key \"enable\""));
  EXPECT_THAT(Error("server: []\n"), HasSubstr("unknown key \"server\""));
}

TEST(TurnServersTest, UnknownKeysThatMayHoldASecretAreNotQuoted) {
  // A flow map written without its colon's space reads as one key holding the secret.
  EXPECT_THAT(Error(SecondServer(std::string("id: b, urls: [\"turn:x\"], auth: {rest_secret:") +
                                 kSecret + "}")),
              HasSubstr("servers[1].auth: unknown key (expected"));
  EXPECT_THAT(Error(SecondServer(std::string("id: b, urls: [\"turn:x\"], rest_secret:") + kSecret)),
              HasSubstr("servers[1]: unknown key (expected"));
  // Under auth not even a key that looks like one is quoted: every value there is secret.
  EXPECT_EQ(Error(SecondServer(std::string("id: b, urls: [\"turn:x\"], auth: {rest_secret: x, ") +
                               "s3cr3t}")),
            "servers[1].auth: unknown key (expected rest_secret, username, password)");
}

TEST(TurnServersTest, KeysGivenTwiceAreRefused) {
  EXPECT_THAT(Error(SecondServer("id: b, id: c, urls: [\"turn:x\"], auth: {rest_secret: x}")),
              HasSubstr("servers[1]: \"id\" given twice"));
}

TEST(TurnServersTest, Enabled) {
  const std::string base = "id: b, urls: [\"turn:x\"], auth: {rest_secret: x}";
  EXPECT_FALSE(Parse(SecondServer(base + ", enabled: false")).at(1).enabled);
  EXPECT_TRUE(Parse(SecondServer(base + ", enabled: true")).at(1).enabled);
  EXPECT_THAT(Error(SecondServer(base + ", enabled: maybe")),
              HasSubstr("servers[1].enabled: expected true or false"));
}

TEST(TurnServersTest, WrongShapes) {
  EXPECT_THAT(Error("- a\n- b\n"), HasSubstr("expected a map"));
  EXPECT_THAT(Error("servers: {id: a}\n"), HasSubstr("servers: expected a list"));
  EXPECT_THAT(Error("servers: [a]\n"), HasSubstr("servers[0]: expected a map"));
}

TEST(TurnServersTest, SyntaxErrorsAreStatusesWithAPosition) {
  const std::string error =
      Error(std::string("servers:\n  - {id: a, auth: {rest_secret: ") + kSecret + "\n  - [\n");
  EXPECT_THAT(error, HasSubstr("invalid YAML at line"));
}

class TurnServersFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/turn_servers_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    std::remove((dir_ + "/servers.yaml").c_str());
    rmdir(dir_.c_str());
  }
  std::string Write(const std::string& text) {
    const std::string path = dir_ + "/servers.yaml";
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(TurnServersFileTest, LoadsAFile) {
  const std::string path =
      Write("servers:\n  - {id: a, urls: [\"turn:127.0.0.1\"], auth: {rest_secret: x}}\n");
  absl::StatusOr<std::vector<TurnServerConfig>> servers = LoadTurnServersFile(path);
  ASSERT_TRUE(servers.ok()) << servers.status();
  ASSERT_EQ(servers->size(), 1u);
  EXPECT_EQ(servers->at(0).id, "a");
}

TEST_F(TurnServersFileTest, ErrorsStartWithThePath) {
  const std::string path = Write("servers:\n  - {id: a, urls: [], auth: {rest_secret: x}}\n");
  absl::StatusOr<std::vector<TurnServerConfig>> servers = LoadTurnServersFile(path);
  ASSERT_FALSE(servers.ok());
  EXPECT_EQ(servers.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(servers.status().message(), path + ": servers[0].urls: needs at least one url");
}

TEST_F(TurnServersFileTest, MissingFileNamesThePath) {
  const std::string path = dir_ + "/nope.yaml";
  absl::StatusOr<std::vector<TurnServerConfig>> servers = LoadTurnServersFile(path);
  ASSERT_FALSE(servers.ok());
  EXPECT_EQ(servers.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(servers.status().message(), HasSubstr(path));
  EXPECT_THAT(servers.status().message(), HasSubstr("No such file"));
}

TEST_F(TurnServersFileTest, DirectoryIsAnError) {
  absl::StatusOr<std::vector<TurnServerConfig>> servers = LoadTurnServersFile(dir_);
  ASSERT_FALSE(servers.ok());
  EXPECT_THAT(servers.status().message(), HasSubstr(dir_));
}

}  // namespace
}  // namespace advisor::config
