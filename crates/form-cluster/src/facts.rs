//! What form-cluster observes, in one batched round trip per host: the probes (read-only shell
//! snippets, run as root) and the pure parsing of their output into [`NodeFacts`] / [`PiFacts`].

use common::engine::Observed;
use common::parsers::cfgtool::{parse_cfgtool_status, LinkStatusReport};
use common::parsers::qdevice::{parse_qdevice_tool_status, parse_qnetd_tool_list, QdeviceStatus, QnetdCluster};
use common::parsers::quorum::{parse_pvecm_status, PvecmStatus};
use pve_formats::corosync::CorosyncConf;
use std::collections::HashMap;

/// Probe keys (prefixed so they never collide with resource ids in the same batch).
pub mod key {
    pub const HOSTNAME: &str = "fc:hostname";
    pub const IP: &str = "fc:ip";
    pub const HOST_KEY: &str = "fc:host-key";
    pub const ROOT_ED25519: &str = "fc:root-ed25519";
    pub const ROOT_RSA: &str = "fc:root-rsa";
    pub const AUTHORIZED_KEYS: &str = "fc:authorized-keys";
    pub const KNOWN_HOSTS: &str = "fc:known-hosts";
    pub const PVE_CONF: &str = "fc:pve-corosync-conf";
    pub const LEFTOVERS: &str = "fc:leftovers";
    pub const STATUS: &str = "fc:pvecm-status";
    pub const LINKS: &str = "fc:cfgtool";
    pub const QDEVICE: &str = "fc:qdevice-tool";
    pub const QDEVICE_CERTS: &str = "fc:qdevice-certs";
    pub const QNETD_STATUS: &str = "fc:qnetd-status";
    pub const QNETD_LIST: &str = "fc:qnetd-list";
    pub const ROOT_WINDOW: &str = "fc:root-window";
}

/// Files on a node.
pub const ROOT_AUTHORIZED_KEYS: &str = "/root/.ssh/authorized_keys";
pub const ROOT_KNOWN_HOSTS: &str = "/root/.ssh/known_hosts";
pub const PVE_COROSYNC_CONF: &str = "/etc/pve/corosync.conf";

/// Exit status our probes use for "not applicable" (no cluster config yet).
pub const NOT_CLUSTERED: i32 = 100;

/// Root's public key of one kind — the same snippet as the resource's probe, so the facts
/// and the resource can never disagree.
fn root_key_probe(kind: crate::resources::KeyKind) -> String {
    use common::engine::Resource;
    crate::resources::RootKeyPair { kind }.probe()
}

/// Guard: run only on a clustered node (else exit [`NOT_CLUSTERED`]).
fn clustered(cmd: &str) -> String {
    format!("[ -e {PVE_COROSYNC_CONF} ] || exit {NOT_CLUSTERED}\n{cmd}\n")
}

/// Probes run on every cluster node (see [`NodeFacts`]).
pub fn node_probes() -> Vec<(String, String)> {
    vec![
        (key::HOSTNAME.into(), "hostname\n".into()),
        (key::IP.into(), "ip -j addr show\n".into()),
        (key::HOST_KEY.into(), "cat /etc/ssh/ssh_host_ed25519_key.pub\n".into()),
        (key::ROOT_ED25519.into(), root_key_probe(crate::resources::KeyKind::Ed25519)),
        (key::ROOT_RSA.into(), root_key_probe(crate::resources::KeyKind::Rsa)),
        (key::AUTHORIZED_KEYS.into(), format!("cat {ROOT_AUTHORIZED_KEYS} 2>/dev/null || true\n")),
        (key::KNOWN_HOSTS.into(), format!("cat {ROOT_KNOWN_HOSTS} 2>/dev/null || true\n")),
        (key::PVE_CONF.into(), clustered(&format!("cat {PVE_COROSYNC_CONF}"))),
        // Left behind by an interrupted join (pve-cli.md §2.3 assert_joinable refuses them).
        (
            key::LEFTOVERS.into(),
            "for f in /etc/corosync/authkey /etc/corosync/corosync.conf; do [ -e \"$f\" ] && echo \"$f\"; done; true\n"
                .into(),
        ),
        (key::STATUS.into(), clustered("pvecm status")),
        (key::LINKS.into(), clustered("corosync-cfgtool -s")),
        (key::QDEVICE.into(), clustered("corosync-qdevice-tool -s")),
        // The node's QDevice certificate store (pve-cli.md §3.5), handed out by `qdevice setup`.
        (key::QDEVICE_CERTS.into(), "[ -d /etc/corosync/qdevice/net/nssdb ]\n".into()),
    ]
}

