//! bootstrap-qdevice: the Raspberry Pi arbiter, managed and hardened (issue 6).
//!
//! Desired state of the QDevice host, as engine resources ([`desired`]) so drift-check can
//! re-evaluate it:
//!
//! 1. the access baseline ([`common::baseline`]): `sudo`, the automation user with exactly the
//!    inventory's keys, its `visudo`-validated NOPASSWD drop-in;
//! 2. corosync-qnetd ([`qnetd`]): package, `coroqnetd` system user, `/etc/corosync/qnetd`
//!    `root:coroqnetd 0770`, `/etc/default/corosync-qnetd` running it as `coroqnetd`, the NSS
//!    certificate database initialised only if absent (then group `coroqnetd`, lab-feasibility.md
//!    gotcha 2), enabled + started, and verified listening on TCP 5403;
//! 3. the root window *closed* ([`closed_window`]): sshd drop-in with `PermitRootLogin no`,
//!    `PasswordAuthentication no` (applied only after a proven key login), no temporary root keys,
//!    no window marker;
//! 4. the completion marker.
//!
//! form-cluster needs root SSH from the nodes for `pvecm qdevice setup`; it calls
//! [`open_root_window`] (nodes' root keys with `from=`, `PermitRootLogin prohibit-password`,
//! marker) and [`harden`] on every exit path. `bootstrap-qdevice harden` is the same from the CLI.

pub mod qnetd;

use anyhow::{bail, Result};
use common::access::{self, HostSpec, Via};
use common::baseline::keys::{temporary_root_line, with_temporary_root_lines, without_temporary_root_lines};
use common::baseline::resources::{access as access_resources, CompletionMarker, EditedFile, SshdDropIn, STATE_DIR};
use common::baseline::sshd::{PermitRootLogin, SshdHardening};
use common::engine::resources::{Absent, Directory, File};
use common::engine::{self, HostReport, Mode, Resource};
use common::inventory::{Inventory, LoadedInventory};
use common::ssh::{Session, SshTarget};

/// Name of the phase (reports, marker).
pub const TOOL: &str = "bootstrap-qdevice";
/// Present while root SSH is open for a QDevice setup; says who opened it.
pub const WINDOW_MARKER: &str = "/var/lib/homelab-iac/qdevice-root-window";
/// Root's authorized_keys on the Pi (where the temporary lines go).
pub const ROOT_AUTHORIZED_KEYS: &str = "/root/.ssh/authorized_keys";

/// The QDevice of the inventory as a host, or an error when there is none.
pub fn qdevice_host(loaded: &LoadedInventory) -> Result<HostSpec> {
    let Some(q) = &loaded.inv.qdevice else {
        bail!("{}: the inventory has no [qdevice]; nothing to bootstrap", loaded.path.display());
    };
    access::host(loaded, &q.name)
}

/// sshd settings of the Pi: no root login, except `prohibit-password` while a window is open.
pub fn sshd_hardening(inv: &Inventory, window_open: bool) -> SshdHardening {
    let prl = if window_open { PermitRootLogin::ProhibitPassword } else { PermitRootLogin::No };
    SshdHardening::new(prl, inv.defaults.ssh_max_auth_tries, TOOL)
}

/// The window closed: sshd drop-in (`PermitRootLogin no`), root's authorized_keys without our
/// temporary lines, no marker. Drop-in first: root login stops before keys are touched.
pub fn closed_window(inv: &Inventory, prove_as: Option<SshTarget>) -> Vec<Box<dyn Resource>> {
    vec![
        Box::new(SshdDropIn::new(sshd_hardening(inv, false), prove_as)),
        Box::new(
            EditedFile::new(ROOT_AUTHORIZED_KEYS, "remove temporary root keys", |cur| {
                cur.map(without_temporary_root_lines)
            })
            .mode(0o600),
        ),
        Box::new(Absent::new(WINDOW_MARKER)),
    ]
}

/// The window open for `keys` (the nodes' root public keys) from `from_addrs` only.
/// Marker first, so an interrupted opening is still visibly open (and closed by [`harden`]).
pub fn open_window(inv: &Inventory, lines: Vec<String>, opened_by: &str, prove_as: Option<SshTarget>) -> Vec<Box<dyn Resource>> {
    let marker = format!(
        "# root SSH is open on this host for `pvecm qdevice setup` (opened by {opened_by}).\n\
         # Close it with `bootstrap-qdevice harden`.\n"
    );
    vec![
        Box::new(File::new(WINDOW_MARKER, marker, 0o644)),
        Box::new(Directory::new("/root/.ssh", 0o700)),
        Box::new(
            EditedFile::new(ROOT_AUTHORIZED_KEYS, "add temporary root keys (from= restricted)", move |cur| {
                Some(with_temporary_root_lines(cur.unwrap_or(""), &lines))
            })
            .mode(0o600),
        ),
        Box::new(SshdDropIn::new(sshd_hardening(inv, true), prove_as)),
    ]
}

