# shellcheck shell=bash
# tests/bench/tls.sh — TLS for the throwaway stacks of tests/bench/*.sh: the server requires TLS
# unless told --insecure, so each benchmark makes a CA and a server certificate in its temp dir and
# gives its clients the CA. Source it after scripts/lib.sh; it only defines functions.

# bench_tls_files DIR: writes DIR/ca.pem (a throwaway CA) and DIR/server.pem + DIR/server.key (ECDSA
# P-256, SAN DNS:localhost and IP:127.0.0.1, signed by that CA), as `scripts/dev up` makes them.
bench_tls_files() {
  local dir=$1 out
  mkdir -p "$dir"
  if ! out=$(
    exec 2>&1
    set -e
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -subj "/CN=advisor bench CA" -days 2 \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -out "$dir/ca.pem"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/server.key"
    openssl req -new -key "$dir/server.key" -subj "/CN=localhost" -out "$dir/server.csr"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -set_serial 1 \
      -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem"
  ); then
    printf '%s\n' "$out" >&2
    die "openssl could not make the benchmark's certificates"
  fi
  chmod 600 "$dir/ca.key" "$dir/server.key"
}

# bench_tls_setup DIR INSECURE: decides how the stack talks and sets it up.
#   INSECURE=1: plaintext; exports ADVISOR_INSECURE=true, which the server and the clients read.
#   otherwise:  TLS with certificates made in DIR; exports ADVISOR_TLS_CERT_FILE/ADVISOR_TLS_KEY_FILE
#               for the server and ADVISOR_CA_FILE for the clients (grpc_load, advisor-sim, the tools).
# Sets BENCH_TLS to 1 or 0 and BENCH_TRANSPORT to a description for the report.
# shellcheck disable=SC2034 # BENCH_TLS and BENCH_TRANSPORT are for the scripts that source this
bench_tls_setup() {
  local dir=$1 insecure=$2
  if ((insecure)); then
    export ADVISOR_INSECURE=true
    BENCH_TLS=0 BENCH_TRANSPORT="plaintext (--insecure)"
  else
    bench_tls_files "$dir"
    export ADVISOR_TLS_CERT_FILE=$dir/server.pem ADVISOR_TLS_KEY_FILE=$dir/server.key
    export ADVISOR_CA_FILE=$dir/ca.pem
    BENCH_TLS=1 BENCH_TRANSPORT="TLS (ECDSA P-256 server certificate, throwaway CA)"
  fi
}
