//! Backup jobs: `vzdump` sections of `/etc/pve/jobs.cfg` via `/cluster/backup` (pve-cli.md §6).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use pve_formats::section_config::{Entry, SectionConfig, JOBS_CFG};
use serde_json::{json, Map, Value};

use crate::calendar::Event;
use crate::cli::{die, param_err};
use crate::{pmxcfs, sys};

pub const USAGE_CREATE: &str = "USAGE: pvesh create /cluster/backup [OPTIONS] [FORMAT_OPTIONS]\n";

pub fn cfg_path() -> PathBuf {
    pmxcfs::pve_path("jobs.cfg")
}

fn state_file(id: &str) -> PathBuf {
    sys::p(&format!("/var/lib/pve-manager/jobs/vzdump-{id}.json"))
}

pub fn load() -> Result<SectionConfig> {
    SectionConfig::parse(&sys::read_opt(&cfg_path()).unwrap_or_default(), &JOBS_CFG)
}

fn save(cfg: &SectionConfig) -> Result<()> {
    sys::write_str(&cfg_path(), &cfg.write(&JOBS_CFG), 0o640)
}

/// Options of a vzdump job (PVE::VZDump::Common + JobBase), with "numeric" ones rendered as numbers.
const STRING_OPTS: &[&str] = &[
    "schedule", "starttime", "dow", "vmid", "pool", "exclude", "storage", "mode", "compress", "prune-backups",
    "notification-mode", "notification-policy", "notification-target", "mailnotification", "mailto", "node", "comment",
    "notes-template", "fleecing", "performance", "tmpdir", "dumpdir", "script", "exclude-path", "pbs-change-detection-mode",
];
const NUMERIC_OPTS: &[&str] = &[
    "all", "enabled", "repeat-missed", "bwlimit", "ionice", "lockwait", "maxfiles", "stopwait", "zstd", "pigz", "protected",
    "remove", "stdexcludes", "quiet", "stop",
];
const PROPERTY_STRINGS: &[&str] = &["prune-backups", "fleecing", "performance"];

fn known(k: &str) -> bool {
    STRING_OPTS.contains(&k) || NUMERIC_OPTS.contains(&k)
}

fn normalise(k: &str, v: &str) -> String {
    if PROPERTY_STRINGS.contains(&k) {
        pve_formats::property_string::normalise(v, if k == "fleecing" { Some("enabled") } else { None }).unwrap_or_else(|_| v.to_string())
    } else if NUMERIC_OPTS.contains(&k) && matches!(k, "all" | "enabled" | "repeat-missed" | "protected" | "remove" | "stdexcludes" | "quiet" | "stop") {
        if crate::cli::truthy(v) { "1".into() } else { "0".into() }
    } else {
        v.to_string()
    }
}

/// JSON of one job; `next-run` only in the list call (pve-cli.md §6.3).
pub fn entry_json(e: &Entry, with_next_run: bool) -> Value {
    let mut m = Map::new();
    for (k, v) in &e.props {
        let val = if NUMERIC_OPTS.contains(&k.as_str()) {
            v.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(v))
        } else if PROPERTY_STRINGS.contains(&k.as_str()) {
            let mut o = Map::new();
            for (pk, pv) in pve_formats::property_string::parse(v, None).unwrap_or_default() {
                o.insert(pk, json!(pv));
            }
            Value::Object(o)
        } else {
            json!(v)
        };
        m.insert(k.clone(), val);
    }
    m.entry("enabled").or_insert(json!(1));
    m.insert("id".into(), json!(e.id));
    m.insert("type".into(), json!("vzdump"));
    if with_next_run && e.get("enabled") != Some("0") {
        if let Some(t) = e.get("schedule").and_then(Event::parse).and_then(|ev| ev.next_after(sys::now())) {
            m.insert("next-run".into(), json!(t));
        }
    }
    Value::Object(m)
}

