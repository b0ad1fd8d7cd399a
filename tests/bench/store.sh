#!/usr/bin/env bash
# tests/bench/store.sh — how many reported sessions per second one PostgreSQL primary absorbs with
# every decision token recorded as used (PgStore::ApplyFlush), against the aggregate upsert alone.
# A benchmark, not a test: ctest does not run it.
#
# Starts a throwaway PostgreSQL 15 cluster (temp dir, free loopback port, default settings; stopped
# and removed on exit) and runs flush_bench (see tests/bench/flush_bench.cc for the loads) twice for
# each replica count:
#   1. on an empty used-token table;
#   2. after prefilling it with --prefill rows (default 5,000,000: the 24 h steady state of about
#      58 reports/s; the btree's depth and cache misses grow with it), expiries spread over
#      [-1 h, +23 h] in insertion order, as tokens issued over a day would be, so that 1/24 of them
#      are expired.
# Then times ten ForgetExpiredTokens steps (DELETE of 10,000 expired rows each, the statement
# PgStore runs) and prints the table's size per row.
#
# Needs flush_bench built (cmake --build DIR --target flush_bench) and PostgreSQL 15 (scripts/setup).
set -euo pipefail

usage() {
  cat <<'EOF2'
Usage: tests/bench/store.sh [--batch N] [--seconds S] [--rounds R] [--replicas "1 2"]
                            [--prefill ROWS] [--shared-buffers SIZE] [--build-dir DIR] [--keep]

  --batch N         sessions per flush (default 10000)
  --seconds S       seconds in store calls per load and round (default 5)
  --rounds R        rounds of the three loads; figures are medians (default 3)
  --replicas LIST   concurrent flushers to measure, space-separated (default "1 2")
  --prefill ROWS    used-token rows before the second pass (default 5000000; 0 skips it)
  --shared-buffers SIZE  PostgreSQL shared_buffers, e.g. 1GB (default: PostgreSQL's, 128MB)
  --build-dir DIR   where flush_bench was built (default: <project>/build)
  --keep            keep the temp directory (PostgreSQL log)
EOF2
}

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
trap_errors
LOG_TAG=bench

batch=10000
seconds=5
rounds=3
replicas="1 2"
prefill=5000000
shared_buffers=""
build_dir=$ADVISOR_ROOT/build
keep=0
while (($#)); do
  case $1 in
    --batch | --seconds | --rounds | --replicas | --prefill | --shared-buffers | --build-dir)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      case $1 in
        --batch) batch=$2 ;;
        --seconds) seconds=$2 ;;
        --rounds) rounds=$2 ;;
        --replicas) replicas=$2 ;;
        --prefill) prefill=$2 ;;
        --shared-buffers) shared_buffers=$2 ;;
        --build-dir) build_dir=$2 ;;
      esac
      shift
      ;;
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
for n in "$batch" "$seconds" "$rounds"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "--batch, --seconds and --rounds take positive integers"
done
[[ $prefill =~ ^[0-9]+$ ]] || die "--prefill takes a number of rows"
[[ -z $shared_buffers || $shared_buffers =~ ^[1-9][0-9]*(kB|MB|GB)$ ]] ||
  die "--shared-buffers takes a size such as 1GB"
[[ $replicas =~ ^[1-9][0-9]*( [1-9][0-9]*)*$ ]] || die "--replicas takes numbers separated by spaces"

BENCH_BIN=$build_dir/tests/bench/flush_bench
[[ -x $BENCH_BIN ]] || die "flush_bench not built in $build_dir (cmake --build $build_dir --target flush_bench)"
pg_require

throwaway_workdir advisor-store-bench
mapfile -t ports < <(free_ports 1)
pg_port=${ports[0]}
log "PostgreSQL on 127.0.0.1:$pg_port ($pg_dir)"
pg_cluster_init "$pg_dir" "$pg_port" --no-sync
# Appending keeps the file's owner, as pg_cluster_init does.
[[ -z $shared_buffers ]] || echo "shared_buffers = $shared_buffers" >>"$pg_dir/postgresql.conf"
pg_cluster_start "$pg_dir" "$pg_port"
pg_create_database "$pg_port" advisor
db_url=$(pg_url "$pg_port" advisor)

