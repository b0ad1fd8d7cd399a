#!/usr/bin/env bash
# tests/natlab/natlab.sh — the NAT lab: real WebRTC peers behind real NATs follow the advisor's
# answers, report what happened, and the fleet learns from it.
#
# Why: every outcome the advisor learned from used to come from a simulator. Here the NATs are Linux
# network namespaces with iptables/nftables rules, the peers are Debian's chromium (driven by
# playwright-core), and the advice, the TURN relay and the reports are the real programs.
#
# The network (all of it inside namespaces named after this run's prefix, so that parallel runs and
# leftovers do not clash; nothing reaches the host's interfaces):
#   inet       the "internet": STUN/TURN (coturn on 198.51.100.1 and .2, RFC 5780), and on
#              198.51.100.10 advisor-server (TLS, JWT), the signalling relay; turn-prober and
#              PostgreSQL (127.0.0.1 inside inet) beside them.
#   r<i>, c<i> site i: a router namespace on link 100.64.<i>.0/24 with one client namespace behind
#              it (10.0.<i>.0/24; an OPEN site's client has the public 100.80.<i>.2). Two sites
#              per NAT kind, so that a pair of one kind (symmetric×symmetric) has two different
#              NATs, as in life; peers of sessions that run at once may share a client namespace.
# The NATs (router rules on its WAN interface; every router also drops unsolicited UDP to itself,
# see nat_rules):
#   open                  routed, no NAT
#   full_cone             SNAT to the WAN address + inbound DNAT of all UDP to the client
#   restricted_cone       the same + an nftables filter admitting inbound UDP only from
#                         (remote address . mapped port) the client has sent to (a dynamic set)
#   port_restricted_cone  MASQUERADE (conntrack)
#   symmetric             MASQUERADE --random-fully for UDP
#   blocked               forwarded UDP dropped; TCP masqueraded
#
# Stages (each needs the ones before):
#   net       the network, proven by coturn's own turnutils_natdiscovery in every client namespace,
#             then by `advisorctl detect`
#   services  PostgreSQL, advisor-server (TLS, JWKS), turn-prober, the signalling relay
#   sessions  real WebRTC sessions for every pair of PAIRS (peer.js in chromium, driver.js around
#             it), the table, and the assertions on what must hold
#   learn     more sessions of a pair whose direct path never works, from distinct identities, until
#             the advice for it is TURN_ONLY
#
# Exit status: 0 when everything held, 1 on a failure, 77 when network namespaces cannot be made
# here (not root, no `ip netns`): ctest counts that as skipped.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: tests/natlab/natlab.sh [--stage net|services|sessions|learn] [--build-dir DIR]
                              [--table FILE] [--jobs N] [--only LIST] [--keep] [--hold S]

Builds the NAT lab in network namespaces (as root), proves its NATs with turnutils_natdiscovery,
runs real WebRTC sessions between chromium peers behind them and checks what must hold.
  --stage S      stop after stage S (default: learn, everything)
  --build-dir D  where advisor-server, advisorctl and turn-prober are built (default: build)
  --table FILE   also write the sessions' table to FILE (markdown)
  --jobs N       sessions run at once (default 2)
  --only LIST    run only these sessions of the table (comma-separated numbers), e.g. --only 1,10
  --keep         keep the work directory (logs, keys) and print its path
  --hold S       before cleaning up, keep the lab running S seconds (to look around in it)
  -h, --help
Environment: NATLAB_PREFIX overrides the namespace prefix (default nl<pid>).
EOF
}

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
trap_errors
LOG_TAG=natlab
HERE=$ADVISOR_ROOT/tests/natlab

STAGE=learn
BUILD_DIR=$ADVISOR_ROOT/build
TABLE_FILE=
JOBS=2
ONLY=
HOLD=0
keep=0
while (($#)); do
  case $1 in
    --stage)
      STAGE=${2:?--stage needs a value}
      shift
      ;;
    --build-dir)
      BUILD_DIR=${2:?--build-dir needs a value}
      shift
      ;;
    --table)
      TABLE_FILE=${2:?--table needs a value}
      shift
      ;;
    --jobs)
      JOBS=${2:?--jobs needs a value}
      shift
      ;;
    --only)
      ONLY=${2:?--only needs a value}
      shift
      ;;
    --hold)
      HOLD=${2:?--hold needs a value}
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
case $STAGE in net | services | sessions | learn) ;; *) die "unknown stage $STAGE" ;; esac
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "--jobs takes a positive number"
[[ $HOLD =~ ^[0-9]+$ ]] || die "--hold takes a number of seconds"
stage_reached() {
  local order=(net services sessions learn) i want=0 have=0
  for i in "${!order[@]}"; do
    [[ ${order[i]} == "$1" ]] && want=$i
    [[ ${order[i]} == "$STAGE" ]] && have=$i
  done
  ((want <= have))
}

