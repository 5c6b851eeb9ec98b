//! corosync-qnetd on the QDevice host, as Debian packages it (checked on this machine:
//! `/etc/init.d/corosync-qnetd`, `/etc/default/corosync-qnetd`, the package's postinst).
//!
//! * The postinst creates the `coroqnetd` system user and, when no `cert9.db` exists, runs
//!   `corosync-qnetd-certutil -i -G` and gives the database files group `coroqnetd`.
//! * The init script runs the daemon `--chuid ${COROSYNC_QNETD_RUNAS:-coroqnetd}`; the systemd
//!   unit has `User=coroqnetd`. We set `COROSYNC_QNETD_RUNAS="coroqnetd"` explicitly so the file
//!   says what runs (its shipped comment still claims the default is the invoking user).
//! * `corosync-qnetd-certutil` copies the owner and group of `/etc/corosync/qnetd` onto files it
//!   creates (`chown --reference`), so that directory is `root:coroqnetd` (mode 0770 as in
//!   upstream's packaging) — then certificates added later by `pvecm qdevice setup`
//!   (`certutil -s`) are readable by the daemon too. lab-feasibility.md gotcha 2.

use common::baseline::resources::EditedFile;
use common::baseline::text::{set_shell_var, shell_var};
use common::engine::resources::{Command, Directory, NotifyAction, Packages, Service};
use common::engine::{Observed, Resource, Status};

pub const PACKAGE: &str = "corosync-qnetd";
pub const SERVICE: &str = "corosync-qnetd";
pub const USER: &str = "coroqnetd";
pub const CONFIG_DIR: &str = "/etc/corosync/qnetd";
pub const NSSDB: &str = "/etc/corosync/qnetd/nssdb";
pub const DEFAULTS: &str = "/etc/default/corosync-qnetd";
pub const PORT: u16 = 5403;
/// How long to wait for qnetd to listen after a start (it binds within milliseconds normally).
pub const LISTEN_TIMEOUT_SECS: u32 = 20;

/// `/etc/default/corosync-qnetd` with the daemon running as `coroqnetd`.
pub fn defaults_file(current: Option<&str>) -> String {
    set_shell_var(current.unwrap_or(""), "COROSYNC_QNETD_RUNAS", USER)
}

/// The coroqnetd system user, as the postinst creates it (a package may have been unpacked
/// without configure, or the user deleted by hand).
fn system_user() -> Command {
    Command::new(
        &format!("system user {USER}"),
        &format!("getent passwd {USER} >/dev/null && echo present || echo absent\n"),
        |o: &Observed| o.stdout.trim() == "present",
        "create the system user (as the package's postinst does)",
        &format!("adduser --system --group --quiet --home {CONFIG_DIR} --no-create-home --disabled-login {USER}\n"),
    )
}

/// Groups of the NSS database and its two key files (`stat -c %G`), or `absent`.
fn nssdb() -> Command {
    let probe = format!(
        "d={NSSDB}\nif [ -f \"$d/cert9.db\" ]; then stat -c '%G %n' \"$d\" \"$d/cert9.db\" \"$d/key4.db\" 2>&1; else echo absent; fi\n"
    );
    let apply = format!(
        "set -e\nd={NSSDB}\nif [ ! -f \"$d/cert9.db\" ]; then corosync-qnetd-certutil -i -G >/dev/null; fi\nchgrp -R {USER} \"$d\"\n"
    );
    Command::with_check(
        &format!("qnetd certificate database {NSSDB}"),
        &probe,
        |o: &Observed| {
            let out = o.stdout.trim();
            if out == "absent" {
                return Ok(Status::change("initialise (corosync-qnetd-certutil -i -G, group coroqnetd)"));
            }
            let wrong: Vec<&str> = out.lines().filter(|l| !l.starts_with(&format!("{USER} "))).collect();
            Ok(if wrong.is_empty() {
                Status::InState
            } else {
                Status::change(format!("group coroqnetd on {}", wrong.join(", ")))
            })
        },
        &apply,
    )
}

/// Probe snippet: is something listening on TCP `PORT` (IPv4 or IPv6 socket)? Reads
/// /proc/net/tcp{,6} (`st` 0A = LISTEN) so it works without `ss`.
pub fn listen_probe() -> String {
    format!(
        "if awk 'NR>1 && $4==\"0A\" {{ split($2,a,\":\"); if (a[2]==\"{:04X}\") f=1 }} END {{ exit !f }}' /proc/net/tcp /proc/net/tcp6 2>/dev/null; \
         then echo listening; else echo not-listening; fi\n",
        PORT
    )
}

