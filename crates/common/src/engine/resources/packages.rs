//! Debian packages installed (never removed, never upgraded), and the `apt-get update`
//! handler that sources-file resources notify.

use crate::engine::{Observed, Resource, Status};
use super::run_script;
use crate::ssh::{quote, Session};
use anyhow::{bail, Result};

/// Options that keep apt from asking anything: config files we did not ship stay as they are.
const APT_INSTALL: &str = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
     -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";
const APT_UPDATE: &str = "DEBIAN_FRONTEND=noninteractive apt-get update -q\n";

#[derive(Debug, Clone)]
pub struct Packages {
    pub names: Vec<String>,
}

impl Packages {
    pub fn new(names: &[&str]) -> Self {
        Packages { names: names.iter().map(|s| s.to_string()).collect() }
    }

    fn script(&self) -> String {
        // Decide on the host which are missing, so installed packages are not upgraded.
        let names: Vec<String> = self.names.iter().map(|n| quote(n)).collect();
        format!(
            "missing=\nfor p in {}; do\n  dpkg-query -W -f='${{db:Status-Abbrev}}' \"$p\" 2>/dev/null | grep -q '^ii' || missing=\"$missing $p\"\ndone\n\
             [ -z \"$missing\" ] || {APT_INSTALL} $missing\n",
            names.join(" ")
        )
    }
}

/// Names that `dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n'` reports fully installed
/// (`ii`). Packages never seen are missing from the output (dpkg-query then exits 1).
pub fn installed_packages(dpkg_query_output: &str) -> Vec<&str> {
    dpkg_query_output
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?;
            let status = it.next()?;
            status.starts_with("ii").then_some(name)
        })
        .collect()
}

impl Resource for Packages {
    fn id(&self) -> String {
        format!("packages {}", self.names.join(","))
    }

    /// With the batch's prefetch (all prefetched names in one `dpkg-query`, see
    /// [`crate::engine::observe::prefetch_package`]) this prints that output — lines for other
    /// resources' packages are ignored by `evaluate` — else it queries its own names.
    fn probe(&self) -> String {
        let names: Vec<String> = self.names.iter().map(|n| quote(n)).collect();
        let prefetch: String = self.names.iter().map(|n| crate::engine::observe::prefetch_package(n)).collect();
        let all_prefetched = prefetch.lines().count() == self.names.len();
        let own = format!("dpkg-query -W -f='${{Package}} ${{db:Status-Abbrev}}\\n' {} 2>&1\n", names.join(" "));
        if !all_prefetched {
            return own;
        }
        format!(
            "{prefetch}if [ -n \"${{hiac_dpkg_status:-}}\" ]; then printf '%s\\n' \"$hiac_dpkg\"; exit \"$hiac_dpkg_status\"; fi\n{own}"
        )
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        if observed.status > 1 {
            bail!("dpkg-query failed (exit {}): {}", observed.status, observed.stdout.trim());
        }
        let have = installed_packages(&observed.stdout);
        let missing: Vec<&str> = self.names.iter().map(String::as_str).filter(|n| !have.contains(n)).collect();
        Ok(if missing.is_empty() { Status::InState } else { Status::change(format!("install {}", missing.join(", "))) })
    }

    fn apply(&self, session: &Session) -> Result<()> {
        run_script(session, &format!("installing {}", self.names.join(", ")), &self.script())
    }

    fn apply_script(&self, _observed: &Observed) -> Option<Result<String>> {
        Some(Ok(self.script()))
    }
}

/// Handler: `apt-get update` when a sources file changed in this run. Otherwise in state.
#[derive(Debug, Clone)]
pub struct AptUpdate {
    pub notified_by: Vec<String>,
}

impl AptUpdate {
    /// Notified by these resource ids (e.g. `file /etc/apt/sources.list.d/pve.sources`).
    pub fn new(notified_by: &[&str]) -> Self {
        AptUpdate { notified_by: notified_by.iter().map(|s| s.to_string()).collect() }
    }
}

impl Resource for AptUpdate {
    fn id(&self) -> String {
        "apt-get update".into()
    }
    fn probe(&self) -> String {
        "true\n".into()
    }
    fn evaluate(&self, _observed: &Observed) -> Result<Status> {
        Ok(Status::InState)
    }
    fn apply(&self, session: &Session) -> Result<()> {
        run_script(session, "apt-get update", APT_UPDATE)
    }

    fn apply_script(&self, _observed: &Observed) -> Option<Result<String>> {
        Some(Ok(APT_UPDATE.to_string()))
    }
    fn notified_by(&self) -> Vec<String> {
        self.notified_by.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dpkg_query_and_finds_missing() {
        let out = "sudo ii \ncurl rc \nattr ii \ndpkg-query: no packages found matching nope\n";
        assert_eq!(installed_packages(out), vec!["sudo", "attr"]);
        let p = Packages::new(&["sudo", "curl", "nope", "attr"]);
        assert_eq!(p.evaluate(&Observed::new(out, 1)).unwrap(), Status::change("install curl, nope"));
        let p = Packages::new(&["sudo", "attr"]);
        assert_eq!(p.evaluate(&Observed::new(out, 1)).unwrap(), Status::InState);
        assert!(p.evaluate(&Observed::new("sh: dpkg-query: not found\n", 127)).is_err());
    }

    #[test]
    fn apt_update_is_a_pure_handler() {
        let a = AptUpdate::new(&["file /etc/apt/sources.list.d/pve.sources"]);
        assert_eq!(a.evaluate(&Observed::default()).unwrap(), Status::InState);
        assert_eq!(a.notified_by(), vec!["file /etc/apt/sources.list.d/pve.sources".to_string()]);
    }

    #[test]
    fn probe_works_against_this_machines_dpkg() {
        if std::process::Command::new("dpkg-query").arg("--version").output().is_err() {
            eprintln!("skipping: no dpkg-query here");
            return;
        }
        let p = Packages::new(&["dpkg", "surely-not-a-package-hiac"]);
        let out = std::process::Command::new("sh").arg("-c").arg(p.probe()).output().unwrap();
        let o = Observed::new(&String::from_utf8_lossy(&out.stdout), out.status.code().unwrap());
        assert_eq!(p.evaluate(&o).unwrap(), Status::change("install surely-not-a-package-hiac"));
    }
}