SKIP=77
skip() {
  log "SKIPPED: $*"
  exit "$SKIP"
}

# --- can this machine make namespaces? -----------------------------------------------------------

((EUID == 0)) || skip "the NAT lab needs root to make network namespaces (run it as root)"
command -v ip >/dev/null || skip "no ip command (iproute2)"
P=${NATLAB_PREFIX:-nl$$}
[[ $P =~ ^[a-z][a-z0-9]{1,9}$ ]] || die "NATLAB_PREFIX must be 2-10 lower-case letters and digits"
ip netns add "$P-probe" 2>/dev/null || skip "cannot make a network namespace here (ip netns add failed)"
ip netns del "$P-probe"
for tool in iptables nft turnserver turnutils_natdiscovery node chromium; do
  command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup"
done

# --- cleanup ---------------------------------------------------------------------------------------

NAMESPACES=() # every namespace this run made
PIDS=()       # processes this run started, stopped newest first
work=$(mktemp -d "${TMPDIR:-/tmp}/natlab.XXXXXX")
chmod 755 "$work" # the postgres user must reach $work/pg

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local rc=$? i ns pid f
  trap - ERR
  set +e # clean up as much as there is, whatever fails
  if ((HOLD > 0)); then
    log "holding the lab for ${HOLD}s: work dir $work, namespaces $P-*"
    sleep "$HOLD"
  fi
  # All at once, then a bounded wait: advisor-server flushes on SIGTERM, the others just stop.
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for pid in "${PIDS[@]}"; do pid_alive "$pid" && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  if [[ -f $work/pg/PG_VERSION ]]; then
    ip netns exec "$P-inet" runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$work/pg" -m immediate \
      -w -t 20 stop >/dev/null 2>&1 || true
  fi
  # Whatever still runs in a lab namespace was started by this run (a browser's helpers, say).
  for ns in "${NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if ((rc != 0 && rc != SKIP)); then
    for f in "$work"/*.log; do
      [[ -f $f ]] || continue
      printf '\n--- last lines of %s ---\n' "${f##*/}" >&2
      tail -n 15 "$f" >&2 || true
    done
  fi
  if ((keep)); then log "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# nsx NS CMD...: runs CMD in lab namespace NS (inet, r<i>, c<i>).
nsx() {
  local ns=$P-$1
  shift
  ip netns exec "$ns" "$@"
}

# start NS LOG CMD...: starts CMD in the background in namespace NS, output to LOG; pid in PIDS and
# STARTED. `ip netns exec` execs CMD, so the pid is CMD's.
STARTED=
start() {
  local ns=$1 log_file=$2
  shift 2
  ip netns exec "$P-$ns" "$@" >"$log_file" 2>&1 </dev/null &
  STARTED=$!
  PIDS+=("$STARTED")
}

# --- stage net -------------------------------------------------------------------------------------

STUN_A=198.51.100.1 # coturn's primary address; RFC 5780's alternate is STUN_B
STUN_B=198.51.100.2
SVC_IP=198.51.100.10 # advisor-server and the signalling relay
STUN_PORT=3478
RELAY_MIN=49160
RELAY_MAX=49459
TURN_REALM=natlab.connectivity-advisor.local

# Site i has kind SITES[i-1]; two of each kind.
SITES=(open open full_cone full_cone restricted_cone restricted_cone port_restricted_cone
  port_restricted_cone symmetric symmetric blocked blocked)

# first_site KIND [N]: the number of the N-th (default 1st) site of KIND.
first_site() {
  local i seen=0
  for i in "${!SITES[@]}"; do
    if [[ ${SITES[i]} == "$1" ]]; then
      seen=$((seen + 1))
      if ((seen == ${2:-1})); then
        echo $((i + 1))
        return
      fi
    fi
  done
  die "no site $1 #${2:-1}"
}

