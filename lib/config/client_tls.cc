// The client TLS flags of client_tls.h: their one definition in the tree.
#include "lib/config/client_tls.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, ca_file, "",
          "PEM CA bundle that signed the server's certificate (default: the system roots)");
ABSL_FLAG(std::string, cert_file, "",
          "PEM client certificate chain, for servers that require one (mTLS); needs --key-file");
ABSL_FLAG(std::string, key_file, "", "PEM private key of --cert-file");
ABSL_FLAG(bool, insecure, false,
          "plaintext gRPC, no TLS: only for a server started with --insecure");

namespace advisor::config {

void RegisterClientTlsFlags(FlagSet& flags) {
  flags.String(FLAGS_ca_file, "ADVISOR_CA_FILE");
  flags.String(FLAGS_cert_file, "ADVISOR_CERT_FILE");
  flags.String(FLAGS_key_file, "ADVISOR_KEY_FILE");
  flags.Bool(FLAGS_insecure, "ADVISOR_INSECURE");
}

ClientTlsFiles ClientTlsFlags() {
  return {.ca_file = absl::GetFlag(FLAGS_ca_file),
          .cert_file = absl::GetFlag(FLAGS_cert_file),
          .key_file = absl::GetFlag(FLAGS_key_file),
          .insecure = absl::GetFlag(FLAGS_insecure)};
}

}  // namespace advisor::config
