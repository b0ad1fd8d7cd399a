#!/usr/bin/env python3
"""Checks of the Grafana dashboard and the Prometheus alert rules (standard library and PyYAML).

  observability_check.py static --dashboard FILE --alerts FILE
      Structure, without Prometheus: the dashboard is importable (a `datasource` variable, every
      panel and query on `${datasource}`, no datasource uid of anyone's Grafana, unique panel ids,
      sane grid), it covers the metrics the issue asks for, and every alert rule has `for:`, a
      severity and a summary/description.

  observability_check.py live --prometheus URL --dashboard FILE --alerts FILE
                              [--expect-active 'Alert{label="value",...}']... [--wait S]
      Against a Prometheus that scrapes a running stack and has loaded the same rule file:
      - every dashboard query (Grafana's $__rate_interval/$__interval/$__range and the template
        variables substituted) parses and evaluates (HTTP API status "success") and returns at
        least one series; every panel has at least one finite value (not NaN) that is not zero,
        so it draws something the traffic made (the caller's traffic is designed so that every
        panel moves: failed sessions, a forged token, a TURN server that is down);
      - every template variable query (label_values) returns values;
      - every alert expression parses and evaluates; every metric it names is one Prometheus has
        scraped (an alert on a misspelt metric would never fire); Prometheus evaluates every rule
        without error (rules API health "ok");
      - the alerts named by --expect-active become pending or firing within --wait seconds with
        those labels, and no other alert is active (the stack is healthy apart from what the
        caller broke on purpose).
      Each failure names the panel or rule and the expression.
"""
import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    import yaml
except ImportError:
    sys.exit("observability_check.py: no PyYAML in this python3 (Debian package python3-yaml: scripts/setup)")

DATASOURCE_REF = "${datasource}"

# Grafana's built-in interval variables, as Grafana would fill them for a dashboard over the last
# few minutes with a 1 s scrape interval. Windows must reach back over the test's traffic.
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "10m",
    "__range_s": "600",
    "__interval_ms": "15000",
}

# Metrics the dashboard must show (the seed's key metrics, the RED panels and the data path).
REQUIRED_METRICS = [
    "advisor_outcomes_total",                  # connection success rate
    "advisor_nat_types_reported_total",        # NAT type distribution
    "advisor_decisions_total",                 # strategy usage
    "advisor_connect_time_seconds_bucket",     # connect time by strategy
    "turn_server_up",                          # TURN server health
    "turn_server_latency_seconds",             # TURN latency per server
    "grpc_server_started_total",               # requests/s
    "grpc_server_handled_total",               # errors by code
    "grpc_server_handling_seconds_bucket",     # latency p50/p99
    "advisor_snapshot_age_seconds",
    "advisor_pending_deltas",
    "advisor_outcome_deltas_refused_total",
    "advisor_flushes_total",
    "turn_prober_cycle_seconds",
    "advisor_requests_refused_total",          # refusals by reason and by method
    "advisor_reports_duplicate_total",         # reports reusing a decision token
    "advisor_reports_capped_total",            # reports beyond the per-identity cap
    "advisor_turn_credentials_issued_total",   # per-client TURN credentials
]
# success rate, TURN server down, region, snapshot, refused, error ratio, prober, refusal surge,
# duplicate reports
REQUIRED_ALERTS = 9
SEVERITIES = {"critical", "warning", "info"}
METRIC_PREFIXES = ("advisor_", "grpc_server_", "turn_")

failures = []


def fail(message):
    failures.append(message)
    print(f"FAIL: {message}", file=sys.stderr)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# --- dashboard -----------------------------------------------------------------------------------


def all_panels(dashboard):
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def query_panels(dashboard):
    return [p for p in all_panels(dashboard) if p.get("type") != "row"]


