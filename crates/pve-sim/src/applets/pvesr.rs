//! `pvesr` (pve-manager PVE/CLI/pvesr.pm; pve-cli.md §5): create-local-job, update, enable,
//! disable, delete, list, status, read, run, schedule-now. Create/update/delete are shared with
//! `pvesh` (`/cluster/replication`).
//!
//! Simulated replication (`run`): for each volume a snapshot `__replicate_<job>_<time>__` is taken
//! in the local ZFS state and sent over cluster SSH to the target, where `zfs recv` (pve-sim)
//! creates the volume — so the target really must be reachable as root, like `pvesm import`.
//! Failures are recorded in the state (fail count, error text) like PVE.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use pve_formats::section_config::Entry;

use crate::cli::{self, die, param_err, Kind};
use crate::model::replication as repl;
use crate::model::zfs::ZfsState;
use crate::{calendar, json, nodefiles, pmxcfs, render, sys};

const OPT_KEYS: &[&str] = &["schedule", "rate", "comment", "disable", "source", "remove_job"];

fn check_opts(params: &BTreeMap<String, String>, usage: &str) -> Result<()> {
    if let Some(s) = params.get("schedule") {
        if calendar::Event::parse(s).is_none() {
            return Err(param_err("schedule", format!("value does not look like a valid calendar event ('{s}')"), usage));
        }
    }
    if let Some(r) = params.get("rate") {
        if !r.parse::<f64>().is_ok_and(|v| v >= 1.0) {
            return Err(param_err("rate", format!("type check ('number') failed - got '{r}'"), usage));
        }
    }
    if let Some(r) = params.get("remove_job") {
        if r != "local" && r != "full" {
            return Err(param_err("remove_job", format!("value '{r}' does not have a value in the enumeration 'local, full'"), usage));
        }
    }
    Ok(())
}

fn set_opt(e: &mut Entry, k: &str, v: &str) {
    if k == "disable" {
        if cli::truthy(v) {
            e.set("disable", "1");
        } else {
            e.remove("disable");
        }
    } else {
        e.set(k, v);
    }
}

/// POST /cluster/replication (`pvesr create-local-job`), checks in PVE's order (pve-cli.md §5.1).
pub fn create(id: &str, target: &str, params: &BTreeMap<String, String>, usage: &str) -> Result<()> {
    let Some((guest, _)) = repl::parse_id(id) else {
        return Err(param_err("id", format!("invalid format - replication job id '{id}' does not match pattern"), usage));
    };
    check_opts(params, usage)?;
    pmxcfs::require_quorum()?;
    let _lock = pmxcfs::cfs_lock("file-replication_cfg")?;
    let mut cfg = repl::load()?;
    if cfg.get(id).is_some() {
        return Err(die(format!("replication job '{id}' already exists")));
    }
    let Some((guest_node, _)) = crate::model::guests::load(guest) else {
        return Err(die(format!("Guest '{guest}' does not exist.")));
    };
    if !pmxcfs::cluster_node_names().iter().any(|n| n == target) {
        return Err(die(format!("Target '{target}' does not exist.")));
    }
    if guest_node == target {
        return Err(die("Source and target must not be identical"));
    }
    repl::replicatable_volumes(guest)?;
    if cfg.of_type("local").any(|e| repl::parse_id(&e.id).map(|(g, _)| g) == Some(guest) && e.get("target") == Some(target)) {
        return Err(die(format!("replication job for guest '{guest}' to target 'local/{target}' already exists")));
    }
    let mut e = Entry::new("local", id);
    e.set("target", target);
    for (k, v) in params {
        set_opt(&mut e, k, v);
    }
    cfg.sections.push(e);
    repl::save(&cfg)
}

/// PUT /cluster/replication/<id> (`pvesr update`).
pub fn update(id: &str, params: &BTreeMap<String, String>, usage: &str) -> Result<()> {
    check_opts(params, usage)?;
    pmxcfs::require_quorum()?;
    let _lock = pmxcfs::cfs_lock("file-replication_cfg")?;
    let mut cfg = repl::load()?;
    let Some(e) = cfg.get_mut(id) else { return Err(die(format!("no such job '{id}'"))) };
    if let Some(del) = params.get("delete") {
        for k in del.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            if k == "target" {
                return Err(die(format!("unable to delete required option '{k}'")));
            }
            if !OPT_KEYS.contains(&k) {
                return Err(die(format!("no such option '{k}'")));
            }
            e.remove(k);
        }
    }
    for (k, v) in params {
        if k != "delete" && k != "digest" {
            set_opt(e, k, v);
        }
    }
    repl::save(&cfg)
}

