//! Parsers against output captured from the real corosync 3.1.7 / corosync-qdevice /
//! corosync-qnetd tools (Debian 12 packages) running a 2-node, 2-link cluster with a QDevice in
//! private namespaces — see `tests/fixtures/parsers/README.md` and `capture-real-corosync.sh`.
//! The lab's pve-sim execs these same tools, so this is what phases see in the lab.

use common::parsers::cfgtool::{self, LinkPeerState};
use common::parsers::qdevice;
use common::parsers::quorum::{self, QdeviceCell, QdeviceRow, QuorumFlag};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/parsers/", $name))
    };
}

fn cell(alive: bool, casts_vote: bool, master_wins: bool) -> Option<QdeviceCell> {
    Some(QdeviceCell::Registered { alive, casts_vote, master_wins })
}

#[test]
fn quorum_status_healthy_with_qdevice_names_and_hex() {
    let q = quorum::parse_quorumtool_status(fixture!("quorumtool-s-real-qdevice.txt")).unwrap();
    assert_eq!((q.nodes, q.node_id, q.expected_votes, q.total_votes, q.quorum), (2, 1, 3, 3, 2));
    assert!(q.quorate && q.has_flag(&QuorumFlag::Qdevice));
    assert_eq!(q.membership.member_named("pve2").and_then(|m| m.qdevice), cell(true, true, false));
    assert_eq!(q.membership.qdevice, Some(QdeviceRow { votes: 1, configured_votes: None }));

    let h = quorum::parse_quorumtool_status(fixture!("quorumtool-siH-real-qdevice.txt")).unwrap();
    assert_eq!(h.node_id, 1);
    assert_eq!(h.membership.local().map(|m| m.name.as_str()), Some("10.231.10.101"));
    assert_eq!(h.membership.member(2).and_then(|m| m.address()), Some("10.231.10.102".parse().unwrap()));
    // -s and -siH describe the same state
    assert_eq!((h.nodes, h.total_votes, &h.flags), (q.nodes, q.total_votes, &q.flags));

    let p = quorum::parse_pvecm_status(fixture!("pvecm-status-real-qdevice.txt")).unwrap();
    assert_eq!(p.cluster.name, "pvecl");
    assert!(!p.cluster.secure_auth_on());
    assert_eq!(p.quorum, h);
}

#[test]
fn quorum_status_qnetd_unreachable() {
    // Real corosync 3.1.7 with the qdevice daemon alive but qnetd gone prints `A,NV,NMW`
    // (pve-cli.md §2.5/§10 expect `NA,…`, which is the daemon-not-running case).
    let q = quorum::parse_quorumtool_status(fixture!("quorumtool-siH-real-qnetd-down.txt")).unwrap();
    assert!(q.quorate);
    assert_eq!(q.total_votes, 2);
    assert!(q.membership.members.iter().all(|m| m.qdevice == cell(true, false, false)));
    assert_eq!(q.membership.qdevice, Some(QdeviceRow { votes: 0, configured_votes: Some(1) }));
    let l = quorum::parse_quorumtool_list(fixture!("pvecm-nodes-real-qnetd-down.txt")).unwrap();
    assert_eq!(l.qdevice.map(|d| d.configured()), Some(1));
    assert_eq!(l.members.len(), 2);
}

#[test]
fn node_list_real() {
    let l = quorum::parse_quorumtool_list(fixture!("pvecm-nodes-real-qdevice.txt")).unwrap();
    assert!(l.qdevice_column);
    assert_eq!(l.members.iter().map(|m| (m.node_id, m.name.as_str(), m.local)).collect::<Vec<_>>(), [
        (1, "pve1", true),
        (2, "pve2", false)
    ]);
}

