//! bootstrap-node: from a fresh Proxmox VE install to a managed, hardened node (issue 5).
//!
//! The library describes the desired state of one node as engine resources ([`desired`]), so
//! drift-check re-evaluates exactly what this phase applies; [`run_node`] applies it with the
//! least access possible:
//!
//! 1. **First contact** ([`common::access::first_contact`]): the automation user when it already
//!    works, else root (key from the answer file, or the inventory's password).
//! 2. As root only when needed — [`root_stage`]: APT sources fixed *before* the first
//!    `apt-get update` (pve-cli.md §8), `sudo` installed (a fresh PVE has none), the automation
//!    user, its sudoers drop-in and its keys ([`common::baseline`]).
//! 3. Everything else as the automation user with `sudo -n` — [`automation_stage`]: inventory
//!    packages, `--upgrade`, sshd hardening (proven logins, rollback), hostname, `/etc/hosts`,
//!    gai.conf, timezone, chrony, optional bridges and subscription-notice patch, and the
//!    completion marker.
//!
//! A converged node is reached as the automation user and observed in ONE round trip: both
//! stages are converged together on that session.

pub mod hosts;
pub mod interfaces;
pub mod repos;
pub mod resources;
pub mod subscription;
pub mod system;

use anyhow::{Context, Result};
use common::access::{self, HostSpec, Via};
use common::baseline::resources::{access as access_resources, CompletionMarker, SshdDropIn};
use common::baseline::sshd::{PermitRootLogin, SshdHardening};
use common::engine::{self, HostReport, Mode, Resource};
use common::inventory::LoadedInventory;
use common::ssh::Session;

/// Name of the phase (reports, marker).
pub const TOOL: &str = "bootstrap-node";

/// Knobs of one run beyond the inventory.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--upgrade`: run `apt-get full-upgrade` when upgrades are pending.
    pub upgrade: bool,
    /// Raw lines appended to the sshd drop-in. Not a CLI flag: tests use it to prove that an
    /// invalid setting is rejected by `sshd -t` and never installed.
    pub sshd_extra_lines: Vec<String>,
    /// Where resources leave notes for the host report ("not applicable"); [`run_node`] gives
    /// every host its own.
    pub notes: resources::NoteSink,
}

/// The automation user's accepted keys as `authorized_keys` lines (literal + `github:USER`).
pub fn automation_keys(loaded: &LoadedInventory) -> Result<Vec<String>> {
    Ok(common::inventory::keys::resolve_keys(loaded)?.iter().map(|k| k.to_line()).collect())
}

/// Resources that may need root before the automation user exists, in apply order.
pub fn root_stage(loaded: &LoadedInventory, keys: &[String]) -> Vec<Box<dyn Resource>> {
    let inv = &loaded.inv;
    let mut out: Vec<Box<dyn Resource>> = Vec::new();
    let mut source_ids = Vec::new();
    for (path, edit) in repos::desired(&inv.defaults) {
        let r = resources::sources_file(&path, edit);
        source_ids.push(r.id());
        out.push(Box::new(r));
    }
    let ids: Vec<&str> = source_ids.iter().map(String::as_str).collect();
    out.push(Box::new(common::engine::resources::AptUpdate::new(&ids)));
    out.extend(access_resources(&inv.automation.user, keys));
    out
}

/// The sshd hardening of a Proxmox node: root keeps key login (cluster SSH between nodes).
pub fn sshd_hardening(loaded: &LoadedInventory, opts: &Options) -> SshdHardening {
    let mut h = SshdHardening::new(PermitRootLogin::ProhibitPassword, loaded.inv.defaults.ssh_max_auth_tries, TOOL);
    h.extra_lines = opts.sshd_extra_lines.clone();
    h
}

