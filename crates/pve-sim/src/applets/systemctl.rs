//! `systemctl` for lab hosts (no systemd there, lab-feasibility.md gotcha 3).
//!
//! Units with a Debian init script (`/etc/init.d/NAME`: ssh, corosync, corosync-qnetd,
//! corosync-qdevice, …) are driven through `service NAME ACTION`; other known units (pve-cluster,
//! pveproxy, chrony, cron, …) are *fake*: their active state lives in `/run/pve-sim/active`
//! (tmpfs, so a host restart resets it like a reboot). Enabled state is persisted in
//! `/var/lib/pve-sim/systemd/enabled` and honoured at boot by `lab-daemons`.
//!
//! systemd behaviour reproduced where tools can observe it: exit codes (is-active 0/3,
//! is-enabled 0/1, unknown unit 5 for start/stop), `ConditionPathExists=/etc/corosync/corosync.conf`
//! of corosync.service, `Requires=corosync.service` of corosync-qdevice (stopped/restarted with
//! corosync), and Type=notify readiness (start returns once corosync's cmap answers, gotcha 4).

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::{corosync, sys};

const PVE_FAKE: &[&str] = &[
    "pve-cluster", "pveproxy", "pvedaemon", "pvestatd", "pve-firewall", "pve-ha-crm", "pve-ha-lrm",
    "pvescheduler", "spiceproxy", "pve-lxc-syscalld", "pvebanner", "pvenetcommit", "pve-guests",
    "qmeventd", "proxmox-firewall", "watchdog-mux", "chrony", "cron", "postfix", "rrdcached", "ksmtuned",
    "lxcfs", "zfs-zed", "zfs-import-cache", "zfs-mount", "zfs.target", "networking", "systemd-journald",
    "smartmontools",
];
const PI_FAKE: &[&str] = &[
    "cron", "systemd-timesyncd", "avahi-daemon", "bluetooth", "dphys-swapfile", "triggerhappy", "networking",
    "systemd-journald", "NetworkManager",
];
const NAS_FAKE: &[&str] = &["nfs-server", "networking", "systemd-journald", "cron"];

/// Units enabled on a fresh install, per role.
pub fn default_enabled(role: &str) -> Vec<&'static str> {
    match role {
        "pve" => vec![
            "ssh", "corosync", "pve-cluster", "pveproxy", "pvedaemon", "pvestatd", "pve-firewall", "pve-ha-crm",
            "pve-ha-lrm", "pvescheduler", "spiceproxy", "pve-lxc-syscalld", "pvebanner", "pvenetcommit",
            "pve-guests", "qmeventd", "watchdog-mux", "chrony", "cron", "postfix", "rrdcached", "ksmtuned", "lxcfs",
            "zfs-zed", "zfs-import-cache", "zfs-mount", "zfs.target", "networking", "smartmontools",
        ],
        "pi" => vec!["ssh", "cron", "systemd-timesyncd", "avahi-daemon", "bluetooth", "dphys-swapfile", "triggerhappy", "networking"],
        _ => vec!["ssh", "nfs-server", "networking", "cron"],
    }
}

pub fn role() -> String {
    sys::read_opt(&sys::p("/var/lib/pve-sim/role")).map(|s| s.trim().to_string()).unwrap_or_else(|| "pve".into())
}

