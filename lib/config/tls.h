// TLS settings shared by the server and the clients: gRPC credentials built from PEM files, with
// the files checked up front so a wrong path or a key that does not match its certificate is a
// clear error at start rather than failed handshakes later.
//
// Server: a file-watcher certificate provider re-reads the files every refresh interval, so
// certificates renewed in place (as cert-manager does) reach new connections without a restart.
// Clients: TLS with the system roots unless --ca-file names a CA, a client certificate for mTLS,
// plaintext only when asked (--insecure), and one process-wide TLS session cache so that fresh
// connections to the same server resume their session instead of a full handshake. The client
// flags themselves are in client_tls.h, which the server does not link.
#ifndef ADVISOR_LIB_CONFIG_TLS_H_
#define ADVISOR_LIB_CONFIG_TLS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace advisor::config {

struct ServerTlsFiles {
  std::string cert_file;  // PEM certificate chain, leaf first
  std::string key_file;   // PEM private key of the leaf
  // PEM CA bundle; when set, clients must present a certificate it signed (mTLS).
  std::string client_ca_file;
  // How often the files are re-read. gRPC's provider takes whole seconds.
  absl::Duration refresh_interval = absl::Seconds(60);
};

// Parses the certificate chain and key and checks that they belong together, and parses the client
// CA when given. Errors name the file and say what is wrong with it.
absl::Status CheckServerTlsFiles(const ServerTlsFiles& files);

// TLS server credentials watching `files` (checked first with CheckServerTlsFiles).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& files);

struct ClientTlsFiles {
  std::string ca_file;  // PEM roots; empty: the system roots
  std::string cert_file;
  std::string key_file;
  bool insecure = false;  // plaintext
};

// Channel credentials for `files`: insecure, or TLS with their CA (or the system roots) and their
// client certificate. A cert without a key (or the reverse), or --insecure beside TLS files, is an
// error, as is a file that cannot be read or parsed.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsFiles& files);

// Puts the process-wide TLS session cache on `args`, so that every channel made with them can
// resume a session an earlier channel to the same server established.
void UseSharedSessionCache(grpc::ChannelArguments& args);

}  // namespace advisor::config

#endif  // ADVISOR_LIB_CONFIG_TLS_H_
