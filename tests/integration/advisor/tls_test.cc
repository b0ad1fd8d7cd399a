// advisor-server over real TLS on loopback, with certificates made by the openssl CLI in the test's
// temp dir: refusal without a certificate, CA-verified clients, mTLS, certificates renewed in place
// while serving, session resumption, and the connection limits (streams, idle, age) that keep slow
// and idle clients bounded.
#include "lib/config/tls.h"

#include <gmock/gmock.h>
#include <grpc/grpc_security_constants.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "services/advisor/server.h"
#include "tests/support/advisor_server.h"
#include "tests/support/process.h"

namespace advisor {
namespace {

namespace v1 = connectivity::advisor::v1;
using ::testing::HasSubstr;

config::ClientTlsFiles Plaintext() {
  config::ClientTlsFiles files;
  files.insecure = true;
  return files;
}

// TLS trusting `ca_file` (empty: the system roots), with a client certificate when given.
config::ClientTlsFiles Trusting(std::string ca_file, std::string cert_file = "",
                                std::string key_file = "") {
  config::ClientTlsFiles files;
  files.ca_file = std::move(ca_file);
  files.cert_file = std::move(cert_file);
  files.key_file = std::move(key_file);
  return files;
}

class TlsTest : public testing::AdvisorServerTest {
 protected:
  void SetUp() override {
    AdvisorServerTest::SetUp();
    options_.insecure = false;
    ASSERT_NO_FATAL_FAILURE(MakeCa("ca"));
    ASSERT_NO_FATAL_FAILURE(MakeCert("ca", "server", "localhost"));
    options_.tls.cert_file = Path("server.pem");
    options_.tls.key_file = Path("server.key");
  }

  std::string Path(const std::string& name) const { return absl::StrCat(dir_, "/", name); }

  void Openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    std::string out;
    auto code = testing::Run(args, &out);
    ASSERT_TRUE(code.ok()) << code.status();
    ASSERT_EQ(*code, 0) << out;
  }

  // `name`.pem and `name`.key: a self-signed ECDSA P-256 CA.
  void MakeCa(const std::string& name) {
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", Path(name + ".key"), "-out", Path(name + ".pem"), "-days", "1", "-subj",
             "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"});
  }

  // `name`.pem and `name`.key, signed by `ca`, for localhost and 127.0.0.1.
  void MakeCert(const std::string& ca, const std::string& name, const std::string& cn) {
    std::ofstream(Path("ext.cnf")) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                   << "basicConstraints=CA:FALSE\n"
                                   << "extendedKeyUsage=serverAuth,clientAuth\n";
    Openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", Path(name + ".key"), "-out", Path(name + ".csr"), "-subj", "/CN=" + cn});
    Openssl({"x509", "-req", "-in", Path(name + ".csr"), "-CA", Path(ca + ".pem"), "-CAkey",
             Path(ca + ".key"), "-set_serial", absl::StrCat(++serial_), "-days", "1", "-extfile",
             Path("ext.cnf"), "-out", Path(name + ".pem")});
  }

  // A channel of its own (no subchannel sharing) to server_ with `files`, and `args` besides.
  std::shared_ptr<grpc::Channel> Channel(const config::ClientTlsFiles& files,
                                         bool session_cache = false,
                                         grpc::ChannelArguments args = {}) {
    auto credentials = config::MakeChannelCredentials(files);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    if (session_cache) config::UseSharedSessionCache(args);
    return grpc::CreateCustomChannel(target(*server_), credentials.ok() ? *credentials : nullptr,
                                     args);
  }

  grpc::Status GetStrategy(const std::shared_ptr<grpc::Channel>& channel,
                           grpc::ClientContext* context = nullptr) {
    grpc::ClientContext own;
    if (context == nullptr) context = &own;
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    context->AddMetadata("authorization", "Bearer " + Jwt("tls-client"));
    v1::GetStrategyRequest request;
    request.mutable_local()->set_nat_type(v1::NAT_TYPE_FULL_CONE);
    request.mutable_remote()->set_nat_type(v1::NAT_TYPE_SYMMETRIC);
    v1::GetStrategyResponse response;
    return v1::ConnectivityAdvisor::NewStub(channel)->GetStrategy(context, request, &response);
  }

  int serial_ = 0;
};

TEST_F(TlsTest, RefusesToStartWithoutCertificateUnlessInsecure) {
  options_.tls = {};
  auto refused = AdvisorServer::Start(options_, std::make_shared<store::PgStore>(cluster().url()),
                                      std::make_shared<store::PgStore>(cluster().url()));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--tls-cert-file"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--insecure"));
  options_.insecure = true;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  EXPECT_TRUE(GetStrategy(Channel(Plaintext())).ok());
}

