#!/usr/bin/env bash
# tests/deploy/prometheus_stack_test.sh — the dashboard and the alert rules against a real Prometheus.
#
# Starts a throwaway stack on free loopback ports in a temp dir: PostgreSQL 15 (migrated), coturn with
# a TURN REST secret, advisor-server, turn-prober (1 s probe interval) and Debian's prometheus
# scraping both metrics ports every second with deploy/prometheus/alerts.yaml loaded. The TURN
# servers file has the live coturn (region "local") and one server nobody listens on (region
# "nowhere"), so the TURN panels show both states and the TURN alerts have something to find.
# The server verifies client JWTs against a generated JWKS file (one HS256 key); the script mints
# the JWTs itself, so the check does not depend on advisorctl's minting. Drives traffic with
# advisorctl in two rounds a few scrapes apart (several NAT pairs, reports that connected directly,
# through the relay, and failed; one forged token, one call without a JWT, one report sent twice,
# more reports for one pair than one identity may add), then hands over to observability_check.py,
# which queries every dashboard and alert expression through the HTTP API.
# Everything is stopped and removed on exit.
#
# Usage: prometheus_stack_test.sh --build-dir DIR [--python BIN] [--dashboard FILE] [--alerts FILE]
#                                  [--keep]
# (--python: the python3 with PyYAML, default /usr/bin/python3, Debian's, which python3-yaml serves;
# --dashboard/--alerts: check other files than deploy/'s, e.g. a draft.)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
trap_errors
LOG_TAG=deploy-prometheus
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

USAGE="usage: $0 --build-dir DIR [--python BIN] [--dashboard FILE] [--alerts FILE] [--keep]"
build_dir="" python=/usr/bin/python3 keep=0
DASHBOARD=$ADVISOR_ROOT/deploy/grafana/connectivity-advisor.json
ALERTS=$ADVISOR_ROOT/deploy/prometheus/alerts.yaml
while (($#)); do
  case $1 in
    --build-dir) build_dir=$2 && shift ;;
    --python) python=$2 && shift ;;
    --dashboard) DASHBOARD=$(realpath "$2") && shift ;;
    --alerts) ALERTS=$(realpath "$2") && shift ;;
    --keep) keep=1 ;;
    *) die "unknown argument: $1 ($USAGE)" ;;
  esac
  shift
done
[[ -n $build_dir ]] || die "$USAGE"

SERVER_BIN=$build_dir/services/advisor/advisor-server
PROBER_BIN=$build_dir/services/prober/turn-prober
CTL_BIN=$build_dir/services/advisorctl/advisorctl
PROMETHEUS_BIN=${PROMETHEUS_BIN:-/usr/bin/prometheus}

for bin in "$SERVER_BIN" "$PROBER_BIN" "$CTL_BIN"; do
  [[ -x $bin ]] || die "$bin is not built"
done
[[ -x $PROMETHEUS_BIN ]] || die "$PROMETHEUS_BIN not found (scripts/setup installs prometheus)"
command -v turnserver >/dev/null || die "turnserver not found (scripts/setup installs coturn)"
"$python" -c 'import yaml' 2>/dev/null || die "$python has no PyYAML (scripts/setup installs python3-yaml)"
pg_require

# --- throwaway stack ------------------------------------------------------------------------------

throwaway_workdir advisor-deploy

# start NAME PORT CMD...: runs CMD in the background (log: $work/NAME.log), waits for PORT.
start() {
  local name=$1 port=$2 rc=0
  shift 2
  "$@" >"$work/$name.log" 2>&1 </dev/null &
  STACK_PIDS+=($!)
  wait_for_tcp 127.0.0.1 "$port" 30 "$!" || rc=$?
  ((rc == 0)) || die "$name did not come up on 127.0.0.1:$port (see $name.log)"
}

