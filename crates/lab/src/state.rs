//! The running lab, as recorded in `/run/homelab-lab/state.json` (copied to `.lab/state.json`).
//!
//! The runtime copy is authoritative: the lab is a machine-wide resource, so `lab status`,
//! `exec`, `fault` and `down` work from any directory. Teardown never relies on it alone; it
//! also scans for anything named `lab-*` (see `down`).

use crate::paths::Runtime;
use crate::sys;
use crate::topology::{HostSpec, LabShape};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    pub version: u32,
    pub lab_dir: PathBuf,
    pub runtime_dir: PathBuf,
    pub shape: LabShape,
    pub cluster: String,
    pub domain: String,
    /// Unix time of `lab up`.
    pub created: u64,
    pub hosts: Vec<HostState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostState {
    #[serde(flatten)]
    pub spec: HostSpec,
    /// PID 1 of the host as seen from the machine; None while stopped.
    pub pid1: Option<i32>,
    /// The `unshare` process that is PID 1's parent.
    pub unshare_pid: Option<i32>,
    /// Number of boots of the current installation (a wipe starts again at 1).
    pub boots: u32,
    /// Installations so far (1 + number of wipes).
    pub installs: u32,
}

impl LabState {
    pub fn load(rt: &Runtime) -> Result<Option<LabState>> {
        let p = rt.state_file();
        match std::fs::read_to_string(&p) {
            Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| format!("{}: unreadable lab state", p.display()))?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }

    /// Write the runtime state and its copy in the lab dir.
    pub fn save(&self, rt: &Runtime) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        sys::write_atomic(&rt.state_file(), text.as_bytes(), 0o644)?;
        if self.lab_dir.is_dir() {
            sys::write_atomic(&self.lab_dir.join("state.json"), text.as_bytes(), 0o644)?;
        }
        Ok(())
    }

    pub fn host(&self, name: &str) -> Result<&HostState> {
        self.hosts.iter().find(|h| h.spec.name == name).with_context(|| self.unknown_host(name))
    }

    pub fn host_mut(&mut self, name: &str) -> Result<&mut HostState> {
        let msg = self.unknown_host(name);
        self.hosts.iter_mut().find(|h| h.spec.name == name).context(msg)
    }

    fn unknown_host(&self, name: &str) -> String {
        let names: Vec<&str> = self.hosts.iter().map(|h| h.spec.name.as_str()).collect();
        format!("no host {name:?} in the running lab; hosts: {}", names.join(", "))
    }

    pub fn inventory_path(&self) -> PathBuf {
        self.lab_dir.join("homelab.toml")
    }
}

impl HostState {
    /// Is this host's PID 1 alive and really our host-init (not a recycled pid)?
    pub fn running_pid1(&self, rt: &Runtime) -> Option<i32> {
        let pid = self.pid1?;
        is_host_init(pid, rt, &self.spec.name).then_some(pid)
    }
}

/// Does `pid` run host-init.sh for `name`? Guards every signal we send against pid reuse.
pub fn is_host_init(pid: i32, rt: &Runtime, name: &str) -> bool {
    if !sys::alive(pid) {
        return false;
    }
    let cmd = sys::cmdline(pid);
    let script = rt.init_script();
    let mut args = cmd.split(' ');
    args.any(|a| Path::new(a) == script) && cmd.split(' ').nth(2) == Some(name)
}
