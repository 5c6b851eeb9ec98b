//! What the lab needs from the machine, checked before anything is created.

use crate::sys;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Programs the lab runs, with the Debian package that provides each.
pub const REQUIRED: [(&str, &str); 9] = [
    ("ip", "iproute2"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
    ("mount", "mount"),
    ("bash", "bash"),
    ("sshd", "openssh-server"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("chpasswd", "passwd"),
];

/// Missing programs as `NAME (Debian package PKG)`.
pub fn missing_programs() -> Vec<String> {
    REQUIRED
        .iter()
        .filter(|(p, _)| sys::which(p).is_none())
        .map(|(p, pkg)| format!("{p} (Debian package {pkg})"))
        .collect()
}

pub fn require_root(what: &str) -> Result<()> {
    if !sys::is_root() {
        bail!("{what} needs root: it creates network namespaces, bridges and mounts (run it with sudo)");
    }
    Ok(())
}

pub fn require_programs() -> Result<()> {
    let missing = missing_programs();
    if !missing.is_empty() {
        bail!("missing programs: {}; install them (scripts/deps.sh installs everything the lab needs)", missing.join(", "));
    }
    Ok(())
}

/// The pve-sim binary: `$HOMELAB_PVE_SIM`, else beside `lab_bin` (BRIEFING "pve-sim installation").
pub fn pve_sim_path(lab_bin: &Path) -> PathBuf {
    match std::env::var_os("HOMELAB_PVE_SIM") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => lab_bin.parent().unwrap_or(Path::new(".")).join("pve-sim"),
    }
}

pub fn require_pve_sim() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let p = pve_sim_path(&exe);
    if !p.is_file() {
        bail!(
            "the simulator binary {} does not exist (set HOMELAB_PVE_SIM, or build it: cargo build --workspace); \
             `lab up --no-sim` starts plain hosts without it",
            p.display()
        );
    }
    Ok(p)
}