mkns() {
  ip netns add "$P-$1"
  NAMESPACES+=("$P-$1")
  nsx "$1" ip link set lo up
  nsx "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

# client_ip I: the address of site I's client.
client_ip() {
  if [[ ${SITES[$1 - 1]} == open ]]; then echo "100.80.$1.2"; else echo "10.0.$1.2"; fi
}

# nat_rules I: the router rules of site I's kind.
nat_rules() {
  local i=$1 kind=${SITES[$1 - 1]} wan=100.64.$1.2 client
  client=$(client_ip "$i")
  # Unsolicited UDP to the router itself is dropped before conntrack confirms an entry for it, as a
  # home router's firewall does. Otherwise a peer's early hole-punching packet leaves an entry
  # (peer -> WAN:port) that makes the client's own packet to that peer, moments later, clash with
  # it and get a new source port: port-restricted cones on both sides would never connect.
  nsx "r$i" iptables -A INPUT -i wan -p udp -m conntrack --ctstate NEW -j DROP
  case $kind in
    open) ;;
    full_cone | restricted_cone)
      nsx "r$i" iptables -t nat -A POSTROUTING -o wan -p udp -j SNAT --to-source "$wan"
      nsx "r$i" iptables -t nat -A PREROUTING -i wan -p udp -j DNAT --to-destination "$client"
      nsx "r$i" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
      if [[ $kind == restricted_cone ]]; then
        # Address-dependent filtering per mapping: inbound UDP to a mapped port passes only from an
        # address the client has sent to from that port. (Ports are kept by the SNAT, so the
        # client's port is the mapped port.)
        nsx "r$i" nft -f - <<NFT
table ip natlab {
  set sent {
    type ipv4_addr . inet_service
    flags dynamic, timeout
    timeout 2m
  }
  chain forward_filter {
    type filter hook forward priority filter; policy accept;
    iifname "lan" oifname "wan" meta l4proto udp update @sent { ip daddr . udp sport }
    iifname "wan" meta l4proto udp ip saddr . udp dport @sent accept
    iifname "wan" meta l4proto udp drop
  }
}
NFT
      fi
      ;;
    port_restricted_cone)
      nsx "r$i" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
      ;;
    symmetric)
      nsx "r$i" iptables -t nat -A POSTROUTING -o wan -p udp -j MASQUERADE --random-fully
      nsx "r$i" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
      ;;
    blocked)
      nsx "r$i" iptables -A FORWARD -p udp -j DROP
      nsx "r$i" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
      ;;
    *) die "unknown NAT kind $kind" ;;
  esac
}

net_up() {
  log "network: prefix $P, ${#SITES[@]} sites (${SITES[*]})"
  mkns inet
  nsx inet sysctl -qw net.ipv4.ip_forward=1
  nsx inet ip addr add "$STUN_A/32" dev lo
  nsx inet ip addr add "$STUN_B/32" dev lo
  nsx inet ip addr add "$SVC_IP/32" dev lo
  local i lan_prefix client
  for i in $(seq 1 "${#SITES[@]}"); do
    mkns "r$i"
    mkns "c$i"
    nsx "r$i" sysctl -qw net.ipv4.ip_forward=1
    ip link add "s$i" netns "$P-inet" type veth peer name wan netns "$P-r$i"
    ip link add lan netns "$P-r$i" type veth peer name eth0 netns "$P-c$i"
    nsx inet ip addr add "100.64.$i.1/24" dev "s$i"
    nsx inet ip link set "s$i" up
    nsx "r$i" ip addr add "100.64.$i.2/24" dev wan
    nsx "r$i" ip link set wan up
    nsx "r$i" ip route add default via "100.64.$i.1"
    client=$(client_ip "$i")
    lan_prefix=${client%.2}
    nsx "r$i" ip addr add "$lan_prefix.1/24" dev lan
    nsx "r$i" ip link set lan up
    nsx "c$i" ip addr add "$client/24" dev eth0
    nsx "c$i" ip link set eth0 up
    nsx "c$i" ip route add default via "$lan_prefix.1"
    if [[ ${SITES[i - 1]} == open ]]; then
      nsx inet ip route add "$lan_prefix.0/24" via "100.64.$i.2"
    fi
    nat_rules "$i"
  done
}

