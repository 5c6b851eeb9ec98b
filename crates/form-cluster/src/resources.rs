//! The per-node resources of form-cluster (engine [`Resource`]s, so drift-check re-evaluates
//! them): root's key pairs, the cluster's root keys in `authorized_keys`, the host-key pins in
//! root's `known_hosts`, and `corosync-qdevice` installed.

use crate::facts::{key, NodeFacts, PiFacts, ROOT_AUTHORIZED_KEYS, ROOT_KNOWN_HOSTS};
use crate::trust::{self, HostPin, RootKeys};
use common::engine::resources::{Packages, Service};
use common::engine::{Observed, Resource, Status};
use common::inventory::Inventory;
use common::ssh::Session;
use std::collections::BTreeMap;

/// A root key pair: ed25519 (what the operator would choose) or RSA (what `pvecm` uses:
/// `ssh-copy-id -i /root/.ssh/id_rsa`, pve-cli.md §2.3, §2.9 step 5; PVE creates it with 4096
/// bits on create/join — we create it first so the key is known before the join).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Ed25519,
    Rsa,
}

impl KeyKind {
    pub fn file(self) -> &'static str {
        match self {
            KeyKind::Ed25519 => "/root/.ssh/id_ed25519",
            KeyKind::Rsa => "/root/.ssh/id_rsa",
        }
    }
    fn keygen_args(self) -> &'static str {
        match self {
            KeyKind::Ed25519 => "-t ed25519",
            KeyKind::Rsa => "-t rsa -b 4096",
        }
    }
    /// The facts probe that reads this key (same snippet as the resource probe).
    pub fn fact_key(self) -> &'static str {
        match self {
            KeyKind::Ed25519 => key::ROOT_ED25519,
            KeyKind::Rsa => key::ROOT_RSA,
        }
    }
}

/// Root's key pair of one kind exists (private key non-empty, public key readable).
#[derive(Debug, Clone)]
pub struct RootKeyPair {
    pub kind: KeyKind,
}

impl Resource for RootKeyPair {
    fn id(&self) -> String {
        format!("root key {}", self.kind.file())
    }
    fn probe(&self) -> String {
        format!(
            "k={}\nif [ ! -s \"$k\" ]; then exit 3; fi\nif [ -s \"$k.pub\" ]; then cat \"$k.pub\"; else ssh-keygen -y -f \"$k\"; fi\n",
            self.kind.file()
        )
    }
    fn evaluate(&self, o: &Observed) -> anyhow::Result<Status> {
        if o.status == 0 && trust::type_and_blob(o.stdout.trim()).is_some() {
            Ok(Status::InState)
        } else if o.status == 3 {
            Ok(Status::change("generate (no key pair yet)"))
        } else {
            Ok(Status::change(format!("regenerate the public key (probe: exit {})", o.status)))
        }
    }
    fn apply(&self, s: &Session) -> anyhow::Result<()> {
        let out = s.script_root(&self.keygen_script())?;
        s.check(&format!("generating {}", self.kind.file()), out).map(drop)
    }
}

impl RootKeyPair {
    fn keygen_script(&self) -> String {
        // ssh-keygen gets /dev/null as stdin: our script *is* stdin (`sh -s`), and an existing
        // key file would make it ask "Overwrite (y/n)?". The pair is generated under a temp
        // name and published with `ln` (atomic, fails if the key exists): PVE itself creates
        // id_rsa in the background at boot (pve-cluster's `pvecm updatecerts --silent`), and
        // whoever comes first wins — both keys are fine, neither is overwritten.
        let script = format!(
            "set -e\numask 077\nmkdir -p /root/.ssh\nchmod 700 /root/.ssh\nk={f}\n\
             if [ -e \"$k\" ] && [ ! -s \"$k\" ]; then rm -f \"$k\"; fi\n\
             if [ ! -e \"$k\" ]; then\n\
             \x20 t=$(mktemp -u \"$k.homelab-iac.XXXXXX\")\n\
             \x20 ssh-keygen -q {args} -N '' -C \"root@$(hostname)\" -f \"$t\" </dev/null >&2\n\
             \x20 if ln \"$t\" \"$k\" 2>/dev/null; then mv -f \"$t.pub\" \"$k.pub\"; fi\n\
             \x20 rm -f \"$t\" \"$t.pub\"\n\
             fi\n\
             if [ ! -s \"$k.pub\" ]; then ssh-keygen -y -f \"$k\" </dev/null > \"$k.pub.tmp\" && mv -f \"$k.pub.tmp\" \"$k.pub\" || rm -f \"$k.pub.tmp\"; fi\n",
            f = self.kind.file(),
            args = self.kind.keygen_args()
        );
        script
    }
}

