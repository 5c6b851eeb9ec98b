//! `/etc/pve/storage.cfg` (pve-cli.md §4) and the simulated NFS side.
//!
//! NFS is simulated: the NAS answers on TCP 2049 with its export list (lab-daemons on the nas),
//! and "mounting" makes `/mnt/pve/<id>` a symlink to the export's directory on the backplane
//! (`<backplane>/nfs/<export path>`), shared by all pve hosts and the nas.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use pve_formats::section_config::{Entry, SectionConfig, STORAGE_CFG};
use serde_json::{json, Map, Value};

use crate::model::zfs::ZfsState;
use crate::pmxcfs;
use crate::render::StorageStatus;
use crate::sys;

pub fn cfg_path() -> PathBuf {
    pmxcfs::pve_path("storage.cfg")
}

/// Parsed storage.cfg plus its raw text (for the digest). `local` is synthesised when missing
/// (pve-cli.md §4.2, Plugin.pm `parse_config`).
pub fn load() -> Result<(SectionConfig, String)> {
    let raw = sys::read_opt(&cfg_path()).unwrap_or_default();
    let mut cfg = SectionConfig::parse(&raw, &STORAGE_CFG)?;
    if cfg.get("local").is_none() {
        let mut e = Entry::new("dir", "local");
        e.set("path", "/var/lib/vz");
        e.set("content", "backup,iso,vztmpl");
        cfg.sections.insert(0, e);
    }
    Ok((cfg, raw))
}

pub fn save(cfg: &SectionConfig) -> Result<()> {
    sys::write_str(&cfg_path(), &cfg.write(&STORAGE_CFG), 0o640)
}

/// Content types each plugin supports (pve-cli.md §4.2 for nfs).
pub fn supported_content(kind: &str) -> &'static [&'static str] {
    match kind {
        "nfs" | "dir" | "cifs" => &["images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"],
        "zfspool" | "lvmthin" | "lvm" => &["images", "rootdir"],
        "pbs" => &["backup"],
        _ => &["images"],
    }
}

/// Keys rendered as JSON numbers (SectionConfig `check_value` does `$value + 0`, pve-cli.md §1.3).
const NUMERIC: &[&str] = &["disable", "sparse", "shared", "mkdir", "create-base-path", "create-subdirs", "max-protected-backups", "is_mountpoint"];

pub fn entry_json(e: &Entry, digest: &str) -> Value {
    let mut m = Map::new();
    for (k, v) in &e.props {
        let val = if NUMERIC.contains(&k.as_str()) {
            v.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(v.clone()))
        } else {
            Value::from(v.clone())
        };
        m.insert(k.clone(), val);
    }
    if e.section_type == "nfs" || e.section_type == "cifs" || e.section_type == "pbs" {
        m.insert("shared".into(), json!(1));
    }
    m.insert("storage".into(), json!(e.id));
    m.insert("type".into(), json!(e.section_type));
    m.insert("digest".into(), json!(digest));
    Value::Object(m)
}

/// Is the storage enabled for `node` (not disabled, `nodes` unset or listing it)?
pub fn enabled_on(e: &Entry, node: &str) -> bool {
    !e.flag("disable") && node_listed(e, node)
}

pub fn node_listed(e: &Entry, node: &str) -> bool {
    e.get("nodes").map(|n| n.split(',').any(|x| x.trim() == node)).unwrap_or(true)
}

/// Export directory of `export` on the backplane.
pub fn export_dir(export: &str) -> PathBuf {
    pmxcfs::backplane().join("nfs").join(export.trim_start_matches('/'))
}

/// Why an NFS server check failed.
#[derive(Debug, PartialEq, Eq)]
pub enum NfsError {
    Unreachable,
    NotExported,
}

/// Ask the (simulated) NFS server for its exports: connect to TCP 2049, read `<path> <clients>` lines.
pub fn query_exports(server: &str) -> Result<Vec<(String, String)>, NfsError> {
    if !sys::is_real_root() {
        // Test roots: the exports file of the backplane stands in for the NAS.
        let list = sys::read_opt(&pmxcfs::backplane().join("nas-exports")).ok_or(NfsError::Unreachable)?;
        return Ok(parse_exports(&list));
    }
    let Some(mut s) = sys::tcp_probe(server, 2049, Duration::from_millis(800)) else {
        return Err(NfsError::Unreachable);
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = String::new();
    if s.read_to_string(&mut buf).is_err() {
        return Err(NfsError::Unreachable);
    }
    Ok(parse_exports(&buf))
}

pub fn parse_exports(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut it = l.split_whitespace();
            let p = it.next().unwrap_or("").to_string();
            let c = it.next().unwrap_or("*").split('(').next().unwrap_or("*").to_string();
            (p, c)
        })
        .collect()
}

/// Activate (mount) an NFS storage: server reachable and export listed, then the mount link.
pub fn activate_nfs(e: &Entry) -> Result<(), NfsError> {
    let server = e.get("server").unwrap_or("");
    let export = e.get("export").unwrap_or("");
    let exports = query_exports(server)?;
    if !exports.iter().any(|(p, _)| p == export) {
        return Err(NfsError::NotExported);
    }
    let path = sys::p(e.get("path").unwrap_or(""));
    let target = export_dir(export);
    let ok = std::fs::read_link(&path).map(|t| t == target).unwrap_or(false);
    if !ok {
        let _ = std::fs::create_dir_all(&target);
        if path.is_dir() && !path.is_symlink() {
            let _ = std::fs::remove_dir(&path);
        }
        if sys::symlink_replace(&target, &path).is_err() {
            return Err(NfsError::Unreachable);
        }
    }
    Ok(())
}

/// Status of one storage on this node (pve-cli.md §4.1 semantics). Prints PVE's warning for an
/// unreachable NFS storage to stderr when `warn` is set.
pub fn status(e: &Entry, node: &str, zfs: &ZfsState, warn: bool) -> StorageStatus {
    let enabled = enabled_on(e, node);
    let mut st = StorageStatus {
        storage: e.id.clone(),
        storage_type: e.section_type.clone(),
        enabled,
        active: false,
        total: 0,
        used: 0,
        avail: 0,
    };
    if !enabled {
        return st;
    }
    match e.section_type.as_str() {
        "dir" => {
            let path = sys::p(e.get("path").unwrap_or("/var/lib/vz"));
            if let Some((t, u, a)) = sys::fs_usage(&path) {
                (st.active, st.total, st.used, st.avail) = (true, t, u, a);
            }
        }
        "zfspool" => {
            let pool = e.get("pool").unwrap_or("rpool/data");
            if zfs.exists(pool) {
                let used = zfs.used(pool);
                let avail = zfs.available(pool);
                (st.active, st.total, st.used, st.avail) = (true, used + avail, used, avail);
            }
        }
        "nfs" => match activate_nfs(e) {
            Ok(()) => {
                let dir = export_dir(e.get("export").unwrap_or(""));
                if let Some((t, u, a)) = sys::fs_usage(&dir) {
                    (st.active, st.total, st.used, st.avail) = (true, t, u, a);
                }
            }
            Err(_) => {
                if warn {
                    eprintln!("storage '{}' is not online", e.id);
                }
            }
        },
        _ => {}
    }
    st
}
