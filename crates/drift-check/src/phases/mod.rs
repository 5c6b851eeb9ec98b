//! Every phase's checks, reused from the phase libraries.
//!
//! Each phase module has two halves:
//! * `probes(ctx, host)` — what this phase needs observed on that host (its facts and its
//!   resources' probes, exactly as the phase builds them); [`batch`] merges them all into the
//!   host's ONE observation;
//! * `evaluate(ctx, observations, results)` — once every host is observed: drift items and
//!   health per host. Evaluation runs after *all* hosts are in because some desired state
//!   spans hosts (form-cluster's trust: every node's root key on every node).
//!
//! | phase | hosts | reused from the phase library |
//! |---|---|---|
//! | bootstrap-node | nodes | `bootstrap_node::desired` |
//! | bootstrap-qdevice | the Pi | `bootstrap_qdevice::desired` (incl. the closed root window) |
//! | form-cluster | nodes + Pi | `facts::{node_probes, pi_probes}`, `NodeFacts`/`PiFacts`, `resources::node_resources`, `verify::verify` |
//! | configure-storage | nodes (cluster objects on the master) | see [`storage`] |

pub mod cluster;
pub mod node;
pub mod qdevice;
pub mod storage;

use crate::batch::{Batch, HostObservation};
use crate::model::HostResult;
use anyhow::{bail, Context as _, Result};
use common::access::{HostKind, HostSpec};
use common::inventory::LoadedInventory;
use std::collections::BTreeMap;

/// Phase names, as the phases call themselves.
pub const BOOTSTRAP_NODE: &str = bootstrap_node::TOOL;
pub const BOOTSTRAP_QDEVICE: &str = bootstrap_qdevice::TOOL;
pub const FORM_CLUSTER: &str = form_cluster::PHASE;
pub const CONFIGURE_STORAGE: &str = "configure-storage";
pub const ALL: [&str; 4] = [BOOTSTRAP_NODE, BOOTSTRAP_QDEVICE, FORM_CLUSTER, CONFIGURE_STORAGE];

/// Which phases' checks run (`--phase`, default all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseSet {
    pub node: bool,
    pub qdevice: bool,
    pub cluster: bool,
    pub storage: bool,
}

impl Default for PhaseSet {
    fn default() -> Self {
        PhaseSet { node: true, qdevice: true, cluster: true, storage: true }
    }
}

impl PhaseSet {
    /// From `--phase` names (empty = all); an unknown name is an error listing the known ones.
    pub fn from_names(names: &[String]) -> Result<PhaseSet> {
        if names.is_empty() {
            return Ok(PhaseSet::default());
        }
        let mut s = PhaseSet { node: false, qdevice: false, cluster: false, storage: false };
        for n in names {
            match n.as_str() {
                BOOTSTRAP_NODE => s.node = true,
                BOOTSTRAP_QDEVICE => s.qdevice = true,
                FORM_CLUSTER => s.cluster = true,
                CONFIGURE_STORAGE => s.storage = true,
                other => bail!("--phase {other}: unknown phase (phases: {})", ALL.join(", ")),
            }
        }
        Ok(s)
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (on, n) in [(self.node, BOOTSTRAP_NODE), (self.qdevice, BOOTSTRAP_QDEVICE), (self.cluster, FORM_CLUSTER), (self.storage, CONFIGURE_STORAGE)] {
            if on {
                v.push(n);
            }
        }
        v
    }
}

/// What every phase module needs: the inventory, the resolved automation keys, the phases.
pub struct Context<'a> {
    pub loaded: &'a LoadedInventory,
    /// The automation user's `authorized_keys` lines (literal and `github:` keys resolved).
    pub keys: Vec<String>,
    pub phases: PhaseSet,
    /// Every host of the inventory that drift-check looks at (nodes, then the Pi).
    pub all_hosts: Vec<HostSpec>,
    /// The hosts of this run (`--node`), a subset of `all_hosts`.
    pub hosts: Vec<HostSpec>,
    pub storage: storage::Plan,
}

impl<'a> Context<'a> {
    /// `selected`: `--node` names (nodes or the QDevice); empty = every host.
    pub fn new(loaded: &'a LoadedInventory, phases: PhaseSet, selected: &[String]) -> Result<Context<'a>> {
        let inv = &loaded.inv;
        let mut all_hosts = Vec::new();
        for n in &inv.nodes {
            all_hosts.push(common::access::host(loaded, &n.name)?);
        }
        if let Some(q) = &inv.qdevice {
            all_hosts.push(common::access::host(loaded, &q.name)?);
        }
        for s in selected {
            if !all_hosts.iter().any(|h| &h.name == s) {
                let known: Vec<&str> = all_hosts.iter().map(|h| h.name.as_str()).collect();
                bail!("--node {s}: no such host in {} (hosts: {})", loaded.path.display(), known.join(", "));
            }
        }
        let hosts = all_hosts.iter().filter(|h| selected.is_empty() || selected.contains(&h.name)).cloned().collect();
        let keys = if phases.node || phases.qdevice {
            bootstrap_node::automation_keys(loaded).context("resolving automation.keys")?
        } else {
            Vec::new()
        };
        let storage = storage::Plan::new(inv);
        Ok(Context { loaded, keys, phases, all_hosts, hosts, storage })
    }

    pub fn is_master(&self, host: &str) -> bool {
        self.loaded.inv.master().name == host
    }

    /// Every probe of `host` for the enabled phases.
    pub fn batch(&self, host: &HostSpec) -> Result<Batch> {
        let mut b = Batch::default();
        match host.kind {
            HostKind::Node => {
                if self.phases.node {
                    b.add(BOOTSTRAP_NODE, node::probes(self, host)?);
                }
                if self.phases.cluster {
                    b.add(FORM_CLUSTER, cluster::node_probes(self));
                }
                if self.phases.storage {
                    b.add(CONFIGURE_STORAGE, storage::probes(self, host));
                }
            }
            HostKind::QDevice => {
                if self.phases.qdevice {
                    b.add(BOOTSTRAP_QDEVICE, qdevice::probes(self, host));
                }
                if self.phases.cluster {
                    b.add(FORM_CLUSTER, cluster::pi_probes(self));
                }
            }
        }
        Ok(b)
    }

    /// Phases that run on `host`.
    pub fn phases_for(&self, host: &HostSpec) -> Vec<String> {
        let on = match host.kind {
            HostKind::Node => vec![(self.phases.node, BOOTSTRAP_NODE), (self.phases.cluster, FORM_CLUSTER), (self.phases.storage, CONFIGURE_STORAGE)],
            HostKind::QDevice => vec![(self.phases.qdevice, BOOTSTRAP_QDEVICE), (self.phases.cluster, FORM_CLUSTER)],
        };
        on.into_iter().filter(|(b, _)| *b).map(|(_, n)| n.to_string()).collect()
    }

    /// Evaluate everything observed. `results` holds one entry per host of this run.
    pub fn evaluate(&self, observed: &BTreeMap<String, HostObservation>, results: &mut [HostResult]) {
        let mut by_host: BTreeMap<String, &mut HostResult> = results.iter_mut().map(|r| (r.host.clone(), r)).collect();
        if self.phases.node {
            node::evaluate(self, observed, &mut by_host);
        }
        if self.phases.qdevice {
            qdevice::evaluate(self, observed, &mut by_host);
        }
        if self.phases.cluster {
            cluster::evaluate(self, observed, &mut by_host);
        }
        if self.phases.storage {
            storage::evaluate(self, observed, &mut by_host);
        }
    }
}
