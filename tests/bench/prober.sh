#!/usr/bin/env bash
# tests/bench/prober.sh — can one turn-prober check 1000 TURN servers within one 60 s period even when
# every one of them times out? A benchmark, not a test: ctest does not run it.
#
# Starts a throwaway PostgreSQL, writes a servers file of N servers (default 1000) whose urls all
# point at a loopback UDP port that is bound but never answers (so every check runs into the
# 5 s timeout), and times `turn-prober once`. In the same run, as the baseline, it times one cycle of
# the same number of servers pointing at one real coturn. (That single coturn then serves up to 256
# allocations at once on a shared 2-core machine, so a handful of its relay checks may fail: a
# harsher load than N real servers would see.) Prints both cycle times, how many checks timed out,
# and the ratio of the silent cycle to the probe period. Set KEEP=1 to keep the work directory.
set -euo pipefail

usage() {
  cat <<'EOF2'
Usage: tests/bench/prober.sh [-n SERVERS] [--concurrency C] [--build-dir DIR]

  -n SERVERS        servers in the file (default 1000)
  --concurrency C   turn-prober --concurrency (default: the prober's own, 256)
  --build-dir DIR   where turn-prober and advisor-server were built (default: <project>/build)
EOF2
}

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
trap_errors
LOG_TAG=bench

servers=1000
concurrency=""
build_dir=$ADVISOR_ROOT/build
period=60
while (($#)); do
  case $1 in
    -n) servers=$2; shift ;;
    --concurrency) concurrency=$2; shift ;;
    --build-dir) build_dir=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
[[ $servers =~ ^[1-9][0-9]*$ ]] || die "-n must be a positive integer"

SERVER_BIN=$build_dir/services/advisor/advisor-server
PROBER_BIN=$build_dir/services/prober/turn-prober
[[ -x $SERVER_BIN && -x $PROBER_BIN ]] || die "advisor-server/turn-prober not built in $build_dir"
command -v turnserver >/dev/null || die "turnserver not found (run scripts/setup)"
pg_require

keep=${KEEP:-0}
throwaway_workdir advisor-prober-bench

mapfile -t ports < <(free_ports 3)
pg_port=${ports[0]} silent_port=${ports[1]} turn_port=${ports[2]}
pg_cluster_init "$pg_dir" "$pg_port" --no-sync
pg_cluster_start "$pg_dir" "$pg_port"
pg_create_database "$pg_port" advisor
db_url=$(pg_url "$pg_port" advisor)
advisor_migrate "$SERVER_BIN" "$db_url" "$work/migrate.log"

# A UDP socket that is bound (so no ICMP "port unreachable" ends a check early) and never read.
python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', $silent_port))
time.sleep(3600)
" &
STACK_PIDS+=($!)

secret=$(openssl rand -hex 16)
coturn_command "$work/coturn" "$turn_port" 40000 40999 "$secret" bench.local
"${COTURN_COMMAND[@]}" >"$work/coturn.log" 2>&1 &
STACK_PIDS+=($!)
wait_for_tcp 127.0.0.1 "$turn_port" 10 "$!" || die "coturn did not start"

# servers_file PORT FILE: N servers, each with one UDP url to 127.0.0.1:PORT.
servers_file() {
  {
    echo "servers:"
    for ((i = 0; i < servers; i++)); do
      printf '  - {id: s%04d, urls: ["turn:127.0.0.1:%s?transport=udp"], auth: {rest_secret: "%s"}}\n' \
        "$i" "$1" "$secret"
    done
  } >"$2"
}

# cycle NAME PORT: one `turn-prober once` over the servers at PORT; prints its wall time in seconds.
cycle() {
  servers_file "$2" "$work/$1.yaml"
  local args=(once --database-url "$db_url" --turn-servers-file "$work/$1.yaml" --log-level warn)
  [[ -n $concurrency ]] && args+=(--concurrency "$concurrency")
  local start end
  start=$(date +%s.%N)
  "$PROBER_BIN" "${args[@]}" >"$work/$1.out" 2>"$work/$1.log" || {
    tail -n 20 "$work/$1.log" >&2
    die "turn-prober once ($1) failed"
  }
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.3f}')"
}

log "baseline: $servers servers on a real coturn"
healthy_s=$(cycle healthy "$turn_port")
healthy_ok=$(grep -c ' healthy ' "$work/healthy.out" || true)
grep -v ' healthy ' "$work/healthy.out" | head -n 5 >&2 || true
log "worst case: $servers servers that never answer"
silent_s=$(cycle silent "$silent_port")
timed_out=$(grep -c 'timed out' "$work/silent.out" || true)
other_errors=$((servers - timed_out))

python3 - "$servers" "$healthy_s" "$healthy_ok" "$silent_s" "$timed_out" "$period" <<'EOF2'
import sys
n, healthy_s, healthy_ok, silent_s, timed_out, period = sys.argv[1:7]
n, healthy_ok, timed_out, period = int(n), int(healthy_ok), int(timed_out), float(period)
healthy_s, silent_s = float(healthy_s), float(silent_s)
print()
print(f"turn-prober cycle benchmark — {n} servers, 5 s probe timeout, 2 cores")
print(f"  baseline (real coturn)   {healthy_s:6.1f} s   healthy checks: {healthy_ok}/{n}")
print(f"  every server silent      {silent_s:6.1f} s   timed-out checks: {timed_out}/{n}")
print(f"  silent cycle / period    {silent_s / period:6.3f}   (goal < 1: {'met' if silent_s < period else 'NOT MET'})")
if healthy_s > 0:
    print(f"  silent / baseline        {silent_s / healthy_s:6.1f}x")
EOF2
((timed_out == servers)) || die "$other_errors checks failed otherwise than by timing out (see $work/silent.out)"
