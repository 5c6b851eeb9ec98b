//! Conformance of the simulator's output with the layouts in pve-cli.md (fixtures in
//! tests/fixtures, copied from the digest). Two kinds of checks, neither needs a lab:
//! - pure renderers (pvecm status header, pvesm status, pvesr list/status);
//! - the real binary run against a temporary root (`PVE_SIM_ROOT`): files it writes
//!   (storage.cfg, jobs.cfg, replication.cfg), JSON it prints, error strings and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pve_formats::corosync::CorosyncConf;
use pve_sim::render::{self, ReplListRow, ReplStatusRow, StorageStatus};

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

// ------------------------------------------------------------------ renderers

#[test]
fn pvecm_status_header_matches_fixture() {
    let conf = CorosyncConf::parse(&fixture("corosync.conf")).unwrap();
    let header = render::pvecm_status_header(&conf);
    let full = fixture("pvecm-status-qdevice.txt");
    assert!(full.starts_with(&header), "header:\n{header}\nfixture:\n{full}");
    // The remainder is corosync-quorumtool's own output, starting with its first block.
    assert!(full[header.len()..].starts_with("Quorum information\n------------------\n"));
}

#[test]
fn pvecm_status_header_defaults() {
    let conf = CorosyncConf::parse("totem {\n version: 2\n}\n").unwrap();
    let h = render::pvecm_status_header(&conf);
    assert_eq!(
        h,
        "Cluster information\n-------------------\nName:             UNKOWN?\nConfig Version:   -1\nTransport:        knet\nSecure auth:      off\n\n"
    );
}

fn kib(n: u64) -> u64 {
    n * 1024
}

#[test]
fn pvesm_status_matches_fixture() {
    let row = |id: &str, t: &str, enabled: bool, active: bool, total: u64, used: u64, avail: u64| StorageStatus {
        storage: id.into(),
        storage_type: t.into(),
        enabled,
        active,
        total: kib(total),
        used: kib(used),
        avail: kib(avail),
    };
    // Unsorted on purpose: the printer sorts by id.
    let rows = vec![
        row("nas2", "nfs", true, false, 0, 0, 0),
        row("local", "dir", true, true, 98497780, 10485760, 82964596),
        row("old", "dir", false, false, 0, 0, 0),
        row("local-lvm", "lvmthin", true, true, 1844448544, 36888970, 1807559573),
        row("nas1", "nfs", true, true, 4294967296, 1073741824, 3221225472),
    ];
    assert_eq!(render::pvesm_status(&rows), fixture("pvesm-status.txt"));
}

#[test]
fn pvesr_list_matches_fixture() {
    let rows = vec![
        ReplListRow { id: "101-0".into(), guest: 101, target: "pve2".into(), schedule: Some("*/5".into()), rate: Some("10".into()), enabled: false },
        ReplListRow { id: "100-0".into(), guest: 100, target: "pve2".into(), schedule: None, rate: None, enabled: true },
    ];
    assert_eq!(render::pvesr_list(&rows), fixture("pvesr-list.txt"));
}

#[test]
fn pvesr_status_matches_fixture() {
    std::env::set_var("TZ", "UTC");
    // 2025-09-01 12:00:01 UTC
    let t0 = 1_756_728_001;
    let rows = vec![
        ReplStatusRow {
            id: "100-0".into(),
            guest: 100,
            enabled: true,
            target: "pve2".into(),
            last_sync: Some(t0),
            next_sync: Some(t0 + 899),
            duration: Some(2.873421),
            fail_count: 0,
            syncing: false,
            error: None,
        },
        ReplStatusRow {
            id: "101-0".into(),
            guest: 101,
            enabled: false,
            target: "pve2".into(),
            last_sync: None,
            next_sync: Some(t0 - 60),
            duration: None,
            fail_count: 3,
            syncing: false,
            error: Some("command 'zfs snapshot ...' failed: exit code 1".into()),
        },
    ];
    assert_eq!(render::pvesr_status(&rows, t0 + 10), fixture("pvesr-status.txt"));
}