/// Every desired resource of the QDevice host, in apply order, ending with the marker.
pub fn desired(loaded: &LoadedInventory, host: &HostSpec, keys: &[String]) -> Vec<Box<dyn Resource>> {
    let inv = &loaded.inv;
    let mut all = access_resources(&inv.automation.user, keys);
    all.extend(qnetd::resources());
    all.extend(closed_window(inv, Some(access::automation_target(loaded, host))));
    let marker = CompletionMarker::new(TOOL, &all);
    all.push(Box::new(marker));
    all
}

/// How many leading resources of [`desired`] may need the first-contact login.
fn root_stage_len(inv: &Inventory, keys: &[String]) -> usize {
    access_resources(&inv.automation.user, keys).len()
}

fn sudo_refused(r: &HostReport) -> bool {
    r.error.as_deref().is_some_and(|e| e.contains("`sudo -n` refused"))
}

/// Bootstrap the QDevice: first contact, access baseline (as root or the Pi's sudo user when
/// needed), then the rest as the automation user. One report.
pub fn run(loaded: &LoadedInventory, host: &HostSpec, keys: &[String], mode: Mode) -> HostReport {
    let started = std::time::Instant::now();
    let mut report = match access::first_contact(loaded, host) {
        Err(e) => HostReport::failed(&host.name, format!("{e:#}")),
        Ok(contact) => {
            let mut r = match contact.via {
                Via::Automation => {
                    let first = engine::converge(&contact.session, &desired(loaded, host, keys), mode);
                    if sudo_refused(&first) {
                        match access::first_contact_target(loaded, host).and_then(|mut t| {
                            t.host_key_policy = common::inventory::HostKeyPolicy::Pinned;
                            Ok(Session::connect(&t)?)
                        }) {
                            Ok(s) => staged(loaded, host, keys, mode, &s),
                            Err(e) => HostReport::failed(&host.name, format!("{}; first contact to repair it failed too: {e:#}", first.error.unwrap_or_default())),
                        }
                    } else {
                        first
                    }
                }
                Via::FirstContact { .. } => staged(loaded, host, keys, mode, &contact.session),
            };
            r.notes.splice(0..0, contact.notes);
            r.connect_time = contact.session.connect_time();
            r
        }
    };
    report.host = host.name.clone();
    report.elapsed = started.elapsed();
    report
}

/// Access baseline on the first-contact session, the rest on a new automation session.
fn staged(loaded: &LoadedInventory, host: &HostSpec, keys: &[String], mode: Mode, first: &Session) -> HostReport {
    let all = desired(loaded, host, keys);
    if mode == Mode::Check {
        return engine::converge(first, &all, mode);
    }
    let n = root_stage_len(&loaded.inv, keys);
    let mut all = all;
    let rest = all.split_off(n);
    let mut report = engine::converge(first, &all, mode);
    if report.has_failures() {
        return report;
    }
    let changed_first = report.changed_count() > 0;
    let auto = match access::connect_automation(loaded, &host.name) {
        Ok(s) => s,
        Err(e) => {
            report.error = Some(format!("the automation user cannot log in after its set-up: {e:#}"));
            return report;
        }
    };
    // The marker (last of `rest`) must also record changes made on the first session.
    let mut rest = rest;
    let marker = rest.pop().expect("desired() ends with the marker");
    let mut m = CompletionMarker::new(TOOL, &rest).after_changes(changed_first);
    m.notified_by.extend(all.iter().map(|r| r.id()));
    debug_assert_eq!(marker.id(), m.id());
    rest.push(Box::new(m));
    report.merge(engine::converge(&auto, &rest, mode));
    report
}

/// Close the root window on the Pi: drop-in back to `PermitRootLogin no` (validated, reloaded,
/// login re-proven), every temporary root key removed, marker removed. Idempotent: on a closed
/// host it costs one observation round trip and changes nothing. `session` must be the
/// automation user (the login that must keep working).
pub fn harden(session: &Session, inv: &Inventory) -> Result<HostReport> {
    if session.target().user == "root" {
        bail!("{}: harden must run as the automation user, not root (root login is what it turns off)", session.host());
    }
    let rs = closed_window(inv, Some(session.target().clone()));
    let report = engine::converge(session, &rs, Mode::Apply);
    if report.has_failures() {
        bail!("{}: closing the root window failed:\n{}", session.host(), report.render(0));
    }
    Ok(report)
}

