//! `pvecm status`, `corosync-quorumtool -s[iH]`, `pvecm nodes` / `corosync-quorumtool -l`.
//!
//! Layouts: pve-cli.md §2.5 (PVE header + `corosync-quorumtool -siH`, and `pvecm nodes`) and
//! §3.1 (plain `-s`: decimal ids and node names). The text is read block by block
//! (`Cluster information`, `Quorum information`, `Votequorum information`,
//! `Membership information`); inside a block `Label: value` lines are matched by label, so
//! padding, trailing spaces (`Quorum:␠␠`, `Flags: Quorate␠`) and unknown extra labels do not
//! matter. The membership table is read by tokens, with the `Qdevice` column present or not.

use super::error::{Layout, Result};
use super::text::{is_underline, label_value, node_id, number, numbered_lines, tokens};
use serde::{Serialize, Serializer};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// `pvecm status` (pve-cli.md §2.5).
pub const PVECM_STATUS: Layout = Layout { what: "`pvecm status` output", doc: "pve-cli.md §2.5" };
/// `corosync-quorumtool -s` with or without `-i`/`-H` (pve-cli.md §3.1, §2.5).
pub const QUORUMTOOL_STATUS: Layout =
    Layout { what: "`corosync-quorumtool -s` output", doc: "pve-cli.md §3.1 and §2.5" };
/// `pvecm nodes` = `corosync-quorumtool -l` (pve-cli.md §2.5).
pub const QUORUMTOOL_LIST: Layout =
    Layout { what: "`pvecm nodes` / `corosync-quorumtool -l` output", doc: "pve-cli.md §2.5" };

/// Everything `pvecm status` prints: PVE's own header, then the quorumtool blocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PvecmStatus {
    pub cluster: ClusterHeader,
    pub quorum: QuorumStatus,
}

/// The `Cluster information` block PVE prints itself (from corosync.conf, not from corosync).
/// pvecm substitutes `UNKOWN?` / `-1` / `knet` / `off` for missing config keys; those values
/// are passed through as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterHeader {
    pub name: String,
    pub config_version: i64,
    pub transport: String,
    /// Raw `secauth` value (`on`/`off`).
    pub secure_auth: String,
}

impl ClusterHeader {
    pub fn secure_auth_on(&self) -> bool {
        matches!(self.secure_auth.as_str(), "on" | "yes" | "1")
    }
}

/// The runtime quorum state reported by corosync (`Quorum information` + `Votequorum
/// information` + `Membership information`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuorumStatus {
    /// `Date:` as printed (C `ctime()`), if present.
    pub date: Option<String>,
    pub quorum_provider: Option<String>,
    /// Members currently in the membership (the QDevice is not counted).
    pub nodes: u32,
    /// The local node id (printed hex with `-H`, decimal otherwise).
    pub node_id: u32,
    /// `<rep-nodeid hex>.<ring seq hex>`, verbatim.
    pub ring_id: Option<String>,
    pub quorate: bool,
    pub expected_votes: u32,
    pub highest_expected: Option<u32>,
    pub total_votes: u32,
    pub quorum: u32,
    /// `Quorum: 2 Activity blocked` (printed when not quorate).
    pub activity_blocked: bool,
    pub flags: BTreeSet<QuorumFlag>,
    pub membership: Membership,
}

impl QuorumStatus {
    pub fn has_flag(&self, flag: &QuorumFlag) -> bool {
        self.flags.contains(flag)
    }
}

/// One word of the `Flags:` line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuorumFlag {
    TwoNode,
    Quorate,
    WaitForAll,
    LastManStanding,
    AutoTieBreaker,
    AllowDownscale,
    Qdevice,
    /// A flag this parser does not know (newer corosync), verbatim.
    Other(String),
}

impl QuorumFlag {
    /// The word corosync prints.
    pub fn as_str(&self) -> &str {
        match self {
            QuorumFlag::TwoNode => "2Node",
            QuorumFlag::Quorate => "Quorate",
            QuorumFlag::WaitForAll => "WaitForAll",
            QuorumFlag::LastManStanding => "LastManStanding",
            QuorumFlag::AutoTieBreaker => "AutoTieBreaker",
            QuorumFlag::AllowDownscale => "AllowDownscale",
            QuorumFlag::Qdevice => "Qdevice",
            QuorumFlag::Other(s) => s,
        }
    }

