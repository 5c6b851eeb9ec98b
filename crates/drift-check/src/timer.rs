//! `--install-timer` / `--uninstall-timer`: run drift-check on a schedule on the control host.
//!
//! * systemd is PID 1 (`/run/systemd/system` exists, as `sd_booted()` checks): a oneshot
//!   `homelab-drift-check.service` and a `homelab-drift-check.timer` (`OnBootSec` +
//!   `OnUnitActiveSec=<interval>`), in `/etc/systemd/system` or, with `--user-unit`, in
//!   `~/.config/systemd/user`; then `systemctl daemon-reload` and `enable --now` the timer.
//! * otherwise: `/etc/cron.d/homelab-drift-check` (the interval must divide an hour or a day),
//!   writing the last report as JSON to `/var/lib/homelab-drift-check/last.json`.
//!
//! Idempotent: a file is written only when its content changes, systemctl is run only when
//! something changed or the timer is not enabled and active; every step is reported.
//! `DRIFT_CHECK_TIMER_ROOT=DIR` puts every path under DIR and runs no systemctl (packaging
//! and tests, like `DESTDIR`).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub const UNIT: &str = "homelab-drift-check";
pub const CRON_FILE: &str = "/etc/cron.d/homelab-drift-check";
pub const STATE_DIR: &str = "/var/lib/homelab-drift-check";
const HEADER: &str = "# Managed by `drift-check --install-timer`; remove with `drift-check --uninstall-timer`.";

/// An interval in minutes (`15m`, `1h`, `2h`, `1d`; at least one minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub u32);

impl std::str::FromStr for Interval {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: u32 = num.parse().map_err(|_| format!("`{s}`: expected a number and a unit, e.g. 15m, 1h, 1d"))?;
        let minutes = match unit {
            "m" | "min" | "" => n,
            "h" => n * 60,
            "d" => n * 60 * 24,
            _ => return Err(format!("`{s}`: unknown unit `{unit}` (use m, h or d)")),
        };
        if minutes == 0 {
            return Err(format!("`{s}`: the interval must be at least 1m"));
        }
        Ok(Interval(minutes))
    }
}

impl Interval {
    /// systemd time span: `15min`, `2h`, `1d`.
    #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; the workspace says 1.80
    pub fn systemd(&self) -> String {
        let m = self.0;
        if m % 1440 == 0 {
            format!("{}d", m / 1440)
        } else if m % 60 == 0 {
            format!("{}h", m / 60)
        } else {
            format!("{m}min")
        }
    }

    /// The five cron time fields, when cron can express this interval exactly.
    pub fn cron(&self) -> Result<String> {
        let m = self.0;
        Ok(match m {
            m if m < 60 && 60 % m == 0 => {
                if m == 1 {
                    "* * * * *".into()
                } else {
                    format!("*/{m} * * * *")
                }
            }
            60 => "0 * * * *".into(),
            m if m % 60 == 0 && m < 1440 && 24 % (m / 60) == 0 => format!("0 */{} * * *", m / 60),
            1440 => "0 0 * * *".into(),
            _ => bail!(
                "cron cannot run every {} exactly: use a divisor of an hour (1–30m, 60m) or of a day (1h, 2h, 3h, 4h, 6h, 8h, 12h, 1d)",
                self.systemd()
            ),
        })
    }
}

/// Where the schedule goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheduler {
    Systemd { dir: PathBuf, user: bool },
    Cron { file: PathBuf, state_dir: PathBuf },
}

/// What `--install-timer` installs.
#[derive(Debug, Clone)]
pub struct Spec {
    /// drift-check itself (absolute).
    pub exe: PathBuf,
    /// Its arguments (absolute paths: `-i /etc/homelab/homelab.toml --prometheus …`).
    pub args: Vec<String>,
    pub interval: Interval,
}

/// Runs systemctl (`args` without `systemctl`, `--user` added for user units): exit code and output.
pub type Systemctl<'a> = &'a dyn Fn(&[&str]) -> Result<(i32, String)>;

