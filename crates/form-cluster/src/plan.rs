//! The plan: from the inventory and one observation of every node (and the Pi) to the ordered
//! cluster steps — or to the reasons form-cluster refuses, *before* anything changes.
//!
//! Pure: no I/O here, every decision is unit-tested. The SSH trust and package resources are
//! not steps: they are converged on every node between the "before trust" steps (removing a
//! stale node and its host keys) and the rest (create, joins, QDevice).

use crate::facts::{NodeFacts, PiFacts};
use crate::pvecm;
use crate::votes;
use common::inventory::{Inventory, QDeviceAlgorithm, Role};
use std::collections::BTreeMap;

/// Flags that change what form-cluster is allowed to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--node NAME`: only these nodes are joined; a node named here whose old membership is
    /// stale (reinstalled) is rebuilt. Empty = every node, no rebuilds.
    pub nodes: Vec<String>,
    /// `--replace-qdevice`: a QDevice configured with another host is removed and set up anew.
    pub replace_qdevice: bool,
    /// `--strict`: a degraded corosync link is a failure, not a warning.
    pub strict: bool,
}

impl Options {
    fn selects(&self, node: &str) -> bool {
        self.nodes.is_empty() || self.nodes.iter().any(|n| n == node)
    }
    fn names(&self, node: &str) -> bool {
        self.nodes.iter().any(|n| n == node)
    }
}

/// One cluster step, run on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `pvecm delnode STALE` on the master (rebuild, step 1).
    DelNode { on: String, stale: String, why: String },
    /// Remove the stale node's host keys from every survivor's root known_hosts and from the
    /// cluster-wide files (`/etc/pve/priv/known_hosts`, `/etc/pve/nodes/N/ssh_known_hosts`).
    CleanHostKeys { on: String, stale: String, names: Vec<String>, cluster_files: bool },
    /// Remove what an interrupted join left on a node that is not clustered.
    CleanLeftovers { on: String, files: Vec<String> },
    /// `pvecm create` on the master.
    Create { on: String, command: String },
    /// `pvecm add` on a member.
    Join { on: String, command: String, why: Option<String> },
    /// `pvecm qdevice remove` on the master.
    QDeviceRemove { on: String, why: String },
    /// Open the Pi's root window, `pvecm qdevice setup` on the master, close the window.
    QDeviceSetup { on: String, address: String, command: String, why: Option<String> },
    /// `pvecm updatecerts` on a node (after a rebuild).
    UpdateCerts { on: String },
}

impl Action {
    /// Host the step runs on.
    pub fn host(&self) -> &str {
        match self {
            Action::DelNode { on, .. }
            | Action::CleanHostKeys { on, .. }
            | Action::CleanLeftovers { on, .. }
            | Action::Create { on, .. }
            | Action::Join { on, .. }
            | Action::QDeviceRemove { on, .. }
            | Action::QDeviceSetup { on, .. }
            | Action::UpdateCerts { on } => on,
        }
    }

    /// Runs before the SSH trust is converged (it removes what the trust must not keep).
    pub fn before_trust(&self) -> bool {
        matches!(self, Action::DelNode { .. } | Action::CleanHostKeys { .. } | Action::CleanLeftovers { .. })
    }

    /// Report id (`pvecm add`, `qdevice setup` …).
    pub fn id(&self) -> String {
        match self {
            Action::DelNode { stale, .. } => format!("pvecm delnode {stale}"),
            Action::CleanHostKeys { stale, .. } => format!("stale host keys of {stale}"),
            Action::CleanLeftovers { .. } => "leftovers of an interrupted join".into(),
            Action::Create { .. } => "pvecm create".into(),
            Action::Join { .. } => "pvecm add".into(),
            Action::QDeviceRemove { .. } => "pvecm qdevice remove".into(),
            Action::QDeviceSetup { .. } => "pvecm qdevice setup".into(),
            Action::UpdateCerts { .. } => "pvecm updatecerts".into(),
        }
    }