    fn from_word(word: &str) -> QuorumFlag {
        match word {
            "2Node" => QuorumFlag::TwoNode,
            "Quorate" => QuorumFlag::Quorate,
            "WaitForAll" => QuorumFlag::WaitForAll,
            "LastManStanding" => QuorumFlag::LastManStanding,
            "AutoTieBreaker" => QuorumFlag::AutoTieBreaker,
            "AllowDownscale" => QuorumFlag::AllowDownscale,
            "Qdevice" => QuorumFlag::Qdevice,
            other => QuorumFlag::Other(other.to_string()),
        }
    }
}

impl Serialize for QuorumFlag {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The `Membership information` table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Membership {
    /// Whether the table had the `Qdevice` column (some node has a QDevice registered).
    pub qdevice_column: bool,
    /// Member rows in corosync's order.
    pub members: Vec<Member>,
    /// The final `Qdevice` row, if present.
    pub qdevice: Option<QdeviceRow>,
}

impl Membership {
    /// The row marked `(local)`.
    pub fn local(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.local)
    }
    pub fn member(&self, node_id: u32) -> Option<&Member> {
        self.members.iter().find(|m| m.node_id == node_id)
    }
    /// The row whose name column (node name, or address with `-i`) equals `name`.
    pub fn member_named(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// One member row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub node_id: u32,
    pub votes: u32,
    /// The Qdevice cell, when the table has that column.
    pub qdevice: Option<QdeviceCell>,
    /// Node name, or its first link address when printed with `-i` (as `pvecm status` does),
    /// without the ` (local)` marker.
    pub name: String,
    pub local: bool,
}

impl Member {
    /// The name column as an IP address (with `-i`).
    pub fn address(&self) -> Option<IpAddr> {
        self.name.parse().ok()
    }
}

/// A node's Qdevice cell: `A|NA , V|NV , MW|NMW`, or `NR` (pve-cli.md §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum QdeviceCell {
    /// `NR`: no QDevice registered on that node.
    NotRegistered,
    Registered {
        /// `A` (alive) / `NA`.
        alive: bool,
        /// `V` (casts its vote) / `NV`.
        casts_vote: bool,
        /// `MW` (master wins) / `NMW`.
        master_wins: bool,
    },
}

impl QdeviceCell {
    fn parse(cell: &str) -> Option<QdeviceCell> {
        if cell == "NR" {
            return Some(QdeviceCell::NotRegistered);
        }
        let (mut alive, mut vote, mut mw) = (None, None, None);
        for part in cell.split(',') {
            let slot = match part {
                "A" | "NA" => &mut alive,
                "V" | "NV" => &mut vote,
                "MW" | "NMW" => &mut mw,
                _ => return None,
            };
            if slot.replace(!part.starts_with('N')).is_some() {
                return None; // the same flag twice
            }
        }
        Some(QdeviceCell::Registered { alive: alive?, casts_vote: vote?, master_wins: mw? })
    }
}

/// The final `Qdevice` row: `0x00000000   1   Qdevice` or, when the device is not giving this
/// node its vote, `0x00000000   0   Qdevice (votes 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QdeviceRow {
    /// Votes the device currently contributes.
    pub votes: u32,
    /// The `(votes N)` suffix: configured votes while it contributes none.
    pub configured_votes: Option<u32>,
}

impl QdeviceRow {
    /// Votes the device is configured with (the suffix if present, else the votes column).
    pub fn configured(&self) -> u32 {
        self.configured_votes.unwrap_or(self.votes)
    }
}

