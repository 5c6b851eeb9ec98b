#!/usr/bin/env python3
"""Turn one timed command into one JSON line of samples.jsonl (bench/run.sh).

record.py --scenario S --tool T --phase P --sample N --seconds X --rc RC --rss-kb KB
          --format ours|ansible|plain --stdout FILE [--extra JSON]

ours:    the `--json` report of one of our binaries (common::engine::RunReport::to_json):
         changes (changed, or would_change in --check), failed, round trips per host.
ansible: the PLAY RECAP of ansible-playbook: changed / failed / unreachable per host.
"""
import argparse
import json
import re
import sys


def ours(text):
    try:
        start = text.index("{")
        rep = json.loads(text[start:])
    except ValueError as e:
        return {"parse_error": f"no JSON report: {e}"}
    hosts = rep.get("hosts", [])
    if rep.get("tool") == "drift-check":
        # drift-check's own report: drift items per host, totals, exit code
        t = rep.get("totals", {})
        out = {
            "changes": sum(len(h.get("drift") or []) for h in hosts),
            "failed": sum(1 for h in hosts if h.get("error")) + t.get("unreachable", 0),
            "round_trips": {h["host"]: h.get("round_trips") for h in hosts if "host" in h},
            "hosts": len(hosts),
            "totals": t,
        }
        errors = [f"{h.get('host')}: {h['error']}" for h in hosts if h.get("error")]
        if errors:
            out["errors"] = errors
        return out
    out = {
        "changes": sum(h.get("changed", 0) + h.get("would_change", 0) for h in hosts),
        "failed": rep.get("failed", 0),
        "round_trips": {h["host"]: h.get("round_trips") for h in hosts if "host" in h},
        "hosts": len(hosts),
    }
    errors = [f"{h['host']}: {h['error']}" for h in hosts if h.get("error")]
    if rep.get("error"):
        errors.append(rep["error"])
    if errors:
        out["errors"] = errors
    return out


RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def ansible(text):
    hosts = {}
    for line in text.splitlines():
        m = RECAP.match(line)
        if m:
            hosts[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)),
                                 "unreachable": int(m.group(4)), "failed": int(m.group(5))}
    if not hosts:
        return {"parse_error": "no PLAY RECAP"}
    return {
        "changes": sum(h["changed"] for h in hosts.values()),
        "failed": sum(h["failed"] + h["unreachable"] for h in hosts.values()),
        "tasks_ok": {k: v["ok"] for k, v in hosts.items()},
        "hosts": len(hosts),
    }


def main():
    a = argparse.ArgumentParser()
    for k in ["scenario", "tool", "phase", "format", "stdout"]:
        a.add_argument("--" + k, required=True)
    a.add_argument("--sample", type=int, default=0)
    a.add_argument("--seconds", type=float, required=True)
    a.add_argument("--rc", type=int, required=True)
    a.add_argument("--rss-kb", type=int, default=None)
    a.add_argument("--extra", default=None)
    o = a.parse_args()
    rec = {"scenario": o.scenario, "tool": o.tool, "phase": o.phase, "sample": o.sample,
           "seconds": round(o.seconds, 4), "rc": o.rc, "rss_kb": o.rss_kb}
    try:
        text = open(o.stdout, errors="replace").read()
    except OSError:
        text = ""
    if o.format == "ours":
        rec.update(ours(text))
    elif o.format == "ansible":
        rec.update(ansible(text))
    if o.extra:
        rec.update(json.loads(o.extra))
    rec["log"] = o.stdout
    print(json.dumps(rec, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
