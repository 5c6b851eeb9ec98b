//! `/cluster/status`, `/cluster/config/nodes`, `/cluster/config/qdevice`, `/nodes`.

use super::{from_json_list, from_json_object};
use crate::parsers::error::{Layout, Result};
use crate::parsers::lenient;
use crate::parsers::qdevice::algorithm_config_name;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `pvesh get /cluster/status --output-format json` (pve-cli.md §7.1).
pub const CLUSTER_STATUS: Layout =
    Layout { what: "`pvesh get /cluster/status` JSON", doc: "pve-cli.md §7.1" };
/// `pvesh get /cluster/config/nodes --output-format json` (pve-cli.md §2.11).
pub const CLUSTER_CONFIG_NODES: Layout =
    Layout { what: "`pvesh get /cluster/config/nodes` JSON", doc: "pve-cli.md §2.11" };
/// `pvesh get /cluster/config/qdevice --output-format json` (pve-cli.md §2.11).
pub const CLUSTER_CONFIG_QDEVICE: Layout =
    Layout { what: "`pvesh get /cluster/config/qdevice` JSON", doc: "pve-cli.md §2.11" };
/// `pvesh get /nodes --output-format json` (pve-cli.md §7.2).
pub const NODES: Layout = Layout { what: "`pvesh get /nodes` JSON", doc: "pve-cli.md §7.2" };

// ---- /cluster/status ------------------------------------------------------------------------

/// `/cluster/status`: the cluster entry (absent when not clustered) and the node entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    pub cluster: Option<ClusterEntry>,
    /// Sorted by name (PVE returns hash order).
    pub nodes: Vec<ClusterNode>,
}

impl ClusterStatus {
    /// The simplest "am I clustered?" probe: a `type: cluster` entry exists (pve-cli.md §7.1).
    pub fn is_clustered(&self) -> bool {
        self.cluster.is_some()
    }
    pub fn node(&self, name: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.name == name)
    }
    pub fn local_node(&self) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.local)
    }
    pub fn online_nodes(&self) -> impl Iterator<Item = &ClusterNode> {
        self.nodes.iter().filter(|n| n.online)
    }
}

/// `{"id":"cluster","name":"pvecl","nodes":2,"quorate":1,"type":"cluster","version":3}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEntry {
    pub name: String,
    /// Configured nodes, offline ones included.
    #[serde(deserialize_with = "lenient::u32")]
    pub nodes: u32,
    #[serde(deserialize_with = "lenient::bool")]
    pub quorate: bool,
    /// corosync `config_version`.
    #[serde(deserialize_with = "lenient::u64")]
    pub version: u64,
}

/// `{"id":"node/pve1","ip":"10.10.10.1","level":"","local":1,"name":"pve1","nodeid":1,"online":1,"type":"node"}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNode {
    pub name: String,
    /// Omitted when pmxcfs has no address for the node.
    #[serde(default)]
    pub ip: Option<String>,
    /// Subscription level, `""` when none.
    #[serde(default)]
    pub level: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub local: bool,
    /// 0 when not clustered.
    #[serde(default, deserialize_with = "lenient::u32")]
    pub nodeid: u32,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub online: bool,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum StatusEntry {
    Cluster(ClusterEntry),
    Node(ClusterNode),
    #[serde(other)]
    Other,
}

/// Parse `/cluster/status`.
pub fn parse_cluster_status(json: &str) -> Result<ClusterStatus> {
    let entries: Vec<StatusEntry> = from_json_list(CLUSTER_STATUS, json)?;
    let mut cluster = None;
    let mut nodes = Vec::new();
    for e in entries {
        match e {
            StatusEntry::Cluster(c) => {
                if cluster.replace(c).is_some() {
                    return Err(CLUSTER_STATUS.err("more than one `type: cluster` entry"));
                }
            }
            StatusEntry::Node(n) => nodes.push(n),
            StatusEntry::Other => {}
        }
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ClusterStatus { cluster, nodes })
}

// ---- /cluster/config/nodes ------------------------------------------------------------------

/// One corosync nodelist entry as the API returns it (values are strings there; parsed here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorosyncNode {
    pub name: String,
    pub nodeid: u32,
    /// `quorum_votes` (corosync's default is 1 when absent).
    pub quorum_votes: u32,
    /// `ringX_addr` by link number X.
    pub links: BTreeMap<u8, String>,
    /// Any other keys (e.g. `node`), verbatim.
    pub extra: BTreeMap<String, String>,
}

