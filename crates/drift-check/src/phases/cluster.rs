//! form-cluster: the cluster as the inventory describes it, and its health.
//!
//! Reused from the form-cluster library: its probes ([`form_cluster::facts::node_probes`],
//! [`form_cluster::facts::pi_probes`]) and parsers ([`NodeFacts`], [`PiFacts`]), its per-node
//! resources ([`form_cluster::resources::node_resources`]: root key pairs, the SSH trust
//! between nodes, corosync-qdevice) and its verification ([`form_cluster::verify::verify`]).
//!
//! * drift — the cluster's configuration (`/etc/pve/corosync.conf`, shared by every member):
//!   a node not a member (**missing**), a ring address that differs (**different**), a node in
//!   the nodelist that the inventory does not have (**unmanaged**), the QDevice missing or
//!   pointing elsewhere; plus the per-node resources.
//! * health — `verify`'s quorum (votes), link0/link1, QDevice connection and qnetd checks.
//!   Its root-window check is left out: the open window is reported as unmanaged drift by
//!   bootstrap-qdevice's resources on the Pi.

use super::{Context, FORM_CLUSTER};
use crate::batch::HostObservation;
use crate::classify::{self, Refine};
use crate::model::{Bucket, DriftItem, HostResult, Level};
use common::engine::Resource;
use common::inventory::Inventory;
use form_cluster::facts::{NodeFacts, PiFacts};
use form_cluster::verify;
use std::collections::BTreeMap;

pub fn node_probes(ctx: &Context) -> Vec<(String, String)> {
    let inv = &ctx.loaded.inv;
    let mut p = form_cluster::facts::node_probes();
    for r in form_cluster::resources::node_resources(inv, &BTreeMap::new(), None, "") {
        p.push((r.id(), r.probe()));
    }
    p
}

pub fn pi_probes(_ctx: &Context) -> Vec<(String, String)> {
    form_cluster::facts::pi_probes()
}

/// Checks of `verify` that are configuration (reported as drift here) or reported elsewhere.
const NOT_HEALTH: [&str; 3] = ["verify cluster", "verify nodelist", "verify root window"];

/// Drift of the cluster configuration as one node sees it (`/etc/pve/corosync.conf`).
pub fn config_drift(inv: &Inventory, f: &NodeFacts) -> Vec<DriftItem> {
    let item = |b, res: String, s: String| DriftItem::new(b, FORM_CLUSTER, res, s);
    let cluster = format!("cluster {}", inv.cluster.name);
    let Some(conf) = &f.conf else {
        return vec![item(
            Bucket::Missing,
            cluster,
            format!("{} is not a member of a cluster (no /etc/pve/corosync.conf)", f.name),
        )];
    };
    let mut out = Vec::new();
    let name = conf.cluster_name().unwrap_or("?");
    if name != inv.cluster.name {
        out.push(item(Bucket::Different, cluster, format!("cluster_name {name} → {}", inv.cluster.name)));
    }
    let nodes = conf.nodes().unwrap_or_default();
    for want in &inv.nodes {
        let res = format!("corosync node {}", want.name);
        match nodes.iter().find(|n| n.name == want.name) {
            None => out.push(item(Bucket::Missing, res, format!("{} is not in the nodelist", want.name))),
            Some(n) => {
                let mut changes = Vec::new();
                for (i, a) in [(0u8, &want.link0), (1u8, &want.link1)] {
                    let have = n.addrs.get(&i).map(String::as_str).unwrap_or("(unset)");
                    if have != a {
                        changes.push(format!("ring{i}_addr {have} → {a}"));
                    }
                }
                if !changes.is_empty() {
                    let summary = changes.join("; ");
                    let diff = classify::render_diff(Bucket::Different, &summary, None);
                    out.push(item(Bucket::Different, res, summary).with_diff(diff));
                }
            }
        }
    }
    for n in nodes.iter().filter(|n| inv.node(&n.name).is_none()) {
        let addrs: Vec<String> = n.addrs.iter().map(|(i, a)| format!("ring{i}_addr {a}")).collect();
        out.push(item(
            Bucket::Unmanaged,
            format!("corosync node {}", n.name),
            format!("in the nodelist (nodeid {}, {}), not in the inventory", n.nodeid, addrs.join(", ")),
        ));
    }
    match (&inv.qdevice, conf.quorum_device()) {
        (Some(q), None) => out.push(item(
            Bucket::Missing,
            "quorum device".into(),
            format!("no QDevice in corosync.conf (inventory: {} at {})", q.name, q.address),
        )),
        (Some(q), Some(d)) => {
            let mut changes = Vec::new();
            if d.host != q.address {
                changes.push(format!("host {} → {}", d.host, q.address));
            }
            let alg = form_cluster::pvecm::expected_algorithm(inv.nodes.len());
            if d.algorithm != alg {
                changes.push(format!("algorithm {} → {alg}", d.algorithm));
            }
            if !changes.is_empty() {
                let summary = changes.join("; ");
                let diff = classify::render_diff(Bucket::Different, &summary, None);
                out.push(item(Bucket::Different, "quorum device".into(), summary).with_diff(diff));
            }
        }
        (None, Some(d)) => out.push(item(
            Bucket::Unmanaged,
            "quorum device".into(),
            format!("QDevice at {} configured, the inventory has no [qdevice]", d.host),
        )),
        (None, None) => {}
    }
    out
}

