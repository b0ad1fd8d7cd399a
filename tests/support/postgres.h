// A throwaway PostgreSQL 15 cluster for integration tests: initdb in a temp dir, a free loopback
// port, stopped and removed by its owner. Runs the server as the `postgres` user when the tests run
// as root.
#ifndef ADVISOR_TESTS_SUPPORT_POSTGRES_H_
#define ADVISOR_TESTS_SUPPORT_POSTGRES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace advisor::testing {

class PostgresCluster {
 public:
  PostgresCluster() = default;
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;
  ~PostgresCluster();  // stops the server and removes the directory

  // initdb + start + CREATE DATABASE advisor.
  absl::Status Init();
  // Stops (fast shutdown) / starts the server on the same port and data directory.
  absl::Status Stop();
  absl::Status Start();
  // Runs one SQL statement through psql and returns its unaligned, tuples-only output.
  absl::StatusOr<std::string> Query(const std::string& sql,
                                    const std::string& database = "advisor") const;
  // Runs `sql` as `user` (a login role) with `password`, as a program connecting as that user
  // would.
  absl::StatusOr<std::string> QueryAs(const std::string& user, const std::string& password,
                                      const std::string& sql,
                                      const std::string& database = "advisor") const;
  // A further empty database (a plain identifier), for tests that need a schema of their own.
  absl::Status CreateDatabase(const std::string& name) const;
  // A login role (a plain identifier) with `password`, neither superuser nor able to create roles
  // or databases, and a member of each of `member_of`. Roles belong to the cluster: a role that
  // exists already gets the password and memberships added.
  absl::Status CreateLoginRole(const std::string& name, const std::string& password,
                               const std::vector<std::string>& member_of = {}) const;

  // postgresql://advisor@127.0.0.1:<port>/<database>
  std::string url(const std::string& database = "advisor") const;
  // postgresql://<user>:<password>@127.0.0.1:<port>/<database>, for a role of CreateLoginRole.
  std::string url_as(const std::string& user, const std::string& password,
                     const std::string& database = "advisor") const;
  int port() const { return port_; }

 private:
  // argv for running a server binary from bin_dir_: as `postgres` when we are root.
  std::vector<std::string> ServerCommand(const std::string& binary,
                                         std::vector<std::string> args) const;

  std::string bin_dir_;
  std::string dir_;
  int port_ = 0;
  bool running_ = false;
};

}  // namespace advisor::testing

#endif  // ADVISOR_TESTS_SUPPORT_POSTGRES_H_
