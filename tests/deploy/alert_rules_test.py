#!/usr/bin/env python3
"""Runs `promtool test rules` on tests/deploy/alerts_test.yaml against deploy/prometheus/alerts.yaml.

promtool compares an alert's annotations too; the unit tests only state labels, so they run against a
copy of the rule file without annotations (JSON, which promtool reads as YAML), in a temp directory
next to a copy of the test file. Also asserts that every alert of the rule file has a test case in
which it fires, so a new alert cannot come without one.

Usage: alert_rules_test.py --alerts FILE --tests FILE [--promtool BIN]
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import yaml
except ImportError:
    sys.exit("alert_rules_test.py: no PyYAML in this python3 (Debian package python3-yaml: scripts/setup)")


def yaml_file(path):
    return yaml.safe_load(Path(path).read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", required=True)
    parser.add_argument("--tests", required=True)
    parser.add_argument("--promtool", default="promtool")
    args = parser.parse_args()

    rule_file = yaml_file(args.alerts)
    tests = yaml_file(args.tests)
    rule_name = tests["rule_files"][0]

    alerts = [r["alert"] for g in rule_file["groups"] for r in g["rules"] if "alert" in r]
    fired = {t["alertname"] for case in tests["tests"] for t in case.get("alert_rule_test", [])
             if t.get("exp_alerts")}
    untested = [a for a in alerts if a not in fired]
    unknown = sorted(fired - set(alerts))
    if untested or unknown:
        if untested:
            print(f"FAIL: alerts without a test case in which they fire: {untested}", file=sys.stderr)
        if unknown:
            print(f"FAIL: test cases for alerts the rule file does not have: {unknown}", file=sys.stderr)
        return 1

    for group in rule_file["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    with tempfile.TemporaryDirectory(prefix="advisor-alerts-test.") as tmp:
        Path(tmp, rule_name).write_text(json.dumps(rule_file, indent=1))
        test_copy = Path(tmp, Path(args.tests).name)
        shutil.copyfile(args.tests, test_copy)
        result = subprocess.run([args.promtool, "test", "rules", str(test_copy)])
    if result.returncode == 0:
        print(f"{len(alerts)} alerts, each fires in at least one test case")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