def datasource_is_variable(ds):
    if isinstance(ds, str):
        return ds in (DATASOURCE_REF, "$datasource")
    if isinstance(ds, dict):
        return ds.get("uid") in (DATASOURCE_REF, "$datasource") and ds.get("type", "prometheus") == "prometheus"
    return False


def walk_datasources(node, path="$"):
    """Yields (path, value) of every "datasource" key in the JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield f"{path}.{key}", value
            yield from walk_datasources(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_datasources(value, f"{path}[{i}]")


def variables(dashboard):
    return {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}


def substitute(expr, dashboard):
    """Fills Grafana's interval variables and the template variables ("All" → allValue)."""
    values = dict(BUILTINS)
    for name, var in variables(dashboard).items():
        if var.get("type") == "datasource":
            continue
        if var.get("includeAll"):
            values[name] = var.get("allValue") or ".*"
        else:
            current = var.get("current", {}).get("value")
            if not current:
                raise ValueError(f"template variable ${name} has no allValue and no current value")
            values[name] = current if isinstance(current, str) else "|".join(current)

    def replace(match):
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise ValueError(f"unknown variable ${name} in: {expr}")
        return values[name]

    # ${name}, ${name:format}, [[name]], $name (longest names first through the regex's greed)
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", replace, expr)


def check_dashboard_static(dashboard):
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < 36:
        fail(f"dashboard schemaVersion {dashboard.get('schemaVersion')!r} < 36")
    for key in ("title", "uid", "panels", "templating"):
        if key not in dashboard:
            fail(f"dashboard has no {key!r}")
    for entry in dashboard.get("__inputs", []):
        if entry.get("type") != "datasource" or entry.get("pluginId") != "prometheus":
            fail(f"__inputs entry {entry!r} is not a Prometheus datasource input")
    var = variables(dashboard).get("datasource")
    if not var or var.get("type") != "datasource" or var.get("query") != "prometheus":
        fail("no template variable 'datasource' of type datasource with query 'prometheus'")
    for path, value in walk_datasources(dashboard):
        if path.startswith("$.annotations"):
            continue  # the built-in "-- Grafana --" annotation source
        if not datasource_is_variable(value):
            fail(f"{path} is {value!r}, not the ${{datasource}} variable")

    panels = query_panels(dashboard)
    ids = [p.get("id") for p in all_panels(dashboard)]
    if len(ids) != len(set(ids)) or None in ids:
        fail(f"panel ids are missing or not unique: {ids}")
    exprs = []
    for panel in panels:
        title = panel.get("title", "?")
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "xywh") or grid["x"] + grid["w"] > 24:
            fail(f"panel {title!r}: gridPos {grid} is missing or wider than 24 columns")
        if not panel.get("datasource"):
            fail(f"panel {title!r} has no datasource")
        targets = panel.get("targets", [])
        if not targets:
            fail(f"panel {title!r} has no queries")
        refs = [t.get("refId") for t in targets]
        if len(refs) != len(set(refs)):
            fail(f"panel {title!r}: refIds are not unique: {refs}")
        for t in targets:
            expr = t.get("expr", "").strip()
            if not expr:
                fail(f"panel {title!r} query {t.get('refId')}: empty expr")
                continue
            try:
                substitute(expr, dashboard)
            except ValueError as e:
                fail(f"panel {title!r} query {t.get('refId')}: {e}")
            exprs.append(expr)
    text = "\n".join(exprs)
    for metric in REQUIRED_METRICS:
        if not re.search(rf"\b{re.escape(metric)}\b", text):
            fail(f"no dashboard query uses {metric}")
    print(f"dashboard: {len(panels)} panels, {len(exprs)} queries")


# --- alert rules ---------------------------------------------------------------------------------


def rules(rule_file):
    for group in rule_file.get("groups", []):
        for rule in group.get("rules", []):
            yield group.get("name", "?"), rule