# coturn listens on UDP and TCP on the same port, and relays from a range of its own; free_ports
# checks TCP only, so take a TCP-free port that is UDP-free too, and a relay range below the
# kernel's ephemeral ports (as tests/support/coturn.cc does).
read -r turn_port relay_min < <(python3 - <<'EOF'
import random, socket

def udp_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()

while True:
    t = socket.socket()
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    t.close()
    if udp_free(port):
        break
while True:
    base = 20000 + 32 * random.randrange((32768 - 20000) // 32)
    if all(udp_free(p) for p in range(base, base + 32)):
        break
print(port, base)
EOF
)
mapfile -t ports < <(free_ports 7)
pg_port=${ports[0]} grpc_port=${ports[1]} server_metrics=${ports[2]} prober_metrics=${ports[3]}
prom_port=${ports[4]} dead_turn_port=${ports[5]} # nothing listens there: the "nowhere" server
target=127.0.0.1:$grpc_port
prom_url=http://127.0.0.1:$prom_port

log "PostgreSQL on 127.0.0.1:$pg_port"
pg_cluster_init "$pg_dir" "$pg_port" --no-sync
pg_cluster_start "$pg_dir" "$pg_port"
pg_create_database "$pg_port" advisor
db_url=$(pg_url "$pg_port" advisor)
advisor_migrate "$SERVER_BIN" "$db_url" "$work/migrate.log"

turn_secret=$(openssl rand -hex 16)
log "coturn on 127.0.0.1:$turn_port (relay ports $relay_min-$((relay_min + 31)))"
coturn_command "$work/coturn" "$turn_port" "$relay_min" $((relay_min + 31)) "$turn_secret" example.org
start coturn "$turn_port" "${COTURN_COMMAND[@]}"

cat >"$work/turn-servers.yaml" <<EOF
servers:
  - id: local-1
    urls: ["turn:127.0.0.1:$turn_port?transport=udp"]
    region: local
    auth: {rest_secret: "$turn_secret"}
  - id: nowhere-1
    urls: ["turn:127.0.0.1:$dead_turn_port?transport=udp"]
    region: nowhere
    auth: {rest_secret: "$turn_secret"}
EOF

# jwt SUB [SCOPE]: an HS256 JWT for the stack's key, valid for an hour.
jwt_key=$(openssl rand -hex 32)
jwt() {
  python3 - "$jwt_key" "$@" <<'EOF'
import base64, hashlib, hmac, json, sys, time

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

key, sub = bytes.fromhex(sys.argv[1]), sys.argv[2]
now = int(time.time())
claims = {"sub": sub, "aud": "connectivity-advisor", "iat": now, "exp": now + 3600}
if len(sys.argv) > 3:
    claims["scope"] = sys.argv[3]
signing_input = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "stack"}).encode()) + "." + \
    b64url(json.dumps(claims).encode())
print(signing_input + "." + b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest()))
EOF
}
python3 - "$jwt_key" >"$work/jwks.json" <<'EOF'
import base64, json, sys
k = base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).rstrip(b"=").decode()
print(json.dumps({"keys": [{"kty": "oct", "kid": "stack", "alg": "HS256", "k": k}]}))
EOF
client_jwt=$(jwt stack-client)
admin_jwt=$(jwt stack-operator advisor.admin)

# The rate limit is off: the traffic below is one identity's burst, and a refused call would
# stop the script.
log "advisor-server on $target, metrics on 127.0.0.1:$server_metrics"
ADVISOR_TURN_SERVERS_FILE=$work/turn-servers.yaml ADVISOR_SNAPSHOT_INTERVAL=1s \
  ADVISOR_FLUSH_INTERVAL=500ms ADVISOR_AUTH_KEYS_FILE=$work/jwks.json ADVISOR_RATE_LIMIT=0 \
  advisor_serve "$SERVER_BIN" "$db_url" "$grpc_port" \
  "$server_metrics" "$(openssl rand -hex 32)" "$work/server.log"

log "turn-prober, metrics on 127.0.0.1:$prober_metrics"
start prober "$prober_metrics" "$PROBER_BIN" run --database-url "$db_url" \
  --turn-servers-file "$work/turn-servers.yaml" --probe-interval 1s --probe-timeout 800ms \
  --failure-threshold 2 --metrics-listen "127.0.0.1:$prober_metrics"

# The rule file is loaded as is: Prometheus evaluates every rule each second, and the check below
# asserts that none of them failed to evaluate.
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $ALERTS
scrape_configs:
  - job_name: advisor-server
    static_configs: [{targets: ["127.0.0.1:$server_metrics"]}]
  - job_name: turn-prober
    static_configs: [{targets: ["127.0.0.1:$prober_metrics"]}]
EOF
log "prometheus on $prom_url"
start prometheus "$prom_port" "$PROMETHEUS_BIN" "--config.file=$work/prometheus.yml" \
  "--storage.tsdb.path=$work/tsdb" "--web.listen-address=127.0.0.1:$prom_port" \
  --log.level=warn