impl CorosyncNode {
    pub fn link(&self, n: u8) -> Option<&str> {
        self.links.get(&n).map(String::as_str)
    }
}

impl<'de> Deserialize<'de> for CorosyncNode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let map: BTreeMap<String, Value> = BTreeMap::deserialize(d)?;
        let mut name = None;
        let mut nodeid = None;
        let mut quorum_votes = None;
        let mut links = BTreeMap::new();
        let mut extra = BTreeMap::new();
        for (k, v) in map {
            let s = lenient::to_string(&v)
                .ok_or_else(|| D::Error::custom(format!("`{k}`: expected a string or number, got {v}")))?;
            let num = |what: &str| {
                s.trim()
                    .parse::<u32>()
                    .map_err(|_| D::Error::custom(format!("`{what}`: expected a number, got {s:?}")))
            };
            if let Some(link) = k.strip_prefix("ring").and_then(|r| r.strip_suffix("_addr")) {
                if let Ok(n) = link.parse::<u8>() {
                    links.insert(n, s);
                    continue;
                }
            }
            match k.as_str() {
                "name" => name = Some(s),
                "nodeid" => nodeid = Some(num("nodeid")?),
                "quorum_votes" => quorum_votes = Some(num("quorum_votes")?),
                _ => {
                    extra.insert(k, s);
                }
            }
        }
        Ok(CorosyncNode {
            name: name.ok_or_else(|| D::Error::missing_field("name"))?,
            nodeid: nodeid.ok_or_else(|| D::Error::missing_field("nodeid"))?,
            quorum_votes: quorum_votes.unwrap_or(1),
            links,
            extra,
        })
    }
}

/// Parse `/cluster/config/nodes`; sorted by node id.
pub fn parse_cluster_config_nodes(json: &str) -> Result<Vec<CorosyncNode>> {
    let mut nodes: Vec<CorosyncNode> = from_json_list(CLUSTER_CONFIG_NODES, json)?;
    nodes.sort_by(|a, b| (a.nodeid, &a.name).cmp(&(b.nodeid, &b.name)));
    Ok(nodes)
}

// ---- /cluster/config/qdevice ----------------------------------------------------------------

/// `/cluster/config/qdevice`: selected keys of `corosync-qdevice-tool -sv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QdeviceApiStatus {
    #[serde(rename = "Algorithm", default)]
    pub algorithm: Option<String>,
    #[serde(rename = "Last poll call", default)]
    pub last_poll_call: Option<String>,
    #[serde(rename = "Model", default)]
    pub model: Option<String>,
    #[serde(rename = "QNetd host", default)]
    pub qnetd_host: Option<String>,
    #[serde(rename = "State", default)]
    pub state: Option<String>,
    #[serde(rename = "Tie-breaker", default)]
    pub tie_breaker: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl QdeviceApiStatus {
    pub fn is_connected(&self) -> bool {
        self.state.as_deref() == Some("Connected")
    }
    /// `ffsplit`, `lms`, … (see [`algorithm_config_name`]).
    pub fn algorithm_config_name(&self) -> Option<&'static str> {
        self.algorithm.as_deref().and_then(algorithm_config_name)
    }
}

/// Parse `/cluster/config/qdevice`. `{}` (no qdevice daemon socket on this node) → `None`.
pub fn parse_cluster_config_qdevice(json: &str) -> Result<Option<QdeviceApiStatus>> {
    let map: BTreeMap<String, Value> = from_json_object(CLUSTER_CONFIG_QDEVICE, json)?;
    if map.is_empty() {
        return Ok(None);
    }
    from_json_object(CLUSTER_CONFIG_QDEVICE, json).map(Some)
}

// ---- /nodes ---------------------------------------------------------------------------------

/// One entry of `/nodes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub node: String,
    /// `online`, `offline` or `unknown`.
    pub status: String,
    /// SHA-256 of the node's API certificate (`AA:BB:…`), for `pvecm add --fingerprint`.
    #[serde(default)]
    pub ssl_fingerprint: Option<String>,
    #[serde(default)]
    pub level: Option<String>,
    /// CPU usage fraction (online nodes only).
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub cpu: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub maxcpu: Option<u32>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub mem: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub maxmem: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub disk: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub maxdisk: Option<u64>,
    /// Seconds (online nodes only).
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub uptime: Option<u64>,
}

impl NodeInfo {
    pub fn is_online(&self) -> bool {
        self.status == "online"
    }
}