def check_rules_static(rule_file):
    names = []
    for group, rule in rules(rule_file):
        if "alert" not in rule:
            continue
        name = rule["alert"]
        names.append(name)
        if not rule.get("for"):
            fail(f"alert {name} ({group}) has no 'for:'")
        severity = rule.get("labels", {}).get("severity")
        if severity not in SEVERITIES:
            fail(f"alert {name}: severity {severity!r} is not one of {sorted(SEVERITIES)}")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description"):
            if not str(annotations.get(key, "")).strip():
                fail(f"alert {name}: no annotation {key!r}")
    if len(names) != len(set(names)):
        fail(f"alert names are not unique: {names}")
    if len(names) < REQUIRED_ALERTS:
        fail(f"only {len(names)} alerts, expected at least {REQUIRED_ALERTS}")
    print(f"alert rules: {len(names)} alerts")


# --- Prometheus HTTP API -------------------------------------------------------------------------


class Prometheus:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def get(self, path, **params):
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:  # 400/422 carry the API's error document
            try:
                return json.load(e)
            except ValueError:
                return {"status": "error", "error": f"HTTP {e.code}"}

    def query(self, expr):
        return self.get("/api/v1/query", query=expr, time=f"{time.time():.3f}")


def finite_values(result):
    """The numeric values of an instant-query result (vector, scalar or matrix)."""
    data = result.get("data", {})
    kind, res = data.get("resultType"), data.get("result")
    if kind == "scalar":
        samples = [res]
    elif kind == "vector":
        samples = [r["value"] for r in res]
    elif kind == "matrix":
        samples = [v for r in res for v in r["values"]]
    else:
        samples = []
    values = []
    for _, v in samples:
        try:
            f = float(v)
        except ValueError:
            continue
        if math.isfinite(f):
            values.append(f)
    return values


def series_count(result):
    data = result.get("data", {})
    if data.get("resultType") == "scalar":
        return 1
    return len(data.get("result") or [])


def check_dashboard_live(prom, dashboard):
    for name, var in variables(dashboard).items():
        if var.get("type") != "query":
            continue
        q = var.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*", q or "")
        if not m:
            fail(f"variable ${name}: query {q!r} is not label_values(metric, label)")
            continue
        expr = f"count by ({m.group(2)}) ({m.group(1)})"
        result = prom.query(expr)
        if result.get("status") != "success" or series_count(result) == 0:
            fail(f"variable ${name}: {q} has no values ({result.get('error', 'empty')})")
        else:
            labels = sorted(r["metric"].get(m.group(2), "") for r in result["data"]["result"])
            print(f"  ok  variable ${name}: {labels}")

    for panel in query_panels(dashboard):
        title = panel.get("title", "?")
        panel_finite = panel_nonzero = 0
        for t in panel.get("targets", []):
            expr = substitute(t["expr"], dashboard)
            result = prom.query(expr)
            where = f"panel {title!r} query {t.get('refId')}"
            if result.get("status") != "success":
                fail(f"{where}: {result.get('errorType', '')} {result.get('error', '')}\n    expr: {expr}")
                continue
            n = series_count(result)
            finite = finite_values(result)
            panel_finite += len(finite)
            panel_nonzero += sum(1 for v in finite if v != 0)
            if n == 0:
                fail(f"{where}: no data\n    expr: {expr}")
            else:
                print(f"  ok  {where}: {n} series, {len(finite)} finite, "
                      f"{sum(1 for v in finite if v != 0)} non-zero")
        if panel_finite == 0:
            fail(f"panel {title!r}: no query returns a finite value (only NaN or nothing)")
        elif panel_nonzero == 0:
            fail(f"panel {title!r}: every value is 0: the traffic does not show")


def metric_names(expr):
    """Names in expr that look like this project's metrics (labels and functions never do)."""
    return set(re.findall(r"\b((?:%s)[a-zA-Z0-9_:]*)" % "|".join(METRIC_PREFIXES), expr))


