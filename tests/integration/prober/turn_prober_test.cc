// The turn-prober binary against a real PostgreSQL and a real coturn (UDP, TCP and TLS): one cycle
// with `once`, the registry synced without secrets, a wrong secret's 401, and with `run` the leader
// election: one prober per region probes, a standby takes over within one period after the leader
// is killed, and SIGTERM ends a prober cleanly.
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/coturn.h"
#include "tests/support/postgres_suite.h"
#include "tests/support/process.h"

namespace advisor {
namespace {

using ::testing::HasSubstr;

const std::string kProber = ADVISOR_BINARY_DIR "/services/prober/turn-prober";
constexpr char kSecret[] = "prober-test-secret-7f3a";
constexpr char kStaticPassword[] = "static-password-c41d";

// The value of the unlabelled series `name` in a prober's metrics; -1 when absent.
double MetricValue(int port, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(testing::HttpGet(port, "/metrics"), '\n')) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    double value = 0;
    if (parts.size() == 2 && parts[0] == name && absl::SimpleAtod(parts[1], &value)) return value;
  }
  return -1;
}

bool Eventually(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return condition();
}

bool ExitedWith(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

class ProberTest : public testing::PostgresSuite {
 protected:
  // One PostgreSQL and one coturn for the suite (starting them is the slow part); each test gets a
  // database of its own.
  static void SetUpTestSuite() {
    PostgresSuite::SetUpTestSuite();
    coturn_ = std::make_unique<testing::Coturn>(kSecret);
    coturn_status_ = coturn_->Start();
  }
  static void TearDownTestSuite() {
    coturn_.reset();
    PostgresSuite::TearDownTestSuite();
  }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(PostgresSuite::SetUp());
    ASSERT_TRUE(coturn_status_.ok()) << coturn_status_;
    db_ = NewDatabase("prober");
    ASSERT_FALSE(HasFailure());
    dir_ = testing::MakeTempDir("prober-test");
  }
  void TearDown() override { testing::RemoveTree(dir_); }

  // A servers file with the fixture's coturn as "local" (every transport, with `secret`) and a
  // disabled server with a static user.
  std::string WriteServersFile(const std::string& secret) const {
    const std::string path = dir_ + "/servers.yaml";
    std::ofstream(path) << "servers:\n"
                        << "  - id: local\n"
                        << "    urls: [\"" << coturn_->udp_url() << "\", \"" << coturn_->tcp_url()
                        << "\", \"" << coturn_->tls_url() << "\"]\n"
                        << "    region: eu\n"
                        << "    auth: {rest_secret: \"" << secret << "\"}\n"
                        << "  - id: off\n"
                        << "    urls: [\"turn:127.0.0.1:9\"]\n"
                        << "    auth: {username: alice, password: \"" << kStaticPassword << "\"}\n"
                        << "    enabled: false\n";
    return path;
  }

  std::vector<std::string> Env(const std::string& servers_file) const {
    return {"ADVISOR_DATABASE_URL=" + cluster().url(db_),
            "ADVISOR_TURN_SERVERS_FILE=" + servers_file, "ADVISOR_PROBE_TIMEOUT=2s"};
  }

  // `turn-prober once`; its exit code, with its output in *out.
  int Once(const std::vector<std::string>& env, std::string* out,
           const std::vector<std::string>& flags = {}) const {
    std::vector<std::string> argv = {kProber, "once"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<int> code = testing::Run(argv, out, env);
    return code.ok() ? *code : -1;
  }

  // Starts `turn-prober run` for `region` with a one-second period; returns its metrics port.
  int StartProber(testing::ChildProcess& process, const std::string& name,
                  const std::string& region) const {
    const int metrics_port = testing::FreePort();
    std::vector<std::string> env = Env(dir_ + "/servers.yaml");
    env.push_back("ADVISOR_PROBE_INTERVAL=1s");
    env.push_back("ADVISOR_REGION=" + region);
    env.push_back(absl::StrCat("ADVISOR_METRICS_LISTEN=127.0.0.1:", metrics_port));
    EXPECT_TRUE(process.Start({kProber, "run"}, Log(name), env).ok());
    EXPECT_TRUE(testing::WaitForPort(metrics_port, absl::Seconds(10))) << Read(name);
    return metrics_port;
  }

  std::string Log(const std::string& name) const { return dir_ + "/" + name + ".log"; }
  std::string Read(const std::string& name) const { return testing::ReadFile(Log(name)); }

  std::string Query(const std::string& sql) const { return PostgresSuite::Query(db_, sql); }

  static inline std::unique_ptr<testing::Coturn> coturn_;
  static inline absl::Status coturn_status_;
  std::string db_;
  std::string dir_;
};

TEST_F(ProberTest, OnceChecksEveryTransportAndSyncsTheRegistryWithoutSecrets) {
  std::string out;
  ASSERT_EQ(Once(Env(WriteServersFile(kSecret)), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("local healthy")) << out;

  EXPECT_EQ(Query("SELECT server_id, prober_region, status, last_latency_ms > 0,"
                  " consecutive_failures, last_error FROM turn_health"),
            "local||healthy|t|0|");
  EXPECT_EQ(Query("SELECT id, urls = ARRAY['" + coturn_->udp_url() + "', '" + coturn_->tcp_url() +
                  "', '" + coturn_->tls_url() +
                  "'], region, transports, enabled FROM turn_servers ORDER BY id"),
            "local|t|eu|{udp,tcp,tls}|t\noff|f||{udp}|f");
  // No column of any row holds a secret.
  for (const char* table : {"turn_servers", "turn_health"}) {
    EXPECT_EQ(Query(absl::StrCat("SELECT count(*) FROM ", table, " t WHERE t::text LIKE '%",
                                 kSecret, "%' OR t::text LIKE '%", kStaticPassword, "%'")),
              "0")
        << table;
  }
}

TEST_F(ProberTest, OnceWithAWrongSecretRecordsTheFailureWith401) {
  std::string out;
  // Failed checks are results, not a failure of the prober: it exits 0.
  ASSERT_EQ(Once(Env(WriteServersFile("not-the-secret")), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("401"));
  EXPECT_EQ(Query("SELECT status, consecutive_failures, last_error LIKE '%401%',"
                  " last_latency_ms IS NULL FROM turn_health WHERE server_id = 'local'"),
            "unknown|1|t|t");

  // A second run continues the count from the database.
  ASSERT_EQ(Once(Env(WriteServersFile("not-the-secret")), &out), 0) << out;
  EXPECT_EQ(Query("SELECT consecutive_failures FROM turn_health"), "2");
}

TEST_F(ProberTest, BadConfigurationExitsWithTwo) {
  std::string out;
  EXPECT_EQ(Once(Env(dir_ + "/missing.yaml"), &out), 2);
  EXPECT_THAT(out, HasSubstr("missing.yaml"));
  EXPECT_EQ(Once(Env(WriteServersFile(kSecret)), &out, {"--probe-interval=soon"}), 2);
  EXPECT_THAT(out, HasSubstr("--probe-interval"));
  absl::StatusOr<int> code = testing::Run({kProber, "--help"}, &out);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  for (const char* setting :
       {"ADVISOR_DATABASE_URL", "ADVISOR_TURN_SERVERS_FILE", "ADVISOR_PROBE_INTERVAL",
        "ADVISOR_PROBE_CONCURRENCY", "ADVISOR_REGION", "--rest-credential-ttl"}) {
    EXPECT_THAT(out, HasSubstr(setting));
  }
}

TEST_F(ProberTest, OneProberPerRegionProbesAndAStandbyTakesOverWhenTheLeaderDies) {
  WriteServersFile(kSecret);
  testing::ChildProcess leader, standby, other_region;
  const int leader_port = StartProber(leader, "leader", "eu");
  ASSERT_TRUE(Eventually([&] { return MetricValue(leader_port, "turn_prober_cycles_total") >= 1; },
                         absl::Seconds(10)))
      << Read("leader");
  EXPECT_EQ(MetricValue(leader_port, "turn_prober_leader"), 1);

  const int standby_port = StartProber(standby, "standby", "eu");
  const int other_port = StartProber(other_region, "other", "us");
  // Two periods and more: the standby has asked for the lock at least twice.
  absl::SleepFor(absl::Milliseconds(2500));
  EXPECT_EQ(MetricValue(standby_port, "turn_prober_leader"), 0) << Read("standby");
  EXPECT_EQ(MetricValue(standby_port, "turn_prober_cycles_total"), 0);
  EXPECT_THAT(Read("standby"), HasSubstr("standing by"));
  EXPECT_GE(MetricValue(leader_port, "turn_prober_cycles_total"), 3);
  // Another region elects its own leader and publishes its own view.
  EXPECT_EQ(MetricValue(other_port, "turn_prober_leader"), 1) << Read("other");
  EXPECT_EQ(Query("SELECT prober_region, status FROM turn_health ORDER BY 1"),
            "eu|healthy\nus|healthy");
  // `once` does not probe beside a leader.
  std::string out;
  std::vector<std::string> env = Env(dir_ + "/servers.yaml");
  env.push_back("ADVISOR_REGION=eu");
  EXPECT_EQ(Once(env, &out), 1);
  EXPECT_THAT(out, HasSubstr("another turn-prober leads"));

  // The leader dies without a word: PostgreSQL ends its session, the lock goes with it.
  leader.Stop(SIGKILL, absl::Seconds(5));
  const absl::Time killed = absl::Now();
  ASSERT_TRUE(Eventually([&] { return MetricValue(standby_port, "turn_prober_cycles_total") >= 1; },
                         absl::Seconds(10)))
      << Read("standby");
  // Within one period (1 s) and its cycle, with room for a loaded machine.
  EXPECT_LT(absl::Now() - killed, absl::Seconds(3));
  EXPECT_EQ(MetricValue(standby_port, "turn_prober_leader"), 1);
  EXPECT_THAT(Read("standby"), HasSubstr("leading prober region \"eu\""));

  // SIGTERM: the prober finishes its checks, releases the lock and exits 0, promptly.
  for (testing::ChildProcess* process : {&standby, &other_region}) {
    const absl::Time asked = absl::Now();
    EXPECT_TRUE(ExitedWith(process->Stop(SIGTERM, absl::Seconds(10)), 0));
    EXPECT_LT(absl::Now() - asked, absl::Seconds(3));
  }
  EXPECT_THAT(Read("standby"), HasSubstr("stopped"));
}

}  // namespace
}  // namespace advisor
