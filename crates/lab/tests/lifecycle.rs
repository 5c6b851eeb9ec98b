//! The lab's lifecycle on plain hosts (no simulator): up, status, exec, ssh, down, nothing left
//! behind, host privacy, refusal of a second lab and of remnants. Needs root (skips outside CI
//! when not root; fails under CI=true).

mod common_lab;

use common_lab::{machine_leftovers, stderr, stdout, tcp_open};
use lab::testing::{LabGuard, LabOptions};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const PVE: [&str; 2] = ["pve-node1", "pve-node2"];
const ALL: [&str; 4] = ["pve-node1", "pve-node2", "qdevice1", "nas"];

/// An inheritable descriptor (like a script's `exec 9>/tmp/homelab-lab.lock`), to prove that
/// hosts do not keep the caller's descriptors.
fn leak_probe() -> (std::fs::File, String) {
    use std::os::fd::AsRawFd;
    let path = std::env::temp_dir().join(format!("homelab-lab-fd-probe.{}", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    // SAFETY: clearing FD_CLOEXEC on a descriptor we own
    assert_eq!(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFD, 0) }, 0);
    (f, path.display().to_string())
}

#[test]
fn up_status_exec_ssh_down_leaves_nothing() {
    let (probe, probe_path) = leak_probe();
    let Some(lab) = LabGuard::up_or_skip(LabOptions::plain()) else { return };
    drop(probe);
    let _ = std::fs::remove_file(&probe_path);
    let pid1 = lab.status().unwrap()["hosts"][0]["pid1"].as_i64().unwrap();
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid1}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|p| p.display().to_string())
        .collect();
    assert!(!fds.iter().any(|f| f.starts_with(&probe_path)), "a host inherited the caller's descriptor: {fds:?}");
    assert!(fds.len() <= 4, "PID 1 has unexpected descriptors: {fds:?}");

    // status
    let st = lab.status().unwrap();
    assert_eq!(st["running"], true);
    let hosts = st["hosts"].as_array().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names, ALL);
    for h in hosts {
        assert_eq!(h["state"], "running", "{h}");
        assert!(h["pss_kib"].as_u64().unwrap() > 0, "PSS of {h}");
        assert!(h["pid1"].as_i64().unwrap() > 1);
    }
    assert_eq!(st["inventory"].as_str().unwrap(), lab.inventory().to_str().unwrap());
    let human = lab.lab(&["status"]).unwrap();
    assert!(stdout(&human).contains("pve-node1") && stdout(&human).contains("PSS"), "{}", stdout(&human));

    // the inventory loads and its MACs are the hosts' real ones
    let inv = common::inventory::load(&lab.inventory()).unwrap_or_else(|e| panic!("{e}"));
    for n in &inv.inv.nodes {
        let mac = lab.sh_ok(&n.name, "cat /sys/class/net/eth0/address /sys/class/net/eth1/address").unwrap();
        assert_eq!(mac, format!("{}\n{}\n", n.mgmt_mac.as_ref().unwrap(), n.prod_mac.as_ref().unwrap()));
    }

    // exec: hostname, exit codes pass through, clean environment
    for h in ALL {
        assert_eq!(lab.sh_ok(h, "hostname").unwrap().trim(), h);
    }
    let out = lab.sh("pve-node1", "exit 7").unwrap();
    assert_eq!(out.status.code(), Some(7));
    let env = lab.sh_ok("pve-node1", "env").unwrap();
    assert!(!env.contains("HOMELAB_LAB_DIR") && !env.contains("CARGO"), "environment leaked into the host:\n{env}");

    // network: addresses on both networks, no default route, IPv6 off
    let net = lab.sh_ok("pve-node2", "ip -4 -o addr show; ip route; cat /proc/sys/net/ipv6/conf/all/disable_ipv6").unwrap();
    assert!(net.contains("10.231.10.12/24") && net.contains("10.231.1.12/24"), "{net}");
    assert!(!net.contains("default"), "a host has a default route:\n{net}");
    assert!(net.trim_end().ends_with('1'), "IPv6 is on:\n{net}");
    assert!(lab.sh("pve-node2", "ip -6 addr show | grep -q inet6").unwrap().status.code() == Some(1));

    // ssh with pinned keys, by name, FQDN and both addresses; the Pi has no root key
    for target in ["pve-node1", "pve-node1.lab.home.arpa", "10.231.10.11", "10.231.1.11"] {
        let o = lab.ssh(target, "hostname").unwrap();
        assert!(o.status.success(), "ssh {target}: {}", stderr(&o));
        assert_eq!(stdout(&o).trim(), "pve-node1");
    }
    let o = lab.ssh("qdevice1", "true").unwrap();
    assert!(!o.status.success(), "the Pi must not accept the lab key as root");
    let o = lab.lab(&["ssh", "pve-node2", "hostname"]).unwrap();
    assert_eq!(stdout(&o).trim(), "pve-node2", "lab ssh: {}", stderr(&o));

    // lab dir: pins for pve only, secrets private, identities distinct
    let kh = std::fs::read_to_string(lab.known_hosts()).unwrap();
    for n in PVE {
        assert!(kh.contains(&format!("{n},{n}.lab.home.arpa,")), "{kh}");
    }
    assert!(!kh.contains("qdevice1") && !kh.contains("10.231.10.5 ") && !kh.contains("nas"), "{kh}");
    assert_eq!(kh.lines().filter(|l| l.starts_with("pve-node1,")).count(), 3, "rsa, ecdsa, ed25519:\n{kh}");
    let secrets = lab.lab_dir().join("secrets.env");
    assert_eq!(std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777, 0o600);
    let names: Vec<String> = lab.secrets().into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["PROXMOX_ROOT_PASSWORD", "PI_ROOT_PASSWORD"]);
    let ids: Vec<String> = ALL.iter().map(|h| lab.sh_ok(h, "cat /etc/machine-id").unwrap()).collect();
    let machine_id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    for (i, id) in ids.iter().enumerate() {
        assert_ne!(id, &machine_id);
        assert!(!ids[i + 1..].contains(id), "two hosts share machine-id {id}");
    }
    let keys: Vec<String> = ALL.iter().map(|h| lab.sh_ok(h, "cat /etc/ssh/ssh_host_rsa_key.pub").unwrap()).collect();
    let machine_key = std::fs::read_to_string("/etc/ssh/ssh_host_rsa_key.pub").unwrap_or_default();
    for (i, k) in keys.iter().enumerate() {
        assert_ne!(k.split_whitespace().nth(1), machine_key.split_whitespace().nth(1), "a host uses the machine's key");
        assert!(!keys[i + 1..].contains(k), "two hosts share a host key");
    }
    // root passwords: set on pve and the Pi (same on every pve node), not on the nas
    let shadow = |h: &str| lab.sh_ok(h, "getent shadow root | cut -d: -f2").unwrap().trim().to_string();
    for h in ["pve-node1", "pve-node2", "qdevice1"] {
        assert!(shadow(h).starts_with('$'), "{h} has no root password hash");
    }
    // the backplane is one directory shared by the pve hosts and the nas
    lab.sh_ok("pve-node1", "echo shared > /var/lib/pve-sim-backplane/probe").unwrap();
    assert_eq!(lab.sh_ok("nas", "cat /var/lib/pve-sim-backplane/probe").unwrap(), "shared\n");
    assert_eq!(lab.sh_ok("pve-node2", "cat /var/lib/pve-sim-backplane/probe").unwrap(), "shared\n");
    assert!(!lab.sh("qdevice1", "test -e /var/lib/pve-sim-backplane/probe").unwrap().status.success());

    assert!(tcp_open("10.231.10.11"));
    let text = lab.down().unwrap();
    assert!(text.contains("verified"), "{text}");
    let left = machine_leftovers();
    assert!(left.is_empty(), "lab down left:\n{}", left.join("\n"));
    // (no connection attempt to a lab address now: without the lab's route it would leave the machine)
}

