#!/usr/bin/env python3
"""What can be checked of docker/Dockerfile and deploy/compose.yaml without a Docker engine.

Usage: docker_check.py --source-dir DIR --build-dir DIR

Dockerfile (docker/Dockerfile):
  - stages advisor-server, turn-prober and advisorctl exist, all on debian:bookworm-slim; the build
    stage installs a build-only package set (apt-get, no recommends), each package one scripts/setup
    installs or a dependency of one (so the image builds with what CI builds with), and runs
    scripts/build (what CI runs); every file the runtime stages copy from it is installed there;
  - every image runs as uid 10001 and has an ENTRYPOINT naming its binary; advisor-server exposes
    50051 and 9464, turn-prober 9465, each EXPOSE with a comment; advisor-server ships advisorctl
    and its HEALTHCHECK runs `advisorctl ... health`; every ADVISOR_* variable set is one the
    binary knows (from its --help);
  - runtime packages (the `apt-get install` of the runtime stage): each exists in Debian
    (`apt-cache show`); every shared library the built binaries need directly (ELF NEEDED) comes
    from a listed package or one debian:bookworm-slim has anyway (Essential, apt and their
    dependencies: libc6), and every library `ldd` resolves comes from a listed package, one they
    depend on, or the base image (`dpkg -S`);
  - .dockerignore keeps what the build needs in the context.
compose.yaml (read with PyYAML, Debian's python3-yaml):
  - valid YAML with the services postgres, coturn, migrate, server, prober, prometheus;
  - every build names an existing context, Dockerfile and stage; other images are pinned tags;
  - migrate runs `migrate` after postgres is healthy (postgres has a healthcheck); server and
    prober wait for migrate to complete; depends_on, configs and volumes name defined things;
  - ADVISOR_* variables are ones the binaries know; bind mounts exist; the TURN servers config is
    valid YAML with servers that have id, urls, region and auth;
  - the server authenticates callers: ADVISOR_AUTH_KEYS_FILE is where a config of the server is
    mounted, and that config is a JWKS (RFC 7517) whose keys have a unique kid and a kty the server
    verifies (oct with a base64url key of at least 32 bytes, EC P-256, RSA) — or, failing that,
    ADVISOR_ALLOW_ANONYMOUS is "true";
  - Prometheus' config scrapes server and prober on the ports they listen on and loads
    alerts.yaml where compose mounts it.
Each failure is printed; the exit status is 1 if any.
"""
import argparse
import base64
import fnmatch
import functools
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

try:
    import yaml
except ImportError:
    sys.exit("docker_check.py: no PyYAML in this python3 (Debian package python3-yaml: scripts/setup)")

BASE_IMAGE = "debian:bookworm-slim"
TARGETS = {  # stage -> binaries it must contain, ports it must expose
    "advisor-server": {"binaries": ["advisor-server", "advisorctl"], "ports": {50051, 9464}},
    "turn-prober": {"binaries": ["turn-prober"], "ports": {9465}},
    "advisorctl": {"binaries": ["advisorctl"], "ports": set()},
}
BINARIES = {  # binary -> path in the build dir
    "advisor-server": "services/advisor/advisor-server",
    "turn-prober": "services/prober/turn-prober",
    "advisorctl": "services/advisorctl/advisorctl",
}
SERVICES = {"postgres", "coturn", "migrate", "server", "prober", "prometheus"}
UID = "10001"

failures = []
sys.stdout.reconfigure(line_buffering=True)


def fail(message):
    failures.append(message)
    print(f"FAIL: {message}", file=sys.stderr)


def ok(message):
    print(f"  ok  {message}")


