//! votequorum arithmetic (pve-cli.md §2.5 "derived from votequorum arithmetic", §10), used to
//! order the rebuild steps so the surviving node never loses quorum and to say in the progress
//! output *why* each step is safe.
//!
//! corosync's votequorum: expected votes = sum of the nodelist's `quorum_votes` plus the
//! QDevice's votes; quorum = expected / 2 + 1; a partition is quorate while the votes it has
//! (its members' plus the QDevice's, if the device votes for it) reach quorum. PVE never sets
//! `two_node`, `wait_for_all` or `expected_votes` (pve-cli.md §2.2).

use std::fmt;

/// Votes of a configuration as seen by the nodes that are up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Votes {
    /// Nodes in the nodelist (1 vote each, as PVE writes them).
    pub configured_nodes: u32,
    /// Nodes up in the surviving partition.
    pub up_nodes: u32,
    /// QDevice configured (1 vote with ffsplit; lms gives nodes−1 votes, not modelled: PVE
    /// only uses lms for odd counts, never in a rebuild of a 2-node cluster).
    pub qdevice: bool,
    /// The QDevice currently votes for this partition.
    pub qdevice_votes: bool,
}

impl Votes {
    pub fn expected(&self) -> u32 {
        self.configured_nodes + u32::from(self.qdevice)
    }
    pub fn total(&self) -> u32 {
        self.up_nodes + u32::from(self.qdevice && self.qdevice_votes)
    }
    pub fn quorum(&self) -> u32 {
        quorum(self.expected())
    }
    pub fn quorate(&self) -> bool {
        self.total() >= self.quorum()
    }
}

impl fmt::Display for Votes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = if self.qdevice && self.qdevice_votes { " + QDevice" } else { "" };
        write!(
            f,
            "{} node{}{q} = {} vote{} of {} expected, quorum {} → {}",
            self.up_nodes,
            if self.up_nodes == 1 { "" } else { "s" },
            self.total(),
            if self.total() == 1 { "" } else { "s" },
            self.expected(),
            self.quorum(),
            if self.quorate() { "quorate" } else { "NOT quorate" }
        )
    }
}

/// votequorum's quorum for `expected` votes.
pub fn quorum(expected: u32) -> u32 {
    expected / 2 + 1
}

/// One step of the rebuild with the vote state before and after it on the survivor(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeStep {
    pub what: String,
    pub before: Votes,
    pub after: Votes,
}

impl SafeStep {
    pub fn safe(&self) -> bool {
        self.before.quorate() && self.after.quorate()
    }
    /// The progress line: what happens and why quorum holds.
    pub fn explain(&self) -> String {
        format!("{}: before {}; after {}", self.what, self.before, self.after)
    }
}

/// The rebuild of one dead node in a cluster of `nodes` nodes (the dead one included) with a
/// QDevice, in the order form-cluster runs it, with votes on the surviving side:
///
/// 1. `pvecm delnode` while the QDevice still votes (`pvecm qdevice remove` would refuse
///    anyway: "All nodes must be online!", pve-cli.md §2.10);
/// 2. `pvecm add` of the fresh node with the QDevice still configured, so expected votes stay
///    at nodes+1 and the survivors plus the QDevice carry quorum while the new node starts
///    (without the device, a 1-node cluster going to 2 expected votes would be inquorate
///    until the new node's corosync is up);
/// 3. `pvecm qdevice remove` with every node online;
/// 4. `pvecm qdevice setup` (the fresh node gets its certificates and its daemon).
pub fn rebuild_steps(nodes: u32, stale: &str) -> Vec<SafeStep> {
    let survivors = nodes - 1;
    let dead = Votes { configured_nodes: nodes, up_nodes: survivors, qdevice: true, qdevice_votes: true };
    let after_del = Votes { configured_nodes: survivors, ..dead };
    let after_join = Votes { configured_nodes: nodes, up_nodes: nodes, ..dead };
    let after_remove = Votes { qdevice: false, qdevice_votes: false, ..after_join };
    let after_setup = Votes { qdevice: true, qdevice_votes: true, ..after_join };
    vec![
        SafeStep { what: format!("pvecm delnode {stale} (QDevice still voting)"), before: dead, after: after_del },
        SafeStep {
            what: format!("pvecm add on {stale} (QDevice still configured)"),
            // While the new node starts, the nodelist already has it but it is not up yet.
            before: Votes { configured_nodes: nodes, ..after_del },
            after: after_join,
        },
        SafeStep { what: "pvecm qdevice remove (all nodes online)".into(), before: after_join, after: after_remove },
        SafeStep { what: "pvecm qdevice setup".into(), before: after_remove, after: after_setup },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_formula_matches_pve_cli_examples() {
        // pve-cli.md §2.5: 2 nodes + QDevice → expected 3, quorum 2; 2 nodes → quorum 2; 1 → 1.
        assert_eq!(quorum(3), 2);
        assert_eq!(quorum(2), 2);
        assert_eq!(quorum(1), 1);
        assert_eq!(quorum(4), 3);
    }

    #[test]
    fn two_nodes_without_qdevice_lose_quorum_with_one_down() {
        let v = Votes { configured_nodes: 2, up_nodes: 1, qdevice: false, qdevice_votes: false };
        assert!(!v.quorate());
        let v = Votes { qdevice: true, qdevice_votes: true, ..v };
        assert!(v.quorate(), "{v}");
        assert_eq!(v.total(), 2);
        assert_eq!(v.expected(), 3);
    }

    #[test]
    fn every_rebuild_step_keeps_quorum() {
        for s in rebuild_steps(2, "pve-node2") {
            assert!(s.safe(), "{}", s.explain());
        }
        let s = &rebuild_steps(2, "pve-node2")[0];
        assert_eq!(
            s.explain(),
            "pvecm delnode pve-node2 (QDevice still voting): before 1 node + QDevice = 2 votes of 3 expected, \
             quorum 2 → quorate; after 1 node + QDevice = 2 votes of 2 expected, quorum 2 → quorate"
        );
    }

    #[test]
    fn the_naive_order_would_lose_quorum() {
        // qdevice remove first (if PVE allowed it with a node offline): 1 vote of 2 expected.
        let v = Votes { configured_nodes: 2, up_nodes: 1, qdevice: false, qdevice_votes: false };
        assert!(!v.quorate());
        // join into a 1-node cluster without a QDevice: 1 of 2 until the new node is up.
        let v = Votes { configured_nodes: 2, up_nodes: 1, qdevice: false, qdevice_votes: false };
        assert!(!v.quorate());
    }
}