fn valid_configid(id: &str) -> bool {
    id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.len() >= 2
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_schedule(s: &str) -> Result<()> {
    if Event::parse(s).is_none() {
        return Err(param_err("schedule", format!("value does not look like a valid calendar event ('{s}')"), USAGE_CREATE));
    }
    Ok(())
}

/// POST /cluster/backup.
pub fn create(params: &BTreeMap<String, String>) -> Result<()> {
    let mut p = params.clone();
    for k in p.keys() {
        if k != "id" && !known(k) {
            return Err(param_err(k, "property is not defined in schema and the schema does not allow additional properties", USAGE_CREATE));
        }
    }
    let id = p.remove("id").unwrap_or_else(|| {
        sys::read_opt(std::path::Path::new("/proc/sys/kernel/random/uuid")).map(|u| u.trim().to_string()).unwrap_or_else(|| format!("job-{}", sys::now()))
    });
    if params.contains_key("id") && !valid_configid(&id) {
        return Err(param_err("id", format!("invalid format - invalid configuration ID '{id}'\n"), USAGE_CREATE));
    }
    match (p.contains_key("schedule"), p.contains_key("starttime")) {
        (true, true) => return Err(param_err("schedule", "option conflicts with option 'starttime'", USAGE_CREATE)),
        (false, false) => return Err(param_err("schedule", "neither 'starttime' nor 'schedule' were set", USAGE_CREATE)),
        (false, true) => {
            let st = p.remove("starttime").unwrap_or_default();
            let dow = p.remove("dow").unwrap_or_default();
            let sched = if dow.is_empty() || dow == "mon,tue,wed,thu,fri,sat,sun" { st } else { format!("{dow} {st}") };
            p.insert("schedule".into(), sched);
        }
        _ => {}
    }
    check_schedule(&p["schedule"])?;
    let all = p.get("all").is_some_and(|v| crate::cli::truthy(v));
    if !all && !p.contains_key("vmid") && !p.contains_key("pool") && !p.contains_key("exclude") {
        return Err(param_err("vmid", "property is missing", USAGE_CREATE));
    }
    if all && p.contains_key("vmid") {
        return Err(param_err("all", "option conflicts with option 'vmid'", USAGE_CREATE));
    }
    if p.contains_key("pool") && p.contains_key("vmid") {
        return Err(param_err("pool", "option conflicts with option 'vmid'", USAGE_CREATE));
    }
    pmxcfs::require_quorum()?;
    let _lock = pmxcfs::cfs_lock("file-jobs_cfg")?;
    let mut cfg = load()?;
    if cfg.get(&id).is_some() {
        return Err(die(format!("Job '{id}' already exists")));
    }
    let sf = state_file(&id);
    if let Some(s) = sys::read_opt(&sf) {
        if !s.contains("\"created\"") {
            return Err(die("job state already exists"));
        }
    }
    let mut e = Entry::new("vzdump", &id);
    for (k, v) in &p {
        e.set(k, normalise(k, v));
    }
    if e.get("enabled").is_none() {
        e.set("enabled", "1");
    }
    cfg.sections.push(e);
    save(&cfg)?;
    sys::write_str(&sf, &format!("{{\"state\":\"created\",\"time\":{}}}\n", sys::now()), 0o644)?;
    Ok(())
}

fn no_such_job(id: &str, usage: &str) -> anyhow::Error {
    param_err("id", format!("No such job '{id}'"), usage)
}

/// GET /cluster/backup/<id>.
pub fn get(id: &str) -> Result<Value> {
    let cfg = load()?;
    match cfg.get(id).filter(|e| e.section_type == "vzdump") {
        Some(e) => Ok(entry_json(e, false)),
        None => Err(no_such_job(id, "USAGE: pvesh get <api_path> [OPTIONS] [FORMAT_OPTIONS]\n")),
    }
}

pub fn list() -> Result<Value> {
    let cfg = load()?;
    Ok(Value::Array(cfg.of_type("vzdump").map(|e| entry_json(e, true)).collect()))
}

/// PUT /cluster/backup/<id> (selection options replace each other, pve-cli.md §6.1).
pub fn update(id: &str, params: &BTreeMap<String, String>) -> Result<()> {
    let usage = "USAGE: pvesh set /cluster/backup/{id} [OPTIONS] [FORMAT_OPTIONS]\n";
    for k in params.keys() {
        if !known(k) && k != "delete" && k != "digest" {
            return Err(param_err(k, "property is not defined in schema and the schema does not allow additional properties", usage));
        }
    }
    if params.keys().all(|k| k == "digest") {
        return Err(die("no options specified"));
    }
    if let Some(s) = params.get("schedule") {
        check_schedule(s)?;
    }
    pmxcfs::require_quorum()?;
    let _lock = pmxcfs::cfs_lock("file-jobs_cfg")?;
    let mut cfg = load()?;
    let Some(e) = cfg.get_mut(id).filter(|e| e.section_type == "vzdump") else {
        return Err(die("no such vzdump job"));
    };
    if let Some(d) = params.get("delete") {
        for k in d.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            if k == "schedule" {
                return Err(die(format!("unable to delete required option '{k}'")));
            }
            e.remove(k);
        }
    }
    if params.contains_key("vmid") {
        for k in ["all", "exclude", "pool"] {
            e.remove(k);
        }
    }
    if params.get("all").is_some_and(|v| crate::cli::truthy(v)) {
        for k in ["vmid", "pool"] {
            e.remove(k);
        }
    }
    if params.contains_key("pool") {
        for k in ["vmid", "all", "exclude"] {
            e.remove(k);
        }
    }
    for (k, v) in params {
        if k != "delete" && k != "digest" {
            e.set(k, normalise(k, v));
        }
    }
    save(&cfg)
}

/// DELETE /cluster/backup/<id>.
pub fn delete(id: &str) -> Result<()> {
    pmxcfs::require_quorum()?;
    let _lock = pmxcfs::cfs_lock("file-jobs_cfg")?;
    let mut cfg = load()?;
    if cfg.get(id).filter(|e| e.section_type == "vzdump").is_none() {
        return Err(no_such_job(id, "USAGE: pvesh delete <api_path> [OPTIONS] [FORMAT_OPTIONS]\n"));
    }
    cfg.remove(id);
    save(&cfg)?;
    let _ = std::fs::remove_file(state_file(id));
    Ok(())
}
