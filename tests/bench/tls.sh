# shellcheck shell=bash
# tests/bench/tls.sh — TLS for the throwaway stacks of tests/bench/*.sh: the server requires TLS
# unless told --insecure, so each benchmark makes a CA and a server certificate in its temp dir and
# gives its clients the CA. Source it after scripts/lib.sh; it only defines functions.

# bench_tls_setup DIR INSECURE: decides how the stack talks and sets it up.
#   INSECURE=1: plaintext; exports ADVISOR_INSECURE=true, which the server and the clients read.
#   otherwise:  TLS with a throwaway CA and an ECDSA P-256 certificate for localhost and 127.0.0.1
#               made in DIR (tls_certificates, scripts/lib.sh); exports ADVISOR_TLS_CERT_FILE and
#               ADVISOR_TLS_KEY_FILE for the server and ADVISOR_CA_FILE for the clients (grpc_load,
#               advisor-sim, the tools).
# Sets BENCH_TLS to 1 or 0 and BENCH_TRANSPORT to a description for the report.
# shellcheck disable=SC2034 # BENCH_TLS and BENCH_TRANSPORT are for the scripts that source this
bench_tls_setup() {
  local dir=$1 insecure=$2
  if ((insecure)); then
    export ADVISOR_INSECURE=true
    BENCH_TLS=0 BENCH_TRANSPORT="plaintext (--insecure)"
  else
    tls_certificates "$dir" "advisor bench CA" DNS:localhost,IP:127.0.0.1 2
    export ADVISOR_TLS_CERT_FILE=$dir/server.pem ADVISOR_TLS_KEY_FILE=$dir/server.key
    export ADVISOR_CA_FILE=$dir/ca.pem
    BENCH_TLS=1 BENCH_TRANSPORT="TLS (ECDSA P-256 server certificate, throwaway CA)"
  fi
}
