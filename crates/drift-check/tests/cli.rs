//! The drift-check binary without a lab: hosts that refuse connections (loopback addresses,
//! a port nothing listens on) are named and make the run exit 1; the batched script holds
//! every phase's probes; bad flags are refused; the timer installs idempotently under
//! `DRIFT_CHECK_TIMER_ROOT`.

#[path = "support/promtext.rs"]
mod promtext;

use common::inventory::testing::LabInventory;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The shared lab fixture on loopback addresses. Nothing listens on port 1 of them: every
/// connection is refused at once.
fn inventory() -> String {
    LabInventory::on_networks("127.0.10", "127.0.1")
        .with("automation", r#"identity_file = "id_lab""#)
        .with("automation", r#"known_hosts = "known_hosts""#)
        .with("automation", "ssh_port = 1")
        .with("automation", "connect_timeout_secs = 2")
        .with("defaults", r#"packages = ["rsync"]"#)
        .append(STORAGE)
        .toml()
}

const STORAGE: &str = r#"
[[storage.nfs]]
id = "nas-data"
server = "127.0.1.25"
export = "/volume1/homelab-data"
content = ["images", "rootdir", "backup"]

[[backup]]
id = "weekly-all"
storage = "nas-data"
schedule = "sun 02:00"
all = true
"#;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_drift-check"))
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let inv = d.path().join("homelab.toml");
    std::fs::write(&inv, inventory()).unwrap();
    std::fs::write(d.path().join("known_hosts"), "").unwrap();
    (d, inv)
}

