//! The desired state of this phase for an inventory, as engine resources: what drift-check
//! reuses instead of re-describing storages and jobs.
//!
//! * [`Desired::cluster_resources`] — cluster-wide objects, observed and changed on the master
//!   in this order: NFS storages → their content directories → replication jobs → removal of
//!   jobs this tool created and the inventory dropped → backup jobs.
//! * [`Desired::node_resources`] — per node: ZFS dataset properties (ZFS-installed nodes),
//!   memory monitoring, and with `--create-test-guest` the test guest on its source node.

use crate::backup::{BackupJobResource, BackupWant};
use crate::facts::ClusterFacts;
use crate::monitoring;
use crate::nfs::{NfsStorageResource, NfsWant, SharedDirs};
use crate::replication::{test_guest_storage, ReplicationCleanup, ReplicationJobResource, ReplicationWant, TestGuest};
use crate::zfs::ZfsProperties;
use common::engine::Resource;
use common::inventory::{Filesystem, Inventory, MemoryMonitoring, ZfsProperties as InvZfs};
use std::collections::BTreeSet;

/// Run options that change the desired state or what may be done to reach it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// `--recreate`: storages whose server/export/path differ are removed and added again.
    pub recreate: bool,
    /// `--create-test-guest`: create the `test_guest = true` replication guests when missing.
    pub create_test_guest: bool,
}

/// The storage-related desired state of the whole cluster.
#[derive(Debug, Clone)]
pub struct Desired {
    pub master: String,
    /// Every inventory node, in inventory order.
    pub nodes: Vec<String>,
    /// Nodes installed on ZFS (the `[[zfs]]` properties apply there).
    pub zfs_nodes: BTreeSet<String>,
    pub nfs: Vec<NfsWant>,
    pub backup: Vec<BackupWant>,
    pub replication: Vec<ReplicationWant>,
    pub zfs: Vec<InvZfs>,
    pub memory: Option<MemoryMonitoring>,
    pub opts: Options,
}

impl Desired {
    pub fn new(inv: &Inventory, opts: Options) -> Self {
        Desired {
            master: inv.master().name.clone(),
            nodes: inv.nodes.iter().map(|n| n.name.clone()).collect(),
            zfs_nodes: inv.nodes.iter().filter(|n| n.filesystem == Filesystem::Zfs).map(|n| n.name.clone()).collect(),
            nfs: inv.storage.nfs.iter().map(NfsWant::from_inventory).collect(),
            backup: inv.backup.iter().map(BackupWant::from_inventory).collect(),
            replication: inv.replication.iter().map(|r| ReplicationWant::from_inventory(inv, r)).collect(),
            zfs: inv.zfs.clone(),
            memory: inv.monitoring.memory.clone(),
            opts,
        }
    }

    /// Distinct NFS servers, in inventory order.
    pub fn nfs_servers(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for s in &self.nfs {
            if !v.contains(&s.server) {
                v.push(s.server.clone());
            }
        }
        v
    }

    /// Cluster-wide resources, run on the master, in apply order.
    pub fn cluster_resources(&self) -> Vec<Box<dyn Resource>> {
        let mut v: Vec<Box<dyn Resource>> = Vec::new();
        for s in &self.nfs {
            v.push(Box::new(NfsStorageResource::new(s.clone(), self.opts.recreate)));
        }
        for s in self.nfs.iter().filter(|s| s.create_subdirs) {
            v.push(Box::new(SharedDirs::new(s, &self.master)));
        }
        for r in &self.replication {
            v.push(Box::new(ReplicationJobResource::new(r.clone())));
        }
        v.push(Box::new(ReplicationCleanup::new(self.replication.iter().map(|r| r.id.clone()).collect())));
        for b in &self.backup {
            v.push(Box::new(BackupJobResource::new(b.clone())));
        }
        v
    }

    /// The test guests `node` should hold (with `--create-test-guest`). `facts` chooses the
    /// disk's zfspool storage; without facts (planning the probes) it is `local-zfs`.
    pub fn test_guests(&self, node: &str, facts: Option<&ClusterFacts>) -> Vec<TestGuest> {
        if !self.opts.create_test_guest {
            return Vec::new();
        }
        self.replication
            .iter()
            .filter(|r| r.test_guest && r.source == node)
            .map(|r| TestGuest {
                vmid: r.guest,
                node: node.to_string(),
                storage: facts
                    .and_then(|f| test_guest_storage(&f.storages, &r.source, &r.target))
                    .unwrap_or_else(|| "local-zfs".into()),
            })
            .collect()
    }

    /// Per-node resources, in apply order.
    pub fn node_resources(&self, node: &str, facts: Option<&ClusterFacts>) -> Vec<Box<dyn Resource>> {
        let mut v: Vec<Box<dyn Resource>> = Vec::new();
        if self.zfs_nodes.contains(node) {
            for z in &self.zfs {
                v.push(Box::new(ZfsProperties::new(&z.dataset, &z.properties)));
            }
        }
        v.extend(monitoring::resources(self.memory.as_ref()));
        for g in self.test_guests(node, facts) {
            v.push(Box::new(g));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::inventory::parse_str;
    use std::path::Path;

    pub(crate) fn example() -> Inventory {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lab-homelab.toml")).unwrap();
        match parse_str(&text, Path::new("lab-homelab.toml")) {
            Ok(l) => l.inv,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn lab_inventory_gives_the_expected_resources() {
        let d = Desired::new(&example(), Options::default());
        assert_eq!(d.master, "pve-node1");
        assert_eq!(d.nfs_servers(), ["10.231.1.25"]);
        let ids: Vec<String> = d.cluster_resources().iter().map(|r| r.id()).collect();
        assert_eq!(
            ids,
            [
                "storage nas-backup",
                "storage nas-shared",
                "storage nas-data",
                "directories nas-shared",
                "replication 900-0",
                "replication cleanup",
                "backup weekly-all"
            ]
        );
        let ids: Vec<String> = d.node_resources("pve-node2", None).iter().map(|r| r.id()).collect();
        assert_eq!(ids, ["zfs rpool/data", "file /usr/local/bin/homelab-memcheck", "file /etc/cron.d/homelab-memcheck"]);
        assert!(d.test_guests("pve-node1", None).is_empty(), "only with --create-test-guest");
        let d = Desired::new(&example(), Options { create_test_guest: true, ..Default::default() });
        let g = d.test_guests("pve-node1", None);
        assert_eq!((g[0].vmid, g[0].storage.as_str()), (900, "local-zfs"));
        assert!(d.test_guests("pve-node2", None).is_empty());
        assert_eq!(d.replication[0].source, "pve-node1");
    }
}
