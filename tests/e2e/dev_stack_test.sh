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
#   - the secret and the servers file are mode 600;
#   - a second `up` starts nothing (same pids);
#   - a server added to the servers file by hand survives `down` and `up` and is probed (a silent
#     port here, so it shows failures);
#   - `down` stops every process the stack started; `down --purge` removes the directory.
# Not registered with ctest: coturn's relay ports are a fixed range (ADVISOR_DEV_TURN_MIN_PORT..MAX,
# 49300-49339 here unless set), which parallel runs would share.
#
# Needs a build (scripts/build) and the packages of scripts/setup. Takes about 20 s.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
LOG_TAG=dev-stack-test

BUILD_DIR=${ADVISOR_DEV_BUILD_DIR:-$ADVISOR_ROOT/build}
CTL=$BUILD_DIR/services/advisorctl/advisorctl
[[ -x $CTL ]] || die "$CTL not built (scripts/build)"
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
export ADVISOR_DEV_TURN_MIN_PORT=${ADVISOR_DEV_TURN_MIN_PORT:-49300}
export ADVISOR_DEV_TURN_MAX_PORT=${ADVISOR_DEV_TURN_MAX_PORT:-49339}
export ADVISOR_PROBE_INTERVAL=60s

dev() { "$ADVISOR_ROOT/scripts/dev" "$@"; }
# The stack's own advisorctl JWT: outside the project folder advisorctl does not find it alone.
ctl() { "$CTL" --target "127.0.0.1:$GRPC_PORT" --jwt-file "$ADVISOR_DEV_DIR/advisorctl.jwt" "$@"; }

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
if "$CTL" --target "127.0.0.1:$GRPC_PORT" --jwt "" get-strategy --local open --remote open >/dev/null 2>&1; then
  fail "get-strategy without a JWT succeeded"
else
  pass "get-strategy without a JWT is refused"
fi

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
