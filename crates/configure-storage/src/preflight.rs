//! Everything that must hold before this phase changes anything — checked on the one
//! observation, so a refusal leaves the cluster exactly as it was:
//!
//! * the master is in a cluster, and the cluster is quorate (without quorum `/etc/pve` is
//!   read-only and every `pvesm`/`pvesr`/`pvesh` write fails half-way);
//! * every NFS server answers `pvesm scan nfs` and offers the inventory's exports;
//! * storages whose fixed fields differ are only recreated with `--recreate`;
//! * replication jobs to create have a member target, their guest on the source node and
//!   every disk on zfspool storage active on both nodes; jobs PVE cannot update are named;
//! * backup jobs point at a storage that exists (or is about to be added).

use crate::desired::Desired;
use crate::facts::ClusterFacts;
use crate::nfs::{self, NfsPlan, NfsStorageResource};
use crate::replication::{self, create_preconditions, ReplicationJobResource, ReplicationPlan};
use common::parsers::pvesh::storage::NodeStorage;
use std::collections::BTreeMap;

/// The cluster must exist and be quorate.
pub fn quorum(master: &str, facts: &ClusterFacts) -> Option<String> {
    let Some(c) = &facts.status.cluster else {
        return Some(format!("{master} is not part of a cluster; run form-cluster first"));
    };
    if c.quorate {
        return None;
    }
    let online: Vec<&str> = facts.status.online_nodes().map(|n| n.name.as_str()).collect();
    Some(format!(
        "cluster {} has no quorum (seen from {master}; nodes online: {}): the cluster filesystem is read-only without quorum, \
         so storages and jobs cannot be changed. Bring the other node or the QDevice back (`pvecm status` shows the votes)",
        c.name,
        if online.is_empty() { "none".to_string() } else { online.join(", ") }
    ))
}

/// NFS servers reachable and exporting what the inventory mounts.
pub fn nfs_servers(d: &Desired, facts: &ClusterFacts) -> Vec<String> {
    let mut errors = Vec::new();
    for server in d.nfs_servers() {
        let users: Vec<&nfs::NfsWant> = d.nfs.iter().filter(|s| s.server == server).collect();
        let ids: Vec<&str> = users.iter().map(|s| s.id.as_str()).collect();
        match facts.scans.get(&server) {
            None => errors.push(format!("NFS server {server} was not scanned (internal)")),
            Some(Err(why)) => errors.push(format!(
                "NFS server {server} (storage {}) is unreachable from {}: `pvesm scan nfs {server}` failed: {}",
                ids.join(", "),
                d.master,
                why.replace('\n', " / ")
            )),
            Some(Ok(exports)) => {
                for s in users.iter().filter(|s| !exports.contains(&s.export)) {
                    let offered = if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") };
                    errors.push(format!(
                        "NFS server {server} does not export {} (storage {}); it exports: {offered}",
                        s.export, s.id
                    ));
                }
            }
        }
    }
    errors
}

/// Storages that need a remove + add without `--recreate`.
pub fn storages(d: &Desired, facts: &ClusterFacts) -> Vec<String> {
    if d.opts.recreate {
        return Vec::new();
    }
    d.nfs
        .iter()
        .filter_map(|w| match nfs::plan(w, nfs::find(&facts.storages, &w.id)) {
            NfsPlan::Recreate { fixed, .. } => Some(NfsStorageResource::new(w.clone(), false).recreate_refusal(&fixed)),
            _ => None,
        })
        .collect()
}

/// Replication jobs: what creating them needs, and what PVE cannot update.
pub fn replication(d: &Desired, facts: &ClusterFacts, node_storage: &BTreeMap<String, Vec<NodeStorage>>) -> Vec<String> {
    let mut errors = Vec::new();
    for w in &d.replication {
        let have = facts.replication.iter().find(|j| j.id == w.id);
        let plan = replication::plan(w, have);
        match plan {
            ReplicationPlan::Create => errors.extend(create_preconditions(w, facts, node_storage, d.opts.create_test_guest)),
            ReplicationPlan::TargetDiffers { .. } | ReplicationPlan::BeingRemoved { .. } => {
                errors.extend(ReplicationJobResource::new(w.clone()).refusal(&plan))
            }
            _ => {}
        }
    }
    errors
}

/// Backup jobs must point at a storage the cluster has (or gets in this run).
pub fn backups(d: &Desired, facts: &ClusterFacts) -> Vec<String> {
    d.backup
        .iter()
        .filter(|b| !facts.storages.iter().any(|s| s.storage == b.storage) && !d.nfs.iter().any(|s| s.id == b.storage))
        .map(|b| {
            let known: Vec<&str> = facts.storages.iter().map(|s| s.storage.as_str()).collect();
            format!(
                "backup {}: storage {} does not exist in the cluster (storages: {}); declare it under [[storage.nfs]] or choose another",
                b.id,
                b.storage,
                known.join(", ")
            )
        })
        .collect()
}

