#!/usr/bin/env bash
# tests/e2e/dev_stack_test.sh — scripts/dev end to end, TURN included.
#
# Runs a whole dev stack (PostgreSQL, coturn, turn-prober, advisor-server) in a temp directory on free
# loopback ports (ADVISOR_DEV_DIR and the ADVISOR_DEV_*_PORT settings), so that it leaves the
# checkout's own .dev alone, and checks:
#   - `up` starts everything; `status` reports five running components;
#   - `advisorctl turn-servers` shows the local coturn healthy, with a latency;
#   - `advisorctl get-strategy --local symmetric --remote symmetric` offers turn:127.0.0.1:PORT with
#     REST API credentials `<expiry>:<opaque client id>`, and coturn accepts them: an Allocate and a relayed
#     round trip to a peer over UDP and over TCP (coturn's own turnutils_uclient) lose no packet;
#   - the secret and the servers file are mode 600, and so are coturn's config file, the database
#     passwords and the TLS keys;
#   - the database asks for passwords (scram-sha-256, the superuser's too), the server and the prober
#     connect as their own logins, each a member of its group role only;
#   - the server certificate is ECDSA P-256 for localhost and 127.0.0.1, signed by .dev/tls/ca.pem,
#     and (once the server serves TLS) verifies against it;
#   - no secret (token key, JWT keys and the operator JWT, TURN secret, database passwords, TLS keys)
#     appears in any process's command line, in the stack's logs or in the server's and the
#     prober's /metrics; the same scan finds a secret planted on purpose in each of them;
#   - a second `up` starts nothing (same pids);
#   - a server added to the servers file by hand survives `down` and `up` and is probed (a silent
#     port here, so it shows failures);
#   - `down` stops every process the stack started; `down --purge` removes the directory.
# ctest runs it as stack.dev (label stack, the normal phase of scripts/test only: the stack's
# programs are the build's, and a sanitizer build's would only be slower). coturn's relay ports, a
# range, are 40 consecutive ports found free (ADVISOR_DEV_TURN_MIN_PORT..MAX when set).
#
# Needs advisor-server, turn-prober and advisorctl built in ADVISOR_DEV_BUILD_DIR (default
# <project>/build) and the packages of scripts/setup. Takes about 20 s.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
trap_errors
LOG_TAG=dev-stack-test

BUILD_DIR=${ADVISOR_DEV_BUILD_DIR:-$ADVISOR_ROOT/build}
CTL=$BUILD_DIR/services/advisorctl/advisorctl
for bin in "$CTL" "$BUILD_DIR/services/advisor/advisor-server" "$BUILD_DIR/services/prober/turn-prober"; do
  [[ -x $bin ]] || die "$bin not built (scripts/build)"
done
for tool in turnutils_uclient turnutils_peer curl python3; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/setup)"
done

WORK=$(mktemp -d)
# As root the cluster runs as the postgres user, which must be able to reach it under here.
chmod 755 "$WORK"
mapfile -t ports < <(free_ports 7)
PG_PORT=${ports[0]} GRPC_PORT=${ports[1]} METRICS_PORT=${ports[2]} TURN_PORT=${ports[3]}
PROBER_PORT=${ports[4]} PEER_PORT=${ports[5]} SILENT_PORT=${ports[6]}
export ADVISOR_DEV_DIR=$WORK/dev
export ADVISOR_DEV_BUILD_DIR=$BUILD_DIR
export ADVISOR_DEV_PG_PORT=$PG_PORT ADVISOR_DEV_PORT=$GRPC_PORT ADVISOR_DEV_METRICS_PORT=$METRICS_PORT
export ADVISOR_DEV_TURN_PORT=$TURN_PORT ADVISOR_DEV_PROBER_METRICS_PORT=$PROBER_PORT
ADVISOR_DEV_TURN_MIN_PORT=${ADVISOR_DEV_TURN_MIN_PORT:-$(free_port_range 40)}
ADVISOR_DEV_TURN_MAX_PORT=${ADVISOR_DEV_TURN_MAX_PORT:-$((ADVISOR_DEV_TURN_MIN_PORT + 39))}
export ADVISOR_DEV_TURN_MIN_PORT ADVISOR_DEV_TURN_MAX_PORT
export ADVISOR_PROBE_INTERVAL=60s

dev() { "$ADVISOR_ROOT/scripts/dev" "$@"; }
# The stack's CA: outside the project folder advisorctl does not find .dev/tls/ca.pem alone.
CTL_TLS=(--ca-file "$ADVISOR_DEV_DIR/tls/ca.pem")
# The stack's own advisorctl JWT: outside the project folder advisorctl does not find it alone.
ctl() {
  "$CTL" --target "127.0.0.1:$GRPC_PORT" "${CTL_TLS[@]}" --jwt-file "$ADVISOR_DEV_DIR/advisorctl.jwt" "$@"
}

