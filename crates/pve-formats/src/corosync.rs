//! `corosync.conf` as Proxmox VE reads and writes it.
//!
//! Reader: mirrors `PVE::Corosync::parse_conf` (pve-cli.md §2.2 "Variants"): `#` comments are
//! stripped, all whitespace is collapsed, the text is split into tokens; `name {` opens a section,
//! `}` closes it, `key: value` sets a value. `node` and `interface` are repeated sections (arrays);
//! every other repeated section or key replaces the earlier one (PVE stores them in a hash).
//!
//! Writer: mirrors `PVE::Corosync::write_conf` (pve-cli.md §2.2): keys sorted, 2-space indentation
//! per level, `key: value`, an empty line after every *top-level* section, `node` blocks sorted by
//! node name and `interface` blocks by link number. A file written by PVE round-trips byte-exact.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

/// Section names that PVE's parser keeps as arrays (`nodelist.node`, `totem.interface`).
const MULTI_SECTIONS: &[&str] = &["node", "interface"];

/// Deepest `{ … }` nesting accepted. Real files nest 3 levels (`totem { interface { } }`); the
/// tree is dropped, cloned and written recursively, so a hostile file nesting thousands of
/// levels would overflow the stack and abort the process instead of failing (issue 11).
const MAX_DEPTH: usize = 64;

/// One `{ ... }` block: keys in sorted order (the writer sorts anyway).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub entries: BTreeMap<String, Item>,
}

/// A value inside a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Value(String),
    Section(Section),
    /// Repeated blocks (`node`, `interface`).
    List(Vec<Section>),
}

impl Section {
    /// Scalar value of `key` in this section.
    pub fn value(&self, key: &str) -> Option<&str> {
        match self.entries.get(key) {
            Some(Item::Value(v)) => Some(v),
            _ => None,
        }
    }

    pub fn set_value(&mut self, key: &str, value: impl Into<String>) {
        self.entries.insert(key.to_string(), Item::Value(value.into()));
    }

    pub fn remove(&mut self, key: &str) -> Option<Item> {
        self.entries.remove(key)
    }

    pub fn section(&self, key: &str) -> Option<&Section> {
        match self.entries.get(key) {
            Some(Item::Section(s)) => Some(s),
            _ => None,
        }
    }

    /// Sub-section `key`, created empty when missing (replaces a scalar of the same name).
    pub fn section_mut(&mut self, key: &str) -> &mut Section {
        let slot = self
            .entries
            .entry(key.to_string())
            .or_insert_with(|| Item::Section(Section::default()));
        if !matches!(slot, Item::Section(_)) {
            *slot = Item::Section(Section::default());
        }
        match slot {
            Item::Section(s) => s,
            _ => unreachable!(),
        }
    }

    /// Repeated blocks named `key` (empty when absent).
    pub fn list(&self, key: &str) -> &[Section] {
        match self.entries.get(key) {
            Some(Item::List(l)) => l,
            _ => &[],
        }
    }

    pub fn list_mut(&mut self, key: &str) -> &mut Vec<Section> {
        let slot = self.entries.entry(key.to_string()).or_insert_with(|| Item::List(Vec::new()));
        if !matches!(slot, Item::List(_)) {
            *slot = Item::List(Vec::new());
        }
        match slot {
            Item::List(l) => l,
            _ => unreachable!(),
        }
    }
}

/// A node entry of `nodelist` (typed view; unknown keys are kept in `extra`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    pub name: String,
    pub nodeid: u32,
    pub quorum_votes: u32,
    /// `ringX_addr` by link number X.
    pub addrs: BTreeMap<u8, String>,
    /// Any other key of the node block, verbatim.
    pub extra: BTreeMap<String, String>,
}