# prom_value QUERY: the first sample's value of an instant query ("" when empty or on error).
prom_value() {
  curl -fsS --get "$prom_url/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    python3 -c 'import json, sys
r = json.load(sys.stdin).get("data", {}).get("result", [])
print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}

# Both targets scraped before any traffic, so that counters start at their pre-registered zeros
# and the first traffic shows as an increase.
scrapes_both() { [[ $(prom_value 'count(up == 1)') == 2 ]]; }
wait_until 30 "" scrapes_both || die "Prometheus does not scrape both targets (see $prom_url/targets)"
log "Prometheus scrapes advisor-server and turn-prober"

# --- traffic --------------------------------------------------------------------------------------

ctl() { ADVISOR_JWT=$client_jwt "$CTL_BIN" --target "$target" "$@"; }

# token LOCAL REMOTE: asks for a strategy, prints the decision token (protobuf's JSON mapping
# spells it decisionToken; accept the proto name too).
token() {
  ctl --json get-strategy --local "$1" --remote "$2" | python3 -c 'import json, sys
r = json.load(sys.stdin)
print(r.get("decisionToken") or r["decision_token"])'
}

traffic_round() {
  local t
  # cone pairs → DIRECT: connected directly
  for pair in "full_cone full_cone" "restricted_cone port_restricted_cone" "open full_cone"; do
    read -r a b <<<"$pair"
    t=$(token "$a" "$b")
    ctl report --token "$t" --connected --time-to-connect 1200 --attempts direct:succeeded:1200 >/dev/null
  done
  # one symmetric, or unknown → TURN_FALLBACK: direct timed out, the relay connected
  for pair in "full_cone symmetric" "unknown restricted_cone"; do
    read -r a b <<<"$pair"
    t=$(token "$a" "$b")
    ctl report --token "$t" --connected --time-to-connect 5900 \
      --attempts direct:timed_out:5000,relay:succeeded:900:udp >/dev/null
  done
  # both symmetric, or blocked → TURN_ONLY: relayed; and one session that failed
  t=$(token symmetric symmetric)
  ctl report --token "$t" --connected --time-to-connect 800 --attempts relay:succeeded:800:udp >/dev/null
  t=$(token blocked open)
  ctl report --token "$t" --failed --attempts relay:failed:3000:tcp >/dev/null
  # the same report twice: the retry is answered OK and counted as a duplicate
  t=$(token restricted_cone restricted_cone)
  ctl report --token "$t" --connected --time-to-connect 900 --attempts direct:succeeded:900 >/dev/null
  ctl report --token "$t" --connected --time-to-connect 900 --attempts direct:succeeded:900 >/dev/null
  # more reports for one pair than one identity may add (--max-reports-per-identity, 3): the rest
  # are answered OK and counted as capped
  for _ in 1 2 3 4; do
    t=$(token open open)
    ctl report --token "$t" --connected --time-to-connect 300 --attempts direct:succeeded:300 >/dev/null
  done
  # a forged token: refused (UNAUTHENTICATED or INVALID_ARGUMENT), counted as a client error
  if ctl report --token "forged.token" --failed --attempts relay:failed:3000 >/dev/null 2>&1; then
    die "advisorctl report with a forged token succeeded"
  fi
  # no JWT: refused as unauthenticated
  if env -u ADVISOR_JWT "$CTL_BIN" --target "$target" get-strategy --local open --remote open >/dev/null 2>&1; then
    die "get-strategy without a JWT succeeded"
  fi
  ctl health >/dev/null
  ADVISOR_JWT=$admin_jwt "$CTL_BIN" --target "$target" turn-servers >/dev/null
}

log "traffic, round 1"
traffic_round
sleep 3 # three scrapes: series created by round 1 (error codes, histograms) get a first sample
log "traffic, round 2"
traffic_round
sleep 3 # flushes (500 ms), a prober cycle or two, scrapes and rule evaluations

# --- the check ------------------------------------------------------------------------------------

# The dead server must be found down by the TURN alerts within a few probe cycles (2 failures in a row).
"$python" "$HERE/observability_check.py" live --prometheus "$prom_url" --dashboard "$DASHBOARD" \
  --alerts "$ALERTS" \
  --expect-active 'TurnServerDown{server="nowhere-1"}' \
  --expect-active 'TurnRegionNoHealthyServer{region="nowhere"}' \
  --wait 20
