//! The `pvecm` command lines form-cluster runs, and how to read what they print.
//!
//! `pvecm create` and `pvecm add` run as synchronous worker tasks that exit 0 even when the
//! task fails (pve-cli.md §1.2, §2.3): success is decided from post-conditions, and on failure
//! the task's own error text (stderr, plus the `* …` / `! …` detail lines it prints) is
//! reported verbatim. `pvecm qdevice setup/remove` and `delnode` are not workers: their exit
//! code counts (pve-cli.md §2.6, §2.9, §2.10).

use common::inventory::{Inventory, Node, QDeviceAlgorithm};
use common::ssh::quote;

/// `--linkN ADDR[,priority=P]` (pve-cli.md §2.1).
fn link_arg(n: u8, addr: &str, priority: Option<u8>) -> String {
    match priority {
        Some(p) => format!("--link{n} {}", quote(&format!("{addr},priority={p}"))),
        None => format!("--link{n} {}", quote(addr)),
    }
}

/// `pvecm create NAME --link0 A[,priority=N] --link1 B[,priority=M]` (pve-cli.md §2.1).
pub fn create(inv: &Inventory) -> String {
    let m = inv.master();
    format!(
        "pvecm create {} {} {}",
        quote(&inv.cluster.name),
        link_arg(0, &m.link0, inv.cluster.link0_priority),
        link_arg(1, &m.link1, inv.cluster.link1_priority)
    )
}

/// `pvecm add MASTER_LINK0 --use_ssh --link0 A --link1 B`, run from `/` (pvecm refuses to run
/// inside /etc/pve, pve-cli.md §2.3). Priorities are ignored on add, so none are passed.
/// `--use_ssh`: no root password and no API fingerprint prompt; it needs the root SSH trust
/// that form-cluster sets up first.
pub fn add(inv: &Inventory, node: &Node) -> String {
    format!(
        "cd / && pvecm add {} --use_ssh {} {}",
        quote(&inv.master().link0),
        link_arg(0, &node.link0, None),
        link_arg(1, &node.link1, None)
    )
}

/// `pvecm delnode NAME` (pve-cli.md §2.6).
pub fn delnode(name: &str) -> String {
    format!("pvecm delnode {}", quote(name))
}

/// `pvecm qdevice setup ADDR [--force]`: `--force` only to opt into `lms` for an odd node
/// count (pve-cli.md §2.9 step 4) — never to override "already configured".
pub fn qdevice_setup(address: &str, algorithm: QDeviceAlgorithm, node_count: usize) -> String {
    let force = algorithm == QDeviceAlgorithm::Lms && node_count % 2 == 1;
    format!("pvecm qdevice setup {}{}", quote(address), if force { " --force" } else { "" })
}

pub const QDEVICE_REMOVE: &str = "pvecm qdevice remove";
pub const UPDATECERTS: &str = "pvecm updatecerts";

/// The algorithm `pvecm qdevice setup` will write for this node count (pve-cli.md §2.9 step 4).
pub fn expected_algorithm(node_count: usize) -> &'static str {
    if node_count % 2 == 1 {
        "lms"
    } else {
        "ffsplit"
    }
}

/// `successfully added node 'NAME' to cluster.` (pve-cli.md §2.3 step 7).
pub fn join_succeeded(stdout: &str, node: &str) -> bool {
    let line = format!("successfully added node '{node}' to cluster.");
    stdout.lines().any(|l| l.trim() == line)
}

