//! configure-storage: storages, replication and backup jobs.
//!
//! Cluster-wide objects live in the cluster filesystem, so they are observed on the master
//! only (inside its one observation). What this module adds on top of the phase's desired
//! resources is the **unmanaged** side, which no phase declares: a storage, a backup job or a
//! replication job that exists in the cluster but not in the inventory. The listings are the
//! same `pvesh get` snippets the phase's resources use, so the batch runs each once.
//!
//! Storages the installer creates (`local`, `local-lvm`, `local-zfs`, `local-btrfs`) are part
//! of every node and never unmanaged.

use super::{Context, CONFIGURE_STORAGE};
use crate::batch::HostObservation;
use crate::model::{Bucket, DriftItem, HostResult};
use common::access::{HostKind, HostSpec};
use common::engine::Observed;
use common::inventory::Inventory;
use common::parsers::pvesh::backup::parse_cluster_backup;
use common::parsers::pvesh::replication::parse_cluster_replication;
use common::parsers::pvesh::storage::parse_storage_config;
use std::collections::{BTreeMap, BTreeSet};

/// Storage definitions, cluster-wide (pve-cli.md §4.4); same text as configure-storage's probe.
pub const STORAGE_LIST: &str = "pvesh get /storage --output-format json\n";
/// Backup jobs (pve-cli.md §6.3).
pub const BACKUP_LIST: &str = "pvesh get /cluster/backup --output-format json\n";
/// Replication jobs (pve-cli.md §5.2).
pub const REPLICATION_LIST: &str = "pvesh get /cluster/replication --output-format json\n";

const KEY_STORAGE: &str = "drift storage-list";
const KEY_BACKUP: &str = "drift backup-list";
const KEY_REPLICATION: &str = "drift replication-list";

/// Storages every Proxmox install has.
pub const INSTALLER_STORAGES: [&str; 4] = ["local", "local-lvm", "local-zfs", "local-btrfs"];

/// What the inventory declares, by id.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub storages: BTreeSet<String>,
    pub backups: BTreeSet<String>,
    pub replications: BTreeSet<String>,
}

impl Plan {
    pub fn new(inv: &Inventory) -> Self {
        Plan {
            storages: inv.storage.nfs.iter().map(|s| s.id.clone()).collect(),
            backups: inv.backup.iter().map(|b| b.id.clone()).collect(),
            replications: inv.replication.iter().map(|r| format!("{}-{}", r.guest, r.job)).collect(),
        }
    }
}

pub fn probes(ctx: &Context, host: &HostSpec) -> Vec<(String, String)> {
    let mut p = Vec::new();
    if ctx.is_master(&host.name) {
        p.push((KEY_STORAGE.to_string(), STORAGE_LIST.to_string()));
        p.push((KEY_BACKUP.to_string(), BACKUP_LIST.to_string()));
        p.push((KEY_REPLICATION.to_string(), REPLICATION_LIST.to_string()));
    }
    p
}

/// The JSON a `pvesh get` printed, or why not.
fn json<'a>(o: Option<&'a Observed>, what: &str) -> Result<&'a str, String> {
    let o = o.ok_or_else(|| format!("{what} was not observed"))?;
    if o.status != 0 {
        let err = [o.stderr.trim(), o.stdout.trim()].into_iter().find(|s| !s.is_empty()).unwrap_or("no output");
        return Err(format!("`{}` failed (exit {}): {}", what, o.status, err.lines().last().unwrap_or(err)));
    }
    Ok(&o.stdout)
}