TEST_F(TlsTest, BadCertificateFilesAreClearErrorsAtStart) {
  auto start_error = [&] {
    auto server = AdvisorServer::Start(options_, std::make_shared<store::PgStore>(cluster().url()),
                                       std::make_shared<store::PgStore>(cluster().url()));
    return server.ok() ? std::string() : std::string(server.status().message());
  };
  ServerOptions good = options_;
  options_.tls.cert_file = Path("missing.pem");
  EXPECT_THAT(start_error(), HasSubstr("--tls-cert-file " + Path("missing.pem")));
  ASSERT_NO_FATAL_FAILURE(MakeCert("ca", "other", "other"));
  options_ = good;
  options_.tls.key_file = Path("other.key");
  EXPECT_THAT(start_error(), HasSubstr("is not the private key"));
  options_ = good;
  options_.tls.key_file = Path("ca.pem");
  EXPECT_THAT(start_error(), HasSubstr("no unencrypted PEM private key"));
  options_ = good;
  options_.tls.client_ca_file = Path("server.key");
  EXPECT_THAT(start_error(), HasSubstr("--tls-client-ca-file"));
}

TEST_F(TlsTest, CaVerifiedClientIsServedAndPlaintextIsNot) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  grpc::Status tls = GetStrategy(Channel(Trusting(Path("ca.pem"))));
  EXPECT_TRUE(tls.ok()) << tls.error_message();
  EXPECT_FALSE(GetStrategy(Channel(Plaintext())).ok());
  // The system roots do not know the test's CA.
  EXPECT_FALSE(GetStrategy(Channel(Trusting(""))).ok());
}

TEST_F(TlsTest, FreshConnectionsResumeTheirTlsSession) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::vector<std::string> reused;
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    ASSERT_TRUE(GetStrategy(Channel(Trusting(Path("ca.pem")), true), &context).ok());
    auto values = context.auth_context()->FindPropertyValues(GRPC_SSL_SESSION_REUSED_PROPERTY);
    reused.push_back(values.empty() ? ""
                                    : std::string(values.front().data(), values.front().size()));
  }
  EXPECT_EQ(reused.front(), "false");
  EXPECT_EQ(reused.back(), "true");
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutACertificateOfTheClientCa) {
  ASSERT_NO_FATAL_FAILURE(MakeCa("client-ca"));
  ASSERT_NO_FATAL_FAILURE(MakeCert("client-ca", "client", "prober"));
  ASSERT_NO_FATAL_FAILURE(MakeCert("ca", "stranger", "stranger"));
  options_.tls.client_ca_file = Path("client-ca.pem");
  ASSERT_NO_FATAL_FAILURE(StartServer());
  EXPECT_FALSE(GetStrategy(Channel(Trusting(Path("ca.pem")))).ok());
  EXPECT_FALSE(
      GetStrategy(Channel(Trusting(Path("ca.pem"), Path("stranger.pem"), Path("stranger.key"))))
          .ok());
  grpc::Status with_cert =
      GetStrategy(Channel(Trusting(Path("ca.pem"), Path("client.pem"), Path("client.key"))));
  EXPECT_TRUE(with_cert.ok()) << with_cert.error_message();
}

TEST_F(TlsTest, CertificateRenewedInPlaceReachesNewConnections) {
  options_.tls.refresh_interval = absl::Seconds(1);
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_TRUE(GetStrategy(Channel(Trusting(Path("ca.pem")))).ok());
  // A renewal by another CA, written over the served files, as cert-manager updates a Secret.
  ASSERT_NO_FATAL_FAILURE(MakeCa("new-ca"));
  ASSERT_NO_FATAL_FAILURE(MakeCert("new-ca", "renewed", "localhost"));
  std::ofstream(Path("server.key"), std::ios::trunc) << testing::ReadFile(Path("renewed.key"));
  std::ofstream(Path("server.pem"), std::ios::trunc) << testing::ReadFile(Path("renewed.pem"));
  EXPECT_TRUE(Eventually([&] { return GetStrategy(Channel(Trusting(Path("new-ca.pem")))).ok(); },
                         absl::Seconds(15)));
  EXPECT_FALSE(GetStrategy(Channel(Trusting(Path("ca.pem")))).ok());
}

// A call to a unary method whose request never comes: it holds a stream open on the server, as a
// stalled client does. Finishes when the server ends the stream.
// A GetStrategy call that sends its headers (with `jwt`, unless empty) and never its message.
class StalledCall {
 public:
  StalledCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& jwt)
      : stub_(channel) {
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!jwt.empty()) context_.AddMetadata("authorization", "Bearer " + jwt);
    call_ = stub_.PrepareCall(&context_, "/connectivity.advisor.v1.ConnectivityAdvisor/GetStrategy",
                              &cq_);
    call_->StartCall(Tag(1));
    call_->Finish(&status_, Tag(2));
  }
  ~StalledCall() {
    context_.TryCancel();
    void* tag;
    bool ok;
    while (!ended_ && cq_.Next(&tag, &ok)) ended_ = tag == Tag(2);
    cq_.Shutdown();
    while (cq_.Next(&tag, &ok)) {
    }
  }
  // Whether the server ended the call within `timeout`; status() then says how.
  bool EndedWithin(absl::Duration timeout) {
    const auto deadline = absl::ToChronoTime(absl::Now() + timeout);
    void* tag;
    bool ok;
    while (!ended_ && cq_.AsyncNext(&tag, &ok, deadline) == grpc::CompletionQueue::GOT_EVENT) {
      ended_ = tag == Tag(2);
    }
    return ended_;
  }
  const grpc::Status& status() const { return status_; }

 private:
  static void* Tag(intptr_t n) { return reinterpret_cast<void*>(n); }
  grpc::GenericStub stub_;
  grpc::ClientContext context_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  grpc::Status status_;
  bool ended_ = false;
};