/// Pick the scheduler: systemd when it is PID 1, else cron. `root` prefixes every path (and
/// means: no systemctl).
pub fn detect(user_unit: bool, root: Option<&Path>) -> Result<Scheduler> {
    let at = |p: &str| match root {
        Some(r) => r.join(p.trim_start_matches('/')),
        None => PathBuf::from(p),
    };
    let systemd = at("/run/systemd/system").is_dir();
    if systemd {
        let dir = if user_unit {
            let home = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
                .context("--user-unit: neither XDG_CONFIG_HOME nor HOME is set")?;
            match root {
                Some(r) => r.join(home.strip_prefix("/").unwrap_or(&home)).join("systemd/user"),
                None => home.join("systemd/user"),
            }
        } else {
            at("/etc/systemd/system")
        };
        return Ok(Scheduler::Systemd { dir, user: user_unit });
    }
    if user_unit {
        bail!("--user-unit needs systemd as PID 1 (here it is not); without it drift-check installs a system cron entry (as root)");
    }
    Ok(Scheduler::Cron { file: at(CRON_FILE), state_dir: at(STATE_DIR) })
}

/// An argument as systemd's ExecStart wants it (quoted when needed, `%` doubled).
fn systemd_arg(a: &str) -> String {
    let a = a.replace('%', "%%");
    if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\' || c == ';') {
        format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        a
    }
}

pub fn service_unit(spec: &Spec) -> String {
    let mut cmd = vec![systemd_arg(&spec.exe.to_string_lossy())];
    cmd.extend(spec.args.iter().map(|a| systemd_arg(a)));
    format!(
        "{HEADER}\n[Unit]\nDescription=homelab-iac drift check (read-only: compares the homelab with its inventory)\n\
         Wants=network-online.target\nAfter=network-online.target\n\n\
         [Service]\nType=oneshot\n\
         # Exit 2 = drift or degraded health, 1 = could not check: both mark the run failed\n\
         # (`systemctl --failed`); the report is in the journal (`journalctl -u {UNIT}`).\n\
         ExecStart={}\n",
        cmd.join(" ")
    )
}

pub fn timer_unit(spec: &Spec) -> String {
    let every = spec.interval.systemd();
    format!(
        "{HEADER}\n[Unit]\nDescription=Run homelab-iac drift-check every {every}\n\n\
         [Timer]\nOnBootSec=5min\nOnUnitActiveSec={every}\nRandomizedDelaySec=30s\nUnit={UNIT}.service\n\n\
         [Install]\nWantedBy=timers.target\n"
    )
}

pub fn cron_entry(spec: &Spec, state_dir: &Path) -> Result<String> {
    use common::ssh::quote;
    let mut cmd = vec![quote(&spec.exe.to_string_lossy())];
    cmd.extend(spec.args.iter().map(|a| quote(a)));
    cmd.push("--json".into());
    let line = format!(
        "{} root {} >{} 2>{}",
        spec.interval.cron()?,
        cmd.join(" "),
        quote(&state_dir.join("last.json").to_string_lossy()),
        quote(&state_dir.join("last.log").to_string_lossy()),
    );
    // `%` means "newline" to cron.
    Ok(format!(
        "{HEADER}\n# Every {}: the last report (JSON) is in {}/last.json.\nSHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n{}\n",
        spec.interval.systemd(),
        state_dir.display(),
        line.replace('%', "\\%")
    ))
}

/// Write `content` to `path` unless it is already there; says what it did.
fn put(path: &Path, content: &str, done: &mut Vec<String>) -> Result<bool> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(content) {
        done.push(format!("{} unchanged", path.display()));
        return Ok(false);
    }
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    crate::prometheus::write_atomic(path, content).with_context(|| format!("writing {}", path.display()))?;
    done.push(format!("wrote {}", path.display()));
    Ok(true)
}

fn systemctl(sc: Option<Systemctl>, user: bool, args: &[&str], done: &mut Vec<String>) -> Result<(i32, String)> {
    let mut a: Vec<&str> = Vec::new();
    if user {
        a.push("--user");
    }
    a.extend_from_slice(args);
    match sc {
        None => Ok((0, String::new())),
        Some(run) => {
            let r = run(&a)?;
            if !args[0].starts_with("is-") {
                if r.0 != 0 {
                    bail!("`systemctl {}` failed (exit {}): {}", a.join(" "), r.0, r.1.trim());
                }
                done.push(format!("ran systemctl {}", a.join(" ")));
            }
            Ok(r)
        }
    }
}