# await_tcp NS HOST PORT PID WHAT TIMEOUT_S
await_tcp() {
  local rc=0
  wait_until "$6" "$4" ns_tcp_open "$1" "$2" "$3" || rc=$?
  ((rc == 0)) && return 0
  ((rc == 2)) && die "$5 exited during startup"
  die "$5 does not listen on $2:$3 after $6s"
}
ns_tcp_open() { nsx "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; }

# coturn_up: STUN (RFC 5780 on two addresses) and TURN (REST API secret, UDP and TCP) in inet. The
# secret is in a -c configuration file, never on a command line.
TURN_SECRET=
coturn_up() {
  TURN_SECRET=$(openssl rand -hex 24)
  mkdir -p "$work/coturn"
  (
    umask 077
    printf 'use-auth-secret\nstatic-auth-secret=%s\n' "$TURN_SECRET" >"$work/coturn/turnserver.conf"
  )
  start inet "$work/coturn.log" turnserver -c "$work/coturn/turnserver.conf" \
    "--listening-ip=$STUN_A" "--listening-ip=$STUN_B" "--listening-port=$STUN_PORT" \
    "--relay-ip=$STUN_A" "--min-port=$RELAY_MIN" "--max-port=$RELAY_MAX" "--realm=$TURN_REALM" \
    --no-tls --no-dtls --no-cli "--userdb=$work/coturn/turndb" "--pidfile=$work/coturn/pid" \
    --log-file=stdout --simple-log
  local pid=$STARTED
  await_tcp inet "$STUN_A" "$STUN_PORT" "$pid" coturn 15
  await_tcp inet "$STUN_B" "$STUN_PORT" "$pid" coturn 15
}

# natdiscovery I: coturn's own RFC 5780 client in site I's client namespace; prints
# "MAPPING FILTERING" (EI, AD, APD, or TIMEOUT for both when nothing answers).
natdiscovery() {
  local out mapping filtering
  out=$(nsx "c$1" timeout 30 turnutils_natdiscovery -m -f "$STUN_A" 2>&1) || true
  printf '%s\n' "$out" >"$work/natdiscovery-$1.txt"
  mapping=$(sed -nE 's/.*NAT with (.*) Mapping.*/\1/p; s/.*(No NAT).*/\1/p' <<<"$out" | head -n 1)
  filtering=$(sed -nE 's/.*NAT with (.*) Filtering.*/\1/p' <<<"$out" | head -n 1)
  printf '%s|%s\n' "$(short_behaviour "$mapping")" "$(short_behaviour "$filtering")"
}

short_behaviour() {
  case $1 in
    *"Endpoint Independent"* | "No NAT") echo EI ;;
    *"Address and Port Dependent"* | *"Address and port dependent"*) echo APD ;;
    *"Address Dependent"* | *"Address dependent"*) echo AD ;;
    "") echo TIMEOUT ;;
    *) echo "?($1)" ;;
  esac
}

expected_behaviour() {
  case $1 in
    open | full_cone) echo 'EI|EI' ;;
    restricted_cone) echo 'EI|AD' ;;
    port_restricted_cone) echo 'EI|APD' ;;
    symmetric) echo 'APD|APD' ;;
    blocked) echo 'TIMEOUT|TIMEOUT' ;;
  esac
}

prove_nats() {
  log "prove the NATs: turnutils_natdiscovery -m -f $STUN_A in every client namespace"
  local i got want failed=0 pids=() 
  for i in $(seq 1 "${#SITES[@]}"); do
    natdiscovery "$i" >"$work/natdiscovery-$i.result" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || true; done
  for i in $(seq 1 "${#SITES[@]}"); do
    got=$(<"$work/natdiscovery-$i.result")
    want=$(expected_behaviour "${SITES[i - 1]}")
    if [[ $got == "$want" ]]; then
      log "  site $i ${SITES[i - 1]}: mapping|filtering $got"
    else
      log "  site $i ${SITES[i - 1]}: mapping|filtering $got, expected $want; natdiscovery said:"
      sed 's/^/      /' "$work/natdiscovery-$i.txt" >&2
      failed=1
    fi
  done
  ((failed == 0)) || die "a NAT does not behave as its kind should (above)"

  # The project's own detection must then name every NAT.
  log "advisorctl detect --stun $STUN_A:$STUN_PORT in every client namespace"
  pids=()
  for i in $(seq 1 "${#SITES[@]}"); do
    nsx "c$i" timeout 60 "$CTL_BIN" --timeout "$DETECT_TIMEOUT" detect --stun "$STUN_A:$STUN_PORT" \
      --json >"$work/detect-$i.json" 2>"$work/detect-$i.txt" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || true; done
  for i in $(seq 1 "${#SITES[@]}"); do
    got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["nat_type"], d.get("confidence"))' \
      "$work/detect-$i.json" 2>/dev/null) || got="(no answer: $(tr '\n' ' ' <"$work/detect-$i.txt"))"
    if [[ ${got%% *} == "${SITES[i - 1]}" ]]; then
      log "  site $i: advisorctl detect says ${got% *} (confidence ${got##* })"
    else
      log "  site $i: advisorctl detect says $got, the NAT is ${SITES[i - 1]}"
      failed=1
    fi
  done
  ((failed == 0)) || die "advisorctl detect does not name every NAT (above)"
}

