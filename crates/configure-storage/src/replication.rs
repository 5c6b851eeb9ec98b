//! Storage replication jobs (`/etc/pve/replication.cfg`, cluster-wide), the record of the jobs
//! this tool created, the optional test guest, and the preconditions PVE would otherwise
//! refuse with less helpful messages (pve-cli.md §5.1).
//!
//! Observed with `pvesh get /cluster/replication --output-format json` (§5.2), created with
//! `pvesr create-local-job <id> <target>`, updated with `pvesr update <id>` (+ `--delete`).
//! The target is not in PVE's update schema: a job pointing at another node is reported with
//! what to do, never deleted and recreated behind the operator's back (its removal deletes
//! the replicated volumes on the old target).
//!
//! Jobs are removed only when this tool created them (the record in
//! [`crate::probes::MANAGED_RECORD`]) and the inventory no longer lists them — with
//! `pvesr delete <id>`, PVE's background removal that also cleans up the target.

use crate::diff::{self, show_number, show_opt, FieldChange, Memo, Update, UNSET};
use crate::facts::{ClusterFacts, GuestConfig};
use crate::probes;
use anyhow::{bail, Context, Result};
use common::engine::{Observed, Resource, Status};
use common::inventory::{Inventory, ReplicationJob as InvJob};
use common::parsers::pvesh::replication::{parse_cluster_replication, ReplicationJob, ReplicationStatus};
use common::parsers::pvesh::storage::{NodeStorage, StorageConfig};
use common::ssh::{quote, Session};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A replication job as the inventory wants it (defaults resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationWant {
    /// `<guest>-<job>`.
    pub id: String,
    pub guest: u32,
    pub target: String,
    pub schedule: String,
    pub rate: Option<f64>,
    pub comment: Option<String>,
    /// The guest's node (default: the master).
    pub source: String,
    pub test_guest: bool,
}

impl ReplicationWant {
    pub fn from_inventory(inv: &Inventory, r: &InvJob) -> Self {
        ReplicationWant {
            id: format!("{}-{}", r.guest, r.job),
            guest: r.guest,
            target: r.target.clone(),
            schedule: r.schedule.clone(),
            rate: r.rate,
            comment: r.comment.clone(),
            source: r.source.clone().unwrap_or_else(|| inv.master().name.clone()),
            test_guest: r.test_guest,
        }
    }

    /// `pvesr create-local-job <id> <target> --schedule … [--rate …] [--comment …]`.
    pub fn create_command(&self) -> String {
        let mut u = Update::default();
        u.set("schedule", &self.schedule);
        if let Some(r) = self.rate {
            u.set("rate", show_number(r));
        }
        if let Some(c) = &self.comment {
            u.set("comment", c);
        }
        format!("pvesr create-local-job {} {}{}", quote(&self.id), quote(&self.target), u.args())
    }

    pub fn update_command(&self, update: &Update) -> String {
        format!("pvesr update {}{}", quote(&self.id), update.args())
    }
}

/// What has to happen to one job.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicationPlan {
    InState,
    Create,
    Update { changes: Vec<FieldChange>, update: Update },
    /// The job replicates to another node; PVE cannot change a job's target.
    TargetDiffers { have: String },
    /// `pvesr delete` was run on it and PVE has not removed it yet.
    BeingRemoved { mode: String },
}

/// Compare a job with its definition (None = no such job).
pub fn plan(want: &ReplicationWant, have: Option<&ReplicationJob>) -> ReplicationPlan {
    let Some(have) = have else { return ReplicationPlan::Create };
    if let Some(mode) = &have.remove_job {
        return ReplicationPlan::BeingRemoved { mode: mode.clone() };
    }
    if have.target != want.target {
        return ReplicationPlan::TargetDiffers { have: have.target.clone() };
    }
    let mut changes = Vec::new();
    let mut u = Update::default();
    if have.effective_schedule() != want.schedule {
        changes.push(FieldChange::new("schedule", have.effective_schedule(), want.schedule.as_str()));
        u.set("schedule", &want.schedule);
    }
    let same_rate = match (have.rate, want.rate) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    };
    if !same_rate {
        let show = |r: Option<f64>| r.map(show_number).unwrap_or_else(|| "(unlimited)".into());
        changes.push(FieldChange::new("rate", show(have.rate), show(want.rate)));
        match want.rate {
            Some(r) => u.set("rate", show_number(r)),
            None => u.delete("rate"),
        }
    }
    if have.comment != want.comment {
        changes.push(FieldChange::new("comment", show_opt(have.comment.as_deref()), show_opt(want.comment.as_deref())));
        match &want.comment {
            Some(c) => u.set("comment", c),
            None => u.delete("comment"),
        }
    }
    if have.disable {
        changes.push(FieldChange::new("disable", "1", UNSET));
        u.delete("disable");
    }
    if changes.is_empty() {
        ReplicationPlan::InState
    } else {
        ReplicationPlan::Update { changes, update: u }
    }
}

