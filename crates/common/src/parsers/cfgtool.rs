//! `corosync-cfgtool -s` (link status, also `-s -b`) and `corosync-cfgtool -n` (node status).
//!
//! Layouts: pve-cli.md §3.2 (corosync v3.1 `tools/corosync-cfgtool.c`). Also accepted: the
//! corosync 3.0 spelling (`Printing link status.` first, `Local node ID 1` without transport,
//! `LINK ID 0` without transport, `nodeid  2:` without the colon after `nodeid`).

use super::error::{Layout, Result};
use super::text::{node_id, number, numbered_lines, tokens};
use serde::{Serialize, Serializer};

/// `corosync-cfgtool -s` (pve-cli.md §3.2).
pub const CFGTOOL_STATUS: Layout =
    Layout { what: "`corosync-cfgtool -s` output", doc: "pve-cli.md §3.2" };
/// `corosync-cfgtool -n` (pve-cli.md §3.2).
pub const CFGTOOL_NODES: Layout =
    Layout { what: "`corosync-cfgtool -n` output", doc: "pve-cli.md §3.2" };

/// `corosync-cfgtool -s`: the local node and one block per enabled knet link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkStatusReport {
    pub local_node_id: u32,
    /// `knet` (absent in corosync 3.0 output).
    pub transport: Option<String>,
    pub links: Vec<LinkStatus>,
}

impl LinkStatusReport {
    pub fn link(&self, link_id: u32) -> Option<&LinkStatus> {
        self.links.iter().find(|l| l.link_id == link_id)
    }
}

/// One `LINK ID <n> <transport>` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkStatus {
    pub link_id: u32,
    /// Link transport (`udp` for knet by default, or the link's `knet_transport`).
    pub transport: Option<String>,
    /// The local address of this link (`addr = …`).
    pub local_addr: Option<String>,
    /// Per-node state, sorted by node id as printed (empty with `-b`).
    pub nodes: Vec<LinkPeer>,
    /// With `-s -b`: the one-character-per-node string (`n` local, `3` enabled+connected,
    /// `1` enabled only, `0` down), verbatim.
    pub brief: Option<String>,
}

impl LinkStatus {
    pub fn peer(&self, node_id: u32) -> Option<LinkPeerState> {
        self.nodes.iter().find(|p| p.node_id == node_id).map(|p| p.state.clone())
    }
    /// Every non-local node of the (non-brief) listing is `connected`.
    pub fn all_connected(&self) -> bool {
        self.nodes
            .iter()
            .all(|p| matches!(p.state, LinkPeerState::Localhost | LinkPeerState::Connected))
    }
}

/// `nodeid: N:<TAB>state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkPeer {
    pub node_id: u32,
    pub state: LinkPeerState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkPeerState {
    Localhost,
    Connected,
    Disconnected,
    /// Anything else corosync may print, verbatim.
    Other(String),
}

impl LinkPeerState {
    pub fn as_str(&self) -> &str {
        match self {
            LinkPeerState::Localhost => "localhost",
            LinkPeerState::Connected => "connected",
            LinkPeerState::Disconnected => "disconnected",
            LinkPeerState::Other(s) => s,
        }
    }
    fn from_word(s: &str) -> LinkPeerState {
        match s {
            "localhost" => LinkPeerState::Localhost,
            "connected" => LinkPeerState::Connected,
            "disconnected" => LinkPeerState::Disconnected,
            other => LinkPeerState::Other(other.to_string()),
        }
    }
}

