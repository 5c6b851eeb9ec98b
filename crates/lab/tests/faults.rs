//! `lab fault …` on plain hosts: links, clean stop/start with persistent state, crash, wipe.

mod common_lab;

use common_lab::{stderr, stdout, tcp_open, wait_for};
use lab::testing::{Fault, LabGuard, LabOptions};
use lab::topology::Link;

fn host_state(lab: &LabGuard, name: &str) -> serde_json::Value {
    let st = lab.status().unwrap();
    st["hosts"].as_array().unwrap().iter().find(|h| h["name"] == name).unwrap().clone()
}

#[test]
fn link_down_and_up() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::plain().no_nas()) else { return };
    lab.fault(Fault::LinkDown("pve-node1", Link::Link0)).unwrap();
    assert_eq!(host_state(&lab, "pve-node1")["link0_up"], false);
    wait_for(10, "mgmt address of pve-node1 unreachable", || !tcp_open("10.231.10.11"));
    assert!(tcp_open("10.231.1.11"), "link1 must still work");
    // host to host (no ping on a minimal machine: a TCP connect with bash's /dev/tcp)
    let reach = |addr: &str| {
        let o = lab.sh("pve-node2", &format!("timeout 2 bash -c 'exec 3<>/dev/tcp/{addr}/22'")).unwrap();
        assert!(o.status.code() != Some(127), "{}", stderr(&o));
        o.status.success()
    };
    assert!(!reach("10.231.10.11"), "node2 still reaches node1 over link0");
    assert!(reach("10.231.1.11"), "node2 must reach node1 over link1");
    lab.fault(Fault::LinkUp("pve-node1", Link::Link0)).unwrap();
    wait_for(10, "mgmt address of pve-node1 reachable again", || tcp_open("10.231.10.11"));
    lab.fault(Fault::LinkDown("qdevice1", Link::Link1)).unwrap();
    wait_for(10, "prod address of qdevice1 unreachable", || !tcp_open("10.231.1.5"));
    assert!(tcp_open("10.231.10.5"));
    let e = lab.fault(Fault::LinkDown("nope", Link::Link0)).unwrap_err().to_string();
    assert!(e.contains("no host \"nope\""), "{e}");
}

#[test]
fn stop_and_start_keep_state() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::plain().no_qdevice().no_nas()) else { return };
    lab.sh_ok("pve-node2", "echo kept > /root/persist; useradd persisted").unwrap();
    let out = lab.fault(Fault::Stop("pve-node2")).unwrap();
    assert!(out.contains("stopped"), "{out}");
    assert_eq!(host_state(&lab, "pve-node2")["state"], "stopped");
    assert!(!tcp_open("10.231.10.12"));
    let o = lab.sh("pve-node2", "true").unwrap();
    assert!(!o.status.success() && stderr(&o).contains("not running"), "{}", stderr(&o));
    assert!(lab.fault(Fault::Stop("pve-node2")).is_err(), "stopping a stopped host must fail");
    lab.fault(Fault::Start("pve-node2")).unwrap();
    let h = host_state(&lab, "pve-node2");
    assert_eq!((h["state"].as_str(), h["boots"].as_u64()), (Some("running"), Some(2)));
    assert_eq!(lab.sh_ok("pve-node2", "cat /root/persist; id -u persisted >/dev/null && echo user").unwrap(), "kept\nuser\n");
    // same host keys: the pinned known_hosts still verifies (StrictHostKeyChecking yes)
    let o = lab.ssh("pve-node2", "hostname").unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // pve-node1 was untouched
    assert_eq!(host_state(&lab, "pve-node1")["boots"], 1);
}

#[test]
fn crash_kills_daemons_and_start_reboots() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::plain().no_qdevice().no_nas()) else { return };
    lab.sh_ok("pve-node1", "echo survives > /root/crash-note").unwrap();
    let out = lab.fault(Fault::Crash("pve-node1")).unwrap();
    assert!(out.contains("sshd"), "{out}");
    assert_eq!(host_state(&lab, "pve-node1")["state"], "running-no-sshd");
    assert!(!tcp_open("10.231.10.11"));
    assert!(lab.sh_ok("pve-node1", "pgrep -x sshd || echo none").unwrap().contains("none"));
    let out = lab.fault(Fault::Start("pve-node1")).unwrap();
    assert!(out.contains("power-cycling"), "{out}");
    assert!(tcp_open("10.231.10.11"));
    assert_eq!(lab.sh_ok("pve-node1", "cat /root/crash-note").unwrap(), "survives\n");
}

#[test]
fn wipe_reinstalls_with_new_keys_and_pins() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::plain().no_nas()) else { return };
    let key = |h: &str| lab.sh_ok(h, "cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub").unwrap().trim().to_string();
    let old = key("pve-node1");
    let old_id = lab.sh_ok("pve-node1", "cat /etc/machine-id").unwrap();
    lab.sh_ok("pve-node1", "echo gone > /root/before-wipe").unwrap();
    let out = lab.fault(Fault::Wipe("pve-node1")).unwrap();
    assert!(out.contains("install webhook"), "the pin replacement must be announced: {out}");
    let new = key("pve-node1");
    assert_ne!(old, new, "a reinstall must have new host keys");
    assert_ne!(old_id, lab.sh_ok("pve-node1", "cat /etc/machine-id").unwrap());
    assert!(!lab.sh("pve-node1", "test -e /root/before-wipe").unwrap().status.success(), "the disk was not wiped");
    let kh = std::fs::read_to_string(lab.known_hosts()).unwrap();
    assert!(kh.contains(&new) && !kh.contains(&old), "pins not replaced:\n{kh}");
    assert!(kh.contains(&key("pve-node2")), "pve-node2's pins must stay");
    let o = lab.ssh("pve-node1", "hostname").unwrap();
    assert!(o.status.success(), "key login with the new pins: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "pve-node1");
    let h = host_state(&lab, "pve-node1");
    assert_eq!((h["installs"].as_u64(), h["boots"].as_u64()), (Some(2), Some(1)));
    // the Pi is not pinned by the lab: its wipe changes no pins
    let before = std::fs::read_to_string(lab.known_hosts()).unwrap();
    let out = lab.fault(Fault::Wipe("qdevice1")).unwrap();
    assert!(out.contains("not pinned"), "{out}");
    assert_eq!(std::fs::read_to_string(lab.known_hosts()).unwrap(), before);
    assert!(lab.sh_ok("qdevice1", "getent shadow root | cut -d: -f2").unwrap().starts_with('$'), "Pi password after reinstall");
}
