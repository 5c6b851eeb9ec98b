//! The small lab inventory the phase crates' tests share, instead of each embedding its own
//! copy of the same TOML.
//!
//! Built only with the `test-fixtures` feature (or for common's own tests): the phase crates
//! enable it from their `[dev-dependencies]`, so their release builds do not carry it.
//!
//! (An example, not a doctest: doctests build without the feature.)
//! ```text
//! let l = common::inventory::testing::LabInventory::new()
//!     .with("automation", r#"identity_file = "id_lab""#)
//!     .load();
//! assert_eq!(l.inv.master().name, "pve-node1");
//! ```

use super::{parse_str, LoadedInventory};
use std::path::Path;

/// The lab's automation key as the fixture lists it (a public key only).
pub const LAB_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9 lab";

/// Where the fixture pretends to live (relative paths in it resolve against `/tmp/lab`).
pub const LAB_PATH: &str = "/tmp/lab/homelab.toml";

/// One `[table]` or `[[array]]` entry of the fixture: its header and its `key = value` lines.
#[derive(Debug, Clone)]
struct Section {
    /// The name [`LabInventory::with`] finds it by (`cluster`, `networks.mgmt`, `pve-node1` …).
    name: String,
    header: String,
    lines: Vec<String>,
}

impl Section {
    fn new(name: &str, header: String, lines: &[String]) -> Self {
        Section { name: name.to_string(), header, lines: lines.to_vec() }
    }
}

/// The lab inventory's smallest valid form (BRIEFING "Lab conventions"): cluster `homelab` in
/// `lab.home.arpa`, automation user `homelab` with [`LAB_KEY`], the mgmt and prod networks,
/// `pve-node1` (master) and `pve-node2` (member) on both links, and the Pi `qdevice1`.
/// Tests add the keys they need with [`with`](Self::with) and tables with
/// [`append`](Self::append).
#[derive(Debug, Clone)]
pub struct LabInventory {
    sections: Vec<Section>,
    tail: String,
}

impl Default for LabInventory {
    fn default() -> Self {
        Self::new()
    }
}

impl LabInventory {
    /// The fixture on the lab networks `10.231.10.0/24` (mgmt) and `10.231.1.0/24` (prod).
    pub fn new() -> Self {
        Self::on_networks("10.231.10", "10.231.1")
    }

    /// The same hosts on other /24 networks, given by their first three octets (e.g. loopback
    /// addresses `127.0.10` / `127.0.1` for tests that want every connection refused at once).
    /// Last octets follow the lab: pve-nodeN → 10+N, the Pi → 5.
    pub fn on_networks(mgmt: &str, prod: &str) -> Self {
        let q = |s: &str| format!("\"{s}\"");
        let node = |n: u32, role: &str| {
            vec![
                format!("name = \"pve-node{n}\""),
                format!("role = \"{role}\""),
                format!("link0 = {}", q(&format!("{mgmt}.{}", 10 + n))),
                format!("link1 = {}", q(&format!("{prod}.{}", 10 + n))),
            ]
        };
        let sections = vec![
            Section::new("cluster", "[cluster]".into(), &["name = \"homelab\"".into(), "domain = \"lab.home.arpa\"".into()]),
            Section::new("automation", "[automation]".into(), &["user = \"homelab\"".into(), format!("keys = [{}]", q(LAB_KEY))]),
            // empty until a test sets a default; an empty section is not written
            Section::new("defaults", "[defaults]".into(), &[]),
            Section::new("networks.mgmt", "[networks.mgmt]".into(), &[format!("cidr = \"{mgmt}.0/24\"")]),
            Section::new("networks.prod", "[networks.prod]".into(), &[format!("cidr = \"{prod}.0/24\"")]),
            Section::new("pve-node1", "[[nodes]]".into(), &node(1, "master")),
            Section::new("pve-node2", "[[nodes]]".into(), &node(2, "member")),
            Section::new("qdevice", "[qdevice]".into(), &["name = \"qdevice1\"".into(), format!("address = \"{mgmt}.5\"")]),
        ];
        LabInventory { sections, tail: String::new() }
    }