/// The record of jobs this tool created (`/etc/pve/homelab-iac/managed.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagedRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Replication job ids created by configure-storage.
    #[serde(default)]
    pub replication: BTreeSet<String>,
}

impl ManagedRecord {
    /// Parse the record; an absent or empty file is an empty record.
    pub fn parse(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(ManagedRecord::default());
        }
        serde_json::from_str(text).with_context(|| {
            format!("{} is not a record this tool wrote (fix or remove it; it only lists job ids)", probes::MANAGED_RECORD)
        })
    }

    pub fn render(&self) -> String {
        let mut r = self.clone();
        r.comment = Some(
            "Written by configure-storage (homelab-iac): the replication jobs it created. It removes a job only if it is \
             listed here and no longer in the inventory."
                .into(),
        );
        let mut s = serde_json::to_string_pretty(&r).expect("record serializes");
        s.push('\n');
        s
    }
}

/// The record and the job list, from the shared replication probe.
pub fn parse_probe(observed: &Observed) -> Result<(ManagedRecord, Vec<ReplicationJob>)> {
    let s = diff::sections(&observed.stdout);
    let jobs_text = s.get("jobs").map(String::as_str).unwrap_or("");
    if observed.status != 0 {
        let o = Observed { stdout: String::new(), stderr: observed.stderr.clone(), status: observed.status };
        probes::pvesh_output(&o, "pvesh get /cluster/replication")?;
    }
    let record = ManagedRecord::parse(s.get("managed").map(String::as_str).unwrap_or(""))?;
    Ok((record, parse_cluster_replication(jobs_text)?))
}

/// Write the record (in the cluster filesystem: no chmod/chown there, just write + rename).
fn write_record(session: &Session, record: &ManagedRecord) -> Result<()> {
    let path = probes::MANAGED_RECORD;
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
    let text = record.render();
    // A dropped connection ends stdin early: never move a truncated record into place (issue 11).
    let script = format!(
        "set -e\nmkdir -p {dir}\ncat > {path}.tmp\n[ \"$(wc -c < {path}.tmp)\" -eq {n} ] || {{ rm -f {path}.tmp; echo 'incomplete record (connection lost?); not changed' >&2; exit 1; }}\nmv -f {path}.tmp {path}\n",
        dir = quote(dir),
        path = quote(path),
        n = text.len()
    );
    let out = session.exec_root(&format!("sh -c {}", quote(&script)), Some(text.as_bytes()))?;
    session.check(&format!("writing {path}"), out).map(drop)
}

fn read_record(session: &Session) -> Result<ManagedRecord> {
    match session.read_file(probes::MANAGED_RECORD)? {
        Some(bytes) => ManagedRecord::parse(&String::from_utf8_lossy(&bytes)),
        None => Ok(ManagedRecord::default()),
    }
}

/// One replication job, managed on the master (cluster-wide).
#[derive(Debug)]
pub struct ReplicationJobResource {
    pub want: ReplicationWant,
    plan: Memo<ReplicationPlan>,
}

impl ReplicationJobResource {
    pub fn new(want: ReplicationWant) -> Self {
        ReplicationJobResource { want, plan: Memo::new() }
    }

    pub fn plan_for(&self, observed: &Observed) -> Result<ReplicationPlan> {
        let (_, jobs) = parse_probe(observed)?;
        Ok(plan(&self.want, jobs.iter().find(|j| j.id == self.want.id)))
    }

    /// Why a plan cannot be carried out automatically (checked before any change).
    pub fn refusal(&self, plan: &ReplicationPlan) -> Option<String> {
        match plan {
            ReplicationPlan::TargetDiffers { have } => Some(format!(
                "replication {}: the job replicates to {have}, the inventory says {}. PVE cannot change a job's target; \
                 remove it with `pvesr delete {}` (this also removes the replica on {have}), wait until `pvesr list` no longer \
                 shows it, then re-run",
                self.want.id, self.want.target, self.want.id
            )),
            ReplicationPlan::BeingRemoved { mode } => Some(format!(
                "replication {}: the job is being removed by PVE (remove_job {mode}); re-run once `pvesr list` no longer shows it",
                self.want.id
            )),
            _ => None,
        }
    }
}

impl Resource for ReplicationJobResource {
    fn id(&self) -> String {
        format!("replication {}", self.want.id)
    }

