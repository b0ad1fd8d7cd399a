// The TLS settings of lib/config/tls.h and client_tls.h: the client's TLS flags and variables, the
// channel credentials they make (and the contradictions they refuse), and the server's certificate
// files.
#include "lib/config/tls.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/config/client_tls.h"
#include "lib/config/flags.h"

namespace advisor::config {
namespace {

using ::testing::HasSubstr;

// A fixed environment, so tests never depend on the variables of the machine running them.
EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// A file in a fresh temp dir holding `contents`.
std::string TempFile(const std::string& name, const std::string& contents) {
  static const std::string dir = [] {
    std::string pattern = "/tmp/tls-config-test-XXXXXX";
    return std::string(mkdtemp(pattern.data()));
  }();
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
  return path;
}

TEST(ClientTlsFlags, ParseFromFlagsAndVariables) {
  absl::FlagSaver saver;
  FlagSet flags("x", "y");
  RegisterClientTlsFlags(flags);
  const ClientTlsFiles defaults = ClientTlsFlags();
  EXPECT_EQ(defaults.ca_file, "");
  EXPECT_FALSE(defaults.insecure);
  for (const char* text : {"--ca-file=STRING", "ADVISOR_CA_FILE", "--cert-file=STRING",
                           "ADVISOR_CERT_FILE", "--key-file=STRING", "ADVISOR_KEY_FILE",
                           "--insecure ", "ADVISOR_INSECURE", "default false"}) {
    EXPECT_THAT(flags.Help(), HasSubstr(text));
  }
  ASSERT_TRUE(flags
                  .Parse(std::vector<std::string>{"--ca-file=/ca.pem", "--cert-file", "/c.pem"},
                         Env({{"ADVISOR_KEY_FILE", "/c.key"}, {"ADVISOR_INSECURE", "true"}}))
                  .ok());
  const ClientTlsFiles files = ClientTlsFlags();
  EXPECT_EQ(files.ca_file, "/ca.pem");
  EXPECT_EQ(files.cert_file, "/c.pem");
  EXPECT_EQ(files.key_file, "/c.key");
  EXPECT_TRUE(files.insecure);
}

TEST(ClientTlsFlags, CredentialsRefuseContradictionsAndUnreadableFiles) {
  auto error = [](ClientTlsFiles files) {
    auto credentials = MakeChannelCredentials(files);
    return credentials.ok() ? std::string() : std::string(credentials.status().message());
  };
  ClientTlsFiles files;
  EXPECT_EQ(error(files), "");  // the system roots
  files.insecure = true;
  EXPECT_EQ(error(files), "");
  files.ca_file = "/ca.pem";
  EXPECT_THAT(error(files), HasSubstr("--insecure"));
  files = {};
  files.cert_file = "/c.pem";
  EXPECT_THAT(error(files), HasSubstr("go together"));
  files = {};
  files.ca_file = "/nonexistent/ca.pem";
  EXPECT_THAT(error(files), HasSubstr("--ca-file /nonexistent/ca.pem: cannot read"));
  files.ca_file = TempFile("not-a-ca.pem", "hello");
  EXPECT_THAT(error(files), HasSubstr("no PEM certificate"));
}

TEST(ServerTlsFiles, CertificateAndKeyGoTogether) {
  ServerTlsFiles files;
  EXPECT_TRUE(CheckServerTlsFiles(files).ok());  // plaintext: the server decides on --insecure
  files.cert_file = "/tls.crt";
  EXPECT_THAT(std::string(CheckServerTlsFiles(files).message()), HasSubstr("--tls-key-file"));
  files = {};
  files.client_ca_file = "/ca.pem";
  EXPECT_THAT(std::string(CheckServerTlsFiles(files).message()),
              HasSubstr("--tls-client-ca-file needs --tls-cert-file"));
}

}  // namespace
}  // namespace advisor::config