/// Cluster objects present but not declared. `Err` lists what could not be read.
pub fn unmanaged(plan: &Plan, o: &std::collections::HashMap<String, Observed>) -> (Vec<DriftItem>, Vec<String>) {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let item = |res: String, s: String| DriftItem::new(Bucket::Unmanaged, CONFIGURE_STORAGE, res, s);
    match json(o.get(KEY_STORAGE), STORAGE_LIST.trim()).and_then(|j| parse_storage_config(j).map_err(|e| format!("{e:#}"))) {
        Ok(list) => {
            for s in list.iter().filter(|s| !plan.storages.contains(&s.storage) && !INSTALLER_STORAGES.contains(&s.storage.as_str())) {
                let mut what = s.storage_type.clone();
                if let (Some(srv), Some(exp)) = (&s.server, &s.export) {
                    what.push_str(&format!(" {srv}:{exp}"));
                } else if let Some(p) = &s.path {
                    what.push_str(&format!(" at {p}"));
                }
                items.push(item(format!("storage {}", s.storage), format!("{what}, not in the inventory ([[storage.nfs]])")));
            }
        }
        Err(e) => errors.push(format!("{CONFIGURE_STORAGE}: listing storages: {e}")),
    }
    match json(o.get(KEY_BACKUP), BACKUP_LIST.trim()).and_then(|j| parse_cluster_backup(j).map_err(|e| format!("{e:#}"))) {
        Ok(list) => {
            for b in list.iter().filter(|b| !plan.backups.contains(&b.id)) {
                let sel = if b.all { "all guests".to_string() } else { format!("guests {}", b.vmid.as_deref().unwrap_or("?")) };
                items.push(item(
                    format!("backup {}", b.id),
                    format!(
                        "schedule {}, storage {}, {sel}, not in the inventory ([[backup]])",
                        b.schedule.as_deref().unwrap_or("?"),
                        b.storage.as_deref().unwrap_or("?")
                    ),
                ));
            }
        }
        Err(e) => errors.push(format!("{CONFIGURE_STORAGE}: listing backup jobs: {e}")),
    }
    match json(o.get(KEY_REPLICATION), REPLICATION_LIST.trim())
        .and_then(|j| parse_cluster_replication(j).map_err(|e| format!("{e:#}")))
    {
        Ok(list) => {
            for j in list.iter().filter(|j| !plan.replications.contains(&j.id)) {
                items.push(item(
                    format!("replication {}", j.id),
                    format!("→ {}, schedule {}, not in the inventory ([[replication]])", j.target, j.effective_schedule()),
                ));
            }
        }
        Err(e) => errors.push(format!("{CONFIGURE_STORAGE}: listing replication jobs: {e}")),
    }
    (items, errors)
}

pub fn evaluate(ctx: &Context, observed: &BTreeMap<String, HostObservation>, results: &mut BTreeMap<String, &mut HostResult>) {
    let master = ctx.loaded.inv.master().name.clone();
    for host in ctx.hosts.iter().filter(|h| h.kind == HostKind::Node && h.name == master) {
        let (Some(obs), Some(r)) = (observed.get(&host.name), results.get_mut(&host.name)) else { continue };
        let (items, errors) = unmanaged(&ctx.storage, obs.phase(CONFIGURE_STORAGE));
        r.drift.extend(items);
        r.errors.extend(errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn plan() -> Plan {
        Plan {
            storages: ["nas-backup".to_string()].into(),
            backups: ["weekly-all".to_string()].into(),
            replications: ["900-0".to_string()].into(),
        }
    }

    #[test]
    fn undeclared_cluster_objects_are_unmanaged() {
        let o: HashMap<String, Observed> = [
            (
                KEY_STORAGE,
                r#"[{"storage":"local","type":"dir","path":"/var/lib/vz","content":"iso"},
                    {"storage":"local-zfs","type":"zfspool","pool":"rpool/data","content":"images"},
                    {"storage":"nas-backup","type":"nfs","server":"10.231.1.25","export":"/b","content":"backup"},
                    {"storage":"stray","type":"nfs","server":"10.231.1.25","export":"/s","content":"iso"}]"#,
            ),
            (
                KEY_BACKUP,
                r#"[{"id":"weekly-all","schedule":"sun 02:00","storage":"nas-backup","all":1,"enabled":1,"type":"vzdump"},
                    {"id":"backup-4b2c1f3e-7a1d","schedule":"daily","storage":"local","vmid":"100","enabled":1,"type":"vzdump"}]"#,
            ),
            (KEY_REPLICATION, r#"[{"id":"900-0","target":"pve-node2","guest":900,"jobnum":0,"type":"local","schedule":"*/5"},{"id":"900-1","target":"pve-node2","guest":900,"jobnum":1,"type":"local"}]"#),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Observed::new(v, 0)))
        .collect();
        let (items, errors) = unmanaged(&plan(), &o);
        assert!(errors.is_empty(), "{errors:?}");
        let got: Vec<(&str, &str)> = items.iter().map(|i| (i.resource.as_str(), i.summary.as_str())).collect();
        assert_eq!(
            got,
            [
                ("storage stray", "nfs 10.231.1.25:/s, not in the inventory ([[storage.nfs]])"),
                ("backup backup-4b2c1f3e-7a1d", "schedule daily, storage local, guests 100, not in the inventory ([[backup]])"),
                ("replication 900-1", "→ pve-node2, schedule */15, not in the inventory ([[replication]])"),
            ]
        );
        assert!(items.iter().all(|i| i.bucket == Bucket::Unmanaged));
    }

    #[test]
    fn a_failing_listing_is_a_could_not_check_error() {
        let mut o = HashMap::new();
        let mut bad = Observed::new("", 255);
        bad.stderr = "ipcc_send_rec[1] failed: Connection refused\n".into();
        o.insert(KEY_STORAGE.to_string(), bad);
        let (items, errors) = unmanaged(&plan(), &o);
        assert!(items.is_empty());
        assert_eq!(errors.len(), 3);
        assert!(errors[0].contains("ipcc_send_rec[1] failed"), "{errors:?}");
        assert!(errors[1].contains("was not observed"), "{errors:?}");
    }
}
