//! Verification of the formed cluster, on every node, from one observation: quorate, the vote
//! counts the inventory implies (2 nodes + QDevice → Expected 3, Total 3), the `Qdevice` flag,
//! both knet links connected to every peer (`corosync-cfgtool -s`), the nodelist addresses equal
//! to the inventory, the QDevice host and its daemon connected; on the Pi: qnetd serving the
//! cluster and no temporary root key left behind.
//!
//! A degraded link is [`Level::Degraded`]: a warning in the report, a failure with `--strict`.

use crate::facts::{NodeFacts, PiFacts};
use crate::pvecm;
use common::inventory::{Inventory, QDeviceAlgorithm};
use common::parsers::cfgtool::LinkPeerState;
use common::parsers::quorum::QuorumFlag;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    /// Works, but with less redundancy than wanted (a corosync link down).
    Degraded,
    Failed,
}

/// One verified property of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub host: String,
    /// `verify quorum`, `verify link0` …
    pub id: String,
    pub level: Level,
    pub message: String,
}

impl Finding {
    fn new(host: &str, id: &str, level: Level, message: impl Into<String>) -> Self {
        Finding { host: host.into(), id: format!("verify {id}"), level, message: message.into() }
    }
}

/// Votes the QDevice gives: 1 with ffsplit; nodes − 1 with lms (corosync-qdevice's default for
/// LMS, pve-cli.md §2.2: no `votes:` line is written for lms).
pub fn qdevice_votes(inv: &Inventory) -> u32 {
    match &inv.qdevice {
        None => 0,
        Some(q) if q.algorithm == QDeviceAlgorithm::Lms && inv.nodes.len() % 2 == 1 => inv.nodes.len() as u32 - 1,
        Some(_) => 1,
    }
}

/// Expected votes of the finished cluster.
pub fn expected_votes(inv: &Inventory) -> u32 {
    inv.nodes.len() as u32 + qdevice_votes(inv)
}

