#!/usr/bin/env bash
# tests/bench/grpc.sh — gRPC throughput benchmark of advisor-server, plus a no-lost-reports check.
# A benchmark, not a test: ctest does not run it.
#
# Starts a throwaway stack (PostgreSQL 15 cluster in a temp dir on a free port, advisor-server on free
# loopback ports; everything is stopped and removed on exit), then drives it with h2load
# (-t 1 -c 16 -m 32, -n requests per method, in R interleaved rounds; medians reported) in one run:
#   1. grpc.health.v1.Health/Check                              the baseline
#   2. connectivity.advisor.v1.ConnectivityAdvisor/GetStrategy   goal: >= 0.9 x baseline req/s
#   3. connectivity.advisor.v1.ConnectivityAdvisor/ReportOutcome goal: >= 0.8 x baseline req/s
#      (every request carries the same real decision token, from `advisorctl get-strategy --json`)
# h2load counts any HTTP 200 as a success while gRPC puts its status in trailers, so the gRPC status
# counts come from the server's own grpc_server_handled_total counters.
#
# Durability check: acknowledged = grpc_server_handled_total{ReportOutcome, grpc_code="OK"} from
# /metrics; then SIGTERM (the server flushes on shutdown); stored = sum(sessions) in
# outcome_aggregates. Prints both and "missing: N"; exits non-zero if N != 0 (N < 0 would mean reports
# applied twice). With --strict, a missed throughput goal also fails.
#
# Needs a build (scripts/build) and the packages from scripts/setup (h2load, protoc, PostgreSQL 15).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: tests/bench/grpc.sh [-n REQUESTS] [--rounds R] [--build-dir DIR] [--strict] [--keep]

  -n REQUESTS       requests per method and round (default 200000, or $ADVISOR_BENCH_REQUESTS)
  --rounds R        rounds of the three loads, taken in turns; figures are medians (default 3)
  --build-dir DIR   where advisor-server and advisorctl were built (default: <project>/build)
  --strict          also exit non-zero when a throughput goal is missed
  --keep            keep the temp directory (server and PostgreSQL logs, request bodies)
  -h, --help

Server settings pass through the environment (ADVISOR_FLUSH_INTERVAL, ADVISOR_SNAPSHOT_INTERVAL,
ADVISOR_LOG_LEVEL). Exit: 0 ok, 1 lost/duplicated reports or a failure, 3 goal missed with --strict.
EOF
}

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
LOG_TAG=bench

