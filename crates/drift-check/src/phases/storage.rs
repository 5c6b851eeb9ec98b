//! configure-storage: NFS storages, shared directories, replication and backup jobs (cluster
//! objects, observed on the master), ZFS properties and memory monitoring (every node).
//!
//! Reused from the configure-storage library: [`Desired`] (`cluster_resources`,
//! `node_resources`), its facts ([`facts::cluster_probes`], [`facts::node_probes`],
//! [`ClusterFacts`], [`NodeFacts`]) and its health checks ([`health::storage_activity`],
//! [`health::replication_health`], the NFS-server part of [`preflight`]).
//!
//! What this module adds is the **unmanaged** side, which no phase declares: a storage, a
//! backup job or a replication job that exists in the cluster but not in the inventory. The
//! listings are the phase's own snippets (`pvesh get /storage`, `/cluster/backup`) and its
//! parsed replication facts, so nothing is run twice.
//!
//! Storages the installer creates (`local`, `local-lvm`, `local-zfs`, `local-btrfs`) are part
//! of every node and never unmanaged.

use super::{Context, CONFIGURE_STORAGE};
use crate::batch::HostObservation;
use crate::classify::{self, Refine};
use crate::model::{Bucket, DriftItem, HostResult, Level};
use common::access::{HostKind, HostSpec};
use common::engine::{Observed, Resource};
use common::inventory::Inventory;
use common::parsers::pvesh::backup::parse_cluster_backup;
use common::parsers::pvesh::replication::ReplicationJob;
use common::parsers::pvesh::storage::parse_storage_config;
use configure_storage::facts::{self, ClusterFacts, NodeFacts};
use configure_storage::nfs::{self, NfsPlan};
use configure_storage::{health, preflight, probes as cs_probes, Desired};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Storage definitions, cluster-wide (pve-cli.md §4.4): the phase's own snippet.
pub const STORAGE_LIST: &str = cs_probes::STORAGE;
/// Backup jobs (pve-cli.md §6.3): the phase's own snippet.
pub const BACKUP_LIST: &str = cs_probes::BACKUP;

const KEY_STORAGE: &str = "drift storage-list";
const KEY_BACKUP: &str = "drift backup-list";

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

/// The phase's desired state (what `configure-storage --check` evaluates).
pub fn desired(inv: &Inventory) -> Desired {
    Desired::new(inv, configure_storage::Options::default())
}

/// Cluster-wide resources (master only), then the node's own.
fn resources(ctx: &Context, d: &Desired, host: &str, cluster: Option<&ClusterFacts>) -> Vec<Box<dyn Resource>> {
    let mut v = if ctx.is_master(host) { d.cluster_resources() } else { Vec::new() };
    v.extend(d.node_resources(host, cluster));
    v
}