fn run(inv: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(bin());
    c.arg("-i").arg(inv).args(args).stdin(Stdio::null()).env_remove("HOMELAB_INVENTORY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!("exit {:?}\n--- stdout\n{}--- stderr\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn unreachable_hosts_are_named_and_exit_1() {
    let (d, inv) = setup();
    let prom = d.path().join("m.prom");
    let o = run(&inv, &["--prometheus", prom.to_str().unwrap()], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    for h in ["pve-node1 (127.0.10.11): NOT CHECKED", "pve-node2 (127.0.10.12): NOT CHECKED", "qdevice1 (127.0.10.5): NOT CHECKED"] {
        assert!(out.contains(h), "{}", text(&o));
    }
    assert!(out.contains("connection refused"), "{}", text(&o));
    assert!(out.contains("and over link1"), "nodes are tried on link1 too:\n{}", text(&o));
    assert!(out.ends_with("NOT CHECKED: pve-node1, pve-node2, qdevice1 → exit 1\n"), "{}", text(&o));

    let m = promtext::parse(&std::fs::read_to_string(&prom).unwrap()).unwrap();
    assert_eq!(m.value("homelab_host_reachable", &[("host", "qdevice1")]), Some(0.0));
    assert_eq!(m.value("homelab_drift_check_exit_code", &[]), Some(1.0));
    assert!(m.family("homelab_drift_items").is_empty(), "no drift numbers for hosts not checked");

    let o = run(&inv, &["--json", "--node", "qdevice1"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["hosts"].as_array().unwrap().len(), 1);
    assert_eq!(j["hosts"][0]["host"], "qdevice1");
    assert_eq!(j["hosts"][0]["reachable"], false);
    assert!(j["hosts"][0]["error"].as_str().unwrap().contains("qdevice1 (127.0.10.5:1): connection refused"), "{j:#}");
    assert_eq!(j["totals"]["unreachable"], 1);
    assert_eq!(j["exit"], 1);

    // A host no selected phase looks at is not contacted (nor reported).
    let o = run(&inv, &["--json", "--phase", "configure-storage"], &[]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let hosts: Vec<&str> = j["hosts"].as_array().unwrap().iter().map(|h| h["host"].as_str().unwrap()).collect();
    assert_eq!(hosts, ["pve-node1", "pve-node2"]);
}

#[test]
fn the_batched_script_holds_every_phase() {
    let (_d, inv) = setup();
    let o = run(&inv, &["--print-script", "pve-node1"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    for probe in [
        "# probe 0: bootstrap-node: ",
        ": bootstrap-node: sshd /etc/ssh/sshd_config.d/00-homelab-iac.conf",
        ": bootstrap-node: file /home/homelab/.ssh/authorized_keys",
        ": form-cluster: fc:pvecm-status",
        ": form-cluster: fc:cfgtool",
        ": configure-storage: fact cluster-status",
        ": configure-storage: fact storage",
        ": configure-storage: fact nfs-scan 127.0.1.25",
        ": configure-storage: drift backup-list",
    ] {
        assert!(s.contains(probe), "{probe} missing from:\n{}", s.lines().filter(|l| l.starts_with("# probe")).collect::<Vec<_>>().join("\n"));
    }
    // Every snippet once: configure-storage's `pvesh get /storage` serves the storage
    // resources and the unmanaged-storage listing alike.
    assert_eq!(s.matches("pvesh get /storage --output-format json").count(), 1, "{s}");
    let o = run(&inv, &["--print-script", "qdevice1"], &[]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains(": bootstrap-qdevice: absent /var/lib/homelab-iac/qdevice-root-window"), "{s}");
    assert!(s.contains(": form-cluster: fc:qnetd-status"), "{s}");
    assert!(!s.contains("configure-storage"), "{s}");
    // --phase narrows it.
    let o = run(&inv, &["--print-script", "pve-node2", "--phase", "bootstrap-node"], &[]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("bootstrap-node") && !s.contains("form-cluster") && !s.contains("configure-storage"), "{s}");
}

#[test]
fn bad_flags_are_refused_before_any_connection() {
    let (_d, inv) = setup();
    let o = run(&inv, &["--phase", "nope"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--phase nope: unknown phase (phases: bootstrap-node, bootstrap-qdevice, form-cluster, configure-storage)"), "{}", text(&o));
    let o = run(&inv, &["--node", "pve-node9"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--node pve-node9: no such host"), "{}", text(&o));
    let o = run(&inv, &["--validate"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&inv, &["--interval", "7x", "--install-timer"], &[]);
    assert_eq!(o.status.code(), Some(2), "clap usage error: {}", text(&o));
}

#[test]
fn timer_install_is_idempotent_and_uninstalls() {
    let (d, inv) = setup();
    let root = d.path().join("root");
    let env = [("DRIFT_CHECK_TIMER_ROOT", root.as_path())];
    let prom = d.path().join("homelab.prom");
    let o = run(&inv, &["--install-timer", "--interval", "30m", "--prometheus", prom.to_str().unwrap()], &env);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let cron = root.join("etc/cron.d/homelab-drift-check");
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("wrote {}", cron.display())), "{}", text(&o));
    let entry = std::fs::read_to_string(&cron).unwrap();
    let line = entry.lines().last().unwrap();
    assert!(line.starts_with("*/30 * * * * root "), "{entry}");
    assert!(line.contains(&format!("-i {}", inv.display())) && line.contains(&format!("--prometheus {}", prom.display())), "{entry}");
    let o = run(&inv, &["--install-timer", "--interval", "30m", "--prometheus", prom.to_str().unwrap()], &env);
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{} unchanged\n", cron.display()));
    let o = run(&inv, &["--uninstall-timer"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!cron.exists());
    // With systemd as PID 1 (as the marker directory says), units instead of cron.
    std::fs::create_dir_all(root.join("run/systemd/system")).unwrap();
    let o = run(&inv, &["--install-timer"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let timer = std::fs::read_to_string(root.join("etc/systemd/system/homelab-drift-check.timer")).unwrap();
    assert!(timer.contains("OnUnitActiveSec=15min"), "{timer}");
    let svc = std::fs::read_to_string(root.join("etc/systemd/system/homelab-drift-check.service")).unwrap();
    assert!(svc.contains(&format!(" -i {}", inv.display())), "{svc}");
}
