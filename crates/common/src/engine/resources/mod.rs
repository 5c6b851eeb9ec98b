//! Standard resources. Each has a cheap POSIX sh probe that tolerates absent files, a pure
//! `evaluate` unit-tested on sample probe output, and its change as one self-contained script
//! ([`Resource::apply_script`](crate::engine::Resource::apply_script)), which the engine sends
//! in a batch with the changes next to it; `apply` runs the same script on its own.
//!
//! | resource | desired state |
//! |---|---|
//! | [`File`] | content, mode, owner (atomic upload, optional validator, `secret` hides content) |
//! | [`Absent`] | nothing at a path |
//! | [`Directory`] | a directory with mode and owner |
//! | [`Symlink`] | a symlink pointing at a target |
//! | [`User`] | an account with shell, home, supplementary groups |
//! | [`Packages`] | Debian packages installed; [`AptUpdate`] is the handler for sources files |
//! | [`Service`] | enabled / running via `systemctl`; reload or restart when notified |
//! | [`Command`] | escape hatch: your probe, your predicate, your script |

mod command;
mod file;
mod fs;
mod packages;
mod service;
mod user;

pub use command::Command;
pub use file::File;
pub use fs::{Absent, Directory, Symlink};
pub use packages::{AptUpdate, Packages};
pub use service::{NotifyAction, Service};
pub use user::User;

use crate::ssh::{quote, Session};

/// Run a resource's apply script as root on its own (the engine batches it instead when it
/// can): non-zero exit → an error naming host, `step` and the output's tail.
pub(crate) fn run_script(session: &Session, step: &str, script: &str) -> anyhow::Result<()> {
    let out = session.script_root(script)?;
    session.check(step, out).map(drop)
}

/// Probe lines describing what is at `path`: `type file|directory|symlink|absent|other`.
/// Tests `-L` first so a dangling symlink is not mistaken for "absent".
pub(crate) fn type_probe(path: &str) -> String {
    format!(
        "p={}\nif [ -L \"$p\" ]; then echo 'type symlink'\nelif [ -f \"$p\" ]; then echo 'type file'\n\
         elif [ -d \"$p\" ]; then echo 'type directory'\nelif [ -e \"$p\" ]; then echo 'type other'\n\
         else echo 'type absent'; fi\n",
        quote(path)
    )
}

/// `owner:group` for chown.
pub(crate) fn owner_spec(owner: &str, group: &str) -> String {
    quote(&format!("{owner}:{group}"))
}

/// Compare `meta MODE OWNER GROUP` (from `stat -c '%a %U %G'`) with the desired values;
/// returns the human differences (`mode 0644 → 0600`, `owner root:root → homelab:homelab`).
pub(crate) fn meta_diffs(meta: Option<&str>, mode: u32, owner: &str, group: &str) -> anyhow::Result<Vec<String>> {
    let meta = meta.ok_or_else(|| anyhow::anyhow!("probe printed no `meta` line"))?;
    let mut it = meta.split_whitespace();
    let (m, o, g) = match (it.next(), it.next(), it.next()) {
        (Some(m), Some(o), Some(g)) => (m, o, g),
        _ => anyhow::bail!("unreadable stat output {meta:?}"),
    };
    let current = u32::from_str_radix(m, 8).map_err(|_| anyhow::anyhow!("unreadable mode {m:?}"))?;
    let mut diffs = Vec::new();
    if current & 0o7777 != mode & 0o7777 {
        diffs.push(format!("mode {:04o} → {:04o}", current & 0o7777, mode & 0o7777));
    }
    if o != owner || g != group {
        diffs.push(format!("owner {o}:{g} → {owner}:{group}"));
    }
    Ok(diffs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_diffs_report_mode_and_owner() {
        assert!(meta_diffs(Some("644 root root"), 0o644, "root", "root").unwrap().is_empty());
        assert_eq!(
            meta_diffs(Some("600 root adm"), 0o644, "root", "root").unwrap(),
            vec!["mode 0600 → 0644".to_string(), "owner root:adm → root:root".to_string()]
        );
        assert_eq!(meta_diffs(Some("4755 root root"), 0o755, "root", "root").unwrap(), vec!["mode 4755 → 0755"]);
        assert!(meta_diffs(None, 0o644, "root", "root").is_err());
        assert!(meta_diffs(Some("x"), 0o644, "root", "root").is_err());
    }

    #[test]
    fn type_probe_runs_in_sh() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let l = dir.path().join("dangling");
        std::os::unix::fs::symlink("/nonexistent/target", &l).unwrap();
        for (p, want) in [
            (f.to_str().unwrap(), "type file\n"),
            (dir.path().to_str().unwrap(), "type directory\n"),
            (l.to_str().unwrap(), "type symlink\n"),
            ("/nonexistent/x y", "type absent\n"),
        ] {
            let out = std::process::Command::new("sh").arg("-c").arg(type_probe(p)).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{p}");
        }
    }
}