fn level(l: verify::Level) -> Level {
    match l {
        verify::Level::Ok => Level::Ok,
        verify::Level::Degraded => Level::Degraded,
        verify::Level::Failed => Level::Failed,
    }
}

pub fn evaluate(ctx: &Context, observed: &BTreeMap<String, HostObservation>, results: &mut BTreeMap<String, &mut HostResult>) {
    let inv = &ctx.loaded.inv;
    // Facts of every observed node (trust needs all of them) and of the Pi.
    let mut facts: BTreeMap<String, NodeFacts> = BTreeMap::new();
    for n in &inv.nodes {
        let Some(o) = observed.get(&n.name) else { continue };
        match NodeFacts::parse(&n.name, o.phase(FORM_CLUSTER)) {
            Ok(f) => {
                facts.insert(n.name.clone(), f);
            }
            Err(e) => {
                if let Some(r) = results.get_mut(&n.name) {
                    r.errors.push(format!("{FORM_CLUSTER}: {e:#}"));
                }
            }
        }
    }
    let pi: Option<PiFacts> = inv
        .qdevice
        .as_ref()
        .and_then(|q| observed.get(&q.name).map(|o| PiFacts::parse(&q.name, o.phase(FORM_CLUSTER))));
    let every_node = inv.nodes.iter().all(|n| facts.contains_key(&n.name));

    // Per-node resources; the trust lines need every node's root keys, so without all nodes
    // observed they are not judged (that would report drift that is not there).
    for name in facts.keys() {
        let Some(r) = results.get_mut(name) else { continue };
        let resources = form_cluster::resources::node_resources(inv, &facts, pi.as_ref(), name);
        let (ak, kh) = form_cluster::resources::trust_resources(inv, &facts, pi.as_ref(), name);
        let trust = [ak.id(), kh.id()];
        let resources: Vec<Box<dyn Resource>> =
            resources.into_iter().filter(|res| every_node || !trust.contains(&res.id())).collect();
        if !every_node {
            r.notes.push("SSH trust between nodes not checked: not every node was observed".into());
        }
        let (items, errors) = classify::evaluate(FORM_CLUSTER, &resources, ctx_obs(observed, name), &Refine::default());
        r.drift.extend(items);
        r.errors.extend(errors);
    }

    // The shared configuration: an item goes to the first node (inventory order, so the
    // master) that reports it, so one extra node is one item, not one per member.
    let mut seen: Vec<(String, String, Bucket)> = Vec::new();
    for n in &inv.nodes {
        let (Some(f), Some(r)) = (facts.get(&n.name), results.get_mut(&n.name)) else { continue };
        for item in config_drift(inv, f) {
            let key = (item.resource.clone(), item.summary.clone(), item.bucket);
            // "not a member" is about this node itself: always its own item.
            if item.resource.starts_with("cluster ") || !seen.contains(&key) {
                seen.push(key);
                r.drift.push(item);
            }
        }
    }

    // Health.
    let findings = verify::verify(inv, &facts, pi.as_ref());
    for (name, f) in &facts {
        let Some(r) = results.get_mut(name) else { continue };
        if let Some(st) = &f.status {
            r.health.quorate = Some(st.quorum.quorate);
            r.health.votes_total = Some(st.quorum.total_votes);
            r.health.votes_expected = Some(st.quorum.expected_votes);
        }
    }
    for fd in findings.iter().filter(|fd| !NOT_HEALTH.contains(&fd.id.as_str())) {
        let Some(r) = results.get_mut(&fd.host) else { continue };
        let check = fd.id.trim_start_matches("verify ").to_string();
        if let Some(n) = check.strip_prefix("link").and_then(|n| n.parse::<u32>().ok()) {
            r.health.links.insert(n, fd.level == verify::Level::Ok);
        }
        r.health.push(check, level(fd.level), fd.message.clone());
    }
}

