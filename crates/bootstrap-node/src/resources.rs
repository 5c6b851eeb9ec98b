//! bootstrap-node's resources beyond the shared baseline: APT sources, full upgrade, host
//! identity, bridges and the subscription-notice patch.

use crate::repos::SourcesEdit;
use crate::{hosts, interfaces, subscription, system};
use anyhow::{bail, Context, Result};
use common::baseline::resources::EditedFile;
use common::engine::resources::{Absent, Command, Directory, File, Symlink};
use common::engine::{Observed, Resource, Status};
use common::inventory::{Inventory, Node};
use common::ssh::{quote, Session, Upload};
use std::sync::{Arc, Mutex};

/// A sources file under `/etc/apt/sources.list.d` edited as [`SourcesEdit`] says.
pub fn sources_file(path: &str, edit: SourcesEdit) -> EditedFile {
    let what = match &edit {
        SourcesEdit::DisableEnterprise | SourcesEdit::DisableEnterpriseList => "disable the enterprise repository",
        SourcesEdit::Exactly(_) => "Proxmox VE repository without subscription",
        SourcesEdit::DisableEnterpriseAndEnsure(_) => "Ceph: enterprise off, no-subscription on",
    };
    EditedFile::new(path, what, move |cur| edit.apply(cur))
}

/// `apt-get full-upgrade` when upgrades are pending (`--upgrade` only). Pending upgrades are
/// judged from the current package lists (PVE refreshes them daily; the apply refreshes them
/// first), so a node with nothing pending costs no extra round trip.
pub fn full_upgrade() -> Command {
    Command::with_check(
        "apt-get full-upgrade",
        "n=$(apt-get -s -q -o Debug::NoLocking=1 full-upgrade 2>/dev/null | grep -c '^Inst '); echo \"pending $n\"\n",
        |o: &Observed| {
            let n: u32 = o.field("pending").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
            Ok(if n == 0 { Status::InState } else { Status::change(format!("upgrade {n} packages")) })
        },
        "set -e\nexport DEBIAN_FRONTEND=noninteractive\napt-get update -q\n\
         apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold full-upgrade\n",
    )
}

/// Hostname, `/etc/hosts`, gai.conf, timezone and chrony, in that order.
pub fn identity(inv: &Inventory, node: &Node) -> Vec<Box<dyn Resource>> {
    let name = node.name.clone();
    let entries = hosts::entries(inv);
    let mut out: Vec<Box<dyn Resource>> = vec![
        Box::new(File::new("/etc/hostname", format!("{name}\n"), 0o644)),
        Box::new(running_hostname(&name)),
        Box::new(EditedFile::new("/etc/hosts", "cluster names on both links", move |cur| {
            Some(hosts::render(cur.unwrap_or(""), &entries))
        })),
        Box::new(EditedFile::new(system::GAI_CONF, "prefer IPv4 (gai.conf precedence)", |cur| {
            Some(system::gai_conf(cur.unwrap_or("")))
        })),
        Box::new(Symlink::new(system::LOCALTIME, &system::zoneinfo(&inv.defaults.timezone))),
        Box::new(File::new(system::TIMEZONE_FILE, format!("{}\n", inv.defaults.timezone), 0o644)),
    ];
    let chrony_id = match system::chrony_sources(&inv.defaults.ntp_servers) {
        Some(text) => {
            out.push(Box::new(Directory::new(system::CHRONY_DIR, 0o755)));
            let f = File::new(system::CHRONY_SOURCES, text, 0o644);
            let id = f.id();
            out.push(Box::new(f));
            id
        }
        None => {
            let a = Absent::new(system::CHRONY_SOURCES);
            let id = a.id();
            out.push(Box::new(a));
            id
        }
    };
    out.push(Box::new(
        Command::new(
            "chrony reload sources",
            "true\n",
            |_| true,
            "",
            "if command -v chronyc >/dev/null 2>&1 && chronyc -n tracking >/dev/null 2>&1; then chronyc reload sources >/dev/null; fi\n",
        )
        .notified_by(&[&chrony_id]),
    ));
    out
}

/// The running hostname (the kernel's), set from the inventory name.
fn running_hostname(name: &str) -> Command {
    let want = name.to_string();
    Command::with_check(
        &format!("hostname {name}"),
        "hostname\n",
        move |o: &Observed| {
            let have = o.stdout.trim();
            Ok(if have == want { Status::InState } else { Status::change(format!("{have} → {want}")) })
        },
        &format!("hostname {}\n", quote(name)),
    )
}

/// `/etc/network/interfaces` with bridges: backup, validate (`ifquery` where present), apply
/// with `ifreload -a` only where ifupdown2 exists, and only keeping the address we use.
#[derive(Debug, Clone)]
pub struct Interfaces {
    file: File,
    keep_addr: String,
}

impl Interfaces {
    pub fn new(content: String, keep_addr: String) -> Self {
        Interfaces { file: File::new(interfaces::INTERFACES, content, 0o644), keep_addr }
    }
}

