//! corosync.conf and PVE section-config files (storage.cfg, jobs.cfg, replication.cfg).
//!
//! The parsing itself lives in the `pve-formats` crate, shared byte-for-byte with the lab
//! simulator (pve-cli.md §1.4, §2.2); this module only gives those readers the same error type
//! as every other parser here, and serializable "fact" views for drift reports.

use super::error::{Layout, Result};
use serde::Serialize;
use std::collections::BTreeMap;

pub use pve_formats::corosync::CorosyncConf;
pub use pve_formats::section_config::{Schema, SectionConfig, JOBS_CFG, REPLICATION_CFG, STORAGE_CFG};

/// `/etc/pve/corosync.conf` / `/etc/corosync/corosync.conf` (pve-cli.md §2.2).
pub const COROSYNC_CONF: Layout = Layout { what: "corosync.conf", doc: "pve-cli.md §2.2" };
/// `/etc/pve/storage.cfg` (pve-cli.md §1.4, §4.2).
pub const STORAGE_CFG_FILE: Layout = Layout { what: "/etc/pve/storage.cfg", doc: "pve-cli.md §1.4, §4.2" };
/// `/etc/pve/jobs.cfg` (pve-cli.md §1.4, §6.2).
pub const JOBS_CFG_FILE: Layout = Layout { what: "/etc/pve/jobs.cfg", doc: "pve-cli.md §1.4, §6.2" };
/// `/etc/pve/replication.cfg` (pve-cli.md §1.4, §5.3).
pub const REPLICATION_CFG_FILE: Layout =
    Layout { what: "/etc/pve/replication.cfg", doc: "pve-cli.md §1.4, §5.3" };

/// Parse corosync.conf (via pve-formats).
pub fn parse_corosync_conf(text: &str) -> Result<CorosyncConf> {
    CorosyncConf::parse(text).map_err(|e| COROSYNC_CONF.err(format!("{e:#}")))
}

/// Parse storage.cfg (via pve-formats). Ignored lines are in `SectionConfig::warnings`.
pub fn parse_storage_cfg(text: &str) -> Result<SectionConfig> {
    SectionConfig::parse(text, &STORAGE_CFG).map_err(|e| STORAGE_CFG_FILE.err(format!("{e:#}")))
}

/// Parse jobs.cfg (via pve-formats); comments come back decoded.
pub fn parse_jobs_cfg(text: &str) -> Result<SectionConfig> {
    SectionConfig::parse(text, &JOBS_CFG).map_err(|e| JOBS_CFG_FILE.err(format!("{e:#}")))
}

/// Parse replication.cfg (via pve-formats); comments come back decoded.
pub fn parse_replication_cfg(text: &str) -> Result<SectionConfig> {
    SectionConfig::parse(text, &REPLICATION_CFG).map_err(|e| REPLICATION_CFG_FILE.err(format!("{e:#}")))
}

