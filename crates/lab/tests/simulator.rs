//! The default lab with the real simulator (pve-sim built in target/): it comes up, every host
//! got its role's image, and the Pi takes a root password login (its first contact).

mod common_lab;

use common_lab::{stderr, stdout};
use lab::testing::{LabGuard, LabOptions};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn default_lab_with_pve_sim() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::default()) else { return };
    for h in ["pve-node1", "pve-node2"] {
        let o = lab.sh_ok(h, "readlink /usr/local/bin/pvecm; test -d /etc/pve && echo etc-pve").unwrap();
        assert_eq!(o, "/usr/local/lib/pve-sim/pve-sim\netc-pve\n", "{h}");
    }
    // pve: key login as root with the pinned host key
    let o = lab.ssh("pve-node1", "hostname").unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    // Pi: root password login (PermitRootLogin yes via lab-init), host key accepted as new
    let dir = tempfile::tempdir().unwrap();
    let askpass = dir.path().join("askpass");
    std::fs::write(&askpass, "#!/bin/sh\nprintf '%s\\n' \"$PI_ROOT_PASSWORD\"\n").unwrap();
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = lab
        .command("ssh")
        .arg("-F")
        .arg(lab.ssh_config())
        .args(["-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1", "root@qdevice1", "hostname"])
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "Pi password login: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "qdevice1");
    // the lab never pins the Pi in the project's known_hosts
    let kh = std::fs::read_to_string(lab.known_hosts()).unwrap();
    assert!(!kh.contains("qdevice1"), "{kh}");
    let st = lab.status().unwrap();
    assert!(st["hosts"].as_array().unwrap().iter().all(|h| h["state"] == "running"), "{st}");
    let _ = Command::new("true").status();
}
