# shellcheck shell=bash
# Shared shell helpers for scripts/* and the test scripts (tests/*/*.sh): logging, running things as
# root or as the PostgreSQL owner, throwaway/dev PostgreSQL 15 clusters, TCP ports, process
# handling, a local CA and server certificates, gRPC framing.
#
# Source it (`source "$ROOT/scripts/lib.sh"`); it only defines functions and the variables below,
# and sets no traps. Callers set `set -euo pipefail` themselves, and call trap_errors if they want
# to be told where a failing command stopped them.
#
# PostgreSQL refuses to run as root, so when the caller is root every server binary (initdb, pg_ctl)
# runs as the `postgres` user on a directory that user owns; otherwise as the caller. Clusters listen on
# 127.0.0.1 only, have no Unix socket (paths under a deep checkout can exceed the socket path limit),
# trust authentication, and the superuser `advisor`: URL postgresql://advisor@127.0.0.1:PORT/DB.
# (scripts/dev then switches its cluster to scram-sha-256 passwords and least-privilege logins.)

# shellcheck disable=SC2034 # used by the scripts that source this file
ADVISOR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PG_SUPERUSER=advisor

# --- logging ---------------------------------------------------------------------------------------

log() { printf '[%s] %s\n' "${LOG_TAG:-advisor}" "$*" >&2; }
warn() { log "warning: $*"; }
die() {
  log "error: $*"
  exit 1
}

# trap_errors: installs an ERR trap, so that a command that stops the script under `set -e` says
# where, instead of ending it silently. Replaces the caller's ERR trap, if any.
trap_errors() {
  trap 'log "error: exit status $? at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"' ERR
}

# --- privileges ------------------------------------------------------------------------------------

# as_root CMD...: runs CMD as root: directly when we are root, through sudo otherwise.
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# pg_as_owner CMD...: runs CMD as the user that owns PostgreSQL clusters (postgres when root).
# Runs from / so that the postgres user does not trip over an unreadable working directory.
pg_as_owner() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# pg_owner_can_reach DIR: true when the cluster owner can traverse DIR (so it can own a subdirectory).
pg_owner_can_reach() {
  pg_as_owner test -x "$1" 2>/dev/null
}

# --- PostgreSQL clusters -----------------------------------------------------------------------------

pg_require() {
  [[ -x $PG_BINDIR/initdb && -x $PG_BINDIR/pg_ctl && -x $PG_BINDIR/psql ]] ||
    die "PostgreSQL 15 binaries not found in $PG_BINDIR (run scripts/setup)"
  if [[ $EUID -eq 0 ]]; then
    getent passwd postgres >/dev/null || die "user postgres does not exist (run scripts/setup)"
  fi
}

# pg_cluster_initialized DIR
pg_cluster_initialized() { [[ -f $1/PG_VERSION ]]; }

