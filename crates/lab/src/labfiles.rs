//! The operator-facing files of the lab dir besides the inventory: secrets.env, ssh_config and
//! the known_hosts pins (BRIEFING "Lab dir").

use crate::inventory::{ENV_PI_ROOT_PASSWORD, ENV_PROXMOX_ROOT_PASSWORD};
use crate::paths::LabFiles;
use crate::sys;
use crate::topology::{HostSpec, Role};
use anyhow::{Context, Result};
use common::secret::Secret;
use common::ssh::known_hosts::KnownHosts;
use std::fmt::Write as _;
use std::path::Path;

/// The lab's first-contact passwords: random per lab, the same for every pve node (one answer
/// file's root password), stored only in secrets.env.
pub struct Secrets {
    pub proxmox_root: Secret,
    pub pi_root: Option<Secret>,
}

impl Secrets {
    pub fn generate(with_pi: bool) -> Result<Secrets> {
        Ok(Secrets {
            proxmox_root: Secret::new(sys::random_password(24)?),
            pi_root: if with_pi { Some(Secret::new(sys::random_password(24)?)) } else { None },
        })
    }

    /// The password a host of `role` gets on (re)install.
    pub fn for_role(&self, role: Role) -> Option<&Secret> {
        match role {
            Role::Pve => Some(&self.proxmox_root),
            Role::Pi => self.pi_root.as_ref(),
            Role::Nas => None,
        }
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let mut s = String::from("# Secrets of the running lab (random per `lab up`). Use: source .lab/secrets.env\n");
        let _ = writeln!(s, "export {ENV_PROXMOX_ROOT_PASSWORD}={}", self.proxmox_root.expose());
        if let Some(p) = &self.pi_root {
            let _ = writeln!(s, "export {ENV_PI_ROOT_PASSWORD}={}", p.expose());
        }
        sys::write_atomic(path, s.as_bytes(), 0o600)
    }

    /// Read them back (for `lab fault wipe`, which reinstalls with the lab's passwords).
    pub fn read(path: &Path) -> Result<Secrets> {
        let pairs = parse_env_file(&std::fs::read_to_string(path).with_context(|| {
            format!("reading {} (a reinstall needs the lab's root passwords)", path.display())
        })?);
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| Secret::new(v.clone()));
        Ok(Secrets {
            proxmox_root: get(ENV_PROXMOX_ROOT_PASSWORD)
                .with_context(|| format!("{}: no {ENV_PROXMOX_ROOT_PASSWORD}", path.display()))?,
            pi_root: get(ENV_PI_ROOT_PASSWORD),
        })
    }
}

/// `export NAME=value` lines (comments and blank lines skipped; optional single quotes).
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("export ").unwrap_or(l);
            if l.is_empty() || l.starts_with('#') {
                return None;
            }
            let (k, v) = l.split_once('=')?;
            let v = v.trim_matches('\'').trim_matches('"');
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// `ssh -F .lab/ssh_config`: root on every host by name, FQDN or address. Pinned hosts (pve)
/// are checked strictly against the project's known_hosts; the Pi and the NAS are not pinned
/// (first contact is the tools' accept-new), so `lab ssh` keeps their keys in a separate file
/// and never pins them in known_hosts. Never `StrictHostKeyChecking no` (DESIGN "Security").
pub fn ssh_config(files: &LabFiles, hosts: &[HostSpec]) -> String {
    let mut s = String::from("# ssh config of the running lab, written by `lab up`: ssh -F <this file> pve-node1\n");
    for h in hosts {
        let (khf, strict) = match h.role {
            Role::Pve => (files.known_hosts(), "yes"),
            _ => (files.debug_known_hosts(), "accept-new"),
        };
        let _ = writeln!(s, "\nHost {} {}\n    HostName {}", h.name, h.fqdn(), h.mgmt_ip);
        let _ = writeln!(s, "Host {} {} {} {}", h.name, h.fqdn(), h.mgmt_ip, h.prod_ip);
        let _ = writeln!(s, "    UserKnownHostsFile {}\n    StrictHostKeyChecking {strict}", khf.display());
    }
    let _ = writeln!(
        s,
        "\nHost *\n    User root\n    IdentityFile {}\n    IdentitiesOnly yes\n    GlobalKnownHostsFile /dev/null\n    \
         UserKnownHostsFile {}\n    StrictHostKeyChecking yes\n    HashKnownHosts no\n    CheckHostIP no\n    \
         ConnectTimeout 5\n    LogLevel ERROR",
        files.key().display(),
        files.known_hosts().display()
    );
    s
}

/// Pin the pve hosts' keys under name, FQDN and both addresses, as the install webhook would
/// (`replace_host`: a reinstall replaces the old pins). `fresh` starts an empty file (new lab).
pub fn pin_hosts(path: &Path, pins: &[(&HostSpec, Vec<(String, String)>)], fresh: bool) -> Result<usize> {
    let mut replaced = 0;
    KnownHosts::update(path, |kh| {
        if fresh {
            kh.entries.clear();
        }
        for (h, keys) in pins {
            replaced += kh.replace_host(&h.pin_names(), 22, keys).len();
        }
    })?;
    Ok(replaced)
}

/// Drop a host from the `lab ssh` debug known_hosts (after a reinstall of an unpinned host).
pub fn forget_debug_pins(path: &Path, h: &HostSpec) -> Result<()> {
    if path.exists() {
        KnownHosts::update(path, |kh| {
            kh.forget(&h.pin_names(), 22);
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{hosts, LabShape};

    #[test]
    fn env_file_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("secrets.env");
        let s = Secrets::generate(true).unwrap();
        s.write(&p).unwrap();
        let back = Secrets::read(&p).unwrap();
        assert_eq!(back.proxmox_root.expose(), s.proxmox_root.expose());
        assert_eq!(back.pi_root.unwrap().expose(), s.pi_root.unwrap().expose());
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("export PROXMOX_ROOT_PASSWORD=") && text.contains("export PI_ROOT_PASSWORD="));
    }

    #[test]
    fn ssh_config_pins_pve_strictly_and_never_disables_checking() {
        let files = LabFiles::new(Path::new("/x/.lab"));
        let cfg = ssh_config(&files, &hosts(&LabShape::default()).unwrap());
        assert!(!cfg.to_lowercase().contains("stricthostkeychecking no"));
        let pve = cfg.split("\nHost ").find(|b| b.starts_with("pve-node1 pve-node1.lab.home.arpa 10.231")).unwrap();
        assert!(pve.contains("UserKnownHostsFile /x/.lab/known_hosts\n") && pve.contains("StrictHostKeyChecking yes"));
        let pi = cfg.split("\nHost ").find(|b| b.starts_with("qdevice1 qdevice1.lab.home.arpa 10.231")).unwrap();
        assert!(pi.contains("known_hosts.lab-ssh") && pi.contains("accept-new"));
        assert!(cfg.contains("HostName 10.231.10.11"));
    }
}
