#!/usr/bin/env bash
# tests/bench/advice.sh — advice quality: runs every shipped advisor-sim scenario against a throwaway
# stack and prints one table of the advisor against the seed's static tree, always-TURN_ONLY and the
# oracle, with the goals of issue 5 marked met or NOT MET. A benchmark, not a test: ctest does not
# run it, and it records nothing; copy the table where it is needed (docs/advice-quality.md).
#
# One PostgreSQL 15 cluster in a temp dir on a free port and one HS256 JWKS (`advisorctl gen-keys`);
# per scenario a fresh database, `advisor-server migrate`, `advisor-server serve` on free loopback
# ports with its documented default settings and the keys file, then `advisor-sim --json` with the
# same keys file, so that every simulated install sends its own JWT as a real client would; the
# server is stopped (SIGTERM) before the next scenario. Everything is stopped and removed on exit
# unless --keep.
#
# Goals (issue 5), judged on each scenario's role, known by its file name:
#   every scenario     success rate >= the static tree's (and >= 99.5 % where the relay succeeds
#                      >= 99.9 %); cost at most 1 % above the static tree's
#   steady             cost within 5 % of the oracle after warm-up (the first 10 % of sessions)
#   carrier_nat_change cost within 10 % of the oracle over the whole run; >= 25 % below the static
#                      tree; regret back under 10 % within 5,000 sessions of the changed pair
#   worse_pair         cost >= 25 % below the static tree
#
# Needs a build (scripts/build) and the packages from scripts/setup (PostgreSQL 15, python3, openssl).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: tests/bench/advice.sh [--build-dir DIR] [--seed S] [--rate R] [--concurrency C]
                             [--sessions N] [--insecure] [--strict] [--keep] [SCENARIO.json...]

  SCENARIO.json     scenarios to run (default: every services/sim/scenarios/*.json)
  --build-dir DIR   where advisor-server, advisorctl and advisor-sim were built (default: <project>/build)
  --seed S          advisor-sim --seed (default 1)
  --rate R          advisor-sim --rate, sessions started per second (default: advisor-sim's own)
  --concurrency C   advisor-sim --concurrency (default: advisor-sim's own)
  --sessions N      run N sessions of each scenario instead of its own count (a quick look; the
                    goals are meant for the full runs)
  --insecure        plaintext gRPC (advisor-server --insecure) instead of TLS with a throwaway CA
  --strict          exit 3 when a goal is not met
  --keep            keep the temp directory (server logs, PostgreSQL, each scenario's JSON report)
  -h, --help

advisor-server runs with its defaults. Server settings set in the environment (ADVISOR_*) reach it,
and the table then says so loudly. Exit: 0 ran, 1 a failure, 3 goal not met with --strict.
EOF
}

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
trap_errors
# shellcheck source=tests/bench/tls.sh
source "$(dirname "${BASH_SOURCE[0]}")/tls.sh"
LOG_TAG=advice

build_dir=$ADVISOR_ROOT/build
seed=1
sim_args=()
insecure=0
strict=0
keep=0
scenarios=()
while (($#)); do
  case $1 in
    --build-dir | --seed | --rate | --concurrency | --sessions)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      case $1 in
        --build-dir) build_dir=$2 ;;
        --seed) seed=$2 ;;
        *) sim_args+=("$1" "$2") ;;
      esac
      shift
      ;;
    --insecure) insecure=1 ;;
    --strict) strict=1 ;;
    --keep) keep=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*)
      usage >&2
      exit 2
      ;;
    *) scenarios+=("$1") ;;
  esac
  shift
done
if ((${#scenarios[@]} == 0)); then
  scenarios=("$ADVISOR_ROOT"/services/sim/scenarios/*.json)
fi
for file in "${scenarios[@]}"; do
  [[ -f $file ]] || die "no scenario file $file"
done

SERVER_BIN=$build_dir/services/advisor/advisor-server
SIM_BIN=$build_dir/services/sim/advisor-sim
CTL_BIN=$build_dir/services/advisorctl/advisorctl
for tool in python3 openssl; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/setup)"
done
[[ -x $SERVER_BIN && -x $SIM_BIN && -x $CTL_BIN ]] ||
  die "advisor-server/advisor-sim/advisorctl not built in $build_dir (run scripts/build)"
pg_require

# Settings the script gives the server itself: where it is, not how it decides.
OWN_SETTINGS=" ADVISOR_DATABASE_URL ADVISOR_LISTEN ADVISOR_METRICS_LISTEN ADVISOR_TOKEN_KEY ADVISOR_AUTH_KEYS_FILE "
OWN_SETTINGS+="ADVISOR_TLS_CERT_FILE ADVISOR_TLS_KEY_FILE ADVISOR_CA_FILE ADVISOR_INSECURE "
non_default=()
while IFS='=' read -r name _; do
  [[ $name == ADVISOR_* && $name != ADVISOR_SIM_* && $OWN_SETTINGS != *" $name "* ]] || continue
  non_default+=("$name=${!name}")
done < <(env)
if ((${#non_default[@]})); then
  warn "advisor-server inherits NON-DEFAULT settings from the environment: ${non_default[*]}"
fi

# --- throwaway stack ------------------------------------------------------------------------------

throwaway_workdir advisor-advice
# TLS as deployed (advisor-sim gets the CA through ADVISOR_CA_FILE), or plaintext with --insecure.
bench_tls_setup "$work/tls" "$insecure"

pg_port=$(free_ports 1)
log "PostgreSQL on 127.0.0.1:$pg_port ($pg_dir)"
pg_cluster_init "$pg_dir" "$pg_port" --no-sync
pg_cluster_start "$pg_dir" "$pg_port"
token_key=$(openssl rand -hex 32)
# The server verifies with the keys file and advisor-sim signs each install's JWT with it.
keys_file=$work/keys.jwks
"$CTL_BIN" gen-keys --alg HS256 --kid advice-bench >"$keys_file" || die "advisorctl gen-keys failed"
chmod 600 "$keys_file"
export ADVISOR_AUTH_KEYS_FILE=$keys_file

reports=()
index=0
for file in "${scenarios[@]}"; do
  index=$((index + 1))
  name=$(basename "$file" .json)
  db=advice_$index
  pg_create_database "$pg_port" "$db"
  db_url=$(pg_url "$pg_port" "$db")
  advisor_migrate "$SERVER_BIN" "$db_url" "$work/$name.migrate.log"
  mapfile -t ports < <(free_ports 2)
  target=127.0.0.1:${ports[0]}
  advisor_serve "$SERVER_BIN" "$db_url" "${ports[0]}" "${ports[1]}" "$token_key" \
    "$work/$name.server.log"

  log "scenario $name: advisor-sim against $target (fresh database $db)"
  "$SIM_BIN" --target "$target" --scenario "$file" --seed "$seed" --auth-keys-file "$keys_file" \
    "${sim_args[@]}" --json \
    >"$work/$name.json" 2>"$work/$name.sim.log" ||
    {
      tail -n 20 "$work/$name.sim.log" >&2 || true
      die "advisor-sim failed on $name"
    }
  reports+=("$work/$name.json")

  stop_pid "$server_pid" 60 || warn "advisor-server had to be killed after $name"
  wait "$server_pid" 2>/dev/null || true
done

# --- summary --------------------------------------------------------------------------------------

rc=0
python3 - "${#non_default[@]}" "$BENCH_TRANSPORT" "${reports[@]}" <<'EOF' || rc=$?
import json, os, sys

non_default = int(sys.argv[1])
transport = sys.argv[2]
reports = [json.load(open(path)) | {"file": os.path.basename(path)} for path in sys.argv[3:]]

def pct(x):
    return f"{100 * x:+.1f}%"

rows = []
goals = []  # (scenario, goal, figure, met)
for r in reports:
    name = r["file"][: -len(".json")]
    o = r["overall"]
    adv, static, turn, oracle = o["advisor"], o["static_tree"], o["turn_only"], o["oracle"]
    after = r["warm_up"]["after_warm_up"]
    recovery = "-"
    recovered = []
    for c in r["phase_changes"]:
        recovered.append(c["recovered_after"])
        recovery = "never" if c["recovered_after"] is None else f'{c["recovered_after"]}'
    rows.append([name, f'{r["sessions"]}', f'{adv["cost"]:.0f}', f'{static["cost"]:.0f}',
                 f'{turn["cost"]:.0f}', f'{oracle["cost"]:.0f}',
                 f'{100 * adv["success_rate"]:.2f}%', f'{100 * static["success_rate"]:.2f}%',
                 f'{100 * oracle["success_rate"]:.2f}%', pct(o["regret"]), pct(after["regret"]),
                 pct(o["gain"]), recovery, f'{r["sessions_per_s"]:.0f}'])

    def goal(text, figure, met):
        goals.append((name, text, figure, met))

    # Both on the same sessions: the difference is a count of sessions, shown as such.
    connected_diff = round((adv["success_rate"] - static["success_rate"]) * r["sessions"])
    # What matching the static tree's success would cost, from the model: the oracle's own
    # success and the cheapest choices that reach the static tree's (services/sim/model.h).
    price = r["success_price"]
    goal("success rate >= static tree",
         f'{100 * adv["success_rate"]:.3f}% vs {100 * static["success_rate"]:.3f}% '
         f'({connected_diff:+d} sessions connected); expected: oracle '
         f'{100 * price["oracle"]["success"]:.3f}%, static {100 * price["static_tree"]["success"]:.3f}% '
         f'costs {pct(price["matched"]["over_oracle"])} over the oracle at the least',
         adv["success_rate"] >= static["success_rate"])
    if r["relay_success"] >= 0.999:
        goal("success rate >= 99.5% (relay >= 99.9%)", f'{100 * adv["success_rate"]:.2f}%',
             adv["success_rate"] >= 0.995)
    goal("cost at most 1% above static tree", f'gain {pct(o["gain"])}', o["gain"] >= -0.01)
    if name == "steady":
        goal("cost within 5% of oracle after warm-up", f'regret {pct(after["regret"])}',
             after["regret"] <= 0.05)
    if name == "carrier_nat_change":
        goal("cost within 10% of oracle over the whole run", f'regret {pct(o["regret"])}',
             o["regret"] <= 0.10)
    if name in ("carrier_nat_change", "worse_pair"):
        goal("cost >= 25% below static tree", f'gain {pct(o["gain"])}', o["gain"] >= 0.25)
    if name == "carrier_nat_change":
        ok = bool(recovered) and all(x is not None and x <= 5000 for x in recovered)
        goal("regret < 10% within 5,000 sessions of the changed pair",
             ", ".join("never" if x is None else f"after {x}" for x in recovered) or "no phase change reached",
             ok)

header = ["scenario", "sessions", "advisor", "static", "turn-only", "oracle", "adv ok", "static ok",
          "oracle ok", "regret", "regret>wu", "gain", "recovered", "sess/s"]
widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
first = reports[0]
print()
print("advice quality — cost = mean session time + relay_cost_ms × relay share (ms); "
      f"advisor-sim seed {first['seed']}, concurrency {first['concurrency']}, "
      + (f"at most {first['rate']:g} sessions/s" if first["rate"] > 0 else "no rate limit"))
if non_default:
    print("!!! advisor-server ran with NON-DEFAULT settings from the environment (see the warning above) !!!")
else:
    print("advisor-server ran with its documented default settings")
print("authentication on: each simulated install sends its own HS256 JWT; transport: " + transport)
print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
for row in rows:
    print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
print("regret = (advisor − oracle) / oracle; regret>wu = after the first 10 % of sessions; "
      "gain = (static − advisor) / static;")
print("recovered = sessions of the changed pair until a 1,000-session window's regret is under 10 %")
print()
print("goals")
gw = max(len(g[1]) for g in goals)
nw = max(len(g[0]) for g in goals)
missed = 0
for name, text, figure, met in goals:
    missed += not met
    print(f"  {name.ljust(nw)}  {text.ljust(gw)}  {'met    ' if met else 'NOT MET'}  {figure}")
print(f"{len(goals) - missed} of {len(goals)} goals met")
sys.exit(3 if missed else 0)
EOF
if ((rc == 3)); then
  ((strict)) && exit 3
  exit 0
fi
exit "$rc"
