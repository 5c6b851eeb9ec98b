#!/usr/bin/env python3
"""Summarise one bench/run.sh result directory: summary.json and summary.md.

summarize.py RESULTS_DIR [--runs N] [--quick] [--versions TEXT] [--total-seconds S]

Reads samples.jsonl (one JSON object per timed command, see lib/record.py) and notes.txt.
Figures are medians with min–max over the samples; ratios are ours / Ansible of the medians
(below 1 = we are faster; the "x faster" column is the inverse). Targets are issue 10's.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
from collections import defaultdict
from pathlib import Path

PHASES = ["bootstrap-node", "bootstrap-qdevice", "configure-storage"]
MIB = 1024


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def fmt(st, unit="s"):
    if not st:
        return "–"
    if unit == "s":
        f = (lambda v: f"{v:.2f}") if st["median"] >= 1 else (lambda v: f"{v:.3f}")
        return f"{f(st['median'])} s ({f(st['min'])}–{f(st['max'])})" if st["n"] > 1 else f"{f(st['median'])} s"
    return f"{st['median']:.0f}"


def ok_rc(s):
    # --check and drift-check exit 2 when changes are pending: a valid measurement
    return s["rc"] == 0 or (s["rc"] == 2 and s["scenario"] in ("check", "drift", "mirror")) or (
        s["rc"] == 2 and s["phase"] in ("bootstrap-node-check", "drift-check"))


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            return ""
    model = sh("awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo")
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory": sh("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo"),
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo \"$PRETTY_NAME\" $(cat /etc/debian_version 2>/dev/null)"),
        "openssh": sh("ssh -V 2>&1"),
        "python": platform.python_version(),
        "rustc": sh("rustc --version"),
    }


def main():
    a = argparse.ArgumentParser()
    a.add_argument("results")
    a.add_argument("--runs", type=int, default=0)
    a.add_argument("--quick", action="store_true")
    a.add_argument("--versions", default="")
    a.add_argument("--total-seconds", type=int, default=0)
    o = a.parse_args()
    rd = Path(o.results)
    samples = [json.loads(l) for l in (rd / "samples.jsonl").read_text().splitlines() if l.strip()]
    notes = [l for l in (rd / "notes.txt").read_text().splitlines() if l.strip()] if (rd / "notes.txt").exists() else []
    timed = [s for s in samples if "seconds" in s]

    def sel(**kw):
        return [s for s in timed if all(s.get(k) == v for k, v in kw.items())]

    def good(xs):
        return [s for s in xs if ok_rc(s) and not s.get("failed")]

    out = {"machine": machine(), "versions": o.versions, "runs": o.runs, "quick": o.quick,
           "total_seconds": o.total_seconds, "scenarios": {}, "notes": notes}
    md = []
    m = out["machine"]
    md.append(f"Machine: {m['nproc']} × {m['cpu']}, {m['memory']}, kernel {m['kernel']}, {m['os']}; "
              f"{m['openssh']}; {m['rustc']}; {o.versions}. Samples per scenario: {o.runs}"
              f"{' (--quick)' if o.quick else ''}; whole run {o.total_seconds} s.\n")

    # ---- ours vs Ansible per scenario and phase -------------------------------------------------
    md.append("| scenario | phase | ours | Ansible | ours/Ansible | Ansible ÷ ours |")
    md.append("|---|---|---|---|---|---|")
    ratios = {}
    for scen in ["converge", "noop", "check"]:
        per_sample = {"ours": defaultdict(float), "ansible": defaultdict(float)}
        complete = {"ours": defaultdict(int), "ansible": defaultdict(int)}
        for ph in PHASES:
            row = {}
            for tool in ["ours", "ansible"]:
                xs = good(sel(scenario=scen, tool=tool, phase=ph))
                row[tool] = stats([s["seconds"] for s in xs])
                for s in xs:
                    per_sample[tool][s["sample"]] += s["seconds"]
                    complete[tool][s["sample"]] += 1
            r = row["ours"]["median"] / row["ansible"]["median"] if row["ours"] and row["ansible"] else None
            ratios[(scen, ph)] = r
            out["scenarios"].setdefault(scen, {})[ph] = {"ours": row["ours"], "ansible": row["ansible"], "ratio": r}
            md.append(f"| {scen} | {ph} | {fmt(row['ours'])} | {fmt(row['ansible'])} | "
                      f"{f'{r:.3f}' if r else '–'} | {f'{1 / r:.1f}×' if r else '–'} |")
        tot = {}
        for tool in ["ours", "ansible"]:
            tot[tool] = stats([v for k, v in per_sample[tool].items() if complete[tool][k] == len(PHASES)])
        r = tot["ours"]["median"] / tot["ansible"]["median"] if tot["ours"] and tot["ansible"] else None
        ratios[(scen, "all")] = r
        out["scenarios"][scen]["all three"] = {"ours": tot["ours"], "ansible": tot["ansible"], "ratio": r}
        md.append(f"| {scen} | **all three** | {fmt(tot['ours'])} | {fmt(tot['ansible'])} | "
                  f"{f'{r:.3f}' if r else '–'} | {f'**{1 / r:.1f}×**' if r else '–'} |")
    drift = {t: stats([s["seconds"] for s in good(sel(scenario="drift", tool=t))]) for t in ["ours", "ansible"]}
    r = drift["ours"]["median"] / drift["ansible"]["median"] if drift["ours"] and drift["ansible"] else None
    out["scenarios"]["drift"] = {"ours": drift["ours"], "ansible": drift["ansible"], "ratio": r}
    md.append(f"| drift | drift-check vs site.yml --check | {fmt(drift['ours'])} | {fmt(drift['ansible'])} | "
              f"{f'{r:.3f}' if r else '–'} | {f'{1 / r:.1f}×' if r else '–'} |")

    # ---- the floor --------------------------------------------------------------------------------
    floor = {}
    variants = [("probe-parallel", "batched `sudo -n sh -s` probe, all hosts in parallel (the issue's floor)"),
                ("probe-parallel-curve25519", "the same with curve25519-sha256 (the KEX libssh2 uses)"),
                ("probe-nodes", "the probe on the pve nodes only, in parallel"),
                ("probe-pi", "the probe on the Pi only"),
                ("connect", "`ssh … true`, one host")]
    md.append("\n| SSH floor (default lab), during | no-op section | check section |")
    md.append("|---|---|---|")
    for ph, what in variants:
        cells = []
        for scen in ["noop", "check"]:
            st = stats([s["seconds"] for s in sel(scenario=scen, tool="ssh", phase=ph) if s["rc"] == 0])
            floor[(scen, ph)] = st
            cells.append(fmt(st))
        md.append(f"| {what} | {cells[0]} | {cells[1]} |")
    out["floor"] = {f"{k[0]}/{k[1]}": v for k, v in floor.items()}

    # ---- no-op and check against the floor ---------------------------------------------------------
    own = {"bootstrap-node": "probe-nodes", "configure-storage": "probe-nodes", "bootstrap-qdevice": "probe-pi",
           "drift-check": "probe-parallel"}
    md.append("\n| ours ÷ floor (medians of the same section) | section | ours | ÷ issue's floor (all hosts) | ÷ curve25519 floor (all hosts) | ÷ floor of its own hosts |")
    md.append("|---|---|---|---|---|---|")
    vs_floor = {}
    for ph in PHASES + ["drift-check"]:
        for scen in ["noop", "check"]:
            if ph == "drift-check" and scen == "noop":
                continue
            st = stats([s["seconds"] for s in good(sel(scenario="drift" if ph == "drift-check" else scen, tool="ours", phase=ph))])
            cells = []
            for fl_name in ["probe-parallel", "probe-parallel-curve25519", own[ph]]:
                fl = floor.get((scen, fl_name))
                v = st["median"] / fl["median"] if st and fl else None
                vs_floor[(scen, ph, fl_name)] = v
                cells.append(f"{v:.2f}×" if v else "–")
            md.append(f"| {ph} | {scen} | {fmt(st)} | {' | '.join(cells)} |")
    out["vs_floor"] = {"/".join(k): v for k, v in vs_floor.items()}

    # ---- round trips ---------------------------------------------------------------------------------
    md.append("\n| round trips per host (ours, max over samples) | converge | no-op | check |")
    md.append("|---|---|---|---|")
    trips = {}
    for ph in PHASES + ["drift-check", "form-cluster"]:
        cells = []
        for scen in ["converge", "noop", "check"]:
            scen2 = {"drift-check": "drift", "form-cluster": "form-cluster-ours"}.get(ph, scen)
            if ph in ("drift-check", "form-cluster") and scen != "check" and ph == "drift-check":
                cells.append("–")
                continue
            if ph == "form-cluster" and scen != "converge":
                cells.append("–")
                continue
            per_host = defaultdict(list)
            for s in sel(scenario=scen2, tool="ours", phase=ph):
                for h, n in (s.get("round_trips") or {}).items():
                    if n is not None:
                        per_host[h].append(n)
            trips[(scen, ph)] = {h: max(v) for h, v in per_host.items()}
            cells.append(", ".join(f"{h} {max(v)}" for h, v in sorted(per_host.items())) or "–")
        md.append(f"| {ph} | {' | '.join(cells)} |")
    out["round_trips"] = {f"{k[0]}/{k[1]}": v for k, v in trips.items()}

    # ---- form-cluster ---------------------------------------------------------------------------------
    fc = {}
    md.append("\n| form-cluster (bootstrapped hosts → 3 votes) | wall time | votes seen |")
    md.append("|---|---|---|")
    for by in ["ours", "ansible"]:
        xs = sel(scenario=f"form-cluster-{by}", phase="form-cluster")
        st = stats([s["seconds"] for s in good(xs)])
        v = sorted({s.get("votes") for s in samples if s.get("scenario") == "form-cluster-votes" and s.get("bootstrapped_by") == by})
        fc[by] = {"seconds": st, "votes": v, "failed": len(xs) - len(good(xs))}
        if xs:
            md.append(f"| after {by}'s bootstrap | {fmt(st)} | {', '.join(x or 'none' for x in v)} |")
    out["form_cluster"] = fc

    # ---- scaling ----------------------------------------------------------------------------------------
    md.append("\n| lab nodes | bootstrap-node converge | bootstrap-node --check | drift-check | floor (parallel probe) | check ÷ floor | round trips/host (check) |")
    md.append("|---|---|---|---|---|---|---|")
    scaling = {}
    for n in [3, 8, 16, 32]:
        scen = f"scaling-{n}"
        conv = stats([s["seconds"] for s in good(sel(scenario=scen, phase="bootstrap-node-converge"))])
        chk = stats([s["seconds"] for s in good(sel(scenario=scen, phase="bootstrap-node-check"))])
        dc = stats([s["seconds"] for s in good(sel(scenario=scen, phase="drift-check"))])
        fl = stats([s["seconds"] for s in sel(scenario=scen, tool="ssh", phase="probe-parallel") if s["rc"] == 0])
        rt = [n2 for s in sel(scenario=scen, phase="bootstrap-node-check") for n2 in (s.get("round_trips") or {}).values() if n2 is not None]
        dc_rt = [n2 for s in sel(scenario=scen, phase="drift-check") for n2 in (s.get("round_trips") or {}).values() if n2 is not None]
        if not (conv or chk or dc or fl):
            continue
        base = dc or chk
        scaling[n] = {"converge": conv, "bootstrap_node_check": chk, "drift_check": dc, "floor": fl,
                      "round_trips_max": max(rt) if rt else None, "drift_round_trips_max": max(dc_rt) if dc_rt else None}
        ratio = base["median"] / fl["median"] if base and fl else None
        md.append(f"| {n} | {fmt(conv)} | {fmt(chk)} | {fmt(dc)} | {fmt(fl)} | "
                  f"{f'{ratio:.2f}×' if ratio else '–'} | "
                  f"{max(rt) if rt else '–'}{f' (drift-check {max(dc_rt)})' if dc_rt else ''} |")
    out["scaling"] = scaling

    # ---- ISO ----------------------------------------------------------------------------------------------
    iso = {t: stats([s["seconds"] for s in sel(scenario="iso", tool=t) if s["rc"] == 0]) for t in ["ours", "cp"]}
    size = next((s.get("iso_bytes") for s in sel(scenario="iso")), None)
    r = iso["ours"]["median"] / iso["cp"]["median"] if iso["ours"] and iso["cp"] else None
    out["iso"] = {"prepare": iso["ours"], "cp": iso["cp"], "ratio": r, "bytes": size}
    if size:
        md.append(f"\n| ISO ({size / 2**20:.0f} MiB synthetic hybrid) | provision-iso prepare | cp | prepare ÷ cp |")
        md.append("|---|---|---|---|")
        md.append(f"| wall time | {fmt(iso['ours'])} | {fmt(iso['cp'])} | {f'{r:.2f}×' if r else '–'} |")

    # ---- memory -------------------------------------------------------------------------------------------
    rss = defaultdict(int)
    for s in timed:
        if not s.get("rss_kb"):
            continue
        if s["tool"] == "ours":
            # phase names of the scaling section carry a suffix: bootstrap-node-check, …-converge
            key = s["phase"].removesuffix("-converge")
            key = "bootstrap-node" if key == "bootstrap-node-check" else key
        elif s["tool"] in ("ansible", "lab"):
            key = "ansible-playbook" if s["tool"] == "ansible" else "lab"
        else:
            continue
        rss[key] = max(rss[key], s["rss_kb"])
    out["peak_rss_kb"] = dict(rss)
    md.append("\n| peak RSS (GNU time %M, max over all runs) | MiB |")
    md.append("|---|---|")
    for k in sorted(rss):
        md.append(f"| {k} | {rss[k] / MIB:.1f} |")

    # ---- mirror checks and failures ---------------------------------------------------------------------
    mirror = [s for s in samples if s.get("scenario") == "mirror"]
    if mirror:
        md.append("\n| mirror check (the other tool's --check on a converged lab) | phase | changes reported |")
        md.append("|---|---|---|")
        for s in mirror:
            md.append(f"| {s['tool']} | {s['phase']} | {s.get('changes', '?')}{' (exit ' + str(s['rc']) + ')' if s['rc'] not in (0, 2) else ''} |")
    out["mirror"] = [{k: s.get(k) for k in ("tool", "phase", "changes", "rc")} for s in mirror]
    noop_changes = [s for s in sel(scenario="noop") if s.get("changes")]
    bad = [s for s in timed if s.get("tool") not in ("ssh", "cp") and not ok_rc(s)]
    if noop_changes or bad:
        md.append("\n**Irregular samples** (a no-op that changed something, or a failed command):\n")
        for s in noop_changes:
            md.append(f"- no-op {s['tool']} {s['phase']} #{s['sample']}: {s['changes']} changes (log {Path(s['log']).name})")
        for s in bad:
            md.append(f"- {s['scenario']} {s['tool']} {s['phase']} #{s['sample']}: exit {s['rc']} (log {Path(s['log']).name})")
    out["irregular"] = [{k: s.get(k) for k in ("scenario", "tool", "phase", "sample", "rc", "changes")} for s in noop_changes + bad]

    # ---- targets -------------------------------------------------------------------------------------------
    def verdict(v, ok):
        return "pending" if v is None else ("met" if ok(v) else "MISSED")
    fl = (floor.get(("noop", "probe-parallel")) or {}).get("median")
    t = []
    for ph in PHASES:
        v = vs_floor.get(("noop", ph, "probe-parallel"))
        t.append((f"no-op {ph} ≤ 1.5× floor", f"{v:.2f}×" if v else "–", verdict(v, lambda x: x <= 1.5)))
    r = ratios.get(("noop", "all"))
    t.append(("no-op, three phases, ≥ 25× faster than Ansible", f"{1 / r:.1f}×" if r else "–", verdict(r, lambda x: 1 / x >= 25)))
    r = ratios.get(("converge", "all"))
    t.append(("converge from fresh, three phases, ≥ 10× faster than Ansible", f"{1 / r:.1f}×" if r else "–", verdict(r, lambda x: 1 / x >= 10)))
    dr = trips.get(("check", "drift-check")) or {}
    v = max(dr.values()) if dr else None
    t.append(("drift-check ≤ 2 round trips per host", str(v) if v is not None else "–", verdict(v, lambda x: x <= 2)))
    v = vs_floor.get(("check", "drift-check", "probe-parallel"))
    t.append(("drift-check ≤ 1.5× floor (default lab)", f"{v:.2f}×" if v else "–", verdict(v, lambda x: x <= 1.5)))
    v = (scaling.get(32, {}).get("drift_check") or {}).get("median")
    t.append(("drift-check on 32 hosts ≤ 2 s", f"{v:.2f} s" if v else "–", verdict(v, lambda x: x <= 2)))
    ours_bins = {k: v for k, v in rss.items() if k not in ("ansible-playbook", "lab")}
    v = max(ours_bins.values()) / MIB if ours_bins else None
    t.append(("peak RSS of each binary < 30 MiB", f"max {v:.1f} MiB" if v else "–", verdict(v, lambda x: x < 30)))
    out["targets"] = [{"target": a, "value": b, "verdict": c} for a, b, c in t]
    v = vs_floor.get(("check", "drift-check", "probe-parallel-curve25519"))
    t.append(("(stricter, not in the issue) drift-check ≤ 1.5× the curve25519 floor", f"{v:.2f}×" if v else "–", verdict(v, lambda x: x <= 1.5)))
    out["targets"] = [{"target": a, "value": b, "verdict": c} for a, b, c in t]
    md.append("\n| target (issue 10) | measured | verdict |")
    md.append("|---|---|---|")
    for a, b, c in t:
        md.append(f"| {a} | {b} | {c} |")
    if notes:
        md.append("\nNotes from the run:\n")
        md.extend(f"- {n}" for n in notes)
    (rd / "summary.json").write_text(json.dumps(out, indent=1, default=str) + "\n")
    (rd / "summary.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    # Irregular samples make the run fail (CI runs --quick): a benchmark of a broken run is no result.
    return 3 if out["irregular"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
