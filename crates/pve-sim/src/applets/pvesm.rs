//! `pvesm` (pve-storage src/PVE/CLI/pvesm.pm; pve-cli.md §4): status, add, set, remove, scan nfs.
//! The create/update/delete logic is shared with `pvesh` (`/storage`).

use std::collections::BTreeMap;

use anyhow::Result;
use pve_formats::section_config::Entry;

use crate::cli::{self, die, param_err, Kind};
use crate::model::storage::{self, NfsError};
use crate::model::zfs::ZfsState;
use crate::{pmxcfs, render, sys};

const TYPES: &[&str] = &[
    "btrfs", "cephfs", "cifs", "dir", "esxi", "iscsi", "iscsidirect", "lvm", "lvmthin", "nfs", "pbs", "rbd", "zfs", "zfspool",
];

/// Options a type accepts on create, and which of them are fixed (create-only).
fn options(kind: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        "nfs" => (
            &[
                "server", "export", "path", "content", "content-dirs", "options", "nodes", "disable", "prune-backups",
                "max-protected-backups", "format", "mkdir", "create-base-path", "create-subdirs", "bwlimit",
                "preallocation", "snapshot-as-volume-chain", "comment",
            ],
            &["server", "export", "path", "snapshot-as-volume-chain"],
        ),
        "dir" => (
            &[
                "path", "content", "content-dirs", "nodes", "disable", "shared", "prune-backups", "max-protected-backups",
                "format", "mkdir", "create-base-path", "create-subdirs", "is_mountpoint", "bwlimit", "preallocation", "comment",
            ],
            &["path"],
        ),
        "zfspool" => (&["pool", "blocksize", "sparse", "content", "nodes", "disable", "mountpoint", "bwlimit", "comment"], &["pool"]),
        _ => (&[], &[]),
    }
}

fn required(kind: &str) -> &'static [&'static str] {
    match kind {
        "nfs" => &["server", "export"],
        "dir" => &["path"],
        "zfspool" => &["pool"],
        _ => &[],
    }
}

fn normalise_value(k: &str, v: &str) -> String {
    match k {
        "disable" | "sparse" | "shared" | "mkdir" | "create-base-path" | "create-subdirs" | "is_mountpoint" => {
            if cli::truthy(v) { "1".into() } else { "0".into() }
        }
        "prune-backups" => pve_formats::property_string::normalise(v, None).unwrap_or_else(|_| v.to_string()),
        _ => v.to_string(),
    }
}

/// POST /storage (`pvesm add`). Silent on success (pve-cli.md §4.2).
pub fn create(kind: &str, id: &str, params: &BTreeMap<String, String>) -> Result<()> {
    let usage = "USAGE: pvesm add <type> <storage> [OPTIONS]\n";
    if !TYPES.contains(&kind) {
        return Err(param_err(
            "type",
            format!("value '{kind}' does not have a value in the enumeration '{}'", TYPES.join(", ")),
            usage,
        ));
    }
    let (allowed, _) = options(kind);
    if allowed.is_empty() {
        return Err(die(format!("create storage failed: storage type '{kind}' is not supported by the lab simulator")));
    }
    for k in params.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(param_err(k, "property is not defined in schema and the schema does not allow additional properties", usage));
        }
    }
    if id.is_empty() || !id.starts_with(|c: char| c.is_ascii_alphabetic()) || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(param_err("storage", format!("invalid format - storage ID '{id}' contains illegal characters\n"), usage));
    }
    for r in required(kind) {
        if !params.contains_key(*r) {
            return Err(die(format!("create storage failed: missing value for required option '{r}'")));
        }
    }
    pmxcfs::require_quorum()?;
    let _lock = pmxcfs::cfs_lock("file-storage_cfg")?;
    let (mut cfg, _) = storage::load()?;
    if cfg.get(id).is_some() {
        return Err(die(format!("create storage failed: storage ID '{id}' already defined")));
    }
    let mut e = Entry::new(kind, id);
    for (k, v) in params {
        if k == "content" {
            let ok = storage::supported_content(kind);
            let mut kept = Vec::new();
            for c in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                if ok.contains(&c) {
                    kept.push(c);
                } else {
                    eprintln!("storage does not support content type '{c}'");
                }
            }
            e.set("content", kept.join(","));
        } else {
            e.set(k, normalise_value(k, v));
        }
    }
    if kind == "nfs" && e.get("path").is_none() {
        e.set("path", format!("/mnt/pve/{id}"));
    }
    // Activate right away when enabled for this node; on failure nothing is written (§4.2).
    if kind == "nfs" && storage::enabled_on(&e, &sys::hostname()) {
        match storage::activate_nfs(&e) {
            Ok(()) => {}
            Err(NfsError::Unreachable) => return Err(die(format!("create storage failed: storage '{id}' is not online"))),
            Err(NfsError::NotExported) => {
                return Err(die(format!(
                    "create storage failed: mount error: mount.nfs: access denied by server while mounting {}:{}",
                    e.get("server").unwrap_or(""),
                    e.get("export").unwrap_or("")
                )))
            }
        }
    }
    if kind == "dir" {
        let _ = std::fs::create_dir_all(sys::p(e.get("path").unwrap_or("")));
    }
    cfg.sections.push(e);
    storage::save(&cfg)
}