/// All checks; an empty list means go.
pub fn check(d: &Desired, facts: &ClusterFacts, node_storage: &BTreeMap<String, Vec<NodeStorage>>) -> Vec<String> {
    if let Some(q) = quorum(&d.master, facts) {
        // Nothing else matters (and most of it cannot be judged) without quorum.
        return vec![q];
    }
    let mut errors = nfs_servers(d, facts);
    errors.extend(storages(d, facts));
    errors.extend(replication(d, facts, node_storage));
    errors.extend(backups(d, facts));
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{Desired, Options};
    use crate::replication::ManagedRecord;
    use common::inventory::parse_str;
    use common::parsers::pvesh::cluster::parse_cluster_status;
    use common::parsers::pvesh::storage::parse_storage_config;
    use std::path::Path;

    fn desired(opts: Options) -> Desired {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lab-homelab.toml")).unwrap();
        let inv = parse_str(&text, Path::new("lab-homelab.toml")).unwrap_or_else(|e| panic!("{e}")).inv;
        Desired::new(&inv, opts)
    }

    const QUORATE: &str = r#"[{"id":"cluster","name":"homelab","nodes":2,"quorate":1,"type":"cluster","version":3},{"id":"node/pve-node1","ip":"10.231.10.11","level":"","local":1,"name":"pve-node1","nodeid":1,"online":1,"type":"node"},{"id":"node/pve-node2","ip":"10.231.10.12","level":"","local":0,"name":"pve-node2","nodeid":2,"online":1,"type":"node"}]"#;
    const STORAGES: &str = r#"[{"content":"iso,vztmpl,backup","digest":"x","path":"/var/lib/vz","storage":"local","type":"dir"},{"content":"images,rootdir","digest":"x","pool":"rpool/data","sparse":1,"storage":"local-zfs","type":"zfspool"}]"#;

    fn facts(status: &str, exports: Result<Vec<&str>, &str>) -> ClusterFacts {
        ClusterFacts {
            status: parse_cluster_status(status).unwrap(),
            storages: parse_storage_config(STORAGES).unwrap(),
            guests: BTreeMap::new(),
            scans: [("10.231.1.25".to_string(), exports.map(|v| v.iter().map(|s| s.to_string()).collect()).map_err(str::to_string))].into(),
            replication: Vec::new(),
            record: ManagedRecord::default(),
        }
    }

    const ALL: [&str; 3] = ["/volume1/backups/proxmox", "/volume1/homelab-shared", "/volume1/homelab-data"];

    #[test]
    fn fresh_cluster_with_test_guest_passes() {
        let d = desired(Options { create_test_guest: true, ..Default::default() });
        assert_eq!(check(&d, &facts(QUORATE, Ok(ALL.to_vec())), &BTreeMap::new()), Vec::<String>::new());
    }

    #[test]
    fn no_quorum_stops_everything_with_the_reason() {
        let d = desired(Options::default());
        let inquorate = QUORATE.replace(r#""quorate":1"#, r#""quorate":0"#).replace(r#""local":0,"name":"pve-node2","nodeid":2,"online":1"#, r#""local":0,"name":"pve-node2","nodeid":2,"online":0"#);
        let e = check(&d, &facts(&inquorate, Err("unreachable")), &BTreeMap::new());
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("the cluster filesystem is read-only without quorum"), "{}", e[0]);
        assert!(e[0].contains("nodes online: pve-node1"), "{}", e[0]);
        let standalone = r#"[{"id":"node/pve-node1","ip":"10.231.10.11","level":"","local":1,"name":"pve-node1","nodeid":0,"online":1,"type":"node"}]"#;
        let e = check(&d, &facts(standalone, Ok(ALL.to_vec())), &BTreeMap::new());
        assert_eq!(e, ["pve-node1 is not part of a cluster; run form-cluster first"]);
    }

    #[test]
    fn nfs_server_problems_name_server_and_storage() {
        let d = desired(Options { create_test_guest: true, ..Default::default() });
        let e = check(&d, &facts(QUORATE, Err("rpc mount export: RPC: Unable to receive")), &BTreeMap::new());
        assert_eq!(
            e,
            ["NFS server 10.231.1.25 (storage nas-backup, nas-shared, nas-data) is unreachable from pve-node1: \
              `pvesm scan nfs 10.231.1.25` failed: rpc mount export: RPC: Unable to receive"]
        );
        let e = check(&d, &facts(QUORATE, Ok(vec!["/volume1/backups/proxmox"])), &BTreeMap::new());
        assert_eq!(e.len(), 2);
        assert_eq!(e[0], "NFS server 10.231.1.25 does not export /volume1/homelab-shared (storage nas-shared); it exports: /volume1/backups/proxmox");
    }

    #[test]
    fn replication_and_backup_problems_are_found_before_changes() {
        let d = desired(Options::default());
        let e = check(&d, &facts(QUORATE, Ok(ALL.to_vec())), &BTreeMap::new());
        assert_eq!(e, ["replication 900-0: guest 900 does not exist; run with --create-test-guest to create it"]);
        let mut d2 = desired(Options { create_test_guest: true, ..Default::default() });
        d2.backup[0].storage = "nas-gone".into();
        let e = check(&d2, &facts(QUORATE, Ok(ALL.to_vec())), &BTreeMap::new());
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("backup weekly-all: storage nas-gone does not exist in the cluster (storages: local, local-zfs)"), "{}", e[0]);
    }

    #[test]
    fn fixed_field_changes_need_recreate() {
        let mut f = facts(QUORATE, Ok(ALL.to_vec()));
        f.storages.extend(parse_storage_config(r#"[{"content":"images,rootdir","export":"/volume1/old","path":"/mnt/pve/nas-data","server":"10.231.1.25","storage":"nas-data","type":"nfs"}]"#).unwrap());
        let d = desired(Options { create_test_guest: true, ..Default::default() });
        let e = check(&d, &f, &BTreeMap::new());
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("storage nas-data: export /volume1/old → /volume1/homelab-data cannot be changed in place"), "{}", e[0]);
        let d = desired(Options { create_test_guest: true, recreate: true });
        assert!(check(&d, &f, &BTreeMap::new()).is_empty());
    }
}