/// Resources applied as the automation user, in order (without the completion marker).
pub fn automation_stage(loaded: &LoadedInventory, node: &HostSpec, opts: &Options) -> Result<Vec<Box<dyn Resource>>> {
    let inv = &loaded.inv;
    let n = inv.node(&node.name).with_context(|| format!("{} is not a node of the inventory", node.name))?;
    let mut out: Vec<Box<dyn Resource>> = Vec::new();
    if !inv.defaults.packages.is_empty() {
        let names: Vec<&str> = inv.defaults.packages.iter().map(String::as_str).collect();
        out.push(Box::new(common::engine::resources::Packages::new(&names)));
    }
    if opts.upgrade {
        out.push(Box::new(resources::full_upgrade()));
    }
    out.push(Box::new(SshdDropIn::new(sshd_hardening(loaded, opts), Some(access::automation_target(loaded, node)))));
    out.extend(resources::identity(inv, n));
    if n.manage_bridges {
        out.push(Box::new(resources::Interfaces::new(interfaces::render(inv, n)?, n.link0.clone())));
    }
    if inv.defaults.remove_subscription_notice {
        out.push(Box::new(resources::SubscriptionNotice { notes: opts.notes.clone() }));
    }
    Ok(out)
}

/// Every desired resource of `node`, in apply order, ending with the completion marker.
/// drift-check evaluates this list (in Check mode) on an automation session.
pub fn desired(loaded: &LoadedInventory, node: &HostSpec, keys: &[String], opts: &Options) -> Result<Vec<Box<dyn Resource>>> {
    let mut all = root_stage(loaded, keys);
    all.extend(automation_stage(loaded, node, opts)?);
    let marker = CompletionMarker::new(TOOL, &all);
    all.push(Box::new(marker));
    Ok(all)
}

/// Is this report's failure "sudo needs a password"? (The automation user logs in but its
/// sudoers drop-in is gone: fall back to first contact to repair it.)
fn sudo_refused(r: &HostReport) -> bool {
    r.error.as_deref().is_some_and(|e| e.contains("`sudo -n` refused"))
}

/// Bootstrap one node: first contact, the stages as described in the crate docs, one report.
pub fn run_node(loaded: &LoadedInventory, node: &HostSpec, keys: &[String], opts: &Options, mode: Mode) -> HostReport {
    let started = std::time::Instant::now();
    let opts = &Options { notes: resources::NoteSink::default(), ..opts.clone() };
    let mut report = match access::first_contact(loaded, node) {
        Err(e) => HostReport::failed(&node.name, format!("{e:#}")),
        Ok(contact) => {
            let mut r = match contact.via {
                Via::Automation => {
                    let all = desired(loaded, node, keys, opts);
                    let first = converge_all(&contact.session, all, mode);
                    if sudo_refused(&first) {
                        // Reconnect as the first-contact user and repair the sudoers drop-in.
                        let mut target = match access::first_contact_target(loaded, node) {
                            Ok(t) => t,
                            Err(e) => return HostReport::failed(&node.name, format!("{e:#}")),
                        };
                        target.host_key_policy = common::inventory::HostKeyPolicy::Pinned;
                        match Session::connect(&target) {
                            Ok(root) => staged(loaded, node, keys, opts, mode, &root),
                            Err(e) => HostReport::failed(
                                &node.name,
                                format!("{}; first contact to repair it failed too: {e}", first.error.unwrap_or_default()),
                            ),
                        }
                    } else {
                        first
                    }
                }
                Via::FirstContact { .. } => staged(loaded, node, keys, opts, mode, &contact.session),
            };
            r.notes.splice(0..0, contact.notes);
            r.connect_time = contact.session.connect_time();
            r
        }
    };
    report.host = node.name.clone();
    report.notes.extend(opts.notes.lock().unwrap().drain(..));
    report.elapsed = started.elapsed();
    report
}

/// The whole phase over `nodes` (in parallel, one thread per node), as one run report.
pub fn run(loaded: &LoadedInventory, nodes: &[HostSpec], keys: &[String], opts: &Options, mode: Mode) -> engine::RunReport {
    let reports = engine::for_each_host(nodes, |n| run_node(loaded, n, keys, opts, mode));
    engine::RunReport::new(TOOL, reports)
}

fn converge_all(session: &Session, all: Result<Vec<Box<dyn Resource>>>, mode: Mode) -> HostReport {
    match all {
        Ok(all) => engine::converge(session, &all, mode),
        Err(e) => HostReport::failed(session.host(), format!("{e:#}")),
    }
}

