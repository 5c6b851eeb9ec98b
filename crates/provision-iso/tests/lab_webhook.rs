//! The install webhook closes the trust-on-first-use gap, proven on a lab node:
//! host keys posted by the installer (auth-install.md §6.5) become the project's pins, and a
//! later SSH connection with the *pinned-only* policy succeeds without any accept-new. After a
//! reinstall (`lab fault wipe`) the old pins refuse the new key, until the new install's
//! webhook replaces them.

use common::inventory;
use common::ssh::{Auth, Session, SshError, SshTarget};
use lab::testing::{Fault, LabGuard, LabOptions};
use provision_iso::serve::{self, http::Limits, ServeState};
use std::path::Path;
use std::sync::Arc;

const NODE: &str = "pve-node1";
const NODE_ADDR: &str = "10.231.10.11";

/// The lab inventory, copied beside an EMPTY known-hosts file: nothing is pinned yet,
/// as on real hardware before the first install.
fn fresh_project(lab: &LabGuard, dir: &Path) -> inventory::LoadedInventory {
    std::fs::copy(lab.inventory(), dir.join("homelab.toml")).unwrap();
    std::fs::copy(lab.identity_file(), dir.join("id_lab")).unwrap();
    std::fs::write(dir.join("known_hosts"), "").unwrap();
    for (k, v) in lab.secrets() {
        std::env::set_var(k, v); // the answer needs PROXMOX_ROOT_PASSWORD to hash
    }
    inventory::load(&dir.join("homelab.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn connect_pinned(loaded: &inventory::LoadedInventory) -> Result<Session, SshError> {
    let target = SshTarget::new(
        NODE,
        NODE_ADDR,
        "root",
        Auth::KeyFile(loaded.identity_file().unwrap()),
        loaded.known_hosts_path(),
    );
    Session::connect(&target)
}

/// What the installer's post-hook sends: the node's real host keys (§6.5 kebab-case keys).
fn webhook_body(lab: &LabGuard, loaded: &inventory::LoadedInventory) -> String {
    let key = |t: &str| lab.sh_ok(NODE, &format!("cat /etc/ssh/ssh_host_{t}_key.pub")).unwrap().trim().to_string();
    let node = loaded.inv.node(NODE).unwrap();
    serde_json::json!({
        "$schema": {"version": "1.2"},
        "fqdn": loaded.inv.fqdn(NODE),
        "machine-id": "0123456789abcdef0123456789abcdef",
        "network-interfaces": [{"name": "nic0", "mac": node.mgmt_mac.clone().unwrap(), "is-management": true}],
        "ssh-public-host-keys": {"ed25519": key("ed25519"), "ecdsa": key("ecdsa"), "rsa": key("rsa")},
    })
    .to_string()
}

fn post_webhook(addr: std::net::SocketAddr, body: &str) -> u16 {
    match ureq::post(&format!("http://{addr}/webhook"))
        .set("Content-Type", "application/json; charset=utf-8")
        .send_string(body)
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(c, _)) => c,
        Err(e) => panic!("webhook transport error: {e}"),
    }
}

#[test]
fn webhook_pins_let_later_phases_connect_without_accept_new() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::default().nodes(1).no_qdevice().no_nas()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let loaded = fresh_project(&lab, dir.path());

    // Nothing pinned: the pinned-only policy refuses the unknown host.
    match connect_pinned(&loaded) {
        Err(SshError::HostKeyUnknown { .. }) => {}
        other => panic!("expected an unknown-host refusal, got {:?}", other.map(|_| "a session")),
    }

    let state = ServeState::build(&loaded, None, loaded.known_hosts_path()).unwrap();
    let server = serve::server("127.0.0.1:0", Limits::default()).unwrap();
    let addr = server.local_addr();
    let stop = server.shutdown_handle();
    let thread = std::thread::spawn(move || server.run(serve::handler(Arc::new(state))).unwrap());

    assert_eq!(post_webhook(addr, &webhook_body(&lab, &loaded)), 200);
    let session = connect_pinned(&loaded).expect("pins from the webhook must be enough to connect");
    let out = session.exec("hostname", None).unwrap();
    assert_eq!(out.stdout.trim(), NODE);
    assert!(session.new_pin().is_none(), "nothing may be pinned on first use");
    drop(session);

    // Reinstall: new host keys. The old pins refuse them, showing both fingerprints …
    lab.fault(Fault::Wipe(NODE)).unwrap();
    match connect_pinned(&loaded) {
        Err(e @ SshError::HostKeyChanged { .. }) => {
            let msg = e.to_string();
            assert!(msg.matches("SHA256:").count() >= 2, "both fingerprints shown: {msg}");
        }
        other => panic!("expected a changed-key refusal, got {:?}", other.map(|_| "a session")),
    }
    // … until the new install's webhook replaces them.
    assert_eq!(post_webhook(addr, &webhook_body(&lab, &loaded)), 200);
    let session = connect_pinned(&loaded).expect("replaced pins must connect");
    assert_eq!(session.exec("hostname", None).unwrap().stdout.trim(), NODE);

    stop.shutdown();
    thread.join().unwrap();
}
