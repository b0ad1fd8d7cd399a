#include "tests/support/coturn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace advisor::testing {
namespace {

// Relay ports per instance: a probe holds one for a moment, so a few dozen leave plenty of room.
constexpr int kRelayPorts = 32;
// Relay ranges come from below Linux's ephemeral range (32768-60999 by default), where the kernel
// never hands out ports on its own, so only another fixture could collide, and the bind check
// below catches that.
constexpr int kRelayLow = 20000;
constexpr int kRelayHigh = 32768;

bool CanBind(int type, int port) {
  const int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_in addr = Loopback(port);
  const bool ok = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// coturn listens on both UDP and TCP on each port, so both must be free.
int FreeUdpAndTcpPort() {
  for (;;) {
    const int port = FreePort();
    if (CanBind(SOCK_DGRAM, port)) return port;
  }
}

int FreeRelayRange() {
  std::random_device seed;
  std::uniform_int_distribution<int> pick(0, (kRelayHigh - kRelayLow) / kRelayPorts - 1);
  for (;;) {
    const int base = kRelayLow + pick(seed) * kRelayPorts;
    bool free = true;
    for (int port = base; port < base + kRelayPorts && free; ++port) {
      free = CanBind(SOCK_DGRAM, port);
    }
    if (free) return base;
  }
}

// execve does not search PATH, so the fixture does.
std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (const auto& dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// True when a STUN Binding request to 127.0.0.1:port gets its success response, which coturn
// sends only once its UDP listener and relay setup are done.
bool AnswersStunOverUdp(int port) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_in addr = Loopback(port);
  bool answered = false;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
    // Header only: type Binding request, length 0, magic cookie, a fixed transaction id.
    const std::array<uint8_t, 20> request = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4,
                                             0x42, 'c',  'o',  't',  'u',  'r',  'n',
                                             '-',  'r',  'e',  'a',  'd',  'y'};
    std::array<uint8_t, 1500> response{};
    if (send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 200) == 1) {
        const ssize_t n = recv(fd, response.data(), response.size(), 0);
        answered = n >= 20 && response[0] == 0x01 && response[1] == 0x01 &&
                   std::equal(request.begin() + 8, request.end(), response.begin() + 8);
      }
    }
  }
  close(fd);
  return answered;
}

}  // namespace

Coturn::Coturn(std::string secret, std::string realm)
    : secret_(std::move(secret)), realm_(std::move(realm)) {}

Coturn::~Coturn() {
  Stop();
  if (!dir_.empty()) RemoveTree(dir_);
}

absl::Status Coturn::Start() {
  if (process_.Running()) return absl::OkStatus();
  const std::string turnserver = FindProgram("turnserver");
  if (turnserver.empty()) return absl::NotFoundError("turnserver not found on PATH (coturn)");
  // Folder, certificate and ports are made once, so that a restart comes back where clients
  // expect it.
  if (dir_.empty()) {
    dir_ = MakeTempDir("coturn");
    if (dir_.empty()) return absl::InternalError("cannot make a temp dir for coturn");
    const std::string openssl = FindProgram("openssl");
    if (openssl.empty()) return absl::NotFoundError("openssl not found on PATH");
    std::string output;
    absl::StatusOr<int> rc =
        Run({openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-days", "1", "-keyout", dir_ + "/key.pem", "-out", dir_ + "/cert.pem"},
            &output);
    if (!rc.ok()) return rc.status();
    if (*rc != 0) return absl::InternalError(absl::StrCat("openssl req failed: ", output));
    port_ = FreeUdpAndTcpPort();
    do {
      tls_port_ = FreeUdpAndTcpPort();
    } while (tls_port_ == port_);
  }
  // The secret goes in a configuration file (mode 600), as the dev stack's does, so that it never
  // shows in the process list; -c also keeps the system's /etc/turnserver.conf out.
  const std::string config = dir_ + "/turnserver.conf";
  {
    std::ofstream out(config, std::ios::trunc);
    out << "use-auth-secret\nstatic-auth-secret=" << secret_ << "\n";
    if (!out.good()) return absl::InternalError(absl::StrCat("cannot write ", config));
  }
  if (chmod(config.c_str(), 0600) != 0) {
    return absl::InternalError(absl::StrCat("cannot chmod ", config));
  }
  // Relay ports need not survive a restart, so each start takes a range that is free now.
  const int relay_min_port = FreeRelayRange();
  const std::vector<std::string> argv = {
      turnserver, "-c", config, "--listening-ip=127.0.0.1",
      absl::StrCat("--listening-port=", port_), absl::StrCat("--tls-listening-port=", tls_port_),
      "--relay-ip=127.0.0.1", absl::StrCat("--min-port=", relay_min_port),
      absl::StrCat("--max-port=", relay_min_port + kRelayPorts - 1),
      absl::StrCat("--realm=", realm_), absl::StrCat("--cert=", dir_, "/cert.pem"),
      absl::StrCat("--pkey=", dir_, "/key.pem"), "--no-dtls", "--no-cli", "--allow-loopback-peers",
      absl::StrCat("--userdb=", dir_, "/turndb"),
      // Run as root it would otherwise write /var/run/turnserver.pid, shared by all instances.
      absl::StrCat("--pidfile=", dir_, "/turnserver.pid"),
      // Everything to stdout, which ChildProcess sends to the log file.
      "--log-file=stdout", "--simple-log",
      "--verbose",  // session lines, for the log that failing tests print
  };
  if (absl::Status s = process_.Start(argv, dir_ + "/turnserver.log"); !s.ok()) return s;

  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (!process_.Running()) {
      return absl::InternalError(absl::StrCat("turnserver exited at startup; log:\n", log()));
    }
    if (AnswersStunOverUdp(port_) && WaitForPort(port_, absl::Milliseconds(200)) &&
        WaitForPort(tls_port_, absl::Milliseconds(200))) {
      return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  Stop();
  return absl::DeadlineExceededError(
      absl::StrCat("turnserver did not answer on port ", port_, " within 10s; log:\n", log()));
}

void Coturn::Stop() {
  if (process_.pid() > 0) process_.Stop(SIGTERM, absl::Seconds(5));
}

std::string Coturn::udp_url() const {
  return absl::StrCat("turn:127.0.0.1:", port_, "?transport=udp");
}
std::string Coturn::tcp_url() const {
  return absl::StrCat("turn:127.0.0.1:", port_, "?transport=tcp");
}
std::string Coturn::tls_url() const {
  return absl::StrCat("turns:127.0.0.1:", tls_port_, "?transport=tcp");
}

std::string Coturn::log() const {
  return dir_.empty() ? std::string() : ReadFile(dir_ + "/turnserver.log");
}

}  // namespace advisor::testing