    fn probe(&self) -> String {
        probes::replication()
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        let plan = self.plan_for(observed)?;
        self.plan.put(plan.clone());
        Ok(match &plan {
            ReplicationPlan::InState => Status::InState,
            ReplicationPlan::Create => Status::change_with_diff(
                format!(
                    "create (guest {} on {} → {}, schedule {}, rate {})",
                    self.want.guest,
                    self.want.source,
                    self.want.target,
                    self.want.schedule,
                    self.want.rate.map(|r| format!("{} MB/s", show_number(r))).unwrap_or_else(|| "unlimited".into())
                ),
                Some(format!("$ {}", self.want.create_command())),
            ),
            ReplicationPlan::Update { changes, update } => {
                Status::change_with_diff(diff::summary(changes), Some(format!("$ {}", self.want.update_command(update))))
            }
            p @ (ReplicationPlan::TargetDiffers { have: _ } | ReplicationPlan::BeingRemoved { .. }) => {
                let target = match p {
                    ReplicationPlan::TargetDiffers { have } => format!("target {have} → {} (cannot be changed in place)", self.want.target),
                    _ => "being removed by PVE".to_string(),
                };
                Status::change(target)
            }
        })
    }

    fn apply(&self, session: &Session) -> Result<()> {
        let plan = match self.plan.get() {
            Some(p) => p,
            None => self.plan_for(&probes::run_one(session, &probes::replication())?)?,
        };
        if let Some(why) = self.refusal(&plan) {
            bail!("{why}");
        }
        let cmd = match &plan {
            ReplicationPlan::Create => {
                // Record first: an interrupted run leaves at worst a recorded id without a job.
                let mut record = read_record(session)?;
                if record.replication.insert(self.want.id.clone()) {
                    write_record(session, &record)?;
                }
                self.want.create_command()
            }
            ReplicationPlan::Update { update, .. } => self.want.update_command(update),
            _ => return Ok(()),
        };
        let out = session.exec_root(&cmd, None)?;
        session.check(&self.id(), out).map(drop).with_context(|| format!("`{cmd}` failed"))
    }
}

/// Removes the jobs this tool created that the inventory no longer lists.
#[derive(Debug)]
pub struct ReplicationCleanup {
    /// Job ids the inventory lists.
    pub wanted: BTreeSet<String>,
    remove: Memo<Vec<String>>,
}

impl ReplicationCleanup {
    pub fn new(wanted: BTreeSet<String>) -> Self {
        ReplicationCleanup { wanted, remove: Memo::new() }
    }

    /// Recorded, still configured (and not already being removed), not wanted.
    pub fn to_remove(&self, record: &ManagedRecord, jobs: &[ReplicationJob]) -> Vec<String> {
        jobs.iter()
            .filter(|j| j.remove_job.is_none())
            .map(|j| j.id.clone())
            .filter(|id| record.replication.contains(id) && !self.wanted.contains(id))
            .collect()
    }
}

impl Resource for ReplicationCleanup {
    fn id(&self) -> String {
        "replication cleanup".into()
    }

    fn probe(&self) -> String {
        probes::replication()
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        let (record, jobs) = parse_probe(observed)?;
        let remove = self.to_remove(&record, &jobs);
        self.remove.put(remove.clone());
        Ok(if remove.is_empty() {
            Status::InState
        } else {
            Status::change_with_diff(
                format!(
                    "remove {} (created by configure-storage, no longer in the inventory; PVE removes the replicas in the background)",
                    remove.iter().map(|id| format!("replication job {id}")).collect::<Vec<_>>().join(", ")
                ),
                Some(remove.iter().map(|id| format!("$ pvesr delete {id}")).collect::<Vec<_>>().join("\n")),
            )
        })
    }

    fn apply(&self, session: &Session) -> Result<()> {
        let remove = match self.remove.get() {
            Some(r) => r,
            None => {
                let (record, jobs) = parse_probe(&probes::run_one(session, &probes::replication())?)?;
                self.to_remove(&record, &jobs)
            }
        };
        if remove.is_empty() {
            return Ok(());
        }
        for id in &remove {
            let out = session.exec_root(&format!("pvesr delete {}", quote(id)), None)?;
            session.check(&format!("removing replication job {id}"), out)?;
        }
        let mut record = read_record(session)?;
        for id in &remove {
            record.replication.remove(id);
        }
        write_record(session, &record)
    }
}

// ---- preconditions -------------------------------------------------------------------------

/// Guest config keys that hold volumes (qemu-server and pve-container).
fn is_volume_key(key: &str) -> bool {
    let numbered = |p: &str| key.strip_prefix(p).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    ["ide", "sata", "scsi", "virtio", "unused", "mp"].iter().any(|p| numbered(p))
        || matches!(key, "efidisk0" | "tpmstate0" | "rootfs")
}