impl Resource for Interfaces {
    fn id(&self) -> String {
        self.file.id()
    }
    fn probe(&self) -> String {
        self.file.probe()
    }
    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        self.file.evaluate(observed)
    }
    fn apply(&self, session: &Session) -> Result<()> {
        let host = session.host().to_string();
        let (cur, bak) = (quote(interfaces::INTERFACES), quote(interfaces::BACKUP));
        let out = session.exec_root(&format!("if [ -f {cur} ]; then cp -p {cur} {bak}; fi"), None)?;
        session.check("backing up /etc/network/interfaces", out)?;
        session.upload(&Upload {
            path: interfaces::INTERFACES,
            content: &self.file.content,
            mode: 0o644,
            owner: "root",
            group: "root",
            validate: Some("if command -v ifquery >/dev/null 2>&1; then ifquery -a -i {} >/dev/null; fi"),
        })?;
        let keep = quote(&self.keep_addr);
        let script = format!(
            "if ! command -v ifreload >/dev/null 2>&1; then echo not-applied; exit 0; fi\n\
             if ifreload -a && ip -o addr show | grep -q \"inet6\\? {keep}/\"; then echo applied; exit 0; fi\n\
             cp -p {bak} {cur}; ifreload -a; echo 'ifreload failed or lost {keep}; previous file restored' >&2; exit 1\n"
        );
        let out = session.script_root(&script)?;
        let out = session.check("applying /etc/network/interfaces", out)?;
        if out.stdout.contains("not-applied") {
            log::warn!("{host}: /etc/network/interfaces written but not applied (no ifreload here); it takes effect at the next boot");
        }
        Ok(())
    }
}

/// Notes that resources leave for the host report (e.g. "not applicable").
pub type NoteSink = Arc<Mutex<Vec<String>>>;

/// The opt-in subscription-notice patch ([`subscription`]).
#[derive(Debug, Clone, Default)]
pub struct SubscriptionNotice {
    pub notes: NoteSink,
}

impl Resource for SubscriptionNotice {
    fn id(&self) -> String {
        "subscription notice".into()
    }
    fn probe(&self) -> String {
        format!(
            "f={f}\nif [ ! -f \"$f\" ]; then echo absent\nelif grep -qF {mark} \"$f\"; then echo patched\n\
             elif grep -qF {needle} \"$f\"; then echo patchable\nelse echo unknown; fi\n",
            f = quote(subscription::PROXMOXLIB),
            mark = quote(subscription::MARK),
            needle = quote(subscription::NEEDLE),
        )
    }
    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        match observed.stdout.trim() {
            "patched" => Ok(Status::InState),
            "patchable" => Ok(Status::change(format!("remove the no-subscription dialog (backup {})", subscription::BACKUP))),
            other => {
                let why = if other == "absent" { "proxmoxlib.js not found" } else { "proxmoxlib.js changed shape" };
                self.notes.lock().unwrap().push(format!("subscription notice: not applicable ({why}); left untouched"));
                Ok(Status::InState)
            }
        }
    }
    fn apply(&self, session: &Session) -> Result<()> {
        let js = session
            .read_file(subscription::PROXMOXLIB)?
            .with_context(|| format!("{} disappeared", subscription::PROXMOXLIB))?;
        let js = String::from_utf8(js).context("proxmoxlib.js is not UTF-8")?;
        let patched = match subscription::patch(&js) {
            subscription::State::Patched => return Ok(()),
            subscription::State::NotApplicable => bail!("proxmoxlib.js changed between observation and patch; re-run"),
            subscription::State::Patchable(p) => p,
        };
        let out = session.exec_root(
            &format!("cp -p {} {}", quote(subscription::PROXMOXLIB), quote(subscription::BACKUP)),
            None,
        )?;
        session.check("backing up proxmoxlib.js", out)?;
        session.upload(&Upload {
            path: subscription::PROXMOXLIB,
            content: patched.as_bytes(),
            mode: 0o644,
            owner: "root",
            group: "root",
            validate: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_counts_pending() {
        let u = full_upgrade();
        assert_eq!(u.evaluate(&Observed::new("pending 0\n", 0)).unwrap(), Status::InState);
        assert_eq!(u.evaluate(&Observed::new("pending 3\n", 0)).unwrap(), Status::change("upgrade 3 packages"));
    }

    #[test]
    fn hostname_check() {
        let h = running_hostname("pve-node1");
        assert_eq!(h.evaluate(&Observed::new("pve-node1\n", 0)).unwrap(), Status::InState);
        assert_eq!(h.evaluate(&Observed::new("proxmox\n", 0)).unwrap(), Status::change("proxmox → pve-node1"));
    }

    #[test]
    fn subscription_states() {
        let s = SubscriptionNotice::default();
        assert_eq!(s.evaluate(&Observed::new("patched\n", 0)).unwrap(), Status::InState);
        assert!(matches!(s.evaluate(&Observed::new("patchable\n", 0)).unwrap(), Status::Change { .. }));
        assert_eq!(s.evaluate(&Observed::new("unknown\n", 0)).unwrap(), Status::InState);
        assert!(s.notes.lock().unwrap()[0].contains("not applicable"));
        // probe is valid sh on a machine without the file
        let out = std::process::Command::new("sh").arg("-c").arg(s.probe()).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "absent");
    }

    #[test]
    fn sources_edit_is_applied_through_edited_file() {
        let f = sources_file("/etc/apt/sources.list.d/pve-enterprise.sources", SourcesEdit::DisableEnterprise);
        assert_eq!(f.id(), "file /etc/apt/sources.list.d/pve-enterprise.sources");
        let probe_out = "meta 644 root root\nTypes: deb\nURIs: https://enterprise.proxmox.com/debian/pve\nSuites: trixie\nComponents: pve-enterprise\n";
        match f.evaluate(&Observed::new(probe_out, 0)).unwrap() {
            Status::Change { summary, diff } => {
                assert_eq!(summary, "disable the enterprise repository");
                assert!(diff.unwrap().contains("+Enabled: no"));
            }
            s => panic!("{s:?}"),
        }
        assert_eq!(f.evaluate(&Observed::new("absent\n", 0)).unwrap(), Status::InState);
    }
}
