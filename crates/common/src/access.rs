//! How the tools reach a host: the automation user (every phase, every run), and *first contact*
//! for a host that has not been bootstrapped yet.
//!
//! * [`connect_automation`] — the automation user with its identity file (or the agent), the
//!   project's pins (a host must already be pinned), the inventory's port and timeout. Every
//!   command that needs root goes through `sudo -n`.
//! * [`first_contact`] — tries the automation user first: once a host is bootstrapped, root is
//!   never needed again (and on the Pi root login is forbidden after hardening). Only when that
//!   login is *refused* (not when the host is unreachable or its key is wrong) does it log in as
//!   the first-contact user (`root` unless the inventory says otherwise) with the operator key
//!   or with the password named by the inventory. The password is only ever handed to the SSH
//!   authentication.
//!   A first-contact secret is therefore read only then: a missing `PI_ROOT_PASSWORD` on a
//!   fresh Pi is an error located in the inventory, and a bootstrapped host never needs it.
//!   (`--validate` checks every secret a fresh install needs: `inventory::check_secrets`.)
//! * [`prove_login`] — a *fresh* connection as a target plus `sudo -n true`: the proof sshd
//!   hardening waits for before and after it reloads sshd.
//!
//! Host-key policy on first contact comes from the inventory (`first_contact.host_key`): pve
//! nodes are pinned by the install webhook (`pinned`), a Pi is usually `accept-new`. A changed
//! key is refused in every case (see [`crate::ssh::hostkey`]).

use crate::cli::CommonArgs;
use crate::inventory::{FirstContact, FirstContactMethod, HostKeyPolicy, InventoryError, LoadedInventory};
use crate::secret::Secret;
use crate::ssh::{Auth, Session, SshError, SshTarget};
use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What kind of host an inventory name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// A Proxmox VE node (`[[nodes]]`).
    Node,
    /// The QDevice / Raspberry Pi (`[qdevice]`).
    QDevice,
}

/// A host the tools log in to, as the inventory describes it.
#[derive(Debug, Clone)]
pub struct HostSpec {
    pub name: String,
    /// SSH address (a node's link0, the QDevice's address).
    pub address: String,
    pub kind: HostKind,
    pub first_contact: FirstContact,
    /// TOML path of the host's table (`nodes[1]`, `qdevice`), for located errors.
    pub toml_path: String,
}

/// Look a host up by inventory name (node or QDevice).
pub fn host(loaded: &LoadedInventory, name: &str) -> Result<HostSpec> {
    let inv = &loaded.inv;
    if let Some((i, n)) = inv.nodes.iter().enumerate().find(|(_, n)| n.name == name) {
        return Ok(HostSpec {
            name: n.name.clone(),
            address: n.link0.clone(),
            kind: HostKind::Node,
            first_contact: n.first_contact.clone(),
            toml_path: format!("nodes[{i}]"),
        });
    }
    if let Some(q) = inv.qdevice.as_ref().filter(|q| q.name == name) {
        return Ok(HostSpec {
            name: q.name.clone(),
            address: q.address.clone(),
            kind: HostKind::QDevice,
            first_contact: q.first_contact.clone(),
            toml_path: "qdevice".into(),
        });
    }
    bail!("{}: no node or qdevice named `{name}` in the inventory", loaded.path.display())
}

/// The Proxmox nodes `--node` selects (all when none is given). An unknown `--node` name is an
/// error listing the known ones, so a typo never silently selects nothing.
pub fn selected_nodes(loaded: &LoadedInventory, args: &CommonArgs) -> Result<Vec<HostSpec>> {
    let known: Vec<&str> = loaded.inv.nodes.iter().map(|n| n.name.as_str()).collect();
    for n in &args.nodes {
        if !known.contains(&n.as_str()) {
            bail!("--node {n}: no such node in {} (nodes: {})", loaded.path.display(), known.join(", "));
        }
    }
    loaded.inv.nodes.iter().filter(|n| args.selects(&n.name)).map(|n| host(loaded, &n.name)).collect()
}

/// Apply the shared CLI overrides that change how hosts are reached (`--known-hosts`).
/// A relative path is taken relative to the current directory, as a user typing it expects.
pub fn apply_cli_overrides(loaded: &mut LoadedInventory, args: &CommonArgs) {
    if let Some(p) = &args.known_hosts {
        let abs = if p.is_absolute() {
            p.clone()
        } else {
            std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.clone())
        };
        loaded.inv.automation.known_hosts = Some(abs);
    }
}