# pg_cluster_init DIR PORT [INITDB_ARGS...]: creates DIR (empty or absent) and a cluster in it that
# listens on 127.0.0.1:PORT. Extra args go to initdb (e.g. --no-sync for throwaway clusters).
pg_cluster_init() {
  local dir=$1 port=$2 out
  shift 2
  pg_require
  mkdir -p "$dir"
  chmod 700 "$dir"
  if [[ $EUID -eq 0 ]]; then
    chown postgres:postgres "$dir"
  fi
  if ! out=$(pg_as_owner "$PG_BINDIR/initdb" -D "$dir" -A trust -U "$PG_SUPERUSER" -E UTF8 --no-locale "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    die "initdb failed in $dir"
  fi
  # Appending keeps the file's owner (postgres) even when we are root.
  cat >>"$dir/postgresql.conf" <<EOF

# --- connectivity-advisor scripts ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
port = $port
EOF
}

# pg_cluster_running DIR
pg_cluster_running() {
  pg_as_owner "$PG_BINDIR/pg_ctl" -D "$1" status >/dev/null 2>&1
}

# pg_cluster_port DIR: the port of the running cluster (from postmaster.pid), empty when not running.
pg_cluster_port() {
  if [[ -f $1/postmaster.pid ]]; then
    sed -n 4p "$1/postmaster.pid"
  fi
}

# pg_cluster_start DIR PORT: starts the cluster on 127.0.0.1:PORT, waits until it accepts connections.
# Server log: DIR/postgresql.log.
pg_cluster_start() {
  local dir=$1 port=$2
  if ! pg_as_owner "$PG_BINDIR/pg_ctl" -D "$dir" -l "$dir/postgresql.log" -o "-p $port" -w -t 60 start >/dev/null; then
    tail -n 20 "$dir/postgresql.log" >&2 || true
    die "PostgreSQL did not start in $dir on port $port"
  fi
}

# pg_cluster_stop DIR [MODE]: stops the cluster if it runs (MODE: fast (default), immediate, smart).
pg_cluster_stop() {
  local dir=$1 mode=${2:-fast}
  if pg_cluster_running "$dir"; then
    pg_as_owner "$PG_BINDIR/pg_ctl" -D "$dir" -m "$mode" -w -t 60 stop >/dev/null
  fi
}

# pg_psql PORT DB PSQL_ARGS...: psql as the superuser over TCP, unaligned tuples-only, stop on error.
# When PG_PASSFILE names a libpq password file (a cluster that asks for passwords), psql reads the
# password there: never on a command line.
pg_psql() {
  local port=$1 db=$2
  shift 2
  PGPASSFILE=${PG_PASSFILE:-${PGPASSFILE:-}} \
    "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$PG_SUPERUSER" -d "$db" "$@"
}

# pg_create_database PORT NAME: creates database NAME unless it exists.
pg_create_database() {
  local port=$1 name=$2
  if [[ -z $(pg_psql "$port" postgres -c "SELECT 1 FROM pg_database WHERE datname = '$name'") ]]; then
    pg_psql "$port" postgres -c "CREATE DATABASE \"$name\""
  fi
}

# pg_url PORT DB
pg_url() { printf 'postgresql://%s@127.0.0.1:%s/%s' "$PG_SUPERUSER" "$1" "$2"; }

# --- ports and processes ---------------------------------------------------------------------------

# free_ports N: prints N distinct TCP ports that are free on 127.0.0.1 right now, one per line.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

# free_port_range N: prints the first of N consecutive ports that are free on 127.0.0.1 for both
# UDP and TCP right now, for a server that takes a range (coturn's relay ports). Looks below the
# kernel's ephemeral ports (32768 up), which other programs' outgoing sockets cannot take meanwhile;
# tries 100 random places, then fails.
free_port_range() {
  python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
def free(port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True
for _ in range(100):
    first = random.randrange(20000, 32768 - n)
    if all(free(port) for port in range(first, first + n)):
        print(first)
        sys.exit(0)
sys.exit("no range of %d free ports found" % n)
EOF
}

# tcp_open HOST PORT: true when something accepts TCP connections on HOST:PORT.
tcp_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# udp_port_free HOST PORT: true when a UDP socket can bind HOST:PORT. UDP has no connection to try,
# so a bind is the only way to find out; the socket is closed at once.
udp_port_free() {
  python3 - "$1" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
EOF
}

# pid_alive PID: true while PID runs (a zombie counts as gone).
pid_alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $state != Z* ]]
}

# wait_until TIMEOUT_S PID CMD...: runs CMD every 0.2 s until it succeeds.
# Returns 1 on timeout, 2 when PID (if not empty) exits first.
wait_until() {
  local timeout=$1 pid=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    "$@" && return 0
    if [[ -n $pid ]] && ! pid_alive "$pid"; then
      return 2
    fi
    sleep 0.2
  done
  return 1
}

# wait_for_tcp HOST PORT TIMEOUT_S [PID]: waits until HOST:PORT accepts connections; returns as
# wait_until does.
wait_for_tcp() { wait_until "$3" "${4:-}" tcp_open "$1" "$2"; }