# --- stage services --------------------------------------------------------------------------------

PG_PORT=5432 # inside inet: the namespace is this run's own, so fixed ports cannot clash
GRPC_PORT=50051
METRICS_PORT=9464
PROBER_METRICS_PORT=9465
SIGNAL_PORT=8080
TURN_ID=lab

# Learning, sped up for the lab: a pair's history moves its strategy after MIN_SAMPLES direct
# attempts, the cold-start prior weighs one pseudo-attempt, outcomes reach PostgreSQL and come back
# as a new snapshot within a second, and every answer is the chosen one (no exploration), so that
# what the lab asserts does not depend on a draw.
MIN_SAMPLES=4

psql_inet() {
  nsx inet "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$PG_SUPERUSER" "$@"
}

postgres_up() {
  pg_cluster_init "$work/pg" "$PG_PORT" --no-sync
  # PostgreSQL runs in inet (its own 127.0.0.1), as the postgres user.
  if ! nsx inet runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$work/pg" -l "$work/pg/postgresql.log" \
    -w -t 30 start >/dev/null; then
    tail -n 20 "$work/pg/postgresql.log" >&2 || true
    die "PostgreSQL did not start in the lab's internet"
  fi
  psql_inet -d postgres -c 'CREATE DATABASE advisor'
  ADVISOR_DATABASE_URL=postgresql://$PG_SUPERUSER@127.0.0.1:$PG_PORT/advisor \
    nsx inet "$SERVER_BIN" migrate >"$work/migrate.log" 2>&1 || die "advisor-server migrate failed"
  # The programs log in as members of exactly one group role each, as in production.
  psql_inet -d advisor >/dev/null <<'SQL'
CREATE ROLE advisor_server_login LOGIN IN ROLE advisor_server;
CREATE ROLE advisor_prober_login LOGIN IN ROLE advisor_prober;
SQL
}

write_turn_servers() {
  (
    umask 077
    cat >"$work/turn-servers.yaml" <<YAML
servers:
  - id: $TURN_ID
    region: lab
    urls: ["turn:$STUN_A:$STUN_PORT?transport=udp", "turn:$STUN_A:$STUN_PORT?transport=tcp"]
    auth: {rest_secret: "$TURN_SECRET"}
YAML
  )
}


prober_up() {
  ADVISOR_DATABASE_URL=postgresql://advisor_prober_login@127.0.0.1:$PG_PORT/advisor \
    ADVISOR_TURN_SERVERS_FILE=$work/turn-servers.yaml ADVISOR_METRICS_LISTEN=127.0.0.1:$PROBER_METRICS_PORT \
    ADVISOR_PROBE_INTERVAL=10s \
    start inet "$work/turn-prober.log" "$PROBER_BIN" run
  local pid=$STARTED deadline=$((SECONDS + 30)) metrics=
  await_tcp inet 127.0.0.1 "$PROBER_METRICS_PORT" "$pid" turn-prober 20
  while ((SECONDS < deadline)); do
    metrics=$(nsx inet curl -fsS --max-time 2 "http://127.0.0.1:$PROBER_METRICS_PORT/metrics" 2>/dev/null) || true
    grep -Eq '^turn_prober_cycles_total(\{[^}]*\})? [1-9]' <<<"$metrics" && break
    sleep 0.3
  done
  grep -Eq "^turn_server_consecutive_failures\{.*server=\"$TURN_ID\".*\} 0" <<<"$metrics" ||
    die "turn-prober's first check of coturn did not pass (turn-prober.log)"
  log "turn-prober: coturn ($TURN_ID) checked healthy"
}

