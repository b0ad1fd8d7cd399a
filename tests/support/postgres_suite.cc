// The PostgreSQL suite base: one cluster per suite, databases made and migrated on request.
#include "tests/support/postgres_suite.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "lib/store/store.h"

namespace advisor::testing {

std::unique_ptr<PostgresCluster> PostgresSuite::cluster_;
absl::Status PostgresSuite::init_status_;
int PostgresSuite::databases_ = 0;

void PostgresSuite::SetUpTestSuite() {
  cluster_ = std::make_unique<PostgresCluster>();
  init_status_ = cluster_->Init();
  if (!init_status_.ok()) cluster_.reset();
}

void PostgresSuite::TearDownTestSuite() { cluster_.reset(); }

void PostgresSuite::SetUp() { ASSERT_NE(cluster_, nullptr) << init_status_; }

std::string PostgresSuite::NewDatabase(std::string_view prefix, bool migrate) {
  const std::string name = absl::StrCat(std::string(prefix), "_", ++databases_);
  const absl::Status created = cluster_->CreateDatabase(name);
  EXPECT_TRUE(created.ok()) << created;
  if (created.ok() && migrate) {
    const absl::StatusOr<int> applied = store::Migrate(cluster_->url(name));
    EXPECT_TRUE(applied.ok()) << applied.status();
  }
  return name;
}

std::string PostgresSuite::Query(const std::string& database, const std::string& sql) {
  const absl::StatusOr<std::string> output = cluster_->Query(sql, database);
  return output.ok() ? *output : output.status().ToString();
}

}  // namespace advisor::testing
