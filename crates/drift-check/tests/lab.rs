//! drift-check in the lab (issue 9 "Tests"). One lab, one sequence (the lab is the expensive
//! part), every injection reverted before the next, with its own asserts:
//!
//!  1. set-up with the phases' own binaries: bootstrap-node, bootstrap-qdevice, form-cluster,
//!     configure-storage --create-test-guest;
//!  2. the converged lab: exit 0, no drift, healthy, at most 2 round trips per host (connect +
//!     one observation), `--prometheus` parses as strict Prometheus text with 3 votes and both
//!     links up, `--markdown` appends a summary; the SSH floor (the same batched scripts, one
//!     parallel `ssh … sudo sh -s` per host) is measured beside it and printed (no timed assert);
//!  3. drift injection, each detected in its bucket with exit 2, then reverted:
//!     the sshd drop-in edited on a node (different, with the diff); a stray authorized key
//!     (unmanaged); an NFS storage deleted (missing); an undeclared backup job (unmanaged); a
//!     replication rate changed (different, field-level); a temporary root key left on the Pi
//!     (unmanaged root-key window); link1 down (health, exit 2, link metric 0);
//!  4. clean again (exit 0): every revert really reverted;
//!  5. the Pi stopped: exit 1 naming it, the other hosts still checked.

#[path = "support/promtext.rs"]
mod promtext;

use lab::testing::{Fault, LabGuard, LabOptions, ToolRun};
use lab::topology::Link;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run_in(lab: &LabGuard, tool: &str, inventory: &Path, args: &[&str]) -> ToolRun {
    let r = lab.run_tool(tool, inventory, args);
    eprintln!("TIMING {tool} {}: {:.3} s (exit {})", args.join(" "), r.secs, r.code);
    r
}

fn dc(lab: &LabGuard, args: &[&str]) -> ToolRun {
    run_in(lab, "drift-check", &lab.inventory(), args)
}

/// `drift-check --json`, parsed, with its exit code checked against the JSON's.
fn dc_json(lab: &LabGuard) -> (i32, Value) {
    let r = dc(lab, &["--json"]);
    let j = r.json();
    assert_eq!(j["exit"].as_i64(), Some(r.code as i64), "{}", r.show());
    (r.code, j)
}

fn sh(lab: &LabGuard, host: &str, script: &str) -> String {
    lab.sh_ok(host, script).unwrap_or_else(|e| panic!("{e:#}"))
}

fn host<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["hosts"].as_array().unwrap().iter().find(|h| h["host"] == name).unwrap_or_else(|| panic!("no host {name} in {j:#}"))
}

/// Every drift item of the run, for messages.
fn all_drift(j: &Value) -> String {
    let mut s = String::new();
    for h in j["hosts"].as_array().unwrap() {
        for d in h["drift"].as_array().unwrap() {
            s.push_str(&format!("{}: {} {}: {}\n", h["host"], d["bucket"], d["resource"], d["summary"]));
        }
        for c in h["health"]["checks"].as_array().unwrap().iter().filter(|c| c["level"] != "ok") {
            s.push_str(&format!("{}: health {} {}: {}\n", h["host"], c["level"], c["check"], c["message"]));
        }
        if !h["error"].is_null() {
            s.push_str(&format!("{}: error {}\n", h["host"], h["error"]));
        }
    }
    s
}