server_up() {
  (
    umask 077
    openssl rand -hex 32 >"$work/token.key"
    "$CTL_BIN" gen-keys --alg ES256 --kid lab >"$work/auth-keys.json"
  )
  ADVISOR_DATABASE_URL=postgresql://advisor_server_login@127.0.0.1:$PG_PORT/advisor \
    ADVISOR_LISTEN=$SVC_IP:$GRPC_PORT ADVISOR_METRICS_LISTEN=127.0.0.1:$METRICS_PORT \
    ADVISOR_TOKEN_KEY_FILE=$work/token.key \
    ADVISOR_TLS_CERT_FILE=$work/tls/server.pem ADVISOR_TLS_KEY_FILE=$work/tls/server.key \
    ADVISOR_AUTH_KEYS_FILE=$work/auth-keys.json ADVISOR_TURN_SERVERS_FILE=$work/turn-servers.yaml \
    ADVISOR_MIN_SAMPLES=$MIN_SAMPLES ADVISOR_PRIOR_WEIGHT=1 ADVISOR_EXPLORE_SHARE=0 \
    ADVISOR_FLUSH_INTERVAL=200ms ADVISOR_SNAPSHOT_INTERVAL=500ms ADVISOR_RATE_LIMIT=0 \
    start inet "$work/advisor-server.log" "$SERVER_BIN" serve
  await_tcp inet "$SVC_IP" "$GRPC_PORT" "$STARTED" advisor-server 30
}

signal_up() {
  start inet "$work/signal.log" node "$HERE/signal.js" "$SVC_IP" "$SIGNAL_PORT"
  await_tcp inet "$SVC_IP" "$SIGNAL_PORT" "$STARTED" "the signalling relay" 10
}

# jwt SUB: a JWT for client identity SUB.
jwt() { "$CTL_BIN" mint-jwt --keys-file "$work/auth-keys.json" --sub "$1" --ttl 1h; }

# jwt_file SUB: the path of a file holding a JWT for SUB (tokens stay off command lines).
jwt_file() {
  (
    umask 077
    jwt "$1" >"$work/jwt-$1"
  )
  printf '%s' "$work/jwt-$1"
}

services_up() {
  postgres_up
  tls_certificates "$work/tls" "natlab CA" "IP:$SVC_IP" 1
  write_turn_servers
  prober_up
  server_up
  signal_up
  # The advice as a client behind a NAT sees it: through its router, TLS, its own JWT.
  local c out
  c=$(first_site port_restricted_cone)
  out=$(nsx "c$c" "$CTL_BIN" --target "$SVC_IP:$GRPC_PORT" --ca-file "$work/tls/ca.pem" \
    --jwt-file "$(jwt_file lab-smoke)" get-strategy --local port_restricted_cone --remote symmetric --json) ||
    die "advisorctl get-strategy from site $c failed: $out"
  printf '%s\n' "$out" >"$work/smoke-advice.json"
  grep -q '"strategy"' <<<"$out" || die "unexpected get-strategy answer: $out"
  log "advisor-server answers site $c over TLS: $(tr -d '\n ' <<<"$out" | cut -c1-160)..."
}

# --- stage sessions --------------------------------------------------------------------------------

# The pairs: KIND_A KIND_B and what must happen here. direct: cone (or open) NATs, a direct path
# exists. relay: no direct path can exist on these NATs (a symmetric mapping meets port-dependent
# filtering); reached after the advised timeout. relay-tcp: a UDP-blocked side, relayed over TCP.
PAIRS=(
  "open open direct"
  "open symmetric direct"
  "full_cone full_cone direct"
  "full_cone symmetric direct"
  "full_cone port_restricted_cone direct"
  "restricted_cone restricted_cone direct"
  "restricted_cone port_restricted_cone direct"
  "restricted_cone symmetric direct"
  "port_restricted_cone port_restricted_cone direct"
  "port_restricted_cone symmetric relay"
  "symmetric symmetric relay"
  "blocked open relay-tcp"
  "blocked symmetric relay-tcp"
)
LEARN_PAIR="port_restricted_cone symmetric" # its direct path never works here
BUDGET_MS=30000