def run(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


# --- Dockerfile ------------------------------------------------------------------------------------


class Stage:
    def __init__(self, base, name):
        self.base, self.name = base, name
        self.instructions = []  # (keyword, arguments, comment lines just above)


def parse_dockerfile(text):
    """Stages of a Dockerfile: continuation lines joined, comments kept with the next instruction."""
    args, stages, comments, logical = {}, [], [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and line.startswith("#"):
            comments.append(line[1:].strip())
            continue
        if not logical and not line:
            comments = []
            continue
        if line.startswith("#") or not line:  # comment or empty line inside a continued instruction
            continue
        logical += " " + line[:-1] if line.endswith("\\") else " " + line
        if line.endswith("\\"):
            continue
        keyword, _, rest = logical.strip().partition(" ")
        keyword, rest, logical = keyword.upper(), rest.strip(), ""
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda v: args.get(v.group(1) or v.group(2), ""), m.group(1))
            stages.append(Stage(base, m.group(2)))
        elif stages:
            stages[-1].instructions.append((keyword, rest, comments))
        comments = []
    return {s.name: s for s in stages if s.name}, stages


def chain(stages, name):
    """The stage and its ancestors (FROM another stage), nearest first."""
    out = []
    while name in stages:
        out.append(stages[name])
        name = stages[name].base
    return out


def last(stages, name, keyword):
    for stage in chain(stages, name):
        for kw, rest, comments in reversed(stage.instructions):
            if kw == keyword:
                return rest, comments
    return None, None


def exec_form(rest):
    try:
        value = json.loads(rest)
        return value if isinstance(value, list) else None
    except ValueError:
        return None


def apt_packages(stage):
    """Packages named by `apt-get install` in a stage's RUN instructions."""
    packages = []
    for kw, rest, _ in stage.instructions:
        if kw != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", rest):
            words = shlex.split(command)
            if "apt-get" in words and "install" in words:
                packages += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return packages


@functools.cache
def help_variables(build_dir, binary):
    out = run(str(Path(build_dir, BINARIES[binary])), "--help", check=False)
    return set(re.findall(r"\bADVISOR_[A-Z0-9_]+\b", out.stdout + out.stderr))


def check_build_packages(source_dir, build):
    """The build stage's packages: installed without recommends, each one scripts/setup installs or
    a dependency of one (g++ for build-essential), so the image is built with what CI builds with."""
    packages = apt_packages(build)
    if not packages:
        fail("the build stage installs no packages (apt-get install)")
        return
    runs = " ".join(rest for kw, rest, _ in build.instructions if kw == "RUN")
    if "--no-install-recommends" not in runs:
        fail("the build stage installs recommended packages too (--no-install-recommends)")
    setup = run("bash", str(Path(source_dir, "scripts/setup")), "--list", check=False).stdout.split()
    if not setup:
        fail("scripts/setup --list printed no packages")
        return
    allowed = dependency_closure(setup)
    outside = [pkg for pkg in packages if pkg not in allowed]
    if outside:
        fail(f"build packages {outside} are neither in scripts/setup nor a dependency of its packages")
    else:
        ok(f"{len(packages)} build packages, all from scripts/setup's list or its dependencies")


def check_dockerfile(source_dir, build_dir, stages_by_name, stages):
    for stage in stages:
        if stage.base not in stages_by_name and stage.base != BASE_IMAGE:
            fail(f"Dockerfile stage {stage.name or '?'} is FROM {stage.base}, not {BASE_IMAGE}")
    build = stages_by_name.get("build")
    if not build:
        fail("Dockerfile has no stage named build")
        return
    runs = " ".join(rest for kw, rest, _ in build.instructions if kw == "RUN")
    if "scripts/build" not in runs:
        fail("the build stage does not run scripts/build")
    check_build_packages(source_dir, build)
    installed = set(re.findall(r"install\s[^&]*?\s(/out/\S+)", runs))

    for target, spec in TARGETS.items():
        if target not in stages_by_name:
            fail(f"Dockerfile has no stage (target) {target}")
            continue
        copied = set()
        for stage in chain(stages_by_name, target):
            for kw, rest, _ in stage.instructions:
                if kw == "COPY" and "--from=build" in rest:
                    sources = rest.split()[1:-1]
                    for src in sources:
                        if src not in installed:
                            fail(f"{target}: COPY --from=build {src}, which the build stage does not install")
                        copied.add(Path(src).name)
        for binary in spec["binaries"]:
            if binary not in copied:
                fail(f"{target}: does not copy {binary} from the build stage")
        user, _ = last(stages_by_name, target, "USER")
        if not user or user.split(":")[0] not in (UID, "advisor"):
            fail(f"{target}: runs as {user!r}, not uid {UID}")
        if user and user.split(":")[0] == "advisor":
            fail(f"{target}: USER by name; use the numeric {UID} so Kubernetes' runAsNonRoot can verify it")
        entry, _ = last(stages_by_name, target, "ENTRYPOINT")
        entry = exec_form(entry or "")
        if not entry or entry[0] != target:
            fail(f"{target}: ENTRYPOINT {entry} does not run {target} (exec form)")
        exposed = set()
        for stage in chain(stages_by_name, target):
            for kw, rest, comments in stage.instructions:
                if kw == "EXPOSE":
                    ports = {int(p.split("/")[0]) for p in rest.split()}
                    exposed |= ports
                    if not any(str(p) in " ".join(comments) for p in ports):
                        fail(f"{target}: EXPOSE {rest} has no comment naming the port")
        if exposed != spec["ports"]:
            fail(f"{target}: exposes {sorted(exposed)}, expected {sorted(spec['ports'])}")
        known = help_variables(build_dir, target) if target in BINARIES else set()
        for stage in chain(stages_by_name, target):
            for kw, rest, _ in stage.instructions:
                if kw == "ENV":
                    for name in re.findall(r"\b(ADVISOR_[A-Z0-9_]+)=", rest):
                        if name not in known:
                            fail(f"{target}: ENV {name} is not a setting of {target} (see --help)")
        ok(f"stage {target}: {sorted(copied)}, user {user}, entrypoint {entry}, ports {sorted(exposed)}")

    health, _ = last(stages_by_name, "advisor-server", "HEALTHCHECK")
    if not health or not re.search(r"\badvisorctl\b.*\bhealth\b", health):
        fail(f"advisor-server: HEALTHCHECK {health!r} does not run `advisorctl ... health`")
    elif "health" not in run(str(Path(build_dir, BINARIES["advisorctl"])), "--help", check=False).stdout:
        fail("advisorctl has no `health` command")
    else:
        ok("advisor-server: HEALTHCHECK runs advisorctl health")

    # .dockerignore must not hide what the build stage needs.
    ignore = Path(source_dir, ".dockerignore")
    if ignore.exists():
        patterns = [p.strip() for p in ignore.read_text().splitlines() if p.strip() and not p.startswith("#")]
        for needed in ("CMakeLists.txt", "scripts/setup", "scripts/build", "scripts/lib.sh", "proto",
                       "lib", "services", "deploy/migrations", "docker/Dockerfile"):
            if any(fnmatch.fnmatch(needed, p) or fnmatch.fnmatch(needed.split("/")[0], p) for p in patterns):
                fail(f".dockerignore excludes {needed}, which the build needs")


def dpkg_owners(paths):
    """{path: package that installed it}, one dpkg -S for all. A library is tried as ldd printed it,
    resolved, and with and without /usr (merged /usr: dpkg knows one of the spellings)."""
    candidates = {}
    for path in paths:
        forms = [path, os.path.realpath(path)]
        forms += [f[4:] if f.startswith("/usr/") else "/usr" + f for f in list(forms)]
        candidates[path] = forms
    out = run("dpkg", "-S", *sorted({f for forms in candidates.values() for f in forms}), check=False)
    owner = {}
    for line in out.stdout.splitlines():
        pkgs, _, file = line.partition(": ")
        owner[file.strip()] = pkgs.split(",")[0].split(":")[0].strip()
    return {path: next((owner[f] for f in forms if f in owner), None) for path, forms in candidates.items()}


def dependency_closure(packages):
    """The packages and everything they depend on (Depends, Pre-Depends), recursively."""
    out = run("apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
              "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances",
              *packages, check=False).stdout
    return {line.strip() for line in out.splitlines() if line and not line[0].isspace()}


def base_image_packages():
    """What debian:bookworm-slim has without asking: the Essential packages, apt, and their
    dependencies (libc6, libgcc-s1, libstdc++6, ...)."""
    out = run("dpkg-query", "-W", "-f=${Package} ${Essential}\n").stdout
    essential = [line.split()[0] for line in out.splitlines() if line.endswith(" yes")]
    return dependency_closure(essential + ["apt"])


def check_runtime_packages(build_dir, stages_by_name):
    runtime = stages_by_name.get("runtime")
    if not runtime:
        fail("Dockerfile has no stage named runtime (the shared base of the images)")
        return
    packages = apt_packages(runtime)
    if not packages:
        fail("the runtime stage installs no packages")
        return
    if len(packages) != len(set(packages)):
        fail(f"runtime packages listed twice: {packages}")
    shown = run("apt-cache", "show", "--no-all-versions", *packages, check=False).stdout
    known = set(re.findall(r"^Package: (\S+)$", shown, re.MULTILINE))
    for pkg in packages:
        if pkg not in known:
            fail(f"runtime package {pkg} does not exist (apt-cache show)")
    ok(f"{len(packages)} runtime packages exist in Debian: {' '.join(packages)}")

    closure = dependency_closure(packages)
    base = base_image_packages()

    for binary, rel in BINARIES.items():
        path = Path(build_dir, rel)
        if not path.exists():
            fail(f"{path} is not built")
            continue
        dyn = run("readelf", "-d", str(path), check=False).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dyn)
        if not needed:
            fail(f"{binary}: readelf found no NEEDED libraries")
            continue
        resolved = {}
        for line in run("ldd", str(path)).stdout.splitlines():
            m = re.match(r"\s*(\S+) => (\S+)", line)
            if m:
                if m.group(2) == "not":
                    fail(f"{binary}: {m.group(1)} not found by ldd")
                else:
                    resolved[m.group(1)] = m.group(2)
        owners = dpkg_owners(resolved.values())
        for soname, lib in sorted(resolved.items()):
            pkg = owners[lib]
            if not pkg:
                fail(f"{binary}: no package owns {lib}")
            elif soname in needed:
                if pkg not in packages and pkg not in base:
                    fail(f"{binary} needs {soname} directly; its package {pkg} is not in the runtime stage")
            elif pkg not in closure and pkg not in base:
                fail(f"{binary}: {soname} ({pkg}) is neither listed nor a dependency of the runtime packages")
        ok(f"{binary}: {len(needed)} direct and {len(resolved)} resolved libraries come from the runtime packages")


