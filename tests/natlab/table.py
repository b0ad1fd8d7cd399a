#!/usr/bin/env python3
"""tests/natlab/table.py — the NAT lab's table of sessions, and the checks of what must hold.

Reads the two peers' results (driver.js output, $WORK/session-ID-{offerer,answerer}.json) of each
session, prints a markdown table (pair, advised strategy and timeout, what happened, whether the
reports were accepted), optionally writes it to a file, and exits 1 when a session broke a rule:
every session connects and reports; cone pairs connect directly; pairs without a direct path reach
the relay, after the advised timeout unless the advice was TURN_ONLY; a UDP-blocked peer relays
over TCP; the answer's initial configuration follows the client protocol (no TURN before the
timeout for DIRECT and TURN_FALLBACK; relay-only without STUN for TURN_ONLY). A session that
natlab.sh ran twice (its first try did not connect) is marked so, with what ICE did the first time.

Usage: table.py --work DIR [--detect 0|1] [--out FILE] "ID KIND_A KIND_B EXPECT"...
"""
import argparse
import json
import os
import sys


def load(work, sid, role):
    try:
        with open(f"{work}/session-{sid}-{role}.json") as f:
            lines = [line for line in f.read().splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else {"error": "no result (see its log)"}
    except (OSError, ValueError) as e:
        return {"error": f"unreadable result: {e}"}


def side(r):
    """What one peer saw: path, its local candidate's transport, time to connect."""
    if r.get("error"):
        return "error"
    if not r.get("connected"):
        return "not connected"
    last = r["attempts"][-1]
    sel = r.get("selected") or {}
    transport = sel.get("relayProtocol") or sel.get("protocol") or "?"
    pair = f"{sel.get('local', '?')}/{sel.get('remote', '?')}"
    return f"{last['path']} {transport} ({pair}) {r['timeToConnectMs']} ms"


def check(expect, kinds, off, ans, detect):
    problems = []
    for role, r, kind in (("offerer", off, kinds[0]), ("answerer", ans, kinds[1])):
        if r.get("error"):
            problems.append(f"{role}: {r['error']}")
            continue
        if detect and r.get("detected") != kind:
            problems.append(f"{role}: advisorctl detect said {r.get('detected')}, "
                            f"the NAT is {kind}")
        if not r.get("connected"):
            problems.append(f"{role}: did not connect within the budget")
            continue
        path = r["attempts"][-1]["path"]
        strategy = r.get("strategy")
        if strategy in ("DIRECT", "TURN_FALLBACK") and r.get("initialTurn"):
            problems.append(f"{role}: {strategy}'s ice_config holds a TURN server (the relay is "
                            "not held back until direct_timeout_ms)")
        if strategy == "TURN_ONLY" and (r.get("initialStun") or r.get("initialPolicy") != "relay"):
            problems.append(f"{role}: TURN_ONLY's ice_config is not relay-only without STUN")
        if expect == "direct" and path != "direct":
            problems.append(f"{role}: a cone pair connected over {path}, not directly")
        if expect.startswith("relay"):
            if path != "relay":
                problems.append(f"{role}: connected {path}ly where no direct path exists")
            if strategy != "TURN_ONLY":
                # The offerer's timer starts the ICE restart; the answerer follows it when it
                # comes, on its own clock (the two start a few ms apart).
                if not r.get("fallbackApplied"):
                    problems.append(f"{role}: relayed without applying fallback_ice_config")
                elif role == "offerer" and r["timeToConnectMs"] < r.get("directTimeoutMs", 0):
                    problems.append(f"{role}: relayed at {r['timeToConnectMs']} ms, before the "
                                    f"advised {r.get('directTimeoutMs')} ms")
        if kind == "blocked":
            sel = r.get("selected") or {}
            if sel.get("local") != "relay" or sel.get("relayProtocol") != "tcp":
                problems.append(f"{role}: UDP-blocked, yet its candidate is {sel} "
                                "(not a TCP relay)")
        if not r.get("reportAccepted"):
            problems.append(f"{role}: report refused: {r.get('reportError')}")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--detect", default="0")
    ap.add_argument("--out")
    ap.add_argument("sessions", nargs="+")
    a = ap.parse_args()

    rows = ["| # | pair (offerer × answerer) | advised | offerer: path, transport (local/remote), "
            "time | answerer: path, transport (local/remote), time | reports accepted |",
            "|---|---|---|---|---|---|"]
    failures, warnings = [], []
    for spec in a.sessions:
        sid, kind_a, kind_b, expect = spec.split()
        off, ans = load(a.work, sid, "offerer"), load(a.work, sid, "answerer")
        retried = os.path.exists(f"{a.work}/session-{sid}-offerer.first.json")
        advised = off.get("strategy") or ans.get("strategy") or "?"
        timeout = off.get("directTimeoutMs", ans.get("directTimeoutMs"))
        if timeout:
            advised += f" {timeout} ms"
        if off.get("fallbackApplied") or ans.get("fallbackApplied"):
            advised += ", fallback applied"
        if retried:
            advised += " (retried: the first try did not connect)"
            for role in ("offerer", "answerer"):
                r = load(a.work, sid, f"{role}.first")
                warnings.append(f"session {sid} first try, {role}: connected "
                                f"{r.get('connected')}, events: {' '.join(r.get('events') or [])}")
                for pair in r.get("pairs") or []:
                    warnings.append(f"session {sid} first try, {role} pair: {pair}")
        accepted = "/".join("yes" if r.get("reportAccepted") else "no" for r in (off, ans))
        rows.append(f"| {sid} | {kind_a} × {kind_b} | {advised} | {side(off)} | {side(ans)} | "
                    f"{accepted} |")
        problems = check(expect, (kind_a, kind_b), off, ans, a.detect == "1")
        for p in problems:
            failures.append(f"session {sid} ({kind_a} × {kind_b}, must be {expect}): {p}")
        if problems:
            # What ICE did, to tell a NAT from a client or a relay problem.
            for role, r in (("offerer", off), ("answerer", ans)):
                failures.append(f"session {sid} {role} events: {' '.join(r.get('events') or [])}")
                for pair in r.get("pairs") or []:
                    failures.append(f"session {sid} {role} pair: {pair}")
    table = "\n".join(rows)
    print(table)
    if a.out:
        with open(a.out, "w") as f:
            f.write(table + "\n")
    for w in warnings:
        print(f"WARN {w}", file=sys.stderr)
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
