// In-process advisor-server against a real PostgreSQL, called through real gRPC channels, for the
// integration tests of the service: a fixture with one cluster per suite, a JWKS file, clients that
// each hold their own JWT, and the few queries the tests make (stored sessions, /metrics).
#ifndef ADVISOR_TESTS_SUPPORT_ADVISOR_SERVER_H_
#define ADVISOR_TESTS_SUPPORT_ADVISOR_SERVER_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "lib/auth/jwks.h"
#include "services/advisor/server.h"
#include "tests/support/postgres_suite.h"

namespace advisor::testing {

namespace v1 = connectivity::advisor::v1;

// A JWKS file with one fresh HS256 key in `dir` (as jwks.json), and JWTs signed with that key.
class TestKeys {
 public:
  static absl::StatusOr<TestKeys> Create(const std::string& dir);
  const std::string& path() const { return path_; }
  const auth::KeySet& keys() const { return keys_; }
  // A JWT for `subject` valid for an hour from now.
  std::string Jwt(const std::string& subject, std::vector<std::string> scopes = {}) const;

 private:
  std::string path_;
  auth::KeySet keys_;
};

// One app install talking to a server: its own channel and, unless anonymous, its own JWT.
class Client {
 public:
  Client(const std::string& target, std::string jwt);

  grpc::Status GetStrategy(v1::NatType local, v1::NatType remote, v1::GetStrategyResponse& out);
  grpc::Status Report(const v1::ReportOutcomeRequest& request);
  grpc::Status ListTurnServers(v1::ListTurnServersResponse& out);
  // `bytes` sent as the request of /connectivity.advisor.v1.ConnectivityAdvisor/`method`.
  grpc::Status SendRaw(const std::string& method, const std::string& bytes);
  const std::string& jwt() const { return jwt_; }

 private:
  std::unique_ptr<grpc::ClientContext> Context() const;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ConnectivityAdvisor::Stub> stub_;
  std::string jwt_;
};

// A plausible report of the session `answer` started: the direct attempt (unless TURN_ONLY)
// succeeded after `direct_ms` or timed out at the advised timeout, then the relay connected in
// 700 ms.
v1::ReportOutcomeRequest SessionReport(const v1::GetStrategyResponse& answer, bool direct_ok,
                                       uint32_t direct_ms = 800);

// The suite's cluster is PostgresSuite's; the server's database is the cluster's default one,
// migrated by the suite's first test and emptied before each test.
class AdvisorServerTest : public PostgresSuite {
 public:
  static void SetUpTestSuite();

 protected:
  void SetUp() override;  // empties the tables; options_ for a fast, authenticated test server
  void TearDown() override;

  // Starts a server with options_ (ASSERTs inside: call it through ASSERT_NO_FATAL_FAILURE).
  void StartServer();
  // Starts another replica on the same database; it stays up until the test ends.
  std::unique_ptr<AdvisorServer> StartReplica(const ServerOptions& options);
  std::string target(const AdvisorServer& server) const;
  // A client of server_ (or `server`) whose JWT names `subject` ("" for no JWT at all).
  Client ClientOf(const std::string& subject, std::vector<std::string> scopes = {},
                  const AdvisorServer* server = nullptr) const;
  std::string Jwt(const std::string& subject, std::vector<std::string> scopes = {}) const;

  int64_t SessionsInDatabase() const;
  // The value of one series on server_'s /metrics (0 when absent): `series` is the metric name
  // with its labels as exposed, e.g. advisor_requests_refused_total{method="GetStrategy",...}.
  double Metric(const std::string& series) const;

  // Polls `done` every 50 ms for up to `timeout`.
  template <typename Pred>
  static bool Eventually(Pred done, absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (done()) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return done();
  }

  static inline bool migrated_ = false;  // the suite's cluster has the schema
  std::string dir_;                      // the test's own temp directory, with the JWKS file
  TestKeys keys_;
  ServerOptions options_;
  std::unique_ptr<AdvisorServer> server_;
  std::vector<std::unique_ptr<AdvisorServer>> replicas_;
};

}  // namespace advisor::testing

#endif  // ADVISOR_TESTS_SUPPORT_ADVISOR_SERVER_H_