#[test]
fn cfgtool_real() {
    let s = cfgtool::parse_cfgtool_status(fixture!("cfgtool-s-real-qdevice.txt")).unwrap();
    assert_eq!((s.local_node_id, s.transport.as_deref()), (1, Some("knet")));
    assert_eq!(s.links.len(), 2);
    assert_eq!(s.link(1).and_then(|l| l.local_addr.as_deref()), Some("10.231.1.101"));
    assert!(s.links.iter().all(|l| l.peer(2) == Some(LinkPeerState::Connected) && l.all_connected()));
    let b = cfgtool::parse_cfgtool_status(fixture!("cfgtool-s-b-real-qdevice.txt")).unwrap();
    assert_eq!(b.link(0).and_then(|l| l.brief.as_deref()), Some("n3"));
    let n = cfgtool::parse_cfgtool_nodes(fixture!("cfgtool-n-real-qdevice.txt")).unwrap();
    let links = &n.node(2).unwrap().links;
    assert_eq!(links.len(), 2);
    assert!(links.iter().all(|l| l.enabled && l.connected && l.mtu == Some(1446)));
    assert_eq!(links[1].remote_addr, "10.231.1.102");
}

#[test]
fn qdevice_tool_real() {
    let s = qdevice::parse_qdevice_tool_status(fixture!("qdevice-tool-s-real-qdevice.txt")).unwrap();
    assert!(s.is_connected());
    assert_eq!(s.algorithm_config_name(), Some("ffsplit"));
    assert_eq!(s.qnetd_addr(), Some(("10.231.10.105".to_string(), 5403)));
    assert_eq!((s.configured_nodes.clone(), s.membership_nodes.clone()), (vec![1, 2], vec![1, 2]));

    let v = qdevice::parse_qdevice_tool_status(fixture!("qdevice-tool-sv-real-qdevice.txt")).unwrap();
    assert_eq!(v.quorum_nodes.len(), 2);
    assert_eq!(v.quorum_nodes[0].state.as_deref(), Some("member"));
    assert_eq!(v.extra.get("Last poll call").map(String::as_str), Some("2026-11-24T02:58:06 (cast vote)"));
    // `HB interval` exists in both blocks with different values: kept apart.
    assert_eq!(v.extra.get("HB interval").map(String::as_str), Some("10000ms"));
    assert_eq!(v.net_extra.get("HB interval").map(String::as_str), Some("8000ms"));
    assert_eq!(v.net_extra.get("TLS").map(String::as_str), Some("Unsupported"));

    let d = qdevice::parse_qdevice_tool_status(fixture!("qdevice-tool-s-real-qnetd-down.txt")).unwrap();
    assert_eq!(d.state.as_deref(), Some("Connect failed"));
    assert!(!d.is_connected());
}

#[test]
fn qnetd_tool_real() {
    let s = qdevice::parse_qnetd_tool_status(fixture!("qnetd-tool-s-real.txt")).unwrap();
    assert_eq!((s.connected_clients, s.connected_clusters), (2, 1));
    assert_eq!(s.address.as_deref(), Some("10.231.10.105:5403"));
    let l = qdevice::parse_qnetd_tool_list(fixture!("qnetd-tool-l-real.txt")).unwrap();
    assert_eq!(l.len(), 1);
    let c = &l[0];
    assert_eq!(c.name, "pvecl");
    assert!(c.kap_tie_breaker);
    assert_eq!(c.algorithm.as_deref(), Some("Fifty-Fifty split"));
    assert_eq!(c.node_ids(), [1, 2]);
    // Plain IPv4 when qnetd listens on an IPv4 address (no `::ffff:` prefix).
    assert_eq!(c.node(1).and_then(|n| n.client_ip()), Some("10.231.10.101".parse().unwrap()));
    assert_eq!(c.node(1).and_then(|n| n.vote.as_deref()), Some("No change"));
    assert_eq!(c.node(2).and_then(|n| n.last_vote.as_deref()), Some("ACK"));
    let v = qdevice::parse_qnetd_tool_list(fixture!("qnetd-tool-lv-real.txt")).unwrap();
    assert_eq!(v[0].node(2).and_then(|n| n.extra.get("TLS active")).map(String::as_str), Some("No"));
    assert_eq!(v[0].nodes[0].configured_nodes, [1, 2]);
}