/// The volumes of a guest config: `(key, volume)` — CD-ROMs and `none` left out.
pub fn guest_volumes(config: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in config.lines() {
        if line.starts_with('[') {
            break; // snapshot sections follow
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let (key, value) = (key.trim(), value.trim());
        if !is_volume_key(key) {
            continue;
        }
        let mut parts = value.split(',');
        let vol = parts.next().unwrap_or("").trim();
        if vol.is_empty() || vol == "none" || value.split(',').any(|p| p.trim() == "media=cdrom") {
            continue;
        }
        out.push((key.to_string(), vol.to_string()));
    }
    out
}

fn storage_on_node(s: &StorageConfig, node: &str) -> bool {
    !s.disable && s.nodes.as_ref().is_none_or(|n| n.contains(node))
}

/// The zfspool storage a test guest's disk goes to: enabled on source and target, `local-zfs`
/// preferred (the installer's name), else the first by id.
pub fn test_guest_storage(storages: &[StorageConfig], source: &str, target: &str) -> Option<String> {
    let mut ok: Vec<&StorageConfig> = storages
        .iter()
        .filter(|s| s.storage_type == "zfspool" && storage_on_node(s, source) && storage_on_node(s, target))
        .collect();
    ok.sort_by_key(|s| (s.storage != "local-zfs", s.storage.clone()));
    ok.first().map(|s| s.storage.clone())
}

/// Everything `pvesr create-local-job` needs, checked before any change (pve-cli.md §5.1):
/// source and target are members, the guest lives on the source (or will be created as the
/// test guest), and every volume is on zfspool storage available on both nodes.
/// `node_storage`: each node's `/nodes/<n>/storage` view, where observed.
pub fn create_preconditions(
    want: &ReplicationWant,
    facts: &ClusterFacts,
    node_storage: &BTreeMap<String, Vec<NodeStorage>>,
    create_test_guest: bool,
) -> Vec<String> {
    let id = &want.id;
    let mut errors = Vec::new();
    let members: Vec<&str> = facts.status.nodes.iter().map(|n| n.name.as_str()).collect();
    let cluster = facts.status.cluster.as_ref().map(|c| c.name.as_str()).unwrap_or("?");
    for (role, node) in [("target", &want.target), ("source", &want.source)] {
        if !members.contains(&node.as_str()) {
            errors.push(format!(
                "replication {id}: {role} {node} is not a member of cluster {cluster} (members: {}); join it with form-cluster first",
                members.join(", ")
            ));
        }
    }
    if want.source == want.target {
        errors.push(format!("replication {id}: source and target are both {}; Proxmox refuses that", want.target));
    }
    if !errors.is_empty() {
        return errors;
    }
    let configs: &[GuestConfig] = facts.guests.get(&want.guest).map(Vec::as_slice).unwrap_or(&[]);
    let volumes = match configs {
        [] if want.test_guest && create_test_guest => {
            match test_guest_storage(&facts.storages, &want.source, &want.target) {
                Some(s) => vec![("scsi0".to_string(), format!("{s}:vm-{}-disk-0", want.guest))],
                None => {
                    errors.push(format!(
                        "replication {id}: no zfspool storage is enabled on both {} and {} for the test guest's disk",
                        want.source, want.target
                    ));
                    return errors;
                }
            }
        }
        [] => {
            let hint = if want.test_guest {
                "run with --create-test-guest to create it"
            } else {
                "create the guest first (or set test_guest = true and run with --create-test-guest)"
            };
            errors.push(format!("replication {id}: guest {} does not exist; {hint}", want.guest));
            return errors;
        }
        [g] if g.node != want.source => {
            errors.push(format!(
                "replication {id}: guest {} lives on {}, not on the job's source {}; set `source = \"{}\"` in the inventory or migrate the guest",
                want.guest, g.node, want.source, g.node
            ));
            return errors;
        }
        [g] => g.volumes.clone(),
        many => {
            let where_: Vec<&str> = many.iter().map(|g| g.path.as_str()).collect();
            errors.push(format!("replication {id}: guest {} has more than one config ({}); fix that first", want.guest, where_.join(", ")));
            return errors;
        }
    };
    if volumes.is_empty() {
        errors.push(format!("replication {id}: guest {} has no disks; Proxmox refuses with `No replicatable volumes found`", want.guest));
    }
    for (key, vol) in &volumes {
        let Some((sid, _)) = vol.split_once(':') else {
            errors.push(format!("replication {id}: guest {} disk {key} ({vol}) is not a storage volume; replication needs zfspool storage", want.guest));
            continue;
        };
        let Some(s) = facts.storages.iter().find(|s| s.storage == sid) else {
            errors.push(format!("replication {id}: guest {} disk {key} is on storage {sid}, which is not defined", want.guest));
            continue;
        };
        if s.storage_type != "zfspool" {
            errors.push(format!(
                "replication {id}: guest {} disk {key} is on storage {sid} ({}); replication needs ZFS (zfspool) storage on both nodes",
                want.guest, s.storage_type
            ));
            continue;
        }
        for node in [&want.source, &want.target] {
            if !storage_on_node(s, node) {
                errors.push(format!("replication {id}: storage {sid} (guest {} disk {key}) is not enabled on {node}", want.guest));
            } else if let Some(view) = node_storage.get(node.as_str()) {
                match view.iter().find(|x| x.storage == sid) {
                    Some(x) if x.active => {}
                    _ => errors.push(format!(
                        "replication {id}: storage {sid} (guest {} disk {key}) is not active on {node} (its ZFS pool missing?)",
                        want.guest
                    )),
                }
            }
        }
    }
    errors
}

// ---- test guest ----------------------------------------------------------------------------

/// A small VM for replication tests, created on the source node when missing. Never destroyed
/// or changed: an existing guest with that id (anywhere in the cluster) is left alone.
#[derive(Debug, Clone)]
pub struct TestGuest {
    pub vmid: u32,
    pub node: String,
    /// zfspool storage for its 1 GiB disk.
    pub storage: String,
}

impl TestGuest {
    pub fn create_command(&self) -> String {
        format!("qm create {v} --name repl-test-{v} --memory 512 --scsi0 {}:1", quote(&self.storage), v = self.vmid)
    }
}

impl Resource for TestGuest {
    fn id(&self) -> String {
        format!("test guest {}", self.vmid)
    }

    fn probe(&self) -> String {
        format!("ls -d /etc/pve/nodes/*/qemu-server/{v}.conf /etc/pve/nodes/*/lxc/{v}.conf 2>/dev/null\ntrue\n", v = self.vmid)
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        Ok(if observed.stdout.trim().is_empty() {
            Status::change_with_diff(
                format!("create VM {} on {} (512 MiB, 1 GiB disk on {})", self.vmid, self.node, self.storage),
                Some(format!("$ {}", self.create_command())),
            )
        } else {
            Status::InState
        })
    }

    fn apply(&self, session: &Session) -> Result<()> {
        let out = session.exec_root(&self.create_command(), None)?;
        session.check(&self.id(), out).map(drop)
    }
}

// ---- health --------------------------------------------------------------------------------

/// `2025-09-01 12:00:01 UTC` for an epoch (no time-zone database needed).
pub fn utc(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    // civil_from_days (H. Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// How a replication job is doing, from its source node's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationHealth {
    pub healthy: bool,
    pub text: String,
}

/// Seconds since the epoch on this machine (for "next sync pending").
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Health of one job (`None`: the source node does not list it). A next sync at or before
/// `now` is shown as `pending`, like `pvesr status` does (pve-cli.md §5.2).
pub fn health(want: &ReplicationWant, status: Option<&ReplicationStatus>, now: i64) -> ReplicationHealth {
    let id = &want.id;
    let Some(s) = status else {
        return ReplicationHealth {
            healthy: false,
            text: format!("replication {id}: {} reports no status for it (does guest {} live there?)", want.source, want.guest),
        };
    };
    let last = match s.last_sync.filter(|t| *t > 0) {
        Some(t) => format!("last sync {}", utc(t)),
        None => "no sync yet".to_string(),
    };
    let next = match s.next_sync.filter(|t| *t > 0) {
        Some(t) if t <= now => ", next pending".to_string(),
        Some(t) => format!(", next {}", utc(t)),
        None => String::new(),
    };
    let duration = s.duration.map(|d| format!(" ({d:.1} s)")).unwrap_or_default();
    if let Some(err) = &s.error {
        return ReplicationHealth {
            healthy: false,
            text: format!("replication {id} → {}: FAILING (fail count {}): {err}; {last}{next}", s.job.target, s.fail_count),
        };
    }
    if s.fail_count > 0 {
        return ReplicationHealth {
            healthy: false,
            text: format!("replication {id} → {}: FAILING (fail count {}); {last}{next}", s.job.target, s.fail_count),
        };
    }
    let state = if s.pid.is_some() { "SYNCING" } else { "OK" };
    ReplicationHealth { healthy: true, text: format!("replication {id} → {}: {state}, fail count 0, {last}{duration}{next}", s.job.target) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::GuestConfig;
    use common::parsers::pvesh::cluster::parse_cluster_status;
    use common::parsers::pvesh::replication::parse_node_replication;
    use common::parsers::pvesh::storage::{parse_node_storage, parse_storage_config};

    fn want() -> ReplicationWant {
        ReplicationWant {
            id: "900-0".into(),
            guest: 900,
            target: "pve-node2".into(),
            schedule: "*/5".into(),
            rate: Some(10.0),
            comment: None,
            source: "pve-node1".into(),
            test_guest: true,
        }
    }

    fn job(json: &str) -> ReplicationJob {
        parse_cluster_replication(&format!("[{json}]")).unwrap().remove(0)
    }

    // `pvesh get /cluster/replication` after create_command() (pve-cli.md §5.2/§5.3 shapes).
    const JOB: &str = r#"{"guest":900,"id":"900-0","jobnum":0,"rate":10,"schedule":"*/5","source":"pve-node1","target":"pve-node2","type":"local"}"#;

    #[test]
    fn create_and_in_state() {
        let w = want();
        assert_eq!(plan(&w, None), ReplicationPlan::Create);
        assert_eq!(w.create_command(), "pvesr create-local-job 900-0 pve-node2 --schedule '*/5' --rate 10");
        assert_eq!(plan(&w, Some(&job(JOB))), ReplicationPlan::InState);
        assert_eq!(plan(&w, Some(&job(&JOB.replace(r#""rate":10"#, r#""rate":"10""#)))), ReplicationPlan::InState);
    }

    #[test]
    fn default_schedule_is_star_15() {
        let mut w = want();
        w.schedule = "*/15".into();
        let j = job(r#"{"id":"900-0","rate":10,"target":"pve-node2","type":"local"}"#);
        assert_eq!(plan(&w, Some(&j)), ReplicationPlan::InState);
    }

    #[test]
    fn update_fields_and_deletes() {
        let mut w = want();
        w.rate = None;
        let j = job(r#"{"comment":"old","disable":1,"id":"900-0","rate":2.5,"schedule":"*/15","target":"pve-node2","type":"local"}"#);
        let ReplicationPlan::Update { changes, update } = plan(&w, Some(&j)) else { panic!() };
        assert_eq!(diff::summary(&changes), "schedule */15 → */5; rate 2.5 → (unlimited); comment old → (unset); disable 1 → (unset)");
        assert_eq!(w.update_command(&update), "pvesr update 900-0 --schedule '*/5' --delete rate,comment,disable");
    }

    #[test]
    fn target_change_and_pending_removal_are_refused_with_instructions() {
        let r = ReplicationJobResource::new(want());
        let p = plan(&want(), Some(&job(&JOB.replace(r#""target":"pve-node2""#, r#""target":"pve-node3""#))));
        assert_eq!(p, ReplicationPlan::TargetDiffers { have: "pve-node3".into() });
        let why = r.refusal(&p).unwrap();
        assert!(why.contains("pvesr delete 900-0") && why.contains("pve-node3"), "{why}");
        let p = plan(&want(), Some(&job(&JOB.replace(r#""type""#, r#""remove_job":"full","type""#))));
        assert_eq!(p, ReplicationPlan::BeingRemoved { mode: "full".into() });
        assert!(r.refusal(&p).unwrap().contains("being removed"));
    }

    fn probe_output(record: &str, jobs: &str) -> Observed {
        Observed::new(&format!("@@homelab-iac managed@@\n{record}@@homelab-iac jobs@@\n{jobs}\n"), 0)
    }

    #[test]
    fn resource_reads_the_shared_probe() {
        let r = ReplicationJobResource::new(want());
        assert_eq!(r.evaluate(&probe_output("", &format!("[{JOB}]"))).unwrap(), Status::InState);
        let Status::Change { summary, diff } = r.evaluate(&probe_output("", "[]")).unwrap() else { panic!() };
        assert_eq!(summary, "create (guest 900 on pve-node1 → pve-node2, schedule */5, rate 10 MB/s)");
        assert_eq!(diff.unwrap(), "$ pvesr create-local-job 900-0 pve-node2 --schedule '*/5' --rate 10");
        let mut failed = probe_output("", "");
        failed.status = 255;
        failed.stderr = "cluster not ready - no quorum?\n".into();
        assert!(r.evaluate(&failed).unwrap_err().to_string().contains("no quorum"));
    }

    #[test]
    fn cleanup_removes_only_recorded_jobs_the_inventory_dropped() {
        let rec = ManagedRecord { comment: None, replication: ["900-0".to_string(), "901-0".to_string(), "905-0".to_string()].into() };
        let text = rec.render();
        assert_eq!(ManagedRecord::parse(&text).unwrap().replication, rec.replication);
        assert!(ManagedRecord::parse("").unwrap().replication.is_empty());
        assert!(ManagedRecord::parse("garbage").unwrap_err().to_string().contains("managed.json"));

        let jobs = format!(
            "[{JOB},{},{},{}]",
            JOB.replace("900", "901"),
            JOB.replace("900", "902"),                                                      // made by hand
            JOB.replace("900", "905").replace(r#""type""#, r#""remove_job":"full","type""#) // already going
        );
        let c = ReplicationCleanup::new(["900-0".to_string()].into());
        let Status::Change { summary, diff } = c.evaluate(&probe_output(&text, &jobs)).unwrap() else { panic!() };
        assert!(summary.starts_with("remove replication job 901-0 (created by configure-storage, no longer in the inventory"), "{summary}");
        assert_eq!(diff.unwrap(), "$ pvesr delete 901-0");
        let c = ReplicationCleanup::new(["900-0".to_string(), "901-0".to_string()].into());
        assert_eq!(c.evaluate(&probe_output(&text, &jobs)).unwrap(), Status::InState);
    }

    #[test]
    fn guest_volumes_skip_cdroms_and_snapshots() {
        let conf = "boot: order=scsi0\nide2: local:iso/debian.iso,media=cdrom,size=600M\nmemory: 512\nname: repl-test-900\n\
                    scsi0: local-zfs:vm-900-disk-0,size=1G\nscsihw: virtio-scsi-single\nunused0: local-zfs:vm-900-disk-1\n\
                    efidisk0: none\n\n[snap1]\nscsi1: nas-data:900/vm-900-disk-1.raw\n";
        assert_eq!(
            guest_volumes(conf),
            [("scsi0".to_string(), "local-zfs:vm-900-disk-0".to_string()), ("unused0".to_string(), "local-zfs:vm-900-disk-1".to_string())]
        );
        assert_eq!(guest_volumes("rootfs: local-zfs:subvol-901-disk-0,size=8G\nmp0: nas-data:901/x.raw,mp=/data\n").len(), 2);
    }

    const STATUS: &str = r#"[{"id":"cluster","name":"homelab","nodes":2,"quorate":1,"type":"cluster","version":3},
        {"id":"node/pve-node1","ip":"10.231.10.11","level":"","local":1,"name":"pve-node1","nodeid":1,"online":1,"type":"node"},
        {"id":"node/pve-node2","ip":"10.231.10.12","level":"","local":0,"name":"pve-node2","nodeid":2,"online":1,"type":"node"}]"#;
    const STORAGES: &str = r#"[{"content":"iso,vztmpl,backup","digest":"x","path":"/var/lib/vz","storage":"local","type":"dir"},
        {"content":"images,rootdir","digest":"x","pool":"rpool/data","sparse":1,"storage":"local-zfs","type":"zfspool"},
        {"content":"images","digest":"x","export":"/volume1/homelab-data","path":"/mnt/pve/nas-data","server":"10.231.1.25","shared":1,"storage":"nas-data","type":"nfs"}]"#;

    fn facts(guest_conf: Option<(&str, &str)>) -> ClusterFacts {
        let mut guests = BTreeMap::new();
        if let Some((node, conf)) = guest_conf {
            guests.insert(900, vec![GuestConfig::new(&format!("/etc/pve/nodes/{node}/qemu-server/900.conf"), conf)]);
        }
        ClusterFacts {
            status: parse_cluster_status(STATUS).unwrap(),
            storages: parse_storage_config(STORAGES).unwrap(),
            guests,
            scans: BTreeMap::new(),
            replication: Vec::new(),
            record: ManagedRecord::default(),
        }
    }

    fn node_views(node2_zfs_active: bool) -> BTreeMap<String, Vec<NodeStorage>> {
        let view = |active: bool| {
            parse_node_storage(&format!(
                r#"[{{"active":{},"content":"images,rootdir","enabled":1,"shared":0,"storage":"local-zfs","type":"zfspool"}}]"#,
                u8::from(active)
            ))
            .unwrap()
        };
        [("pve-node1".to_string(), view(true)), ("pve-node2".to_string(), view(node2_zfs_active))].into()
    }

    #[test]
    fn preconditions_pass_for_a_zfs_guest_on_the_source() {
        let f = facts(Some(("pve-node1", "scsi0: local-zfs:vm-900-disk-0,size=1G\n")));
        assert_eq!(create_preconditions(&want(), &f, &node_views(true), false), Vec::<String>::new());
    }

    #[test]
    fn preconditions_name_each_problem() {
        let w = want();
        // not a member
        let mut w3 = w.clone();
        w3.target = "pve-node3".into();
        let e = create_preconditions(&w3, &facts(None), &node_views(true), false);
        assert_eq!(e, ["replication 900-0: target pve-node3 is not a member of cluster homelab (members: pve-node1, pve-node2); join it with form-cluster first"]);
        // missing guest, with and without --create-test-guest
        let e = create_preconditions(&w, &facts(None), &node_views(true), false);
        assert_eq!(e, ["replication 900-0: guest 900 does not exist; run with --create-test-guest to create it"]);
        assert!(create_preconditions(&w, &facts(None), &node_views(true), true).is_empty());
        let mut plain = w.clone();
        plain.test_guest = false;
        assert!(create_preconditions(&plain, &facts(None), &node_views(true), true)[0].contains("create the guest first"));
        // guest elsewhere
        let e = create_preconditions(&w, &facts(Some(("pve-node2", "scsi0: local-zfs:vm-900-disk-0\n"))), &node_views(true), false);
        assert!(e[0].contains("lives on pve-node2, not on the job's source pve-node1"), "{e:?}");
        // non-ZFS disk
        let e = create_preconditions(&w, &facts(Some(("pve-node1", "scsi0: nas-data:900/vm-900-disk-0.raw\n"))), &node_views(true), false);
        assert_eq!(e, ["replication 900-0: guest 900 disk scsi0 is on storage nas-data (nfs); replication needs ZFS (zfspool) storage on both nodes"]);
        // pool not active on the target
        let e = create_preconditions(&w, &facts(Some(("pve-node1", "scsi0: local-zfs:vm-900-disk-0\n"))), &node_views(false), false);
        assert_eq!(e, ["replication 900-0: storage local-zfs (guest 900 disk scsi0) is not active on pve-node2 (its ZFS pool missing?)"]);
        // no disks
        let e = create_preconditions(&w, &facts(Some(("pve-node1", "memory: 512\n"))), &node_views(true), false);
        assert!(e[0].contains("No replicatable volumes found"), "{e:?}");
    }

    #[test]
    fn test_guest_storage_prefers_local_zfs_on_both_nodes() {
        let s = parse_storage_config(STORAGES).unwrap();
        assert_eq!(test_guest_storage(&s, "pve-node1", "pve-node2").as_deref(), Some("local-zfs"));
        let only1 = parse_storage_config(r#"[{"nodes":"pve-node1","pool":"rpool/data","storage":"local-zfs","type":"zfspool"},{"pool":"tank","storage":"tank","type":"zfspool"}]"#).unwrap();
        assert_eq!(test_guest_storage(&only1, "pve-node1", "pve-node2").as_deref(), Some("tank"));
        let g = TestGuest { vmid: 900, node: "pve-node1".into(), storage: "local-zfs".into() };
        assert_eq!(g.create_command(), "qm create 900 --name repl-test-900 --memory 512 --scsi0 local-zfs:1");
        assert_eq!(g.evaluate(&Observed::new("/etc/pve/nodes/pve-node2/qemu-server/900.conf\n", 0)).unwrap(), Status::InState);
        assert!(matches!(g.evaluate(&Observed::new("", 0)).unwrap(), Status::Change { .. }));
    }

    #[test]
    fn health_reads_node_status() {
        let ok = parse_node_replication(r#"[{"duration":2.873421,"fail_count":0,"guest":900,"id":"900-0","jobnum":0,"last_sync":1756728001,"last_try":1756728001,"next_sync":1756728300,"rate":10,"schedule":"*/5","source":"pve-node1","target":"pve-node2","type":"local","vmtype":"qemu"}]"#).unwrap();
        let h = health(&want(), ok.first(), 1756728100);
        assert!(h.healthy);
        assert_eq!(h.text, "replication 900-0 → pve-node2: OK, fail count 0, last sync 2025-09-01 12:00:01 UTC (2.9 s), next 2025-09-01 12:05:00 UTC");
        let h = health(&want(), ok.first(), 1756728300);
        assert!(h.text.ends_with("(2.9 s), next pending"), "{}", h.text);
        let bad = parse_node_replication(r#"[{"error":"command 'zfs snapshot' failed: exit code 1","fail_count":3,"guest":900,"id":"900-0","last_sync":0,"target":"pve-node2","type":"local"}]"#).unwrap();
        let h = health(&want(), bad.first(), 1756728100);
        assert!(!h.healthy);
        assert_eq!(h.text, "replication 900-0 → pve-node2: FAILING (fail count 3): command 'zfs snapshot' failed: exit code 1; no sync yet");
        assert!(!health(&want(), None, 0).healthy);
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
