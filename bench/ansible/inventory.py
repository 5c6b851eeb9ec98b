#!/usr/bin/env python3
"""Generate the Ansible inventory for the benchmark from the lab's homelab.toml.

Usage: inventory.py LAB_DIR VERSION > inventory.yml

The output is JSON (which is YAML): groups `pve` (every node, reached at its link0 address),
`master` (the node with role = "master") and `qdevice`, plus one variable `homelab` holding the
whole inventory with the schema's defaults filled in (crates/common/src/inventory/model.rs), so
the playbooks read exactly what our binaries read. `homelab_iac_version` is the version our
binaries write into their completion markers (`bootstrap-node --version`).

Connection: the automation user with sudo (become), through the lab's ssh_config (lab key,
pinned known_hosts for the pve hosts, accept-new for the Pi). The first converge of a fresh lab
overrides the user with first-contact.yml.
"""
import json
import sys
import tomllib
from pathlib import Path


def with_defaults(inv):
    d = inv.setdefault("defaults", {})
    d.setdefault("timezone", "UTC")
    d.setdefault("ntp_servers", [])
    d.setdefault("packages", [])
    d.setdefault("repository", "no-subscription")
    d.setdefault("debian_suite", "trixie")
    d.setdefault("ssh_max_auth_tries", 3)
    d.setdefault("remove_subscription_notice", False)
    for n in inv["nodes"]:
        n.setdefault("filesystem", "zfs")
        n.setdefault("manage_bridges", False)
    inv.setdefault("storage", {}).setdefault("nfs", [])
    for s in inv["storage"]["nfs"]:
        s.setdefault("path", f"/mnt/pve/{s['id']}")
        s.setdefault("nodes", [])
        s.setdefault("create_subdirs", False)
        s.setdefault("options", None)
        s.setdefault("prune_backups", None)
    inv.setdefault("zfs", [])
    master = next(n["name"] for n in inv["nodes"] if n["role"] == "master")
    for r in inv.setdefault("replication", []):
        r.setdefault("job", 0)
        r.setdefault("schedule", "*/15")
        r.setdefault("rate", None)
        r.setdefault("comment", None)
        r.setdefault("source", master)
        r.setdefault("test_guest", False)
        r["id"] = f"{r['guest']}-{r['job']}"
    for b in inv.setdefault("backup", []):
        b.setdefault("all", False)
        b.setdefault("vmids", [])
        b.setdefault("exclude", [])
        b.setdefault("mode", "snapshot")
        b.setdefault("compress", "zstd")
        b.setdefault("retention", {})
        b.setdefault("notification_mode", "auto")
        b.setdefault("enabled", True)
        b.setdefault("comment", None)
    mem = inv.setdefault("monitoring", {}).get("memory")
    if mem is not None:
        mem.setdefault("interval_minutes", 5)
        mem.setdefault("threshold_percent", 90)
        mem.setdefault("packages", [])
    inv["master"] = master
    return inv


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: inventory.py LAB_DIR VERSION > inventory.yml")
    lab = Path(sys.argv[1]).resolve()
    inv = with_defaults(tomllib.loads((lab / "homelab.toml").read_text()))
    nodes = {n["name"]: {"ansible_host": n["link0"]} for n in inv["nodes"]}
    out = {
        "all": {
            "vars": {
                "ansible_user": inv["automation"]["user"],
                "ansible_become": True,
                # The lab's own ssh config: lab key, pinned known_hosts (pve), accept-new (Pi).
                "ansible_ssh_common_args": f"-F {lab / 'ssh_config'}",
                "homelab": inv,
                "homelab_iac_version": sys.argv[2],
            },
            "children": {
                "pve": {"hosts": nodes},
                "master": {"hosts": {inv["master"]: {}}},
            },
        }
    }
    if inv.get("qdevice"):
        q = inv["qdevice"]
        pi = {"ansible_host": q["address"]}
        if q.get("first_contact", {}).get("host_key") == "accept-new":
            # As our tools' first contact: the Pi's key is accepted once and pinned in the
            # project's known_hosts (form-cluster then requires that pin).
            known = lab / inv["automation"].get("known_hosts", "known_hosts")
            pi["ansible_ssh_extra_args"] = f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=accept-new"
        out["all"]["children"]["qdevice"] = {"hosts": {q["name"]: pi}}
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
