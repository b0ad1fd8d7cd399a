#!/usr/bin/env bash
# tests/bench/grpc.sh — gRPC throughput benchmark of advisor-server with authentication on, plus a
# no-lost-reports check. A benchmark, not a test: ctest does not run it.
#
# Starts a throwaway stack (PostgreSQL 15 cluster in a temp dir on a free port, advisor-server on free
# loopback ports over TLS, with a throwaway CA and an ECDSA P-256 certificate made by openssl, with a
# JWKS of one HS256 and one ES256 key and the rate limit off; everything is stopped and removed on
# exit; --insecure serves plaintext instead), mints one JWT per algorithm with `advisorctl mint-jwt`, then drives
# the server with tests/bench/grpc_load (16 connections × 32 RPCs outstanding, -n requests per load,
# in R interleaved rounds). Each round, for HS256 then ES256:
#   1. grpc.health.v1.Health/Check          the baseline (no JWT, as Kubernetes probes)
#   2. Health/Check carrying that JWT       no goal: what the header alone costs (Health ignores it)
#   3. GetStrategy with that JWT            goal: >= 0.85 x the baseline just before
#   4. ReportOutcome with that JWT          goal: >= 0.8 x the baseline just before
# Rates are medians over the rounds; ratios are medians of the per-round ratios.
# A JWT is reused across all the requests of its identity, as a client reuses its access token.
# New connections, in the same rounds (--new-connections N requests each, 0 skips them): one RPC per
# fresh connection (TCP connect, TLS handshake, the RPC, the channel closed), as a mobile client that
# wakes up does, from 8 threads: Health/Check, and GetStrategy with the first identity's JWT, both
# with TLS session resumption (a client-side session cache) and, over TLS, without it.
# Decision tokens are single-use: each ReportOutcome load sends one report per token its
# GetStrategy load received, each consistent with the answer (a direct success within the advised
# timeout, or a relay success under TURN_ONLY).
# With --no-auth the server allows anonymous callers instead and the rounds are Health/Check,
# GetStrategy, ReportOutcome without a JWT: the cost of authentication is the difference.
#
# Durability check: acknowledged = grpc_server_handled_total{ReportOutcome, grpc_code="OK"} from
# /metrics; then SIGTERM (the server flushes on shutdown); stored = sum(sessions) in
# outcome_aggregates. Every token is reported once, so duplicates (advisor_reports_duplicate_total)
# must be 0 and stored must equal acknowledged. The per-identity cap on what one identity adds to a
# pair is off (one identity sends every report here), so capped reports (advisor_reports_capped_total)
# must be 0 too and every acknowledged report takes the full path to PostgreSQL.
# Prints both and "missing: N"; exits non-zero if N != 0 or a duplicate was counted. With --strict, a
# missed throughput goal also fails.
#
# Needs a build (scripts/build) and the packages from scripts/setup (PostgreSQL 15, python3, curl).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: tests/bench/grpc.sh [-n REQUESTS] [--rounds R] [--new-connections N] [--build-dir DIR]
                          [--no-auth] [--insecure] [--strict] [--keep]

  -n REQUESTS       requests per load and round (default 200000, or $ADVISOR_BENCH_REQUESTS)
  --rounds R        rounds of the loads, taken in turns; figures are medians (default 5)
  --new-connections N  requests of each fresh-connection load and round (default 5000; 0: none)
  --build-dir DIR   where advisor-server, advisorctl and grpc_load were built (default: <project>/build)
  --no-auth         anonymous callers (--allow-anonymous), no JWT: the unauthenticated baseline
  --insecure        plaintext gRPC (advisor-server --insecure) instead of TLS
  --strict          also exit non-zero when a throughput goal is missed
  --keep            keep the temp directory (server and PostgreSQL logs, keys, tokens)
  -h, --help

Server settings pass through the environment (ADVISOR_FLUSH_INTERVAL, ADVISOR_SNAPSHOT_INTERVAL,
ADVISOR_LOG_LEVEL). Exit: 0 ok, 1 lost/duplicated reports or a failure, 3 goal missed with --strict.
EOF
}

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
trap_errors
# shellcheck source=tests/bench/tls.sh
source "$(dirname "${BASH_SOURCE[0]}")/tls.sh"
LOG_TAG=bench