/// Every check, for every node in `facts` (unobserved nodes are the caller's to report).
pub fn verify(inv: &Inventory, facts: &BTreeMap<String, NodeFacts>, pi: Option<&PiFacts>) -> Vec<Finding> {
    let mut out = Vec::new();
    let expected = expected_votes(inv);
    for node in &inv.nodes {
        let Some(f) = facts.get(&node.name) else { continue };
        let h = node.name.as_str();
        let Some(conf) = &f.conf else {
            out.push(Finding::new(h, "cluster", Level::Failed, "not clustered (no /etc/pve/corosync.conf)"));
            continue;
        };
        if conf.cluster_name() != Some(inv.cluster.name.as_str()) {
            out.push(Finding::new(
                h,
                "cluster",
                Level::Failed,
                format!("cluster '{}', inventory says '{}'", conf.cluster_name().unwrap_or("?"), inv.cluster.name),
            ));
        }

        // Quorum and votes.
        match &f.status {
            None => out.push(Finding::new(
                h,
                "quorum",
                Level::Failed,
                f.status_error.clone().unwrap_or_else(|| "no `pvecm status`".into()),
            )),
            Some(s) => {
                let q = &s.quorum;
                let mut bad = Vec::new();
                if !q.quorate {
                    bad.push("not quorate".to_string());
                }
                if q.expected_votes != expected {
                    bad.push(format!("Expected votes {} (want {expected})", q.expected_votes));
                }
                if q.total_votes != expected {
                    bad.push(format!("Total votes {} (want {expected})", q.total_votes));
                }
                if inv.qdevice.is_some() && !q.has_flag(&QuorumFlag::Qdevice) {
                    bad.push("Flags lack Qdevice".into());
                }
                let flags: Vec<&str> = q.flags.iter().map(|f| f.as_str()).collect();
                let state = format!(
                    "quorate {}, Expected votes {}, Total votes {}, Flags: {}",
                    if q.quorate { "yes" } else { "NO" },
                    q.expected_votes,
                    q.total_votes,
                    flags.join(" ")
                );
                if bad.is_empty() {
                    out.push(Finding::new(h, "quorum", Level::Ok, state));
                } else {
                    out.push(Finding::new(h, "quorum", Level::Failed, format!("{}: {state}", bad.join(", "))));
                }
            }
        }

        // Links: every peer connected on link0 and link1.
        let ids: BTreeMap<String, u32> =
            conf.nodes().unwrap_or_default().into_iter().map(|n| (n.name.clone(), n.nodeid)).collect();
        let my_id = ids.get(h).copied();
        for (link, want_addr) in [(0u32, &node.link0), (1u32, &node.link1)] {
            let id = format!("link{link}");
            let Some(report) = &f.links else {
                let why = f.links_error.clone().unwrap_or_else(|| "no `corosync-cfgtool -s`".into());
                out.push(Finding::new(h, &id, Level::Degraded, why));
                continue;
            };
            let Some(l) = report.link(link) else {
                out.push(Finding::new(h, &id, Level::Degraded, format!("LINK ID {link} missing from corosync-cfgtool -s")));
                continue;
            };
            let mut bad = Vec::new();
            if let Some(a) = &l.local_addr {
                if a != want_addr {
                    bad.push(format!("local address {a} (inventory {want_addr})"));
                }
            }
            for (peer, pid) in ids.iter().filter(|(_, id)| Some(**id) != my_id) {
                match l.peer(*pid) {
                    Some(LinkPeerState::Connected) => {}
                    Some(state) => bad.push(format!("to {peer} (node id {pid}): {}", state.as_str())),
                    None => bad.push(format!("to {peer} (node id {pid}): not listed")),
                }
            }
            if bad.is_empty() {
                out.push(Finding::new(h, &id, Level::Ok, format!("connected ({want_addr})")));
            } else {
                out.push(Finding::new(h, &id, Level::Degraded, format!("degraded: {}", bad.join("; "))));
            }
        }

        // Nodelist addresses = inventory.
        let mut bad = Vec::new();
        let nodes = conf.nodes().unwrap_or_default();
        for want in &inv.nodes {
            match nodes.iter().find(|n| n.name == want.name) {
                None => bad.push(format!("{} missing", want.name)),
                Some(n) => {
                    for (i, a) in [(0u8, &want.link0), (1u8, &want.link1)] {
                        let have = n.addrs.get(&i).map(String::as_str).unwrap_or("(none)");
                        if have != a {
                            bad.push(format!("{} ring{i}_addr {have} (inventory {a})", want.name));
                        }
                    }
                }
            }
        }
        for n in &nodes {
            if inv.node(&n.name).is_none() {
                bad.push(format!("{} is not in the inventory", n.name));
            }
        }
        if bad.is_empty() {
            out.push(Finding::new(h, "nodelist", Level::Ok, "nodelist addresses match the inventory"));
        } else {
            out.push(Finding::new(h, "nodelist", Level::Failed, bad.join("; ")));
        }

        // QDevice.
        if let Some(q) = &inv.qdevice {
            match conf.quorum_device() {
                None => out.push(Finding::new(h, "qdevice", Level::Failed, "no QDevice in corosync.conf")),
                Some(d) => {
                    let mut bad = Vec::new();
                    if d.host != q.address {
                        bad.push(format!("host {} (inventory {})", d.host, q.address));
                    }
                    let want_alg = pvecm::expected_algorithm(inv.nodes.len());
                    if d.algorithm != want_alg {
                        bad.push(format!("algorithm {} (want {want_alg})", d.algorithm));
                    }
                    match &f.qdevice {
                        Some(s) if s.is_connected() => {}
                        Some(s) => bad.push(format!("corosync-qdevice State: {}", s.state.as_deref().unwrap_or("?"))),
                        None => bad.push(
                            f.qdevice_error.clone().unwrap_or_else(|| "corosync-qdevice not answering".into()),
                        ),
                    }
                    if bad.is_empty() {
                        out.push(Finding::new(h, "qdevice", Level::Ok, format!("connected to {}", q.address)));
                    } else {
                        out.push(Finding::new(h, "qdevice", Level::Failed, bad.join("; ")));
                    }
                }
            }
        }
    }

    if let (Some(q), Some(p)) = (&inv.qdevice, pi) {
        if p.open_window_lines > 0 || !p.window_drift.is_empty() {
            let mut what = Vec::new();
            if p.open_window_lines > 0 {
                what.push(format!("{} temporary root key(s) in /root/.ssh/authorized_keys", p.open_window_lines));
            }
            what.extend(p.window_drift.iter().cloned());
            out.push(Finding::new(
                &q.name,
                "root window",
                Level::Failed,
                format!("open: {} — close it: bootstrap-qdevice harden", what.join("; ")),
            ));
        } else {
            out.push(Finding::new(&q.name, "root window", Level::Ok, "closed"));
        }
        if !p.qnetd_running {
            out.push(Finding::new(
                &q.name,
                "qnetd",
                Level::Failed,
                format!("corosync-qnetd not running: {}", p.qnetd_error.as_deref().unwrap_or("?")),
            ));
        } else {
            match p.cluster(&inv.cluster.name) {
                Some(c) => out.push(Finding::new(
                    &q.name,
                    "qnetd",
                    Level::Ok,
                    format!("serving cluster '{}' for node ids {:?}", c.name, c.node_ids()),
                )),
                None => out.push(Finding::new(
                    &q.name,
                    "qnetd",
                    Level::Failed,
                    format!("running, but no client of cluster '{}' is connected", inv.cluster.name),
                )),
            }
        }
    }
    out
}