/// Wait (polling, bounded) until qnetd listens; on timeout show what the service says and the
/// end of its log.
fn listening() -> Command {
    let check = listen_probe();
    let apply = format!(
        "i=0\nwhile [ $i -lt {n} ]; do\n  case $({check_inline}) in listening) exit 0;; esac\n  i=$((i+1)); sleep 0.1\ndone\n\
         echo 'corosync-qnetd is not listening on TCP {PORT} after {LISTEN_TIMEOUT_SECS} s' >&2\n\
         systemctl status {SERVICE} 2>&1 | tail -n 5 >&2\n\
         (journalctl -u {SERVICE} -n 20 --no-pager 2>/dev/null || tail -n 20 /var/log/daemon.log /var/log/syslog 2>/dev/null) >&2\n\
         exit 1\n",
        n = LISTEN_TIMEOUT_SECS * 10,
        check_inline = check.trim_end().replace('\n', " "),
    );
    Command::new(
        &format!("{SERVICE} listening on TCP {PORT}"),
        &check,
        |o: &Observed| o.stdout.trim() == "listening",
        "wait until it listens",
        &apply,
    )
    .notified_by(&[&format!("service {SERVICE}")])
}

/// corosync-qnetd resources, in apply order.
pub fn resources() -> Vec<Box<dyn Resource>> {
    let defaults = EditedFile::new(DEFAULTS, "run qnetd as coroqnetd", |cur| Some(defaults_file(cur)));
    let restart_on = [defaults.id(), nssdb().id(), format!("directory {CONFIG_DIR}")];
    let restart_on: Vec<&str> = restart_on.iter().map(String::as_str).collect();
    vec![
        Box::new(Packages::new(&[PACKAGE])),
        Box::new(system_user()),
        Box::new(Directory::new(CONFIG_DIR, 0o770).owned_by("root", USER)),
        Box::new(defaults),
        Box::new(nssdb()),
        Box::new(Service::running(SERVICE).notified_by(&restart_on, NotifyAction::Restart)),
        Box::new(listening()),
    ]
}

/// `COROSYNC_QNETD_RUNAS` as the file sets it (for reports).
pub fn runas(defaults_text: &str) -> Option<String> {
    shell_var(defaults_text, "COROSYNC_QNETD_RUNAS")
}

#[cfg(test)]
mod tests {
    use super::*;

    // As shipped by Debian 12's corosync-qnetd 3.0.3.
    const SHIPPED: &str = "# Corosync Qdevice Network daemon init script configuration file\n\n\
        # COROSYNC_QNETD_OPTIONS specifies options passed to corosync-qnetd command\n\
        COROSYNC_QNETD_OPTIONS=\"\"\n\n\
        # COROSYNC_QNETD_RUNAS specifies user under which qnetd daemon should be running\n\
        COROSYNC_QNETD_RUNAS=\"\"\n";

    #[test]
    fn defaults_file_sets_runas_only() {
        let out = defaults_file(Some(SHIPPED));
        assert_eq!(out, SHIPPED.replace("COROSYNC_QNETD_RUNAS=\"\"", "COROSYNC_QNETD_RUNAS=\"coroqnetd\""));
        assert_eq!(runas(&out).as_deref(), Some("coroqnetd"));
        assert_eq!(defaults_file(Some(&out)), out);
        assert_eq!(defaults_file(None), "COROSYNC_QNETD_RUNAS=\"coroqnetd\"\n");
    }

    #[test]
    fn nssdb_states() {
        let r = nssdb();
        assert!(matches!(r.evaluate(&Observed::new("absent\n", 0)).unwrap(), Status::Change { .. }));
        let ok = "coroqnetd /etc/corosync/qnetd/nssdb\ncoroqnetd /etc/corosync/qnetd/nssdb/cert9.db\ncoroqnetd /etc/corosync/qnetd/nssdb/key4.db\n";
        assert_eq!(r.evaluate(&Observed::new(ok, 0)).unwrap(), Status::InState);
        let bad = ok.replace("coroqnetd /etc/corosync/qnetd/nssdb/key4.db", "root /etc/corosync/qnetd/nssdb/key4.db");
        assert_eq!(
            r.evaluate(&Observed::new(&bad, 0)).unwrap(),
            Status::change("group coroqnetd on root /etc/corosync/qnetd/nssdb/key4.db")
        );
    }

    #[test]
    fn listen_probe_reads_proc_net_tcp() {
        // Runs on this machine: the probe must be valid sh+awk and answer one of the two words.
        let out = std::process::Command::new("sh").arg("-c").arg(listen_probe()).output().unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s == "listening\n" || s == "not-listening\n", "{s:?}");
        // and it finds a real listener: bind one on 5403 if free, else it is already listening
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", PORT)) {
            let out = std::process::Command::new("sh").arg("-c").arg(listen_probe()).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "listening\n");
            drop(l);
        }
        assert!(listening().apply_script.contains("sleep 0.1"));
    }
}