PEER_PID=
cleanup() {
  [[ -z $PEER_PID ]] || kill "$PEER_PID" 2>/dev/null || true
  dev down --purge >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

failures=0
pass() { log "ok: $*"; }
fail() {
  log "FAIL: $*"
  failures=$((failures + 1))
}
# check DESCRIPTION CMD...: runs CMD, counts a failure when it fails.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# stack_pids: the pids of the running stack, one per line (coturn, prober, server, postmaster).
stack_pids() {
  local f
  for f in coturn.pid turn-prober.pid advisor-server.pid pg/postmaster.pid; do
    [[ -f $ADVISOR_DEV_DIR/$f ]] && head -n 1 "$ADVISOR_DEV_DIR/$f"
  done
  return 0
}

# relay_round_trip USER PASSWORD [-t]: an Allocate with these credentials and 5 packets relayed to the
# peer and back (-t: over TCP); true when none was lost.
relay_round_trip() {
  local out
  out=$(timeout 30 turnutils_uclient "${@:3}" -p "$TURN_PORT" -u "$1" -w "$2" -m 1 -n 5 -l 100 \
    -e 127.0.0.1 -r "$PEER_PORT" 127.0.0.1 2>&1) || true
  grep -q 'Total lost packets 0 ' <<<"$out" || {
    printf '%s\n' "$out" | tail -n 5 >&2
    return 1
  }
}

# --- up ---------------------------------------------------------------------------------------------
log "scripts/dev up in $ADVISOR_DEV_DIR (gRPC $GRPC_PORT, TURN $TURN_PORT)"
if ! dev up --no-setup --no-build >"$WORK/up.log" 2>&1; then
  cat "$WORK/up.log" >&2
  die "scripts/dev up failed"
fi
check "up reports the TURN server" grep -qF "turn:127.0.0.1:$TURN_PORT?transport=udp" "$WORK/up.log"
check "up reports the first probe" grep -qF "TURN server local: check passed" "$WORK/up.log"
status=$(dev status) || fail "status exits non-zero"
printf '%s\n' "$status"
# postgres, coturn, prober and advisor say "running"; the schema line counts migrations.
check "status: four processes run" [ "$(grep -c ' running ' <<<"$status")" == 4 ]
check "status: the schema is migrated" grep -q '^schema .* applied' <<<"$status"

# --- TURN health and answers ------------------------------------------------------------------------
servers=$(ctl turn-servers)
printf '%s\n' "$servers"
check "turn-servers: local healthy with a latency" \
  grep -Eq "^local +dev +yes +healthy +[0-9.]+(us|ms|s) " <<<"$servers"

answer=$(ctl --json get-strategy --local symmetric --remote symmetric)
read -r url user password < <(python3 -c '
import json, sys
for server in json.loads(sys.argv[1])["iceConfig"]["iceServers"]:
    if server["urls"][0].startswith("turn:"):
        print(server["urls"][0], server["username"], server["credential"])
' "$answer")
check "get-strategy offers the local TURN server" [ "$url" == "turn:127.0.0.1:$TURN_PORT?transport=udp" ]
if [[ $user =~ ^([0-9]+):[A-Za-z0-9_-]{16}$ ]] && ((BASH_REMATCH[1] > $(date +%s))); then
  pass "credentials are <expiry>:<client id>, expiring in $((BASH_REMATCH[1] - $(date +%s))) s"
else
  fail "credentials: username \"$user\" is not <future expiry>:<client id>"
fi

turnutils_peer -L 127.0.0.1 -p "$PEER_PORT" >"$WORK/peer.log" 2>&1 &
PEER_PID=$!
sleep 0.3
check "coturn accepts the answer's credentials: relay over UDP" relay_round_trip "$user" "$password"
check "coturn accepts the answer's credentials: relay over TCP" relay_round_trip "$user" "$password" -t
if relay_round_trip "$user" "x$password" 2>/dev/null; then
  fail "coturn accepts a wrong password"
else
  pass "coturn refuses a wrong password"
fi

check "turn.secret is mode 600" [ "$(stat -c %a "$ADVISOR_DEV_DIR/turn.secret")" == 600 ]
check "turn-servers.yaml is mode 600" [ "$(stat -c %a "$ADVISOR_DEV_DIR/turn-servers.yaml")" == 600 ]
check "auth-keys.json is mode 600" [ "$(stat -c %a "$ADVISOR_DEV_DIR/auth-keys.json")" == 600 ]
check "advisorctl.jwt is mode 600" [ "$(stat -c %a "$ADVISOR_DEV_DIR/advisorctl.jwt")" == 600 ]
for f in coturn.conf pgpass pg-superuser.password pg-owner.password pg-server.password \
  pg-prober.password token.key tls/ca.key tls/server.key; do
  check "$f is mode 600" [ "$(stat -c %a "$ADVISOR_DEV_DIR/$f")" == 600 ]
done
check "coturn.conf holds the TURN secret" \
  grep -qxF "static-auth-secret=$(<"$ADVISOR_DEV_DIR/turn.secret")" "$ADVISOR_DEV_DIR/coturn.conf"
if "$CTL" --target "127.0.0.1:$GRPC_PORT" "${CTL_TLS[@]}" --jwt "" get-strategy --local open --remote open >/dev/null 2>&1; then
  fail "get-strategy without a JWT succeeded"
else
  pass "get-strategy without a JWT is refused"
fi

# --- database logins ---------------------------------------------------------------------------------
# psql_as USER [PASSWORD]: psql as USER with PASSWORD (in the environment), or none at all.
psql_as() {
  PGPASSFILE=/dev/null PGPASSWORD=${2:-} PGCONNECT_TIMEOUT=5 "$PG_BINDIR/psql" -X -q -At -w \
    -h 127.0.0.1 -p "$PG_PORT" -U "$1" -d advisor -c "${3:-SELECT 1}" 2>&1
}
# fails CMD...: true when CMD fails (its output dropped).
fails() { ! "$@" >/dev/null 2>&1; }
check "the superuser needs its password" fails psql_as advisor
for who in superuser owner server prober; do
  case $who in
    superuser) login=advisor ;;
    owner) login=advisor_owner ;;
    *) login=advisor_${who}_login ;;
  esac
  password=$(<"$ADVISOR_DEV_DIR/pg-$who.password")
  check "$login logs in with its password" [ "$(psql_as "$login" "$password")" == 1 ]
  if [[ $(psql_as "$login" "x$password") == 1 ]]; then fail "$login logs in with a wrong password"; fi