/// Parse `pvecm status` (PVE header + `corosync-quorumtool -siH`). When corosync does not
/// answer, pvecm prints only the header (stderr: `Cannot initialize CMAP service`); that is an
/// error here, naming that cause.
pub fn parse_pvecm_status(text: &str) -> Result<PvecmStatus> {
    let blocks = split_blocks(PVECM_STATUS, text)?;
    let header = blocks.cluster.as_ref().ok_or_else(|| {
        PVECM_STATUS.err("no `Cluster information` block (is this `pvecm status` output?)")
    })?;
    let cluster = parse_header(PVECM_STATUS, header)?;
    if blocks.quorum.is_none() && blocks.votequorum.is_none() && blocks.membership.is_none() {
        return Err(PVECM_STATUS.err(
            "output ends after the `Cluster information` header: corosync is not answering \
             (pvecm then prints `Cannot initialize CMAP service` on stderr) — is corosync running?",
        ));
    }
    let quorum = parse_quorum(PVECM_STATUS, &blocks)?;
    Ok(PvecmStatus { cluster, quorum })
}

/// Parse `corosync-quorumtool -s` with any of `-i`/`-H`. A PVE `Cluster information` header,
/// if present, is ignored.
pub fn parse_quorumtool_status(text: &str) -> Result<QuorumStatus> {
    let blocks = split_blocks(QUORUMTOOL_STATUS, text)?;
    parse_quorum(QUORUMTOOL_STATUS, &blocks)
}

/// Parse `pvecm nodes` / `corosync-quorumtool -l` (leading empty line, `Membership
/// information` block, with or without the Qdevice column).
pub fn parse_quorumtool_list(text: &str) -> Result<Membership> {
    let blocks = split_blocks(QUORUMTOOL_LIST, text)?;
    let m = blocks
        .membership
        .ok_or_else(|| QUORUMTOOL_LIST.err("no `Membership information` block"))?;
    parse_membership(QUORUMTOOL_LIST, &m)
}

// ---------------------------------------------------------------------------------------------

/// Lines of one block (after its title and underline), with their numbers.
type Block<'a> = Vec<(usize, &'a str)>;

#[derive(Default)]
struct Blocks<'a> {
    cluster: Option<Block<'a>>,
    quorum: Option<Block<'a>>,
    votequorum: Option<Block<'a>>,
    membership: Option<Block<'a>>,
}

fn split_blocks(layout: Layout, text: &str) -> Result<Blocks<'_>> {
    const TITLES: [&str; 4] =
        ["Cluster information", "Quorum information", "Votequorum information", "Membership information"];
    let mut found: [Option<Block<'_>>; 4] = Default::default();
    let mut current: Option<usize> = None;
    for (n, line) in numbered_lines(text) {
        if let Some(i) = TITLES.iter().position(|t| *t == line.trim()) {
            let slot = found.get_mut(i).ok_or_else(|| layout.err("internal: block index"))?;
            if slot.is_some() {
                return Err(layout.err_at(n, line, "block title appears twice"));
            }
            *slot = Some(Vec::new());
            current = Some(i);
            continue;
        }
        if line.trim().is_empty() || is_underline(line) {
            continue;
        }
        match current.and_then(|i| found.get_mut(i)).and_then(Option::as_mut) {
            Some(block) => block.push((n, line)),
            None => return Err(layout.err_at(n, line, "text before the first block title")),
        }
    }
    let [cluster, quorum, votequorum, membership] = found;
    Ok(Blocks { cluster, quorum, votequorum, membership })
}

/// Find `label` in a block of `Label: value` lines.
fn find<'a>(block: &Block<'a>, label: &str) -> Option<(usize, &'a str, &'a str)> {
    block.iter().find_map(|(n, line)| match label_value(line) {
        Some((k, v)) if k == label => Some((*n, *line, v)),
        _ => None,
    })
}

fn required<'a>(
    layout: Layout,
    block: &Block<'a>,
    block_name: &str,
    label: &str,
) -> Result<(usize, &'a str, &'a str)> {
    find(block, label)
        .ok_or_else(|| layout.err(format!("`{block_name}` block has no `{label}:` line")))
}

fn num_field<T: std::str::FromStr>(
    layout: Layout,
    block: &Block<'_>,
    block_name: &str,
    label: &str,
) -> Result<T> {
    let (n, line, v) = required(layout, block, block_name, label)?;
    number(v, "a number").map_err(|m| layout.err_at(n, line, m))
}