/// The automation user's auth: identity file from the inventory, else the agent.
fn automation_auth(loaded: &LoadedInventory) -> Auth {
    match loaded.identity_file() {
        Some(p) => Auth::KeyFile(p),
        None => Auth::Agent,
    }
}

/// The automation login on `host`: pinned host keys only (bootstrap pinned them).
pub fn automation_target(loaded: &LoadedInventory, host: &HostSpec) -> SshTarget {
    let mut t = SshTarget::automation(loaded, &host.name, &host.address);
    t.host_key_policy = HostKeyPolicy::Pinned;
    t
}

/// Connect as the automation user to the inventory host `name` (node or QDevice).
pub fn connect_automation(loaded: &LoadedInventory, name: &str) -> Result<Session> {
    let spec = host(loaded, name)?;
    Ok(Session::connect(&automation_target(loaded, &spec))?)
}

/// Which login a [`Contact`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The automation user (already bootstrapped): `sudo -n` for root.
    Automation,
    /// The first-contact user (`root`, or the Pi image's sudo user).
    FirstContact { user: String },
}

/// A session from [`first_contact`], and how it was obtained.
pub struct Contact {
    pub session: Session,
    pub via: Via,
    /// For the report: e.g. a host key pinned by accept-new.
    pub notes: Vec<String>,
}

/// The first-contact secret of a host (None for key first contact). Resolved from the
/// environment/file; the error names where it should have come from.
fn first_contact_secret(loaded: &LoadedInventory, host: &HostSpec) -> Result<Option<(Secret, String)>, InventoryError> {
    let fc = &host.first_contact;
    if fc.method != FirstContactMethod::Password {
        return Ok(None);
    }
    let Some(r) = &fc.password else {
        return Err(loaded.error_at(
            &format!("{}.first_contact.method", host.toml_path),
            format!(
                "{}: first contact by password needs `password = {{ env = \"VAR\" }}` (or `file = …`) in [{}.first_contact]",
                host.name, host.toml_path
            ),
        ));
    };
    match r.resolve(&loaded.base_dir()) {
        Ok(s) => Ok(Some((s, r.describe()))),
        Err(e) => Err(loaded.error_at(
            &format!("{}.first_contact.password", host.toml_path),
            format!("{}: the first-contact password is not available: {e:#}", host.name),
        )),
    }
}

/// The first-contact login of `host` (user, key or password, the inventory's host-key policy).
pub fn first_contact_target(loaded: &LoadedInventory, host: &HostSpec) -> Result<SshTarget> {
    let fc = &host.first_contact;
    let auth = match first_contact_secret(loaded, host).map_err(|e| anyhow!("{e}"))? {
        Some((secret, _)) => Auth::Password(secret),
        None => automation_auth(loaded),
    };
    let mut t = SshTarget::automation(loaded, &host.name, &host.address);
    t.user = fc.user.clone().unwrap_or_else(|| "root".into());
    t.auth = auth;
    t.host_key_policy = fc.host_key;
    Ok(t)
}

/// Reach a host that may not be bootstrapped yet: automation user first, first-contact user
/// when (and only when) the automation login is refused.
///
/// The first-contact secret (the Pi's root password) is read only when the automation login is
/// refused: once a host is bootstrapped its root password login is off anyway, and re-runs,
/// cron jobs and CI need not hold it. A missing secret on a host that still needs it is an
/// error located in the inventory, before anything was changed.
pub fn first_contact(loaded: &LoadedInventory, host: &HostSpec) -> Result<Contact> {
    let mut auto = SshTarget::automation(loaded, &host.name, &host.address);
    // A fresh Pi is reached with accept-new: the automation attempt is the first connection
    // ever, so it must be allowed to pin (the password login that follows then finds the pin).
    auto.host_key_policy = host.first_contact.host_key;
    let mut notes = Vec::new();
    let auto_refusal = match Session::connect(&auto) {
        Ok(s) => {
            notes.extend(s.new_pin().map(str::to_string));
            return Ok(Contact { session: s, via: Via::Automation, notes });
        }
        Err(SshError::AuthFailed { tried, .. }) => tried,
        Err(e) => return Err(anyhow!(e)),
    };
    let fc_target = first_contact_target(loaded, host).map_err(|e| {
        anyhow!(
            "{e:#}\n{}: the automation user {} was refused ({auto_refusal}), so this host needs its first \
             contact, and that needs the secret above; nothing was changed",
            host.name,
            auto.user
        )
    })?;
    log::info!("{}: automation user {} not accepted yet ({auto_refusal}); first contact as {}", host.name, auto.user, fc_target.user);

    match Session::connect(&fc_target) {
        Ok(s) => {
            notes.extend(s.new_pin().map(str::to_string));
            let user = fc_target.user.clone();
            Ok(Contact { session: s, via: Via::FirstContact { user }, notes })
        }
        Err(SshError::AuthFailed { tried, .. }) => {
            let how = match (&fc_target.auth, &host.first_contact.password) {
                (Auth::Password(_), Some(r)) => format!("with the password from {}", r.describe()),
                (a, _) => format!("with {}", a.describe()),
            };
            let hint = match fc_target.auth {
                Auth::Password(_) => "check the password (the lab writes it to .lab/secrets.env)",
                _ => "the key must be in root's authorized_keys (the answer file's root-ssh-keys), or set first_contact.method = \"password\"",
            };
            bail!(
                "authentication failed for {}@{} {how}; nothing was changed. {hint}. \
                 (The automation user {} was tried first and refused: {auto_refusal}; then: {tried})",
                fc_target.user,
                host.name,
                auto.user
            )
        }
        Err(e) => Err(anyhow!(e)),
    }
}

