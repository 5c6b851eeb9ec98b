//! Backup (vzdump) jobs with explicit ids, cluster-wide in `/etc/pve/jobs.cfg`.
//!
//! Observed with `pvesh get /cluster/backup --output-format json` (pve-cli.md §6.3: one call for
//! every job; the entries are the same objects `/cluster/backup/<id>` returns, plus `next-run`),
//! created with `pvesh create /cluster/backup --id …` and updated field by field with
//! `pvesh set /cluster/backup/<id>` (+ `--delete`), §6.1. Selection options replace each other
//! in PVE (`--vmid` drops all/exclude/pool, `--all 1` drops vmid/pool), which the plan relies on.

use crate::diff::{self, show_opt, FieldChange, Memo, Update, UNSET};
use crate::nfs::prune_backups;
use crate::probes;
use anyhow::{Context, Result};
use common::engine::{Observed, Resource, Status};
use common::inventory::BackupJob as InvBackup;
use common::parsers::pvesh::backup::{parse_cluster_backup, BackupJob, PruneBackups};
use common::ssh::{quote, Session};

/// PVE's default `notification-mode` (pve-cli.md §6.1): an unset value means this.
pub const DEFAULT_NOTIFICATION_MODE: &str = "auto";

/// A backup job as the inventory wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupWant {
    pub id: String,
    pub schedule: String,
    pub storage: String,
    pub all: bool,
    /// Sorted.
    pub vmids: Vec<u32>,
    /// Sorted; only with `all`.
    pub exclude: Vec<u32>,
    pub mode: String,
    pub compress: String,
    pub prune_backups: Option<PruneBackups>,
    pub notification_mode: String,
    pub enabled: bool,
    pub comment: Option<String>,
}

fn sorted(v: &[u32]) -> Vec<u32> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

