//! A scripted cluster in the lab using only the simulated PVE commands (issue 3 "Tests"):
//! root key trust set up by the script, `pvecm create` with two links, `pvecm add --use_ssh`,
//! QDevice setup against the real corosync-qnetd on the Pi (prepared with the apt-get shim and a
//! temporary root key) → Expected votes 3, Flags Quorate Qdevice; link0 down → still quorate and
//! the link reported disconnected; node2 stopped → node1 quorate with 2 of 3 votes; delnode; QDevice
//! unreachable with one node left → inquorate, exit code 2, writes refused.
//!
//! Output layouts are compared with the pve-cli.md fixtures after masking the values that differ
//! between the digest's example and the lab (addresses, names, dates, ring ids, versions).
//!
//! Needs root and the lab's packages; skips with a message otherwise, fails under CI=true.
//! Build first: `cargo build --workspace` (the test uses target/<profile>/lab and pve-sim).

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use lab::testing::{Fault, LabGuard, LabOptions};
use lab::topology::Link;

const N1: &str = "pve-node1";
const N2: &str = "pve-node2";
const PI: &str = "qdevice1";
const PI_IP: &str = "10.231.10.5";

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn errtext(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run a script in a host; panic with its output unless it exits 0.
fn ok(lab: &LabGuard, host: &str, script: &str) -> String {
    let out = lab.sh(host, script).expect("lab exec");
    assert!(out.status.success(), "{host}: `{script}` failed ({:?}):\n{}{}", out.status.code(), text(&out), errtext(&out));
    text(&out)
}

/// Poll `cond` until true; panic with `what` and the last observation after `timeout`.
fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> (bool, String)) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let (done, seen) = cond();
        if done {
            return seen;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last seen:\n{seen}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Mask what legitimately differs between the digest's example and the lab.
fn mask(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        let l = if line.starts_with("Date:") {
            "Date:             <date>".to_string()
        } else if line.starts_with("Ring ID:") {
            "Ring ID:          <ring>".to_string()
        } else if line.starts_with("Name:") {
            "Name:             <cluster>".to_string()
        } else if line.starts_with("Config Version:") {
            "Config Version:   <n>".to_string()
        } else {
            mask_addrs(line)
        };
        out.push_str(&l);
        out.push('\n');
    }
    out
}