    /// Add a `key = value` line (TOML) to a section: `cluster`, `automation`, `defaults`,
    /// `networks.mgmt`, `networks.prod`, `qdevice`, or a node by name (`pve-node1`). Another
    /// name starts a new `[name]` table after the fixture's own.
    pub fn with(mut self, section: &str, line: &str) -> Self {
        match self.sections.iter_mut().find(|s| s.name == section) {
            Some(s) => s.lines.push(line.to_string()),
            None => self.sections.push(Section::new(section, format!("[{section}]"), &[line.to_string()])),
        }
        self
    }

    /// Append TOML text after every section (e.g. `[[storage.nfs]]` or `[[backup]]` entries).
    pub fn append(mut self, toml: &str) -> Self {
        self.tail.push_str(toml);
        self
    }

    /// The inventory as TOML text, one section after the other.
    pub fn toml(&self) -> String {
        let mut s = String::new();
        for sec in self.sections.iter().filter(|s| !s.lines.is_empty()) {
            s.push_str(&sec.header);
            s.push('\n');
            for l in &sec.lines {
                s.push_str(l);
                s.push('\n');
            }
        }
        s.push_str(&self.tail);
        s
    }

    /// Parsed and validated as if read from [`LAB_PATH`]; panics with the errors and the text
    /// when the test's additions made it invalid.
    pub fn load(&self) -> LoadedInventory {
        let text = self.toml();
        parse_str(&text, Path::new(LAB_PATH)).unwrap_or_else(|e| panic!("the test inventory does not load:\n{e}\n---\n{text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Role;

    #[test]
    fn the_plain_fixture_is_the_lab() {
        let l = LabInventory::new().load();
        assert_eq!(l.path, Path::new(LAB_PATH));
        let inv = &l.inv;
        assert_eq!((inv.cluster.name.as_str(), inv.cluster.domain.as_str()), ("homelab", "lab.home.arpa"));
        assert_eq!(inv.automation.keys, [LAB_KEY]);
        assert_eq!(inv.automation.identity_file, None);
        assert_eq!(inv.nodes.len(), 2);
        assert_eq!((inv.nodes[0].role, inv.nodes[1].role), (Role::Master, Role::Member));
        assert_eq!((inv.nodes[1].link0.as_str(), inv.nodes[1].link1.as_str()), ("10.231.10.12", "10.231.1.12"));
        assert_eq!(inv.qdevice.as_ref().unwrap().address, "10.231.10.5");
        assert!(!LabInventory::new().toml().contains("[defaults]"), "an empty section is not written");
    }

    #[test]
    fn additions_land_in_their_section_and_other_networks_move_every_address() {
        let text = LabInventory::on_networks("127.0.10", "127.0.1")
            .with("automation", "ssh_port = 1")
            .with("defaults", "packages = [\"attr\"]")
            .with("pve-node2", "mgmt_nic = \"eth0\"")
            .append("[[zfs]]\ndataset = \"rpool/data\"\nproperties = { compression = \"lz4\" }\n")
            .toml();
        assert!(text.contains("[automation]\nuser = \"homelab\"\nkeys = ["), "{text}");
        assert!(text.contains("ssh_port = 1\n[defaults]\npackages = [\"attr\"]\n[networks.mgmt]\n"), "{text}");
        assert!(text.contains("link1 = \"127.0.1.12\"\nmgmt_nic = \"eth0\"\n[qdevice]\n"), "{text}");
        assert!(text.ends_with("address = \"127.0.10.5\"\n[[zfs]]\ndataset = \"rpool/data\"\nproperties = { compression = \"lz4\" }\n"), "{text}");
        assert!(!text.contains("10.231."), "{text}");
        let l = parse_str(&text, Path::new(LAB_PATH)).unwrap();
        assert_eq!(l.inv.automation.ssh_port, 1);
        assert_eq!(l.inv.defaults.packages, ["attr"]);
    }

    #[test]
    #[should_panic(expected = "the test inventory does not load")]
    fn an_invalid_addition_fails_loudly() {
        LabInventory::new().with("cluster", "no_such_key = 1").load();
    }
}