impl NodeEntry {
    fn from_section(s: &Section) -> Result<NodeEntry> {
        let name = s
            .value("name")
            .or_else(|| s.value("ring0_addr"))
            .context("corosync.conf: node block without 'name' (and without ring0_addr)")?
            .to_string();
        let nodeid = match s.value("nodeid") {
            Some(v) => v
                .parse()
                .with_context(|| format!("corosync.conf: node '{name}': nodeid '{v}' is not a number"))?,
            None => 0,
        };
        let quorum_votes = match s.value("quorum_votes") {
            Some(v) => v.parse().with_context(|| {
                format!("corosync.conf: node '{name}': quorum_votes '{v}' is not a number")
            })?,
            None => 1,
        };
        let mut addrs = BTreeMap::new();
        let mut extra = BTreeMap::new();
        for (k, item) in &s.entries {
            let Item::Value(v) = item else { continue };
            if let Some(n) = k.strip_prefix("ring").and_then(|r| r.strip_suffix("_addr")) {
                if let Ok(n) = n.parse::<u8>() {
                    addrs.insert(n, v.clone());
                    continue;
                }
            }
            if !matches!(k.as_str(), "name" | "nodeid" | "quorum_votes") {
                extra.insert(k.clone(), v.clone());
            }
        }
        Ok(NodeEntry { name, nodeid, quorum_votes, addrs, extra })
    }

    fn to_section(&self) -> Section {
        let mut s = Section::default();
        s.set_value("name", &self.name);
        s.set_value("nodeid", self.nodeid.to_string());
        s.set_value("quorum_votes", self.quorum_votes.to_string());
        for (n, a) in &self.addrs {
            s.set_value(&format!("ring{n}_addr"), a);
        }
        for (k, v) in &self.extra {
            s.set_value(k, v);
        }
        s
    }
}

/// `totem.interface` entry (typed view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceEntry {
    pub linknumber: u8,
    pub knet_link_priority: Option<u32>,
}

/// `quorum.device` block (typed view). Layout: pve-cli.md §2.2 / §2.9 step 15.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDevice {
    pub model: String,
    /// `votes:` — absent with algorithm `lms` (pve-cli.md §2.2 variants).
    pub votes: Option<u32>,
    pub host: String,
    pub algorithm: String,
    pub tls: String,
}

/// A link given to `pvecm create`: `--linkX ADDR[,priority=N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    pub number: u8,
    pub address: String,
    pub priority: Option<u32>,
}

/// Inputs of `PVE::Corosync::create_conf` (pve-cli.md §2.1/§2.2).
#[derive(Debug, Clone)]
pub struct CreateParams {
    pub cluster_name: String,
    pub node_name: String,
    pub nodeid: u32,
    pub votes: u32,
    pub links: Vec<LinkSpec>,
    /// `Some(125)` since pve-cluster 9.1.0; `None` reproduces PVE 9.0.x (no line).
    pub token_coefficient: Option<u32>,
}

/// A parsed corosync.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorosyncConf {
    pub main: Section,
}

impl CorosyncConf {
    /// Parse like `PVE::Corosync::parse_conf`. Errors name the token that broke the structure.
    pub fn parse(raw: &str) -> Result<CorosyncConf> {
        let mut cleaned = String::with_capacity(raw.len());
        for line in raw.lines() {
            let line = match line.find('#') {
                Some(i) => &line[..i],
                None => line,
            };
            cleaned.push_str(line);
            cleaned.push(' ');
        }
        let mut tokens = cleaned.split_whitespace().peekable();
        // Stack of (name, section being filled, is_multi).
        let mut stack: Vec<(String, Section)> = Vec::new();
        let mut current = Section::default();
        while let Some(token) = tokens.next() {
            if tokens.peek() == Some(&"{") {
                tokens.next();
                if stack.len() >= MAX_DEPTH {
                    bail!("corosync.conf: sections nested deeper than {MAX_DEPTH} levels (at '{token}') — not a corosync.conf");
                }
                let parent = std::mem::take(&mut current);
                stack.push((token.to_string(), parent));
                continue;
            }
            if token == "}" {
                let Some((name, mut parent)) = stack.pop() else {
                    bail!("corosync.conf: parse error - unexpected '}}'");
                };
                let child = std::mem::take(&mut current);
                if MULTI_SECTIONS.contains(&name.as_str()) {
                    parent.list_mut(&name).push(child);
                } else {
                    parent.entries.insert(name, Item::Section(child));
                }
                current = parent;
                continue;
            }
            let Some(key) = token.strip_suffix(':') else {
                bail!("corosync.conf: missing ':' after key '{token}'");
            };
            let Some(value) = tokens.next() else {
                bail!("corosync.conf: parse error - no value for '{key}'");
            };
            if value == "{" || value == "}" {
                bail!("corosync.conf: parse error - no value for '{key}'");
            }
            current.entries.insert(key.to_string(), Item::Value(value.to_string()));
        }
        if let Some((name, _)) = stack.last() {
            bail!("corosync.conf: parse error - section '{name}' is not closed (missing '}}')");
        }
        let mut conf = CorosyncConf { main: current };
        // PVE keys nodes by name (fallback ring0_addr) and interfaces by linknumber (fallback
        // ringnumber): a later duplicate replaces an earlier one.
        dedupe(conf.main.section_mut_opt("nodelist").map(|s| s.list_mut("node")), node_key);
        dedupe(conf.main.section_mut_opt("totem").map(|s| s.list_mut("interface")), iface_key);
        Ok(conf)
    }

