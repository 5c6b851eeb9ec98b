//! Storage replication jobs: `/etc/pve/replication.cfg` (pve-cli.md §5.3) and the per-node state
//! `/var/lib/pve-manager/pve-replication-state.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use pve_formats::section_config::{Entry, SectionConfig, REPLICATION_CFG};
use serde_json::{json, Map, Value};

use crate::calendar::Event;
use crate::cli::die;
use crate::model::{guests, storage};
use crate::{pmxcfs, sys};

pub fn cfg_path() -> PathBuf {
    pmxcfs::pve_path("replication.cfg")
}

pub fn state_path() -> PathBuf {
    sys::p("/var/lib/pve-manager/pve-replication-state.json")
}

pub fn load() -> Result<SectionConfig> {
    SectionConfig::parse(&sys::read_opt(&cfg_path()).unwrap_or_default(), &REPLICATION_CFG)
}

pub fn save(cfg: &SectionConfig) -> Result<()> {
    sys::write_str(&cfg_path(), &cfg.write(&REPLICATION_CFG), 0o640)
}

/// `<vmid>-<jobnum>` (pattern `[1-9][0-9]{2,8}-\d{1,9}`, pve-cli.md §5.1).
pub fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (g, n) = id.split_once('-')?;
    let ok_g = (3..=9).contains(&g.len()) && !g.starts_with('0') && g.chars().all(|c| c.is_ascii_digit());
    let ok_n = (1..=9).contains(&n.len()) && n.chars().all(|c| c.is_ascii_digit());
    if ok_g && ok_n {
        Some((g.parse().ok()?, n.parse().ok()?))
    } else {
        None
    }
}

/// Per-job state kept by the source node.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct JobState {
    #[serde(default)]
    pub last_sync: i64,
    #[serde(default)]
    pub last_try: i64,
    #[serde(default)]
    pub last_iteration: i64,
    #[serde(default)]
    pub duration: f64,
    #[serde(default)]
    pub fail_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_node: Option<String>,
    #[serde(default)]
    pub storeid_list: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_sync_override: Option<i64>,
}

/// vmid → jobid → state
pub type StateFile = BTreeMap<String, BTreeMap<String, JobState>>;

pub fn load_state() -> StateFile {
    sys::read_opt(&state_path()).and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
}

pub fn save_state(s: &StateFile) -> Result<()> {
    sys::write_str(&state_path(), &serde_json::to_string(s)?, 0o644)
}

pub fn job_state(s: &StateFile, e: &Entry) -> JobState {
    let guest = parse_id(&e.id).map(|(g, _)| g.to_string()).unwrap_or_default();
    s.get(&guest).and_then(|m| m.get(&e.id)).cloned().unwrap_or_default()
}

/// Next sync like PVE: schedule after the last try; failed jobs retry after a back-off.
pub fn next_sync(e: &Entry, st: &JobState) -> i64 {
    if let Some(t) = st.next_sync_override {
        return t;
    }
    if st.fail_count > 0 {
        let wait = [60, 5 * 60, 10 * 60, 15 * 60, 30 * 60][(st.fail_count as usize - 1).min(4)];
        return st.last_try + wait;
    }
    let sched = e.get("schedule").unwrap_or("*/15");
    Event::parse(sched).and_then(|ev| ev.next_after(st.last_try)).unwrap_or(0)
}

/// Config JSON (pvesh /cluster/replication, pve-cli.md §5.2): guest/jobnum/rate/disable numeric.
pub fn config_json(e: &Entry) -> Value {
    let mut m = Map::new();
    for (k, v) in &e.props {
        let val = match k.as_str() {
            "disable" => json!(v.parse::<i64>().unwrap_or(1)),
            "rate" => v.parse::<f64>().ok().map(|f| if f.fract() == 0.0 { json!(f as i64) } else { json!(f) }).unwrap_or(json!(v)),
            _ => json!(v),
        };
        m.insert(k.clone(), val);
    }
    if let Some((g, n)) = parse_id(&e.id) {
        m.insert("guest".into(), json!(g));
        m.insert("jobnum".into(), json!(n));
    }
    m.insert("id".into(), json!(e.id));
    m.insert("type".into(), json!(e.section_type));
    Value::Object(m)
}

/// Status JSON (pvesh /nodes/<n>/replication).
pub fn status_json(e: &Entry, st: &JobState) -> Value {
    let mut v = config_json(e);
    let m = v.as_object_mut().expect("object");
    m.insert("last_sync".into(), json!(st.last_sync));
    m.insert("last_try".into(), json!(st.last_try));
    m.insert("next_sync".into(), json!(next_sync(e, st)));
    m.insert("fail_count".into(), json!(st.fail_count));
    m.insert("vmtype".into(), json!("qemu"));
    if st.duration > 0.0 {
        m.insert("duration".into(), json!(st.duration));
    }
    if let Some(err) = &st.error {
        m.insert("error".into(), json!(err));
    }
    v
}

/// Volumes of `vmid` that replication would send: (storage id, zfs dataset, volid).
/// Errors are PVE's (pve-cli.md §5.1).
pub fn replicatable_volumes(vmid: u64) -> Result<Vec<(String, String, String)>> {
    let Some((_, conf)) = guests::load(vmid) else { return Err(die(format!("Guest '{vmid}' does not exist."))) };
    let (cfg, _) = storage::load()?;
    let mut out = Vec::new();
    for (_, volid) in guests::disks(&conf) {
        let (sid, vol) = volid.split_once(':').unwrap_or((&volid, ""));
        match cfg.get(sid) {
            Some(e) if e.section_type == "zfspool" => {
                out.push((sid.to_string(), format!("{}/{}", e.get("pool").unwrap_or("rpool/data"), vol), volid.clone()))
            }
            _ => return Err(die(format!("missing replicate feature on volume '{volid}'"))),
        }
    }
    if out.is_empty() {
        return Err(die("No replicatable volumes found"));
    }
    Ok(out)
}