#[test]
fn hosts_are_private() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::plain().no_nas()) else { return };
    lab.sh_ok("pve-node1", "useradd -m -s /bin/bash labprivacy && echo s3cret > /root/only-on-node1 && touch /home/labprivacy/mine")
        .unwrap();
    assert!(lab.sh_ok("pve-node1", "id labprivacy && cat /root/only-on-node1").unwrap().contains("s3cret"));
    for h in ["pve-node2", "qdevice1"] {
        let o = lab.sh(h, "id labprivacy").unwrap();
        assert!(!o.status.success(), "{h} sees node1's user");
        assert!(!lab.sh(h, "test -e /root/only-on-node1 || test -e /home/labprivacy").unwrap().status.success());
    }
    let status = Command::new("id").arg("labprivacy").output().unwrap().status;
    assert!(!status.success(), "the machine sees the host's user");
    assert!(!std::path::Path::new("/root/only-on-node1").exists());
    assert!(!std::path::Path::new("/home/labprivacy").exists());

    // the operator's files are hidden: this checkout, /work, the lab dir, the machine's /root
    let checkout = env!("CARGO_MANIFEST_DIR");
    for p in [checkout, "/work", lab.lab_dir().to_str().unwrap()] {
        let o = lab.sh("pve-node1", &format!("ls -A '{p}' 2>/dev/null | head -1")).unwrap();
        assert_eq!(stdout(&o), "", "{p} is visible in the host");
    }
    std::fs::write("/root/.homelab-lab-privacy-probe", "x").unwrap();
    let seen = lab.sh("pve-node2", "test -e /root/.homelab-lab-privacy-probe").unwrap().status.success();
    let _ = std::fs::remove_file("/root/.homelab-lab-privacy-probe");
    assert!(!seen, "the machine's /root is visible in a host");
    assert!(!lab.sh("pve-node2", "test -e /etc/corosync/qnetd/nssdb").unwrap().status.success(), "machine's qnetd CA leaks");
    // the Pi has its own qnetd CA (gotchas 1+2), readable by qnetd's group
    let machine_ca = std::fs::read_to_string("/etc/corosync/qnetd/nssdb/qnetd-cacert.crt");
    if let Ok(machine_ca) = machine_ca {
        let pi_ca = lab.sh_ok("qdevice1", "cat /etc/corosync/qnetd/nssdb/qnetd-cacert.crt").unwrap();
        assert_ne!(pi_ca, machine_ca, "the Pi shares the machine's qnetd CA");
        let group = lab.sh_ok("qdevice1", "stat -c %G /etc/corosync/qnetd/nssdb/cert9.db").unwrap();
        assert_eq!(group.trim(), "coroqnetd");
    }
}