/// Open a root window for `pvecm qdevice setup`: `keys` (the nodes' root public keys) accepted
/// for root only from `from_addrs`, tagged `homelab-iac-temporary-root`; `PermitRootLogin
/// prohibit-password` via the drop-in; the marker names `opened_by`. Always pair with
/// [`harden`] on every exit path.
pub fn open_root_window(
    session: &Session,
    inv: &Inventory,
    keys: &[String],
    from_addrs: &[String],
    opened_by: &str,
) -> Result<HostReport> {
    if session.target().user == "root" {
        bail!("{}: open the root window as the automation user, not root", session.host());
    }
    if keys.is_empty() {
        bail!("{}: no root keys given for the QDevice setup window", session.host());
    }
    let lines = keys.iter().map(|k| temporary_root_line(k, from_addrs)).collect::<Result<Vec<_>>>()?;
    let rs = open_window(inv, lines, opened_by, Some(session.target().clone()));
    let report = engine::converge(session, &rs, Mode::Apply);
    if report.has_failures() {
        bail!("{}: opening the root window failed:\n{}", session.host(), report.render(0));
    }
    Ok(report)
}

/// The `harden` subcommand's run: connect as the automation user and close the window.
pub fn run_harden(loaded: &LoadedInventory, host: &HostSpec) -> HostReport {
    let started = std::time::Instant::now();
    let mut report = match access::connect_automation(loaded, &host.name) {
        Err(e) => HostReport::failed(&host.name, format!("{e:#}")),
        Ok(s) => {
            let rs = closed_window(&loaded.inv, Some(s.target().clone()));
            let mut r = engine::converge(&s, &rs, Mode::Apply);
            r.connect_time = s.connect_time();
            r
        }
    };
    report.host = host.name.clone();
    report.elapsed = started.elapsed();
    report
}

/// `/var/lib/homelab-iac`, re-exported for tests and callers.
pub const STATE: &str = STATE_DIR;

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared lab fixture with the automation key file and the Pi's password first contact.
    pub(crate) fn lab_inventory() -> LoadedInventory {
        common::inventory::testing::LabInventory::new()
            .with("automation", r#"identity_file = "id_lab""#)
            .with(
                "qdevice",
                r#"first_contact = { method = "password", password = { env = "PI_ROOT_PASSWORD" }, host_key = "accept-new" }"#,
            )
            .load()
    }

    #[test]
    fn desired_order() {
        let l = lab_inventory();
        let h = qdevice_host(&l).unwrap();
        let keys = vec![l.inv.automation.keys[0].clone()];
        let ids: Vec<String> = desired(&l, &h, &keys).iter().map(|r| r.id()).collect();
        let pos = |s: &str| ids.iter().position(|i| i.contains(s)).unwrap_or_else(|| panic!("{s} not in {ids:?}"));
        assert!(pos("authorized_keys") < pos("packages corosync-qnetd"));
        assert!(pos("nssdb") < pos("service corosync-qnetd"));
        assert!(pos("service corosync-qnetd") < pos("listening"));
        assert!(pos("listening") < pos("sshd "));
        assert!(pos("sshd ") < pos("/root/.ssh/authorized_keys"));
        assert!(ids.last().unwrap().starts_with("marker "));
        let mut s = ids.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), ids.len(), "{ids:?}");
        assert_eq!(&ids[..root_stage_len(&l.inv, &keys)], &ids[..5]);
    }

    #[test]
    fn window_states_differ_only_in_root_login() {
        let l = lab_inventory();
        let open = sshd_hardening(&l.inv, true).render();
        let closed = sshd_hardening(&l.inv, false).render();
        assert!(open.contains("PermitRootLogin prohibit-password\n"));
        assert!(closed.contains("PermitRootLogin no\n") && closed.contains("PasswordAuthentication no\n"));
    }

    #[test]
    fn open_window_puts_marker_first_and_sshd_last() {
        let l = lab_inventory();
        let ids: Vec<String> = open_window(&l.inv, vec![], "test", None).iter().map(|r| r.id()).collect();
        assert!(ids[0].contains(WINDOW_MARKER));
        assert!(ids.last().unwrap().starts_with("sshd "));
    }
}