fn mask_addrs(line: &str) -> String {
    line.split(' ')
        .map(|w| {
            let ipish = w.split('.').count() == 4 && w.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
            if ipish {
                "<ip>".to_string()
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn status(lab: &LabGuard, host: &str) -> Output {
    lab.exec(host, &["pvecm", "status"]).expect("pvecm status")
}

#[test]
fn scripted_cluster_with_qdevice_and_faults() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::default()) else { return };

    // The fresh-install image (issue 3 "Fresh-install images") and the shims bootstrap relies on.
    ok(&lab, N1, "! command -v sudo && ! test -e /usr/bin/sudo"); // PVE has no sudo
    let dpkg = lab.sh(N1, "dpkg -s corosync-qdevice").unwrap();
    assert!(!dpkg.status.success() && errtext(&dpkg).contains("is not installed"), "{}", errtext(&dpkg));
    ok(&lab, N1, "apt-get update -q >/dev/null && apt-get install -y sudo >/dev/null && command -v sudo && visudo -c >/dev/null");
    let missing = lab.sh(N1, "apt-get install -y no-such-package").unwrap();
    assert_eq!(missing.status.code(), Some(100));
    assert!(errtext(&missing).contains("E: Unable to locate package no-such-package"));
    assert_eq!(ok(&lab, N1, "systemctl is-active ssh pve-cluster").trim(), "active\nactive");
    ok(&lab, N1, "systemctl reload ssh && systemctl is-enabled ssh >/dev/null");
    assert_eq!(lab.sh(N1, "systemctl is-active corosync").unwrap().status.code(), Some(3), "no corosync before pvecm create");
    let st = ok(&lab, N1, "pvesm status");
    assert!(st.lines().any(|l| l.starts_with("local-zfs ") && l.contains("active")), "{st}");
    assert!(ok(&lab, N1, "cat /etc/apt/sources.list.d/pve-enterprise.sources").contains("Components: pve-enterprise\n"));
    assert!(ok(&lab, N1, "cat /usr/share/javascript/proxmox-widget-toolkit/proxmoxlib.js").contains("res.data.status.toLowerCase() !== 'active'"));
    assert!(ok(&lab, N1, "pvesm scan nfs 10.231.1.25").contains("/volume1/backups/proxmox"));

    // Root trust between the nodes (the script's job, as ssh-copy-id would be interactive):
    // node2's root key on node1, node1's host key in node2's known_hosts.
    let key2 = wait_for("node2's root RSA key (pve-cluster's updatecerts at boot)", Duration::from_secs(60), || {
        let o = lab.sh(N2, "cat /root/.ssh/id_rsa.pub").unwrap();
        (o.status.success(), text(&o))
    });
    wait_for("node1's shared authorized_keys", Duration::from_secs(60), || {
        let o = lab.sh(N1, "test -L /root/.ssh/authorized_keys && test -s /etc/pve/priv/authorized_keys").unwrap();
        (o.status.success(), errtext(&o))
    });
    ok(&lab, N1, &format!("echo '{}' >> /root/.ssh/authorized_keys", key2.trim()));
    ok(&lab, N2, "ssh-keyscan -t rsa,ed25519 10.231.10.11 2>/dev/null >> /root/.ssh/known_hosts");
    assert_eq!(ok(&lab, N2, "ssh -o BatchMode=yes root@10.231.10.11 hostname").trim(), N1);

    // pvecm create with two links and priorities (pve-cli.md §2.1): output and file layout.
    let out = ok(&lab, N1, "pvecm create homelab --link0 10.231.10.11,priority=10 --link1 10.231.1.11,priority=20");
    assert!(out.ends_with("Writing corosync config to /etc/pve/corosync.conf\nRestart corosync and cluster filesystem\n"), "{out}");
    let conf = ok(&lab, N1, "cat /etc/pve/corosync.conf");
    assert!(conf.contains("  interface {\n    knet_link_priority: 20\n    linknumber: 1\n  }\n"), "{conf}");
    assert!(conf.contains("  config_version: 1\n"));
    assert_eq!(ok(&lab, N1, "cat /etc/corosync/corosync.conf"), conf, "/etc/corosync mirrors /etc/pve");
    let again = lab.exec(N1, &["pvecm", "create", "homelab"]).unwrap();
    assert!(!again.status.success());
    assert_eq!(errtext(&again), "cluster config '/etc/pve/corosync.conf' already exists\n");

    // pvecm add --use_ssh (§2.3).
    let add = lab.exec(N2, &["pvecm", "add", "10.231.10.11", "--use_ssh", "--link0", "10.231.10.12", "--link1", "10.231.1.12"]).unwrap();
    assert!(add.status.success());
    assert!(text(&add).ends_with("successfully added node 'pve-node2' to cluster.\n"), "{}{}", text(&add), errtext(&add));
    // A second join is refused locally — and still exits 0 (§1.2, §9).
    let again = lab.exec(N2, &["pvecm", "add", "10.231.10.11", "--use_ssh"]).unwrap();
    assert_eq!(again.status.code(), Some(0), "task failures exit 0");
    assert!(text(&again).starts_with("detected the following error(s):\n* authentication key '/etc/corosync/authkey' already exists\n* cluster config '/etc/pve/corosync.conf' already exists\n"), "{}", text(&again));
    assert_eq!(errtext(&again), "Check if node may join a cluster failed!\n");
    wait_for("both nodes in node1's membership", Duration::from_secs(30), || {
        let o = status(&lab, N1);
        (o.status.code() == Some(0) && text(&o).contains("Nodes:            2"), text(&o))
    });
    // /etc/pve is shared: a file written on node1 is visible on node2.
    ok(&lab, N1, "pvesh create /cluster/backup --id weekly --schedule 'sun 02:00' --all 1 --mode snapshot");
    assert!(ok(&lab, N2, "cat /etc/pve/jobs.cfg").starts_with("vzdump: weekly\n\tschedule sun 02:00\n"));
    let nodes = ok(&lab, N1, "pvecm nodes");
    assert_eq!(
        nodes,
        "\nMembership information\n----------------------\n    Nodeid      Votes Name\n         1          1 pve-node1 (local)\n         2          1 pve-node2\n"
    );

    // The Pi: qnetd from the offline apt shim, a temporary root key for node1; the nodes get qdevice.
    ok(&lab, PI, "apt-get install -y corosync-qnetd >/dev/null");
    assert_eq!(ok(&lab, PI, "systemctl is-active corosync-qnetd").trim(), "active");
    for n in [N1, N2] {
        ok(&lab, n, "apt-get install -y -q corosync-qdevice >/dev/null 2>&1");
    }
    let key1 = ok(&lab, N1, "cat /root/.ssh/id_rsa.pub");
    ok(&lab, PI, &format!("mkdir -p /root/.ssh && echo '{}' >> /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys", key1.trim()));
    ok(&lab, N1, &format!("ssh-keyscan -t rsa,ed25519 {PI_IP} 2>/dev/null >> /root/.ssh/known_hosts"));

    let setup = lab.exec(N1, &["pvecm", "qdevice", "setup", PI_IP]).unwrap();
    assert!(setup.status.success(), "qdevice setup failed:\n{}{}", text(&setup), errtext(&setup));
    assert!(text(&setup).contains("\nINFO: add QDevice to cluster configuration\n"));
    assert!(text(&setup).ends_with("Reloading corosync.conf...\nDone\n"), "{}", text(&setup));
    // The temporary root access to the Pi goes away again (DESIGN "Security rules").
    ok(&lab, PI, "rm -f /root/.ssh/authorized_keys");

    let st = wait_for("Expected votes 3 with both nodes A,V,NMW", Duration::from_secs(30), || {
        let o = status(&lab, N1);
        let t = text(&o);
        (o.status.code() == Some(0) && t.matches("A,V,NMW").count() == 2, t)
    });
    // Full layout check against pve-cli.md §2.5 (2 nodes + QDevice).
    assert_eq!(mask(&st), mask(&fixture("pvecm-status-qdevice.txt")), "pvecm status layout differs from the digest");
    assert!(st.contains("Expected votes:   3\n") && st.contains("Flags:            Quorate Qdevice \n"));
    let conf = ok(&lab, N1, "cat /etc/pve/corosync.conf");
    assert!(conf.contains("  device {\n    model: net\n    net {\n      algorithm: ffsplit\n      host: 10.231.10.5\n      tls: on\n    }\n    votes: 1\n  }\n"), "{conf}");
    assert!(conf.contains("  config_version: 3\n"));
    let q: serde_json::Value = serde_json::from_str(&ok(&lab, N1, "pvesh get /cluster/config/qdevice --output-format json")).unwrap();
    assert_eq!(q["State"], "Connected");
    let dup = lab.exec(N1, &["pvecm", "qdevice", "setup", PI_IP]).unwrap();
    assert!(!dup.status.success());
    assert_eq!(errtext(&dup), "QDevice already configured!\n");

    // link0 down on node2: still quorate, link reported disconnected (lab-feasibility.md §4).
    lab.fault(Fault::LinkDown(N2, Link::Link0)).unwrap();
    let cfg = wait_for("link0 of node 2 disconnected in node1's corosync-cfgtool -s", Duration::from_secs(30), || {
        let t = ok(&lab, N1, "corosync-cfgtool -s");
        let link0 = t.split("LINK ID 1").next().unwrap_or("").to_string();
        (link0.contains("\t\tnodeid:          2:\tdisconnected"), t)
    });
    assert!(cfg.split("LINK ID 1").nth(1).unwrap_or("").contains("\t\tnodeid:          2:\tconnected"), "link1 carries the traffic:\n{cfg}");
    let o = status(&lab, N1);
    assert_eq!(o.status.code(), Some(0), "still quorate with link0 down:\n{}", text(&o));
    assert!(text(&o).contains("Quorate:          Yes\n"));
    lab.fault(Fault::LinkUp(N2, Link::Link0)).unwrap();
    wait_for("link0 reconnected", Duration::from_secs(30), || {
        let t = ok(&lab, N1, "corosync-cfgtool -s");
        (t.split("LINK ID 1").next().unwrap_or("").contains("\t\tnodeid:          2:\tconnected"), t)
    });

    // node2 stopped: node1 + QDevice = 2 of 3 votes, quorate (pve-cli.md §10).
    lab.fault(Fault::Stop(N2)).unwrap();
    let st = wait_for("node1 alone in the membership", Duration::from_secs(30), || {
        let o = status(&lab, N1);
        (text(&o).contains("Nodes:            1\n"), text(&o))
    });
    let o = status(&lab, N1);
    assert_eq!(o.status.code(), Some(0), "{st}");
    for l in ["Quorate:          Yes\n", "Expected votes:   3\n", "Total votes:      2\n", "Quorum:           2  \n", "Flags:            Quorate Qdevice \n"] {
        assert!(st.contains(l), "missing {l:?} in\n{st}");
    }
    let cs: serde_json::Value = serde_json::from_str(&ok(&lab, N1, "pvesh get /cluster/status --output-format json")).unwrap();
    let n2 = cs.as_array().unwrap().iter().find(|e| e["name"] == N2).unwrap();
    assert_eq!(n2["online"], 0);
    assert_eq!(cs[0]["quorate"], 1);

    // QDevice removal needs every node online (§2.10).
    let rm = lab.exec(N1, &["pvecm", "qdevice", "remove"]).unwrap();
    assert!(!rm.status.success());
    assert_eq!(errtext(&rm), "All nodes must be online! Node pve-node2 is offline, aborting.\n");

    // delnode (§2.6): config_version bump, node gone from the nodelist.
    let del = lab.exec(N1, &["pvecm", "delnode", N2]).unwrap();
    assert!(del.status.success(), "{}{}", text(&del), errtext(&del));
    let conf = ok(&lab, N1, "cat /etc/pve/corosync.conf");
    assert!(!conf.contains("pve-node2") && conf.contains("  config_version: 4\n"), "{conf}");
    let me = lab.exec(N1, &["pvecm", "delnode", N1]).unwrap();
    assert_eq!(errtext(&me), "Cannot delete myself from cluster!\n");
    wait_for("expected votes 2 after delnode", Duration::from_secs(30), || {
        let t = text(&status(&lab, N1));
        (t.contains("Expected votes:   2\n"), t)
    });

    // QDevice gone too: 1 of 2 votes → inquorate, exit code 2, /etc/pve writes refused (§2.5, §10).
    ok(&lab, PI, "systemctl stop corosync-qnetd");
    let st = wait_for("node1 inquorate without the QDevice", Duration::from_secs(60), || {
        let o = status(&lab, N1);
        (o.status.code() == Some(2), text(&o))
    });
    assert!(st.contains("Quorate:          No\n") && st.contains("Quorum:           2 Activity blocked\n"), "{st}");
    let w = lab.exec(N1, &["pvesh", "create", "/cluster/backup", "--id", "nightly", "--schedule", "21:00", "--all", "1"]).unwrap();
    assert!(!w.status.success());
    assert_eq!(errtext(&w), "cluster not ready - no quorum?\n");

    lab.down().expect("lab down");
}