/// Prove that `target` can log in *now*, on a new connection, and use `sudo -n` (when it is
/// not root). Retries while sshd is not accepting yet (a reload re-executes it) until
/// `patience` runs out; an authentication refusal is final at once.
pub fn prove_login(target: &SshTarget, patience: Duration) -> Result<()> {
    let deadline = Instant::now() + patience;
    loop {
        let attempt = Session::connect(target).and_then(|s| {
            let cmd = if target.user == "root" { "true" } else { "sudo -n true" };
            let out = s.exec(cmd, None)?;
            if out.success() {
                Ok(())
            } else {
                Err(SshError::SudoPassword {
                    host: target.name.clone(),
                    user: target.user.clone(),
                    detail: out.tail(3),
                })
            }
        });
        match attempt {
            Ok(()) => return Ok(()),
            Err(e @ (SshError::Refused { .. } | SshError::Timeout { .. } | SshError::Protocol { .. }))
                if Instant::now() < deadline =>
            {
                log::debug!("{}: login not proven yet ({e}); retrying", target.name);
                // A refused connection costs nothing and sshd re-executing after a reload is
                // back within a few hundred ms: poll it closely. Anything else, less often.
                let pause = if matches!(e, SshError::Refused { .. }) { 25 } else { 100 };
                std::thread::sleep(Duration::from_millis(pause));
            }
            Err(e) => bail!("a fresh key login as {} on {} failed: {e}", target.user, target.name),
        }
    }
}

/// The private key file the automation user logs in with, if any (for messages and tests).
pub fn identity_file(loaded: &LoadedInventory) -> Option<PathBuf> {
    loaded.identity_file()
}