/// PUT /storage/<id> (`pvesm set`, pve-cli.md §4.3). Fixed options are rejected by the caller's
/// option parser (`Unknown option`); `delete` is a comma list.
pub fn update(id: &str, params: &BTreeMap<String, String>, usage: &str) -> Result<()> {
    pmxcfs::require_quorum()?;
    let _lock = pmxcfs::cfs_lock("file-storage_cfg")?;
    let (mut cfg, raw) = storage::load()?;
    let Some(e) = cfg.get_mut(id) else {
        return Err(die(format!("update storage failed: storage '{id}' does not exist")));
    };
    if let Some(d) = params.get("digest") {
        if *d != sys::sha1_hex(raw.as_bytes()) {
            return Err(die("update storage failed: detected modified configuration - file changed by other user? Try again."));
        }
    }
    let kind = e.section_type.clone();
    let (allowed, fixed) = options(&kind);
    for (k, v) in params {
        if matches!(k.as_str(), "delete" | "digest") {
            continue;
        }
        if fixed.contains(&k.as_str()) || !allowed.contains(&k.as_str()) {
            return Err(cli::Fail::Exit {
                code: 255,
                stderr: format!("Unknown option: {k}\n400 unable to parse option\n{usage}"),
            }
            .into());
        }
        let _ = v;
    }
    if let Some(del) = params.get("delete") {
        for k in del.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            if params.contains_key(k) {
                return Err(die(format!("update storage failed: cannot set and delete property '{k}' at the same time!")));
            }
            if fixed.contains(&k) {
                return Err(die(format!("update storage failed: unable to delete fixed option '{k}'")));
            }
            if required(&kind).contains(&k) {
                return Err(die(format!("update storage failed: unable to delete required option '{k}'")));
            }
            if !allowed.contains(&k) {
                return Err(die(format!("update storage failed: no such option '{k}'")));
            }
            e.remove(k);
        }
    }
    for (k, v) in params {
        if matches!(k.as_str(), "delete" | "digest") {
            continue;
        }
        e.set(k, normalise_value(k, v));
    }
    storage::save(&cfg)
}

/// DELETE /storage/<id> (`pvesm remove`).
pub fn remove(id: &str) -> Result<()> {
    pmxcfs::require_quorum()?;
    let _lock = pmxcfs::cfs_lock("file-storage_cfg")?;
    let (mut cfg, _) = storage::load()?;
    let Some(e) = cfg.remove(id) else {
        return Err(die(format!("delete storage failed: storage '{id}' does not exist")));
    };
    if e.section_type == "nfs" {
        let p = sys::p(e.get("path").unwrap_or(""));
        if p.is_symlink() {
            let _ = std::fs::remove_file(p);
        }
    }
    storage::save(&cfg)
}

/// Rows for `pvesm status` / `/nodes/<n>/storage` on this node.
pub fn status_rows(filter: Option<&str>, warn: bool) -> Result<Vec<(Entry, render::StorageStatus)>> {
    let (cfg, _) = storage::load()?;
    let node = sys::hostname();
    let zfs = ZfsState::load()?;
    let mut out = Vec::new();
    if let Some(f) = filter {
        if cfg.get(f).is_none() {
            return Err(die(format!("storage '{f}' does not exist")));
        }
    }
    for e in &cfg.sections {
        if filter.is_some_and(|f| f != e.id) || !storage::node_listed(e, &node) {
            continue;
        }
        let st = storage::status(e, &node, &zfs, warn);
        out.push((e.clone(), st));
    }
    Ok(out)
}

