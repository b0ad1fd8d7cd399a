#!/usr/bin/env bash
# tests/deploy/image_check.sh — builds every image of docker/Dockerfile for real and runs them.
#
# No Docker engine is needed: buildah (Debian's daemonless OCI builder) builds with
# `--isolation chroot`, on a Debian 12 base made here with debootstrap from the machine's apt mirror
# and imported with podman. Then, each image:
#   - declares a numeric, non-root USER, and `id -u` inside it prints that uid;
#   - its binary starts (`--help`: every shared library it loads is in the image);
# and, against a throwaway PostgreSQL 15 cluster and a real coturn on free loopback ports:
#   - advisor-server's image applies the migrations (`migrate`, as the owner);
#   - turn-prober's image runs one cycle (`once`) against coturn, and the coturn shows up healthy,
#     with a latency, in turn_health;
#   - advisor-server's image serves (TLS with a throwaway CA when the binary has --tls-cert-file,
#     the token key from a file when it has --token-key-file); the image's own HEALTHCHECK
#     (advisorctl health, run in a second container) exits 0 with SERVING; /metrics shows
#     advisor_database_up 1; `advisorctl turn-servers` from the advisorctl image (with a JWT from
#     that image's gen-keys and mint-jwt) lists the coturn as healthy; SIGTERM stops serve with
#     status 0.
# When the migrations create the least-privilege group roles (advisor_server, advisor_prober), the
# server and the prober run as login users that are members of those roles only.
# Containers share the host's network (chroot isolation has no network namespace of its own).
# Everything started is stopped on exit, failure included; every wait is bounded.
#
# Cache (outside the checkout): $ADVISOR_IMAGE_CACHE, by default
# /var/cache/connectivity-advisor/images, holds the debootstrap base (base.tar) and, with --rev, the
# exported sources. buildah keeps the layers (--layers, every stage tagged
# localhost/connectivity-advisor/STAGE:check) in /var/lib/containers and the build stage's CMake
# trees (a cache mount) in /var/tmp/buildah-cache, so a second run rebuilds only what changed.
# --refresh-base remakes the base.
#
# Needs root (buildah, debootstrap, apt-get); installs buildah, podman, debootstrap, coturn,
# PostgreSQL 15, openssl, curl and python3 with apt-get when they are missing.
# Run directly or through ctest: `ADVISOR_IMAGE_CHECK=1 ctest --test-dir build -L image`.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: tests/deploy/image_check.sh [--rev REV] [--refresh-base] [--keep] [--only-if-enabled]

  --rev REV        build the committed tree of REV (git archive) instead of the working tree
  --refresh-base   remake the Debian 12 base with debootstrap even when one is cached
  --keep           keep the temp directory (logs, certificates, keys)
  --only-if-enabled  exit 77 (skipped, for ctest) unless ADVISOR_IMAGE_CHECK=1
  -h, --help

Environment: ADVISOR_IMAGE_CACHE (cache directory), ADVISOR_IMAGE_TAG (tag of the built images,
default "check"), ADVISOR_IMAGE_TURN_MIN_PORT / _MAX_PORT (coturn relay ports, default
49440-49459). Exit status 0 when every check passed, 1 otherwise.
EOF
}

