//! `pve-sim lab-daemons --role ROLE`: what systemd and the PVE daemons do in the background.
//!
//! - every role: start the units enabled for boot (corosync when configured, corosync-qdevice,
//!   corosync-qnetd) and mark enabled fake units active — a host restart behaves like a reboot;
//! - pve: `pvecm updatecerts --silent` like pve-cluster's ExecStartPost (root RSA key, shared
//!   authorized_keys, node known_hosts), then the pmxcfs corosync.conf sync loop (pve-cli.md §2.1
//!   step 3) with a heartbeat other nodes use to know whom to wait for, storage activation like
//!   pvestatd and the minutely replication run of pvescheduler;
//! - nas: the NFS stand-in on TCP 2049 answering each connection with the export list.

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::applets::systemctl;
use crate::model::storage;
use crate::pmxcfs::{self, SyncResult};
use crate::{cli, nodefiles, sys};

fn log(msg: &str) {
    let line = format!("{} {}\n", sys::now(), msg);
    let path = sys::p("/var/log/pve-sim.log");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(line.as_bytes());
    }
}

pub fn main(args: &[String]) -> Result<i32> {
    // systemd-tmpfiles at boot: /run is a fresh tmpfs.
    for d in ["/run/lock", "/run/pve-sim"] {
        let _ = sys::mkdir_p(&sys::p(d), 0o755);
    }
    let a = cli::parse(args, &[("role", cli::Kind::Str), ("once", cli::Kind::Bool)], Some(0), "USAGE: pve-sim lab-daemons --role pve|pi|nas\n")?;
    let role = a.get("role").context("lab-daemons: --role is required")?.to_string();
    let once = a.flag("once");
    match role.as_str() {
        "pve" => pve(once),
        "nas" => {
            systemctl::boot();
            nas(once)
        }
        _ => {
            systemctl::boot();
            Ok(0)
        }
    }
}

#[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; MSRV is 1.80
fn pve(once: bool) -> Result<i32> {
    let me = sys::hostname();
    if pmxcfs::etc_pve().is_dir() {
        let _ = pmxcfs::point_self_links(&me);
    }
    pmxcfs::heartbeat();
    sync_step();
    systemctl::boot();
    if let Err(e) = nodefiles::updatecerts(false, true) {
        log(&format!("updatecerts: {e:#}"));
    }
    let mut tick: u64 = 0;
    loop {
        pmxcfs::heartbeat();
        sync_step();
        // pvestatd activates (mounts) the node's shared storages every few seconds.
        if tick % 25 == 0 {
            activate_storages(&me);
        }
        // pvescheduler runs due replication jobs every minute (vzdump jobs are not simulated).
        if tick % 300 == 150 && systemctl::is_active("pvescheduler") {
            match crate::applets::pvesr::run_jobs(None, false) {
                Ok(f) if !f.is_empty() => log(&format!("replication: {}", f.join("; "))),
                Err(e) => log(&format!("replication: {e:#}")),
                _ => {}
            }
        }
        if once {
            return Ok(0);
        }
        tick += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn activate_storages(me: &str) {
    let Ok((cfg, _)) = storage::load() else { return };
    for e in cfg.of_type("nfs") {
        if storage::enabled_on(e, me) {
            let _ = storage::activate_nfs(e);
        }
    }
}

fn sync_step() {
    match pmxcfs::sync_corosync_conf() {
        Ok(SyncResult::Copied { old, new }) => log(&format!("wrote new corosync config '/etc/corosync/corosync.conf' (version = {new}, was {old:?})")),
        Ok(SyncResult::LocalNewer { local, cluster }) => {
            log(&format!("local corosync.conf is newer (local {local}, cluster {cluster})"))
        }
        Ok(SyncResult::Unchanged) => {}
        Err(e) => log(&format!("corosync.conf sync failed: {e:#}")),
    }
}

fn nas(once: bool) -> Result<i32> {
    let listener = TcpListener::bind("0.0.0.0:2049").context("nas: unable to listen on TCP 2049")?;
    log("nas: NFS stand-in listening on :2049");
    for conn in listener.incoming() {
        let Ok(mut s) = conn else { continue };
        let exports = sys::read_opt(&sys::p("/etc/exports")).unwrap_or_default();
        let _ = s.write_all(exports.as_bytes());
        drop(s);
        if once {
            break;
        }
    }
    Ok(0)
}