# run_peers ID TRY SITE_A SITE_B: one WebRTC session, the offerer in site A's client namespace and
# the answerer in site B's, each with its own identity; their results in $work/session-ID-*.json.
run_peers() {
  local id=$1 try=$2 a=$3 b=$4 role site pids=() rc=0
  for role in offerer answerer; do
    if [[ $role == offerer ]]; then site=$a; else site=$b; fi
    jwt_file "lab-$id-$role" >/dev/null
    # Bounded twice: the budget inside, and a hard stop outside.
    nsx "c$site" timeout -k 5 $((BUDGET_MS / 1000 + 45)) node "$HERE/driver.js" --role "$role" \
      --session "s$id-$try" --signal "http://$SVC_IP:$SIGNAL_PORT" --ctl "$CTL_BIN" \
      --target "$SVC_IP:$GRPC_PORT" --ca-file "$work/tls/ca.pem" --jwt-file "$work/jwt-lab-$id-$role" \
      --turn-id "$TURN_ID" --lab-hosts "$STUN_A,$STUN_B,$SVC_IP" --budget-ms "$BUDGET_MS" \
      --detect "$STUN_A:$STUN_PORT" --detect-timeout "$DETECT_TIMEOUT" \
      >"$work/session-$id-$role.json" 2>"$work/session-$id-$role.log" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  return "$rc"
}

# run_session ID SITE_A SITE_B: the session, and once more when it did not connect: now and then,
# on this shared 2-core machine, a session's ICE does not come up at all (see the README). The
# first try's results stay in session-ID-*.first.json; table.py marks the session "retried" and
# shows what ICE did in the first try. A session that fails twice fails the lab.
run_session() {
  local id=$1 role
  run_peers "$id" 1 "$2" "$3" || true
  local up
  up=$(grep -l '"connected":true' "$work/session-$id-offerer.json" "$work/session-$id-answerer.json" \
    2>/dev/null | wc -l) || true
  ((up == 2)) && return 0
  for role in offerer answerer; do
    mv "$work/session-$id-$role.json" "$work/session-$id-$role.first.json" 2>/dev/null || true
  done
  run_peers "$id" 2 "$2" "$3"
}