/// Is everything at least `Ok`/`Degraded` (no failures)? With `strict`, degraded counts too.
pub fn passed(findings: &[Finding], strict: bool) -> bool {
    findings.iter().all(|f| match f.level {
        Level::Ok => true,
        Level::Degraded => !strict,
        Level::Failed => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pvecm::tests::inv;
    use common::engine::Observed;
    use common::inventory::QDevice;
    use std::collections::HashMap;

    const CONF: &str = "logging {\n  debug: off\n  to_syslog: yes\n}\n\nnodelist {\n  node {\n    name: pve-node1\n    nodeid: 1\n    quorum_votes: 1\n    ring0_addr: 10.231.10.11\n    ring1_addr: 10.231.1.11\n  }\n  node {\n    name: pve-node2\n    nodeid: 2\n    quorum_votes: 1\n    ring0_addr: 10.231.10.12\n    ring1_addr: 10.231.1.12\n  }\n}\n\nquorum {\n  device {\n    model: net\n    net {\n      algorithm: ffsplit\n      host: 10.231.10.5\n      tls: on\n    }\n    votes: 1\n  }\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: homelab\n  config_version: 3\n  interface {\n    linknumber: 0\n  }\n  interface {\n    linknumber: 1\n  }\n  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n  version: 2\n}\n\n";

    fn status(local: u32, total: u32, flags: &str) -> String {
        format!(
            "Cluster information\n-------------------\nName:             homelab\nConfig Version:   3\nTransport:        knet\nSecure auth:      on\n\n\
Quorum information\n------------------\nDate:             Mon Sep  1 12:00:00 2025\nQuorum provider:  corosync_votequorum\nNodes:            2\nNode ID:          0x0000000{local}\nRing ID:          1.2d\nQuorate:          Yes\n\n\
Votequorum information\n----------------------\nExpected votes:   3\nHighest expected: 3\nTotal votes:      {total}\nQuorum:           2  \nFlags:            {flags}\n\n\
Membership information\n----------------------\n    Nodeid      Votes    Qdevice Name\n0x00000001          1    A,V,NMW 10.231.10.11{}\n0x00000002          1    A,V,NMW 10.231.10.12{}\n0x00000000          1            Qdevice\n",
            if local == 1 { " (local)" } else { "" },
            if local == 2 { " (local)" } else { "" },
        )
    }

    fn cfgtool(local: u32, l0: &str, l1: &str) -> String {
        let other = 3 - local;
        let (a0, a1) = (format!("10.231.10.1{local}"), format!("10.231.1.1{local}"));
        let row = |id: u32, st: &str| format!("\t\tnodeid:          {id}:\t{st}\n");
        let block = |n: u32, addr: &str, st: &str| {
            let mut rows = [(local, "localhost"), (other, st)];
            rows.sort();
            format!("LINK ID {n} udp\n\taddr\t= {addr}\n\tstatus:\n{}{}", row(rows[0].0, rows[0].1), row(rows[1].0, rows[1].1))
        };
        format!("Local node ID {local}, transport knet\n{}{}", block(0, &a0, l0), block(1, &a1, l1))
    }

    const QDEV: &str = "Qdevice information\n-------------------\nModel:\t\t\tNet\nNode ID:\t\t1\nConfiguration version:\t3\nConfigured node list:\n    0\tNode ID = 1\n    1\tNode ID = 2\nMembership node list:\t1, 2\n\nQdevice-net information\n----------------------\nCluster name:\t\thomelab\nQNetd host:\t\t10.231.10.5:5403\nAlgorithm:\t\tFifty-Fifty split\nTie-breaker:\t\tNode with lowest node ID\nState:\t\t\tConnected\n";

    fn node(name: &str, local: u32, total: u32, l0: &str) -> NodeFacts {
        use crate::facts::key;
        let o: HashMap<String, Observed> = [
            (key::HOSTNAME, format!("{name}\n"), 0),
            (key::IP, "[]".to_string(), 0),
            (key::PVE_CONF, CONF.to_string(), 0),
            (key::STATUS, status(local, total, "Quorate Qdevice "), 0),
            (key::LINKS, cfgtool(local, l0, "connected"), 0),
            (key::QDEVICE, QDEV.to_string(), 0),
        ]
        .into_iter()
        .map(|(k, v, s)| (k.to_string(), Observed::new(&v, s)))
        .collect();
        let f = NodeFacts::parse(name, &o).unwrap();
        assert!(f.status.is_some(), "{:?}", f.status_error);
        assert!(f.links.is_some(), "{:?}", f.links_error);
        assert!(f.qdevice.is_some(), "{:?}", f.qdevice_error);
        f
    }

    fn full_inv() -> Inventory {
        let mut i = inv();
        i.qdevice = Some(QDevice {
            name: "qdevice1".into(),
            address: "10.231.10.5".into(),
            first_contact: Default::default(),
            algorithm: QDeviceAlgorithm::Ffsplit,
        });
        i
    }

    fn facts(a: NodeFacts, b: NodeFacts) -> BTreeMap<String, NodeFacts> {
        [(a.name.clone(), a), (b.name.clone(), b)].into_iter().collect()
    }

    #[test]
    fn healthy_cluster_passes() {
        let i = full_inv();
        let f = facts(node("pve-node1", 1, 3, "connected"), node("pve-node2", 2, 3, "connected"));
        let pi = PiFacts { name: "qdevice1".into(), qnetd_running: true, ..Default::default() };
        let v = verify(&i, &f, Some(&pi));
        let bad: Vec<_> = v.iter().filter(|x| x.level != Level::Ok && x.id != "verify qnetd").collect();
        assert!(bad.is_empty(), "{bad:#?}");
        assert!(v.iter().any(|x| x.id == "verify quorum" && x.message.contains("Expected votes 3, Total votes 3")));
        assert_eq!(expected_votes(&i), 3);
    }

    #[test]
    fn link_down_is_degraded_not_failed() {
        let i = full_inv();
        let f = facts(node("pve-node1", 1, 3, "disconnected"), node("pve-node2", 2, 3, "connected"));
        let v = verify(&i, &f, None);
        let l0 = v.iter().find(|x| x.host == "pve-node1" && x.id == "verify link0").unwrap();
        assert_eq!(l0.level, Level::Degraded);
        assert_eq!(l0.message, "degraded: to pve-node2 (node id 2): disconnected");
        assert!(passed(&v, false));
        assert!(!passed(&v, true));
    }

    #[test]
    fn missing_vote_fails() {
        let i = full_inv();
        let f = facts(node("pve-node1", 1, 2, "connected"), node("pve-node2", 2, 3, "connected"));
        let v = verify(&i, &f, None);
        let q = v.iter().find(|x| x.host == "pve-node1" && x.id == "verify quorum").unwrap();
        assert_eq!(q.level, Level::Failed);
        assert!(q.message.starts_with("Total votes 2 (want 3)"), "{}", q.message);
        assert!(!passed(&v, false));
    }

    #[test]
    fn nodelist_address_mismatch_fails() {
        let mut i = full_inv();
        i.nodes[1].link1 = "10.231.1.99".into();
        let f = facts(node("pve-node1", 1, 3, "connected"), node("pve-node2", 2, 3, "connected"));
        let v = verify(&i, &f, None);
        let n = v.iter().find(|x| x.host == "pve-node1" && x.id == "verify nodelist").unwrap();
        assert_eq!(n.message, "pve-node2 ring1_addr 10.231.1.12 (inventory 10.231.1.99)");
    }

    #[test]
    fn open_root_window_fails() {
        let i = full_inv();
        let f = BTreeMap::new();
        let pi = PiFacts { name: "qdevice1".into(), qnetd_running: true, open_window_lines: 2, ..Default::default() };
        let v = verify(&i, &f, Some(&pi));
        assert!(v.iter().any(|x| x.id == "verify root window" && x.level == Level::Failed));
    }
}