/// Probes run on the QDevice host (the Pi).
pub fn pi_probes() -> Vec<(String, String)> {
    vec![
        (key::HOST_KEY.into(), "cat /etc/ssh/ssh_host_ed25519_key.pub\n".into()),
        (key::QNETD_STATUS.into(), "corosync-qnetd-tool -s\n".into()),
        (key::QNETD_LIST.into(), "corosync-qnetd-tool -l\n".into()),
        // Temporary root keys still present = the window is open (common::baseline::keys).
        (key::ROOT_WINDOW.into(), format!("cat {ROOT_AUTHORIZED_KEYS} 2>/dev/null || true\n")),
    ]
}

/// Everything form-cluster needs to know about one node.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    /// Inventory name.
    pub name: String,
    pub hostname: String,
    /// Every address configured on the host (`ip -j addr`).
    pub addresses: Vec<String>,
    /// `/etc/ssh/ssh_host_ed25519_key.pub` (`type blob comment`).
    pub host_key: Option<String>,
    pub root_ed25519: Option<String>,
    pub root_rsa: Option<String>,
    pub authorized_keys: String,
    pub known_hosts: String,
    /// `/etc/pve/corosync.conf`, parsed (`None`: not clustered).
    pub conf: Option<CorosyncConf>,
    /// Raw text of it (for reports).
    pub conf_text: Option<String>,
    /// Files an interrupted join leaves behind on a node that is not clustered.
    pub leftovers: Vec<String>,
    /// `pvecm status` parsed, with its exit code (0 quorate, 2 inquorate).
    pub status: Option<PvecmStatus>,
    pub status_error: Option<String>,
    pub links: Option<LinkStatusReport>,
    pub links_error: Option<String>,
    pub qdevice: Option<QdeviceStatus>,
    pub qdevice_error: Option<String>,
    /// `/etc/corosync/qdevice/net/nssdb` exists (this node got its QDevice certificates).
    pub qdevice_certs: bool,
}

impl NodeFacts {
    /// Clustered = has `/etc/pve/corosync.conf`.
    pub fn cluster_name(&self) -> Option<&str> {
        self.conf.as_ref().and_then(|c| c.cluster_name())
    }
    pub fn is_clustered(&self) -> bool {
        self.conf.is_some()
    }
    /// Is `node` in this node's view of the nodelist?
    pub fn lists_node(&self, node: &str) -> bool {
        self.conf.as_ref().is_some_and(|c| c.node(node).ok().flatten().is_some())
    }
    pub fn quorate(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.quorum.quorate)
    }
}

/// What form-cluster needs to know about the QDevice host.
#[derive(Debug, Clone, Default)]
pub struct PiFacts {
    pub name: String,
    pub host_key: Option<String>,
    /// `corosync-qnetd-tool -s` answered (exit 0): qnetd is running.
    pub qnetd_running: bool,
    pub qnetd_error: Option<String>,
    pub clusters: Vec<QnetdCluster>,
    /// Temporary root key lines still in root's authorized_keys.
    pub open_window_lines: usize,
    /// What differs from bootstrap-qdevice's "window closed" state (sshd drop-in with
    /// `PermitRootLogin no`, no temporary keys, no marker); empty = closed.
    pub window_drift: Vec<String>,
}

fn get<'a>(o: &'a HashMap<String, Observed>, k: &str) -> Option<&'a Observed> {
    o.get(k)
}

fn ok_text(o: &HashMap<String, Observed>, k: &str) -> Option<String> {
    get(o, k).filter(|x| x.status == 0).map(|x| x.stdout.clone()).filter(|s| !s.trim().is_empty())
}

/// First line of a public key file, trimmed.
fn pubkey(o: &HashMap<String, Observed>, k: &str) -> Option<String> {
    ok_text(o, k).and_then(|s| s.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_string))
}

/// A failed probe's reason, for reports: stderr, else stdout, else the exit code.
fn why(x: &Observed) -> String {
    let s = if !x.stderr.trim().is_empty() { x.stderr.trim() } else { x.stdout.trim() };
    if s.is_empty() {
        format!("exit {}", x.status)
    } else {
        s.lines().last().unwrap_or(s).to_string()
    }
}

/// Addresses from `ip -j addr show` (every `addr_info[].local`).
pub fn parse_ip_addrs(json: &str) -> anyhow::Result<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| anyhow::anyhow!("`ip -j addr show` printed something that is not JSON: {e}"))?;
    let mut out = Vec::new();
    for link in v.as_array().into_iter().flatten() {
        for a in link.get("addr_info").and_then(|x| x.as_array()).into_iter().flatten() {
            if let Some(l) = a.get("local").and_then(|x| x.as_str()) {
                out.push(l.to_string());
            }
        }
    }
    Ok(out)
}