/// Our marked lines in one of root's SSH files (see [`trust`]): exactly `lines`.
#[derive(Debug, Clone)]
pub struct ManagedLines {
    pub path: &'static str,
    pub what: &'static str,
    pub lines: Vec<String>,
}

impl Resource for ManagedLines {
    fn id(&self) -> String {
        format!("{} ({})", self.path, self.what)
    }
    fn probe(&self) -> String {
        format!("cat {} 2>/dev/null || true\n", self.path)
    }
    fn evaluate(&self, o: &Observed) -> anyhow::Result<Status> {
        if trust::in_state(&o.stdout, &self.lines) {
            Ok(Status::InState)
        } else {
            let have = trust::marked_lines(&o.stdout).len();
            Ok(Status::change_with_diff(
                format!("{have} → {} managed lines", self.lines.len()),
                Some(trust::describe_change(&o.stdout, &self.lines)),
            ))
        }
    }
    fn apply(&self, s: &Session) -> anyhow::Result<()> {
        let out = s.script_root(&trust::rewrite_script(self.path, "600", &self.lines))?;
        s.check(&format!("updating {}", self.path), out).map(drop)
    }
}

/// `corosync-qdevice` on every node (pve-cli.md §2.9 prerequisites).
pub fn qdevice_package() -> Packages {
    Packages::new(&["corosync-qdevice"])
}

/// Root keys of every node as observed.
pub fn root_keys(inv: &Inventory, facts: &BTreeMap<String, NodeFacts>) -> Vec<RootKeys> {
    inv.nodes
        .iter()
        .filter_map(|n| facts.get(&n.name))
        .map(|f| RootKeys { node: f.name.clone(), ed25519: f.root_ed25519.clone(), rsa: f.root_rsa.clone() })
        .collect()
}

/// Host pins: every node under name, FQDN and both links; the Pi under name and address.
pub fn host_pins(inv: &Inventory, facts: &BTreeMap<String, NodeFacts>, pi: Option<&PiFacts>) -> Vec<HostPin> {
    let mut pins: Vec<HostPin> = inv
        .nodes
        .iter()
        .filter_map(|n| {
            let f = facts.get(&n.name)?;
            Some(HostPin {
                name: n.name.clone(),
                aliases: vec![inv.fqdn(&n.name), n.link0.clone(), n.link1.clone()],
                key: f.host_key.clone()?,
            })
        })
        .collect();
    if let (Some(q), Some(p)) = (&inv.qdevice, pi) {
        if let Some(k) = &p.host_key {
            pins.push(HostPin { name: q.name.clone(), aliases: vec![q.address.clone()], key: k.clone() });
        }
    }
    pins
}

/// The trust resources of `node` (the same desired lines on every node, except that a Pi not
/// observed this run keeps the pin `node` already has, instead of losing it).
pub fn trust_resources(
    inv: &Inventory,
    facts: &BTreeMap<String, NodeFacts>,
    pi: Option<&PiFacts>,
    node: &str,
) -> (ManagedLines, ManagedLines) {
    let keys = trust::authorized_lines(&root_keys(inv, facts));
    let mut hosts = trust::known_host_lines(&host_pins(inv, facts, pi));
    if let Some(q) = &inv.qdevice {
        if pi.and_then(|p| p.host_key.as_ref()).is_none() {
            let tag = format!("{}{}", trust::MARK, q.name);
            if let Some(f) = facts.get(node) {
                hosts.extend(trust::marked_lines(&f.known_hosts).into_iter().filter(|l| l.ends_with(&tag)));
            }
        }
    }
    (
        ManagedLines { path: ROOT_AUTHORIZED_KEYS, what: "cluster nodes' root keys", lines: keys },
        ManagedLines { path: ROOT_KNOWN_HOSTS, what: "cluster host-key pins", lines: hosts },
    )
}

/// All resources of `node`, in apply order.
pub fn node_resources(
    inv: &Inventory,
    facts: &BTreeMap<String, NodeFacts>,
    pi: Option<&PiFacts>,
    node: &str,
) -> Vec<Box<dyn Resource>> {
    let (ak, kh) = trust_resources(inv, facts, pi, node);
    let mut v: Vec<Box<dyn Resource>> = vec![
        Box::new(RootKeyPair { kind: KeyKind::Ed25519 }),
        Box::new(RootKeyPair { kind: KeyKind::Rsa }),
        Box::new(ak),
        Box::new(kh),
    ];
    if inv.qdevice.is_some() {
        v.push(Box::new(qdevice_package()));
        // Required only where it can run: the cluster has a device and this node its certificates
        // (a node without them gets them from the planned `qdevice setup`).
        let configured = facts.get(node).is_some_and(|f| {
            f.qdevice_certs && f.conf.as_ref().is_some_and(|c| c.has_quorum_device())
        });
        v.push(Box::new(QdeviceDaemon { configured }));
    }
    v
}