pub fn probes(ctx: &Context, host: &HostSpec) -> Vec<(String, String)> {
    let d = desired(&ctx.loaded.inv);
    let mut p = Vec::new();
    if ctx.is_master(&host.name) {
        p.extend(facts::cluster_probes(&d));
        p.push((KEY_STORAGE.to_string(), STORAGE_LIST.to_string()));
        p.push((KEY_BACKUP.to_string(), BACKUP_LIST.to_string()));
    }
    p.extend(facts::node_probes(&d, &host.name));
    p.extend(resources(ctx, &d, &host.name, None).iter().map(|r| (r.id(), r.probe())));
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

/// Cluster objects present but not declared (`replication`: the jobs as the phase's facts read
/// them, when they could be read). Errors name what could not be listed.
pub fn unmanaged(plan: &Plan, o: &HashMap<String, Observed>, replication: Option<&[ReplicationJob]>) -> (Vec<DriftItem>, Vec<String>) {
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
    for j in replication.unwrap_or_default().iter().filter(|j| !plan.replications.contains(&j.id)) {
        items.push(item(
            format!("replication {}", j.id),
            format!("→ {}, schedule {}, not in the inventory ([[replication]])", j.target, j.effective_schedule()),
        ));
    }
    (items, errors)
}

/// Is the storage defined the way the inventory wants (so its activity can be judged)?
fn settled(d: &Desired, cluster: &ClusterFacts, id: &str) -> bool {
    d.nfs.iter().find(|w| w.id == id).is_some_and(|w| {
        !matches!(nfs::plan(w, nfs::find(&cluster.storages, id)), NfsPlan::Add | NfsPlan::Recreate { .. })
    })
}

pub fn evaluate(ctx: &Context, observed: &BTreeMap<String, HostObservation>, results: &mut BTreeMap<String, &mut HostResult>) {
    let d = desired(&ctx.loaded.inv);
    let master = d.master.clone();
    // The cluster's state, read on the master: everything cluster-wide depends on it.
    let cluster: Option<ClusterFacts> = match (observed.get(&master), results.get_mut(&master)) {
        (Some(o), Some(r)) => match ClusterFacts::parse(&d, o.phase(CONFIGURE_STORAGE)) {
            Ok(c) => Some(c),
            Err(e) => {
                r.errors.push(format!("{CONFIGURE_STORAGE}: reading the cluster state on {master}: {e:#}"));
                None
            }
        },
        _ => None,
    };
    if cluster.is_none() && ctx.hosts.iter().any(|h| h.name != master && h.kind == HostKind::Node) && !observed.contains_key(&master) {
        for h in ctx.hosts.iter().filter(|h| h.kind == HostKind::Node && h.name != master) {
            if let Some(r) = results.get_mut(&h.name) {
                r.notes.push(format!("cluster-wide storages and jobs not checked: they are read on the master {master}"));
            }
        }
    }

    for host in ctx.hosts.iter().filter(|h| h.kind == HostKind::Node) {
        let (Some(obs), Some(r)) = (observed.get(&host.name), results.get_mut(&host.name)) else { continue };
        let o = obs.phase(CONFIGURE_STORAGE);
        let is_master = host.name == master;
        if is_master && cluster.is_none() {
            // Node resources only: the cluster-wide ones cannot be judged without the facts.
            let rs = d.node_resources(&host.name, None);
            let (items, errors) = classify::evaluate(CONFIGURE_STORAGE, &rs, o, &Refine::default());
            r.drift.extend(items);
            r.errors.extend(errors);
            continue;
        }
        let rs = resources(ctx, &d, &host.name, cluster.as_ref());
        let (items, errors) = classify::evaluate(CONFIGURE_STORAGE, &rs, o, &Refine::default());
        r.drift.extend(items);
        r.errors.extend(errors);
        if is_master {
            let (items, errors) = unmanaged(&ctx.storage, o, cluster.as_ref().map(|c| c.replication.as_slice()));
            r.drift.extend(items);
            r.errors.extend(errors);
            if let Some(c) = &cluster {
                for p in preflight::nfs_servers(&d, c) {
                    r.health.push("nfs server", Level::Failed, p);
                }
            }
        }

        // Health: storages active where they apply; replication jobs syncing.
        let f = NodeFacts::parse(o);
        for a in health::storage_activity(&d, &host.name, &f.storage) {
            if !cluster.as_ref().is_some_and(|c| settled(&d, c, &a.storage)) {
                continue; // missing or to be recreated: reported as drift
            }
            let id = a.id();
            match a.result {
                Ok(()) => r.health.push(id, Level::Ok, "active"),
                Err(why) => {
                    r.health.storages_inactive.push(a.storage.clone());
                    r.health.push(id, Level::Failed, why);
                }
            }
        }
        for (id, h) in health::replication_health(&d, &host.name, &f) {
            if !cluster.as_ref().is_some_and(|c| c.replication.iter().any(|j| j.id == id)) {
                continue; // not configured: reported as missing
            }
            let check = format!("replication {id}");
            let text = h.text.strip_prefix(&format!("{check} ")).or_else(|| h.text.strip_prefix(&format!("{check}: "))).unwrap_or(&h.text).to_string();
            if h.healthy {
                r.health.push(check, Level::Ok, text);
            } else {
                r.health.replication_failures += 1;
                r.health.push(check, Level::Degraded, text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Observed::new(v, 0)))
        .collect();
        let jobs = common::parsers::pvesh::replication::parse_cluster_replication(
            r#"[{"id":"900-0","target":"pve-node2","guest":900,"jobnum":0,"type":"local","schedule":"*/5"},{"id":"900-1","target":"pve-node2","guest":900,"jobnum":1,"type":"local"}]"#,
        )
        .unwrap();
        let (items, errors) = unmanaged(&plan(), &o, Some(&jobs));
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
        let (items, errors) = unmanaged(&plan(), &o, None);
        assert!(items.is_empty());
        assert_eq!(errors.len(), 2);
        assert!(errors[0].contains("ipcc_send_rec[1] failed"), "{errors:?}");
        assert!(errors[1].contains("was not observed"), "{errors:?}");
    }
}