impl NodeFacts {
    /// Parse the observation of [`node_probes`]. Unreadable output of a *required* fact is an
    /// error naming the node; cluster tools failing is data (corosync may be down).
    pub fn parse(name: &str, o: &HashMap<String, Observed>) -> anyhow::Result<NodeFacts> {
        let hostname = ok_text(o, key::HOSTNAME).map(|s| s.trim().to_string()).unwrap_or_default();
        let addresses = match get(o, key::IP) {
            Some(x) if x.status == 0 => parse_ip_addrs(&x.stdout).map_err(|e| anyhow::anyhow!("{name}: {e}"))?,
            Some(x) => anyhow::bail!("{name}: `ip -j addr show` failed: {}", why(x)),
            None => Vec::new(),
        };
        let conf_text = get(o, key::PVE_CONF).filter(|x| x.status == 0).map(|x| x.stdout.clone());
        let conf = match &conf_text {
            Some(t) => Some(
                CorosyncConf::parse(t).map_err(|e| anyhow::anyhow!("{name}: {PVE_COROSYNC_CONF}: {e:#}"))?,
            ),
            None => None,
        };
        let leftovers = get(o, key::LEFTOVERS)
            .map(|x| x.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect())
            .unwrap_or_default();
        let mut f = NodeFacts {
            name: name.to_string(),
            hostname,
            addresses,
            host_key: pubkey(o, key::HOST_KEY),
            root_ed25519: pubkey(o, key::ROOT_ED25519),
            root_rsa: pubkey(o, key::ROOT_RSA),
            authorized_keys: get(o, key::AUTHORIZED_KEYS).map(|x| x.stdout.clone()).unwrap_or_default(),
            known_hosts: get(o, key::KNOWN_HOSTS).map(|x| x.stdout.clone()).unwrap_or_default(),
            conf,
            conf_text,
            leftovers,
            qdevice_certs: get(o, key::QDEVICE_CERTS).is_some_and(|x| x.status == 0),
            ..Default::default()
        };
        if f.conf.is_some() {
            f.read_cluster_tools(o);
        }
        Ok(f)
    }

    /// `pvecm status` (exit 0 quorate / 2 inquorate, both parsed), `corosync-cfgtool -s`,
    /// `corosync-qdevice-tool -s` (exit 3: daemon not running).
    pub fn read_cluster_tools(&mut self, o: &HashMap<String, Observed>) {
        match get(o, key::STATUS) {
            Some(x) if x.status == 0 || x.status == 2 => match parse_pvecm_status(&x.stdout) {
                Ok(s) => self.status = Some(s),
                Err(e) => self.status_error = Some(format!("{e}")),
            },
            Some(x) => self.status_error = Some(format!("`pvecm status` failed: {}", why(x))),
            None => {}
        }
        match get(o, key::LINKS) {
            Some(x) if x.status == 0 => match parse_cfgtool_status(&x.stdout) {
                Ok(s) => self.links = Some(s),
                Err(e) => self.links_error = Some(format!("{e}")),
            },
            Some(x) => self.links_error = Some(format!("`corosync-cfgtool -s` failed: {}", why(x))),
            None => {}
        }
        match get(o, key::QDEVICE) {
            Some(x) if x.status == 0 => match parse_qdevice_tool_status(&x.stdout) {
                Ok(s) => self.qdevice = Some(s),
                Err(e) => self.qdevice_error = Some(format!("{e}")),
            },
            Some(x) => self.qdevice_error = Some(format!("`corosync-qdevice-tool -s` failed: {}", why(x))),
            None => {}
        }
    }
}

impl PiFacts {
    pub fn parse(name: &str, o: &HashMap<String, Observed>) -> PiFacts {
        let mut f = PiFacts { name: name.to_string(), host_key: pubkey(o, key::HOST_KEY), ..Default::default() };
        match get(o, key::QNETD_STATUS) {
            Some(x) if x.status == 0 => f.qnetd_running = true,
            Some(x) => f.qnetd_error = Some(why(x)),
            None => {}
        }
        if let Some(x) = get(o, key::QNETD_LIST).filter(|x| x.status == 0) {
            f.clusters = parse_qnetd_tool_list(&x.stdout).unwrap_or_default();
        }
        if let Some(x) = get(o, key::ROOT_WINDOW) {
            f.open_window_lines =
                x.stdout.lines().filter(|l| common::baseline::keys::is_temporary_root_line(l)).count();
        }
        f
    }