/// Exactly one drift item in the whole run, in `bucket` on `host`, about `resource`; returns it.
fn only_item<'a>(j: &'a Value, host_name: &str, bucket: &str, resource: impl Fn(&str) -> bool) -> &'a Value {
    assert_eq!(j["exit"], 2, "{}", all_drift(j));
    let total = j["totals"]["missing"].as_u64().unwrap() + j["totals"]["different"].as_u64().unwrap() + j["totals"]["unmanaged"].as_u64().unwrap();
    assert_eq!(total, 1, "exactly one drift item expected:\n{}", all_drift(j));
    let item = host(j, host_name)["drift"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| resource(d["resource"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("no matching item on {host_name}:\n{}", all_drift(j)));
    assert_eq!(item["bucket"], bucket, "{}", all_drift(j));
    item
}

/// Poll `drift-check --json` until `ok` holds (corosync needs a moment to notice a link) —
/// never a fixed sleep; panics with the last report on timeout.
fn dc_until(lab: &LabGuard, what: &str, ok: impl Fn(i32, &Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (code, j) = dc_json(lab);
        if ok(code, &j) {
            return j;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; last report (exit {code}):\n{}", all_drift(&j));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn assert_clean(j: &Value) {
    assert_eq!(j["exit"], 0, "not clean:\n{}", all_drift(j));
    for h in j["hosts"].as_array().unwrap() {
        assert_eq!(h["reachable"], true, "{h}");
        assert!(h["drift"].as_array().unwrap().is_empty(), "{h}");
        assert_eq!(h["health"]["ok"], true, "{h}");
    }
}

/// The SSH floor of issue 9 measured in this run: drift-check's own batched script per host
/// (`--print-script`), sent with one `ssh … sudo -n sh -s` per host, all hosts in parallel,
/// as the automation user with the lab key and pins. Returns the wall time.
fn ssh_floor(lab: &LabGuard, hosts: &[(&str, &str)]) -> Duration {
    let scripts: Vec<(String, String)> = hosts
        .iter()
        .map(|(name, addr)| {
            let r = dc(lab, &["--print-script", name]);
            assert_eq!(r.code, 0, "{}", r.show());
            (addr.to_string(), r.stdout)
        })
        .collect();
    let started = Instant::now();
    let children: Vec<_> = scripts
        .iter()
        .map(|(addr, script)| {
            let mut c = Command::new("ssh")
                // curve25519 like libssh2 (OpenSSH's default sntrup761 hybrid costs ~90 ms more
                // per handshake here, ansible-baseline.md (i')): a floor that is not inflated.
                .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "KexAlgorithms=curve25519-sha256", "-o"])
                .arg(format!("UserKnownHostsFile={}", lab.known_hosts().display()))
                .arg("-i")
                .arg(lab.identity_file())
                .arg(format!("homelab@{addr}"))
                .arg("sudo -n -- sh -s")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            c.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
            c
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "floor ssh failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    started.elapsed()
}

#[test]
fn drift_check_in_the_lab() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::default()) else { return };

    // --- 1. set-up: every phase, with its own binary ---------------------------------------
    lab.run_phases(&[
        ("bootstrap-node", &[]),
        ("bootstrap-qdevice", &[]),
        ("form-cluster", &[]),
        ("configure-storage", &["--create-test-guest"]),
    ]);

    // --- 2. converged: clean, ≤ 2 round trips per host, metrics parse ---------------------
    // (the first replication sync and the NFS mounts settle right after configure-storage)
    let j = dc_until(&lab, "a clean report after the phases", |code, _| code == 0);
    assert_clean(&j);
    for h in j["hosts"].as_array().unwrap() {
        let trips = h["round_trips"].as_u64().unwrap();
        assert!(trips <= 2, "{}: {trips} round trips (want connect + 1 observation)", h["host"]);
        assert_eq!(trips, 2, "{}", h["host"]);
    }
    let prom = lab.lab_dir().join("homelab.prom");
    let md = lab.lab_dir().join("summary.md");
    let r = dc(&lab, &["-v", "--prometheus", prom.to_str().unwrap(), "--markdown", md.to_str().unwrap()]);
    eprintln!("{}", r.stdout);
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.stdout.contains("pve-node1 (10.231.10.11): in state; health ok"), "{}", r.show());
    assert!(r.stdout.contains("2 round trips (connect + 1 observation"), "{}", r.show());
    assert!(r.stdout.ends_with("→ exit 0\n"), "{}", r.show());
    let text = std::fs::read_to_string(&prom).unwrap();
    let m = promtext::parse(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
    for n in ["pve-node1", "pve-node2"] {
        assert_eq!(m.value("homelab_cluster_quorate", &[("host", n)]), Some(1.0), "{text}");
        assert_eq!(m.value("homelab_cluster_votes_total", &[("host", n)]), Some(3.0), "{text}");
        assert_eq!(m.value("homelab_cluster_votes_expected", &[("host", n)]), Some(3.0), "{text}");
        for l in ["0", "1"] {
            assert_eq!(m.value("homelab_corosync_link_up", &[("host", n), ("link", l)]), Some(1.0), "{text}");
        }
    }
    for n in ["pve-node1", "pve-node2", "qdevice1"] {
        assert_eq!(m.value("homelab_host_reachable", &[("host", n)]), Some(1.0), "{text}");
        for b in ["missing", "different", "unmanaged"] {
            assert_eq!(m.value("homelab_drift_items", &[("host", n), ("bucket", b)]), Some(0.0), "{text}");
        }
    }
    assert_eq!(m.value("homelab_drift_check_exit_code", &[]), Some(0.0));
    let ts = m.value("homelab_drift_last_run_timestamp_seconds", &[]).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(ts <= now && ts > now - 600.0, "timestamp {ts} vs now {now}");
    let summary = std::fs::read_to_string(&md).unwrap();
    assert!(summary.starts_with("## drift-check: clean (exit 0)"), "{summary}");

    // Round trips and the floor, for the record (issue 9 performance; benchmarks measure it).
    let hosts = [("pve-node1", "10.231.10.11"), ("pve-node2", "10.231.10.12"), ("qdevice1", "10.231.10.5")];
    for _ in 0..3 {
        let floor = ssh_floor(&lab, &hosts);
        let started = Instant::now();
        let r = dc(&lab, &["-q"]);
        let ours = started.elapsed();
        assert_eq!(r.code, 0, "{}", r.show());
        eprintln!(
            "FLOOR parallel batched ssh (same scripts): {:.3} s; drift-check: {:.3} s; ratio {:.2}",
            floor.as_secs_f64(),
            ours.as_secs_f64(),
            ours.as_secs_f64() / floor.as_secs_f64()
        );
    }

    // --- 3. drift injection ----------------------------------------------------------------
    // (a) the sshd drop-in edited on a node → different, with the diff.
    let dropin = "/etc/ssh/sshd_config.d/00-homelab-iac.conf";
    let original = sh(&lab, "pve-node2", &format!("cat {dropin}"));
    assert!(original.contains("MaxAuthTries 3"), "{original}");
    sh(&lab, "pve-node2", &format!("sed -i 's/^MaxAuthTries 3$/MaxAuthTries 6/' {dropin}"));
    let (code, j) = dc_json(&lab);
    assert_eq!(code, 2);
    let item = only_item(&j, "pve-node2", "different", |r| r == format!("sshd {dropin}"));
    assert_eq!(item["summary"], "content differs");
    assert_eq!(item["phase"], "bootstrap-node");
    let diff = item["diff"].as_str().unwrap();
    assert!(diff.contains("-MaxAuthTries 6") && diff.contains("+MaxAuthTries 3"), "{diff}");
    sh(&lab, "pve-node2", &format!("sed -i 's/^MaxAuthTries 6$/MaxAuthTries 3/' {dropin}"));
    assert_eq!(sh(&lab, "pve-node2", &format!("cat {dropin}")), original);

    // (b) a stray authorized key for the automation user → unmanaged, named by its comment.
    let ak = "/home/homelab/.ssh/authorized_keys";
    let stray = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK4oRhvqnlWeatUYARzjd5oVh6cTXPvXiWMU5A5cGFNv stray@elsewhere";
    sh(&lab, "pve-node1", &format!("cp -p {ak} /root/ak.orig && echo '{stray}' >> {ak}"));
    let (_, j) = dc_json(&lab);
    let item = only_item(&j, "pve-node1", "unmanaged", |r| r.starts_with("authorized key "));
    assert!(item["resource"].as_str().unwrap().ends_with("stray@elsewhere"), "{item}");
    assert!(item["summary"].as_str().unwrap().contains("not in the inventory"), "{item}");
    sh(&lab, "pve-node1", &format!("cp -p /root/ak.orig {ak} && rm /root/ak.orig"));

    // (c) an NFS storage deleted → missing (on the master, where cluster objects are read).
    sh(&lab, "pve-node1", "pvesm remove nas-data");
    let (_, j) = dc_json(&lab);
    let item = only_item(&j, "pve-node1", "missing", |r| r == "storage nas-data");
    assert_eq!(item["phase"], "configure-storage");
    assert!(item["summary"].as_str().unwrap().starts_with("add (nfs 10.231.1.25:/volume1/homelab-data"), "{item}");
    let r = run_in(&lab, "configure-storage", &lab.inventory(), &[]);
    assert_eq!(r.code, 0, "restoring nas-data: {}", r.show());

    // (d) a backup job nobody declared → unmanaged.
    sh(&lab, "pve-node1", "pvesh create /cluster/backup --id stray-nightly --schedule 03:00 --storage local --vmid 900");
    let (_, j) = dc_json(&lab);
    let item = only_item(&j, "pve-node1", "unmanaged", |r| r == "backup stray-nightly");
    assert!(item["summary"].as_str().unwrap().contains("not in the inventory ([[backup]])"), "{item}");
    sh(&lab, "pve-node1", "pvesh delete /cluster/backup/stray-nightly");

    // (e) the replication rate changed → different, field-level.
    sh(&lab, "pve-node1", "pvesr update 900-0 --rate 5");
    let (_, j) = dc_json(&lab);
    let item = only_item(&j, "pve-node1", "different", |r| r == "replication 900-0");
    assert_eq!(item["summary"], "rate 5 → 10", "{item}");
    assert!(item["diff"].as_str().unwrap().starts_with("rate: 5 → 10\nfix:\n$ pvesr update 900-0"), "{item}");
    sh(&lab, "pve-node1", "pvesr update 900-0 --rate 10");

    // (f) a temporary root key left on the Pi → an unmanaged, open root-key window.
    let root_ak = "/root/.ssh/authorized_keys";
    let tagged = "from=\"10.231.10.11\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9 homelab-iac-temporary-root";
    sh(&lab, "qdevice1", &format!("mkdir -p /root/.ssh && touch {root_ak} && cp -p {root_ak} /root/rak.orig && echo '{tagged}' >> {root_ak}"));
    let (_, j) = dc_json(&lab);
    let item = only_item(&j, "qdevice1", "unmanaged", |r| r == format!("file {root_ak}"));
    assert!(item["summary"].as_str().unwrap().starts_with("root-key window open"), "{item}");
    assert_eq!(item["phase"], "bootstrap-qdevice");
    sh(&lab, "qdevice1", &format!("cp -p /root/rak.orig {root_ak} && rm /root/rak.orig"));

    // (g) link1 down → health degraded on both nodes, exit 2, link metric 0.
    lab.fault(Fault::LinkDown("pve-node2", Link::Link1)).unwrap();
    let j = dc_until(&lab, "link1 reported down", |_, j| host(j, "pve-node1")["health"]["links"]["1"] == false);
    assert_eq!(j["exit"], 2, "{}", all_drift(&j));
    assert_eq!(j["totals"]["missing"].as_u64().unwrap() + j["totals"]["different"].as_u64().unwrap() + j["totals"]["unmanaged"].as_u64().unwrap(), 0, "{}", all_drift(&j));
    let checks = host(&j, "pve-node1")["health"]["checks"].as_array().unwrap().clone();
    let l1 = checks.iter().find(|c| c["check"] == "link1").unwrap();
    assert_eq!(l1["level"], "degraded", "{l1}");
    assert!(l1["message"].as_str().unwrap().contains("pve-node2"), "{l1}");
    assert_eq!(host(&j, "pve-node1")["health"]["links"]["0"], true);
    assert_eq!(host(&j, "pve-node1")["health"]["quorate"], true);
    let r = dc(&lab, &["--prometheus", prom.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stdout.contains("health degraded: link1"), "{}", r.show());
    let m = promtext::parse(&std::fs::read_to_string(&prom).unwrap()).unwrap();
    assert_eq!(m.value("homelab_corosync_link_up", &[("host", "pve-node1"), ("link", "1")]), Some(0.0));
    assert_eq!(m.value("homelab_health_ok", &[("host", "pve-node1")]), Some(0.0));
    lab.fault(Fault::LinkUp("pve-node2", Link::Link1)).unwrap();

    // --- 4. every revert really reverted: clean again ---------------------------------------
    let j = dc_until(&lab, "a clean report after the reverts", |code, _| code == 0);
    assert_clean(&j);

    // --- 5. the Pi unreachable → exit 1 naming it; the nodes are still checked -------------
    lab.fault(Fault::Stop("qdevice1")).unwrap();
    let r = dc(&lab, &[]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stdout.contains("qdevice1 (10.231.10.5): NOT CHECKED"), "{}", r.show());
    assert!(r.stdout.contains("NOT CHECKED: qdevice1 → exit 1"), "{}", r.show());
    let (code, j) = dc_json(&lab);
    assert_eq!(code, 1);
    assert_eq!(host(&j, "qdevice1")["reachable"], false);
    assert!(host(&j, "qdevice1")["error"].as_str().unwrap().contains("qdevice1"), "{j:#}");
    assert_eq!(host(&j, "pve-node1")["reachable"], true);
    assert!(host(&j, "pve-node1")["error"].is_null(), "{j:#}");
    assert_eq!(j["totals"]["unreachable"], 1);

    lab.down().unwrap();
}