impl Serialize for LinkPeerState {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Parse `corosync-cfgtool -s` (with or without `-b`).
pub fn parse_cfgtool_status(text: &str) -> Result<LinkStatusReport> {
    let l = CFGTOOL_STATUS;
    let mut local: Option<(u32, Option<String>)> = None;
    let mut links: Vec<LinkStatus> = Vec::new();
    for (n, line) in numbered_lines(text) {
        let t = line.trim();
        if t.is_empty() || t == "Printing link status." || t == "status:" {
            continue;
        }
        if let Some(rest) = t.strip_prefix("Local node ID ") {
            if local.is_some() {
                return Err(l.err_at(n, line, "second `Local node ID` line"));
            }
            local = Some(parse_local(rest).ok_or_else(|| {
                l.err_at(n, line, "expected `Local node ID <id>[, transport <name>]`")
            })?);
            continue;
        }
        if local.is_none() {
            return Err(l.err_at(n, line, "expected `Local node ID …` as the first line"));
        }
        if let Some(rest) = t.strip_prefix("LINK ID ") {
            let mut w = rest.split_whitespace();
            let link_id = w
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| l.err_at(n, line, "expected `LINK ID <number> [transport]`"))?;
            let transport = w.next().map(str::to_string);
            if w.next().is_some() {
                return Err(l.err_at(n, line, "expected `LINK ID <number> [transport]`"));
            }
            links.push(LinkStatus { link_id, transport, local_addr: None, nodes: vec![], brief: None });
            continue;
        }
        let Some(link) = links.last_mut() else {
            return Err(l.err_at(n, line, "expected a `LINK ID <n>` line before link details"));
        };
        if let Some((key, value)) = t.split_once('=') {
            match key.trim() {
                "addr" => link.local_addr = Some(value.trim().to_string()),
                "status" => link.brief = Some(value.trim().to_string()),
                _ => return Err(l.err_at(n, line, "expected `addr = …` or `status = …`")),
            }
            continue;
        }
        if let Some(rest) = t.strip_prefix("nodeid") {
            // `nodeid:          2:⇥connected` (3.1) or `nodeid  2:⇥connected` (3.0)
            let rest = rest.trim_start().strip_prefix(':').unwrap_or(rest);
            let (id, state) = rest
                .split_once(':')
                .ok_or_else(|| l.err_at(n, line, "expected `nodeid: <id>: <state>`"))?;
            let node_id = node_id(id).ok_or_else(|| l.err_at(n, line, "expected a numeric node id"))?;
            let state = state.trim();
            if state.is_empty() {
                return Err(l.err_at(n, line, "node line has no state"));
            }
            link.nodes.push(LinkPeer { node_id, state: LinkPeerState::from_word(state) });
            continue;
        }
        return Err(l.err_at(n, line, "unexpected line"));
    }
    let (local_node_id, transport) =
        local.ok_or_else(|| l.err("no `Local node ID` line (empty output? is corosync running?)"))?;
    Ok(LinkStatusReport { local_node_id, transport, links })
}

/// `1, transport knet` → (1, Some("knet")); `1` → (1, None).
fn parse_local(rest: &str) -> Option<(u32, Option<String>)> {
    match rest.split_once(',') {
        None => Some((rest.trim().parse().ok()?, None)),
        Some((id, tr)) => {
            let transport = tr.trim().strip_prefix("transport")?.trim();
            (!transport.is_empty()).then_some(())?;
            Some((id.trim().parse().ok()?, Some(transport.to_string())))
        }
    }
}

/// `corosync-cfgtool -n`: the reachable remote nodes and their links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatusReport {
    pub local_node_id: u32,
    pub transport: Option<String>,
    /// Only reachable remote nodes are listed by corosync.
    pub nodes: Vec<RemoteNode>,
}

