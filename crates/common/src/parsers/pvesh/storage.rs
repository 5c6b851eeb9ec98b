//! `/nodes/<node>/storage` (status, usage) and `/storage` (definitions).

use super::backup::PruneBackups;
use super::{from_json_list, from_json_object};
use crate::parsers::error::{Layout, Result};
use crate::parsers::lenient;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// `pvesh get /nodes/<node>/storage --output-format json` (pve-cli.md §4.1).
pub const NODE_STORAGE: Layout =
    Layout { what: "`pvesh get /nodes/<node>/storage` JSON", doc: "pve-cli.md §4.1" };
/// `pvesh get /storage[/<id>] --output-format json` (pve-cli.md §4.4).
pub const STORAGE_CONFIG: Layout =
    Layout { what: "`pvesh get /storage` JSON", doc: "pve-cli.md §4.4" };

/// One storage as seen by a node (`/nodes/<node>/storage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStorage {
    pub storage: String,
    #[serde(rename = "type")]
    pub storage_type: String,
    /// Content types; a set (PVE writes them in hash order).
    #[serde(default, deserialize_with = "lenient::set")]
    pub content: BTreeSet<String>,
    /// PVE always sends it; a listed storage without it is taken as enabled.
    #[serde(default = "yes", deserialize_with = "lenient::bool")]
    pub enabled: bool,
    /// Usable now (mounted/online) — the "storage usable" check of pve-cli.md §9.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub active: bool,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub shared: bool,
    /// Bytes.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub total: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub used: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub avail: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub used_fraction: Option<f64>,
}

fn yes() -> bool {
    true
}

/// Parse `/nodes/<node>/storage`; sorted by storage id.
pub fn parse_node_storage(json: &str) -> Result<Vec<NodeStorage>> {
    let mut v: Vec<NodeStorage> = from_json_list(NODE_STORAGE, json)?;
    v.sort_by(|a, b| a.storage.cmp(&b.storage));
    Ok(v)
}

/// One storage definition (`/storage` list entry or `/storage/<id>`), i.e. a `storage.cfg`
/// section as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageConfig {
    pub storage: String,
    #[serde(rename = "type")]
    pub storage_type: String,
    /// Absent → the plugin's default (for nfs: `images`, pve-cli.md §4.2).
    #[serde(default, deserialize_with = "lenient::opt_set")]
    pub content: Option<BTreeSet<String>>,
    /// Absent → all nodes.
    #[serde(default, deserialize_with = "lenient::opt_set")]
    pub nodes: Option<BTreeSet<String>>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub disable: bool,
    /// Set at parse time for nfs (not written to storage.cfg).
    #[serde(default, deserialize_with = "lenient::bool")]
    pub shared: bool,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub export: Option<String>,
    /// NFS mount options, e.g. `vers=4.2`.
    #[serde(default)]
    pub options: Option<String>,
    #[serde(rename = "prune-backups", default)]
    pub prune_backups: Option<PruneBackups>,
    /// SHA1 of storage.cfg (same for every entry).
    #[serde(default)]
    pub digest: Option<String>,
    /// Every other key, verbatim.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl StorageConfig {
    pub fn enabled(&self) -> bool {
        !self.disable
    }
}

/// Parse `/storage`; sorted by storage id.
pub fn parse_storage_config(json: &str) -> Result<Vec<StorageConfig>> {
    let mut v: Vec<StorageConfig> = from_json_list(STORAGE_CONFIG, json)?;
    v.sort_by(|a, b| a.storage.cmp(&b.storage));
    Ok(v)
}

/// Parse `/storage/<id>` (a single object).
pub fn parse_storage_config_entry(json: &str) -> Result<StorageConfig> {
    from_json_object(STORAGE_CONFIG, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../tests/fixtures/parsers/", $name))
        };
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn node_storage() {
        let s = parse_node_storage(fixture!("pvesh-node-storage.json")).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].storage, "local");
        assert_eq!(s[0].content, set(&["backup", "iso", "vztmpl"]));
        let nas1 = &s[1];
        assert_eq!((nas1.storage_type.as_str(), nas1.enabled, nas1.active, nas1.shared), ("nfs", true, true, true));
        assert_eq!((nas1.total, nas1.used_fraction), (Some(4398046511104), Some(0.25)));
        let nas2 = &s[2];
        assert!(!nas2.active);
        assert_eq!(nas2.used_fraction, None);
    }

    #[test]
    fn storage_config_list_and_entry() {
        let s = parse_storage_config(fixture!("pvesh-storage.json")).unwrap();
        assert_eq!(s.len(), 2);
        let nas1 = &s[1];
        assert_eq!(nas1.storage, "nas1");
        assert_eq!(nas1.content, Some(set(&["images", "backup"])));
        assert_eq!(nas1.server.as_deref(), Some("10.0.0.10"));
        assert_eq!(nas1.export.as_deref(), Some("/export/pve"));
        assert_eq!(nas1.path.as_deref(), Some("/mnt/pve/nas1"));
        assert_eq!(nas1.options.as_deref(), Some("vers=4.2"));
        assert!(nas1.shared && nas1.enabled() && nas1.nodes.is_none());
        assert!(nas1.extra.is_empty());
        assert!(!s[0].shared);

        // content order does not matter (set semantics)
        let a = parse_storage_config_entry(r#"{"storage":"n","type":"nfs","content":"backup,images","disable":1,"nodes":"pve2,pve1","prune-backups":"keep-last=3","bwlimit":"restore=100"}"#).unwrap();
        let b = parse_storage_config_entry(r#"{"storage":"n","type":"nfs","content":"images,backup","disable":"1","nodes":"pve1,pve2","prune-backups":{"keep-last":3},"bwlimit":"restore=100"}"#).unwrap();
        assert_eq!(a, b);
        assert!(!a.enabled());
        assert_eq!(a.prune_backups.as_ref().and_then(|p| p.keep_last), Some(3));
        assert_eq!(a.extra.get("bwlimit"), Some(&Value::String("restore=100".into())));
        let e = parse_storage_config_entry(r#"{"storage":"x"}"#).unwrap_err();
        assert!(e.message.contains("type"), "{e}");
    }
}