/// Install (or update) the schedule. `sc` = None: write files only.
pub fn install(s: &Scheduler, spec: &Spec, sc: Option<Systemctl>) -> Result<Vec<String>> {
    let mut done = Vec::new();
    match s {
        Scheduler::Systemd { dir, user } => {
            let a = put(&dir.join(format!("{UNIT}.service")), &service_unit(spec), &mut done)?;
            let b = put(&dir.join(format!("{UNIT}.timer")), &timer_unit(spec), &mut done)?;
            let timer = format!("{UNIT}.timer");
            if a || b {
                systemctl(sc, *user, &["daemon-reload"], &mut done)?;
            }
            let enabled = systemctl(sc, *user, &["is-enabled", &timer], &mut done)?.0 == 0;
            let active = systemctl(sc, *user, &["is-active", &timer], &mut done)?.0 == 0;
            if a || b || !enabled || !active {
                systemctl(sc, *user, &["enable", "--now", &timer], &mut done)?;
            } else {
                done.push(format!("{timer} already enabled and active"));
            }
        }
        Scheduler::Cron { file, state_dir } => {
            if !state_dir.is_dir() {
                std::fs::create_dir_all(state_dir).with_context(|| format!("creating {}", state_dir.display()))?;
                done.push(format!("created {}", state_dir.display()));
            }
            put(file, &cron_entry(spec, state_dir)?, &mut done)?;
        }
    }
    Ok(done)
}

