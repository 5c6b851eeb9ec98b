//! Facts this phase reads besides its resources' own probes: quorum and membership, the NFS
//! servers' export lists, the replicated guests' configs (master); each node's view of its
//! storages and the status of the replication jobs whose guests it holds (every node).
//! All of them are part of each host's single observation round trip.

use crate::desired::Desired;
use crate::probes;
use crate::replication::{guest_volumes, parse_probe, ManagedRecord};
use anyhow::{anyhow, Result};
use common::engine::Observed;
use common::parsers::pvesh::cluster::{parse_cluster_status, ClusterStatus};
use common::parsers::pvesh::replication::{parse_node_replication, ReplicationJob, ReplicationStatus};
use common::parsers::pvesh::storage::{parse_node_storage, parse_storage_config, NodeStorage, StorageConfig};
use std::collections::{BTreeMap, HashMap};

pub const CLUSTER_STATUS: &str = "fact cluster-status";
pub const STORAGE: &str = "fact storage";
pub const REPLICATION: &str = "fact replication";
pub const NODE_STORAGE: &str = "fact node-storage";
pub const NODE_REPLICATION: &str = "fact node-replication";

fn scan_key(server: &str) -> String {
    format!("fact nfs-scan {server}")
}
fn guest_key(vmid: u32) -> String {
    format!("fact guest {vmid}")
}

/// One guest config found in the cluster filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestConfig {
    /// `/etc/pve/nodes/<node>/qemu-server/<vmid>.conf`
    pub path: String,
    /// The node it lives on (from the path).
    pub node: String,
    /// `(key, volume)` of its disks.
    pub volumes: Vec<(String, String)>,
}

impl GuestConfig {
    pub fn new(path: &str, text: &str) -> Self {
        let node = path.strip_prefix("/etc/pve/nodes/").and_then(|r| r.split('/').next()).unwrap_or("?").to_string();
        GuestConfig { path: path.to_string(), node, volumes: guest_volumes(text) }
    }
}

/// What an NFS server said to `pvesm scan nfs`: its exports, or why it could not be asked.
pub type Scan = std::result::Result<Vec<String>, String>;

/// Facts read on the master, about the whole cluster.
#[derive(Debug, Clone)]
pub struct ClusterFacts {
    pub status: ClusterStatus,
    pub storages: Vec<StorageConfig>,
    /// Configs found per replicated guest (normally zero or one).
    pub guests: BTreeMap<u32, Vec<GuestConfig>>,
    /// Per NFS server.
    pub scans: BTreeMap<String, Scan>,
    /// `/cluster/replication`.
    pub replication: Vec<ReplicationJob>,
    /// The jobs this tool created.
    pub record: ManagedRecord,
}

/// Facts read on each node.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    /// `/nodes/<self>/storage`.
    pub storage: std::result::Result<Vec<NodeStorage>, String>,
    /// `/nodes/<self>/replication`, on nodes that are a job's source.
    pub replication: Option<std::result::Result<Vec<ReplicationStatus>, String>>,
}

/// The master's fact probes.
pub fn cluster_probes(d: &Desired) -> Vec<(String, String)> {
    // /storage and /cluster/replication are the same snippets the resources use: observed once.
    let mut p = vec![
        (CLUSTER_STATUS.to_string(), probes::CLUSTER_STATUS.to_string()),
        (STORAGE.to_string(), probes::STORAGE.to_string()),
        (REPLICATION.to_string(), probes::replication()),
    ];
    for server in d.nfs_servers() {
        p.push((scan_key(&server), probes::nfs_scan(&server)));
    }
    for r in &d.replication {
        p.push((guest_key(r.guest), probes::guest(r.guest)));
    }
    p
}

/// A node's fact probes.
pub fn node_probes(d: &Desired, node: &str) -> Vec<(String, String)> {
    let mut p = vec![(NODE_STORAGE.to_string(), probes::node_storage(node))];
    if d.replication.iter().any(|r| r.source == node) {
        p.push((NODE_REPLICATION.to_string(), probes::node_replication(node)));
    }
    p
}

fn get<'a>(o: &'a HashMap<String, Observed>, key: &str) -> Result<&'a Observed> {
    o.get(key).ok_or_else(|| anyhow!("internal: no observation for {key}"))
}

/// `pvesm scan nfs` output: `<export> <clients>` per line.
pub fn parse_scan(observed: &Observed) -> Scan {
    if observed.status != 0 {
        let why = [observed.stderr.trim(), observed.stdout.trim()].into_iter().find(|s| !s.is_empty()).unwrap_or("no output");
        return Err(probes::tail(why, 3));
    }
    Ok(observed.stdout.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect())
}

impl ClusterFacts {
    pub fn parse(d: &Desired, o: &HashMap<String, Observed>) -> Result<Self> {
        let status = parse_cluster_status(probes::pvesh_output(get(o, CLUSTER_STATUS)?, "pvesh get /cluster/status")?)?;
        let storages = parse_storage_config(probes::pvesh_output(get(o, STORAGE)?, "pvesh get /storage")?)?;
        let mut scans = BTreeMap::new();
        for server in d.nfs_servers() {
            scans.insert(server.clone(), parse_scan(get(o, &scan_key(&server))?));
        }
        let mut guests = BTreeMap::new();
        for r in &d.replication {
            let out = get(o, &guest_key(r.guest))?;
            let configs = crate::diff::sections(&out.stdout).iter().map(|(path, text)| GuestConfig::new(path, text)).collect();
            guests.insert(r.guest, configs);
        }
        let (record, replication) = parse_probe(get(o, REPLICATION)?)?;
        Ok(ClusterFacts { status, storages, guests, scans, replication, record })
    }
}

impl NodeFacts {
    pub fn parse(o: &HashMap<String, Observed>) -> Self {
        let storage = o
            .get(NODE_STORAGE)
            .ok_or_else(|| "not observed".to_string())
            .and_then(|x| probes::pvesh_output(x, "pvesh get /nodes/<node>/storage").map_err(|e| e.to_string()))
            .and_then(|json| parse_node_storage(json).map_err(|e| e.to_string()));
        let replication = o.get(NODE_REPLICATION).map(|x| {
            probes::pvesh_output(x, "pvesh get /nodes/<node>/replication")
                .map_err(|e| e.to_string())
                .and_then(|json| parse_node_replication(json).map_err(|e| e.to_string()))
        });
        NodeFacts { storage, replication }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_lists_exports_or_says_why_not() {
        let o = Observed::new("/volume1/backups/proxmox 10.231.1.0/24\n/volume1/homelab-data    *\n", 0);
        assert_eq!(parse_scan(&o).unwrap(), ["/volume1/backups/proxmox", "/volume1/homelab-data"]);
        let mut down = Observed::new("", 255);
        down.stderr = "rpc mount export: RPC: Unable to receive; errno = Connection refused\ncommand '/sbin/showmount --no-headers --exports 10.231.1.25' failed: exit code 1\n".into();
        assert!(parse_scan(&down).unwrap_err().contains("showmount"));
    }

    #[test]
    fn guest_configs_know_their_node() {
        let g = GuestConfig::new("/etc/pve/nodes/pve-node1/qemu-server/900.conf", "scsi0: local-zfs:vm-900-disk-0,size=1G\n");
        assert_eq!(g.node, "pve-node1");
        assert_eq!(g.volumes, [("scsi0".to_string(), "local-zfs:vm-900-disk-0".to_string())]);
    }
}