    /// One-line plan text (what runs, and why it is safe where that matters).
    pub fn summary(&self) -> String {
        match self {
            Action::DelNode { stale, why, .. } => format!("{} — {why}", pvecm::delnode(stale)),
            Action::CleanHostKeys { names, cluster_files, .. } => format!(
                "remove host keys for {} from root's known_hosts{}",
                names.join(", "),
                if *cluster_files { ", /etc/pve/priv/known_hosts and the node's ssh_known_hosts" } else { "" }
            ),
            Action::CleanLeftovers { files, .. } => {
                format!("stop corosync and remove {} (left by an interrupted join)", files.join(", "))
            }
            Action::Create { command, .. } => command.clone(),
            Action::Join { command, why, .. } => match why {
                Some(w) => format!("{command} — {w}"),
                None => command.clone(),
            },
            Action::QDeviceRemove { why, .. } => format!("{} — {why}", pvecm::QDEVICE_REMOVE),
            Action::QDeviceSetup { command, why, .. } => {
                let base = format!("{command} (root window on the Pi open only for this step)");
                match why {
                    Some(w) => format!("{base} — {w}"),
                    None => base,
                }
            }
            Action::UpdateCerts { .. } => pvecm::UPDATECERTS.into(),
        }
    }
}

/// The outcome of planning.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Things form-cluster will not fix (reported as failures, other steps still run), by host.
    pub refusals: Vec<(String, String)>,
    /// Worth saying, not wrong (by host).
    pub notes: Vec<(String, String)>,
    /// Nodes being rebuilt.
    pub rebuild: Vec<String>,
    /// Whether the cluster will exist after the plan (it does, or `Create` is planned).
    pub cluster_after: bool,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Inventory-only checks, before connecting to anything.
