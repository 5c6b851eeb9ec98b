//! Where the lab lives: the per-user lab dir (`.lab/`) and the machine-wide runtime tmpfs.
//!
//! Layout of the runtime dir (a tmpfs, so teardown is one `umount`; lab-feasibility.md gotcha 11):
//! ```text
//! /run/homelab-lab/state.json          the running lab (authoritative; .lab/state.json is a copy)
//! /run/homelab-lab/host-init.sh        PID 1 of every host
//! /run/homelab-lab/backplane/          shared dir bind-mounted into pve hosts and the nas
//! /run/homelab-lab/hosts/NAME/{upper,work,merged}   the host's overlay
//! /run/homelab-lab/hosts/NAME/console.log           stdout/stderr of its PID 1
//! ```

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The machine-wide runtime dir (BRIEFING: "Runtime state on a tmpfs at /run/homelab-lab/").
pub const RUNTIME_DIR: &str = "/run/homelab-lab";
/// Serialises `lab` commands that change the running lab (up/down/fault). Outside the tmpfs
/// so it survives `umount`. Not the test lock: see [`TEST_LOCK`].
pub const STATE_LOCK: &str = "/run/homelab-lab.state.lock";
/// The machine-wide lock every lab *user* holds while a lab of theirs exists (BRIEFING).
/// `lab` itself never takes it: its callers (tests via `lab::testing`, `flock … lab up`) do.
pub const TEST_LOCK: &str = "/tmp/homelab-lab.lock";
/// Where the backplane appears inside pve hosts and the nas.
pub const BACKPLANE_MOUNT: &str = "/var/lib/pve-sim-backplane";
/// Where pve-sim is installed inside hosts (BRIEFING "pve-sim installation").
pub const PVE_SIM_IN_HOST: &str = "/usr/local/lib/pve-sim/pve-sim";

/// The lab dir: `$HOMELAB_LAB_DIR`, else `.lab` in the current directory; always absolute.
pub fn lab_dir() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    Ok(match std::env::var_os("HOMELAB_LAB_DIR") {
        Some(d) if !d.is_empty() => cwd.join(d),
        _ => cwd.join(".lab"),
    })
}

/// Paths inside the runtime dir.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub root: PathBuf,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime { root: PathBuf::from(RUNTIME_DIR) }
    }
}

impl Runtime {
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }
    pub fn init_script(&self) -> PathBuf {
        self.root.join("host-init.sh")
    }
    pub fn backplane(&self) -> PathBuf {
        self.root.join("backplane")
    }
    pub fn host_dir(&self, host: &str) -> PathBuf {
        self.root.join("hosts").join(host)
    }
    pub fn upper(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("upper")
    }
    pub fn work(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("work")
    }
    pub fn console(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("console.log")
    }
}

/// Files in the lab dir.
#[derive(Debug, Clone)]
pub struct LabFiles {
    pub dir: PathBuf,
}

impl LabFiles {
    pub fn new(dir: &Path) -> Self {
        LabFiles { dir: dir.to_path_buf() }
    }
    pub fn inventory(&self) -> PathBuf {
        self.dir.join("homelab.toml")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("id_lab")
    }
    pub fn pubkey(&self) -> PathBuf {
        self.dir.join("id_lab.pub")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }
    /// Host keys of unpinned hosts (Pi, NAS) seen by `lab ssh`: kept apart so debugging never
    /// pins them in the project's known_hosts (their first contact is the tools' accept-new).
    pub fn debug_known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts.lab-ssh")
    }
    pub fn secrets(&self) -> PathBuf {
        self.dir.join("secrets.env")
    }
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
}