fn enabled_dir() -> PathBuf {
    sys::p("/var/lib/pve-sim/systemd/enabled")
}
fn masked_dir() -> PathBuf {
    sys::p("/var/lib/pve-sim/systemd/masked")
}
fn active_dir() -> PathBuf {
    sys::p("/run/pve-sim/active")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitKind {
    Init,
    Fake,
}

/// `ssh.service`, `sshd` → `ssh`.
pub fn canonical(name: &str) -> String {
    let n = name.strip_suffix(".service").unwrap_or(name);
    match n {
        "sshd" => "ssh".into(),
        "chronyd" => "chrony".into(),
        other => other.to_string(),
    }
}

/// Known unit? Init script first, then the role's fake list, then unit files on the machine.
pub fn resolve(name: &str) -> Option<(String, UnitKind)> {
    let n = canonical(name);
    if n.is_empty() || n.contains('/') {
        return None;
    }
    if sys::p(&format!("/etc/init.d/{n}")).is_file() {
        return Some((n, UnitKind::Init));
    }
    let fake = match role().as_str() {
        "pi" => PI_FAKE,
        "nas" => NAS_FAKE,
        _ => PVE_FAKE,
    };
    let unit_file = ["/lib/systemd/system", "/etc/systemd/system", "/usr/lib/systemd/system"]
        .iter()
        .any(|d| sys::p(&format!("{d}/{n}.service")).is_file());
    if fake.contains(&n.as_str()) || unit_file {
        return Some((n, UnitKind::Fake));
    }
    None
}

pub fn is_enabled(unit: &str) -> bool {
    enabled_dir().join(canonical(unit)).exists()
}

fn is_masked(unit: &str) -> bool {
    masked_dir().join(unit).exists()
}

pub fn set_enabled(unit: &str, on: bool) -> Result<bool> {
    let f = enabled_dir().join(canonical(unit));
    let was = f.exists();
    if on && !was {
        sys::mkdir_p(&enabled_dir(), 0o755)?;
        fs::write(&f, b"")?;
    } else if !on && was {
        fs::remove_file(&f)?;
    }
    Ok(was != on)
}

fn service(unit: &str, action: &str) -> Result<std::process::Output> {
    sys::run("service", &[unit, action])
}

pub fn is_active(unit: &str) -> bool {
    match resolve(unit) {
        Some((n, UnitKind::Init)) => {
            if !sys::is_real_root() {
                return active_dir().join(&n).exists();
            }
            service(&n, "status").map(|o| o.status.success()).unwrap_or(false)
        }
        Some((n, UnitKind::Fake)) => active_dir().join(n).exists(),
        None => false,
    }
}

fn mark_active(unit: &str, on: bool) -> Result<()> {
    let f = active_dir().join(unit);
    if on {
        sys::mkdir_p(&active_dir(), 0o755)?;
        fs::write(f, b"")?;
    } else {
        let _ = fs::remove_file(f);
    }
    Ok(())
}

/// systemd's message when a start job fails.
fn job_failed(unit: &str, _verb: &str) -> anyhow::Error {
    crate::cli::Fail::Exit {
        code: 1,
        stderr: format!(
            "Job for {unit}.service failed because the control process exited with error code.\n\
             See \"systemctl status {unit}.service\" and \"journalctl -xeu {unit}.service\" for details.\n"
        ),
    }
    .into()
}

/// Wait for the readiness a Type=notify unit would report.
fn wait_ready(unit: &str) -> bool {
    let to = Duration::from_secs(10);
    match unit {
        "corosync" => corosync::wait_cmap(to),
        "corosync-qdevice" => sys::wait_until(to, Duration::from_millis(50), || {
            sys::p("/run/corosync-qdevice/corosync-qdevice.sock").exists()
        }),
        "corosync-qnetd" => sys::wait_until(to, Duration::from_millis(50), || {
            sys::p("/run/corosync-qnetd/corosync-qnetd.sock").exists()
        }),
        _ => true,
    }
}

/// Start a unit (no-op when active). Errors carry systemd's message.
pub fn start(name: &str) -> Result<()> {
    let Some((unit, kind)) = resolve(name) else {
        return Err(crate::cli::Fail::Exit {
            code: 5,
            stderr: format!("Failed to start {}.service: Unit {}.service not found.\n", canonical(name), canonical(name)),
        }
        .into());
    };
    if is_masked(&unit) {
        return Err(crate::cli::Fail::Exit {
            code: 1,
            stderr: format!("Failed to start {unit}.service: Unit {unit}.service is masked.\n"),
        }
        .into());
    }
    match kind {
        UnitKind::Fake => mark_active(&unit, true),
        UnitKind::Init => {
            // corosync.service: ConditionPathExists=/etc/corosync/corosync.conf → skipped, exit 0.
            if unit == "corosync" && !sys::p("/etc/corosync/corosync.conf").is_file() {
                return Ok(());
            }
            if !sys::is_real_root() {
                return mark_active(&unit, true);
            }
            if unit == "corosync-qdevice" && !corosync::cmap_ready() {
                // Requires=corosync.service (and After=): systemd would start corosync first.
                start("corosync")?;
            }
            if is_active(&unit) {
                return Ok(());
            }
            let out = service(&unit, "start")?;
            if !out.status.success() || !wait_ready(&unit) {
                return Err(job_failed(&unit, "start"));
            }
            Ok(())
        }
    }
}

pub fn stop(name: &str) -> Result<()> {
    let Some((unit, kind)) = resolve(name) else {
        return Err(crate::cli::Fail::Exit {
            code: 5,
            stderr: format!("Failed to stop {}.service: Unit {}.service not loaded.\n", canonical(name), canonical(name)),
        }
        .into());
    };
    match kind {
        UnitKind::Fake => mark_active(&unit, false),
        UnitKind::Init => {
            if unit == "corosync" && resolve("corosync-qdevice").is_some() && is_active("corosync-qdevice") {
                stop("corosync-qdevice")?; // Requires=corosync.service
            }
            if !sys::is_real_root() {
                return mark_active(&unit, false);
            }
            if !is_active(&unit) {
                return Ok(());
            }
            let out = service(&unit, "stop")?;
            if !out.status.success() {
                return Err(job_failed(&unit, "stop"));
            }
            Ok(())
        }
    }
}

pub fn restart(name: &str) -> Result<()> {
    let unit = canonical(name);
    let qdev_was_active = unit == "corosync" && resolve("corosync-qdevice").is_some() && is_active("corosync-qdevice");
    if resolve(name).is_none() {
        return Err(crate::cli::Fail::Exit {
            code: 5,
            stderr: format!("Failed to restart {unit}.service: Unit {unit}.service not found.\n"),
        }
        .into());
    }
    if unit == "ssh" && sys::is_real_root() {
        // The init script's restart re-validates the config; keep sessions alive.
        let out = service("ssh", "restart")?;
        if !out.status.success() {
            return Err(job_failed("ssh", "restart"));
        }
        return Ok(());
    }
    stop(name)?;
    start(name)?;
    if qdev_was_active {
        start("corosync-qdevice")?;
    }
    Ok(())
}

pub fn reload(name: &str) -> Result<()> {
    let Some((unit, kind)) = resolve(name) else {
        return Err(crate::cli::Fail::Exit {
            code: 5,
            stderr: format!("Failed to reload {}.service: Unit {}.service not found.\n", canonical(name), canonical(name)),
        }
        .into());
    };
    if !is_active(&unit) {
        return Err(crate::cli::Fail::Exit {
            code: 1,
            stderr: format!("Failed to reload {unit}.service: Job type reload is not applicable for unit {unit}.service.\n"),
        }
        .into());
    }
    if kind == UnitKind::Init && sys::is_real_root() {
        let out = service(&unit, "reload")?;
        if !out.status.success() {
            return Err(crate::cli::Fail::Exit {
                code: 1,
                stderr: format!(
                    "Job for {unit}.service failed.\nSee \"systemctl status {unit}.service\" and \"journalctl -xeu {unit}.service\" for details.\n"
                ),
            }
            .into());
        }
    }
    Ok(())
}

fn unit_file_path(unit: &str) -> String {
    format!("/lib/systemd/system/{unit}.service")
}

fn status_text(unit: &str) -> (String, i32) {
    match resolve(unit) {
        None => (format!("Unit {}.service could not be found.\n", canonical(unit)), 4),
        Some((n, _)) => {
            let active = is_active(&n);
            let en = if is_enabled(&n) { "enabled" } else { "disabled" };
            let s = format!(
                "{} {n}.service\n     Loaded: loaded ({}; {en}; preset: enabled)\n     Active: {}\n",
                if active { "●" } else { "○" },
                unit_file_path(&n),
                if active { "active (running)" } else { "inactive (dead)" }
            );
            (s, if active { 0 } else { 3 })
        }
    }
}

/// Boot-time start of enabled units (called by `lab-daemons`), in dependency order.
pub fn boot() {
    let order = ["corosync", "corosync-qdevice", "corosync-qnetd"];
    let Ok(entries) = fs::read_dir(enabled_dir()) else { return };
    let mut enabled: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    enabled.sort();
    for u in &enabled {
        if let Some((n, UnitKind::Fake)) = resolve(u) {
            let _ = mark_active(&n, true);
        }
    }
    for u in order {
        if enabled.iter().any(|e| e == u) && matches!(resolve(u), Some((_, UnitKind::Init))) {
            let _ = start(u);
        }
    }
}

const USAGE: &str = "systemctl [OPTIONS...] COMMAND [UNIT...]\n";

pub fn main(args: &[String]) -> Result<i32> {
    let mut quiet = false;
    let mut now = false;
    let mut words: Vec<&str> = Vec::new();
    for a in args {
        match a.as_str() {
            "-q" | "--quiet" => quiet = true,
            "--now" => now = true,
            "--no-pager" | "--no-block" | "--system" | "--no-ask-password" | "--full" | "-l" | "--no-legend"
            | "--plain" => {}
            s if s.starts_with('-') => {}
            s => words.push(s),
        }
    }
    let Some((&cmd, units)) = words.split_first() else {
        print!("{USAGE}");
        return Ok(0);
    };
    let mut code = 0;
    match cmd {
        "daemon-reload" | "daemon-reexec" | "reset-failed" => {}
        "start" | "stop" | "restart" | "reload" | "reload-or-restart" | "try-restart" | "try-reload-or-restart" => {
            if units.is_empty() {
                eprintln!("Too few arguments.");
                return Ok(1);
            }
            for u in units {
                let r = match cmd {
                    "start" => start(u),
                    "stop" => stop(u),
                    "restart" => restart(u),
                    "reload" => reload(u),
                    "reload-or-restart" | "try-reload-or-restart" => {
                        if cmd.starts_with("try") && !is_active(u) {
                            Ok(())
                        } else if matches!(resolve(u), Some((_, UnitKind::Init))) && is_active(u) && canonical(u) == "ssh" {
                            reload(u)
                        } else {
                            restart(u)
                        }
                    }
                    _ => {
                        if is_active(u) {
                            restart(u)
                        } else {
                            Ok(())
                        }
                    }
                };
                if let Err(e) = r {
                    code = crate::cli::report(&e);
                }
            }
        }
        "enable" | "disable" => {
            for u in units {
                let Some((n, _)) = resolve(u) else {
                    eprintln!("Failed to {cmd} unit: Unit file {}.service does not exist.", canonical(u));
                    code = 1;
                    continue;
                };
                let on = cmd == "enable";
                if set_enabled(&n, on)? && !quiet {
                    if on {
                        eprintln!(
                            "Created symlink /etc/systemd/system/multi-user.target.wants/{n}.service → {}.",
                            unit_file_path(&n)
                        );
                    } else {
                        eprintln!("Removed \"/etc/systemd/system/multi-user.target.wants/{n}.service\".");
                    }
                }
                if now {
                    let r = if on { start(&n) } else { stop(&n) };
                    if let Err(e) = r {
                        code = crate::cli::report(&e);
                    }
                }
            }
        }
        "mask" | "unmask" => {
            for u in units {
                let n = canonical(u);
                let f = masked_dir().join(&n);
                if cmd == "mask" {
                    sys::mkdir_p(&masked_dir(), 0o755)?;
                    fs::write(&f, b"")?;
                    if !quiet {
                        eprintln!("Created symlink /etc/systemd/system/{n}.service → /dev/null.");
                    }
                } else if f.exists() {
                    fs::remove_file(&f)?;
                    if !quiet {
                        eprintln!("Removed \"/etc/systemd/system/{n}.service\".");
                    }
                }
            }
        }
        "is-active" => {
            for u in units {
                let active = is_active(u);
                if !quiet {
                    println!("{}", if active { "active" } else { "inactive" });
                }
                if !active {
                    code = 3;
                }
            }
        }
        "is-enabled" => {
            for u in units {
                match resolve(u) {
                    None => {
                        if !quiet {
                            eprintln!("Failed to get unit file state for {}.service: No such file or directory", canonical(u));
                        }
                        code = 1;
                    }
                    Some((n, _)) => {
                        let state = if is_masked(&n) {
                            "masked"
                        } else if is_enabled(&n) {
                            "enabled"
                        } else {
                            "disabled"
                        };
                        if !quiet {
                            println!("{state}");
                        }
                        if state != "enabled" {
                            code = 1;
                        }
                    }
                }
            }
        }
        "status" => {
            for u in units {
                let (text, c) = status_text(u);
                if c == 4 {
                    eprint!("{text}");
                } else {
                    print!("{text}");
                }
                code = code.max(c);
            }
        }
        other => {
            eprintln!("Unknown command verb '{other}'.");
            code = 1;
        }
    }
    Ok(code)
}
