// The client binaries' TLS flags: --ca-file, --cert-file, --key-file and --insecure, with their
// ADVISOR_* variables, declared once for advisorctl, advisor-sim and the benchmark clients.
//
// A library of its own because abseil's flag registry is process-wide: advisor-server declares its
// own --insecure, and a binary that linked both definitions would abort at start. So the server
// links tls_config (the credentials) and never this.
//
//   config::RegisterClientTlsFlags(flags);
//   … ParseCommand(flags, …) …
//   auto credentials = config::MakeChannelCredentials(config::ClientTlsFlags());
#ifndef ADVISOR_LIB_CONFIG_CLIENT_TLS_H_
#define ADVISOR_LIB_CONFIG_CLIENT_TLS_H_

#include "lib/config/flags.h"
#include "lib/config/tls.h"

namespace advisor::config {

// Registers --ca-file, --cert-file, --key-file and --insecure (ADVISOR_CA_FILE, ADVISOR_CERT_FILE,
// ADVISOR_KEY_FILE, ADVISOR_INSECURE) into `flags`.
void RegisterClientTlsFlags(FlagSet& flags);

// The four flags' current values: read them after `flags` has parsed.
ClientTlsFiles ClientTlsFlags();

}  // namespace advisor::config

#endif  // ADVISOR_LIB_CONFIG_CLIENT_TLS_H_