/// Helper for messages: `file:line:col` of a host's table.
pub fn locate(loaded: &LoadedInventory, host: &HostSpec) -> String {
    let (l, c) = loaded.spans.locate(&host.toml_path);
    format!("{}:{l}:{c}", Path::new(&loaded.path).display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Automation, Cluster, Defaults, Install, Inventory, Monitoring, Network, Networks, Node, QDevice, Role, SecretRef, SpanIndex, Storage};

    fn inv() -> LoadedInventory {
        let node = |n: &str, o: u8, role| Node {
            name: n.into(),
            role,
            link0: format!("10.231.10.{o}"),
            link1: format!("10.231.1.{o}"),
            mgmt_mac: None,
            prod_mac: None,
            mgmt_nic: None,
            prod_nic: None,
            install_disks: vec![],
            filesystem: Default::default(),
            raid: None,
            manage_bridges: false,
            first_contact: Default::default(),
        };
        let inv = Inventory {
            cluster: Cluster { name: "homelab".into(), domain: "lab.home.arpa".into(), link0_priority: None, link1_priority: None },
            automation: Automation {
                user: "homelab".into(),
                keys: vec![],
                identity_file: Some("id_lab".into()),
                known_hosts: None,
                ssh_port: 22,
                connect_timeout_secs: 3,
            },
            defaults: Defaults::default(),
            networks: Networks {
                mgmt: Network { cidr: "10.231.10.0/24".into(), gateway: None, dns: vec![], bridge: None },
                prod: Network { cidr: "10.231.1.0/24".into(), gateway: None, dns: vec![], bridge: None },
            },
            nodes: vec![node("pve-node1", 11, Role::Master), node("pve-node2", 12, Role::Member)],
            qdevice: Some(QDevice {
                name: "qdevice1".into(),
                address: "10.231.10.5".into(),
                first_contact: FirstContact {
                    method: FirstContactMethod::Password,
                    user: None,
                    password: Some(SecretRef { env: Some("HIAC_TEST_ACCESS_UNSET_PW".into()), file: None }),
                    host_key: HostKeyPolicy::AcceptNew,
                },
                algorithm: Default::default(),
            }),
            nas: None,
            install: Install::default(),
            storage: Storage::default(),
            zfs: vec![],
            replication: vec![],
            backup: vec![],
            monitoring: Monitoring::default(),
        };
        LoadedInventory { inv, path: "/tmp/lab/homelab.toml".into(), spans: SpanIndex::default() }
    }

    #[test]
    fn hosts_are_found_by_name_with_their_table_path() {
        let l = inv();
        let n2 = host(&l, "pve-node2").unwrap();
        assert_eq!((n2.address.as_str(), n2.kind, n2.toml_path.as_str()), ("10.231.10.12", HostKind::Node, "nodes[1]"));
        let q = host(&l, "qdevice1").unwrap();
        assert_eq!((q.kind, q.toml_path.as_str()), (HostKind::QDevice, "qdevice"));
        assert!(host(&l, "nope").unwrap_err().to_string().contains("no node or qdevice named `nope`"));
    }

    #[test]
    fn missing_password_variable_is_a_located_error() {
        // first_contact reads the secret only after the automation login was refused; the
        // error it then reports is first_contact_target's.
        let l = inv();
        let q = host(&l, "qdevice1").unwrap();
        let msg = first_contact_target(&l, &q).unwrap_err().to_string();
        assert!(msg.starts_with("/tmp/lab/homelab.toml:"), "{msg}");
        assert!(msg.contains("HIAC_TEST_ACCESS_UNSET_PW") && msg.contains("qdevice1"), "{msg}");
        // key-based nodes need no secret
        assert!(first_contact_target(&l, &host(&l, "pve-node1").unwrap()).is_ok());
    }

    #[test]
    fn password_method_without_a_reference_is_an_error() {
        let mut l = inv();
        l.inv.nodes[0].first_contact.method = FirstContactMethod::Password;
        let e = first_contact_target(&l, &host(&l, "pve-node1").unwrap()).unwrap_err().to_string();
        assert!(e.contains("first contact by password needs"), "{e}");
    }

    #[test]
    fn targets_use_inventory_policy_user_and_auth() {
        std::env::set_var("HIAC_TEST_ACCESS_SET_PW", "s3cret-pw");
        let mut l = inv();
        l.inv.qdevice.as_mut().unwrap().first_contact.password =
            Some(SecretRef { env: Some("HIAC_TEST_ACCESS_SET_PW".into()), file: None });
        let q = host(&l, "qdevice1").unwrap();
        let t = first_contact_target(&l, &q).unwrap();
        assert_eq!(t.user, "root");
        assert_eq!(t.host_key_policy, HostKeyPolicy::AcceptNew);
        assert!(matches!(t.auth, Auth::Password(_)));
        assert!(!format!("{t:?}").contains("s3cret-pw"), "the secret must never be formatted");
        let a = automation_target(&l, &q);
        assert_eq!((a.user.as_str(), a.host_key_policy), ("homelab", HostKeyPolicy::Pinned));
        assert!(matches!(&a.auth, Auth::KeyFile(p) if p == Path::new("/tmp/lab/id_lab")));
        let n = first_contact_target(&l, &host(&l, "pve-node1").unwrap()).unwrap();
        assert_eq!((n.user.as_str(), n.host_key_policy), ("root", HostKeyPolicy::Pinned));
        assert!(matches!(n.auth, Auth::KeyFile(_)));
    }

    #[test]
    fn node_selection_rejects_unknown_names() {
        use clap::Parser;
        #[derive(Parser)]
        struct A {
            #[command(flatten)]
            c: CommonArgs,
        }
        let l = inv();
        let a = A::parse_from(["x", "--node", "pve-node2"]);
        let sel = selected_nodes(&l, &a.c).unwrap();
        assert_eq!(sel.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["pve-node2"]);
        let a = A::parse_from(["x", "--node", "pve-node9"]);
        let e = selected_nodes(&l, &a.c).unwrap_err().to_string();
        assert!(e.contains("pve-node9") && e.contains("pve-node1, pve-node2"), "{e}");
        let a = A::parse_from(["x"]);
        assert_eq!(selected_nodes(&l, &a.c).unwrap().len(), 2);
    }
}
