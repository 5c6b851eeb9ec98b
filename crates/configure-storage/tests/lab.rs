//! configure-storage in the lab (issue 8 "Tests"): the simulated PVE CLIs with their real
//! formats on a cluster formed by the earlier phases' binaries. One lab, one sequence:
//!
//!  1. set-up: bootstrap-node, bootstrap-qdevice, form-cluster;
//!  2. refusals before any change: a replication target outside the cluster (inventory
//!     validation), a missing replication guest without `--create-test-guest`;
//!  3. `--check` plans everything; the run creates three NFS storages (active on both nodes),
//!     the content directories, the test guest, replication job 900-0 (schedule, rate, healthy
//!     status after a sync), the weekly backup job (keep-last 4), ZFS properties, memory check;
//!  4. a second run changes nothing and costs one round trip per host;
//!  5. a storage's options and the backup schedule changed by hand → `--check` exits 2 with
//!     both diffs → the run restores them;
//!  6. the NAS stopped → clear error naming server and storages, nothing changed;
//!  7. the replication job dropped from the inventory → removed (it was created by this tool),
//!     a hand-made job is kept;
//!  8. no quorum (pve-node2 and qnetd stopped) → clear error, nothing changed.

use lab::testing::{Fault, LabGuard, LabOptions, ToolRun};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn run_in(lab: &LabGuard, tool: &str, inventory: &Path, args: &[&str]) -> ToolRun {
    let r = lab.run_tool(tool, inventory, args);
    eprintln!("TIMING {tool} {}: {:.2} s (exit {})", args.join(" "), r.secs, r.code);
    r
}