# The whole check is one function, read in full before it runs, and the line that calls it exits:
# editing this file while a run is in progress (it takes minutes) cannot change what that run does.
main() {
  # shellcheck source=scripts/lib.sh
  source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
  trap_errors
  LOG_TAG='image-check'

  rev=
  refresh_base=0
  keep=0
  only_if_enabled=0
  while (($#)); do
    case $1 in
      --rev)
        [[ $# -ge 2 ]] || die "--rev needs a revision"
        rev=$2
        shift
        ;;
      --refresh-base) refresh_base=1 ;;
      --keep) keep=1 ;;
      --only-if-enabled) only_if_enabled=1 ;;
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

  if ((only_if_enabled)) && [[ ${ADVISOR_IMAGE_CHECK:-0} != 1 ]]; then
    log "skipped: a full image build; set ADVISOR_IMAGE_CHECK=1 to run it"
    exit 77
  fi
  ((EUID == 0)) || die "run as root: buildah (chroot isolation), debootstrap and apt-get need it"

  CACHE=${ADVISOR_IMAGE_CACHE:-/var/cache/connectivity-advisor/images}
  TAG=${ADVISOR_IMAGE_TAG:-check}
  BASE_IMAGE=localhost/connectivity-advisor/debian:bookworm
  IMAGE_PREFIX=localhost/connectivity-advisor
  TURN_MIN_PORT=${ADVISOR_IMAGE_TURN_MIN_PORT:-49440}
  TURN_MAX_PORT=${ADVISOR_IMAGE_TURN_MAX_PORT:-49459}
  DOCKERFILE=docker/Dockerfile
  started=$SECONDS

  # --- tools --------------------------------------------------------------------------------------

  # command -> Debian package that provides it
  declare -gA TOOLS=([buildah]=buildah [podman]=podman [debootstrap]=debootstrap [turnserver]=coturn
    [openssl]=openssl [curl]=curl [python3]=python3 [git]=git)
  missing=()
  for tool in "${!TOOLS[@]}"; do
    command -v "$tool" >/dev/null || missing+=("${TOOLS[$tool]}")
  done
  [[ -x $PG_BINDIR/initdb ]] || missing+=(postgresql-15)
  if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt-get)"
    apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300)
    "${apt[@]}" update >/dev/null
    "${apt[@]}" install "${missing[@]}" >/dev/null # with recommends: runc, fuse-overlayfs
  fi
  pg_require

  # --- throwaway state and cleanup ----------------------------------------------------------------

  throwaway_workdir advisor-image-check
  CONTAINERS=() # buildah working containers, removed on exit
  GROUPS_RUNNING=() # process groups (setsid) of containers run in the background, stopped on exit

  # shellcheck disable=SC2317 # called by the EXIT trap
  image_cleanup() {
    local rc=$? g c
    set +e # clean up everything, whatever fails; (exit rc) below hands rc on to throwaway_cleanup
    for g in "${GROUPS_RUNNING[@]}"; do
      stop_group "$g" 15 || true
    done
    for c in "${CONTAINERS[@]}"; do
      buildah rm "$c" >/dev/null 2>&1 || true
    done
    (exit "$rc")
    throwaway_cleanup
  }
  trap image_cleanup EXIT

  # stop_group PGID TIMEOUT_S: SIGTERM to the whole process group (buildah and the program it runs),
  # then SIGKILL after TIMEOUT_S. Returns 1 if it had to be killed.
  stop_group() {
    local pgid=$1 deadline=$((SECONDS + $2))
    kill -TERM -- "-$pgid" 2>/dev/null || return 0
    while ((SECONDS < deadline)); do
      kill -0 -- "-$pgid" 2>/dev/null || return 0
      sleep 0.2
    done
    warn "process group $pgid still runs ${2}s after SIGTERM; sending SIGKILL"
    kill -KILL -- "-$pgid" 2>/dev/null || true
    return 1
  }

  failures=0
  check() { # check DESCRIPTION CMD...: runs CMD, prints ok or FAIL, counts failures.
    local what=$1
    shift
    if "$@"; then
      log "  ok  $what"
    else
      log "FAIL  $what"
      failures=$((failures + 1))
    fi
  }

  # --- sources ------------------------------------------------------------------------------------

  context=$ADVISOR_ROOT
  build_tree=worktree # the build stage's cached CMake tree for these sources (ADVISOR_BUILD_TREE)
  if [[ -n $rev ]]; then
    commit=$(git -C "$ADVISOR_ROOT" rev-parse --verify "$rev^{commit}") || die "no commit $rev"
    # One persistent copy, updated file by file: unchanged files keep their mtime, so the cached
    # CMake tree of the build stage recompiles only what the revision changed (git archive alone
    # gives every file the commit's time, which can be older than the objects built before).
    context=$CACHE/src
    build_tree=rev
    mkdir -p "$context" "$work/export"
    git -C "$ADVISOR_ROOT" archive "$commit" | tar -x -C "$work/export"
    python3 - "$work/export" "$context" <<'EOF'
import filecmp, os, shutil, sys
src, dst = sys.argv[1:]
wanted = set()
for root, dirs, files in os.walk(src):
    for name in files:
        rel = os.path.relpath(os.path.join(root, name), src)
        wanted.add(rel)
        a, b = os.path.join(src, rel), os.path.join(dst, rel)
        if not os.path.isfile(b) or not filecmp.cmp(a, b, shallow=False):
            os.makedirs(os.path.dirname(b), exist_ok=True)
            shutil.copy(a, b)  # the copy's mtime is now: newer than anything built before
        shutil.copymode(a, b)