    /// Serialise exactly like `PVE::Corosync::write_conf` (pve-cli.md §2.2).
    pub fn write(&self) -> String {
        let mut out = String::new();
        dump_section(&self.main, "", &mut out);
        out
    }

    /// Build a fresh single-node config like `PVE::Corosync::create_conf` (pve-cli.md §2.2),
    /// with `config_version: 1` (the value after PVE's first `atomic_write_conf`).
    pub fn create(p: &CreateParams) -> CorosyncConf {
        let mut main = Section::default();
        {
            let totem = main.section_mut("totem");
            totem.set_value("version", "2");
            totem.set_value("secauth", "on");
            totem.set_value("cluster_name", &p.cluster_name);
            totem.set_value("config_version", "1");
            totem.set_value("ip_version", "ipv4-6");
            totem.set_value("link_mode", "passive");
            if let Some(tc) = p.token_coefficient {
                totem.set_value("token_coefficient", tc.to_string());
            }
            let ifaces = totem.list_mut("interface");
            for l in &p.links {
                let mut s = Section::default();
                s.set_value("linknumber", l.number.to_string());
                // knet_link_priority only when non-zero (pve-cli.md §2.2).
                if let Some(prio) = l.priority.filter(|p| *p != 0) {
                    s.set_value("knet_link_priority", prio.to_string());
                }
                ifaces.push(s);
            }
        }
        let node = NodeEntry {
            name: p.node_name.clone(),
            nodeid: p.nodeid,
            quorum_votes: p.votes,
            addrs: p.links.iter().map(|l| (l.number, l.address.clone())).collect(),
            extra: BTreeMap::new(),
        };
        main.section_mut("nodelist").list_mut("node").push(node.to_section());
        main.section_mut("quorum").set_value("provider", "corosync_votequorum");
        let logging = main.section_mut("logging");
        logging.set_value("to_syslog", "yes");
        logging.set_value("debug", "off");
        CorosyncConf { main }
    }

    /// Dotted lookup of a scalar: `get("totem.cluster_name")`.
    pub fn get(&self, path: &str) -> Option<&str> {
        let mut parts: Vec<&str> = path.split('.').collect();
        let last = parts.pop()?;
        let mut sec = &self.main;
        for p in parts {
            sec = sec.section(p)?;
        }
        sec.value(last)
    }

    pub fn cluster_name(&self) -> Option<&str> {
        self.get("totem.cluster_name")
    }

    /// `totem.config_version` (None when missing or not a number).
    pub fn config_version(&self) -> Option<u64> {
        self.get("totem.config_version")?.parse().ok()
    }

    pub fn set_config_version(&mut self, v: u64) {
        self.main.section_mut("totem").set_value("config_version", v.to_string());
    }

    /// Increment `config_version` as PVE's `atomic_write_conf` does on every write; returns the new value.
    pub fn bump_config_version(&mut self) -> u64 {
        let v = self.config_version().unwrap_or(0) + 1;
        self.set_config_version(v);
        v
    }