/// What a drift check wants to know from corosync.conf, serializable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorosyncFacts {
    pub cluster_name: Option<String>,
    pub config_version: Option<u64>,
    /// `totem.link_mode` (`passive` as PVE writes it).
    pub link_mode: Option<String>,
    pub secauth: Option<String>,
    /// `totem.transport`; PVE never writes it (knet is the default).
    pub transport: Option<String>,
    pub nodes: Vec<CorosyncNodeFact>,
    /// `totem.interface` blocks by link number.
    pub links: Vec<CorosyncLinkFact>,
    pub quorum_device: Option<QuorumDeviceFact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorosyncNodeFact {
    pub name: String,
    pub nodeid: u32,
    pub quorum_votes: u32,
    /// `ringX_addr` by link number X.
    pub links: BTreeMap<u8, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorosyncLinkFact {
    pub linknumber: u8,
    pub knet_link_priority: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumDeviceFact {
    pub model: String,
    pub votes: Option<u32>,
    pub host: String,
    pub algorithm: String,
    pub tls: String,
}

/// Parse corosync.conf and extract [`CorosyncFacts`].
pub fn corosync_facts(text: &str) -> Result<CorosyncFacts> {
    let conf = parse_corosync_conf(text)?;
    let nodes = conf.nodes().map_err(|e| COROSYNC_CONF.err(format!("{e:#}")))?;
    Ok(CorosyncFacts {
        cluster_name: conf.cluster_name().map(str::to_string),
        config_version: conf.config_version(),
        link_mode: conf.get("totem.link_mode").map(str::to_string),
        secauth: conf.get("totem.secauth").map(str::to_string),
        transport: conf.get("totem.transport").map(str::to_string),
        nodes: nodes
            .into_iter()
            .map(|n| CorosyncNodeFact {
                name: n.name,
                nodeid: n.nodeid,
                quorum_votes: n.quorum_votes,
                links: n.addrs,
            })
            .collect(),
        links: conf
            .interfaces()
            .into_iter()
            .map(|i| CorosyncLinkFact { linknumber: i.linknumber, knet_link_priority: i.knet_link_priority })
            .collect(),
        quorum_device: conf.quorum_device().map(|d| QuorumDeviceFact {
            model: d.model,
            votes: d.votes,
            host: d.host,
            algorithm: d.algorithm,
            tls: d.tls,
        }),
    })
}

/// One section of a section-config file, serializable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionFact {
    #[serde(rename = "type")]
    pub section_type: String,
    pub id: String,
    pub props: BTreeMap<String, String>,
}

/// Serializable view of a parsed section-config file (file order).
pub fn section_facts(cfg: &SectionConfig) -> Vec<SectionFact> {
    cfg.sections
        .iter()
        .map(|e| SectionFact { section_type: e.section_type.clone(), id: e.id.clone(), props: e.props.clone() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/parsers/", $name))
        };
    }

    #[test]
    fn corosync_conf_facts_from_the_pve_written_example() {
        let f = corosync_facts(fixture!("corosync.conf")).unwrap();
        assert_eq!(f.cluster_name.as_deref(), Some("pvecl"));
        assert_eq!(f.config_version, Some(3));
        assert_eq!(f.link_mode.as_deref(), Some("passive"));
        assert_eq!(f.transport, None);
        assert_eq!(f.nodes.len(), 2);
        assert_eq!(f.nodes[1].links.get(&1).map(String::as_str), Some("10.20.20.2"));
        assert_eq!(f.links, vec![
            CorosyncLinkFact { linknumber: 0, knet_link_priority: Some(15) },
            CorosyncLinkFact { linknumber: 1, knet_link_priority: Some(20) },
        ]);
        let q = f.quorum_device.unwrap();
        assert_eq!((q.host.as_str(), q.algorithm.as_str(), q.votes), ("10.10.10.3", "ffsplit", Some(1)));
    }

    #[test]
    fn corosync_errors_are_parse_errors() {
        let e = parse_corosync_conf("totem {\n  version: 2\n").unwrap_err();
        assert_eq!(e.what, "corosync.conf");
        assert!(e.message.contains("not closed"), "{e}");
    }

    #[test]
    fn section_configs() {
        let s = parse_storage_cfg(fixture!("storage.cfg")).unwrap();
        let f = section_facts(&s);
        assert_eq!(f.len(), 2);
        assert_eq!((f[1].section_type.as_str(), f[1].id.as_str()), ("nfs", "nas1"));
        assert_eq!(f[1].props.get("options").map(String::as_str), Some("vers=4.2"));
        let r = parse_replication_cfg(fixture!("replication.cfg")).unwrap();
        assert!(r.get("101-0").unwrap().flag("disable"));
        assert!(!r.get("100-0").unwrap().flag("disable"));
        let j = parse_jobs_cfg(fixture!("jobs.cfg")).unwrap();
        assert_eq!(j.get("backup-nightly").and_then(|e| e.get("prune-backups")), Some("keep-daily=7,keep-last=3"));
    }
}
