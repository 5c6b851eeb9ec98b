//! The lab side of the pve-sim interface (BRIEFING "pve-sim installation"), proven with a stub
//! simulator so it does not depend on pve-sim's own progress: the binary is installed at
//! /usr/local/lib/pve-sim/pve-sim with one /usr/local/bin symlink per applet of the host's role,
//! `lab-init` runs once per installation with the documented arguments (after the root password
//! is set, before sshd), `lab-daemons` runs on every boot, and a failing `lab-init` fails
//! `lab up` with its stderr. Its own process: it sets HOMELAB_PVE_SIM.

mod common_lab;

use common_lab::machine_leftovers;
use lab::testing::{Fault, LabError, LabGuard, LabOptions};
use std::os::unix::fs::PermissionsExt;

const STUB: &str = r#"#!/bin/sh
# stub pve-sim for the lab's interface test
me=$(basename "$0")
if [ "$me" != pve-sim ]; then echo "stub applet $me $*"; exit 0; fi
case "$1" in
  --applets)
    case "$2" in
      pve) printf 'pvecm\npvesh\nsystemctl\n' ;;
      pi)  printf 'systemctl\n' ;;
      nas) printf 'exportfs-sim\n' ;;
      *) echo "unknown role $2" >&2; exit 2 ;;
    esac ;;
  lab-init)
    shift
    [ -f /var/lib/stub-fail-lab-init ] && { echo "stub lab-init refuses" >&2; exit 3; }
    mkdir -p /var/lib/stub
    echo "$*" >> /var/lib/stub/lab-init.calls
    getent shadow root | cut -d: -f2 | cut -c1 > /var/lib/stub/password-set-before-init
    [ -e /run/sshd.pid ] && echo yes > /var/lib/stub/sshd-before-init
    exit 0 ;;
  lab-daemons)
    echo "$2 $3" >> /var/lib/stub/lab-daemons.calls
    exec sleep 1000000 ;;
  *) echo "stub: unknown $*" >&2; exit 2 ;;
esac
"#;

#[test]
fn stub_simulator_is_installed_initialised_and_started() {
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("pve-sim");
    std::fs::write(&stub, STUB).unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    // this test binary runs only this test, so the variable reaches exactly our `lab` runs
    std::env::set_var("HOMELAB_PVE_SIM", &stub);

    let Some(lab) = LabGuard::up_or_skip(LabOptions::default()) else { return };
    // applets per role
    let links = lab.sh_ok("pve-node1", "for a in pvecm pvesh systemctl; do readlink /usr/local/bin/$a; done").unwrap();
    assert_eq!(links, "/usr/local/lib/pve-sim/pve-sim\n".repeat(3));
    assert_eq!(lab.sh_ok("pve-node2", "pvecm status").unwrap(), "stub applet pvecm status\n");
    assert!(!lab.sh("qdevice1", "test -e /usr/local/bin/pvecm").unwrap().status.success(), "the Pi has no pvecm");
    assert!(lab.sh("nas", "test -L /usr/local/bin/exportfs-sim").unwrap().status.success());
    // lab-init: once, documented arguments, after the password, before sshd
    assert_eq!(
        lab.sh_ok("pve-node2", "cat /var/lib/stub/lab-init.calls").unwrap(),
        "--role pve --hostname pve-node2 --domain lab.home.arpa --mgmt-ip 10.231.10.12 --prod-ip 10.231.1.12\n"
    );
    assert_eq!(
        lab.sh_ok("qdevice1", "cat /var/lib/stub/lab-init.calls").unwrap(),
        "--role pi --hostname qdevice1 --domain lab.home.arpa --mgmt-ip 10.231.10.5 --prod-ip 10.231.1.5\n"
    );
    assert_eq!(lab.sh_ok("pve-node1", "cat /var/lib/stub/password-set-before-init").unwrap(), "$\n");
    assert!(!lab.sh("pve-node1", "test -e /var/lib/stub/sshd-before-init").unwrap().status.success());
    // lab-daemons on every boot, not lab-init
    assert_eq!(lab.sh_ok("nas", "cat /var/lib/stub/lab-daemons.calls").unwrap(), "--role nas\n");
    lab.fault(Fault::Stop("pve-node1")).unwrap();
    lab.fault(Fault::Start("pve-node1")).unwrap();
    assert_eq!(lab.sh_ok("pve-node1", "cat /var/lib/stub/lab-daemons.calls").unwrap(), "--role pve\n--role pve\n");
    assert_eq!(lab.sh_ok("pve-node1", "wc -l < /var/lib/stub/lab-init.calls").unwrap().trim(), "1");
    // a reinstall runs lab-init again on a fresh disk
    lab.fault(Fault::Wipe("pve-node1")).unwrap();
    assert_eq!(lab.sh_ok("pve-node1", "wc -l < /var/lib/stub/lab-init.calls").unwrap().trim(), "1");
    assert_eq!(lab.sh_ok("pve-node1", "pvesh get /nodes").unwrap(), "stub applet pvesh get /nodes\n");
    drop(lab);

    // a failing lab-init fails `lab up` with the simulator's stderr and leaves nothing
    std::fs::write(&stub, STUB.replace("[ -f /var/lib/stub-fail-lab-init ]", "true")).unwrap();
    match LabGuard::up(LabOptions::default().no_qdevice().no_nas().nodes(1)) {
        Err(LabError::Failed(e)) => {
            let msg = format!("{e:#}");
            assert!(msg.contains("stub lab-init refuses") && msg.contains("exited 3"), "{msg}");
        }
        Err(LabError::Skip(r)) => panic!("unexpected skip: {r}"),
        Ok(_) => panic!("lab up succeeded although lab-init failed"),
    }
    let left = machine_leftovers();
    assert!(left.is_empty(), "a failed lab up left:\n{}", left.join("\n"));
}