    /// Nodelist entries, sorted by name (the order PVE writes them).
    pub fn nodes(&self) -> Result<Vec<NodeEntry>> {
        let Some(nl) = self.main.section("nodelist") else { return Ok(Vec::new()) };
        let mut v = nl.list("node").iter().map(NodeEntry::from_section).collect::<Result<Vec<_>>>()?;
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    pub fn node(&self, name: &str) -> Result<Option<NodeEntry>> {
        Ok(self.nodes()?.into_iter().find(|n| n.name == name))
    }

    /// Add or replace (by name) a nodelist entry.
    pub fn upsert_node(&mut self, node: &NodeEntry) {
        let list = self.main.section_mut("nodelist").list_mut("node");
        list.retain(|s| node_key(s) != node.name);
        list.push(node.to_section());
    }

    /// Remove a node by name; true when it was present.
    pub fn remove_node(&mut self, name: &str) -> bool {
        let list = self.main.section_mut("nodelist").list_mut("node");
        let before = list.len();
        list.retain(|s| node_key(s) != name);
        before != list.len()
    }

    /// Lowest unused node id ≥ 1 (pve-cli.md §2.3 peer side).
    pub fn next_free_nodeid(&self) -> Result<u32> {
        let used: Vec<u32> = self.nodes()?.iter().map(|n| n.nodeid).collect();
        Ok((1..).find(|i| !used.contains(i)).unwrap_or(1))
    }

    /// `totem.interface` entries sorted by link number.
    pub fn interfaces(&self) -> Vec<InterfaceEntry> {
        let Some(t) = self.main.section("totem") else { return Vec::new() };
        let mut v: Vec<InterfaceEntry> = t
            .list("interface")
            .iter()
            .filter_map(|s| {
                let n = s.value("linknumber").or_else(|| s.value("ringnumber"))?.parse().ok()?;
                Some(InterfaceEntry {
                    linknumber: n,
                    knet_link_priority: s.value("knet_link_priority").and_then(|p| p.parse().ok()),
                })
            })
            .collect();
        v.sort_by_key(|i| i.linknumber);
        v
    }

    /// `quorum.device` with model net, if configured.
    pub fn quorum_device(&self) -> Option<QuorumDevice> {
        let dev = self.main.section("quorum")?.section("device")?;
        let net = dev.section("net");
        Some(QuorumDevice {
            model: dev.value("model").unwrap_or("").to_string(),
            votes: dev.value("votes").and_then(|v| v.parse().ok()),
            host: net.and_then(|n| n.value("host")).unwrap_or("").to_string(),
            algorithm: net.and_then(|n| n.value("algorithm")).unwrap_or("").to_string(),
            tls: net.and_then(|n| n.value("tls")).unwrap_or("").to_string(),
        })
    }

    pub fn has_quorum_device(&self) -> bool {
        self.main.section("quorum").and_then(|q| q.section("device")).is_some()
    }

    /// Write (or with `None` delete) the `quorum.device` block (pve-cli.md §2.9 step 15, §2.10).
    pub fn set_quorum_device(&mut self, dev: Option<&QuorumDevice>) {
        let quorum = self.main.section_mut("quorum");
        match dev {
            None => {
                quorum.remove("device");
            }
            Some(d) => {
                let mut s = Section::default();
                s.set_value("model", &d.model);
                if let Some(v) = d.votes {
                    s.set_value("votes", v.to_string());
                }
                let net = s.section_mut("net");
                net.set_value("tls", &d.tls);
                net.set_value("host", &d.host);
                net.set_value("algorithm", &d.algorithm);
                quorum.entries.insert("device".into(), Item::Section(s));
            }
        }
    }
}

impl Section {
    fn section_mut_opt(&mut self, key: &str) -> Option<&mut Section> {
        match self.entries.get_mut(key) {
            Some(Item::Section(s)) => Some(s),
            _ => None,
        }
    }
}

fn node_key(s: &Section) -> String {
    s.value("name").or_else(|| s.value("ring0_addr")).unwrap_or("").to_string()
}

fn iface_key(s: &Section) -> String {
    s.value("linknumber").or_else(|| s.value("ringnumber")).unwrap_or("").to_string()
}

/// Keep the last entry for each key, at the position of the first (PVE builds a hash).
fn dedupe(list: Option<&mut Vec<Section>>, key: fn(&Section) -> String) {
    let Some(list) = list else { return };
    let mut out: Vec<Section> = Vec::with_capacity(list.len());
    for s in list.drain(..) {
        let k = key(&s);
        if let Some(pos) = out.iter().position(|o| key(o) == k) {
            out[pos] = s;
        } else {
            out.push(s);
        }
    }
    *list = out;
}

fn dump_section(section: &Section, prefix: &str, out: &mut String) {
    let inner = format!("{prefix}  ");
    for (k, item) in &section.entries {
        match item {
            Item::Value(v) => {
                out.push_str(prefix);
                out.push_str(k);
                out.push_str(": ");
                out.push_str(v);
                out.push('\n');
            }
            Item::Section(s) => {
                out.push_str(&format!("{prefix}{k} {{\n"));
                dump_section(s, &inner, out);
                out.push_str(&format!("{prefix}}}\n"));
                if prefix.is_empty() {
                    out.push('\n');
                }
            }
            Item::List(list) => {
                // PVE turns the keyed hash back into an array sorted by hash key (Perl string sort).
                let keyf: fn(&Section) -> String = if k == "interface" { iface_key } else { node_key };
                let mut sorted: Vec<&Section> = list.iter().collect();
                sorted.sort_by_key(|s| keyf(s));
                for s in sorted {
                    out.push_str(&format!("{prefix}{k} {{\n"));
                    dump_section(s, &inner, out);
                    out.push_str(&format!("{prefix}}}\n"));
                }
            }
        }
    }
}

/// Parse a `--linkX` value: `[address=]<IP|host>[,priority=<0-255>]` (pve-cli.md §2.1).
pub fn parse_link_spec(number: u8, spec: &str) -> Result<LinkSpec> {
    let props = crate::property_string::parse(spec, Some("address"))
        .with_context(|| format!("link{number}: invalid format"))?;
    let mut address = None;
    let mut priority = None;
    for (k, v) in props {
        match k.as_str() {
            "address" => address = Some(v),
            "priority" => {
                let p: u32 = v
                    .parse()
                    .ok()
                    .filter(|p| *p <= 255)
                    .with_context(|| format!("link{number}: priority '{v}' must be an integer 0-255"))?;
                priority = Some(p);
            }
            other => bail!("link{number}: unknown property '{other}'"),
        }
    }
    let address = address.with_context(|| format!("link{number}: property 'address' is missing"))?;
    Ok(LinkSpec { number, address, priority })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pve-cli.md §2.2, verbatim.
    const EXAMPLE: &str = "logging {
  debug: off
  to_syslog: yes
}

nodelist {
  node {
    name: pve1
    nodeid: 1
    quorum_votes: 1
    ring0_addr: 10.10.10.1
    ring1_addr: 10.20.20.1
  }
  node {
    name: pve2
    nodeid: 2
    quorum_votes: 1
    ring0_addr: 10.10.10.2
    ring1_addr: 10.20.20.2
  }
}

quorum {
  device {
    model: net
    net {
      algorithm: ffsplit
      host: 10.10.10.3
      tls: on
    }
    votes: 1
  }
  provider: corosync_votequorum
}

totem {
  cluster_name: pvecl
  config_version: 3
  interface {
    knet_link_priority: 15
    linknumber: 0
  }
  interface {
    knet_link_priority: 20
    linknumber: 1
  }
  ip_version: ipv4-6
  link_mode: passive
  secauth: on
  token_coefficient: 125
  version: 2
}

";