for root, dirs, files in os.walk(dst):
    for name in files:
        rel = os.path.relpath(os.path.join(root, name), dst)
        if rel not in wanted:
            os.remove(os.path.join(dst, rel))
EOF
    log "sources: $commit (git archive, synced into $context)"
  else
    log "sources: the working tree $context"
  fi
  [[ -f $context/$DOCKERFILE ]] || die "$context/$DOCKERFILE not found"

  # --- Debian 12 base -----------------------------------------------------------------------------

  # The apt mirror the machine is configured with: the first URIs: of the deb822 sources, else the
  # first deb line of sources.list.
  apt_mirror() {
    local m=
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
      m=$(awk '$1 == "URIs:" { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
    fi
    if [[ -z $m && -f /etc/apt/sources.list ]]; then
      m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
        /etc/apt/sources.list)
    fi
    printf '%s\n' "${m:-http://deb.debian.org/debian}"
  }

  make_base() {
    local mirror rootfs=$CACHE/rootfs.tmp t0=$SECONDS
    mirror=$(apt_mirror)
    log "base: debootstrap --variant=minbase bookworm from $mirror"
    mkdir -p "$CACHE"
    rm -rf "$rootfs"
    timeout 900 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
      >"$work/debootstrap.log" 2>&1 || die "debootstrap failed (see $work/debootstrap.log)"
    # The images' apt uses the machine's deb822 sources (updates and security included).
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
      rm -f "$rootfs/etc/apt/sources.list"
      cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
    fi
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
      "$rootfs/var/log/bootstrap.log"
    tar --numeric-owner -C "$rootfs" -cf "$CACHE/base.tar.tmp" .
    mv "$CACHE/base.tar.tmp" "$CACHE/base.tar"
    rm -rf "$rootfs"
    log "base: made in $((SECONDS - t0)) s"
  }

  import_base=0
  if ((refresh_base)) || [[ ! -f $CACHE/base.tar ]]; then
    make_base
    import_base=1
  fi
  if ((import_base)) || ! buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    podman import "$CACHE/base.tar" "$BASE_IMAGE" >"$work/import.log" 2>&1 ||
      die "podman import of $CACHE/base.tar failed: $(cat "$work/import.log")"
    log "base: imported $CACHE/base.tar as $BASE_IMAGE"
  fi

  # --- build every target -------------------------------------------------------------------------

  # The Dockerfile's stages in order, and its targets: the named stages no other stage builds on
  # (FROM) or copies from (--from).
  mapfile -t STAGES < <(awk 'toupper($1) == "FROM" && toupper($(NF - 1)) == "AS" { print $NF }' \
    "$context/$DOCKERFILE")
  mapfile -t TARGETS < <(awk '
    toupper($1) == "FROM" { for (i = 2; i <= NF; i++) if ($i !~ /^--/) { base = $i; break }
                            if (toupper($(NF - 1)) == "AS") order[++n] = $NF
                            used[base] = 1 }
    toupper($1) == "COPY" { for (i = 2; i <= NF; i++) if ($i ~ /^--from=/) used[substr($i, 8)] = 1 }
    END { for (i = 1; i <= n; i++) if (!(order[i] in used)) print order[i] }' \
    "$context/$DOCKERFILE")
  ((${#TARGETS[@]})) || die "no targets found in $DOCKERFILE"
  log "stages: ${STAGES[*]}; targets: ${TARGETS[*]}"

  # Every stage gets a tag, the intermediate ones too: a tagged image keeps its layers, the cache of
  # the next run (the build stage's package layer above all). What a previous run tagged is removed
  # once replaced, with the untagged layers only it used, so the storage does not grow run by run.
  declare -gA BUILD_SECONDS
  replaced=()
  for stage in "${STAGES[@]}"; do
    t0=$SECONDS
    image=$IMAGE_PREFIX/$stage:$TAG
    old=$(buildah images -q --no-trunc "$image" 2>/dev/null || true)
    log "build $stage"
    # Docker format: OCI image configs have no HEALTHCHECK, which the Dockerfile sets.
    if ! timeout 3600 buildah bud --isolation chroot --layers --pull=never --format docker \
      --build-arg "DEBIAN_IMAGE=$BASE_IMAGE" --build-arg "ADVISOR_BUILD_TREE=$build_tree" \
      -f "$DOCKERFILE" --target "$stage" -t "$image" \
      "$context" >"$work/build-$stage.log" 2>&1; then
      tail -n 40 "$work/build-$stage.log" >&2
      die "buildah bud --target $stage failed"
    fi
    new=$(buildah images -q --no-trunc "$image")
    [[ -z $old || $old == "$new" ]] || replaced=("$old" "${replaced[@]}")
    BUILD_SECONDS[$stage]=$((SECONDS - t0))
    log "build $stage: $((SECONDS - t0)) s"
  done
  for old in "${replaced[@]}"; do # the last built first: images before the stages they build on
    buildah rmi "$old" >/dev/null 2>&1 || true
  done
  build_done=$SECONDS

  # --- each image: non-root user, binary starts ---------------------------------------------------

  # new_container VAR IMAGE: a new working container of IMAGE (removed on exit), its name in VAR.
  new_container() {
    local name=image-check-$$-${#CONTAINERS[@]}
    buildah from --pull=never --name "$name" "$2" >/dev/null || die "buildah from $2 failed"
    CONTAINERS+=("$name")
    printf -v "$1" '%s' "$name"
  }

  # in_image [buildah run options] CONTAINER -- CMD...: runs CMD in a container on the host network,
  # for at most 120 s.
  in_image() { timeout --kill-after=10 120 buildah run --isolation chroot --network host "$@"; }

  # logged FILE CMD...: runs CMD with its output in FILE.
  # shellcheck disable=SC2317 # only called through check
  logged() {
    local file=$1
    shift
    "$@" >"$file" 2>&1
  }

  declare -gA CTR CTR_UID
  for target in "${TARGETS[@]}"; do
    image=$IMAGE_PREFIX/$target:$TAG
    new_container c "$image"
    CTR[$target]=$c
    user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$image")
    uid=${user%%:*}
    CTR_UID[$target]=$uid
    # shellcheck disable=SC2016 # arguments of bash -c
    check "$target: USER $user is a numeric uid other than 0" \
      bash -c '[[ $1 =~ ^[0-9]+$ && $1 != 0 ]]' _ "$uid"
    ran_as=$(in_image "$c" -- id -u 2>&1) || ran_as="(id -u failed: $ran_as)"
    # shellcheck disable=SC2016 # arguments of bash -c
    check "$target: runs as uid $ran_as (id -u in the image), not root" \
      bash -c '[[ $1 == "$2" && $1 != 0 ]]' _ "$ran_as" "$uid"
    entry=$(buildah inspect --type image --format '{{index .OCIv1.Config.Entrypoint 0}}' "$image")
    check "$target: $entry --help starts (its shared libraries are in the image)" \
      logged "$work/help-$target.txt" in_image "$c" -- "$entry" --help
  done
  for needed in advisor-server turn-prober advisorctl; do
    [[ -n ${CTR[$needed]:-} ]] || die "Dockerfile has no target $needed"
  done
  server_c=${CTR[advisor-server]} prober_c=${CTR[turn-prober]} ctl_c=${CTR[advisorctl]}

  # --- PostgreSQL and coturn on loopback ----------------------------------------------------------

  mapfile -t ports < <(free_ports 4)
  pg_port=${ports[0]} grpc_port=${ports[1]} metrics_port=${ports[2]} turn_port=${ports[3]}
  log "PostgreSQL on 127.0.0.1:$pg_port"
  pg_cluster_init "$pg_dir" "$pg_port" --no-sync
  pg_cluster_start "$pg_dir" "$pg_port"
  pg_create_database "$pg_port" advisor
  owner_url=$(pg_url "$pg_port" advisor)

  secret=$(openssl rand -hex 24)
  log "coturn on 127.0.0.1:$turn_port (relay ports $TURN_MIN_PORT-$TURN_MAX_PORT)"
  coturn_command "$work/coturn" "$turn_port" "$TURN_MIN_PORT" "$TURN_MAX_PORT" "$secret" \
    image-check.test
  "${COTURN_COMMAND[@]}" >"$work/coturn.log" 2>&1 </dev/null &
  STACK_PIDS+=("$!")
  wait_for_tcp 127.0.0.1 "$turn_port" 20 "$!" || die "coturn did not listen on 127.0.0.1:$turn_port"

  # Files the containers read are mounted read-only under /run/image-check, owned by the image's uid
  # and private to it, as a Kubernetes Secret volume with fsGroup would be.
  files=$work/files
  mkdir -p "$files"
  uid=${CTR_UID[advisor-server]}
  files_mount=(-v "$files:/run/image-check:ro")

  # --- migrate (owner), then least-privilege logins when the migrations define the roles ----------

  check "advisor-server image: migrate applies the migrations" \
    logged "$work/migrate.log" in_image -e "ADVISOR_DATABASE_URL=$owner_url" "$server_c" -- \
    advisor-server migrate
  server_url=$owner_url prober_url=$owner_url
  roles=$(pg_psql "$pg_port" advisor -c \
    "SELECT count(*) FROM pg_roles
     WHERE rolname IN ('advisor_server', 'advisor_prober') AND NOT rolcanlogin")
  if [[ $roles == 2 ]]; then
    pg_psql "$pg_port" advisor -c "CREATE ROLE image_check_server LOGIN IN ROLE advisor_server" \
      -c "CREATE ROLE image_check_prober LOGIN IN ROLE advisor_prober"
    server_url=postgresql://image_check_server@127.0.0.1:$pg_port/advisor
    prober_url=postgresql://image_check_prober@127.0.0.1:$pg_port/advisor
    log "server and prober log in as members of advisor_server / advisor_prober only"
  else
    log "no advisor_server/advisor_prober roles in the migrations: server and prober use the owner"
  fi

  # --- turn-prober once against coturn ------------------------------------------------------------

  cat >"$files/turn-servers.yaml" <<EOF
servers:
  - id: image-check-coturn
    urls: ["turn:127.0.0.1:$turn_port?transport=udp", "turn:127.0.0.1:$turn_port?transport=tcp"]
    auth: {rest_secret: "$secret"}
EOF
  check "turn-prober image: once against coturn exits 0" \
    logged "$work/prober.log" in_image "${files_mount[@]}" -e "ADVISOR_DATABASE_URL=$prober_url" \
    -e ADVISOR_TURN_SERVERS_FILE=/run/image-check/turn-servers.yaml "$prober_c" -- turn-prober once
  health=$(pg_psql "$pg_port" advisor -c \
    "SELECT status || ' ' || (last_latency_ms IS NOT NULL) FROM turn_health
     WHERE server_id = 'image-check-coturn'")
  check "turn_health: coturn probed healthy with a latency (got '${health}')" \
    [ "$health" = "healthy true" ]

  # --- advisor-server serve -----------------------------------------------------------------------

  env_args=(-e "ADVISOR_DATABASE_URL=$server_url" -e "ADVISOR_LISTEN=127.0.0.1:$grpc_port"
    -e "ADVISOR_METRICS_LISTEN=127.0.0.1:$metrics_port"
    -e ADVISOR_TOKEN_KEY_FILE=/run/image-check/token.key)
  ctl_args=(--target "127.0.0.1:$grpc_port" --timeout 5s)
  # How advisorctl reaches the server: the variables an operator would set in the image.
  ctl_env=(-e ADVISOR_CA_FILE=/run/image-check/ca.pem)

  openssl rand -hex 32 >"$files/token.key"

  # Client identities: a JWKS from the advisorctl image, and an admin JWT signed with it.
  in_image "$ctl_c" -- advisorctl gen-keys --alg ES256 --kid image-check >"$files/keys.jwks" ||
    die "advisorctl gen-keys failed: $(cat "$files/keys.jwks")"
  in_image "${files_mount[@]}" "$ctl_c" -- \
    advisorctl mint-jwt --keys-file /run/image-check/keys.jwks --sub image-check \
    --scope advisor.admin --ttl 10m >"$files/admin.jwt" ||
    die "advisorctl mint-jwt failed: $(cat "$files/admin.jwt")"
  env_args+=(-e ADVISOR_AUTH_KEYS_FILE=/run/image-check/keys.jwks)

  log "TLS: a throwaway CA and an ECDSA P-256 server certificate for localhost and 127.0.0.1"
  tls_certificates "$files" image-check-ca DNS:localhost,IP:127.0.0.1 1
  env_args+=(-e ADVISOR_TLS_CERT_FILE=/run/image-check/server.pem
    -e ADVISOR_TLS_KEY_FILE=/run/image-check/server.key)
  chown -R "$uid:$uid" "$files"
  chmod 700 "$files"
  chmod 600 "$files"/*

  setsid buildah run --isolation chroot --network host "${files_mount[@]}" "${env_args[@]}" \
    "$server_c" -- advisor-server serve >"$work/server.log" 2>&1 </dev/null &
  server_pid=$!
  GROUPS_RUNNING+=("$server_pid")
  rc=0
  wait_for_tcp 127.0.0.1 "$grpc_port" 60 "$server_pid" || rc=$?
  check "advisor-server image: serve listens on 127.0.0.1:$grpc_port" [ "$rc" = 0 ]
  if ((rc == 0)); then
    wait_for_tcp 127.0.0.1 "$metrics_port" 10 "$server_pid" || true
    # The image's own HEALTHCHECK command as the image states it (shell form), run in a second
    # container of the image with the server's ADVISOR_LISTEN.
    hc=$(buildah inspect --type image \
      --format '{{with .Docker.Config.Healthcheck}}{{range .Test}}{{.}} {{end}}{{end}}' \
      "$IMAGE_PREFIX/advisor-server:$TAG")
    check "advisor-server image: HEALTHCHECK runs advisorctl health (${hc:-none})" \
      grep -Eq '^CMD-SHELL .*advisorctl .*health' <<<"$hc"
    health_c=
    new_container health_c "$IMAGE_PREFIX/advisor-server:$TAG"
    rc=0
    out=$(in_image "${files_mount[@]}" "${ctl_env[@]}" -e "ADVISOR_LISTEN=127.0.0.1:$grpc_port" \
      "$health_c" -- /bin/sh -c "${hc#CMD-SHELL }" 2>&1) || rc=$?
    # shellcheck disable=SC2016 # arguments of bash -c
    check "the HEALTHCHECK in the image exits 0 and says SERVING (got $rc: ${out//$'\n'/ })" \
      bash -c '[[ $1 == 0 ]] && grep -q SERVING <<<"$2"' _ "$rc" "$out"
    out=$(curl -fsS --max-time 5 "http://127.0.0.1:$metrics_port/metrics" 2>&1) || true
    check "/metrics of the server: advisor_database_up 1" grep -qx 'advisor_database_up 1' <<<"$out"
    out=$(in_image "${files_mount[@]}" "${ctl_env[@]}" "$ctl_c" -- \
      advisorctl "${ctl_args[@]}" --jwt-file /run/image-check/admin.jwt --json turn-servers 2>&1) ||
      true
    check "advisorctl turn-servers (advisorctl image): the server lists coturn healthy" \
      python3 -c 'import json, sys
servers = json.loads(sys.argv[1]).get("servers", [])
sys.exit(not any(s.get("id") == "image-check-coturn" and
                 any(h.get("status") == "healthy" for h in s.get("health", [])) for s in servers))' \
      "$out" || log "turn-servers printed: $out"
    # SIGTERM to the server itself, as a container runtime sends it; buildah returns its status.
    serve_pid=$(pgrep -g "$server_pid" -x advisor-server | head -n 1) || true
    [[ -z $serve_pid ]] || kill -TERM "$serve_pid"
    # shellcheck disable=SC2016 # arguments of bash -c
    wait_until 20 "" bash -c '! kill -0 "$1" 2>/dev/null' _ "$server_pid" ||
      stop_group "$server_pid" 5 || true
    wait "$server_pid" && rc=0 || rc=$?
    check "advisor-server image: SIGTERM stops serve with status 0 (got $rc)" [ "$rc" = 0 ]
  fi

  total=$((SECONDS - started))
  {
    echo
    echo "image check: ${#TARGETS[@]} targets, total $total s" \
      "(build $((build_done - started)) s, run $((SECONDS - build_done)) s)"
    for target in "${STAGES[@]}"; do
      size=$(buildah images --format '{{.Size}}' "$IMAGE_PREFIX/$target:$TAG" 2>/dev/null) ||
        size='?'
      printf '  %-16s built in %4s s  %9s  %s\n' "$target" "${BUILD_SECONDS[$target]}" "$size" \
        "$IMAGE_PREFIX/$target:$TAG"
    done
  } >&2
  if ((failures)); then
    log "$failures check(s) failed"
    exit 1
  fi
  log "all checks passed"
}

# One line: bash has read it, exit included, before main runs.
main "$@"; exit