impl NodeStatusReport {
    pub fn node(&self, node_id: u32) -> Option<&RemoteNode> {
        self.nodes.iter().find(|n| n.node_id == node_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteNode {
    pub node_id: u32,
    pub reachable: bool,
    /// Extra words after `reachable` (`remote`, `external`).
    pub flags: Vec<String>,
    pub links: Vec<NodeLink>,
}

/// `LINK: 0 udp (10.10.10.1->10.10.10.2) enabled connected mtu: 1397`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeLink {
    pub link_id: u32,
    pub transport: String,
    pub local_addr: String,
    pub remote_addr: String,
    pub enabled: bool,
    pub connected: bool,
    pub mtu: Option<u32>,
}

/// Parse `corosync-cfgtool -n`.
pub fn parse_cfgtool_nodes(text: &str) -> Result<NodeStatusReport> {
    let l = CFGTOOL_NODES;
    let mut local: Option<(u32, Option<String>)> = None;
    let mut nodes: Vec<RemoteNode> = Vec::new();
    for (n, line) in numbered_lines(text) {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(rest) = t.strip_prefix("Local node ID ") {
            if local.is_some() {
                return Err(l.err_at(n, line, "second `Local node ID` line"));
            }
            local = Some(parse_local(rest).ok_or_else(|| {
                l.err_at(n, line, "expected `Local node ID <id>[, transport <name>]`")
            })?);
            continue;
        }
        if local.is_none() {
            return Err(l.err_at(n, line, "expected `Local node ID …` as the first line"));
        }
        if let Some(rest) = t.strip_prefix("nodeid:") {
            let mut w = rest.split_whitespace();
            let node_id = w
                .next()
                .and_then(node_id)
                .ok_or_else(|| l.err_at(n, line, "expected `nodeid: <id> reachable`"))?;
            let words: Vec<String> = w.map(str::to_string).collect();
            let reachable = words.first().map(String::as_str) == Some("reachable");
            let flags = words.into_iter().filter(|w| w != "reachable").collect();
            nodes.push(RemoteNode { node_id, reachable, flags, links: vec![] });
            continue;
        }
        if t.starts_with("onwire") {
            continue; // knet onwire version line, informational
        }
        if let Some(rest) = t.strip_prefix("LINK:") {
            let node = nodes
                .last_mut()
                .ok_or_else(|| l.err_at(n, line, "`LINK:` line before any `nodeid:` line"))?;
            node.links.push(
                parse_node_link(rest)
                    .map_err(|m| l.err_at(n, line, m))?,
            );
            continue;
        }
        return Err(l.err_at(n, line, "unexpected line"));
    }
    let (local_node_id, transport) =
        local.ok_or_else(|| l.err("no `Local node ID` line (empty output? is corosync running?)"))?;
    Ok(NodeStatusReport { local_node_id, transport, nodes })
}

fn parse_node_link(rest: &str) -> std::result::Result<NodeLink, String> {
    const SHAPE: &str = "expected `LINK: <id> <transport> (<local>-><remote>) [enabled] [connected] mtu: <n>`";
    let (head, tail) = rest.split_once('(').ok_or(SHAPE)?;
    let (addrs, after) = tail.split_once(')').ok_or(SHAPE)?;
    let (local_addr, remote_addr) = addrs.split_once("->").ok_or(SHAPE)?;
    let head = tokens(head);
    let [(_, id), (_, transport)] = head.as_slice() else {
        return Err(SHAPE.to_string());
    };
    let words: Vec<&str> = after.split_whitespace().collect();
    let mtu = match words.iter().position(|w| *w == "mtu:") {
        Some(i) => Some(number(words.get(i + 1).copied().unwrap_or(""), "an MTU number")?),
        None => None,
    };
    Ok(NodeLink {
        link_id: number(id, "a link number")?,
        transport: transport.to_string(),
        local_addr: local_addr.trim().to_string(),
        remote_addr: remote_addr.trim().to_string(),
        enabled: words.contains(&"enabled"),
        connected: words.contains(&"connected"),
        mtu,
    })
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
    fn link_status_two_links() {
        let r = parse_cfgtool_status(fixture!("cfgtool-s.txt")).unwrap();
        assert_eq!(r.local_node_id, 1);
        assert_eq!(r.transport.as_deref(), Some("knet"));
        assert_eq!(r.links.len(), 2);
        let l0 = r.link(0).unwrap();
        assert_eq!(l0.transport.as_deref(), Some("udp"));
        assert_eq!(l0.local_addr.as_deref(), Some("10.10.10.1"));
        assert_eq!(
            l0.nodes,
            vec![
                LinkPeer { node_id: 1, state: LinkPeerState::Localhost },
                LinkPeer { node_id: 2, state: LinkPeerState::Connected }
            ]
        );
        assert!(l0.all_connected());
        let l1 = r.link(1).unwrap();
        assert_eq!(l1.local_addr.as_deref(), Some("10.20.20.1"));
        assert_eq!(l1.peer(2), Some(LinkPeerState::Disconnected));
        assert!(!l1.all_connected());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["links"][1]["nodes"][1]["state"], "disconnected");
    }

    #[test]
    fn link_status_brief() {
        let r = parse_cfgtool_status(fixture!("cfgtool-s-brief.txt")).unwrap();
        assert_eq!(r.link(0).unwrap().brief.as_deref(), Some("n3"));
        assert_eq!(r.link(1).unwrap().brief.as_deref(), Some("n0"));
        assert!(r.link(0).unwrap().nodes.is_empty());
    }

    #[test]
    fn link_status_corosync_3_0_spelling() {
        let text = "Printing link status.\nLocal node ID 2\nLINK ID 0\n\taddr\t= 10.10.10.2\n\tstatus:\n\t\tnodeid  1:\tconnected\n\t\tnodeid  2:\tlocalhost\n";
        let r = parse_cfgtool_status(text).unwrap();
        assert_eq!((r.local_node_id, r.transport.clone()), (2, None));
        assert_eq!(r.links[0].transport, None);
        assert_eq!(r.links[0].peer(1), Some(LinkPeerState::Connected));
        assert_eq!(r.links[0].peer(2), Some(LinkPeerState::Localhost));
    }

    #[test]
    fn link_status_errors() {
        let e = parse_cfgtool_status("").unwrap_err();
        assert!(e.message.contains("Local node ID"), "{e}");
        let e = parse_cfgtool_status("Local node ID 1, transport knet\n\taddr\t= x\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse_cfgtool_status("Local node ID 1, transport knet\nLINK ID 0 udp\n\t\tnodeid: x:\tconnected\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        let e = parse_cfgtool_status("Could not initialize corosync configuration API error 2\n").unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn node_status() {
        let r = parse_cfgtool_nodes(fixture!("cfgtool-n.txt")).unwrap();
        assert_eq!(r.local_node_id, 1);
        let n2 = r.node(2).unwrap();
        assert!(n2.reachable);
        assert!(n2.flags.is_empty());
        assert_eq!(
            n2.links[1],
            NodeLink {
                link_id: 1,
                transport: "udp".into(),
                local_addr: "10.20.20.1".into(),
                remote_addr: "10.20.20.2".into(),
                enabled: true,
                connected: true,
                mtu: Some(1397)
            }
        );
    }

    #[test]
    fn node_status_with_onwire_and_flags() {
        let text = "Local node ID 1, transport knet\nnodeid: 2 reachable remote\n   onwire (min/max/cur): 0, 1, 1\n   LINK: 0 udp (10.10.10.1->10.10.10.2) enabled mtu: 1397\n\n";
        let r = parse_cfgtool_nodes(text).unwrap();
        assert_eq!(r.nodes[0].flags, vec!["remote".to_string()]);
        assert!(r.nodes[0].links[0].enabled && !r.nodes[0].links[0].connected);
        let e = parse_cfgtool_nodes("Local node ID 1, transport knet\n   LINK: 0 udp (a->b) enabled\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse_cfgtool_nodes("Local node ID 1, transport knet\nnodeid: 2 reachable\n   LINK: 0 udp a->b\n").unwrap_err();
        assert!(e.message.contains("LINK:"), "{e}");
    }
}