/// First contact was not the automation user: root stage on `root`, then a new automation
/// session for the rest. In Check mode everything is evaluated on `root` (the automation user
/// may not exist yet, and nothing is changed anyway).
fn staged(loaded: &LoadedInventory, node: &HostSpec, keys: &[String], opts: &Options, mode: Mode, root: &Session) -> HostReport {
    if mode == Mode::Check {
        return converge_all(root, desired(loaded, node, keys, opts), mode);
    }
    let first = root_stage(loaded, keys);
    let mut report = engine::converge(root, &first, mode);
    if report.has_failures() {
        return report;
    }
    let changed_first = report.changed_count() > 0;
    let mut second = match automation_stage(loaded, node, opts) {
        Ok(r) => r,
        Err(e) => {
            report.error = Some(format!("{e:#}"));
            return report;
        }
    };
    let auto = match access::connect_automation(loaded, &node.name) {
        Ok(s) => s,
        Err(e) => {
            report.error = Some(format!("the automation user cannot log in after its set-up: {e:#}"));
            return report;
        }
    };
    // The marker is notified by every resource of both stages; root-stage changes were made
    // on the other session, so they are handed over explicitly.
    let mut marker = CompletionMarker::new(TOOL, &second).after_changes(changed_first);
    marker.notified_by.extend(first.iter().map(|r| r.id()));
    second.push(Box::new(marker));
    report.merge(engine::converge(&auto, &second, mode));
    report
}

/// Nodes the run covers (`--node`), or an error naming the unknown name.
pub fn selected(loaded: &LoadedInventory, args: &common::cli::CommonArgs) -> Result<Vec<HostSpec>> {
    access::selected_nodes(loaded, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared lab fixture with the automation key file and the defaults these resources read.
    pub(crate) fn lab_inventory() -> LoadedInventory {
        common::inventory::testing::LabInventory::new()
            .with("automation", r#"identity_file = "id_lab""#)
            .with("defaults", r#"timezone = "Australia/Brisbane""#)
            .with("defaults", r#"ntp_servers = ["10.231.10.1"]"#)
            .with("defaults", r#"packages = ["attr"]"#)
            .load()
    }

    #[test]
    fn desired_order_is_sources_update_access_then_the_rest_and_marker_last() {
        let l = lab_inventory();
        let node = access::host(&l, "pve-node1").unwrap();
        let keys = automation_keys(&l).unwrap();
        let ids: Vec<String> = desired(&l, &node, &keys, &Options::default()).unwrap().iter().map(|r| r.id()).collect();
        let pos = |s: &str| ids.iter().position(|i| i.contains(s)).unwrap_or_else(|| panic!("{s} not in {ids:?}"));
        assert!(pos("pve-enterprise.sources") < pos("apt-get update"));
        assert!(pos("ceph.sources") < pos("apt-get update"));
        assert!(pos("apt-get update") < pos("packages sudo"));
        assert!(pos("sudoers") < pos("authorized_keys"));
        assert!(pos("authorized_keys") < pos("sshd "));
        assert!(pos("sshd ") < pos("/etc/hosts"));
        assert!(ids.last().unwrap().starts_with("marker "), "{ids:?}");
        // ids are unique: handlers and reports refer to them
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "{ids:?}");
        // root stage is a prefix of the full list (staged() relies on it)
        let root: Vec<String> = root_stage(&l, &keys).iter().map(|r| r.id()).collect();
        assert_eq!(&ids[..root.len()], &root[..]);
    }

    #[test]
    fn upgrade_and_options_add_resources() {
        let l = lab_inventory();
        let node = access::host(&l, "pve-node2").unwrap();
        let keys = automation_keys(&l).unwrap();
        let opts = Options { upgrade: true, sshd_extra_lines: vec!["NoSuchOption yes".into()], ..Options::default() };
        let ids: Vec<String> = desired(&l, &node, &keys, &opts).unwrap().iter().map(|r| r.id()).collect();
        assert!(ids.iter().any(|i| i == "apt-get full-upgrade"), "{ids:?}");
        assert!(sshd_hardening(&l, &opts).render().ends_with("NoSuchOption yes\n"));
    }
}