# --- compose ---------------------------------------------------------------------------------------


def yaml_load(text, name):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        fail(f"{name} is not valid YAML: {e}")
        return None


def interpolate(text):
    """Compose's ${VAR:-default} / ${VAR-default} / ${VAR} with an empty environment."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", text)


def env_dict(env):
    if isinstance(env, dict):
        return {k: "" if v is None else str(v) for k, v in env.items()}
    return dict(e.split("=", 1) if "=" in e else (e, "") for e in env or [])


def check_compose(source_dir, build_dir, stages_by_name):
    compose_path = Path(source_dir, "deploy/compose.yaml")
    compose = yaml_load(compose_path.read_text(), compose_path)
    if compose is None:
        return
    base = compose_path.parent
    services = compose.get("services") or {}
    missing = SERVICES - set(services)
    if missing:
        fail(f"compose.yaml lacks services {sorted(missing)}")
    ok(f"compose.yaml: services {sorted(services)}")
    configs, volumes = compose.get("configs") or {}, compose.get("volumes") or {}
    stage_of = {}

    for name, svc in services.items():
        build, image = svc.get("build"), svc.get("image")
        if build:
            build = {"context": build} if isinstance(build, str) else build
            context = (base / build.get("context", ".")).resolve()
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            if not context.is_dir():
                fail(f"service {name}: build context {context} does not exist")
            if not dockerfile.is_file():
                fail(f"service {name}: Dockerfile {dockerfile} does not exist")
            elif dockerfile.resolve() != Path(source_dir, "docker/Dockerfile").resolve():
                fail(f"service {name}: builds from {dockerfile}, not docker/Dockerfile")
            target = build.get("target")
            if target not in stages_by_name or target not in TARGETS:
                fail(f"service {name}: build target {target!r} is not an image stage of docker/Dockerfile")
            stage_of[name] = target
        elif image:
            if ":" not in image or image.endswith(":latest"):
                fail(f"service {name}: image {image} is not pinned to a tag")
        else:
            fail(f"service {name}: neither build nor image")

        for dep, cond in (svc.get("depends_on") or {}).items() if isinstance(svc.get("depends_on"), dict) \
                else ((d, None) for d in svc.get("depends_on") or []):
            if dep not in services:
                fail(f"service {name}: depends_on unknown service {dep}")
        for ref in svc.get("configs") or []:
            source = ref["source"] if isinstance(ref, dict) else ref
            if source not in configs:
                fail(f"service {name}: config {source} is not defined")
        for mount in svc.get("volumes") or []:
            src = mount.split(":")[0] if isinstance(mount, str) else mount.get("source", "")
            if src.startswith((".", "/")):
                if not (base / src).exists():
                    fail(f"service {name}: bind mount source {src} does not exist")
            elif src not in volumes:
                fail(f"service {name}: volume {src} is not defined")

        target = stage_of.get(name)
        if target in BINARIES:
            known = help_variables(build_dir, target)
            for var in env_dict(svc.get("environment")):
                if var.startswith("ADVISOR_") and var not in known:
                    fail(f"service {name}: {var} is not a setting of {target} (see --help)")

    def depends(name, dep, condition):
        d = services.get(name, {}).get("depends_on") or {}
        if not isinstance(d, dict) or (d.get(dep) or {}).get("condition") != condition:
            fail(f"service {name} does not depend on {dep} with condition {condition}")

    if SERVICES <= set(services):
        if stage_of.get("migrate") != "advisor-server" or services["migrate"].get("command") != ["migrate"]:
            fail("service migrate does not run `advisor-server migrate`")
        if stage_of.get("server") != "advisor-server" or stage_of.get("prober") != "turn-prober":
            fail("services server/prober are not built from the advisor-server/turn-prober targets")
        if not services["postgres"].get("healthcheck"):
            fail("service postgres has no healthcheck (migrate waits for service_healthy)")
        depends("migrate", "postgres", "service_healthy")
        depends("server", "migrate", "service_completed_successfully")
        depends("prober", "migrate", "service_completed_successfully")
        ok("compose.yaml: migrate after postgres is healthy; server and prober after migrate")

    for name, cfg in configs.items():
        if "content" in cfg:
            doc = yaml_load(interpolate(cfg["content"]), f"config {name}")
            if name == "turn-servers" and doc is not None:
                servers = doc.get("servers") or []
                if not servers:
                    fail("config turn-servers has no servers")
                for s in servers:
                    if not all(s.get(k) for k in ("id", "urls", "region", "auth")):
                        fail(f"config turn-servers: server {s} lacks id, urls, region or auth")
                    for url in s.get("urls", []):
                        host = re.match(r"turns?:([^:?]+)", url)
                        if not host or host.group(1) not in services:
                            fail(f"config turn-servers: {url} does not point at a compose service")
        elif "file" in cfg and not (base / cfg["file"]).exists():
            fail(f"config {name}: file {cfg['file']} does not exist")

    check_compose_auth(services.get("server") or {}, configs, services)

    # Prometheus: scrape targets and rule file as compose wires them.
    prom_path = base / "prometheus/prometheus.yml"
    prom_cfg = yaml_load(prom_path.read_text(), prom_path)
    if prom_cfg is not None and "prometheus" in services:
        mounts = {m.split(":")[1]: m.split(":")[0] for m in services["prometheus"].get("volumes", [])
                  if isinstance(m, str) and m.startswith(".")}
        for rule_file in prom_cfg.get("rule_files", []):
            src = mounts.get(rule_file)
            if not src or Path(src).name != "alerts.yaml":
                fail(f"prometheus.yml loads {rule_file}, which compose does not mount from alerts.yaml")
        targets = {t for job in prom_cfg.get("scrape_configs", []) for sc in job.get("static_configs", [])
                   for t in sc.get("targets", [])}
        for svc, default_port in (("server", 9464), ("prober", 9465)):
            listen = env_dict(services.get(svc, {}).get("environment")).get("ADVISOR_METRICS_LISTEN")
            port = listen.rsplit(":", 1)[1] if listen else str(default_port)
            if f"{svc}:{port}" not in targets:
                fail(f"prometheus.yml does not scrape {svc}:{port} (targets: {sorted(targets)})")
        ok(f"prometheus.yml scrapes {sorted(targets)} and loads {prom_cfg.get('rule_files')}")


def b64url_decode(text):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url (RFC 7515: no padding, - and _)")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_compose_auth(server, configs, services):
    """The server has a JWKS file it can verify client JWTs with, or runs anonymous on purpose."""
    env = env_dict(server.get("environment"))
    keys_file = env.get("ADVISOR_AUTH_KEYS_FILE")
    if not keys_file:
        if env.get("ADVISOR_ALLOW_ANONYMOUS") != "true":
            fail("service server: neither ADVISOR_AUTH_KEYS_FILE nor ADVISOR_ALLOW_ANONYMOUS=true "
                 "(advisor-server refuses to start)")
        else:
            ok("compose.yaml: server allows anonymous callers (development only)")
        return
    source = next((ref.get("source") for ref in server.get("configs") or []
                   if isinstance(ref, dict) and ref.get("target") == keys_file), None)
    volume = next((m.split(":")[0] for m in server.get("volumes") or []
                   if isinstance(m, str) and len(m.split(":")) > 1
                   and keys_file.startswith(m.split(":")[1].rstrip("/") + "/")), None)
    if source is None and volume and not volume.startswith((".", "/")):
        # Generated at first start into a named volume (compose ships no key): a service that
        # mounts the volume writable must write that file.
        name = keys_file.rsplit("/", 1)[1]
        writers = [n for n, svc in services.items() if n != "server"
                   and any(isinstance(m, str) and m.split(":")[0] == volume and not m.endswith(":ro")
                           for m in svc.get("volumes") or [])
                   and name in json.dumps(svc.get("command") or svc.get("entrypoint") or "")]
        if writers:
            ok(f"compose.yaml: server verifies client JWTs with {keys_file}, generated into volume {volume} by {writers}")
        else:
            fail(f"service server: ADVISOR_AUTH_KEYS_FILE={keys_file} is in volume {volume}, which no service writes {name} into")
        return
    if source not in configs or "content" not in configs[source]:
        fail(f"service server: ADVISOR_AUTH_KEYS_FILE={keys_file} is not where an inline config is mounted")
        return
    try:
        jwks = json.loads(interpolate(configs[source]["content"]))
    except ValueError as e:
        fail(f"config {source}: not JSON: {e}")
        return
    before = len(failures)
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not keys:
        fail(f"config {source}: no \"keys\" (a JWKS is {{\"keys\": [...]}})")
        return
    kids = [k.get("kid") for k in keys]
    if None in kids or len(kids) != len(set(kids)):
        fail(f"config {source}: every key needs a unique kid (JWTs choose their key by it): {kids}")
    for key in keys:
        kty, kid = key.get("kty"), key.get("kid")
        try:
            if kty == "oct":
                if len(b64url_decode(key.get("k", ""))) < 32:
                    fail(f"config {source}: oct key {kid} is shorter than 32 bytes")
            elif kty == "EC":
                if key.get("crv") != "P-256" or not all(len(b64url_decode(key.get(c, ""))) == 32 for c in "xy"):
                    fail(f"config {source}: EC key {kid} is not a P-256 public key (crv, x, y)")
            elif kty == "RSA":
                if not key.get("n") or not key.get("e"):
                    fail(f"config {source}: RSA key {kid} lacks n or e")
                b64url_decode(key.get("n", ""))
            else:
                fail(f"config {source}: key {kid} has kty {kty!r}, not oct, EC or RSA")
        except ValueError as e:
            fail(f"config {source}: key {kid}: {e}")
    if env.get("ADVISOR_ALLOW_ANONYMOUS", "false") != "false":
        fail("service server: ADVISOR_ALLOW_ANONYMOUS is set next to a keys file")
    if len(failures) == before:
        ok(f"compose.yaml: server verifies client JWTs with {keys_file} ({len(keys)} key(s) from config {source})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--build-dir", required=True)
    args = parser.parse_args()

    dockerfile = Path(args.source_dir, "docker/Dockerfile")
    stages_by_name, stages = parse_dockerfile(dockerfile.read_text())
    print("Dockerfile:")
    check_dockerfile(args.source_dir, args.build_dir, stages_by_name, stages)
    print("runtime packages:")
    check_runtime_packages(args.build_dir, stages_by_name)
    print("compose:")
    check_compose(args.source_dir, args.build_dir, stages_by_name)

    if failures:
        print(f"\n{len(failures)} failure(s):", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