# stop_pid PID TIMEOUT_S: SIGTERM, wait up to TIMEOUT_S, then SIGKILL.
# Returns 0 if it exited after SIGTERM, 1 if it had to be killed.
stop_pid() {
  local pid=$1 timeout=$2
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    pid_alive "$pid" || return 0
    sleep 0.2
  done
  warn "process $pid did not exit within ${timeout}s of SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  return 1
}

# --- coturn --------------------------------------------------------------------------------------

# coturn_command DIR PORT MIN_PORT MAX_PORT SECRET REALM [CONFIG_FILE]: sets COTURN_COMMAND to a
# turnserver command line on 127.0.0.1:PORT (UDP and TCP) with TURN REST API credentials and relay
# ports MIN-MAX, its files in DIR (created). The secret goes into CONFIG_FILE (DIR/turnserver.conf by
# default; mode 600), read with -c, so that it never shows in the process list; -c also keeps coturn
# from reading the system's /etc/turnserver.conf. --userdb and --pidfile: files of its own instead of
# the system's shared /var/lib/turn/turndb and /var/run/turnserver.pid. --allow-loopback-peers: a
# relay may reach a peer on 127.0.0.1, where probers' peer sockets are.
coturn_command() {
  local config=${7:-$1/turnserver.conf}
  mkdir -p "$1"
  (
    umask 077
    printf '# Written by scripts/lib.sh coturn_command: the TURN REST API secret.\nuse-auth-secret\nstatic-auth-secret=%s\n' \
      "$5" >"$config"
  )
  chmod 600 "$config"
  COTURN_COMMAND=(turnserver -c "$config" --listening-ip=127.0.0.1 "--listening-port=$2"
    --relay-ip=127.0.0.1 "--min-port=$3" "--max-port=$4" "--realm=$6"
    --no-tls --no-dtls --no-cli --allow-loopback-peers
    "--userdb=$1/turndb" "--pidfile=$1/turnserver.pid" --log-file=stdout)
}

# --- TLS -------------------------------------------------------------------------------------------

