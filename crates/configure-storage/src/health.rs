//! Health checks on what a node reports: every NFS storage that applies to the node is active
//! (mounted) there; replication jobs sync without failures. Storage activity is a failure
//! (the storage is unusable); failing replication is reported, not fatal — it is a state of the
//! data path, not of the configuration this phase owns.

use crate::desired::Desired;
use crate::facts::NodeFacts;
use crate::replication::{self, ReplicationHealth};
use common::parsers::pvesh::storage::NodeStorage;

/// One storage on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub storage: String,
    /// `Err(why)` when not active.
    pub result: Result<(), String>,
}

impl Activity {
    /// Result id in reports: `active nas-backup`.
    pub fn id(&self) -> String {
        format!("active {}", self.storage)
    }
}

/// Activity of every inventory storage that applies to `node`, from its `/nodes/<node>/storage`.
pub fn storage_activity(d: &Desired, node: &str, view: &Result<Vec<NodeStorage>, String>) -> Vec<Activity> {
    d.nfs
        .iter()
        .filter(|w| w.applies_to(node))
        .map(|w| {
            let result = match view {
                Err(e) => Err(format!("cannot read the storage status on {node}: {e}")),
                Ok(list) => match list.iter().find(|s| s.storage == w.id) {
                    None => Err(format!("storage {} is not defined for {node}", w.id)),
                    Some(s) if !s.enabled => Err(format!("storage {} is disabled on {node}", w.id)),
                    Some(s) if !s.active => Err(format!(
                        "storage {} is not active on {node}: the NFS export {}:{} is not mounted (is the NAS reachable from {node}?)",
                        w.id, w.server, w.export
                    )),
                    Some(_) => Ok(()),
                },
            };
            Activity { storage: w.id.clone(), result }
        })
        .collect()
}

/// Are all applicable storages active on this node?
pub fn all_active(d: &Desired, node: &str, facts: &NodeFacts) -> bool {
    storage_activity(d, node, &facts.storage).iter().all(|a| a.result.is_ok())
}

/// Health of the replication jobs whose source is `node`, by job id.
pub fn replication_health(d: &Desired, node: &str, facts: &NodeFacts) -> Vec<(String, ReplicationHealth)> {
    let jobs: Vec<_> = d.replication.iter().filter(|r| r.source == node).collect();
    match &facts.replication {
        None => Vec::new(),
        Some(Err(e)) => jobs
            .iter()
            .map(|r| {
                let text = format!("replication {}: cannot read its status on {node}: {e}", r.id);
                (r.id.clone(), ReplicationHealth { healthy: false, text })
            })
            .collect(),
        Some(Ok(list)) => {
            let now = replication::now();
            jobs.iter().map(|r| (r.id.clone(), replication::health(r, list.iter().find(|s| s.job.id == r.id), now))).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::Options;
    use common::inventory::parse_str;
    use common::parsers::pvesh::storage::parse_node_storage;
    use std::path::Path;

    fn desired() -> Desired {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lab-homelab.toml")).unwrap();
        Desired::new(&parse_str(&text, Path::new("x.toml")).unwrap_or_else(|e| panic!("{e}")).inv, Options::default())
    }

    // `pvesh get /nodes/pve-node2/storage` shape (pve-cli.md §4.1).
    const VIEW: &str = r#"[{"active":1,"avail":1000,"content":"backup","enabled":1,"shared":1,"storage":"nas-backup","total":2000,"type":"nfs","used":1000,"used_fraction":0.5},
        {"active":0,"avail":0,"content":"iso,snippets,vztmpl","enabled":1,"shared":1,"storage":"nas-shared","total":0,"type":"nfs","used":0},
        {"active":1,"avail":1000,"content":"images,rootdir","enabled":0,"shared":1,"storage":"nas-data","total":2000,"type":"nfs","used":1000}]"#;

    #[test]
    fn inactive_disabled_and_missing_storages_are_named() {
        let d = desired();
        let a = storage_activity(&d, "pve-node2", &Ok(parse_node_storage(VIEW).unwrap()));
        assert_eq!(a[0], Activity { storage: "nas-backup".into(), result: Ok(()) });
        assert_eq!(
            a[1].result,
            Err("storage nas-shared is not active on pve-node2: the NFS export 10.231.1.25:/volume1/homelab-shared is not mounted (is the NAS reachable from pve-node2?)".into())
        );
        assert_eq!(a[2].result, Err("storage nas-data is disabled on pve-node2".into()));
        let a = storage_activity(&d, "pve-node2", &Ok(Vec::new()));
        assert_eq!(a[0].result, Err("storage nas-backup is not defined for pve-node2".into()));
        assert_eq!(a[0].id(), "active nas-backup");
    }

    #[test]
    fn node_restricted_storages_only_count_where_they_apply() {
        let mut d = desired();
        d.nfs[1].nodes = ["pve-node1".to_string()].into();
        let a = storage_activity(&d, "pve-node2", &Ok(parse_node_storage(VIEW).unwrap()));
        assert_eq!(a.iter().map(|x| x.storage.as_str()).collect::<Vec<_>>(), ["nas-backup", "nas-data"]);
    }
}