def check_rules_live(prom, rule_file):
    names = prom.get("/api/v1/label/__name__/values").get("data", [])
    known = set(names)
    for group, rule in rules(rule_file):
        name = rule.get("alert") or rule.get("record")
        expr = rule["expr"]
        result = prom.query(expr)
        if result.get("status") != "success":
            fail(f"rule {name} ({group}): {result.get('errorType', '')} {result.get('error', '')}\n    expr: {expr}")
            continue
        missing = sorted(metric_names(expr) - known)
        if missing:
            fail(f"rule {name}: metrics {missing} were never scraped\n    expr: {expr}")
            continue
        print(f"  ok  rule {name}: parses, {series_count(result)} series now")

    # Prometheus evaluates the same file every second; each rule must have been evaluated cleanly.
    deadline = time.time() + 10
    while True:
        loaded = [r for g in prom.get("/api/v1/rules").get("data", {}).get("groups", []) for r in g["rules"]]
        if loaded and all(r.get("health") != "unknown" for r in loaded) or time.time() > deadline:
            break
        time.sleep(0.5)
    expected = sum(1 for _ in rules(rule_file))
    if len(loaded) != expected:
        fail(f"Prometheus loaded {len(loaded)} rules, the file has {expected}")
    for r in loaded:
        if r.get("health") != "ok":
            fail(f"rule {r.get('name')}: Prometheus evaluates it with health {r.get('health')!r}: {r.get('lastError', '')}")


def parse_alert_spec(spec):
    m = re.fullmatch(r"(\w+)(?:\{(.*)\})?", spec.strip())
    if not m:
        raise SystemExit(f"bad --expect-active {spec!r}")
    labels = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', m.group(2) or ""))
    return m.group(1), labels


def check_active_alerts(prom, specs, wait):
    expected = [parse_alert_spec(s) for s in specs]

    def matches(alert, name, labels):
        return alert["labels"].get("alertname") == name and all(
            alert["labels"].get(k) == v for k, v in labels.items())

    deadline = time.time() + wait
    while True:
        active = prom.get("/api/v1/alerts").get("data", {}).get("alerts", [])
        missing = [(n, l) for n, l in expected if not any(matches(a, n, l) for a in active)]
        if not missing or time.time() > deadline:
            break
        time.sleep(0.5)
    for name, labels in missing:
        fail(f"alert {name}{labels} did not become active within {wait:g}s")
    for alert in active:
        if not any(matches(alert, n, l) for n, l in expected):
            fail(f"unexpected active alert {alert['labels']} ({alert.get('state')})")
        else:
            print(f"  ok  alert {alert['labels'].get('alertname')} {alert.get('state')}: "
                  f"{ {k: v for k, v in alert['labels'].items() if k not in ('alertname', 'severity')} }")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    static = sub.add_parser("static")
    live = sub.add_parser("live")
    for p in (static, live):
        p.add_argument("--dashboard", required=True)
        p.add_argument("--alerts", required=True, help="the Prometheus rule file (YAML)")
    live.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    live.add_argument("--expect-active", action="append", default=[],
                      help='an alert that must be pending or firing: Name{label="value"}')
    live.add_argument("--wait", type=float, default=15, help="seconds to wait for --expect-active")
    args = parser.parse_args()

    dashboard = load_json(args.dashboard)
    with open(args.alerts) as f:
        rule_file = yaml.safe_load(f)
    check_dashboard_static(dashboard)
    check_rules_static(rule_file)
    if args.mode == "live":
        prom = Prometheus(args.prometheus)
        started = time.time()
        print("dashboard queries:")
        check_dashboard_live(prom, dashboard)
        print("alert rules:")
        check_rules_live(prom, rule_file)
        print("active alerts:")
        check_active_alerts(prom, args.expect_active, args.wait)
        print(f"live checks took {time.time() - started:.1f}s")

    if failures:
        print(f"\n{len(failures)} failure(s):", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
