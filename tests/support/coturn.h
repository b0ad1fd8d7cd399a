// A real coturn (turnserver) for tests: started on free loopback ports with a TURN REST API secret,
// its own temp/db folder and no system configuration; UDP and TCP on one port, TLS on another with
// a throwaway self-signed certificate. Stopped and removed by its owner.
#ifndef ADVISOR_TESTS_SUPPORT_COTURN_H_
#define ADVISOR_TESTS_SUPPORT_COTURN_H_

#include <string>

#include "absl/status/status.h"
#include "tests/support/process.h"

namespace advisor::testing {

class Coturn {
 public:
  explicit Coturn(std::string secret = "test-secret", std::string realm = "example.org");
  Coturn(const Coturn&) = delete;
  Coturn& operator=(const Coturn&) = delete;
  ~Coturn();

  // Starts turnserver and waits until it answers; Stop/Start keep the same ports.
  absl::Status Start();
  void Stop();

  int port() const { return port_; }          // UDP and TCP
  int tls_port() const { return tls_port_; }  // TLS
  const std::string& secret() const { return secret_; }
  const std::string& realm() const { return realm_; }
  // "turn:127.0.0.1:PORT?transport=udp", "...?transport=tcp",
  // "turns:127.0.0.1:TLS_PORT?transport=tcp"
  std::string udp_url() const;
  std::string tcp_url() const;
  std::string tls_url() const;
  std::string log() const;

 private:
  std::string secret_;
  std::string realm_;
  std::string dir_;
  int port_ = 0;
  int tls_port_ = 0;
  ChildProcess process_;
};

}  // namespace advisor::testing

#endif  // ADVISOR_TESTS_SUPPORT_COTURN_H_
