// Child processes and loopback ports for tests that start real servers.
#ifndef ADVISOR_TESTS_SUPPORT_PROCESS_H_
#define ADVISOR_TESTS_SUPPORT_PROCESS_H_

#include <netinet/in.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace advisor::testing {

// 127.0.0.1:port as a socket address.
sockaddr_in Loopback(int port);

// A TCP port on 127.0.0.1 that was free when asked (bound, read back, released).
int FreePort();

// A fresh directory under $TMPDIR (or /tmp), removed by the caller with RemoveTree.
std::string MakeTempDir(const std::string& prefix);
void RemoveTree(const std::string& path);

// Runs a command to completion; returns its exit code, with stdout+stderr in *output if given.
// `extra_env` entries (NAME=value) replace the variables of the same name, later ones earlier.
absl::StatusOr<int> Run(const std::vector<std::string>& argv, std::string* output = nullptr,
                        const std::vector<std::string>& extra_env = {});

// A child process whose stdout and stderr go to `log_path`. Killed (SIGKILL) on destruction if
// still running; Stop() asks politely first.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  absl::Status Start(const std::vector<std::string>& argv, const std::string& log_path,
                     const std::vector<std::string>& extra_env = {});
  // Sends `signal`, waits up to `timeout`, then SIGKILL. Returns the exit status as waitpid reports
  // it.
  int Stop(int signal, absl::Duration timeout);
  bool Running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Polls until something accepts TCP connections on 127.0.0.1:port, or the deadline passes.
bool WaitForPort(int port, absl::Duration timeout);

// GET http://127.0.0.1:port/path over a plain socket (HTTP/1.0), headers included, as Prometheus
// itself would read it; empty when nothing answers within 5 s.
std::string HttpGet(int port, const std::string& path);

std::string ReadFile(const std::string& path);

}  // namespace advisor::testing

#endif  // ADVISOR_TESTS_SUPPORT_PROCESS_H_
