#include "tests/support/postgres.h"

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "tests/support/process.h"

namespace advisor::testing {
namespace {

constexpr char kUser[] = "advisor";
constexpr char kDatabase[] = "advisor";
constexpr char kRunuser[] = "/usr/sbin/runuser";
constexpr absl::Duration kStartTimeout = absl::Seconds(60);

bool IsRoot() { return geteuid() == 0; }

absl::StatusOr<std::string> FindBinDir() {
  const std::string debian = "/usr/lib/postgresql/15/bin";
  if (std::filesystem::exists(debian + "/initdb")) return debian;
  std::string output;
  absl::StatusOr<int> rc = Run({"/usr/bin/env", "pg_config", "--bindir"}, &output);
  std::string dir(absl::StripAsciiWhitespace(output));
  if (rc.ok() && *rc == 0 && std::filesystem::exists(dir + "/initdb")) return dir;
  return absl::NotFoundError(
      absl::StrCat("no PostgreSQL server binaries in ", debian, " or `pg_config --bindir`"));
}

// Runs argv and fails, with its output, unless it exits 0.
absl::Status RunChecked(const std::vector<std::string>& argv) {
  std::string output;
  absl::StatusOr<int> rc = Run(argv, &output);
  if (!rc.ok()) return rc.status();
  if (*rc != 0) {
    return absl::InternalError(
        absl::StrCat(absl::StrJoin(argv, " "), " exited ", *rc, ": ", output));
  }
  return absl::OkStatus();
}

}  // namespace

PostgresCluster::~PostgresCluster() {
  if (running_) Stop().IgnoreError();
  if (!dir_.empty()) RemoveTree(dir_);
}

std::vector<std::string> PostgresCluster::ServerCommand(const std::string& binary,
                                                        std::vector<std::string> args) const {
  // Run from the cluster directory: `postgres` may not be allowed into our working directory, and
  // initdb and pg_ctl complain when they cannot return to it.
  std::vector<std::string> argv = {"/usr/bin/env", "-C", dir_, absl::StrCat(bin_dir_, "/", binary)};
  // The server refuses to run as root.
  if (IsRoot()) argv.insert(argv.begin(), {kRunuser, "-u", "postgres", "--"});
  argv.insert(argv.end(), std::make_move_iterator(args.begin()),
              std::make_move_iterator(args.end()));
  return argv;
}

absl::Status PostgresCluster::Init() {
  absl::StatusOr<std::string> bin_dir = FindBinDir();
  if (!bin_dir.ok()) return bin_dir.status();
  bin_dir_ = *bin_dir;
  dir_ = MakeTempDir("advisor-pg");
  if (dir_.empty()) return absl::InternalError("cannot create a temporary directory");
  if (IsRoot()) {
    const passwd* user = getpwnam("postgres");
    if (user == nullptr) {
      return absl::FailedPreconditionError("running as root, but there is no user postgres");
    }
    if (chown(dir_.c_str(), user->pw_uid, user->pw_gid) != 0) {
      return absl::InternalError(absl::StrCat("cannot chown ", dir_, " to postgres"));
    }
  }
  // --no-sync: a throwaway cluster need not survive a crash, and syncing is most of initdb's time.
  if (absl::Status s =
          RunChecked(ServerCommand("initdb", {"-D", dir_ + "/data", "-A", "trust", "-U", kUser,
                                              "-E", "UTF8", "--no-locale", "--no-sync"}));
      !s.ok()) {
    return s;
  }
  // The superuser this fixture connects as is trusted; every other role, as a deployment's login
  // users are, must give its scram-sha-256 password.
  const std::string hba = dir_ + "/data/pg_hba.conf";
  {
    std::ofstream out(hba, std::ios::trunc);
    out << "local all all trust\n"
        << "host all " << kUser << " 127.0.0.1/32 trust\n"
        << "host all all 127.0.0.1/32 scram-sha-256\n";
    if (!out.good()) return absl::InternalError(absl::StrCat("cannot write ", hba));
  }
  if (IsRoot()) {
    const passwd* user = getpwnam("postgres");
    if (user == nullptr || chown(hba.c_str(), user->pw_uid, user->pw_gid) != 0) {
      return absl::InternalError(absl::StrCat("cannot chown ", hba, " to postgres"));
    }
  }
  port_ = FreePort();
  if (absl::Status s = Start(); !s.ok()) return s;
  return CreateDatabase(kDatabase);
}

absl::Status PostgresCluster::Start() {
  if (running_) return absl::OkStatus();
  // Durability settings off for speed; the socket goes into our directory, not /var/run/postgresql.
  const std::string options =
      absl::StrCat("-p ", port_, " -k ", dir_,
                   " -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
                   " -c full_page_writes=off");
  // Not through Run(): pg_ctl leaves the server running in the background, and the server would
  // inherit (and hold open) the output pipe Run() reads to its end; a ChildProcess writes to a
  // file.
  ChildProcess pg_ctl;
  if (absl::Status s = pg_ctl.Start(
          ServerCommand("pg_ctl",
                        {"-D", dir_ + "/data", "-o", options, "-l", dir_ + "/server.log", "-w",
                         "-t", absl::StrCat(kStartTimeout / absl::Seconds(1)), "start"}),
          dir_ + "/pg_ctl.log");
      !s.ok()) {
    return s;
  }
  const absl::Time deadline = absl::Now() + kStartTimeout + absl::Seconds(10);
  while (pg_ctl.Running() && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // pg_ctl's exit code is lost with the child, so ask the server directly.
  if (absl::Status s = RunChecked(ServerCommand("pg_ctl", {"-D", dir_ + "/data", "status"}));
      !s.ok()) {
    // Do not leave a half-started server behind.
    RunChecked(ServerCommand("pg_ctl", {"-D", dir_ + "/data", "-m", "immediate", "stop"}))
        .IgnoreError();
    return absl::InternalError(absl::StrCat("postgres did not start: ", s.message(), "\n",
                                            ReadFile(dir_ + "/pg_ctl.log"),
                                            ReadFile(dir_ + "/server.log")));
  }
  running_ = true;
  return absl::OkStatus();
}

absl::Status PostgresCluster::Stop() {
  if (!running_) return absl::OkStatus();
  // Fast: disconnect clients and shut down cleanly without waiting for them.
  absl::Status s =
      RunChecked(ServerCommand("pg_ctl", {"-D", dir_ + "/data", "-m", "fast", "-w", "stop"}));
  if (s.ok()) running_ = false;
  return s;
}

absl::StatusOr<std::string> PostgresCluster::Query(const std::string& sql,
                                                   const std::string& database) const {
  return QueryAs(kUser, "", sql, database);
}

absl::StatusOr<std::string> PostgresCluster::QueryAs(const std::string& user,
                                                     const std::string& password,
                                                     const std::string& sql,
                                                     const std::string& database) const {
  // psql is only a client: it runs as whoever we are, over TCP. The password goes in the
  // environment, as libpq reads it, never on the command line.
  std::vector<std::string> env = {"PGOPTIONS=-c client_min_messages=error"};
  if (!password.empty()) env.push_back(absl::StrCat("PGPASSWORD=", password));
  std::string output;
  absl::StatusOr<int> rc =
      Run({absl::StrCat(bin_dir_, "/psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
           "127.0.0.1", "-p", absl::StrCat(port_), "-U", user, "-d", database, "-c", sql},
          &output, env);
  if (!rc.ok()) return rc.status();
  if (*rc != 0) return absl::InternalError(absl::StrCat("psql: ", sql, ": ", output));
  // Tuples-only output still ends in a newline; callers compare values.
  absl::StripTrailingAsciiWhitespace(&output);
  return output;
}

absl::Status PostgresCluster::CreateDatabase(const std::string& name) const {
  return Query(absl::StrCat("CREATE DATABASE ", name), "postgres").status();
}

absl::Status PostgresCluster::CreateLoginRole(const std::string& name, const std::string& password,
                                              const std::vector<std::string>& member_of) const {
  const std::string literal = absl::StrReplaceAll(password, {{"'", "''"}});
  std::string sql = absl::StrCat(
      "DO $$ BEGIN "
      "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '",
      name, "') THEN ", "CREATE ROLE ", name,
      " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF; END $$; ", "ALTER ROLE ", name,
      " PASSWORD '", literal, "'");
  if (!member_of.empty()) {
    absl::StrAppend(&sql, "; GRANT ", absl::StrJoin(member_of, ", "), " TO ", name);
  }
  return Query(sql, "postgres").status();
}

std::string PostgresCluster::url(const std::string& database) const {
  return absl::StrCat("postgresql://", kUser, "@127.0.0.1:", port_, "/", database);
}

std::string PostgresCluster::url_as(const std::string& user, const std::string& password,
                                    const std::string& database) const {
  return absl::StrCat("postgresql://", user, ":", password, "@127.0.0.1:", port_, "/", database);
}

}  // namespace advisor::testing