requests=${ADVISOR_BENCH_REQUESTS:-200000}
rounds=${ADVISOR_BENCH_ROUNDS:-3}
build_dir=$ADVISOR_ROOT/build
strict=0
keep=0
while (($#)); do
  case $1 in
    -n)
      [[ $# -ge 2 ]] || die "-n needs a number"
      requests=$2
      shift
      ;;
    --build-dir)
      [[ $# -ge 2 ]] || die "--build-dir needs a directory"
      build_dir=$2
      shift
      ;;
    --rounds)
      [[ $# -ge 2 ]] || die "--rounds needs a number"
      rounds=$2
      shift
      ;;
    --strict) strict=1 ;;
    --keep) keep=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
  shift
done
[[ $requests =~ ^[1-9][0-9]*$ ]] || die "-n must be a positive integer"

SERVER_BIN=$build_dir/services/advisor/advisor-server
CTL_BIN=$build_dir/services/advisorctl/advisorctl
PROTO_DIR=$ADVISOR_ROOT/proto
ADVISOR_PROTO=connectivity/advisor/v1/advisor.proto
SERVICE=connectivity.advisor.v1.ConnectivityAdvisor
H2LOAD_ARGS=(-t 1 -c 16 -m 32 -H 'content-type: application/grpc' -H 'te: trailers')

for tool in h2load protoc curl python3; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/setup)"
done
[[ -x $SERVER_BIN && -x $CTL_BIN ]] || die "advisor-server/advisorctl not built in $build_dir (run scripts/build)"
pg_require

# --- throwaway stack ------------------------------------------------------------------------------

throwaway_workdir advisor-bench

mapfile -t ports < <(free_ports 3)
pg_port=${ports[0]} grpc_port=${ports[1]} metrics_port=${ports[2]}
target=127.0.0.1:$grpc_port
metrics_url=http://127.0.0.1:$metrics_port/metrics

log "PostgreSQL on 127.0.0.1:$pg_port ($pg_dir)"
pg_cluster_init "$pg_dir" "$pg_port" --no-sync
pg_cluster_start "$pg_dir" "$pg_port"
pg_create_database "$pg_port" advisor
db_url=$(pg_url "$pg_port" advisor)

log "migrate"
advisor_migrate "$SERVER_BIN" "$db_url" "$work/migrate.log"

log "advisor-server on $target, metrics on 127.0.0.1:$metrics_port"
advisor_serve "$SERVER_BIN" "$db_url" "$grpc_port" "$metrics_port" "$(openssl rand -hex 32)" \
  "$work/server.log"

# --- request bodies -------------------------------------------------------------------------------

# encode MESSAGE: text-format message on stdin -> one framed gRPC message on stdout.
encode() {
  protoc --encode="connectivity.advisor.v1.$1" -I "$PROTO_DIR" "$PROTO_DIR/$ADVISOR_PROTO" | grpc_frame
}

# Empty HealthCheckRequest: flag 0, length 0.
printf '\x00\x00\x00\x00\x00' >"$work/health.bin"

encode GetStrategyRequest >"$work/get_strategy.bin" <<'EOF'
local { nat_type: NAT_TYPE_FULL_CONE confidence: 0.9 }
remote { nat_type: NAT_TYPE_SYMMETRIC confidence: 0.8 }
EOF

log "decision token from advisorctl get-strategy --json"
"$CTL_BIN" --target "$target" get-strategy --local full_cone --remote symmetric --json >"$work/strategy.json" ||
  die "advisorctl get-strategy failed"
token=$(python3 - "$work/strategy.json" <<'EOF'
import json, sys

# protobuf's JSON mapping spells it decisionToken; accept the proto name too.
with open(sys.argv[1]) as f:
    r = json.load(f)
token = r.get("decisionToken") or r.get("decision_token")
if not token:
    sys.exit("no decision_token in advisorctl output")
print(token)
EOF
)
# The token goes into a text-format string literal: accept only characters that need no escaping.
[[ $token =~ ^[A-Za-z0-9._~:+/=-]+$ ]] || die "unexpected characters in decision token: $token"

encode ReportOutcomeRequest >"$work/report_outcome.bin" <<EOF
decision_token: "$token"
attempts { path: PATH_DIRECT result: ATTEMPT_RESULT_SUCCEEDED duration_ms: 1200 }
connected: true
time_to_connect_ms: 1200
EOF

# --- load -----------------------------------------------------------------------------------------

# h2load_run NAME BODY PATH N: runs h2load, keeps its output in $work/NAME.h2load, prints req/s.
h2load_run() {
  local name=$1 body=$2 path=$3 n=$4 out=$work/$1.h2load
  h2load "${H2LOAD_ARGS[@]}" -n "$n" -d "$body" "http://$target$path" >"$out" 2>&1 ||
    {
      cat "$out" >&2
      die "h2load failed for $name"
    }
  local done_line
  done_line=$(grep -m1 '^requests:' "$out" || true)
  grep -q " $n succeeded," <<<"$done_line" || warn "$name: not every request got HTTP 200: $done_line"
  awk '/^finished in/ { v = $4; sub(/,$/, "", v); print v; exit }' "$out"
}

warmup=$((requests / 20 > 1000 ? requests / 20 : 1000))
log "warm-up: $warmup health checks"
h2load_run warmup "$work/health.bin" /grpc.health.v1.Health/Check "$warmup" >/dev/null

# The machine is shared and noisy: the three loads take turns, round after round, and each figure is
# the median of its rounds, so a burst of background work cannot land on one method only.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
health_runs=() strategy_runs=() report_runs=()
for ((round = 1; round <= rounds; round++)); do
  log "round $round/$rounds: Health/Check, GetStrategy, ReportOutcome ($requests requests each)"
  health_runs+=("$(h2load_run health "$work/health.bin" /grpc.health.v1.Health/Check "$requests")")
  strategy_runs+=("$(h2load_run get_strategy "$work/get_strategy.bin" "/$SERVICE/GetStrategy" "$requests")")
  report_runs+=("$(h2load_run report_outcome "$work/report_outcome.bin" "/$SERVICE/ReportOutcome" "$requests")")
done
health_rps=$(median "${health_runs[@]}")
strategy_rps=$(median "${strategy_runs[@]}")
report_rps=$(median "${report_runs[@]}")

# --- server-side gRPC status counts ---------------------------------------------------------------

curl -fsS "$metrics_url" >"$work/metrics.txt" || die "cannot scrape $metrics_url"

# handled METHOD [CODE]: grpc_server_handled_total for METHOD of $SERVICE, summed over other labels;
# CODE "OK" counts OK only, "!OK" every other code, empty every code.
handled() {
  python3 - "$work/metrics.txt" "$SERVICE" "$1" "${2:-}" <<'EOF'
import re, sys
path, service, method, code = sys.argv[1:5]
line_re = re.compile(r'^grpc_server_handled_total\{(.*)\}\s+(\S+)')
label_re = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
total = 0.0
with open(path) as f:
    for line in f:
        m = line_re.match(line)
        if not m:
            continue
        labels = dict(label_re.findall(m.group(1)))
        if labels.get("grpc_service") != service or labels.get("grpc_method") != method:
            continue
        c = labels.get("grpc_code")
        if (code == "OK" and c != "OK") or (code == "!OK" and c == "OK"):
            continue
        total += float(m.group(2))
print(int(total))
EOF
}

strategy_ok=$(handled GetStrategy OK)
strategy_err=$(handled GetStrategy '!OK')
acknowledged=$(handled ReportOutcome OK)
report_err=$(handled ReportOutcome '!OK')

# --- durability: stop (flush) and count ------------------------------------------------------------

log "SIGTERM advisor-server (flushes on shutdown)"
server_exit=0
if stop_pid "$server_pid" 60; then
  wait "$server_pid" || server_exit=$?
else
  server_exit=killed
fi
stored=$(pg_psql "$pg_port" advisor -c 'SELECT coalesce(sum(sessions), 0) FROM outcome_aggregates') ||
  die "cannot count sessions in outcome_aggregates"
stored=${stored%%.*}
missing=$((acknowledged - stored))

# --- report ---------------------------------------------------------------------------------------

goal_missed=0
ratio_line() { # NAME RPS GOAL
  python3 - "$1" "$2" "$health_rps" "$3" <<'EOF'
import sys
name, rps, base, goal = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
ratio = rps / base if base > 0 else 0.0
ok = ratio >= goal
print(f"  {name:<28} {ratio:6.3f}  (goal >= {goal:.1f}: {'met' if ok else 'NOT MET'})")
sys.exit(0 if ok else 1)
EOF
}

cat <<EOF

advisor-server gRPC benchmark — h2load -t 1 -c 16 -m 32 -n $requests, median of $rounds rounds, $(nproc) cores shared with the server
  Health/Check                 $health_rps req/s   (rounds: ${health_runs[*]})
  GetStrategy                  $strategy_rps req/s   (rounds: ${strategy_runs[*]}; gRPC OK $strategy_ok, other codes $strategy_err)
  ReportOutcome                $report_rps req/s   (rounds: ${report_runs[*]}; gRPC OK $acknowledged, other codes $report_err)
ratios
EOF
ratio_line GetStrategy/Health "$strategy_rps" 0.9 || goal_missed=1
ratio_line ReportOutcome/Health "$report_rps" 0.8 || goal_missed=1
cat <<EOF
reports
  acknowledged (ReportOutcome OK)   $acknowledged
  stored (sum of sessions)          $stored
  missing: $missing
server exit status after SIGTERM: $server_exit
EOF

((strategy_err == 0 && report_err == 0)) || warn "some requests got a non-OK gRPC status: the req/s above include them"
if ((missing != 0)); then
  if ((missing > 0)); then
    log "FAIL: $missing acknowledged report(s) not stored"
  else
    log "FAIL: $((-missing)) more session(s) stored than acknowledged (applied twice?)"
  fi
  exit 1
fi
[[ $server_exit == 0 ]] || warn "advisor-server exited with status $server_exit"
if ((strict && goal_missed)); then
  exit 3
fi
exit 0