/// DELETE /cluster/replication/<id> (`pvesr delete`, pve-cli.md §5.1).
pub fn delete(id: &str, keep: bool, force: bool, usage: &str) -> Result<()> {
    if keep && force {
        return Err(param_err("keep", "conflicts with parameter 'force'", usage));
    }
    pmxcfs::require_quorum()?;
    let _lock = pmxcfs::cfs_lock("file-replication_cfg")?;
    let mut cfg = repl::load()?;
    if cfg.get(id).is_none() {
        return Err(die(format!("no such job '{id}'")));
    }
    if force {
        cfg.remove(id);
    } else {
        // The scheduler (`pvesr run` here) cleans up and drops the entry later.
        let e = cfg.get_mut(id).expect("exists");
        e.set("remove_job", if keep { "local" } else { "full" });
        eprintln!("Replication job removal is a background task and will take some time.");
    }
    repl::save(&cfg)
}

fn target_ip(node: &str) -> Option<String> {
    let conf = pmxcfs::read_corosync_conf().ok()??;
    conf.node(node).ok()??.addrs.get(&0).cloned()
}

/// Replicate one job now. Returns Err(message) on failure (recorded by the caller).
fn replicate(e: &Entry, now: i64, verbose: bool) -> Result<Vec<String>, String> {
    let (guest, _) = repl::parse_id(&e.id).ok_or("invalid job id")?;
    let target = e.get("target").unwrap_or("");
    let vols = repl::replicatable_volumes(guest).map_err(|x| x.to_string())?;
    let ip = target_ip(target).ok_or_else(|| format!("unable to find IP of target node '{target}'"))?;
    let ssh_args = nodefiles::cluster_ssh_args(target, &ip);
    let snap = format!("__replicate_{}_{}__", e.id, now);
    let log = |m: &str| {
        if verbose {
            println!("{} {}: {m}", sys::fmt_pvesr_time(sys::now()).replace('_', " "), e.id);
        }
    };
    log("start replication job");
    log(&format!("guest => VM {guest}, running => 0"));
    log(&format!("volumes => {}", vols.iter().map(|v| v.2.as_str()).collect::<Vec<_>>().join(",")));
    let mut zfs = ZfsState::load().map_err(|x| x.to_string())?;
    let mut stores = Vec::new();
    for (sid, ds, volid) in &vols {
        log(&format!("create snapshot '{snap}' on {volid}"));
        let full = format!("{ds}@{snap}");
        zfs.snapshot(&full).map_err(|m| format!("command 'zfs snapshot {full}' failed: {m}"))?;
        let volsize = zfs.get(ds, "volsize", true).and_then(|(v, _)| v.parse::<u64>().ok());
        let stream = serde_json::json!({"pve-sim-zfs-stream": 1, "volsize": volsize, "snapshot": snap}).to_string();
        log(&format!("using secure transmission, rate limit: {}", e.get("rate").map(|r| format!("{r} MByte/s")).unwrap_or_else(|| "none".into())));
        log(&format!("full sync '{volid}' ({snap})"));
        let mut args: Vec<String> = ssh_args.clone();
        args.extend(["--".into(), "zfs".into(), "recv".into(), "-F".into(), "--".into(), ds.clone()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = sys::run_input("/usr/bin/ssh", &argv, stream.as_bytes()).map_err(|x| x.to_string())?;
        if !out.status.success() {
            let _ = zfs.destroy(&full, false);
            let _ = zfs.save();
            let stderr = String::from_utf8_lossy(&out.stderr);
            for l in stderr.lines() {
                log(l);
            }
            return Err(format!(
                "command '/usr/bin/ssh {} -- pvesm import {volid} zfs - -with-snapshots 1 -snapshot {snap}' failed: exit code {}",
                ssh_args.join(" "),
                out.status.code().unwrap_or(255)
            ));
        }
        // Keep only the newest replication snapshot of this job.
        let prefix = format!("{ds}@__replicate_{}_", e.id);
        let old: Vec<String> = zfs.datasets.keys().filter(|n| n.starts_with(&prefix) && **n != full).cloned().collect();
        for o in old {
            log(&format!("delete previous replication snapshot '{}' on {volid}", o.split('@').nth(1).unwrap_or("")));
            let _ = zfs.destroy(&o, false);
        }
        stores.push(sid.clone());
    }
    zfs.save().map_err(|x| x.to_string())?;
    log("end replication job");
    stores.sort();
    stores.dedup();
    Ok(stores)
}

/// Run due jobs of guests on this node (or one job). Returns the failures.
pub fn run_jobs(only: Option<&str>, verbose: bool) -> Result<Vec<String>> {
    // One replication run at a time per node (PVE: /var/lock/pvesr.lck).
    let _lock = sys::lock(&sys::p("/var/lock/pvesr.lck"), std::time::Duration::from_secs(60))
        .map_err(|_| die("unable to get replication lock - another replication run is active"))?;
    let node = sys::hostname();
    let mut cfg = repl::load()?;
    let mut state = repl::load_state();
    let now = sys::now();
    let mut failures = Vec::new();
    let mut cfg_changed = false;
    let ids: Vec<String> = cfg.of_type("local").map(|e| e.id.clone()).collect();
    for id in ids {
        if only.is_some_and(|o| o != id) {
            continue;
        }
        let e = cfg.get(&id).expect("listed").clone();
        let Some((guest, _)) = repl::parse_id(&id) else { continue };
        let Some((gnode, _)) = crate::model::guests::load(guest) else { continue };
        if gnode != node {
            continue;
        }
        if let Some(mode) = e.get("remove_job") {
            // Background removal: drop the entry (volumes on the target are left, simplification).
            let _ = mode;
            cfg.remove(&id);
            if let Some(m) = state.get_mut(&guest.to_string()) {
                m.remove(&id);
            }
            cfg_changed = true;
            continue;
        }
        let mut st = repl::job_state(&state, &e);
        if e.flag("disable") && only.is_none() {
            continue;
        }
        if only.is_none() && repl::next_sync(&e, &st) > now {
            continue;
        }
        let t0 = Instant::now();
        st.last_try = now;
        st.last_iteration = now;
        st.next_sync_override = None;
        match replicate(&e, now, verbose) {
            Ok(stores) => {
                st.last_sync = now;
                st.duration = (t0.elapsed().as_secs_f64() * 1e6).round() / 1e6;
                st.fail_count = 0;
                st.error = None;
                st.last_node = Some(node.clone());
                st.storeid_list = stores;
                if e.get("source").is_none() {
                    if let Some(x) = cfg.get_mut(&id) {
                        x.set("source", &node);
                        cfg_changed = true;
                    }
                }
            }
            Err(msg) => {
                st.fail_count += 1;
                st.error = Some(msg.clone());
                failures.push(format!("{id}: {msg}"));
            }
        }
        state.entry(guest.to_string()).or_default().insert(id.clone(), st);
    }
    repl::save_state(&state)?;
    if cfg_changed && pmxcfs::quorate() {
        let _lock = pmxcfs::cfs_lock("file-replication_cfg")?;
        repl::save(&cfg)?;
    }
    Ok(failures)
}

fn opts_of(a: &cli::Args) -> BTreeMap<String, String> {
    a.opts.clone()
}

const JOB_SPEC: cli::Spec = &[
    ("schedule", Kind::Str), ("rate", Kind::Str), ("comment", Kind::Str), ("disable", Kind::Bool), ("source", Kind::Str),
    ("remove_job", Kind::Str),
];

pub fn main(args: &[String]) -> Result<i32> {
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("ERROR: no command specified");
        return Ok(255);
    };
    pmxcfs::require_mounted()?;
    match cmd.as_str() {
        "create-local-job" => {
            let usage = "USAGE: pvesr create-local-job <id> <target> [OPTIONS]\n";
            let a = cli::parse(rest, JOB_SPEC, Some(2), usage)?;
            create(&a.pos[0], &a.pos[1], &opts_of(&a), usage)?;
            Ok(0)
        }
        "update" => {
            let usage = "USAGE: pvesr update <id> [OPTIONS]\n";
            let mut spec = JOB_SPEC.to_vec();
            spec.extend([("delete", Kind::Str), ("digest", Kind::Str)]);
            let a = cli::parse(rest, &spec, Some(1), usage)?;
            update(&a.pos[0], &opts_of(&a), usage)?;
            Ok(0)
        }
        "enable" | "disable" => {
            let usage = format!("USAGE: pvesr {cmd} <id>\n");
            let a = cli::parse(rest, &[], Some(1), &usage)?;
            let mut p = BTreeMap::new();
            p.insert("disable".to_string(), if cmd == "disable" { "1" } else { "0" }.to_string());
            update(&a.pos[0], &p, &usage)?;
            Ok(0)
        }
        "delete" => {
            let usage = "USAGE: pvesr delete <id> [OPTIONS]\n";
            let a = cli::parse(rest, &[("keep", Kind::Bool), ("force", Kind::Bool)], Some(1), usage)?;
            delete(&a.pos[0], a.flag("keep"), a.flag("force"), usage)?;
            Ok(0)
        }
        "list" => {
            cli::parse(rest, &[], Some(0), "USAGE: pvesr list\n")?;
            let cfg = repl::load()?;
            let rows: Vec<render::ReplListRow> = cfg
                .of_type("local")
                .map(|e| render::ReplListRow {
                    id: e.id.clone(),
                    guest: repl::parse_id(&e.id).map(|(g, _)| g).unwrap_or(0),
                    target: e.get("target").unwrap_or("").to_string(),
                    schedule: e.get("schedule").map(str::to_string),
                    rate: e.get("rate").map(str::to_string),
                    enabled: !e.flag("disable"),
                })
                .collect();
            print!("{}", render::pvesr_list(&rows));
            Ok(0)
        }
        "status" => {
            let a = cli::parse(rest, &[("guest", Kind::Int)], Some(0), "USAGE: pvesr status [OPTIONS]\n")?;
            let cfg = repl::load()?;
            let state = repl::load_state();
            let node = sys::hostname();
            let mut rows = Vec::new();
            for e in cfg.of_type("local") {
                let Some((g, _)) = repl::parse_id(&e.id) else { continue };
                if a.get("guest").is_some_and(|x| x != g.to_string()) {
                    continue;
                }
                if crate::model::guests::load(g).map(|(n, _)| n) != Some(node.clone()) {
                    continue;
                }
                let st = repl::job_state(&state, e);
                rows.push(render::ReplStatusRow {
                    id: e.id.clone(),
                    guest: g,
                    enabled: !e.flag("disable"),
                    target: e.get("target").unwrap_or("").to_string(),
                    last_sync: Some(st.last_sync),
                    next_sync: Some(repl::next_sync(e, &st)),
                    duration: Some(st.duration),
                    fail_count: st.fail_count,
                    syncing: false,
                    error: st.error.clone(),
                });
            }
            print!("{}", render::pvesr_status(&rows, sys::now()));
            Ok(0)
        }
        "read" => {
            let a = cli::parse(rest, &[], Some(1), "USAGE: pvesr read <id>\n")?;
            let cfg = repl::load()?;
            let Some(e) = cfg.get(&a.pos[0]) else { return Err(die(format!("no such replication job '{}'", a.pos[0]))) };
            println!("{}", json::pretty(&repl::config_json(e)));
            Ok(0)
        }
        "schedule-now" => {
            let a = cli::parse(rest, &[], Some(1), "USAGE: pvesr schedule-now <id>\n")?;
            let cfg = repl::load()?;
            let Some(e) = cfg.get(&a.pos[0]) else { return Err(die(format!("no such job '{}'", a.pos[0]))) };
            let mut state = repl::load_state();
            let mut st = repl::job_state(&state, e);
            st.next_sync_override = Some(sys::now());
            let g = repl::parse_id(&e.id).map(|(g, _)| g.to_string()).unwrap_or_default();
            state.entry(g).or_default().insert(e.id.clone(), st);
            repl::save_state(&state)?;
            Ok(0)
        }
        "run" => {
            let a = cli::parse(rest, &[("id", Kind::Str), ("verbose", Kind::Bool), ("mail", Kind::Bool)], Some(0), "USAGE: pvesr run [OPTIONS]\n")?;
            if a.has("id") && a.flag("mail") {
                return Err(die("Mail and id are mutually exclusive!"));
            }
            let failures = run_jobs(a.get("id"), a.flag("verbose"))?;
            if failures.is_empty() {
                Ok(0)
            } else {
                Err(die(failures.join("\n")))
            }
        }
        other => Err(die(format!("unknown command 'pvesr {other}'"))),
    }
}