results=()
# bench LABEL: runs flush_bench for each replica count, collecting its lines prefixed with LABEL.
bench() {
  local label=$1 r line out
  for r in $replicas; do
    log "$label table: flush_bench --batch $batch --replicas $r (${rounds} x 3 loads x ${seconds} s)"
    out=$work/bench-$r-${label// /_}.out
    timeout $((rounds * seconds * 3 * 4 + 120)) "$BENCH_BIN" --database-url "$db_url" \
      --batch "$batch" --seconds "${seconds}s" --rounds "$rounds" --replicas "$r" \
      >"$out" 2>"$work/bench.log" || die "flush_bench failed (see bench.log)"
    while IFS= read -r line; do
      results+=("$(printf '%-22s %s' "$label" "$line")")
    done < <(grep -E '^(load|ratio)=' "$out")
  done
}

rows() { pg_psql "$pg_port" advisor -c 'SELECT count(*) FROM used_decision_tokens'; }

bench "empty"
rows_after_empty=$(rows)

if ((prefill > 0)); then
  log "prefilling used_decision_tokens with $prefill rows"
  start=$(date +%s)
  # Indexes dropped and rebuilt around the bulk insert: minutes faster than growing them row by row.
  # The rebuilt btrees are packed tighter than ones grown by random inserts, so the figures that
  # follow are, if anything, slightly kind to the big table.
  pg_psql "$pg_port" advisor >/dev/null <<SQL
ALTER TABLE used_decision_tokens DROP CONSTRAINT used_decision_tokens_pkey;
DROP INDEX used_decision_tokens_expires_at_idx;
INSERT INTO used_decision_tokens (token_id, expires_at)
  SELECT gen_random_uuid(), now() - interval '1 hour' + i * (interval '24 hours' / $prefill)
  FROM generate_series(1, $prefill) AS i;
ALTER TABLE used_decision_tokens ADD PRIMARY KEY (token_id);
CREATE INDEX used_decision_tokens_expires_at_idx ON used_decision_tokens (expires_at);
VACUUM ANALYZE used_decision_tokens;
SQL
  log "prefilled in $(($(date +%s) - start)) s"
  bench "$(rows) rows"

  log "ten ForgetExpiredTokens steps: DELETE of 10000 expired rows each"
  forget_step="DELETE FROM used_decision_tokens WHERE ctid = ANY(ARRAY(SELECT ctid
    FROM used_decision_tokens WHERE expires_at < now() ORDER BY expires_at LIMIT 10000
    FOR UPDATE SKIP LOCKED));"
  forget_sql=$'\\timing on\n'
  for ((i = 0; i < 10; i++)); do forget_sql+=$forget_step$'\n'; done
  before=$(rows)
  forget_ms=$(pg_psql "$pg_port" advisor <<<"$forget_sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' |
    awk '{ sum += $1 } END { printf "%.0f", sum }')
  forgotten=$((before - $(rows)))
fi

size=$(pg_psql "$pg_port" advisor -F ' ' -c "
  SELECT count(*), pg_size_pretty(pg_table_size('used_decision_tokens')),
         pg_size_pretty(pg_indexes_size('used_decision_tokens')),
         round(pg_total_relation_size('used_decision_tokens')::numeric / greatest(count(*), 1))
  FROM used_decision_tokens")
read -r n_rows heap_size heap_unit index_size index_unit bytes_per_row <<<"$size"

cat <<EOF

PgStore::ApplyFlush benchmark — batch $batch sessions, median of $rounds rounds of $seconds s per load, $(nproc) cores shared with PostgreSQL (shared_buffers $(pg_psql "$pg_port" advisor -c 'SHOW shared_buffers'))
(fresh: used-token insert + aggregate upsert; baseline: aggregate upsert alone; duplicates: replayed tokens only)
EOF
printf '  %s\n' "${results[@]}"
echo "used_decision_tokens after the runs: $n_rows rows, table $heap_size $heap_unit, indexes $index_size $index_unit, $bytes_per_row bytes per row in all"
[[ -z ${forget_ms:-} ]] || echo "ForgetExpiredTokens on the big table: $forgotten rows in $forget_ms ms (10 steps of at most 10000)"
((rows_after_empty > 0)) || die "no token was recorded"