/// The error text of a failed worker task: every stderr line (the task's `die` message is
/// printed there, pve-cli.md §1.2), plus the detail lines the task printed on stdout
/// (`detected the following error(s):` and its `* …` list, `! …` verification errors,
/// `An error occurred on the cluster node: …`, `unable to add node: …`).
pub fn task_error(stdout: &str, stderr: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut in_list = false;
    for l in stdout.lines() {
        let t = l.trim_end();
        let detail = t.starts_with("detected the following error")
            || t.starts_with("An error occurred on the cluster node")
            || t.starts_with("unable to add node")
            || t.contains("failed!")
            || t.contains("aborted!")
            || (in_list && (t.starts_with("* ") || t.starts_with("! ")));
        if t.starts_with("detected the following error") || t.starts_with("An error occurred") {
            in_list = true;
        } else if !(t.starts_with("* ") || t.starts_with("! ")) {
            in_list = false;
        }
        if detail {
            lines.push(t.to_string());
        }
    }
    for l in stderr.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        if !lines.iter().any(|x| x == l) {
            lines.push(l.to_string());
        }
    }
    if lines.is_empty() {
        // Nothing recognisable: the last lines of whatever it printed.
        let all: Vec<&str> = stdout.lines().chain(stderr.lines()).filter(|l| !l.trim().is_empty()).collect();
        let from = all.len().saturating_sub(8);
        lines = all[from..].iter().map(|s| s.to_string()).collect();
    }
    if lines.is_empty() {
        "no output at all".into()
    } else {
        lines.join("\n")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use common::inventory::{Automation, Cluster, Network, Networks, Role};

    pub(crate) fn node(name: &str, role: Role, octet: u8) -> Node {
        Node {
            name: name.into(),
            role,
            link0: format!("10.231.10.{octet}"),
            link1: format!("10.231.1.{octet}"),
            mgmt_mac: None,
            prod_mac: None,
            mgmt_nic: None,
            prod_nic: None,
            install_disks: vec![],
            filesystem: Default::default(),
            raid: None,
            manage_bridges: false,
            first_contact: Default::default(),
        }
    }

    pub(crate) fn inv() -> Inventory {
        Inventory {
            cluster: Cluster {
                name: "homelab".into(),
                domain: "lab.home.arpa".into(),
                link0_priority: Some(10),
                link1_priority: None,
            },
            automation: Automation {
                user: "homelab".into(),
                keys: vec![],
                identity_file: None,
                known_hosts: None,
                ssh_port: 22,
                connect_timeout_secs: 10,
            },
            defaults: Default::default(),
            networks: Networks {
                mgmt: Network { cidr: "10.231.10.0/24".into(), gateway: None, dns: vec![], bridge: None },
                prod: Network { cidr: "10.231.1.0/24".into(), gateway: None, dns: vec![], bridge: None },
            },
            nodes: vec![node("pve-node1", Role::Master, 11), node("pve-node2", Role::Member, 12)],
            qdevice: None,
            nas: None,
            install: Default::default(),
            storage: Default::default(),
            zfs: vec![],
            replication: vec![],
            backup: vec![],
            monitoring: Default::default(),
        }
    }

    #[test]
    fn create_and_add_lines() {
        let i = inv();
        assert_eq!(create(&i), "pvecm create homelab --link0 10.231.10.11,priority=10 --link1 10.231.1.11");
        assert_eq!(add(&i, &i.nodes[1]), "cd / && pvecm add 10.231.10.11 --use_ssh --link0 10.231.10.12 --link1 10.231.1.12");
    }

    #[test]
    fn qdevice_force_only_for_odd_lms() {
        assert_eq!(qdevice_setup("10.231.10.5", QDeviceAlgorithm::Ffsplit, 2), "pvecm qdevice setup 10.231.10.5");
        assert_eq!(qdevice_setup("10.231.10.5", QDeviceAlgorithm::Lms, 2), "pvecm qdevice setup 10.231.10.5");
        assert_eq!(qdevice_setup("10.231.10.5", QDeviceAlgorithm::Lms, 3), "pvecm qdevice setup 10.231.10.5 --force");
        assert_eq!(expected_algorithm(2), "ffsplit");
        assert_eq!(expected_algorithm(3), "lms");
    }

    #[test]
    fn join_success_line() {
        let out = "copy corosync auth key\nstopping pve-cluster service\nwaiting for quorum...OK\n\
                   successfully added node 'pve-node2' to cluster.\n";
        assert!(join_succeeded(out, "pve-node2"));
        assert!(!join_succeeded(out, "pve-node3"));
    }

    #[test]
    fn task_error_from_assert_joinable() {
        // pve-cli.md §2.3 step 2: the list on stdout, the task failure on stderr.
        let stdout = "detected the following error(s):\n\
                      * authentication key '/etc/corosync/authkey' already exists\n\
                      * cluster config '/etc/pve/corosync.conf' already exists\n";
        let stderr = "Check if node may join a cluster failed!\n";
        assert_eq!(
            task_error(stdout, stderr),
            "detected the following error(s):\n\
             * authentication key '/etc/corosync/authkey' already exists\n\
             * cluster config '/etc/pve/corosync.conf' already exists\n\
             Check if node may join a cluster failed!"
        );
    }

    #[test]
    fn task_error_from_peer_and_fallback() {
        let stderr = "unable to add node: command failed (ssh 10.231.10.11 -o BatchMode=yes pvecm addnode pve-node2 --force 1)\n";
        assert!(task_error("copy corosync auth key\n", stderr).starts_with("unable to add node"));
        assert_eq!(task_error("a\nb\n", ""), "a\nb");
        assert_eq!(task_error("", ""), "no output at all");
    }
}