fn ctx_obs<'a>(observed: &'a BTreeMap<String, HostObservation>, name: &str) -> &'a std::collections::HashMap<String, common::engine::Observed> {
    observed.get(name).map(|o| o.phase(FORM_CLUSTER)).expect("facts exist only for observed nodes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::engine::Observed;
    use std::collections::HashMap;

    fn inv() -> Inventory {
        common::inventory::testing::LabInventory::new().load().inv
    }

    fn node(addr2_ring1: &str, extra: bool, qdevice: bool) -> String {
        let mut s = String::from("totem {\n  cluster_name: homelab\n  config_version: 3\n}\n\nnodelist {\n");
        s.push_str("  node {\n    name: pve-node1\n    nodeid: 1\n    quorum_votes: 1\n    ring0_addr: 10.231.10.11\n    ring1_addr: 10.231.1.11\n  }\n");
        s.push_str(&format!("  node {{\n    name: pve-node2\n    nodeid: 2\n    quorum_votes: 1\n    ring0_addr: 10.231.10.12\n    ring1_addr: {addr2_ring1}\n  }}\n"));
        if extra {
            s.push_str("  node {\n    name: pve-node9\n    nodeid: 9\n    quorum_votes: 1\n    ring0_addr: 10.231.10.19\n  }\n");
        }
        s.push_str("}\n\n");
        if qdevice {
            s.push_str("quorum {\n  device {\n    model: net\n    net {\n      algorithm: ffsplit\n      host: 10.231.10.5\n      tls: on\n    }\n    votes: 1\n  }\n  provider: corosync_votequorum\n}\n");
        }
        s
    }

    fn facts(conf: Option<&str>) -> NodeFacts {
        let mut o: HashMap<String, Observed> = HashMap::new();
        o.insert(form_cluster::facts::key::IP.into(), Observed::new("[]", 0));
        match conf {
            Some(c) => o.insert(form_cluster::facts::key::PVE_CONF.into(), Observed::new(c, 0)),
            None => o.insert(form_cluster::facts::key::PVE_CONF.into(), Observed::new("", form_cluster::facts::NOT_CLUSTERED)),
        };
        NodeFacts::parse("pve-node1", &o).unwrap()
    }

    #[test]
    fn a_matching_cluster_has_no_drift() {
        assert_eq!(config_drift(&inv(), &facts(Some(&node("10.231.1.12", false, true)))), vec![]);
    }

    #[test]
    fn cluster_config_drift_is_bucketed() {
        let items = config_drift(&inv(), &facts(Some(&node("10.231.1.99", true, false))));
        let got: Vec<(Bucket, &str)> = items.iter().map(|i| (i.bucket, i.resource.as_str())).collect();
        assert_eq!(
            got,
            [
                (Bucket::Different, "corosync node pve-node2"),
                (Bucket::Unmanaged, "corosync node pve-node9"),
                (Bucket::Missing, "quorum device"),
            ]
        );
        assert_eq!(items[0].summary, "ring1_addr 10.231.1.99 → 10.231.1.12");
        assert_eq!(items[0].diff.as_deref(), Some("ring1_addr: 10.231.1.99 → 10.231.1.12"));
        assert!(items[1].summary.contains("nodeid 9") && items[1].summary.contains("not in the inventory"), "{}", items[1].summary);
        let lonely = config_drift(&inv(), &facts(None));
        assert_eq!(lonely[0].bucket, Bucket::Missing);
        assert_eq!(lonely[0].resource, "cluster homelab");
    }
}