#[test]
fn refuses_a_second_lab() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::plain().no_qdevice().no_nas().nodes(1)) else { return };
    let other = tempfile::tempdir().unwrap();
    let o = Command::new(LabGuard::lab_bin().unwrap())
        .args(["up", "--no-sim"])
        .env("HOMELAB_LAB_DIR", other.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already running"), "{}", stderr(&o));
    // the first lab is untouched
    assert_eq!(lab.sh_ok("pve-node1", "hostname").unwrap().trim(), "pve-node1");
    assert!(!other.path().join("homelab.toml").exists());
}

#[test]
fn refuses_remnants_and_down_removes_them() {
    // a remnant only exists between labs, so take the machine-wide lock like LabGuard does
    if !lab::sys::is_root() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true requires root for lab tests");
        eprintln!("SKIPPED lab test: needs root");
        return;
    }
    let _lock = lab::sys::FileLock::exclusive(std::path::Path::new(lab::paths::TEST_LOCK), "waiting for the lab lock").unwrap();
    let bin = LabGuard::lab_bin().unwrap();
    let down = Command::new(&bin).arg("down").output().unwrap();
    assert!(down.status.success(), "{}", stderr(&down));
    let ip = Command::new("ip").args(["link", "add", "lab-remnant0", "type", "bridge"]).status().unwrap();
    assert!(ip.success());
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(&bin).args(["up", "--no-sim"]).env("HOMELAB_LAB_DIR", dir.path()).output().unwrap();
    let err = stderr(&o);
    let _ = Command::new(&bin).arg("down").output();
    let left = machine_leftovers();
    let _ = Command::new("ip").args(["link", "del", "lab-remnant0"]).status();
    assert!(!o.status.success(), "lab up started despite a remnant");
    assert!(err.contains("lab-remnant0") && err.contains("lab down"), "{err}");
    assert!(left.is_empty(), "lab down did not remove the remnant:\n{}", left.join("\n"));
}
