//! `lab status`: hosts, processes, addresses, links, memory (PSS per host, issue 3 asks for
//! the lab's memory use) and the paths of the lab dir.

use crate::host;
use crate::network;
use crate::paths::{LabFiles, Runtime};
use crate::state::LabState;
use anyhow::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize)]
pub struct Status {
    pub running: bool,
    pub lab_dir: Option<PathBuf>,
    pub inventory: Option<PathBuf>,
    pub secrets: Option<PathBuf>,
    pub ssh_config: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub runtime_dir: PathBuf,
    pub sim: bool,
    pub hosts: Vec<HostStatus>,
    pub total_pss_kib: u64,
    pub total_upper_kib: u64,
}

#[derive(Debug, Serialize)]
pub struct HostStatus {
    pub name: String,
    pub role: String,
    /// `running`, `running-no-sshd` (after a crash) or `stopped`.
    pub state: String,
    pub pid1: Option<i32>,
    pub mgmt_ip: String,
    pub prod_ip: String,
    pub netns: String,
    pub veth_mgmt: String,
    pub veth_prod: String,
    pub link0_up: Option<bool>,
    pub link1_up: Option<bool>,
    pub mac_mgmt: String,
    pub mac_prod: String,
    pub processes: usize,
    pub pss_kib: u64,
    /// Size of the host's upper layer (its "disk") on the runtime tmpfs.
    pub upper_kib: u64,
    pub boots: u32,
    pub installs: u32,
    pub console: PathBuf,
}

fn dir_kib(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            // hard links (the pve-sim binary is shared by all hosts) count once in total
            let share = if m.is_file() { m.nlink().max(1) } else { 1 };
            total += m.blocks() * 512 / share;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total / 1024
}

pub fn collect() -> Result<Status> {
    let rt = Runtime::default();
    let Some(st) = LabState::load(&rt)? else {
        return Ok(Status {
            running: false,
            lab_dir: None,
            inventory: None,
            secrets: None,
            ssh_config: None,
            known_hosts: None,
            runtime_dir: rt.root.clone(),
            sim: false,
            hosts: Vec::new(),
            total_pss_kib: 0,
            total_upper_kib: 0,
        });
    };
    let files = LabFiles::new(&st.lab_dir);
    let mut hosts = Vec::new();
    for h in &st.hosts {
        let pid1 = h.running_pid1(&rt);
        let (processes, pss_kib) = pid1.map(host::usage).unwrap_or((0, 0));
        let state = match pid1 {
            Some(p) if host::has_sshd(p) => "running",
            Some(_) => "running-no-sshd",
            None => "stopped",
        };
        hosts.push(HostStatus {
            name: h.spec.name.clone(),
            role: h.spec.role.as_str().into(),
            state: state.into(),
            pid1,
            mgmt_ip: h.spec.mgmt_ip.clone(),
            prod_ip: h.spec.prod_ip.clone(),
            netns: h.spec.netns.clone(),
            veth_mgmt: h.spec.veth_mgmt.clone(),
            veth_prod: h.spec.veth_prod.clone(),
            link0_up: network::link_is_up(&h.spec.veth_mgmt),
            link1_up: network::link_is_up(&h.spec.veth_prod),
            mac_mgmt: h.spec.mac_mgmt.clone(),
            mac_prod: h.spec.mac_prod.clone(),
            processes,
            pss_kib,
            upper_kib: dir_kib(&rt.upper(&h.spec.name)),
            boots: h.boots,
            installs: h.installs,
            console: rt.console(&h.spec.name),
        });
    }
    Ok(Status {
        running: true,
        lab_dir: Some(st.lab_dir.clone()),
        inventory: Some(files.inventory()),
        secrets: Some(files.secrets()),
        ssh_config: Some(files.ssh_config()),
        known_hosts: Some(files.known_hosts()),
        runtime_dir: rt.root.clone(),
        sim: st.shape.sim,
        total_pss_kib: hosts.iter().map(|h| h.pss_kib).sum(),
        total_upper_kib: hosts.iter().map(|h| h.upper_kib).sum(),
        hosts,
    })
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn link(s: Option<bool>) -> &'static str {
    match s {
        Some(true) => "up",
        Some(false) => "DOWN",
        None => "-",
    }
}

pub fn render(s: &Status) -> String {
    if !s.running {
        return "no lab is running (`lab up` starts one)\n".into();
    }
    let mut out = String::new();
    let show = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    out.push_str(&format!("lab dir:   {}\n", show(&s.lab_dir)));
    out.push_str(&format!("inventory: {}\n", show(&s.inventory)));
    out.push_str(&format!("secrets:   {}   (source it for the phases)\n", show(&s.secrets)));
    out.push_str(&format!("ssh:       lab ssh HOST   (ssh -F {} root@ADDR)\n", show(&s.ssh_config)));
    out.push_str(&format!("simulator: {}\n\n", if s.sim { "pve-sim installed" } else { "none (--no-sim)" }));
    out.push_str(&format!(
        "{:<11} {:<4} {:<16} {:>7} {:<13} {:<12} {:<5} {:<5} {:>5} {:>10} {:>10}\n",
        "HOST", "ROLE", "STATE", "PID1", "MGMT", "PROD", "LINK0", "LINK1", "PROCS", "PSS", "UPPER"
    ));
    for h in &s.hosts {
        out.push_str(&format!(
            "{:<11} {:<4} {:<16} {:>7} {:<13} {:<12} {:<5} {:<5} {:>5} {:>10} {:>10}\n",
            h.name,
            h.role,
            h.state,
            h.pid1.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            h.mgmt_ip,
            h.prod_ip,
            link(h.link0_up),
            link(h.link1_up),
            h.processes,
            mib(h.pss_kib),
            mib(h.upper_kib)
        ));
    }
    out.push_str(&format!("\nmemory: {} PSS in host processes, {} in upper layers (tmpfs)\n", mib(s.total_pss_kib), mib(s.total_upper_kib)));
    out
}