# tls_certificates DIR CA_NAME SAN DAYS: a local CA and a server certificate it signed, both ECDSA
# P-256, as every script's stack serves them. DIR/ca.pem + DIR/ca.key, the CA named CA_NAME (ten
# years), is made only when DIR lacks it, so that whoever trusts it goes on doing so; DIR/server.pem
# + DIR/server.key are made anew, for SAN (an openssl subjectAltName, e.g.
# DNS:localhost,IP:127.0.0.1; its first name is also the subject's CN), valid DAYS days. Keys mode
# 600 (written so), certificates 644. openssl's chatter is shown only when it fails; then it dies.
tls_certificates() {
  local dir=$1 ca_name=$2 san=$3 days=$4 cn umask_was
  cn=${san%%,*}
  cn=${cn#*:}
  mkdir -p "$dir"
  umask_was=$(umask)
  umask 077
  if [[ ! -s $dir/ca.pem || ! -s $dir/ca.key ]]; then
    openssl_quiet genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key"
    openssl_quiet req -x509 -new -key "$dir/ca.key" -sha256 -days 3650 -subj "/CN=$ca_name" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$dir/ca.pem"
  fi
  openssl_quiet genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/server.key"
  openssl_quiet req -new -key "$dir/server.key" -subj "/CN=$cn" -out "$dir/server.csr"
  printf '%s\n' "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$dir/server.ext"
  # OpenSSL 3 gives the certificate a random serial number when told none (and writes no .srl).
  openssl_quiet x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -sha256 \
    -days "$days" -extfile "$dir/server.ext" -out "$dir/server.pem"
  rm -f "$dir/server.csr" "$dir/server.ext"
  umask "$umask_was"
  chmod 644 "$dir/ca.pem" "$dir/server.pem"
}

# openssl_quiet CMD...: runs openssl CMD, its chatter shown only when it fails (then it dies).
openssl_quiet() {
  local out
  out=$(openssl "$@" 2>&1) || {
    printf '%s\n' "$out" >&2
    die "openssl $1 failed"
  }
}

# --- gRPC ------------------------------------------------------------------------------------------

# grpc_frame: reads a serialized protobuf message on stdin and writes it as one gRPC message
# (0x00 = not compressed, 4-byte big-endian length, message) on stdout.
grpc_frame() {
  python3 -c 'import struct, sys
d = sys.stdin.buffer.read()
sys.stdout.buffer.write(b"\0" + struct.pack(">I", len(d)) + d)'
}

# --- throwaway stacks (benchmarks, deploy checks) -------------------------------------------------

# Pids that the EXIT trap of throwaway_workdir stops, newest first; append each process started.
STACK_PIDS=()

# throwaway_workdir PREFIX: makes $work, a temp dir the postgres user can reach, with $pg_dir for a
# cluster inside it, and traps EXIT (and INT/TERM) to stop every pid of STACK_PIDS and the cluster, to
# show the last lines of $work/*.log when the script fails, and to remove $work — kept when the
# caller set keep=1.
throwaway_workdir() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  chmod 755 "$work" # the postgres user must reach $work/pg
  pg_dir=$work/pg
  trap throwaway_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# shellcheck disable=SC2317 # called by the EXIT trap
throwaway_cleanup() {
  local rc=$? i f
  for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${STACK_PIDS[i]}" 10 || true
  done
  if pg_cluster_initialized "$pg_dir"; then pg_cluster_stop "$pg_dir" immediate || true; fi
  if ((rc != 0)); then
    for f in "$work"/*.log; do
      [[ -f $f ]] || continue
      printf '\n--- last lines of %s ---\n' "${f##*/}" >&2
      tail -n 15 "$f" >&2 || true
    done
  fi
  if ((${keep:-0})); then
    log "kept $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}

# advisor_migrate SERVER_BIN DB_URL LOG: applies the migrations; on failure shows LOG and dies. The
# URL goes in the environment: it may hold a password.
advisor_migrate() {
  ADVISOR_DATABASE_URL=$2 "$1" migrate >"$3" 2>&1 || {
    cat "$3" >&2
    die "advisor-server migrate failed"
  }
}

# advisor_serve SERVER_BIN DB_URL GRPC_PORT METRICS_PORT TOKEN_KEY LOG: starts `advisor-server serve`
# on loopback in the background (its pid in server_pid and STACK_PIDS; ADVISOR_* settings from the
# environment pass through) and waits for both ports; on failure shows the end of LOG and dies.
# Plaintext (ADVISOR_INSECURE=true) unless the caller set ADVISOR_TLS_CERT_FILE (or ADVISOR_INSECURE
# itself): the server refuses to start with neither. ADVISOR_INSECURE=true is then exported to the
# caller too, so that its clients (advisorctl and grpc_load read it) speak plaintext to this server.
# Secrets travel in the environment, not argv.
advisor_serve() {
  local rc=0
  if [[ -z ${ADVISOR_INSECURE:-} && -z ${ADVISOR_TLS_CERT_FILE:-} ]]; then export ADVISOR_INSECURE=true; fi
  (
    ADVISOR_DATABASE_URL=$2 ADVISOR_LISTEN=127.0.0.1:$3 ADVISOR_METRICS_LISTEN=127.0.0.1:$4 \
      ADVISOR_TOKEN_KEY=$5 exec "$1" serve >"$6" 2>&1 </dev/null
  ) &
  server_pid=$!
  STACK_PIDS+=("$server_pid")
  wait_for_tcp 127.0.0.1 "$3" 30 "$server_pid" || rc=$?
  if ((rc != 0)); then
    tail -n 30 "$6" >&2 || true
    die "advisor-server did not come up on 127.0.0.1:$3"
  fi
  wait_for_tcp 127.0.0.1 "$4" 10 "$server_pid" || die "metrics port $4 not open"
}