requests=${ADVISOR_BENCH_REQUESTS:-200000}
rounds=${ADVISOR_BENCH_ROUNDS:-5}
build_dir=$ADVISOR_ROOT/build
fresh_requests=${ADVISOR_BENCH_NEW_CONNECTIONS:-5000}
auth=1
insecure=0
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
    --new-connections)
      [[ $# -ge 2 ]] || die "--new-connections needs a number"
      fresh_requests=$2
      shift
      ;;
    --no-auth) auth=0 ;;
    --insecure) insecure=1 ;;
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
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ $fresh_requests =~ ^[0-9]+$ ]] || die "--new-connections must be a number"

SERVER_BIN=$build_dir/services/advisor/advisor-server
CTL_BIN=$build_dir/services/advisorctl/advisorctl
LOAD_BIN=$build_dir/tests/bench/grpc_load
SERVICE=connectivity.advisor.v1.ConnectivityAdvisor
CHANNELS=16 OUTSTANDING=32 FRESH_WORKERS=8
GOAL_STRATEGY=0.85 GOAL_REPORT=0.8

for tool in curl python3 openssl; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/setup)"
done
[[ -x $SERVER_BIN && -x $CTL_BIN && -x $LOAD_BIN ]] ||
  die "advisor-server/advisorctl/grpc_load not built in $build_dir (run scripts/build)"
pg_require

# --- throwaway stack ------------------------------------------------------------------------------

throwaway_workdir advisor-bench
# The server and grpc_load read the TLS settings (or ADVISOR_INSECURE) from the environment.
bench_tls_setup "$work/tls" "$insecure"

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

# One identity sends every report of a load: lift the cap on what one identity adds to a pair.
export ADVISOR_RATE_LIMIT=0 ADVISOR_MAX_REPORTS_PER_IDENTITY=0 # 0: off
# One keys file with two kids, as an operator holding keys of both kinds would have.
if ((auth)); then
  log "keys: one HS256 and one ES256 key (advisorctl gen-keys)"
  "$CTL_BIN" gen-keys --alg HS256 --kid bench-hs256 >"$work/hs256.jwks" || die "advisorctl gen-keys --alg HS256 failed"
  "$CTL_BIN" gen-keys --alg ES256 --kid bench-es256 >"$work/es256.jwks" || die "advisorctl gen-keys --alg ES256 failed"
  python3 - "$work/hs256.jwks" "$work/es256.jwks" >"$work/keys.jwks" <<'EOF'
import json, sys
keys = []
for path in sys.argv[1:]:
    with open(path) as f:
        keys += json.load(f)["keys"]
json.dump({"keys": keys}, sys.stdout, indent=2)
EOF
  chmod 600 "$work/keys.jwks"
  export ADVISOR_AUTH_KEYS_FILE=$work/keys.jwks
else
  export ADVISOR_ALLOW_ANONYMOUS=true
fi

log "advisor-server on $target, metrics on 127.0.0.1:$metrics_port"
advisor_serve "$SERVER_BIN" "$db_url" "$grpc_port" "$metrics_port" "$(openssl rand -hex 32)" \
  "$work/server.log"

# Identities: one JWT per algorithm, reused for every request of its loads.
declare -A jwt=()
if ((auth)); then
  identities=(hs256 es256)
  for id in "${identities[@]}"; do
    jwt[$id]=$("$CTL_BIN" mint-jwt --keys-file "$work/keys.jwks" --kid "bench-$id" \
      --sub "bench-client-$id" --ttl 2h) || die "advisorctl mint-jwt --kid bench-$id failed"
  done
else
  identities=(anonymous)
  jwt[anonymous]=
fi

# --- load -----------------------------------------------------------------------------------------

# load NAME MODE N [ID [ARGS...]]: runs grpc_load, keeps its output in $work/NAME.load, prints
# req/s. ID names the JWT to send (none for health). LOAD_CHANNELS overrides the connections.
# server_cpu_ticks: user + system CPU time of advisor-server so far, in clock ticks.
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }

load() {
  local name=$1 mode=$2 n=$3 id=${4:-} out=$work/$1.load token='' before after
  shift $(($# < 4 ? $# : 4))
  [[ -z $id ]] || token=${jwt[$id]}
  before=$(server_cpu_ticks)
  ADVISOR_JWT=$token "$LOAD_BIN" "$mode" --target "$target" --channels "${LOAD_CHANNELS:-$CHANNELS}" \
    --outstanding "$OUTSTANDING" --requests "$n" "$@" >"$out" 2>&1 ||
    {
      cat "$out" >&2
      die "grpc_load $mode failed for $name"
    }
  after=$(server_cpu_ticks)
  # The server's CPU per request: unlike a rate, it hardly moves when other work shares the cores.
  echo $(((after - before) * 1000000 / $(getconf CLK_TCK) / n)) >"$work/$name.server_us"
  sed -n 's/.* rps=\([0-9.]*\).*/\1/p' "$out"
}

# strategy_then_report ROUND ID N: GetStrategy then ReportOutcome for identity ID, every token the
# first load got reported once by the second. Prints "STRATEGY_RPS REPORT_RPS".
strategy_then_report() {
  local name=$1-$2 n=$3 s r
  s=$(load "get_strategy-$name" get-strategy "$n" "$2" --tokens-out "$work/tokens-$name.tsv")
  r=$(load "report-$name" report "$n" "$2" --tokens-in "$work/tokens-$name.tsv")
  rm -f "$work/tokens-$name.tsv"
  echo "$s $r"
}

warmup=$((requests / 20 > 1000 ? requests / 20 : 1000))
log "warm-up: $warmup requests of each load"
load warmup-health health "$warmup" >/dev/null
for id in "${identities[@]}"; do strategy_then_report warmup "$id" "$warmup" >/dev/null; done

# The machine is shared and noisy: the loads take turns, round after round. Each GetStrategy and
# ReportOutcome run is compared with the Health/Check run just before it, and each ratio is the
# median of those per-round ratios, so a slow spell of the machine moves baseline and load alike
# rather than one method only.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
health_runs=()
# Fresh-connection runs, by whether the TLS session cache is on; without TLS there is no session.
declare -A fresh_health=() fresh_strategy=()
fresh_caches=(true)
((BENCH_TLS)) && fresh_caches+=(false)
declare -A strategy_runs=() report_runs=() health_before=() strategy_us=() report_us=() header_runs=()
health_us=''
for ((round = 1; round <= rounds; round++)); do
  log "round $round/$rounds: for ${identities[*]}, Health/Check then GetStrategy and ReportOutcome ($requests requests each)"
  for id in "${identities[@]}"; do
    h=$(load "health-$round-$id" health "$requests")
    health_runs+=("$h")
    health_before[$id]+="$h "
    # The same Health/Check carrying the JWT, which it ignores: what the header alone costs.
    if [[ -n $id && $id != anonymous ]]; then
      header_runs[$id]+="$(load "health_jwt-$round-$id" health "$requests" "$id" --jwt-on-health) "
    fi
    pair=$(strategy_then_report "$round" "$id" "$requests")
    read -r s r <<<"$pair"
    strategy_runs[$id]+="$s "
    report_runs[$id]+="$r "
    health_us+="$(cat "$work/health-$round-$id.server_us") "
    strategy_us[$id]+="$(cat "$work/get_strategy-$round-$id.server_us") "
    report_us[$id]+="$(cat "$work/report-$round-$id.server_us") "
  done
  ((fresh_requests > 0)) || continue
  log "round $round/$rounds: a fresh connection per request, Health/Check and GetStrategy ($fresh_requests requests each)"
  for cache in "${fresh_caches[@]}"; do
    fresh_health[$cache]+="$(LOAD_CHANNELS=$FRESH_WORKERS load "fresh_health-$cache-$round" health \
      "$fresh_requests" "" --new-connection-per-request --tls-session-cache="$cache") "
    fresh_strategy[$cache]+="$(LOAD_CHANNELS=$FRESH_WORKERS load "fresh_strategy-$cache-$round" \
      get-strategy "$fresh_requests" "${identities[0]}" --new-connection-per-request \
      --tls-session-cache="$cache") "
  done
done
health_rps=$(median "${health_runs[@]}")

# --- server-side counts ---------------------------------------------------------------------------

curl -fsS "$metrics_url" >"$work/metrics.txt" || die "cannot scrape $metrics_url"

# metric NAME [LABEL=VALUE...] [grpc_code=OK|grpc_code=!OK]: the sum of NAME's samples whose labels
# match; "!V" matches any value but V. A metric the server does not export sums to 0.
metric() {
  python3 - "$work/metrics.txt" "$@" <<'EOF'
import re, sys
path, name, wanted = sys.argv[1], sys.argv[2], [a.split("=", 1) for a in sys.argv[3:]]
line_re = re.compile(r'^' + re.escape(name) + r'(?:\{(.*)\})?\s+(\S+)')
label_re = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
total = 0.0
with open(path) as f:
    for line in f:
        m = line_re.match(line)
        if not m:
            continue
        labels = dict(label_re.findall(m.group(1) or ""))
        if all((labels.get(k) != v[1:]) if v.startswith("!") else (labels.get(k) == v)
               for k, v in wanted):
            total += float(m.group(2))
print(int(total))
EOF
}
handled() { metric grpc_server_handled_total grpc_service="$SERVICE" grpc_method="$1" grpc_code="$2"; }

strategy_ok=$(handled GetStrategy OK)
strategy_err=$(handled GetStrategy '!OK')
acknowledged=$(handled ReportOutcome OK)
report_err=$(handled ReportOutcome '!OK')
duplicates=$(metric advisor_reports_duplicate_total)
capped=$(metric advisor_reports_capped_total)

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
# ratio_stats ID RUNS...: the median rate of RUNS and the median of their ratios to the Health/Check
# run before each, as "RATE RATIO".
ratio_stats() {
  local id=$1
  shift
  python3 - "${health_before[$id]}" "$*" <<'EOF'
import statistics, sys
base = [float(v) for v in sys.argv[1].split()]
runs = [float(v) for v in sys.argv[2].split()]
ratios = [r / b if b > 0 else 0.0 for r, b in zip(runs, base)]
print(f"{statistics.median(runs):.0f} {statistics.median(ratios):.3f}")
EOF
}
rate_line() { # NAME ID RUNS...
  local name=$1 id=$2 stats
  shift 2
  stats=$(ratio_stats "$id" "$@")
  printf '  %-26s %8s req/s  %5s x Health   (rounds: %s)\n' "$name" "${stats% *}" "${stats#* }" "$*"
}
goal_line() { # NAME GOAL ID RUNS...
  local name=$1 goal=$2 id=$3 ratio
  shift 3
  ratio=$(ratio_stats "$id" "$@")
  ratio=${ratio#* }
  python3 - "$name" "$ratio" "$goal" <<'EOF'
import sys
name, ratio, goal = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
ok = ratio >= goal
print(f"  {name:<36} {ratio:6.3f}  (goal >= {goal:g}: {'met' if ok else 'NOT MET'})")
sys.exit(0 if ok else 1)
EOF
}

label() { [[ $1 == anonymous ]] && echo "anonymous" || echo "${1^^} JWT"; }
cat <<EOF

advisor-server gRPC benchmark — grpc_load $CHANNELS connections x $OUTSTANDING outstanding, -n $requests, $rounds rounds (medians; ratios to the Health/Check run before each), $(nproc) cores shared with the server
transport: $BENCH_TRANSPORT
authentication: $( ((auth)) && echo "on (JWKS with an HS256 and an ES256 key; one JWT per algorithm, reused)" || echo "off (--allow-anonymous)")
  Health/Check               $(printf '%8.0f' "$health_rps") req/s                    (rounds: ${health_runs[*]})
EOF
for id in "${identities[@]}"; do
  # shellcheck disable=SC2086 # the runs are a space-separated list of numbers
  rate_line "GetStrategy, $(label "$id")" "$id" ${strategy_runs[$id]}
  # shellcheck disable=SC2086 # the runs are a space-separated list of numbers
  rate_line "ReportOutcome, $(label "$id")" "$id" ${report_runs[$id]}
  if [[ -n ${header_runs[$id]:-} ]]; then
    # shellcheck disable=SC2086 # the runs are a space-separated list of numbers
    rate_line "Health/Check + $(label "$id")" "$id" ${header_runs[$id]}
  fi
done
# shellcheck disable=SC2086 # the figures are space-separated lists of numbers
{
  echo "server CPU per request (µs, median of rounds)"
  printf '  %-26s %5s\n' "Health/Check" "$(median $health_us)"
  for id in "${identities[@]}"; do
    printf '  %-26s %5s\n' "GetStrategy, $(label "$id")" "$(median ${strategy_us[$id]})"
    printf '  %-26s %5s\n' "ReportOutcome, $(label "$id")" "$(median ${report_us[$id]})"
  done
}
if ((fresh_requests > 0)); then
  echo "new connections: one RPC per fresh connection ($BENCH_TRANSPORT), $FRESH_WORKERS threads, $fresh_requests requests per load and round"
  for cache in "${fresh_caches[@]}"; do
    # shellcheck disable=SC2086 # the figures are space-separated lists of numbers
    python3 - "$work" "$cache" "$BENCH_TLS" "$(label "${identities[0]}")" ${fresh_health[$cache]} -- \
      ${fresh_strategy[$cache]} <<'EOF'
import glob, os, statistics, sys
work, cache, tls, who = sys.argv[1:5]
rest = sys.argv[5:]
split = rest.index("--")
health, strategy = [float(v) for v in rest[:split]], [float(v) for v in rest[split + 1:]]
def figures(prefix):
    p50, p99, server_us, client_us, resumed, n = [], [], [], [], 0, 0
    for path in glob.glob(os.path.join(work, f"{prefix}-{cache}-*.load")):
        with open(path) as f:
            fields = dict(kv.split("=", 1) for kv in f.read().split() if "=" in kv)
        with open(path[: -len(".load")] + ".server_us") as f:
            server_us.append(float(f.read()))
        client_us.append(float(fields["client_cpu_us"]))
        p50.append(float(fields["p50_ms"]))
        p99.append(float(fields["p99_ms"]))
        resumed += int(fields.get("resumed", 0))
        n += int(fields["requests"])
    return (statistics.median(p50), statistics.median(p99), statistics.median(server_us),
            statistics.median(client_us), resumed, n)
if tls == "0":
    print("  no TLS: no session to resume")
else:
    print("  TLS session resumption " + ("on (client-side session cache)" if cache == "true" else "off"))
for name, runs, prefix in (("Health/Check", health, "fresh_health"),
                           (f"GetStrategy, {who}", strategy, "fresh_strategy")):
    p50, p99, server_us, client_us, resumed, n = figures(prefix)
    print(f"    {name:24} {statistics.median(runs):6.0f} req/s  p50 {p50:5.1f} ms  p99 {p99:5.1f} ms"
          f"  CPU/request: server {server_us:4.0f} µs, client {client_us:4.0f} µs"
          + (f"  resumed {resumed}/{n}" if tls != "0" else "")
          + f"  (rounds: {' '.join(f'{r:g}' for r in runs)})")
ratios = [s / h if h > 0 else 0.0 for s, h in zip(strategy, health)]
print(f"    GetStrategy/Health, fresh connections {statistics.median(ratios):6.3f}  (no goal)")
EOF
  done
fi
echo "ratios to Health/Check"
for id in "${identities[@]}"; do
  # shellcheck disable=SC2086 # the runs are a space-separated list of numbers
  goal_line "GetStrategy/Health, $(label "$id")" "$GOAL_STRATEGY" "$id" ${strategy_runs[$id]} || goal_missed=1
  # shellcheck disable=SC2086 # the runs are a space-separated list of numbers
  goal_line "ReportOutcome/Health, $(label "$id")" "$GOAL_REPORT" "$id" ${report_runs[$id]} || goal_missed=1
done
cat <<EOF
gRPC status counts (server side, whole run with warm-up)
  GetStrategy                       OK $strategy_ok, other codes $strategy_err
  ReportOutcome                     OK $acknowledged, other codes $report_err
reports
  acknowledged (ReportOutcome OK)   $acknowledged
  duplicates counted                $duplicates
  capped (per-identity cap)         $capped
  stored (sum of sessions)          $stored
  missing: $missing
server exit status after SIGTERM: $server_exit
EOF

((strategy_err == 0 && report_err == 0)) ||
  warn "some requests got a non-OK gRPC status (see $work/*.load with --keep): the req/s above include them"
failed=0
if ((missing != 0)); then
  if ((missing > 0)); then
    log "FAIL: $missing acknowledged report(s) not stored"
  else
    log "FAIL: $((-missing)) more session(s) stored than acknowledged (applied twice?)"
  fi
  failed=1
fi
if ((duplicates != 0)); then
  log "FAIL: $duplicates duplicate report(s) counted, though every token was reported once"
  failed=1
fi
if ((capped != 0)); then
  log "FAIL: $capped report(s) capped, though the per-identity cap is off"
  failed=1
fi
((failed == 0)) || exit 1
[[ $server_exit == 0 ]] || warn "advisor-server exited with status $server_exit"
if ((strict && goal_missed)); then
  exit 3
fi
exit 0
