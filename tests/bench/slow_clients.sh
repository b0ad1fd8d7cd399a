#!/usr/bin/env bash
# tests/bench/slow_clients.sh — what slow and idle clients cost advisor-server, and what its
# connection limits buy. A benchmark, not a test: ctest does not run it.
#
# Starts a throwaway stack (PostgreSQL 15 in a temp dir on a free port; advisor-server on free
# loopback ports over TLS with a throwaway CA, a JWKS of one HS256 key, the per-identity rate limit
# off because the honest client stands for many clients; everything stopped and removed on exit),
# then runs tests/bench/slow_clients (the attack tool) against a fresh server per scenario:
#   baseline       the honest client alone: GetStrategy at --rate per second, with a JWT
#   defaults       the same, beside the attack: --idle idle HTTP/2 connections (preface + SETTINGS,
#                  then nothing) and --stall-connections connections x --streams streams, each
#                  declaring a 16 kB gRPC message and sending half of it, then stalling; they
#                  carry the honest client's JWT, so they pass authentication and reach the service
#   limits off     the same attack against a server whose limits are lifted (streams 100000, idle
#                  24h, resource quota 1 TiB, 10000 threads): what the defaults buy
# The server keeps its defaults except the idle limit, shortened to --idle-limit (default 10s) so
# that the run is short; the output says so. Prints, per scenario: server RSS at its peak and after
# the attack closed, honest GetStrategy p50/p99 over the whole attack (and p99 once every attacking
# connection was open, without the handshakes' burst), and how many idle connections the server
# closed and when, relative to the idle limit.
#
# Goals with the defaults: peak RSS <= 200 MB, honest p99 <= 250 ms, every idle connection closed
# within the idle limit (gRPC closes gracefully: GOAWAY, a PING round trip, then the close; 10% of
# slack covers that). --strict exits 3 when one is missed.
#
# Needs a build (advisor-server, advisorctl, slow_clients) and the packages from scripts/setup.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: tests/bench/slow_clients.sh [--idle N] [--stall-connections N] [--streams N] [--rate R]
                                   [--idle-limit D] [--hold D] [--no-limits-off] [--insecure]
                                   [--build-dir DIR] [--strict] [--keep]

  --idle N               idle connections (default 2000)
  --stall-connections N  connections carrying stalled streams (default 40)
  --streams N            stalled streams opened on each of them (default 250)
  --rate R               honest GetStrategy requests per second (default 20)
  --idle-limit D         the server's --max-connection-idle for the run (default 10s)
  --hold D               how long the attack is held once connected (default: idle limit + 5s)
  --no-limits-off        skip the scenario with the limits lifted
  --insecure             plaintext (advisor-server --insecure) instead of TLS
  --build-dir DIR        where advisor-server, advisorctl and slow_clients were built
                         (default: <project>/build)
  --strict               exit 3 when a goal is missed
  --keep                 keep the temp directory (logs, certificates, keys)
  -h, --help

Exit: 0 ok, 1 a failure, 3 a goal missed with --strict.
EOF
}

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
trap_errors
# shellcheck source=tests/bench/tls.sh
source "$(dirname "${BASH_SOURCE[0]}")/tls.sh"
LOG_TAG=bench

idle=2000
stall=40
streams=250
rate=20
idle_limit=10s
hold=
limits_off=1
insecure=0
build_dir=$ADVISOR_ROOT/build
strict=0
keep=0
while (($#)); do
  case $1 in
    --idle | --stall-connections | --streams | --rate | --idle-limit | --hold | --build-dir)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      case $1 in
        --idle) idle=$2 ;;
        --stall-connections) stall=$2 ;;
        --streams) streams=$2 ;;
        --rate) rate=$2 ;;
        --idle-limit) idle_limit=$2 ;;
        --hold) hold=$2 ;;
        --build-dir) build_dir=$2 ;;
      esac
      shift
      ;;
    --no-limits-off) limits_off=0 ;;
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
[[ $idle_limit =~ ^[1-9][0-9]*s$ ]] || die "--idle-limit must be whole seconds, e.g. 10s"
idle_limit_s=${idle_limit%s}
[[ -n $hold ]] || hold=$((idle_limit_s + 5))s

SERVER_BIN=$build_dir/services/advisor/advisor-server
CTL_BIN=$build_dir/services/advisorctl/advisorctl
ATTACK_BIN=$build_dir/tests/bench/slow_clients
for tool in python3 openssl; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/setup)"
done
[[ -x $SERVER_BIN && -x $CTL_BIN && -x $ATTACK_BIN ]] ||
  die "advisor-server/advisorctl/slow_clients not built in $build_dir (run scripts/build)"