    #[test]
    fn example_round_trips_byte_exact() {
        let c = CorosyncConf::parse(EXAMPLE).unwrap();
        assert_eq!(c.write(), EXAMPLE);
    }

    #[test]
    fn helpers_read_the_example() {
        let c = CorosyncConf::parse(EXAMPLE).unwrap();
        assert_eq!(c.cluster_name(), Some("pvecl"));
        assert_eq!(c.config_version(), Some(3));
        let nodes = c.nodes().unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[1].name, "pve2");
        assert_eq!(nodes[1].nodeid, 2);
        assert_eq!(nodes[1].addrs[&1], "10.20.20.2");
        assert_eq!(c.next_free_nodeid().unwrap(), 3);
        let d = c.quorum_device().unwrap();
        assert_eq!(
            d,
            QuorumDevice {
                model: "net".into(),
                votes: Some(1),
                host: "10.10.10.3".into(),
                algorithm: "ffsplit".into(),
                tls: "on".into()
            }
        );
        let i = c.interfaces();
        assert_eq!(i[0].knet_link_priority, Some(15));
        assert_eq!(i[1].linknumber, 1);
    }

    /// Building the example the way PVE does (create, addnode, qdevice setup) yields the same bytes.
    #[test]
    fn create_add_qdevice_reproduces_example() {
        let mut c = CorosyncConf::create(&CreateParams {
            cluster_name: "pvecl".into(),
            node_name: "pve1".into(),
            nodeid: 1,
            votes: 1,
            links: vec![
                parse_link_spec(0, "10.10.10.1,priority=15").unwrap(),
                parse_link_spec(1, "address=10.20.20.1,priority=20").unwrap(),
            ],
            token_coefficient: Some(125),
        });
        assert_eq!(c.config_version(), Some(1));
        let id = c.next_free_nodeid().unwrap();
        c.upsert_node(&NodeEntry {
            name: "pve2".into(),
            nodeid: id,
            quorum_votes: 1,
            addrs: [(0, "10.10.10.2".to_string()), (1, "10.20.20.2".to_string())].into(),
            extra: BTreeMap::new(),
        });
        assert_eq!(c.bump_config_version(), 2);
        c.set_quorum_device(Some(&QuorumDevice {
            model: "net".into(),
            votes: Some(1),
            host: "10.10.10.3".into(),
            algorithm: "ffsplit".into(),
            tls: "on".into(),
        }));
        c.bump_config_version();
        assert_eq!(c.write(), EXAMPLE);
    }

    #[test]
    fn create_without_priority_has_only_linknumber() {
        let c = CorosyncConf::create(&CreateParams {
            cluster_name: "c".into(),
            node_name: "n1".into(),
            nodeid: 1,
            votes: 1,
            links: vec![parse_link_spec(0, "10.10.10.1").unwrap()],
            token_coefficient: None,
        });
        let w = c.write();
        assert!(w.contains("  interface {\n    linknumber: 0\n  }\n"), "{w}");
        assert!(!w.contains("token_coefficient"));
        assert!(w.ends_with("}\n\n"));
    }

    #[test]
    fn hand_edited_config_is_parsed_whitespace_insensitively() {
        let raw = "# comment\ntotem {\n\tversion: 2   # trailing\n cluster_name:   lab\n\n\
                   interface { ringnumber: 0 }\n}\nnodelist{ x: y }\n";
        // `nodelist{` is one token for PVE ("missing ':'") — mirror that.
        assert!(CorosyncConf::parse(raw).unwrap_err().to_string().contains("missing ':'"));
        let raw = "# comment\ntotem {\n\tversion: 2   # trailing\n cluster_name:   lab\n\n\
                   interface { ringnumber: 0 }\n}\nnodelist {\n node { ring0_addr: 1.2.3.4\n nodeid: 1 } }\n";
        let c = CorosyncConf::parse(raw).unwrap();
        assert_eq!(c.cluster_name(), Some("lab"));
        assert_eq!(c.interfaces()[0].linknumber, 0);
        assert_eq!(c.nodes().unwrap()[0].name, "1.2.3.4");
    }

    #[test]
    fn remove_device_and_node() {
        let mut c = CorosyncConf::parse(EXAMPLE).unwrap();
        c.set_quorum_device(None);
        assert!(!c.has_quorum_device());
        assert!(c.remove_node("pve2"));
        assert!(!c.remove_node("pve2"));
        let w = c.write();
        assert!(w.contains("quorum {\n  provider: corosync_votequorum\n}\n\n"));
        assert!(!w.contains("pve2"));
    }

    #[test]
    fn lms_device_has_no_votes_line() {
        let mut c = CorosyncConf::parse(EXAMPLE).unwrap();
        c.set_quorum_device(Some(&QuorumDevice {
            model: "net".into(),
            votes: None,
            host: "10.10.10.3".into(),
            algorithm: "lms".into(),
            tls: "on".into(),
        }));
        let w = c.write();
        assert!(w.contains("      algorithm: lms\n"));
        assert!(!w.contains("votes: 1\n  }"));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(CorosyncConf::parse("a {\n}\n}").unwrap_err().to_string().contains("unexpected '}'"));
        assert!(CorosyncConf::parse("a {\n b: \n}").unwrap_err().to_string().contains("no value for 'b'"));
        assert!(CorosyncConf::parse("a {\n b: c\n").unwrap_err().to_string().contains("not closed"));
        assert!(parse_link_spec(0, "1.2.3.4,priority=300").is_err());
        assert!(parse_link_spec(0, "1.2.3.4,foo=1").is_err());
    }
}