/// Parse `/nodes`; sorted by node name.
pub fn parse_nodes(json: &str) -> Result<Vec<NodeInfo>> {
    let mut nodes: Vec<NodeInfo> = from_json_list(NODES, json)?;
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../tests/fixtures/parsers/", $name))
        };
    }

    #[test]
    fn cluster_status_clustered() {
        let s = parse_cluster_status(fixture!("pvesh-cluster-status.json")).unwrap();
        assert!(s.is_clustered());
        assert_eq!(
            s.cluster,
            Some(ClusterEntry { name: "pvecl".into(), nodes: 2, quorate: true, version: 3 })
        );
        assert_eq!(s.nodes.len(), 2);
        assert_eq!(
            s.local_node(),
            Some(&ClusterNode {
                name: "pve1".into(),
                ip: Some("10.10.10.1".into()),
                level: Some("".into()),
                local: true,
                nodeid: 1,
                online: true
            })
        );
        assert_eq!(s.node("pve2").map(|n| (n.nodeid, n.local, n.online)), Some((2, false, true)));
        assert_eq!(s.online_nodes().count(), 2);
    }

    #[test]
    fn cluster_status_standalone_and_order() {
        let s = parse_cluster_status(fixture!("pvesh-cluster-status-standalone.json")).unwrap();
        assert!(!s.is_clustered());
        assert_eq!(s.nodes[0].nodeid, 0);
        // hash order and unknown entry types
        let s = parse_cluster_status(
            r#"[{"type":"node","name":"b","online":0},{"type":"future"},{"type":"node","name":"a","online":"1"}]"#,
        )
        .unwrap();
        assert_eq!(s.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(s.nodes[0].online && !s.nodes[1].online && s.nodes[1].ip.is_none());
        let e = parse_cluster_status(r#"[{"type":"cluster","name":"x"}]"#).unwrap_err();
        assert!(e.message.contains("entry 1 (name \"x\")"), "{e}");
    }

    #[test]
    fn config_nodes_string_values() {
        let n = parse_cluster_config_nodes(fixture!("pvesh-cluster-config-nodes.json")).unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!((n[0].name.as_str(), n[0].nodeid, n[0].quorum_votes), ("pve1", 1, 1));
        assert_eq!(n[0].link(0), Some("10.10.10.1"));
        assert_eq!(n[1].link(1), Some("10.20.20.2"));
        assert_eq!(n[1].extra.get("node").map(String::as_str), Some("pve2"));
        // numbers accepted too, votes default 1
        let n = parse_cluster_config_nodes(r#"[{"name":"b","nodeid":2,"ring0_addr":"x"},{"name":"a","nodeid":"1"}]"#).unwrap();
        assert_eq!((n[0].name.as_str(), n[1].quorum_votes), ("a", 1));
        let e = parse_cluster_config_nodes(r#"[{"name":"a","nodeid":"one"}]"#).unwrap_err();
        assert!(e.message.contains("nodeid"), "{e}");
        let e = parse_cluster_config_nodes(r#"[{"nodeid":"1"}]"#).unwrap_err();
        assert!(e.message.contains("name"), "{e}");
    }

    #[test]
    fn config_qdevice() {
        let q = parse_cluster_config_qdevice(fixture!("pvesh-cluster-config-qdevice.json")).unwrap().unwrap();
        assert!(q.is_connected());
        assert_eq!(q.algorithm_config_name(), Some("ffsplit"));
        assert_eq!(q.qnetd_host.as_deref(), Some("10.10.10.3:5403"));
        assert_eq!(q.model.as_deref(), Some("Net"));
        assert_eq!(q.tie_breaker.as_deref(), Some("Node with lowest node ID"));
        assert_eq!(q.last_poll_call.as_deref(), Some("2025-09-01T12:00:00 (cast vote)"));
        assert!(q.extra.is_empty());
        assert_eq!(parse_cluster_config_qdevice(fixture!("pvesh-cluster-config-qdevice-absent.json")).unwrap(), None);
        assert!(parse_cluster_config_qdevice("[]").is_err());
    }

    #[test]
    fn nodes() {
        let n = parse_nodes(fixture!("pvesh-nodes.json")).unwrap();
        assert_eq!(n.len(), 2);
        assert!(n[0].is_online());
        assert_eq!((n[0].maxcpu, n[0].uptime), (Some(4), Some(86400)));
        assert!(n[0].ssl_fingerprint.as_deref().unwrap().starts_with("AB:CD"));
        assert!(!n[1].is_online());
        assert_eq!((n[1].cpu, n[1].mem, n[1].maxmem), (None, None, Some(16679325696)));
    }
}