/// `corosync-qdevice` enabled and running on every member *once the cluster has a QDevice*
/// (`pvecm qdevice setup` starts and enables it, pve-cli.md §2.9 step 16; a stopped one is
/// started again). Before that it is in state whatever it does, so its probe can always be
/// part of the batch.
#[derive(Debug, Clone)]
pub struct QdeviceDaemon {
    pub configured: bool,
}

impl QdeviceDaemon {
    fn service() -> Service {
        Service::running("corosync-qdevice")
    }
}

impl Resource for QdeviceDaemon {
    fn id(&self) -> String {
        Self::service().id()
    }
    fn probe(&self) -> String {
        Self::service().probe()
    }
    fn evaluate(&self, o: &Observed) -> anyhow::Result<Status> {
        if self.configured {
            Self::service().evaluate(o)
        } else {
            Ok(Status::InState)
        }
    }
    fn apply(&self, s: &Session) -> anyhow::Result<()> {
        if self.configured {
            Self::service().apply(s)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_pair_evaluation() {
        let r = RootKeyPair { kind: KeyKind::Ed25519 };
        assert_eq!(
            r.evaluate(&Observed::new("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9 root@x\n", 0))
                .unwrap(),
            Status::InState
        );
        assert!(matches!(r.evaluate(&Observed::new("", 3)).unwrap(), Status::Change { .. }));
        assert!(r.probe().contains("/root/.ssh/id_ed25519"));
        // The resource probe and the facts probe read the key the same way.
        let facts_probe = crate::facts::node_probes().into_iter().find(|(k, _)| k == key::ROOT_ED25519).unwrap().1;
        assert_eq!(facts_probe, r.probe());
    }

    #[test]
    fn keygen_creates_once_and_never_overwrites() {
        let dir = std::env::temp_dir().join(format!("fc-keygen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ssh = dir.join("ssh");
        let script = RootKeyPair { kind: KeyKind::Ed25519 }.keygen_script().replace("/root/.ssh", ssh.to_str().unwrap());
        let run = || {
            let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        };
        run();
        let first = std::fs::read_to_string(ssh.join("id_ed25519.pub")).unwrap();
        assert!(first.starts_with("ssh-ed25519 "), "{first}");
        run();
        assert_eq!(std::fs::read_to_string(ssh.join("id_ed25519.pub")).unwrap(), first, "never regenerated");
        // Someone else (PVE's updatecerts) created the key, without its .pub yet: kept, .pub derived.
        std::fs::remove_file(ssh.join("id_ed25519.pub")).unwrap();
        run();
        let derived = std::fs::read_to_string(ssh.join("id_ed25519.pub")).unwrap();
        assert_eq!(derived.split_whitespace().nth(1), first.split_whitespace().nth(1));
        // An empty key file (interrupted write) is replaced.
        std::fs::write(ssh.join("id_ed25519"), "").unwrap();
        run();
        assert!(std::fs::metadata(ssh.join("id_ed25519")).unwrap().len() > 0);
        let leftovers: Vec<_> = std::fs::read_dir(&ssh).unwrap().flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("homelab-iac")).collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn managed_lines_evaluation() {
        let want = vec!["ssh-ed25519 AAAA homelab-iac:form-cluster:root@a".to_string()];
        let r = ManagedLines { path: ROOT_AUTHORIZED_KEYS, what: "x", lines: want.clone() };
        assert_eq!(r.evaluate(&Observed::new(&format!("op-key\n{}\n", want[0]), 0)).unwrap(), Status::InState);
        match r.evaluate(&Observed::new("op-key\n", 0)).unwrap() {
            Status::Change { summary, diff } => {
                assert_eq!(summary, "0 → 1 managed lines");
                assert!(diff.unwrap().starts_with("+ ssh-ed25519 AAAA"));
            }
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn managed_lines_script_really_works_on_a_symlinked_file() {
        // Run the generated script with the local sh on a temp dir: the symlink stays a
        // symlink, foreign lines stay, our lines are replaced.
        let dir = std::env::temp_dir().join(format!("fc-trust-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("priv")).unwrap();
        let target = dir.join("priv/authorized_keys");
        std::fs::write(&target, "op-key one\nssh-rsa OLD homelab-iac:form-cluster:root@gone\n").unwrap();
        let link = dir.join("authorized_keys");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let lines = vec!["ssh-ed25519 NEW homelab-iac:form-cluster:root@a".to_string()];
        let script = trust::rewrite_script(link.to_str().unwrap(), "600", &lines);
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "op-key one\nssh-ed25519 NEW homelab-iac:form-cluster:root@a\n"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o600);
        // Absent file: created.
        let fresh = dir.join("new/known_hosts");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(trust::rewrite_script(fresh.to_str().unwrap(), "600", &lines))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), format!("{}\n", lines[0]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