fn list(v: &[u32]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

fn show_list(v: &[u32]) -> String {
    if v.is_empty() {
        UNSET.into()
    } else {
        list(v)
    }
}

/// `100,101` (or `100 101`) → sorted ids; anything unparsable is kept as "not a list".
fn parse_ids(s: Option<&str>) -> Option<Vec<u32>> {
    let s = s?;
    let ids: Option<Vec<u32>> =
        s.split(|c: char| c == ',' || c.is_whitespace()).filter(|x| !x.is_empty()).map(|x| x.parse().ok()).collect();
    ids.map(|v| sorted(&v))
}

impl BackupWant {
    pub fn from_inventory(b: &InvBackup) -> Self {
        BackupWant {
            id: b.id.clone(),
            schedule: b.schedule.clone(),
            storage: b.storage.clone(),
            all: b.all,
            vmids: sorted(&b.vmids),
            exclude: if b.all { sorted(&b.exclude) } else { Vec::new() },
            mode: b.mode.clone(),
            compress: b.compress.clone(),
            prune_backups: prune_backups(&b.retention),
            notification_mode: b.notification_mode.clone(),
            enabled: b.enabled,
            comment: b.comment.clone(),
        }
    }

    /// `pvesh create /cluster/backup --id …` with every field given explicitly.
    pub fn create_command(&self) -> String {
        let mut u = Update::default();
        u.set("id", &self.id);
        u.set("schedule", &self.schedule);
        u.set("storage", &self.storage);
        if self.all {
            u.set("all", "1");
            if !self.exclude.is_empty() {
                u.set("exclude", list(&self.exclude));
            }
        } else {
            u.set("vmid", list(&self.vmids));
        }
        u.set("mode", &self.mode);
        u.set("compress", &self.compress);
        if let Some(p) = &self.prune_backups {
            u.set("prune-backups", p.to_property_string());
        }
        u.set("notification-mode", &self.notification_mode);
        u.set("enabled", if self.enabled { "1" } else { "0" });
        if let Some(c) = &self.comment {
            u.set("comment", c);
        }
        format!("pvesh create /cluster/backup{}", u.args())
    }

    pub fn set_command(&self, update: &Update) -> String {
        format!("pvesh set /cluster/backup/{}{}", quote(&self.id), update.args())
    }
}

/// What has to happen to one job.
#[derive(Debug, Clone, PartialEq)]
pub enum BackupPlan {
    InState,
    Create,
    Update { changes: Vec<FieldChange>, update: Update },
}

/// Compare a job with its current definition (None = no such job).
pub fn plan(want: &BackupWant, have: Option<&BackupJob>) -> BackupPlan {
    let Some(have) = have else { return BackupPlan::Create };
    let mut changes = Vec::new();
    let mut u = Update::default();
    let string_field = |field: &str, got: Option<&str>, wanted: &str, changes: &mut Vec<FieldChange>, u: &mut Update| {
        if got != Some(wanted) {
            changes.push(FieldChange::new(field, show_opt(got), wanted));
            u.set(field, wanted);
        }
    };
    string_field("schedule", have.schedule.as_deref(), &want.schedule, &mut changes, &mut u);
    string_field("storage", have.storage.as_deref(), &want.storage, &mut changes, &mut u);

    // Selection: all (+ exclude) or a vmid list; pools are not used by the inventory.
    let have_vmids = parse_ids(have.vmid.as_deref());
    let have_exclude = parse_ids(have.exclude.as_deref()).unwrap_or_default();
    if want.all {
        if !have.all {
            changes.push(FieldChange::new("all", "0", "1"));
            u.set("all", "1"); // drops vmid and pool (pve-cli.md §6.1)
            if let Some(v) = &have.vmid {
                changes.push(FieldChange::new("vmid", v.as_str(), UNSET));
            }
        }
        if have_exclude != want.exclude || (have.exclude.is_some() && want.exclude.is_empty()) {
            changes.push(FieldChange::new("exclude", show_list(&have_exclude), show_list(&want.exclude)));
            if want.exclude.is_empty() {
                u.delete("exclude");
            } else {
                u.set("exclude", list(&want.exclude));
            }
        }
        if have.pool.is_some() && have.all {
            changes.push(FieldChange::new("pool", show_opt(have.pool.as_deref()), UNSET));
            u.delete("pool");
        }
    } else {
        let vmid_differs = have_vmids.as_deref() != Some(want.vmids.as_slice()) || have.all || have.pool.is_some();
        if vmid_differs {
            if have.all {
                changes.push(FieldChange::new("all", "1", "0"));
            }
            if let Some(p) = &have.pool {
                changes.push(FieldChange::new("pool", p.as_str(), UNSET));
            }
            if have_vmids.as_deref() != Some(want.vmids.as_slice()) {
                changes.push(FieldChange::new("vmid", show_opt(have.vmid.as_deref()), list(&want.vmids)));
            }
            u.set("vmid", list(&want.vmids)); // drops all, exclude and pool (pve-cli.md §6.1)
        } else if have.exclude.is_some() {
            changes.push(FieldChange::new("exclude", show_list(&have_exclude), UNSET));
            u.delete("exclude");
        }
    }

    string_field("mode", have.mode.as_deref(), &want.mode, &mut changes, &mut u);
    string_field("compress", have.compress.as_deref(), &want.compress, &mut changes, &mut u);
    if have.prune_backups != want.prune_backups {
        let show = |p: Option<&PruneBackups>| p.map(|p| p.to_property_string()).unwrap_or_else(|| UNSET.into());
        changes.push(FieldChange::new("prune-backups", show(have.prune_backups.as_ref()), show(want.prune_backups.as_ref())));
        match &want.prune_backups {
            Some(p) => u.set("prune-backups", p.to_property_string()),
            None => u.delete("prune-backups"),
        }
    }
    let have_nm = have.notification_mode.as_deref().unwrap_or(DEFAULT_NOTIFICATION_MODE);
    if have_nm != want.notification_mode {
        changes.push(FieldChange::new("notification-mode", have_nm, want.notification_mode.as_str()));
        u.set("notification-mode", &want.notification_mode);
    }
    if have.enabled != want.enabled {
        let b = |v: bool| if v { "1" } else { "0" };
        changes.push(FieldChange::new("enabled", b(have.enabled), b(want.enabled)));
        u.set("enabled", b(want.enabled));
    }
    if have.comment != want.comment {
        changes.push(FieldChange::new("comment", show_opt(have.comment.as_deref()), show_opt(want.comment.as_deref())));
        match &want.comment {
            Some(c) => u.set("comment", c),
            None => u.delete("comment"),
        }
    }
    if let Some(n) = &have.node {
        // A node-restricted job would skip the guests of every other node.
        changes.push(FieldChange::new("node", n.as_str(), "(all nodes)"));
        u.delete("node");
    }

    if changes.is_empty() {
        BackupPlan::InState
    } else {
        BackupPlan::Update { changes, update: u }
    }
}

/// Parse the `/cluster/backup` probe.
pub fn parse_listing(observed: &Observed) -> Result<Vec<BackupJob>> {
    let json = probes::pvesh_output(observed, "pvesh get /cluster/backup")?;
    Ok(parse_cluster_backup(json)?)
}

/// One backup job, managed on the master (cluster-wide).
#[derive(Debug)]
pub struct BackupJobResource {
    pub want: BackupWant,
    plan: Memo<BackupPlan>,
}

impl BackupJobResource {
    pub fn new(want: BackupWant) -> Self {
        BackupJobResource { want, plan: Memo::new() }
    }

    pub fn plan_for(&self, observed: &Observed) -> Result<BackupPlan> {
        let jobs = parse_listing(observed)?;
        Ok(plan(&self.want, jobs.iter().find(|j| j.id == self.want.id)))
    }
}

impl Resource for BackupJobResource {
    fn id(&self) -> String {
        format!("backup {}", self.want.id)
    }

    fn probe(&self) -> String {
        probes::BACKUP.to_string()
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        let plan = self.plan_for(observed)?;
        self.plan.put(plan.clone());
        Ok(match plan {
            BackupPlan::InState => Status::InState,
            BackupPlan::Create => Status::change_with_diff(
                format!("create (schedule {}, storage {})", self.want.schedule, self.want.storage),
                Some(format!("$ {}", self.want.create_command())),
            ),
            BackupPlan::Update { changes, update } => {
                Status::change_with_diff(diff::summary(&changes), Some(format!("$ {}", self.want.set_command(&update))))
            }
        })
    }

    fn apply(&self, session: &Session) -> Result<()> {
        let plan = match self.plan.get() {
            Some(p) => p,
            None => self.plan_for(&probes::run_one(session, probes::BACKUP)?)?,
        };
        let cmd = match &plan {
            BackupPlan::InState => return Ok(()),
            BackupPlan::Create => self.want.create_command(),
            BackupPlan::Update { update, .. } => self.want.set_command(update),
        };
        let out = session.exec_root(&cmd, None)?;
        session.check(&self.id(), out).map(drop).with_context(|| format!("`{cmd}` failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::inventory::Retention;
    use common::parsers::pvesh::backup::parse_cluster_backup_entry;

    fn want() -> BackupWant {
        BackupWant::from_inventory(&InvBackup {
            id: "weekly-all".into(),
            storage: "nas-backup".into(),
            schedule: "sun 02:00".into(),
            all: true,
            vmids: vec![],
            exclude: vec![],
            mode: "snapshot".into(),
            compress: "zstd".into(),
            retention: Retention { keep_last: Some(4), ..Default::default() },
            notification_mode: "auto".into(),
            enabled: true,
            comment: None,
        })
    }

    // The shape `pvesh get /cluster/backup` returns for the job create_command() makes
    // (pve-cli.md §6.3: keys sorted, prune-backups as an object, next-run in the list call).
    const WEEKLY: &str = r#"{"all":1,"compress":"zstd","enabled":1,"id":"weekly-all","mode":"snapshot","next-run":1756609200,"notification-mode":"auto","prune-backups":{"keep-last":"4"},"schedule":"sun 02:00","storage":"nas-backup","type":"vzdump"}"#;

    fn have(json: &str) -> BackupJob {
        parse_cluster_backup_entry(json).unwrap()
    }

    #[test]
    fn create_gives_every_field() {
        let w = want();
        assert_eq!(plan(&w, None), BackupPlan::Create);
        assert_eq!(
            w.create_command(),
            "pvesh create /cluster/backup --id weekly-all --schedule 'sun 02:00' --storage nas-backup --all 1 --mode snapshot \
             --compress zstd --prune-backups keep-last=4 --notification-mode auto --enabled 1"
        );
    }

    #[test]
    fn matching_job_is_in_state_with_numbers_or_strings() {
        assert_eq!(plan(&want(), Some(&have(WEEKLY))), BackupPlan::InState);
        let numbers = WEEKLY.replace(r#"{"keep-last":"4"}"#, r#"{"keep-last":4}"#).replace(r#""all":1"#, r#""all":"1""#);
        assert_eq!(plan(&want(), Some(&have(&numbers))), BackupPlan::InState);
        // notification-mode unset = auto
        let unset = WEEKLY.replace(r#""notification-mode":"auto","#, "");
        assert_eq!(plan(&want(), Some(&have(&unset))), BackupPlan::InState);
    }

    #[test]
    fn changed_schedule_and_retention_are_set_field_by_field() {
        let h = have(&WEEKLY.replace("sun 02:00", "sun 03:00").replace(r#""keep-last":"4""#, r#""keep-last":"2","keep-weekly":"1""#));
        let BackupPlan::Update { changes, update } = plan(&want(), Some(&h)) else { panic!() };
        assert_eq!(diff::summary(&changes), "schedule sun 03:00 → sun 02:00; prune-backups keep-last=2,keep-weekly=1 → keep-last=4");
        assert_eq!(
            want().set_command(&update),
            "pvesh set /cluster/backup/weekly-all --schedule 'sun 02:00' --prune-backups keep-last=4"
        );
    }

    #[test]
    fn extra_fields_are_deleted_and_flags_reset() {
        let h = have(r#"{"all":1,"comment":"by hand","compress":"lzo","enabled":0,"exclude":"101","id":"weekly-all","mode":"stop","node":"pve-node1","schedule":"sun 02:00","storage":"nas-backup","type":"vzdump"}"#);
        let BackupPlan::Update { changes, update } = plan(&want(), Some(&h)) else { panic!() };
        assert_eq!(
            diff::summary(&changes),
            "exclude 101 → (unset); mode stop → snapshot; compress lzo → zstd; prune-backups (unset) → keep-last=4; \
             enabled 0 → 1; comment by hand → (unset); node pve-node1 → (all nodes)"
        );
        assert_eq!(
            update.args(),
            " --mode snapshot --compress zstd --prune-backups keep-last=4 --enabled 1 --delete exclude,comment,node"
        );
    }

    #[test]
    fn selection_switches_use_pves_replacement_rules() {
        // vmid list wanted, job backs up all: --vmid drops all/exclude.
        let mut w = want();
        w.all = false;
        w.vmids = vec![101, 100];
        w.vmids.sort();
        let h = have(&WEEKLY.replace(r#""all":1,"#, r#""all":1,"exclude":"102","#));
        let BackupPlan::Update { changes, update } = plan(&w, Some(&h)) else { panic!() };
        assert_eq!(diff::summary(&changes), "all 1 → 0; vmid (unset) → 100,101");
        assert_eq!(update.args(), " --vmid 100,101");
        // same vmids in another order: in state
        let h = have(&WEEKLY.replace(r#""all":1,"#, r#""vmid":"101,100","#));
        assert_eq!(plan(&w, Some(&h)), BackupPlan::InState);
        // all wanted, job has a vmid list
        let BackupPlan::Update { changes, update } = plan(&want(), Some(&h)) else { panic!() };
        assert_eq!(diff::summary(&changes), "all 0 → 1; vmid 101,100 → (unset)");
        assert_eq!(update.args(), " --all 1");
        // exclude list wanted
        let mut w = want();
        w.exclude = vec![900];
        let BackupPlan::Update { update, .. } = plan(&w, Some(&have(WEEKLY))) else { panic!() };
        assert_eq!(update.args(), " --exclude 900");
    }

    #[test]
    fn resource_finds_its_job_in_the_listing() {
        let r = BackupJobResource::new(want());
        let listing = format!("[{}]\n", WEEKLY.replace("sun 02:00", "sun 03:00"));
        let Status::Change { summary, diff } = r.evaluate(&Observed::new(&listing, 0)).unwrap() else { panic!() };
        assert_eq!(summary, "schedule sun 03:00 → sun 02:00");
        assert_eq!(diff.unwrap(), "$ pvesh set /cluster/backup/weekly-all --schedule 'sun 02:00'");
        let Status::Change { summary, .. } = r.evaluate(&Observed::new("[]\n", 0)).unwrap() else { panic!() };
        assert_eq!(summary, "create (schedule sun 02:00, storage nas-backup)");
    }
}