done
su_password=$(<"$ADVISOR_DEV_DIR/pg-superuser.password")
check "the password hashes are scram-sha-256" [ "$(psql_as advisor "$su_password" \
  "SELECT count(*) FROM pg_authid WHERE rolcanlogin AND rolpassword NOT LIKE 'SCRAM-SHA-256\$%'")" == 0 ]
members=$(psql_as advisor "$su_password" "SELECT string_agg(m.rolname || '>' || g.rolname, ','
  ORDER BY m.rolname, g.rolname) FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member
  JOIN pg_roles g ON g.oid = a.roleid WHERE m.rolname LIKE 'advisor%'")
check "each login is a member of its group role only ($members)" \
  [ "$members" == "advisor_prober_login>advisor_prober,advisor_server_login>advisor_server" ]
sessions=$(psql_as advisor "$su_password" "SELECT string_agg(DISTINCT usename, ',') FROM
  pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
check "the server and the prober connect as their logins ($sessions)" \
  [ "$sessions" == "advisor_prober_login,advisor_server_login" ]
check "the database belongs to advisor_owner" [ "$(psql_as advisor "$su_password" \
  "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'advisor'")" == advisor_owner ]
check "the server's login cannot read server files" fails \
  psql_as advisor_server_login "$(<"$ADVISOR_DEV_DIR/pg-server.password")" "SELECT pg_read_file('PG_VERSION')"

# --- TLS -------------------------------------------------------------------------------------------------
cert=$(openssl x509 -noout -text -in "$ADVISOR_DEV_DIR/tls/server.pem")
check "the server certificate is ECDSA P-256" grep -q 'NIST CURVE: P-256' <<<"$cert"
check "the server certificate is for localhost and 127.0.0.1" \
  grep -q 'DNS:localhost, IP Address:127.0.0.1' <<<"$cert"
check "the server certificate is signed by the local CA" \
  openssl verify -CAfile "$ADVISOR_DEV_DIR/tls/ca.pem" "$ADVISOR_DEV_DIR/tls/server.pem"
handshake=$(openssl s_client -connect "127.0.0.1:$GRPC_PORT" -servername localhost -alpn h2 \
  -CAfile "$ADVISOR_DEV_DIR/tls/ca.pem" -verify_return_error </dev/null 2>&1) || true
check "the server serves TLS with the certificate" grep -q 'Verify return code: 0 (ok)' <<<"$handshake"

# --- no secret in argv, logs or metrics ------------------------------------------------------------------
# The secrets, one per line, in a file: grep reads them with -f, never from a command line. The JWKS
# holds HS256 keys in "k" (private EC/RSA parts in "d", "p", "q", ...); a PEM key by its first line.
secrets=$WORK/secrets
{
  for f in token.key turn.secret pg-superuser.password pg-owner.password pg-server.password \
    pg-prober.password advisorctl.jwt; do
    tr -d '\n' <"$ADVISOR_DEV_DIR/$f"
    echo
  done
  python3 -c '
import json, sys
for key in json.load(open(sys.argv[1]))["keys"]:
    for part in ("k", "d", "p", "q", "dp", "dq", "qi"):
        if part in key:
            print(key[part])
' "$ADVISOR_DEV_DIR/auth-keys.json"
  sed -n 2p "$ADVISOR_DEV_DIR/tls/server.key"
  sed -n 2p "$ADVISOR_DEV_DIR/tls/ca.key"
} | grep -E '.{16}' >"$secrets"
check "secrets to look for: $(wc -l <"$secrets")" [ "$(wc -l <"$secrets")" -ge 10 ]

# leaks: reads text on stdin and prints the start of each secret found in it; true when one was.
leaks() { grep -oF -f "$secrets" | sort -u | cut -c1-8 | sed 's/$/.../' | grep .; }
# cmdlines: every process's command line, one per line.
cmdlines() {
  local f
  for f in /proc/[0-9]*/cmdline; do
    tr '\0' ' ' <"$f" 2>/dev/null && echo
  done
}
# scanned NAME CMD...: fails the check NAME when the output of CMD holds a secret.
scanned() {
  local what=$1 found
  shift
  if found=$("$@" | leaks); then fail "$what holds secrets: $(tr '\n' ' ' <<<"$found")"; else pass "$what: no secret"; fi
}
stack_logs() { cat "$ADVISOR_DEV_DIR"/*.log "$ADVISOR_DEV_DIR"/pg/postgresql.log "$WORK/up.log" 2>/dev/null; }
metrics() { curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics"; }
scanned "command lines" cmdlines
scanned "logs" stack_logs
scanned "server /metrics" metrics "$METRICS_PORT"
scanned "prober /metrics" metrics "$PROBER_PORT"

# The scan would see a secret: one planted in a command line, in a log and beside the metrics.
planted=$(sed -n 1p "$secrets")
python3 -c 'import time; time.sleep(20)' "$planted" &
planted_pid=$!
found_in() { "$@" | leaks >/dev/null; }
planted_log() {
  stack_logs
  sed -n 2p "$secrets"
}
planted_metrics() {
  metrics "$METRICS_PORT"
  tail -n 1 "$secrets"
}
check "the scan finds a secret planted in a command line" found_in cmdlines
kill "$planted_pid" 2>/dev/null || true
wait "$planted_pid" 2>/dev/null || true
check "the scan finds a secret planted in a log" found_in planted_log
check "the scan finds a secret planted in metrics" found_in planted_metrics

# --- idempotent up ------------------------------------------------------------------------------------
before=$(stack_pids)
dev up --no-setup --no-build >"$WORK/up2.log" 2>&1 || fail "second up failed: $(cat "$WORK/up2.log")"
check "second up starts nothing" [ "$(stack_pids)" == "$before" ]
check "second up says so" [ "$(grep -c 'already running' "$WORK/up2.log")" == 4 ]

# --- a server added by hand ---------------------------------------------------------------------------
dev down >/dev/null 2>&1
cat >>"$ADVISOR_DEV_DIR/turn-servers.yaml" <<EOF
  - id: silent
    urls: ["turn:127.0.0.1:$SILENT_PORT?transport=udp"]
    auth: {username: "nobody", password: "nothing"}
EOF
dev up --no-setup --no-build >"$WORK/up3.log" 2>&1 || fail "up after an edit failed: $(cat "$WORK/up3.log")"
check "an edited servers file is kept" grep -q 'id: silent' "$ADVISOR_DEV_DIR/turn-servers.yaml"
check "up reports the added server's failed check" grep -qF "TURN server silent: check FAILED" "$WORK/up3.log"
servers=$(ctl turn-servers)
printf '%s\n' "$servers"
check "the added server is probed" grep -Eq '^silent .* 1 +turn:' <<<"$servers"
check "local is still offered" grep -Eq '^local +dev +yes +healthy ' <<<"$servers"

# --- down ------------------------------------------------------------------------------------------------
pids=$(stack_pids)
dev down >/dev/null 2>&1 || fail "down failed"
left=()
for pid in $pids; do
  if pid_alive "$pid"; then left+=("$pid"); fi
done
check "down stops every process of the stack ($(wc -w <<<"$pids") pids)" [ "${#left[@]}" == 0 ]
check "down keeps the data" [ -f "$ADVISOR_DEV_DIR/turn.secret" ]
rc=0
dev status >/dev/null || rc=$?
check "status after down exits 3" [ "$rc" == 3 ]
dev down --purge >/dev/null 2>&1 || fail "down --purge failed"
check "down --purge removes the directory" [ ! -e "$ADVISOR_DEV_DIR" ]

if ((failures)); then
  log "$failures check(s) failed"
  exit 1
fi
log "all checks passed"