pub fn check_inventory(inv: &Inventory) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let n = inv.nodes.len();
    if let Some(q) = &inv.qdevice {
        if n % 2 == 1 && q.algorithm != QDeviceAlgorithm::Lms {
            errors.push(format!(
                "the inventory has {n} nodes and a QDevice: pvecm refuses a QDevice for an odd node count \
                 (\"Clusters with an odd node count are not officially supported!\", pve-cli.md §2.9). \
                 Add or remove a node, drop [qdevice], or opt into the LMS algorithm with \
                 `algorithm = \"lms\"` under [qdevice]"
            ));
        }
    }
    let masters = inv.nodes.iter().filter(|x| x.role == Role::Master).count();
    if masters != 1 {
        errors.push(format!("the inventory has {masters} nodes with role = \"master\"; exactly one must create the cluster"));
    }
    if inv.cluster.name.len() > 15 {
        errors.push(format!(
            "cluster name '{}' is longer than 15 characters (pvecm create limit, pve-cli.md §2.1)",
            inv.cluster.name
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Plan the run. `Err` = refuse before changing anything (each message names node and fix).
pub fn plan(
    inv: &Inventory,
    facts: &BTreeMap<String, NodeFacts>,
    pi: Option<&PiFacts>,
    opts: &Options,
) -> Result<Plan, Vec<String>> {
    let mut errors: Vec<String> = Vec::new();
    let mut p = Plan::default();
    check_inventory(inv)?;
    for name in &opts.nodes {
        if inv.node(name).is_none() {
            let known: Vec<&str> = inv.nodes.iter().map(|n| n.name.as_str()).collect();
            errors.push(format!("--node {name}: no such node in the inventory (nodes: {})", known.join(", ")));
        }
    }

    // Identity and addresses of every node: pvecm names nodes by hostname, and corosync binds
    // the link addresses — a wrong one must stop us before `pvecm create` writes it.
    for (i, node) in inv.nodes.iter().enumerate() {
        let Some(f) = facts.get(&node.name) else {
            errors.push(format!("{}: not observed (unreachable?)", node.name));
            continue;
        };
        if f.hostname != node.name {
            errors.push(format!(
                "{}: the host's hostname is '{}', the inventory calls it '{}'; pvecm uses the hostname as the \
                 node name — run bootstrap-node on it (it sets the hostname) or fix nodes[{i}].name",
                node.name, f.hostname, node.name
            ));
        }
        for (link, addr) in [("link0", &node.link0), ("link1", &node.link1)] {
            if !f.addresses.iter().any(|a| a == addr) {
                errors.push(format!(
                    "{}: inventory address {addr} (nodes[{i}].{link}) is not configured on the host \
                     (it has: {}); fix the inventory or the node's network first",
                    node.name,
                    f.addresses.iter().filter(|a| !a.starts_with("127.") && *a != "::1").cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let master = inv.master();
    let m = &facts[&master.name];
    let clustered = match m.cluster_name() {
        Some(name) if name == inv.cluster.name => true,
        Some(name) => {
            return Err(vec![format!(
                "{}: already in cluster '{name}', the inventory says '{}'; form-cluster never renames or \
                 dissolves a cluster — fix [cluster].name, or take the node out of '{name}' by hand",
                master.name, inv.cluster.name
            )])
        }
        None => false,
    };
    if !clustered {
        if !m.leftovers.is_empty() && m.leftovers.iter().any(|f| f.ends_with("corosync.conf")) {
            errors.push(format!(
                "{}: not clustered but {} exists (an interrupted create or join?); pvecm create would \
                 reuse it — inspect and remove it, then re-run",
                master.name,
                m.leftovers.join(", ")
            ));
        }
        p.actions.push(Action::Create { on: master.name.clone(), command: pvecm::create(inv) });
    }
    p.cluster_after = true;

    let device = m.conf.as_ref().and_then(|c| c.quorum_device());

    // Members.
    let mut joins: Vec<Action> = Vec::new();
    // Members that stay out of the cluster in this run (not selected by --node).
    let mut unjoined: Vec<String> = Vec::new();
    for node in inv.nodes.iter().filter(|n| n.role == Role::Member) {
        let f = &facts[&node.name];
        let listed = clustered && m.lists_node(&node.name);
        match (listed, f.cluster_name()) {
            (true, Some(name)) if name == inv.cluster.name => {
                if !f.lists_node(&master.name) {
                    errors.push(format!(
                        "{}: has a cluster '{name}' of its own that does not list {} — two clusters with \
                         the same name; reinstall {} and run `form-cluster --node {}`",
                        node.name, master.name, node.name, node.name
                    ));
                }
            }
            (_, Some(name)) => errors.push(format!(
                "{}: already in a cluster '{name}'{}; leave it first (reinstall the node) — form-cluster \
                 does not move nodes between clusters",
                node.name,
                if name == inv.cluster.name {
                    format!(" that {} does not list", master.name)
                } else {
                    String::new()
                }
            )),
            (true, None) => {
                // In the nodelist, but the host is not clustered: reinstalled, or a join that was
                // interrupted after the master had added it.
                if opts.names(&node.name) {
                    p.rebuild.push(node.name.clone());
                } else {
                    errors.push(format!(
                        "{n}: listed in the cluster's corosync.conf but the host is not clustered \
                         (reinstalled, or an interrupted join). To remove the stale entry and join it \
                         again, run: form-cluster --node {n}",
                        n = node.name
                    ));
                    continue;
                }
                joins.push(join_action(inv, &node.name, f, opts, &mut p, true, device.is_some()));
            }
            (false, None) => {
                if !opts.selects(&node.name) {
                    p.notes.push((node.name.clone(), "not joined; not selected by --node".into()));
                    unjoined.push(node.name.clone());
                    continue;
                }
                joins.push(join_action(inv, &node.name, f, opts, &mut p, false, device.is_some()));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // Nodes in the cluster that the inventory does not know: reported, never removed.
    if let Some(conf) = &m.conf {
        for n in conf.nodes().unwrap_or_default() {
            if inv.node(&n.name).is_none() {
                p.notes.push((
                    master.name.clone(),
                    format!("corosync.conf lists node '{}' which is not in the inventory (left alone)", n.name),
                ));
            }
        }
    }

    // Rebuild: remove the stale entries first (while the QDevice still votes), clean keys.
    // `pvecm delnode` needs quorum ("cluster not ready - no quorum?", pve-cli.md §2.6).
    let configured = inv.nodes.len() as u32;
    if !p.rebuild.is_empty() && !m.quorate() {
        let st = m.status.as_ref().map(|s| {
            format!("Total votes {} of expected {}", s.quorum.total_votes, s.quorum.expected_votes)
        });
        let hint = if device.is_some() {
            "Check that corosync-qnetd runs on the Pi: its vote keeps the surviving node quorate."
        } else {
            "Without a QDevice a 2-node cluster loses quorum with one node down (pve-cli.md §10)."
        };
        return Err(vec![format!(
            "{}: not quorate ({}), so the stale entry cannot be removed (delnode needs quorum). {hint} \
             Documented last resort, only if the old node is really gone: `pvecm expected 1` on {}, then re-run",
            master.name,
            st.unwrap_or_else(|| "no pvecm status".into()),
            master.name
        )]);
    }
    let survivors: Vec<&str> =
        inv.nodes.iter().map(|n| n.name.as_str()).filter(|n| !p.rebuild.iter().any(|r| r == n)).collect();
    for stale in p.rebuild.clone() {
        let why = if device.is_some() {
            let s = &votes::rebuild_steps(configured, &stale)[0];
            format!("safe: before {}; after {}", s.before, s.after)
        } else {
            let after = votes::Votes {
                configured_nodes: configured - 1,
                up_nodes: configured - 1,
                qdevice: false,
                qdevice_votes: false,
            };
            format!("after: {after}")
        };
        p.actions.push(Action::DelNode { on: master.name.clone(), stale: stale.clone(), why });
        let node = inv.node(&stale).expect("rebuild nodes come from the inventory");
        let names = vec![stale.clone(), inv.fqdn(&stale), node.link0.clone(), node.link1.clone()];
        for (i, s) in survivors.iter().enumerate() {
            p.actions.push(Action::CleanHostKeys {
                on: s.to_string(),
                stale: stale.clone(),
                names: names.clone(),
                cluster_files: i == 0,
            });
        }
    }

    // Joins, one at a time, in inventory order.
    p.actions.extend(joins.iter().cloned());

    // QDevice.
    if let Some(q) = &inv.qdevice {
        let count = inv.nodes.len();
        let setup = Action::QDeviceSetup {
            on: master.name.clone(),
            address: q.address.clone(),
            command: pvecm::qdevice_setup(&q.address, q.algorithm, count),
            why: None,
        };
        let mut wanted_setup = false;
        match &device {
            None => wanted_setup = true,
            Some(d) if d.host == q.address => {
                // Members that need the QDevice certificates: the nodes joining now (a rebuild
                // joins while the device stays configured) and members that joined after the
                // setup or whose rebuild was interrupted (no /etc/corosync/qdevice/net/nssdb).
                // pvecm distributes them only in `qdevice setup`: remove, then set up again.
                let joining: Vec<String> = joins.iter().map(|a| a.host().to_string()).collect();
                let without: Vec<String> = inv
                    .nodes
                    .iter()
                    .filter(|n| !joining.contains(&n.name))
                    .filter(|n| facts.get(&n.name).is_some_and(|f| f.is_clustered() && !f.qdevice_certs))
                    .map(|n| n.name.clone())
                    .collect();
                let needing: Vec<String> = joining.iter().chain(&without).cloned().collect();
                if !needing.is_empty() && unjoined.is_empty() {
                    let v = votes::Votes {
                        configured_nodes: count as u32,
                        up_nodes: count as u32,
                        qdevice: false,
                        qdevice_votes: false,
                    };
                    p.actions.push(Action::QDeviceRemove {
                        on: master.name.clone(),
                        why: format!(
                            "{} need{} the QDevice certificates, which only `qdevice setup` hands out; \
                             with all nodes online: {v}",
                            needing.join(", "),
                            if needing.len() == 1 { "s" } else { "" }
                        ),
                    });
                    wanted_setup = true;
                }
            }
            Some(d) => {
                if opts.replace_qdevice {
                    p.actions.push(Action::QDeviceRemove {
                        on: master.name.clone(),
                        why: format!("--replace-qdevice: configured host {} → {}", d.host, q.address),
                    });
                    wanted_setup = true;
                } else {
                    p.refusals.push((
                        master.name.clone(),
                        format!(
                            "the QDevice is configured with host {} but the inventory says {} — \
                             re-run with --replace-qdevice to switch (qdevice remove, then setup)",
                            d.host, q.address
                        ),
                    ));
                }
            }
        }
        if wanted_setup && !unjoined.is_empty() {
            // pvecm counts the cluster's members, not the inventory's: set up with every node in.
            wanted_setup = false;
            p.notes.push((
                master.name.clone(),
                format!("QDevice set up once every node has joined ({} not joined in this run)", unjoined.join(", ")),
            ));
        }
        if wanted_setup {
            match pi {
                None => errors.push(format!(
                    "{}: not reachable, and the QDevice must be set up — run bootstrap-qdevice first",
                    q.name
                )),
                Some(pf) if !pf.qnetd_running => errors.push(format!(
                    "{}: corosync-qnetd is not running ({}); `pvecm qdevice setup` needs it on TCP 5403 — \
                     start it (bootstrap-qdevice, or `systemctl start corosync-qnetd` on the Pi), then re-run. \
                     Nothing was changed.",
                    q.name,
                    pf.qnetd_error.as_deref().unwrap_or("corosync-qnetd-tool -s failed")
                )),
                Some(_) => {}
            }
            p.actions.push(setup);
        }
        if q.algorithm == QDeviceAlgorithm::Lms && count.is_multiple_of(2) {
            p.notes.push((
                master.name.clone(),
                "[qdevice] algorithm = \"lms\" is ignored for an even node count: pvecm uses ffsplit (pve-cli.md §2.9)"
                    .to_string(),
            ));
        }
    } else if let Some(d) = &device {
        p.notes.push((
            master.name.clone(),
            format!("a QDevice ({}) is configured but the inventory has no [qdevice]; left alone", d.host),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // After a rebuild: regenerate certificates and merged keys cluster-wide (the docs'
    // answer to "SSH error after rejoining a node with the same name/IP").
    if !p.rebuild.is_empty() {
        for n in &inv.nodes {
            p.actions.push(Action::UpdateCerts { on: n.name.clone() });
        }
    }
    Ok(p)
}

fn join_action(
    inv: &Inventory,
    name: &str,
    f: &NodeFacts,
    opts: &Options,
    p: &mut Plan,
    rebuild: bool,
    device: bool,
) -> Action {
    let node = inv.node(name).expect("members come from the inventory");
    if !f.leftovers.is_empty() {
        if opts.names(name) || rebuild {
            p.actions.push(Action::CleanLeftovers { on: name.to_string(), files: f.leftovers.clone() });
        } else {
            p.refusals.push((
                name.to_string(),
                format!(
                    "not clustered, but {} exist (an interrupted join); pvecm add refuses them. \
                     Run `form-cluster --node {name}` to clean them up and join",
                    f.leftovers.join(", ")
                ),
            ));
        }
    }
    // A rebuild joins while the QDevice is still configured: expected votes stay at n+1.
    let why = (rebuild && device).then(|| {
        let s = &votes::rebuild_steps(inv.nodes.len() as u32, name)[1];
        format!("safe: while it starts {}; then {}", s.before, s.after)
    });
    Action::Join { on: name.to_string(), command: pvecm::add(inv, node), why }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pvecm::tests::inv;
    use common::inventory::QDevice;
    use pve_formats::corosync::CorosyncConf;

    fn fresh(name: &str, octet: u8) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            hostname: name.into(),
            addresses: vec!["127.0.0.1".into(), format!("10.231.10.{octet}"), format!("10.231.1.{octet}")],
            ..Default::default()
        }
    }

    fn conf(nodes: &[(&str, u8)], qdev: Option<&str>) -> CorosyncConf {
        let mut s = String::from("totem {\n  cluster_name: homelab\n  config_version: 3\n}\n\nnodelist {\n");
        for (i, (n, o)) in nodes.iter().enumerate() {
            s.push_str(&format!(
                "  node {{\n    name: {n}\n    nodeid: {}\n    quorum_votes: 1\n    ring0_addr: 10.231.10.{o}\n    ring1_addr: 10.231.1.{o}\n  }}\n",
                i + 1
            ));
        }
        s.push_str("}\n\nquorum {\n  provider: corosync_votequorum\n");
        if let Some(h) = qdev {
            s.push_str(&format!(
                "  device {{\n    model: net\n    net {{\n      algorithm: ffsplit\n      host: {h}\n      tls: on\n    }}\n    votes: 1\n  }}\n"
            ));
        }
        s.push_str("}\n\n");
        CorosyncConf::parse(&s).unwrap()
    }

    fn status(quorate: bool) -> common::parsers::quorum::PvecmStatus {
        let (q, t, flags) = if quorate { ("Yes", 2, "Quorate Qdevice ") } else { ("No", 1, "") };
        let text = format!(
            "Cluster information\n-------------------\nName:             homelab\nConfig Version:   3\nTransport:        knet\nSecure auth:      on\n\n\
Quorum information\n------------------\nQuorum provider:  corosync_votequorum\nNodes:            1\nNode ID:          0x00000001\nRing ID:          1.2d\nQuorate:          {q}\n\n\
Votequorum information\n----------------------\nExpected votes:   3\nHighest expected: 3\nTotal votes:      {t}\nQuorum:           2  \nFlags:            {flags}\n\n\
Membership information\n----------------------\n    Nodeid      Votes Name\n0x00000001          1 10.231.10.11 (local)\n"
        );
        common::parsers::quorum::parse_pvecm_status(&text).unwrap()
    }

    fn with_qdev(mut i: Inventory) -> Inventory {
        i.qdevice = Some(QDevice {
            name: "qdevice1".into(),
            address: "10.231.10.5".into(),
            first_contact: Default::default(),
            algorithm: QDeviceAlgorithm::Ffsplit,
        });
        i
    }

    fn pi(running: bool) -> PiFacts {
        PiFacts { name: "qdevice1".into(), qnetd_running: running, ..Default::default() }
    }

    fn facts(list: Vec<NodeFacts>) -> BTreeMap<String, NodeFacts> {
        list.into_iter().map(|f| (f.name.clone(), f)).collect()
    }

    fn ids(p: &Plan) -> Vec<String> {
        p.actions.iter().map(|a| format!("{} @{}", a.id(), a.host())).collect()
    }

    #[test]
    fn fresh_lab_creates_joins_and_sets_up_qdevice() {
        let i = with_qdev(inv());
        let f = facts(vec![fresh("pve-node1", 11), fresh("pve-node2", 12)]);
        let p = plan(&i, &f, Some(&pi(true)), &Options::default()).unwrap();
        assert_eq!(ids(&p), vec!["pvecm create @pve-node1", "pvecm add @pve-node2", "pvecm qdevice setup @pve-node1"]);
        assert!(p.refusals.is_empty());
    }

    #[test]
    fn converged_cluster_plans_nothing() {
        let i = with_qdev(inv());
        let mut n1 = fresh("pve-node1", 11);
        let mut n2 = fresh("pve-node2", 12);
        n1.conf = Some(conf(&[("pve-node1", 11), ("pve-node2", 12)], Some("10.231.10.5")));
        n2.conf = n1.conf.clone();
        n1.qdevice_certs = true;
        n2.qdevice_certs = true;
        let p = plan(&i, &facts(vec![n1.clone(), n2.clone()]), Some(&pi(true)), &Options::default()).unwrap();
        assert!(p.is_empty(), "{:?}", ids(&p));
        // A member without its QDevice certificates (joined later, interrupted rebuild):
        // remove + setup hands them out.
        n2.qdevice_certs = false;
        let p = plan(&i, &facts(vec![n1, n2]), Some(&pi(true)), &Options::default()).unwrap();
        assert_eq!(ids(&p), vec!["pvecm qdevice remove @pve-node1", "pvecm qdevice setup @pve-node1"]);
        assert!(p.actions[0].summary().contains("pve-node2 needs the QDevice certificates"), "{}", p.actions[0].summary());
    }

    #[test]
    fn missing_link_address_is_refused_before_anything() {
        let i = with_qdev(inv());
        let mut n2 = fresh("pve-node2", 12);
        n2.addresses.retain(|a| a != "10.231.1.12");
        let e = plan(&i, &facts(vec![fresh("pve-node1", 11), n2]), Some(&pi(true)), &Options::default()).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("pve-node2: inventory address 10.231.1.12 (nodes[1].link1) is not configured"), "{}", e[0]);
        assert!(e[0].contains("it has: 10.231.10.12"), "{}", e[0]);
    }

    #[test]
    fn other_cluster_name_is_refused() {
        let i = inv();
        let mut n1 = fresh("pve-node1", 11);
        let mut c = conf(&[("pve-node1", 11)], None);
        c.main.section_mut("totem").set_value("cluster_name", "other");
        n1.conf = Some(c);
        let e = plan(&i, &facts(vec![n1, fresh("pve-node2", 12)]), None, &Options::default()).unwrap_err();
        assert!(e[0].contains("already in cluster 'other', the inventory says 'homelab'"), "{}", e[0]);
    }

    #[test]
    fn wrong_hostname_is_refused() {
        let mut n2 = fresh("pve-node2", 12);
        n2.hostname = "debian".into();
        let e = plan(&inv(), &facts(vec![fresh("pve-node1", 11), n2]), None, &Options::default()).unwrap_err();
        assert!(e[0].contains("hostname is 'debian'"), "{}", e[0]);
    }

    #[test]
    fn odd_count_refused_unless_lms() {
        let mut i = with_qdev(inv());
        let mut n3 = crate::pvecm::tests::node("pve-node3", Role::Member, 13);
        n3.name = "pve-node3".into();
        i.nodes.push(n3);
        let e = check_inventory(&i).unwrap_err();
        assert!(e[0].contains("3 nodes and a QDevice"), "{}", e[0]);
        assert!(e[0].contains("algorithm = \"lms\""), "{}", e[0]);
        i.qdevice.as_mut().unwrap().algorithm = QDeviceAlgorithm::Lms;
        assert!(check_inventory(&i).is_ok());
        let f = facts(vec![fresh("pve-node1", 11), fresh("pve-node2", 12), fresh("pve-node3", 13)]);
        let p = plan(&i, &f, Some(&pi(true)), &Options::default()).unwrap();
        match p.actions.last().unwrap() {
            Action::QDeviceSetup { command, .. } => assert!(command.ends_with("--force"), "{command}"),
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn qnetd_down_is_refused_before_changes() {
        let i = with_qdev(inv());
        let f = facts(vec![fresh("pve-node1", 11), fresh("pve-node2", 12)]);
        let mut p = pi(false);
        p.qnetd_error = Some("Can't connect to QNetd socket (is QNetd running?)".into());
        let e = plan(&i, &f, Some(&p), &Options::default()).unwrap_err();
        assert!(e[0].starts_with("qdevice1: corosync-qnetd is not running (Can't connect"), "{}", e[0]);
        let e = plan(&i, &f, None, &Options::default()).unwrap_err();
        assert!(e[0].contains("qdevice1: not reachable"), "{}", e[0]);
    }

    #[test]
    fn qdevice_with_other_host_needs_the_flag() {
        let i = with_qdev(inv());
        let mut n1 = fresh("pve-node1", 11);
        let mut n2 = fresh("pve-node2", 12);
        n1.conf = Some(conf(&[("pve-node1", 11), ("pve-node2", 12)], Some("10.231.10.99")));
        n2.conf = n1.conf.clone();
        let f = facts(vec![n1, n2]);
        let p = plan(&i, &f, Some(&pi(true)), &Options::default()).unwrap();
        assert!(p.actions.is_empty());
        assert!(p.refusals[0].1.contains("configured with host 10.231.10.99 but the inventory says 10.231.10.5"));
        let p = plan(&i, &f, Some(&pi(true)), &Options { replace_qdevice: true, ..Default::default() }).unwrap();
        assert_eq!(ids(&p), vec!["pvecm qdevice remove @pve-node1", "pvecm qdevice setup @pve-node1"]);
    }

    #[test]
    fn stale_member_needs_explicit_node_then_rebuilds_in_safe_order() {
        let i = with_qdev(inv());
        let mut n1 = fresh("pve-node1", 11);
        n1.conf = Some(conf(&[("pve-node1", 11), ("pve-node2", 12)], Some("10.231.10.5")));
        n1.status = Some(status(true));
        n1.qdevice_certs = true;
        let n2 = fresh("pve-node2", 12); // reinstalled: not clustered
        let f = facts(vec![n1, n2]);
        let e = plan(&i, &f, Some(&pi(true)), &Options::default()).unwrap_err();
        assert!(e[0].contains("run: form-cluster --node pve-node2"), "{}", e[0]);

        let opts = Options { nodes: vec!["pve-node2".into()], ..Default::default() };
        let p = plan(&i, &f, Some(&pi(true)), &opts).unwrap();
        assert_eq!(
            ids(&p),
            vec![
                "pvecm delnode pve-node2 @pve-node1",
                "stale host keys of pve-node2 @pve-node1",
                "pvecm add @pve-node2",
                "pvecm qdevice remove @pve-node1",
                "pvecm qdevice setup @pve-node1",
                "pvecm updatecerts @pve-node1",
                "pvecm updatecerts @pve-node2",
            ]
        );
        assert!(p.actions[0].summary().contains("after 1 node + QDevice = 2 votes of 2 expected, quorum 2 → quorate"));
        assert!(p.actions[0].before_trust() && p.actions[1].before_trust() && !p.actions[2].before_trust());
        match &p.actions[1] {
            Action::CleanHostKeys { names, cluster_files, .. } => {
                assert_eq!(names, &["pve-node2", "pve-node2.lab.home.arpa", "10.231.10.12", "10.231.1.12"]);
                assert!(*cluster_files);
            }
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn rebuild_refused_when_survivor_inquorate() {
        let i = with_qdev(inv());
        let mut n1 = fresh("pve-node1", 11);
        n1.conf = Some(conf(&[("pve-node1", 11), ("pve-node2", 12)], Some("10.231.10.5")));
        n1.status = Some(status(false));
        let opts = Options { nodes: vec!["pve-node2".into()], ..Default::default() };
        let e = plan(&i, &facts(vec![n1, fresh("pve-node2", 12)]), Some(&pi(true)), &opts).unwrap_err();
        assert!(e[0].contains("not quorate (Total votes 1 of expected 3)"), "{}", e[0]);
        assert!(e[0].contains("pvecm expected 1"), "{}", e[0]);
    }

    #[test]
    fn member_in_another_cluster_is_refused() {
        let i = inv();
        let mut n1 = fresh("pve-node1", 11);
        n1.conf = Some(conf(&[("pve-node1", 11)], None));
        let mut n2 = fresh("pve-node2", 12);
        let mut c = conf(&[("pve-node2", 12)], None);
        c.main.section_mut("totem").set_value("cluster_name", "elsewhere");
        n2.conf = Some(c);
        let e = plan(&i, &facts(vec![n1, n2]), None, &Options::default()).unwrap_err();
        assert!(e[0].starts_with("pve-node2: already in a cluster 'elsewhere'"), "{}", e[0]);
    }

    #[test]
    fn interrupted_join_leftovers() {
        let i = inv();
        let mut n1 = fresh("pve-node1", 11);
        n1.conf = Some(conf(&[("pve-node1", 11)], None));
        let mut n2 = fresh("pve-node2", 12);
        n2.leftovers = vec!["/etc/corosync/authkey".into()];
        let f = facts(vec![n1, n2]);
        let p = plan(&i, &f, None, &Options::default()).unwrap();
        assert!(p.refusals[0].1.contains("form-cluster --node pve-node2"), "{:?}", p.refusals);
        let p = plan(&i, &f, None, &Options { nodes: vec!["pve-node2".into()], ..Default::default() }).unwrap();
        assert_eq!(ids(&p), vec!["leftovers of an interrupted join @pve-node2", "pvecm add @pve-node2"]);
    }

    #[test]
    fn qdevice_waits_for_every_node() {
        let i = with_qdev(inv());
        let f = facts(vec![fresh("pve-node1", 11), fresh("pve-node2", 12)]);
        let p = plan(&i, &f, Some(&pi(true)), &Options { nodes: vec!["pve-node1".into()], ..Default::default() }).unwrap();
        assert_eq!(ids(&p), vec!["pvecm create @pve-node1"]);
        assert!(p.notes.iter().any(|(_, n)| n.contains("once every node has joined (pve-node2")), "{:?}", p.notes);
    }

    #[test]
    fn unknown_node_flag_is_an_error() {
        let e = plan(&inv(), &facts(vec![fresh("pve-node1", 11), fresh("pve-node2", 12)]), None,
            &Options { nodes: vec!["pve-node9".into()], ..Default::default() }).unwrap_err();
        assert!(e[0].contains("--node pve-node9: no such node"), "{}", e[0]);
    }
}