fn opt_num_field<T: std::str::FromStr>(
    layout: Layout,
    block: &Block<'_>,
    label: &str,
) -> Result<Option<T>> {
    match find(block, label) {
        None => Ok(None),
        Some((n, line, v)) => number(v, "a number").map(Some).map_err(|m| layout.err_at(n, line, m)),
    }
}

fn parse_header(layout: Layout, block: &Block<'_>) -> Result<ClusterHeader> {
    const B: &str = "Cluster information";
    Ok(ClusterHeader {
        name: required(layout, block, B, "Name")?.2.to_string(),
        config_version: num_field(layout, block, B, "Config Version")?,
        transport: required(layout, block, B, "Transport")?.2.to_string(),
        secure_auth: required(layout, block, B, "Secure auth")?.2.to_string(),
    })
}

fn parse_quorum(layout: Layout, blocks: &Blocks<'_>) -> Result<QuorumStatus> {
    const Q: &str = "Quorum information";
    const V: &str = "Votequorum information";
    let q = blocks
        .quorum
        .as_ref()
        .ok_or_else(|| layout.err("no `Quorum information` block (truncated output?)"))?;
    let v = blocks.votequorum.as_ref().ok_or_else(|| {
        layout.err("no `Votequorum information` block (quorum provider is not corosync_votequorum, or truncated output)")
    })?;
    let m = blocks
        .membership
        .as_ref()
        .ok_or_else(|| layout.err("no `Membership information` block (truncated output?)"))?;

    let (n, line, id) = required(layout, q, Q, "Node ID")?;
    let node_id =
        node_id(id).ok_or_else(|| layout.err_at(n, line, "expected a node id like `0x00000001` or `1`"))?;
    let (n, line, quorate) = required(layout, q, Q, "Quorate")?;
    let quorate = match quorate {
        "Yes" => true,
        "No" => false,
        other => return Err(layout.err_at(n, line, format!("expected `Yes` or `No`, got {other:?}"))),
    };
    // `Quorum:           2␠␠` or `Quorum:           2 Activity blocked`
    let (n, line, qv) = required(layout, v, V, "Quorum")?;
    let mut words = qv.split_whitespace();
    let quorum = number(words.next().unwrap_or(""), "the quorum vote count")
        .map_err(|m| layout.err_at(n, line, m))?;
    let rest: Vec<&str> = words.collect();
    let activity_blocked = rest.join(" ") == "Activity blocked";
    if !rest.is_empty() && !activity_blocked {
        return Err(layout.err_at(n, line, "expected nothing or `Activity blocked` after the quorum number"));
    }
    let flags = find(v, "Flags")
        .map(|(_, _, f)| f.split_whitespace().map(QuorumFlag::from_word).collect())
        .unwrap_or_default();

    Ok(QuorumStatus {
        date: find(q, "Date").map(|(_, _, d)| d.to_string()),
        quorum_provider: find(q, "Quorum provider").map(|(_, _, p)| p.to_string()),
        nodes: num_field(layout, q, Q, "Nodes")?,
        node_id,
        ring_id: find(q, "Ring ID").map(|(_, _, r)| r.to_string()),
        quorate,
        expected_votes: num_field(layout, v, V, "Expected votes")?,
        highest_expected: opt_num_field(layout, v, "Highest expected")?,
        total_votes: num_field(layout, v, V, "Total votes")?,
        quorum,
        activity_blocked,
        flags,
        membership: parse_membership(layout, m)?,
    })
}