# run_sessions SPEC...: runs sessions "ID SITE_A SITE_B", JOBS at a time.
run_sessions() {
  local spec running=()
  for spec in "$@"; do
    # shellcheck disable=SC2086 # spec is "ID SITE_A SITE_B"
    run_session $spec &
    running+=($!)
    if ((${#running[@]} >= JOBS)); then
      wait "${running[0]}" || true
      running=("${running[@]:1}")
    fi
  done
  for spec in "${running[@]}"; do wait "$spec" || true; done
}

# pair_sites KIND_A KIND_B [N]: two sites for a pair (two different routers for one kind); N picks
# another set of sites for repeated sessions.
pair_sites() {
  local n=${3:-0} a b
  a=$(first_site "$1" $((1 + n % 2)))
  if [[ $1 == "$2" ]]; then b=$(first_site "$2" $((2 - n % 2))); else b=$(first_site "$2" $((1 + (n / 2) % 2))); fi
  echo "$a $b"
}

# write_table_file: the tables so far into --table FILE, with what the lab is.
write_table_file() {
  [[ -n $TABLE_FILE ]] || return 0
  {
    printf 'NAT lab, %s: real chromium peers behind Linux NATs in network namespaces, coturn, ' \
      "$(date -u +%Y-%m-%dT%H:%MZ)"
    printf 'advisor-server over TLS. Peers detect their NAT type (advisorctl detect). '
    printf 'Time: since both peers started.\n\n'
    cat "$work/sessions.md"
    if [[ -f $work/learn.md ]]; then
      printf '\nMore sessions of the pair whose direct path never works here, each from new identities:\n\n'
      cat "$work/learn.md"
    fi
  } >"$TABLE_FILE"
}

# selected N: true when session N is to run (--only).
selected() { [[ -z $ONLY || ,$ONLY, == *",$1,"* ]]; }

sessions() {
  log "sessions: ${#PAIRS[@]} NAT pairs, $JOBS at a time, peers detect their NAT type"
  local specs=() i kinds
  for i in "${!PAIRS[@]}"; do
    selected "$((i + 1))" || continue
    read -r -a kinds <<<"${PAIRS[i]}"
    specs+=("$((i + 1)) $(pair_sites "${kinds[0]}" "${kinds[1]}")")
  done
  local t0=$SECONDS
  run_sessions "${specs[@]}"
  log "sessions done in $((SECONDS - t0))s"
  local table_args=()
  for i in "${!PAIRS[@]}"; do selected "$((i + 1))" && table_args+=("$((i + 1)) ${PAIRS[i]}"); done
  local rc=0
  python3 "$HERE/table.py" --work "$work" --detect 1 --out "$work/sessions.md" \
    "${table_args[@]}" || rc=$?
  write_table_file
  ((rc == 0)) || die "the sessions did not all go as they must (above)"
}

# --- stage learn -----------------------------------------------------------------------------------

# advice SITE KIND_A KIND_B: "STRATEGY SAMPLES" as a new identity in SITE's client namespace is
# advised for the pair now.
ADVICE_N=0
advice() {
  ADVICE_N=$((ADVICE_N + 1))
  local out
  out=$(nsx "c$1" "$CTL_BIN" --target "$SVC_IP:$GRPC_PORT" --ca-file "$work/tls/ca.pem" \
    --jwt-file "$(jwt_file "lab-ask-$ADVICE_N")" get-strategy --local "$2" --remote "$3" --json) ||
    die "get-strategy $2 × $3 failed: $out"
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["strategy"].replace("STRATEGY_", ""), d.get("historySamples", 0))' <<<"$out"
}

# learn: sessions of LEARN_PAIR, whose direct path never works here, each from two new identities,
# until its advice is TURN_ONLY; at most LEARN_ROUNDS rounds of JOBS sessions. The pair's cold-start
# advice (one side symmetric: TURN_FALLBACK) must have been something else.
LEARN_ROUNDS=4
learn() {
  local kinds site now round n=0 specs j id=100
  read -r -a kinds <<<"$LEARN_PAIR"
  site=$(first_site "${kinds[0]}")
  now=$(advice "$site" "${kinds[@]}")
  log "learn: ${kinds[0]} × ${kinds[1]} is advised ${now% *} (${now#* } sessions of history)"
  [[ ${now% *} != TURN_ONLY ]] || die "the pair is TURN_ONLY before the lab taught it anything"
  for ((round = 1; round <= LEARN_ROUNDS; round++)); do
    specs=()
    for ((j = 0; j < JOBS; j++)); do
      id=$((id + 1))
      specs+=("$id $(pair_sites "${kinds[@]}" "$j")")
    done
    run_sessions "${specs[@]}"
    n=$((n + ${#specs[@]}))
    # Reports reach PostgreSQL within the flush interval, and the server's snapshot within the
    # reload interval: ask until both have passed.
    local deadline=$((SECONDS + 5))
    while :; do
      now=$(advice "$site" "${kinds[@]}")
      [[ ${now% *} == TURN_ONLY ]] && break
      ((SECONDS < deadline)) || break
      sleep 0.5
    done
    log "learn: after $n more session(s): ${now% *} (${now#* } sessions of history)"
    [[ ${now% *} == TURN_ONLY ]] && break
  done
  local table_args=()
  for ((j = 101; j <= id; j++)); do table_args+=("$j ${kinds[0]} ${kinds[1]} relay"); done
  local rc=0 verdict
  python3 "$HERE/table.py" --work "$work" --detect 1 --out "$work/learn.md" \
    "${table_args[@]}" || rc=$?
  if [[ ${now% *} == TURN_ONLY ]]; then
    verdict="${kinds[0]} × ${kinds[1]} moved to TURN_ONLY after $n more session(s) from distinct identities"
  else
    verdict="${kinds[0]} × ${kinds[1]} is still advised ${now% *} after $n more sessions that never connected directly"
  fi
  printf '\nLearning: %s (%s sessions of history).\n' "$verdict" "${now#* }" >>"$work/learn.md"
  write_table_file
  ((rc == 0)) || die "the learning sessions did not all go as they must (above)"
  [[ ${now% *} == TURN_ONLY ]] || die "$verdict"
  log "learn: $verdict"
}

# --- main ------------------------------------------------------------------------------------------

SERVER_BIN=$BUILD_DIR/services/advisor/advisor-server
CTL_BIN=$BUILD_DIR/services/advisorctl/advisorctl
PROBER_BIN=$BUILD_DIR/services/prober/turn-prober
for b in "$SERVER_BIN" "$CTL_BIN" "$PROBER_BIN"; do
  [[ -x $b ]] || die "$b not built (cmake --build $BUILD_DIR --target advisor-server advisorctl turn-prober)"
done
DETECT_TIMEOUT=1s # per round of STUN tests; the lab's "internet" answers within milliseconds

t_start=$SECONDS
net_up
coturn_up
prove_nats
log "stage net passed in $((SECONDS - t_start))s"
stage_reached services || exit 0
services_up
log "stage services passed at $((SECONDS - t_start))s"
stage_reached sessions || exit 0
sessions
log "stage sessions passed at $((SECONDS - t_start))s"
stage_reached learn || exit 0
learn
log "all stages passed in $((SECONDS - t_start))s"