fn json_in(lab: &LabGuard, host: &str, script: &str) -> Value {
    let out = lab.sh_ok(host, script).unwrap_or_else(|e| panic!("{e:#}"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{host}: `{script}` printed no JSON ({e}): {out}"))
}

fn changes(j: &Value) -> u64 {
    j["changes"].as_u64().unwrap()
}

fn host<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["hosts"].as_array().unwrap().iter().find(|h| h["host"] == name).unwrap_or_else(|| panic!("no host {name} in {j}"))
}

fn notes(j: &Value, name: &str) -> String {
    host(j, name)["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap_or("").to_string()).collect::<Vec<_>>().join("\n")
}

/// The storage definitions (cluster-wide) as one text, to prove "nothing changed".
fn config_snapshot(lab: &LabGuard) -> String {
    lab.sh_ok("pve-node1", "cat /etc/pve/storage.cfg /etc/pve/jobs.cfg /etc/pve/replication.cfg 2>/dev/null; true").unwrap()
}

/// The lab inventory with `create_subdirs` on nas-shared, written beside it.
fn inventory_variant(lab: &LabGuard, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(lab.inventory()).unwrap();
    let marker = "id = \"nas-shared\"\n";
    assert!(text.contains(marker), "lab inventory layout changed:\n{text}");
    let text = text.replace(marker, &format!("{marker}create_subdirs = true\n"));
    let path = lab.lab_dir().join(name);
    std::fs::write(&path, edit(text)).unwrap();
    path
}

#[test]
fn configure_storage_in_the_lab() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::default()) else { return };

    // --- 1. set-up: the phases before this one --------------------------------------------
    lab.run_phases(&[("bootstrap-node", &[]), ("bootstrap-qdevice", &[]), ("form-cluster", &[])]);
    let inv = inventory_variant(&lab, "storage.toml", |t| t);
    let cs = |args: &[&str]| run_in(&lab, "configure-storage", &inv, args);

    // --- 2. refusals before any change ----------------------------------------------------
    let outside = inventory_variant(&lab, "outside.toml", |t| {
        assert!(t.contains("target = \"pve-node2\""), "{t}");
        t.replace("target = \"pve-node2\"", "target = \"pve-node9\"")
    });
    let r = run_in(&lab, "configure-storage", &outside, &[]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stderr.contains("replication target `pve-node9` is not a cluster node"), "{}", r.show());

    let before = config_snapshot(&lab);
    let r = cs(&[]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stdout.contains("replication 900-0: guest 900 does not exist; run with --create-test-guest"), "{}", r.show());
    assert!(r.stdout.contains("nothing was changed"), "{}", r.show());
    assert_eq!(config_snapshot(&lab), before, "a refused run changed the cluster config");

    // --- 3. plan, then apply ------------------------------------------------------------------
    let r = cs(&["--create-test-guest", "--check"]);
    assert_eq!(r.code, 2, "{}", r.show());
    for line in [
        "storage nas-backup: add (nfs 10.231.1.25:/volume1/backups/proxmox at /mnt/pve/nas-backup)",
        "$ pvesm add nfs nas-shared --server 10.231.1.25 --export /volume1/homelab-shared",
        "replication 900-0: create (guest 900 on pve-node1 → pve-node2, schedule */5, rate 10 MB/s)",
        "backup weekly-all: create (schedule sun 02:00, storage nas-backup)",
        "test guest 900: create VM 900 on pve-node1",
        "zfs rpool/data: atime on → off; compression on → lz4",
    ] {
        assert!(r.stdout.contains(line), "plan lacks {line:?}:\n{}", r.show());
    }
    assert_eq!(config_snapshot(&lab), before, "--check changed the cluster config");

    let r = cs(&["--create-test-guest"]);
    assert_eq!(r.code, 0, "{}", r.show());
    for node in ["pve-node1", "pve-node2"] {
        let st = json_in(&lab, node, &format!("pvesh get /nodes/{node}/storage --output-format json"));
        for id in ["nas-backup", "nas-shared", "nas-data"] {
            let s = st.as_array().unwrap().iter().find(|s| s["storage"] == id).unwrap_or_else(|| panic!("{node}: no {id}: {st}"));
            assert_eq!(s["active"], 1, "{node}: {id} not active: {s}");
        }
        let z = lab.sh_ok(node, "zfs get -H -o value compression,atime rpool/data").unwrap();
        assert_eq!(z, "lz4\noff\n", "{node}");
        let cron = lab.sh_ok(node, "cat /etc/cron.d/homelab-memcheck").unwrap();
        assert!(cron.contains("*/5 * * * * root /usr/local/bin/homelab-memcheck 90"), "{node}: {cron}");
        lab.sh_ok(node, "test -x /usr/local/bin/homelab-memcheck && /usr/local/bin/homelab-memcheck 100").unwrap();
    }
    let jobs = json_in(&lab, "pve-node2", "pvesh get /cluster/replication --output-format json");
    let job = jobs.as_array().unwrap().iter().find(|j| j["id"] == "900-0").unwrap_or_else(|| panic!("{jobs}"));
    assert_eq!((job["target"].as_str(), job["schedule"].as_str(), job["rate"].as_f64()), (Some("pve-node2"), Some("*/5"), Some(10.0)), "{job}");
    let backup = json_in(&lab, "pve-node2", "pvesh get /cluster/backup/weekly-all --output-format json");
    assert_eq!(backup["prune-backups"]["keep-last"].to_string().trim_matches('"'), "4", "{backup}");
    assert_eq!((backup["schedule"].as_str(), backup["storage"].as_str()), (Some("sun 02:00"), Some("nas-backup")), "{backup}");
    let record = lab.sh_ok("pve-node2", "cat /etc/pve/homelab-iac/managed.json").unwrap();
    assert!(record.contains("\"900-0\""), "{record}");
    lab.sh_ok("pve-node2", "cd /mnt/pve/nas-shared && test -d template/iso && test -d template/cache && test -d snippets").unwrap();
    lab.sh_ok("pve-node1", "qm config 900 | grep -q '^scsi0: local-zfs:vm-900-disk-0'").unwrap();

    // Replication health: a sync (what pvescheduler does every minute on a real node), then the
    // status as configure-storage reports it.
    lab.sh_ok("pve-node1", "pvesr run --id 900-0").unwrap();

    // --- 4. converged: zero changes, one round trip per host ----------------------------------
    let r = cs(&["--json"]);
    assert_eq!(r.code, 0, "{}", r.show());
    let j = r.json();
    assert_eq!(changes(&j), 0, "{j:#}");
    for h in j["hosts"].as_array().unwrap() {
        assert_eq!(h["round_trips"], 1, "{}: {h:#}", h["host"]);
    }
    let n = notes(&j, "pve-node1");
    assert!(n.contains("replication 900-0 → pve-node2: OK, fail count 0, last sync"), "{n}");
    let r = cs(&["--check"]);
    assert_eq!(r.code, 0, "{}", r.show());

    // --- 5. drift by hand → check shows both diffs → apply restores ---------------------------
    lab.sh_ok("pve-node2", "pvesm set nas-shared --options vers=3 && pvesh set /cluster/backup/weekly-all --schedule 'sun 03:00'").unwrap();
    let r = cs(&["--check"]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stdout.contains("storage nas-shared: options vers=3 → (unset)"), "{}", r.show());
    assert!(r.stdout.contains("backup weekly-all: schedule sun 03:00 → sun 02:00"), "{}", r.show());
    let r = cs(&[]);
    assert_eq!(r.code, 0, "{}", r.show());
    let s = json_in(&lab, "pve-node1", "pvesh get /storage/nas-shared --output-format json");
    assert!(s.get("options").is_none(), "{s}");
    let b = json_in(&lab, "pve-node1", "pvesh get /cluster/backup/weekly-all --output-format json");
    assert_eq!(b["schedule"], "sun 02:00", "{b}");
    let r = cs(&["--json"]);
    assert_eq!((r.code, changes(&r.json())), (0, 0), "{}", r.show());

    // --- 6. NAS unreachable: clear error before any change --------------------------------------
    lab.sh_ok("pve-node2", "pvesh set /cluster/backup/weekly-all --schedule 'sun 04:00'").unwrap();
    let before = config_snapshot(&lab);
    lab.fault(Fault::Stop("nas")).unwrap();
    let r = cs(&[]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(
        r.all().contains("NFS server 10.231.1.25 (storage nas-backup, nas-shared, nas-data) is unreachable from pve-node1"),
        "{}",
        r.show()
    );
    assert!(r.all().contains("nothing was changed"), "{}", r.show());
    assert_eq!(config_snapshot(&lab), before, "the backup schedule must stay as it was");
    lab.fault(Fault::Start("nas")).unwrap();
    lab.wait_until("pve-node1", "pvesm scan nfs 10.231.1.25", "the NAS answering", |o| o.contains("/volume1/homelab-data"));
    let r = cs(&[]);
    assert_eq!(r.code, 0, "{}", r.show());

    // --- 7. a job dropped from the inventory: removed only because this tool created it -------
    lab.sh_ok("pve-node1", "qm create 901 --name by-hand --memory 512 --scsi0 local-zfs:1 && pvesr create-local-job 901-0 pve-node2 --schedule '*/30'").unwrap();
    let dropped = inventory_variant(&lab, "no-replication.toml", |t| {
        let start = t.find("[[replication]]").expect("lab inventory has a replication job");
        let end = t[start..].find("\n\n").map(|i| start + i + 2).unwrap_or(t.len());
        format!("{}{}", &t[..start], &t[end..])
    });
    let r = run_in(&lab, "configure-storage", &dropped, &["--check"]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stdout.contains("replication cleanup: remove replication job 900-0 (created by configure-storage, no longer in the inventory"), "{}", r.show());
    assert!(!r.stdout.contains("901-0"), "a hand-made job must not be touched:\n{}", r.show());
    let r = run_in(&lab, "configure-storage", &dropped, &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    let jobs = json_in(&lab, "pve-node1", "pvesh get /cluster/replication --output-format json");
    let by_id = |id: &str| jobs.as_array().unwrap().iter().find(|j| j["id"] == id).cloned();
    assert!(by_id("900-0").is_none_or(|j| j.get("remove_job").is_some()), "900-0 should be going: {jobs}");
    assert!(by_id("901-0").is_some_and(|j| j.get("remove_job").is_none()), "901-0 must stay: {jobs}");
    let r = run_in(&lab, "configure-storage", &dropped, &["--json"]);
    assert_eq!((r.code, changes(&r.json())), (0, 0), "{}", r.show());
    lab.sh_ok("pve-node1", "qm list | grep -q ' 900 '").expect("the test guest is never destroyed");

    // --- 8. no quorum: clear error, nothing changed -------------------------------------------
    lab.sh_ok("qdevice1", "systemctl stop corosync-qnetd").unwrap();
    lab.fault(Fault::Stop("pve-node2")).unwrap();
    lab.wait_until("pve-node1", "pvecm status", "pve-node1 inquorate", |o| o.contains("Quorate:          No"));
    let before = config_snapshot(&lab);
    let r = run_in(&lab, "configure-storage", &dropped, &["--node", "pve-node1"]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.all().contains("the cluster filesystem is read-only without quorum"), "{}", r.show());
    assert_eq!(config_snapshot(&lab), before);

    lab.down().unwrap();
}