/// The table: header `    Nodeid      Votes [   Qdevice] Name`, then one row per member and
/// possibly the `Qdevice` row. Cells are `%10s ` wide (pve-cli.md §2.5) but read as tokens.
fn parse_membership(layout: Layout, block: &Block<'_>) -> Result<Membership> {
    let mut lines = block.iter();
    let &(hn, header) = lines
        .next()
        .ok_or_else(|| layout.err("`Membership information` block is empty (no table header)"))?;
    let cols: Vec<&str> = header.split_whitespace().collect();
    let qdevice_column = match cols.as_slice() {
        ["Nodeid", "Votes", "Name"] => false,
        ["Nodeid", "Votes", "Qdevice", "Name"] => true,
        _ => {
            return Err(layout.err_at(
                hn,
                header,
                "expected the table header `Nodeid Votes [Qdevice] Name`",
            ))
        }
    };
    let mut out = Membership { qdevice_column, ..Membership::default() };
    for &(n, line) in lines {
        let toks = tokens(line);
        let (Some(&(_, id)), Some(&(_, votes))) = (toks.first(), toks.get(1)) else {
            return Err(layout.err_at(n, line, "expected a row `<nodeid> <votes> … <name>`"));
        };
        let node_id =
            node_id(id).ok_or_else(|| layout.err_at(n, line, "expected a node id like `0x00000001` or `1`"))?;
        let votes: u32 = number(votes, "a vote count").map_err(|m| layout.err_at(n, line, m))?;
        let rest_tokens = toks.get(2..).unwrap_or(&[]);

        // The device row: node id 0, blank Qdevice cell, name `Qdevice`, maybe `(votes N)`.
        if node_id == 0 && rest_tokens.first().map(|t| t.1) == Some("Qdevice") {
            if out.qdevice.is_some() {
                return Err(layout.err_at(n, line, "second `Qdevice` row"));
            }
            let words: Vec<&str> = rest_tokens.iter().skip(1).map(|t| t.1).collect();
            let configured_votes = match words.as_slice() {
                [] => None,
                ["(votes", v] => Some(
                    v.strip_suffix(')')
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| layout.err_at(n, line, "expected `(votes N)`"))?,
                ),
                _ => return Err(layout.err_at(n, line, "expected nothing or `(votes N)` after `Qdevice`")),
            };
            out.qdevice = Some(QdeviceRow { votes, configured_votes });
            continue;
        }

        let (qdevice, name_tokens) = if qdevice_column {
            let cell = rest_tokens.first().ok_or_else(|| layout.err_at(n, line, "row has no Qdevice cell"))?;
            let parsed = QdeviceCell::parse(cell.1).ok_or_else(|| {
                layout.err_at(n, line, "expected a Qdevice cell like `A,V,NMW`, `NA,NV,NMW` or `NR`")
            })?;
            (Some(parsed), rest_tokens.get(1..).unwrap_or(&[]))
        } else {
            (None, rest_tokens)
        };
        let Some(&(name_start, _)) = name_tokens.first() else {
            return Err(layout.err_at(n, line, "row has no name column"));
        };
        let name_col = line.get(name_start..).unwrap_or("").trim_end();
        let (name, local) = match name_col.strip_suffix("(local)") {
            Some(name) => (name.trim_end(), true),
            None => (name_col, false),
        };
        if name.is_empty() {
            return Err(layout.err_at(n, line, "row has no name column"));
        }
        out.members.push(Member { node_id, votes, qdevice, name: name.to_string(), local });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/parsers/", $name))
        };
    }

    fn cell(alive: bool, casts_vote: bool, master_wins: bool) -> Option<QdeviceCell> {
        Some(QdeviceCell::Registered { alive, casts_vote, master_wins })
    }

    #[test]
    fn pvecm_status_two_nodes_with_qdevice() {
        let s = parse_pvecm_status(fixture!("pvecm-status-qdevice.txt")).unwrap();
        assert_eq!(
            s.cluster,
            ClusterHeader {
                name: "pvecl".into(),
                config_version: 3,
                transport: "knet".into(),
                secure_auth: "on".into()
            }
        );
        assert!(s.cluster.secure_auth_on());
        let q = &s.quorum;
        assert_eq!(q.date.as_deref(), Some("Mon Sep  1 12:00:00 2025"));
        assert_eq!(q.quorum_provider.as_deref(), Some("corosync_votequorum"));
        assert_eq!((q.nodes, q.node_id), (2, 1));
        assert_eq!(q.ring_id.as_deref(), Some("1.2d"));
        assert!(q.quorate && !q.activity_blocked);
        assert_eq!((q.expected_votes, q.highest_expected, q.total_votes, q.quorum), (3, Some(3), 3, 2));
        assert_eq!(q.flags, BTreeSet::from([QuorumFlag::Quorate, QuorumFlag::Qdevice]));
        assert!(q.has_flag(&QuorumFlag::Qdevice));
        let m = &q.membership;
        assert!(m.qdevice_column);
        assert_eq!(
            m.members,
            vec![
                Member { node_id: 1, votes: 1, qdevice: cell(true, true, false), name: "10.10.10.1".into(), local: true },
                Member { node_id: 2, votes: 1, qdevice: cell(true, true, false), name: "10.10.10.2".into(), local: false },
            ]
        );
        assert_eq!(m.qdevice, Some(QdeviceRow { votes: 1, configured_votes: None }));
        assert_eq!(m.local().map(|l| l.address()), Some(Some("10.10.10.1".parse().unwrap())));
        assert_eq!(m.member(2).map(|r| r.name.as_str()), Some("10.10.10.2"));
    }

    #[test]
    fn pvecm_status_without_qdevice() {
        let q = parse_pvecm_status(fixture!("pvecm-status-no-qdevice.txt")).unwrap().quorum;
        assert_eq!((q.expected_votes, q.total_votes, q.quorum), (2, 2, 2));
        assert_eq!(q.flags, BTreeSet::from([QuorumFlag::Quorate]));
        assert!(!q.membership.qdevice_column);
        assert_eq!(q.membership.qdevice, None);
        assert_eq!(q.membership.members.len(), 2);
        assert_eq!(q.membership.members[1].qdevice, None);
    }

    #[test]
    fn pvecm_status_inquorate_activity_blocked_no_flags() {
        let q = parse_pvecm_status(fixture!("pvecm-status-inquorate.txt")).unwrap().quorum;
        assert!(!q.quorate);
        assert!(q.activity_blocked);
        assert_eq!((q.nodes, q.total_votes, q.quorum), (1, 1, 2));
        assert!(q.flags.is_empty());
        assert_eq!(q.membership.members.len(), 1);
    }

    #[test]
    fn pvecm_status_qdevice_one_node_down_stays_quorate() {
        let q = parse_pvecm_status(fixture!("pvecm-status-qdevice-node-down.txt")).unwrap().quorum;
        assert!(q.quorate);
        assert_eq!((q.nodes, q.total_votes), (1, 2));
        assert_eq!(q.membership.members.len(), 1);
        assert_eq!(q.membership.qdevice.map(|d| d.configured()), Some(1));
    }

    #[test]
    fn pvecm_status_qnetd_unreachable_votes_suffix() {
        let q = parse_pvecm_status(fixture!("pvecm-status-qnetd-unreachable.txt")).unwrap().quorum;
        assert_eq!(q.node_id, 2);
        assert_eq!(q.membership.local().map(|m| m.node_id), Some(2));
        assert_eq!(q.membership.members[0].qdevice, cell(false, false, false));
        assert_eq!(q.membership.qdevice, Some(QdeviceRow { votes: 0, configured_votes: Some(1) }));
        assert_eq!(q.membership.qdevice.map(|d| d.configured()), Some(1));
    }

    #[test]
    fn pvecm_status_when_corosync_is_down_says_so() {
        let e = parse_pvecm_status(fixture!("pvecm-status-corosync-down.txt")).unwrap_err();
        assert!(e.to_string().contains("corosync is not answering"), "{e}");
    }

    #[test]
    fn plain_quorumtool_status_with_names_and_decimal_ids() {
        let q = parse_quorumtool_status(fixture!("quorumtool-s-names.txt")).unwrap();
        assert_eq!(q.node_id, 1);
        assert_eq!(q.membership.member_named("pve2").map(|m| m.node_id), Some(2));
        assert_eq!(q.membership.local().map(|m| m.name.as_str()), Some("pve1"));
        assert_eq!(q.membership.members[0].address(), None);
        // The PVE header is accepted and ignored by the plain parser.
        let q2 = parse_quorumtool_status(fixture!("pvecm-status-qdevice.txt")).unwrap();
        assert_eq!(q2.nodes, 2);
        // …but pvecm status needs it.
        let e = parse_pvecm_status(fixture!("quorumtool-s-names.txt")).unwrap_err();
        assert!(e.message.contains("Cluster information"), "{e}");
    }

    #[test]
    fn pvecm_nodes_plain_and_with_qdevice() {
        let m = parse_quorumtool_list(fixture!("pvecm-nodes.txt")).unwrap();
        assert!(!m.qdevice_column);
        assert_eq!(
            m.members,
            vec![
                Member { node_id: 1, votes: 1, qdevice: None, name: "pve1".into(), local: true },
                Member { node_id: 2, votes: 1, qdevice: None, name: "pve2".into(), local: false },
            ]
        );
        let m = parse_quorumtool_list(fixture!("pvecm-nodes-qdevice.txt")).unwrap();
        assert!(m.qdevice_column);
        assert_eq!(m.members[1].qdevice, cell(true, true, false));
        assert_eq!(m.qdevice, Some(QdeviceRow { votes: 1, configured_votes: None }));
    }

    #[test]
    fn qdevice_cells() {
        assert_eq!(QdeviceCell::parse("NR"), Some(QdeviceCell::NotRegistered));
        assert_eq!(QdeviceCell::parse("A,NV,MW"), cell(true, false, true));
        assert_eq!(QdeviceCell::parse("A,V"), None);
        assert_eq!(QdeviceCell::parse("A,A,V"), None);
        assert_eq!(QdeviceCell::parse("pve1"), None);
    }

    #[test]
    fn unknown_flags_and_labels_are_kept_or_ignored() {
        let text = fixture!("quorumtool-s-names.txt")
            .replace("Flags:            Quorate ", "Flags:            2Node Quorate WaitForAll Shiny ")
            .replace("Ring ID:", "Future thing:     x\nRing ID:");
        let q = parse_quorumtool_status(&text).unwrap();
        assert!(q.has_flag(&QuorumFlag::TwoNode));
        assert!(q.has_flag(&QuorumFlag::Other("Shiny".into())));
        let json = serde_json::to_value(&q.flags).unwrap();
        assert_eq!(json, serde_json::json!(["2Node", "Quorate", "WaitForAll", "Shiny"]));
    }

    #[test]
    fn missing_optional_lines_are_fine_missing_required_are_named() {
        let text: String = fixture!("quorumtool-s-names.txt")
            .lines()
            .filter(|l| !l.starts_with("Date:") && !l.starts_with("Ring ID:") && !l.starts_with("Highest") && !l.starts_with("Flags:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let q = parse_quorumtool_status(&text).unwrap();
        assert_eq!((q.date, q.ring_id, q.highest_expected), (None, None, None));
        assert!(q.flags.is_empty());

        let text = fixture!("quorumtool-s-names.txt").replace("Total votes:      2\n", "");
        let e = parse_quorumtool_status(&text).unwrap_err();
        assert!(e.message.contains("`Total votes:`"), "{e}");
    }

    #[test]
    fn bad_rows_report_their_line() {
        let text = fixture!("pvecm-nodes-qdevice.txt").replace("   A,V,NMW pve2", "   X,Y,Z pve2");
        let e = parse_quorumtool_list(&text).unwrap_err();
        assert_eq!(e.line, Some(6));
        assert!(e.message.contains("Qdevice cell"), "{e}");
        let e = parse_quorumtool_list("\nMembership information\n---\n    Nodeid Votes Name\nzz 1 a\n").unwrap_err();
        assert_eq!(e.line, Some(5));
        let e = parse_quorumtool_list("").unwrap_err();
        assert!(e.message.contains("Membership information"), "{e}");
        let e = parse_quorumtool_status("hello\n").unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn crlf_and_truncation() {
        let text = fixture!("pvecm-status-qdevice.txt").replace('\n', "\r\n");
        assert!(parse_pvecm_status(&text).is_ok());
        let full = fixture!("pvecm-status-qdevice.txt");
        for (i, _) in full.char_indices() {
            let _ = parse_pvecm_status(&full[..i]); // must not panic
        }
    }
}