    pub fn cluster(&self, name: &str) -> Option<&QnetdCluster> {
        self.clusters.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_json_addresses() {
        let j = r#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
                   {"ifindex":2,"ifname":"eth0","addr_info":[{"family":"inet","local":"10.231.10.11","prefixlen":24}]},
                   {"ifindex":3,"ifname":"eth1","addr_info":[]}]"#;
        assert_eq!(parse_ip_addrs(j).unwrap(), vec!["127.0.0.1", "10.231.10.11"]);
        assert!(parse_ip_addrs("Object \"addr\" is unknown").is_err());
    }

    fn obs(pairs: &[(&str, &str, i32)]) -> HashMap<String, Observed> {
        pairs.iter().map(|(k, v, s)| (k.to_string(), Observed::new(v, *s))).collect()
    }

    #[test]
    fn fresh_node() {
        let o = obs(&[
            (key::HOSTNAME, "pve-node2\n", 0),
            (key::IP, r#"[{"addr_info":[{"local":"10.231.10.12"},{"local":"10.231.1.12"}]}]"#, 0),
            (key::HOST_KEY, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK4oRhvqnlWeatUYARzjd5oVh6cTXPvXiWMU5A5cGFNv root@pve-node2\n", 0),
            (key::ROOT_ED25519, "", 3),
            (key::ROOT_RSA, "", 3),
            (key::AUTHORIZED_KEYS, "ssh-ed25519 AAAA op\n", 0),
            (key::KNOWN_HOSTS, "", 0),
            (key::PVE_CONF, "", NOT_CLUSTERED),
            (key::LEFTOVERS, "", 0),
            (key::STATUS, "", NOT_CLUSTERED),
        ]);
        let f = NodeFacts::parse("pve-node2", &o).unwrap();
        assert_eq!(f.hostname, "pve-node2");
        assert_eq!(f.addresses, vec!["10.231.10.12", "10.231.1.12"]);
        assert!(f.host_key.as_deref().unwrap().starts_with("ssh-ed25519 "));
        assert!(f.root_ed25519.is_none() && f.root_rsa.is_none());
        assert!(!f.is_clustered());
        assert!(f.status.is_none() && f.status_error.is_none());
    }

    #[test]
    fn clustered_node_with_inquorate_status_is_parsed() {
        let conf = "totem {\n  cluster_name: homelab\n  config_version: 2\n}\n\nnodelist {\n  node {\n    name: pve-node1\n    nodeid: 1\n    quorum_votes: 1\n    ring0_addr: 10.231.10.11\n    ring1_addr: 10.231.1.11\n  }\n}\n\n";
        let status = "Cluster information\n-------------------\nName:             homelab\nConfig Version:   2\nTransport:        knet\nSecure auth:      on\n\n\
Quorum information\n------------------\nDate:             Mon Sep  1 12:00:00 2025\nQuorum provider:  corosync_votequorum\nNodes:            1\nNode ID:          0x00000001\nRing ID:          1.2d\nQuorate:          No\n\n\
Votequorum information\n----------------------\nExpected votes:   2\nHighest expected: 2\nTotal votes:      1\nQuorum:           2 Activity blocked\nFlags:            \n\n\
Membership information\n----------------------\n    Nodeid      Votes Name\n0x00000001          1 10.231.10.11 (local)\n";
        let o = obs(&[
            (key::HOSTNAME, "pve-node1\n", 0),
            (key::IP, "[]", 0),
            (key::PVE_CONF, conf, 0),
            (key::STATUS, status, 2),
            (key::LINKS, "", 1),
            (key::QDEVICE, "", 3),
        ]);
        let f = NodeFacts::parse("pve-node1", &o).unwrap();
        assert_eq!(f.cluster_name(), Some("homelab"));
        assert!(f.lists_node("pve-node1") && !f.lists_node("pve-node2"));
        assert!(!f.quorate());
        assert_eq!(f.status.as_ref().unwrap().quorum.total_votes, 1);
        assert!(f.links_error.is_some());
        assert!(f.qdevice_error.is_some());
    }

    #[test]
    fn pi_window_and_qnetd() {
        let o = obs(&[
            (key::HOST_KEY, "ssh-ed25519 AAAAC3Nz root@qdevice1\n", 0),
            (key::QNETD_STATUS, "", 3),
            (key::ROOT_WINDOW, "from=\"10.231.10.11\" ssh-ed25519 AAAA homelab-iac-temporary-root\nssh-ed25519 BBBB op\n", 0),
        ]);
        let p = PiFacts::parse("qdevice1", &o);
        assert!(!p.qnetd_running);
        assert_eq!(p.open_window_lines, 1);
    }
}