pg_require

# The attack holds idle + stall connections in one process, the server as many sockets again.
want_fds=$((idle + stall + 1024))
if (($(ulimit -n) < want_fds)); then
  ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  (($(ulimit -n) >= want_fds)) || die "need $want_fds file descriptors, the hard limit is $(ulimit -Hn)"
fi

# Server settings in the environment reach every scenario (limits off overrides its four): say so.
non_default=()
while IFS='=' read -r name _; do
  [[ $name == ADVISOR_* && $name != ADVISOR_MAX_CONNECTION_IDLE ]] || continue
  non_default+=("$name=${!name}")
done < <(env)
if ((${#non_default[@]})); then
  warn "advisor-server inherits NON-DEFAULT settings from the environment: ${non_default[*]}"
fi
server_env=${non_default[*]:-none}

# --- throwaway stack ------------------------------------------------------------------------------

throwaway_workdir advisor-slow-clients
bench_tls_setup "$work/tls" "$insecure"

pg_port=$(free_ports 1)
log "PostgreSQL on 127.0.0.1:$pg_port ($pg_dir)"
pg_cluster_init "$pg_dir" "$pg_port" --no-sync
pg_cluster_start "$pg_dir" "$pg_port"
pg_create_database "$pg_port" advisor
db_url=$(pg_url "$pg_port" advisor)
advisor_migrate "$SERVER_BIN" "$db_url" "$work/migrate.log"

"$CTL_BIN" gen-keys --alg HS256 --kid slow-bench >"$work/keys.jwks" || die "advisorctl gen-keys failed"
chmod 600 "$work/keys.jwks"
export ADVISOR_AUTH_KEYS_FILE=$work/keys.jwks ADVISOR_RATE_LIMIT=0
jwt=$("$CTL_BIN" mint-jwt --keys-file "$work/keys.jwks" --kid slow-bench --sub honest-client \
  --ttl 2h) || die "advisorctl mint-jwt failed"
token_key=$(openssl rand -hex 32)

# The idle limit of every scenario but limits off, shortened so that a run takes a minute.
export ADVISOR_MAX_CONNECTION_IDLE=$idle_limit

# scenario NAME ATTACK(0|1) [VAR=VALUE...]: a fresh advisor-server with the extra settings, the
# attack tool against it (or the honest client alone), the server stopped; the tool's output in
# $work/NAME.out.
scenario() {
  local name=$1 attack=$2 setting ports args
  shift 2
  mapfile -t ports < <(free_ports 2)
  log "scenario $name: advisor-server on 127.0.0.1:${ports[0]}${*:+ with $*}"
  for setting in "$@"; do export "${setting?}"; done
  advisor_serve "$SERVER_BIN" "$db_url" "${ports[0]}" "${ports[1]}" "$token_key" \
    "$work/$name.server.log"
  for setting in "$@"; do unset "${setting%%=*}"; done
  export ADVISOR_MAX_CONNECTION_IDLE=$idle_limit
  args=(--target "127.0.0.1:${ports[0]}" --server-pid "$server_pid" --rate "$rate" --hold "$hold"
    --idle-limit "$idle_limit")
  if ((attack)); then
    args+=(--idle "$idle" --stall-connections "$stall" --streams "$streams" --message-bytes 16384
      --sent-bytes 8192)
  else
    args+=(--idle 0 --stall-connections 0)
  fi
  ADVISOR_JWT=$jwt "$ATTACK_BIN" "${args[@]}" >"$work/$name.out" 2>"$work/$name.attack.log" || {
    tail -n 20 "$work/$name.attack.log" >&2
    die "slow_clients failed in scenario $name"
  }
  stop_pid "$server_pid" 30 || warn "advisor-server had to be killed after $name"
  wait "$server_pid" 2>/dev/null || true
}

scenario baseline 0
scenario defaults 1
names=(baseline defaults)
if ((limits_off)); then
  scenario limits_off 1 ADVISOR_MAX_CONCURRENT_STREAMS=100000 ADVISOR_MAX_CONNECTION_IDLE=24h \
    ADVISOR_RESOURCE_QUOTA_MEMORY=1099511627776 ADVISOR_MAX_THREADS=10000
  names+=(limits_off)
fi

# --- report ---------------------------------------------------------------------------------------

goals=0
python3 - "$work" "$idle_limit_s" "$BENCH_TRANSPORT" "$idle" "$stall" "$streams" "$rate" "$hold" \
  "$(nproc)" "$server_env" "${names[@]}" <<'PY' || goals=$?
import os, sys
work, limit, transport, idle, stall, streams, rate, hold, cores, server_env = sys.argv[1:11]
names = sys.argv[11:]
limit = float(limit)
runs = {}
for name in names:
    run = {}
    with open(os.path.join(work, name + ".out")) as f:
        for line in f:
            kind, *pairs = line.split()
            fields = dict(p.split("=", 1) for p in pairs)
            key = kind if kind not in run else kind + "2"  # two "idle" lines: GOAWAY, then close
            run[key] = fields
    runs[name] = run
titles = {"baseline": "baseline", "defaults": "attack, defaults", "limits_off": "attack, limits off"}
print()
print(f"advisor-server under slow and idle clients — {transport}, loopback, {cores} cores shared")
print(f"attack: {idle} idle connections + {stall} connections x {streams} streams, each declaring a"
      f" 16384-byte gRPC message and sending 8192 bytes of it; held {hold} once connected")
print(f"honest client: GetStrategy at {rate}/s with a JWT over its own connection; the stalled streams"
      f" carry the same JWT (the per-identity rate limit is off)")
print(f"idle limit passed to the server for this run: {limit:g}s (--max-connection-idle; the default"
      f" is longer); limits off: streams 100000, idle 24h, quota 1 TiB, 10000 threads")
print(f"settings from the environment: {server_env}")
print(f"{'':34}" + "".join(f"{titles[n]:>22}" for n in names))
def row(label, fn):
    print(f"  {label:32}" + "".join(f"{fn(runs[n]):>22}" for n in names))
row("server RSS before (MB)", lambda r: r["rss"]["before_mb"])
row("server RSS peak (MB)", lambda r: r["rss"]["peak_mb"])
row("server RSS at end of hold (MB)", lambda r: r["rss"]["held_mb"])
row("server RSS after attack (MB)", lambda r: r["rss"]["after_mb"])
row("honest GetStrategy p50 (ms)", lambda r: r["honest"]["p50_ms"])
row("honest GetStrategy p99 (ms)", lambda r: r["honest"]["p99_ms"])
row("honest GetStrategy max (ms)", lambda r: r["honest"]["max_ms"])
row("  p99 once the attack connected", lambda r: r["honest_held"]["p99_ms"])
row("honest requests OK / sent", lambda r: f"{r['honest']['ok']}/{r['honest']['requests']}")
row("honest errors (gRPC code:n)", lambda r: r["honest"]["errors"])
row("attack connect time (s)", lambda r: r["attack"]["connect_s"])
row("idle connections closed", lambda r: f"{r['idle2']['closed']}/{r['idle2']['connections']}")
row(f"  of them within 1.1 x {limit:g}s", lambda r: r["idle2"]["closed_within_limit"])
row("  GOAWAY after (s, median/max)",
    lambda r: f"{r['idle']['goaway_median_s']}/{r['idle']['goaway_max_s']}")
row("  closed after (s, median/max)",
    lambda r: f"{r['idle2']['closed_median_s']}/{r['idle2']['closed_max_s']}")
row("stalled streams opened", lambda r: r["stall"]["streams_opened"])
row("  reset by the server", lambda r: r["stall"]["streams_refused"])
row("  bytes of messages sent", lambda r: r["stall"]["data_bytes"])
row("stalling connections closed", lambda r: f"{r['stall']['closed']}/{r['stall']['connections']}")
row("  closed after (s, median/max)",
    lambda r: f"{r['stall']['closed_median_s']}/{r['stall']['closed_max_s']}")

d = runs["defaults"]
missed = 0
def goal(text, ok):
    global missed
    missed += not ok
    print(f"  {text:60} {'met' if ok else 'NOT MET'}")
print("goals, attack with the defaults")
goal(f"peak RSS {d['rss']['peak_mb']} MB <= 200 MB", float(d["rss"]["peak_mb"]) <= 200)
goal(f"honest GetStrategy p99 {d['honest']['p99_ms']} ms <= 250 ms",
     float(d["honest"]["p99_ms"]) <= 250)
n, closed_max = int(d["idle2"]["connections"]), d["idle2"]["closed_max_s"]
closed = int(d["idle2"]["closed"])
if n:
    ok = closed == n and closed_max != "-" and float(closed_max) <= 1.1 * limit
    goal(f"idle connections closed {closed}/{n}, the last after {closed_max}s <= 1.1 x {limit:g}s",
         ok)
sys.exit(3 if missed else 0)
PY
if ((goals == 3 && strict)); then exit 3; fi
((goals == 0 || goals == 3)) || die "the report could not be made (see $work with --keep)"
exit 0