fn collect_opts(a: &cli::Args, skip: &[&str]) -> BTreeMap<String, String> {
    a.opts.iter().filter(|(k, _)| !skip.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
}

const ADD_SPEC: cli::Spec = &[
    ("server", Kind::Str), ("export", Kind::Str), ("path", Kind::Str), ("content", Kind::Str), ("content-dirs", Kind::Str),
    ("options", Kind::Str), ("nodes", Kind::Str), ("disable", Kind::Bool), ("prune-backups", Kind::Str),
    ("max-protected-backups", Kind::Int), ("format", Kind::Str), ("mkdir", Kind::Bool), ("create-base-path", Kind::Bool),
    ("create-subdirs", Kind::Bool), ("bwlimit", Kind::Str), ("preallocation", Kind::Str), ("snapshot-as-volume-chain", Kind::Bool),
    ("pool", Kind::Str), ("blocksize", Kind::Str), ("sparse", Kind::Bool), ("mountpoint", Kind::Str), ("shared", Kind::Bool),
    ("is_mountpoint", Kind::Str), ("comment", Kind::Str),
];

const SET_SPEC: cli::Spec = &[
    ("content", Kind::Str), ("content-dirs", Kind::Str), ("options", Kind::Str), ("nodes", Kind::Str), ("disable", Kind::Bool),
    ("prune-backups", Kind::Str), ("max-protected-backups", Kind::Int), ("format", Kind::Str), ("mkdir", Kind::Bool),
    ("create-base-path", Kind::Bool), ("create-subdirs", Kind::Bool), ("bwlimit", Kind::Str), ("preallocation", Kind::Str),
    ("blocksize", Kind::Str), ("sparse", Kind::Bool), ("mountpoint", Kind::Str), ("shared", Kind::Bool), ("comment", Kind::Str),
    ("delete", Kind::Str), ("digest", Kind::Str),
];

pub fn main(args: &[String]) -> Result<i32> {
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("ERROR: no command specified");
        return Ok(255);
    };
    pmxcfs::require_mounted()?;
    match cmd.as_str() {
        "status" => {
            let usage = "USAGE: pvesm status [OPTIONS]\n";
            let a = cli::parse(rest, &[("storage", Kind::Str), ("content", Kind::Str), ("enabled", Kind::Bool), ("target", Kind::Str), ("format", Kind::Bool)], Some(0), usage)?;
            let mut rows: Vec<render::StorageStatus> = status_rows(a.get("storage"), true)?.into_iter().map(|(_, s)| s).collect();
            if a.flag("enabled") {
                rows.retain(|r| r.enabled);
            }
            if let Some(c) = a.get("content") {
                let (cfg, _) = storage::load()?;
                rows.retain(|r| {
                    cfg.get(&r.storage).and_then(|e| e.get("content")).is_some_and(|have| c.split(',').any(|x| have.split(',').any(|h| h == x)))
                });
            }
            print!("{}", render::pvesm_status(&rows));
            Ok(0)
        }
        "add" | "create" => {
            let usage = "USAGE: pvesm add <type> <storage> [OPTIONS]\n";
            let a = cli::parse(rest, ADD_SPEC, Some(2), usage)?;
            create(&a.pos[0], &a.pos[1], &collect_opts(&a, &[]))?;
            Ok(0)
        }
        "set" => {
            let usage = "USAGE: pvesm set <storage> [OPTIONS]\n";
            let a = cli::parse(rest, SET_SPEC, Some(1), usage)?;
            update(&a.pos[0], &collect_opts(&a, &[]), usage)?;
            Ok(0)
        }
        "remove" => {
            let a = cli::parse(rest, &[], Some(1), "USAGE: pvesm remove <storage>\n")?;
            remove(&a.pos[0])?;
            Ok(0)
        }
        "scan" => {
            let Some((kind, rest)) = rest.split_first() else {
                return Err(die("400 not enough arguments\nUSAGE: pvesm scan <type> ..."));
            };
            if kind != "nfs" {
                return Err(die(format!("pvesm scan {kind}: not supported by the lab simulator")));
            }
            let a = cli::parse(rest, &[], Some(1), "USAGE: pvesm scan nfs <server>\n")?;
            let server = &a.pos[0];
            match storage::query_exports(server) {
                Ok(list) => {
                    let w = list.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
                    for (p, c) in list {
                        println!("{p:<w$} {c}");
                    }
                    Ok(0)
                }
                Err(_) => Err(die(format!(
                    "rpc mount export: RPC: Unable to receive; errno = Connection refused\ncommand '/sbin/showmount --no-headers --exports {server}' failed: exit code 1"
                ))),
            }
        }
        "list" => {
            let a = cli::parse(rest, &[("content", Kind::Str), ("vmid", Kind::Int)], Some(1), "USAGE: pvesm list <storage> [OPTIONS]\n")?;
            let id = &a.pos[0];
            let (cfg, _) = storage::load()?;
            let Some(e) = cfg.get(id) else { return Err(die(format!("storage '{id}' does not exist"))) };
            println!("Volid Format  Type             Size VMID");
            if e.section_type == "zfspool" {
                let zfs = ZfsState::load()?;
                let pool = e.get("pool").unwrap_or("rpool/data");
                for (n, d) in &zfs.datasets {
                    if let Some(vol) = n.strip_prefix(&format!("{pool}/")) {
                        if d.kind != "volume" || vol.contains('@') {
                            continue;
                        }
                        let vmid = vol.split('-').nth(1).unwrap_or("");
                        let size = zfs.get(n, "volsize", true).map(|(v, _)| v).unwrap_or_default();
                        println!("{id}:{vol} raw    images {size:>15} {vmid}");
                    }
                }
            }
            Ok(0)
        }
        other => Err(die(format!("unknown command 'pvesm {other}'"))),
    }
}