// ------------------------------------------------------------------ the binary on a temp root

struct Root {
    dir: PathBuf,
    host: String,
}

impl Root {
    /// A fresh PVE image (lab-init) in a temporary directory.
    fn pve(tag: &str, host: &str) -> Root {
        let dir = std::env::temp_dir().join(format!("pve-sim-conf-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("var/lib/pve-sim-backplane")).unwrap();
        std::fs::create_dir_all(dir.join("etc/ssh")).unwrap();
        std::fs::write(dir.join("etc/ssh/sshd_config"), "Include /etc/ssh/sshd_config.d/*.conf\n").unwrap();
        let r = Root { dir, host: host.into() };
        let out = r.run(&["lab-init", "--role", "pve", "--hostname", host, "--domain", "lab.home.arpa", "--mgmt-ip", "10.10.10.1", "--prod-ip", "10.20.20.1"]);
        assert!(out.status.success(), "lab-init: {}", String::from_utf8_lossy(&out.stderr));
        r
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pve-sim"))
            .args(args)
            .env("PVE_SIM_ROOT", &self.dir)
            .env("PVE_SIM_HOSTNAME", &self.host)
            .env("TZ", "UTC")
            .output()
            .expect("run pve-sim")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run, expect failure with exactly `stderr`.
    fn fails(&self, args: &[&str], stderr: &str) {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} unexpectedly succeeded");
        assert_eq!(String::from_utf8_lossy(&out.stderr), stderr, "{args:?}");
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.join(path.trim_start_matches('/'))).unwrap()
    }

    fn write(&self, path: &str, content: &str) {
        let p = self.dir.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const FRESH_STORAGE: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: local-zfs\n\tpool rpool/data\n\tcontent images,rootdir\n\tsparse 1\n\n";

#[test]
fn storage_cfg_after_pvesm_add_nfs() {
    let r = Root::pve("nfs", "pve1");
    assert_eq!(r.read("/etc/pve/storage.cfg"), FRESH_STORAGE);
    r.write("/var/lib/pve-sim-backplane/nas-exports", "/export/pve 10.0.0.0/8\n");
    let out = r.ok(&["pvesm", "add", "nfs", "nas1", "--server", "10.0.0.10", "--export", "/export/pve", "--content", "images,backup", "--options", "vers=4.2"]);
    assert_eq!(out, "", "pvesm add prints nothing on success (pve-cli.md §4.2)");
    assert_eq!(r.read("/etc/pve/storage.cfg"), format!("{FRESH_STORAGE}{}", fixture("storage-nfs.cfg")));
    // §4.2/§4.3 errors, verbatim.
    r.fails(
        &["pvesm", "add", "nfs", "nas1", "--server", "10.0.0.10", "--export", "/export/pve"],
        "create storage failed: storage ID 'nas1' already defined\n",
    );
    r.fails(&["pvesm", "set", "nas1", "--server", "10.0.0.11"], "Unknown option: server\n400 unable to parse option\nUSAGE: pvesm set <storage> [OPTIONS]\n");
    r.fails(&["pvesm", "set", "nope", "--content", "backup"], "update storage failed: storage 'nope' does not exist\n");
    // Not written when the NAS does not export the path.
    r.fails(
        &["pvesm", "add", "nfs", "nas2", "--server", "10.0.0.10", "--export", "/export/other"],
        "create storage failed: mount error: mount.nfs: access denied by server while mounting 10.0.0.10:/export/other\n",
    );
    assert!(!r.read("/etc/pve/storage.cfg").contains("nas2"));
    // JSON (§4.4): one line, sorted keys, shared=1 for nfs, digest = SHA1 of the file.
    let json = r.ok(&["pvesh", "get", "/storage/nas1", "--output-format", "json"]);
    assert!(json.ends_with("}\n") && json.matches('\n').count() == 1, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["shared"], 1);
    assert_eq!(v["type"], "nfs");
    assert_eq!(v["digest"].as_str().unwrap().len(), 40);
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // pvesm status lists it as an active nfs storage.
    let st = r.ok(&["pvesm", "status"]);
    assert!(st.lines().any(|l| l.starts_with("nas1 ") && l.contains(" nfs ") && l.contains(" active ")), "{st}");
}

#[test]
fn jobs_cfg_and_backup_json() {
    let r = Root::pve("jobs", "pve1");
    let out = r.ok(&[
        "pvesh", "create", "/cluster/backup", "--id", "backup-nightly", "--schedule", "21:00", "--all", "1", "--storage", "nas1", "--mode",
        "snapshot", "--compress", "zstd", "--prune-backups", "keep-last=3,keep-daily=7", "--notification-mode", "notification-system",
        "--comment", "Nightly",
    ]);
    assert_eq!(out, "", "null-returning create prints nothing (pve-cli.md §1.3)");
    assert_eq!(r.read("/etc/pve/jobs.cfg"), fixture("jobs.cfg"));
    let got: serde_json::Value = serde_json::from_str(&r.ok(&["pvesh", "get", "/cluster/backup", "--output-format", "json"])).unwrap();
    let mut want: serde_json::Value = serde_json::from_str(&fixture("cluster-backup.json")).unwrap();
    assert!(got[0]["next-run"].is_i64(), "next-run is an epoch number");
    want[0]["next-run"] = got[0]["next-run"].clone();
    assert_eq!(got, want);
    r.fails(&["pvesh", "create", "/cluster/backup", "--id", "backup-nightly", "--schedule", "21:00", "--all", "1"], "Job 'backup-nightly' already exists\n");
    r.fails(
        &["pvesh", "get", "/cluster/backup/nope"],
        "400 Parameter verification failed.\nid: No such job 'nope'\n\nUSAGE: pvesh get <api_path> [OPTIONS] [FORMAT_OPTIONS]\n",
    );
}

#[test]
fn replication_cfg_layouts() {
    let r = Root::pve("repl", "pve1");
    // A two-node cluster config and two guests with a disk on local-zfs.
    r.write("/etc/pve/corosync.conf", &fixture("corosync.conf"));
    for vmid in ["100", "101"] {
        r.ok(&["qm", "create", vmid, "--scsi0", "local-zfs:1"]);
    }
    r.ok(&["pvesr", "create-local-job", "100-0", "pve2", "--rate", "10", "--schedule", "*/5", "--source", "pve1"]);
    assert_eq!(r.read("/etc/pve/replication.cfg"), fixture("replication.cfg"));
    r.ok(&["pvesr", "create-local-job", "101-0", "pve2", "--schedule", "*/5", "--source", "pve1", "--disable", "1"]);
    assert_eq!(r.read("/etc/pve/replication.cfg"), format!("{}{}", fixture("replication.cfg"), fixture("replication-disabled.cfg")));
    // §5.1 errors.
    r.fails(&["pvesr", "create-local-job", "100-0", "pve2"], "replication job '100-0' already exists\n");
    r.fails(&["pvesr", "create-local-job", "100-1", "pve2"], "replication job for guest '100' to target 'local/pve2' already exists\n");
    r.fails(&["pvesr", "create-local-job", "102-0", "pve2"], "Guest '102' does not exist.\n");
    r.fails(&["pvesr", "create-local-job", "100-2", "pve9"], "Target 'pve9' does not exist.\n");
    r.fails(&["pvesr", "create-local-job", "100-3", "pve1"], "Source and target must not be identical\n");
    r.ok(&["qm", "create", "103", "--scsi0", "local:1"]);
    r.fails(&["pvesr", "create-local-job", "103-0", "pve2"], "missing replicate feature on volume 'local:103/vm-103-disk-0.raw'\n");
    r.ok(&["qm", "create", "104"]);
    r.fails(&["pvesr", "create-local-job", "104-0", "pve2"], "No replicatable volumes found\n");
    // list layout (§5.2) and JSON shape.
    let list = r.ok(&["pvesr", "list"]);
    assert_eq!(list.lines().next().unwrap(), "JobID                Target                 Schedule  Rate  Enabled");
    assert!(list.contains("\n101-0                local/pve2                  */5     -       no\n"), "{list}");
    let v: serde_json::Value = serde_json::from_str(&r.ok(&["pvesh", "get", "/cluster/replication/100-0", "--output-format", "json"])).unwrap();
    assert_eq!(v["guest"], 100);
    assert_eq!(v["jobnum"], 0);
    assert_eq!(v["rate"], 10);
    assert_eq!(v["type"], "local");
    r.fails(&["pvesh", "get", "/cluster/replication/9-9"], "no such replication job '9-9'\n");
    // Inquorate: writes are refused like pmxcfs does.
    let out = Command::new(env!("CARGO_BIN_EXE_pve-sim"))
        .args(["pvesr", "update", "100-0", "--rate", "20"])
        .env("PVE_SIM_ROOT", &r.dir)
        .env("PVE_SIM_HOSTNAME", "pve1")
        .env("PVE_SIM_QUORATE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "cluster not ready - no quorum?\n");
    // delete without --force only marks the job (§5.1).
    let out = r.run(&["pvesr", "delete", "101-0"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Replication job removal is a background task and will take some time.\n");
    assert!(r.read("/etc/pve/replication.cfg").contains("\tremove_job full\n"));
}

#[test]
fn standalone_node_status_and_pvecm_errors() {
    let r = Root::pve("standalone", "pve1");
    let v: serde_json::Value = serde_json::from_str(&r.ok(&["pvesh", "get", "/cluster/status", "--output-format", "json"])).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"id":"node/pve1","ip":"10.10.10.1","level":"","local":1,"name":"pve1","nodeid":0,"online":1,"type":"node"}])
    );
    let nodes: serde_json::Value = serde_json::from_str(&r.ok(&["pvesh", "get", "/cluster/config/nodes", "--output-format", "json"])).unwrap();
    assert_eq!(nodes, serde_json::json!([]));
    let no_cluster = "Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?\n";
    r.fails(&["pvecm", "status"], no_cluster);
    r.fails(&["pvecm", "nodes"], no_cluster);
    r.fails(&["pvecm", "create", "a-very-long-cluster-name"], "400 Parameter verification failed.\nclustername: value may only be 15 characters long\n\nUSAGE: pvecm create <clustername> [OPTIONS]\n");
    assert_eq!(r.ok(&["pvecm", "apiver"]), "1\n");
    r.write("/etc/pve/corosync.conf", &fixture("corosync.conf"));
    r.fails(&["pvecm", "create", "pvecl"], "cluster config '/etc/pve/corosync.conf' already exists\n");
    // cert info (§7.3): real fingerprint of pve-ssl.pem, upper-case pairs.
    let certs: serde_json::Value = serde_json::from_str(&r.ok(&["pvenode", "cert", "info", "--output-format", "json"])).unwrap();
    let names: Vec<&str> = certs.as_array().unwrap().iter().map(|c| c["filename"].as_str().unwrap()).collect();
    assert_eq!(names, ["pve-root-ca.pem", "pve-ssl.pem"]);
    let ssl = &certs[1];
    let fp = ssl["fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 95);
    assert!(fp.chars().all(|c| c == ':' || c.is_ascii_digit() || c.is_ascii_uppercase()));
    assert_eq!(ssl["subject"], "/OU=PVE Cluster Node/O=Proxmox Virtual Environment/CN=pve1.lab.home.arpa");
    assert_eq!(ssl["public-key-bits"], 2048);
    assert_eq!(ssl["public-key-type"], "rsaEncryption");
    let san: Vec<&str> = ssl["san"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(san, ["127.0.0.1", "0000:0000:0000:0000:0000:0000:0000:0001", "localhost", "10.10.10.1", "pve1", "pve1.lab.home.arpa"]);
    assert!(certs[0]["issuer"].as_str().unwrap().starts_with("/CN=Proxmox Virtual Environment/OU="));
}

#[test]
fn zfs_and_zpool_layouts() {
    let r = Root::pve("zfs", "pve1");
    let list = r.ok(&["zfs", "list"]);
    assert_eq!(list.lines().next().unwrap(), "NAME               USED  AVAIL  REFER  MOUNTPOINT");
    assert!(list.contains("\nrpool/var-lib-vz "), "{list}");
    assert_eq!(r.ok(&["zfs", "get", "-H", "-o", "name,property,value,source", "compression", "rpool/data"]), "rpool/data\tcompression\ton\tinherited from rpool\n");
    r.ok(&["zfs", "set", "compression=zstd", "rpool/data"]);
    assert_eq!(r.ok(&["zfs", "get", "-H", "-o", "value,source", "compression", "rpool/data"]), "zstd\tlocal\n");
    let out = r.run(&["zfs", "get", "compression", "rpool/nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "cannot open 'rpool/nope': dataset does not exist\n");
    assert_eq!(r.ok(&["zpool", "list", "-H", "-o", "name,health"]), "rpool\tONLINE\n");
}

#[test]
fn applet_lists() {
    let out = Command::new(env!("CARGO_BIN_EXE_pve-sim")).args(["--applets", "pi"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "systemctl\napt-get\nhostnamectl\n");
    let out = Command::new(env!("CARGO_BIN_EXE_pve-sim")).args(["--applets", "pve"]).output().unwrap();
    let pve = String::from_utf8_lossy(&out.stdout).into_owned();
    for a in ["pvecm", "pvesh", "pvesm", "pvesr", "pvenode", "qm", "zfs", "zpool", "systemctl", "apt-get"] {
        assert!(pve.lines().any(|l| l == a), "{a} missing from {pve}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_pve-sim")).args(["--applets", "bogus"]).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn hidden_packages_round_trip_and_keep_symlinked_dirs() {
    let dir = std::env::temp_dir().join(format!("pve-sim-conf-pkg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let r = Root { dir: dir.clone(), host: "pve1".into() };
    std::fs::create_dir_all(dir.join("usr/lib")).unwrap();
    std::os::unix::fs::symlink("usr/lib", dir.join("lib")).unwrap();
    r.write("/usr/bin/fakebin", "#!/bin/sh\n");
    r.write("/usr/share/fakepkg/data", "x\n");
    r.write("/var/lib/dpkg/status", "Package: other\nStatus: install ok installed\nVersion: 1\n\nPackage: fakepkg\nStatus: install ok installed\nVersion: 2.0-1\n\n");
    r.write("/var/lib/dpkg/info/fakepkg.list", "/.\n/lib\n/usr\n/usr/bin\n/usr/bin/fakebin\n/usr/share\n/usr/share/fakepkg\n/usr/share/fakepkg/data\n");
    r.write("/var/lib/dpkg/info/other.list", "/.\n/usr\n/usr/bin\n/usr/share\n");
    r.ok(&["apt-get", "-q", "remove", "fakepkg"]);
    assert!(dir.join("lib").is_symlink(), "a symlink to a directory listed by the package must stay");
    assert!(!dir.join("usr/bin/fakebin").exists());
    assert!(!dir.join("usr/share/fakepkg").exists(), "package-only directories go");
    assert!(dir.join("usr/bin").is_dir(), "shared directories stay");
    assert!(!r.read("/var/lib/dpkg/status").contains("fakepkg"));
    let out = r.run(&["apt-get", "install", "-y", "nosuchpkg"]);
    assert_eq!(out.status.code(), Some(100));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E: Unable to locate package nosuchpkg"));
    r.ok(&["apt-get", "install", "-y", "fakepkg"]);
    assert!(dir.join("usr/bin/fakebin").is_file());
    assert_eq!(r.read("/usr/share/fakepkg/data"), "x\n");
    assert!(r.read("/var/lib/dpkg/status").contains("Package: fakepkg\nStatus: install ok installed"));
    assert!(dir.join("var/lib/dpkg/info/fakepkg.list").is_file());
    let again = r.ok(&["apt-get", "install", "-y", "fakepkg"]);
    assert!(again.contains("fakepkg is already the newest version (2.0-1)."), "{again}");
}