/// Remove the schedule (files that are not there are fine).
pub fn uninstall(s: &Scheduler, sc: Option<Systemctl>) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let rm = |p: &Path, done: &mut Vec<String>| -> Result<bool> {
        match std::fs::remove_file(p) {
            Ok(()) => {
                done.push(format!("removed {}", p.display()));
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                done.push(format!("{} not installed", p.display()));
                Ok(false)
            }
            Err(e) => Err(e).with_context(|| format!("removing {}", p.display())),
        }
    };
    match s {
        Scheduler::Systemd { dir, user } => {
            let timer = dir.join(format!("{UNIT}.timer"));
            if timer.exists() {
                systemctl(sc, *user, &["disable", "--now", &format!("{UNIT}.timer")], &mut done)?;
            }
            let a = rm(&timer, &mut done)?;
            let b = rm(&dir.join(format!("{UNIT}.service")), &mut done)?;
            if a || b {
                systemctl(sc, *user, &["daemon-reload"], &mut done)?;
            }
        }
        Scheduler::Cron { file, .. } => {
            rm(file, &mut done)?;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn spec(every: &str) -> Spec {
        Spec {
            exe: "/usr/local/bin/drift-check".into(),
            args: vec!["-i".into(), "/etc/homelab/my lab.toml".into(), "--prometheus".into(), "/var/lib/node_exporter/homelab.prom".into()],
            interval: every.parse().unwrap(),
        }
    }

    #[test]
    fn intervals_parse_and_map_to_cron_and_systemd() {
        let i = |s: &str| s.parse::<Interval>().unwrap();
        assert_eq!(i("15m"), Interval(15));
        assert_eq!(i("1h"), Interval(60));
        assert_eq!(i("1d"), Interval(1440));
        assert!("0m".parse::<Interval>().is_err());
        assert!("15x".parse::<Interval>().unwrap_err().contains("unknown unit"));
        assert!("m".parse::<Interval>().is_err());
        assert_eq!(i("15m").cron().unwrap(), "*/15 * * * *");
        assert_eq!(i("1m").cron().unwrap(), "* * * * *");
        assert_eq!(i("1h").cron().unwrap(), "0 * * * *");
        assert_eq!(i("6h").cron().unwrap(), "0 */6 * * *");
        assert_eq!(i("1d").cron().unwrap(), "0 0 * * *");
        assert!(i("7m").cron().unwrap_err().to_string().contains("cannot run every 7min exactly"));
        assert!(i("5h").cron().is_err());
        assert_eq!((i("15m").systemd(), i("2h").systemd(), i("1d").systemd()), ("15min".into(), "2h".into(), "1d".into()));
    }

    #[test]
    fn units_quote_arguments_and_carry_the_interval() {
        let s = service_unit(&spec("15m"));
        assert!(s.contains("ExecStart=/usr/local/bin/drift-check -i \"/etc/homelab/my lab.toml\" --prometheus /var/lib/node_exporter/homelab.prom\n"), "{s}");
        assert!(s.contains("Type=oneshot"));
        let t = timer_unit(&spec("15m"));
        assert!(t.contains("OnUnitActiveSec=15min\n") && t.contains("WantedBy=timers.target"), "{t}");
        assert_eq!(systemd_arg("50%"), "50%%");
    }

    #[test]
    fn cron_install_is_idempotent_and_uninstall_removes_it() {
        let root = tempfile::tempdir().unwrap();
        let s = detect(false, Some(root.path())).unwrap();
        let Scheduler::Cron { file, state_dir } = &s else { panic!("{s:?}") };
        assert!(file.ends_with("etc/cron.d/homelab-drift-check"));
        let done = install(&s, &spec("15m"), None).unwrap();
        assert_eq!(done.len(), 2, "{done:?}");
        assert!(done[1].starts_with("wrote "), "{done:?}");
        let text = std::fs::read_to_string(file).unwrap();
        let line = text.lines().last().unwrap();
        assert!(line.starts_with("*/15 * * * * root /usr/local/bin/drift-check -i '/etc/homelab/my lab.toml' "), "{line}");
        assert!(line.contains(" --json >") && line.contains("last.json"), "{line}");
        assert!(state_dir.is_dir());
        let again = install(&s, &spec("15m"), None).unwrap();
        assert_eq!(again, vec![format!("{} unchanged", file.display())]);
        let changed = install(&s, &spec("30m"), None).unwrap();
        assert!(changed[0].starts_with("wrote "));
        assert!(std::fs::read_to_string(file).unwrap().contains("*/30 * * * *"));
        assert!(install(&s, &spec("7m"), None).is_err());
        assert!(detect(true, Some(root.path())).unwrap_err().to_string().contains("--user-unit needs systemd"));
        let gone = uninstall(&s, None).unwrap();
        assert_eq!(gone, vec![format!("removed {}", file.display())]);
        assert!(!file.exists());
        assert_eq!(uninstall(&s, None).unwrap(), vec![format!("{} not installed", file.display())]);
    }

    #[test]
    fn systemd_install_reloads_and_enables_only_when_needed() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("run/systemd/system")).unwrap();
        let s = detect(false, Some(root.path())).unwrap();
        let Scheduler::Systemd { dir, user: false } = &s else { panic!("{s:?}") };
        let calls = RefCell::new(Vec::<String>::new());
        let enabled = RefCell::new(false);
        let sc = |a: &[&str]| -> Result<(i32, String)> {
            calls.borrow_mut().push(a.join(" "));
            match a[0] {
                "is-enabled" | "is-active" => Ok((if *enabled.borrow() { 0 } else { 1 }, String::new())),
                "enable" => {
                    *enabled.borrow_mut() = true;
                    Ok((0, String::new()))
                }
                _ => Ok((0, String::new())),
            }
        };
        let done = install(&s, &spec("15m"), Some(&sc)).unwrap();
        assert!(dir.join("homelab-drift-check.service").is_file() && dir.join("homelab-drift-check.timer").is_file());
        assert_eq!(
            calls.borrow().as_slice(),
            ["daemon-reload", "is-enabled homelab-drift-check.timer", "is-active homelab-drift-check.timer", "enable --now homelab-drift-check.timer"]
        );
        assert!(done.iter().any(|d| d == "ran systemctl enable --now homelab-drift-check.timer"), "{done:?}");
        calls.borrow_mut().clear();
        let again = install(&s, &spec("15m"), Some(&sc)).unwrap();
        assert_eq!(calls.borrow().as_slice(), ["is-enabled homelab-drift-check.timer", "is-active homelab-drift-check.timer"]);
        assert!(again.last().unwrap().contains("already enabled and active"), "{again:?}");
        calls.borrow_mut().clear();
        uninstall(&s, Some(&sc)).unwrap();
        assert_eq!(calls.borrow().as_slice(), ["disable --now homelab-drift-check.timer", "daemon-reload"]);
        assert!(!dir.join("homelab-drift-check.timer").exists());
    }
}