class LimitsTest : public TlsTest {
 protected:
  void SetUp() override {
    TlsTest::SetUp();
    options_.insecure = true;
    options_.tls = {};
  }
};

TEST_F(LimitsTest, StreamsPerConnectionAreCapped) {
  options_.limits.max_concurrent_streams = 2;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto channel = Channel(Plaintext());
  ASSERT_TRUE(GetStrategy(channel).ok());
  StalledCall first(channel, Jwt("first")), second(channel, Jwt("second"));
  // Two streams are held: a third call on this connection waits for one of them, until its
  // deadline.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::GetStrategyResponse response;
  EXPECT_EQ(v1::ConnectivityAdvisor::NewStub(channel)
                ->GetStrategy(&context, v1::GetStrategyRequest(), &response)
                .error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // Another connection is not held up.
  EXPECT_TRUE(GetStrategy(Channel(Plaintext())).ok());
}

TEST_F(LimitsTest, IdleConnectionIsClosed) {
  options_.limits.max_connection_idle = absl::Seconds(1);
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto channel = Channel(Plaintext());
  ASSERT_TRUE(GetStrategy(channel).ok());
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  // The client's own idle timer is 30 minutes: leaving READY means the server sent GOAWAY.
  EXPECT_TRUE(Eventually([&] { return channel->GetState(false) != GRPC_CHANNEL_READY; },
                         absl::Seconds(10)));
}

TEST_F(LimitsTest, ClientPingingTooOftenIsDisconnected) {
  options_.limits.keepalive_min_ping_interval = absl::Seconds(30);
  ASSERT_NO_FATAL_FAILURE(StartServer());
  grpc::ChannelArguments pinging;
  pinging.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 200);
  pinging.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  pinging.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  auto pinger = Channel(Plaintext(), false, pinging);
  auto quiet = Channel(Plaintext());
  ASSERT_TRUE(GetStrategy(pinger).ok());
  ASSERT_TRUE(GetStrategy(quiet).ok());
  // Pings without calls every 200 ms: past two strikes the server sends GOAWAY, so the channel
  // leaves READY; the quiet one, under the same server, stays.
  EXPECT_TRUE(
      Eventually([&] { return pinger->GetState(false) != GRPC_CHANNEL_READY; }, absl::Seconds(10)));
  EXPECT_EQ(quiet->GetState(false), GRPC_CHANNEL_READY);
}

TEST_F(LimitsTest, StalledRequestIsAnsweredAtTheDeadlineCap) {
  options_.limits.max_request_deadline = absl::Seconds(1);
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto channel = Channel(Plaintext());
  StalledCall stalled(channel, Jwt("slow"));
  // The call's own deadline is 30 s away: only the server's cap can end it this soon.
  ASSERT_TRUE(stalled.EndedWithin(absl::Seconds(10)));
  EXPECT_EQ(stalled.status().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(stalled.status().error_message(), HasSubstr("request deadline cap"));
  // The connection stays usable for calls that send their request.
  EXPECT_TRUE(GetStrategy(channel).ok());
}

TEST_F(LimitsTest, StalledStreamIsCutAtConnectionAgePlusGrace) {
  options_.limits.max_connection_age = absl::Seconds(1);
  options_.limits.max_connection_age_grace = absl::Seconds(1);
  ASSERT_NO_FATAL_FAILURE(StartServer());
  StalledCall stalled(Channel(Plaintext()), Jwt("slow"));
  // Neither the call's own deadline (30 s) nor the cap (10 s) is near.
  EXPECT_TRUE(stalled.EndedWithin(absl::Seconds(8)));
  EXPECT_NE(stalled.status().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(LimitsTest, CallWithoutJwtIsRefusedBeforeItsMessage) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  StalledCall stalled(Channel(Plaintext()), "");
  ASSERT_TRUE(stalled.EndedWithin(absl::Seconds(5)));
  EXPECT_EQ(stalled.status().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(LimitsTest, OversizedRequestIsRefused) {
  options_.limits.max_receive_message_bytes = 1024;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  testing::Client client(target(*server_), Jwt("big"));
  EXPECT_EQ(client.SendRaw("GetStrategy", std::string(2048, 'x')).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

}  // namespace
}  // namespace advisor
