// A gtest fixture base for tests against a real PostgreSQL: one throwaway cluster per test suite
// (initdb is the slow part, so a suite's tests share it) and a fresh database per test where the
// test asks for one, migrated by lib/store. The store, TURN store, roles and turn-prober tests
// derive their fixtures from it instead of each keeping its own copy of the same setup.
#ifndef ADVISOR_TESTS_SUPPORT_POSTGRES_SUITE_H_
#define ADVISOR_TESTS_SUPPORT_POSTGRES_SUITE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "tests/support/postgres.h"

namespace advisor::testing {

class PostgresSuite : public ::testing::Test {
 public:
  // Start and stop the suite's cluster. A fixture that starts more for its suite calls these from
  // its own SetUpTestSuite and TearDownTestSuite.
  static void SetUpTestSuite();
  static void TearDownTestSuite();

 protected:
  // Fails the test, fatally, when the suite's cluster did not start. A fixture's SetUp calls it
  // first, through ASSERT_NO_FATAL_FAILURE.
  void SetUp() override;

  // The suite's cluster, between SetUp and the end of the suite.
  static PostgresCluster& cluster() { return *cluster_; }

  // A new empty database, "<prefix>_<n>" (a plain identifier), migrated to the latest schema unless
  // `migrate` is false. A failure is a non-fatal test failure; the name is returned either way.
  static std::string NewDatabase(std::string_view prefix, bool migrate = true);

  // The unaligned, tuples-only output of `sql` run in `database`, or the error as text, so that
  // EXPECT_EQ shows what went wrong.
  static std::string Query(const std::string& database, const std::string& sql);

 private:
  static std::unique_ptr<PostgresCluster> cluster_;
  static absl::Status init_status_;
  static int databases_;
};

}  // namespace advisor::testing

#endif  // ADVISOR_TESTS_SUPPORT_POSTGRES_SUITE_H_
