//! Which hosts a lab has and how they are wired (BRIEFING "Lab conventions").
//!
//! `pve-nodeN` → .(10+N), `qdevice1` (the Pi) → .5, `nas` → .25, on both networks; eth0 is
//! mgmt (corosync link0), eth1 is prod (link1). MACs are fixed by address (52:54:00 is the
//! QEMU/KVM prefix, e7 = 231, then the network's third octet and the host octet) so a reinstall
//! (`lab fault wipe`) keeps them, like real hardware.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

pub const MGMT_NET: &str = "10.231.10";
pub const PROD_NET: &str = "10.231.1";
pub const BR_MGMT: &str = "lab-br-mgmt";
pub const BR_PROD: &str = "lab-br-prod";
/// Prefix of every network interface and namespace the lab creates (teardown and the
/// "nothing left behind" check look for it).
pub const LAB_PREFIX: &str = "lab-";
pub const CLUSTER: &str = "homelab";
pub const DOMAIN: &str = "lab.home.arpa";
pub const QDEVICE_NAME: &str = "qdevice1";
pub const QDEVICE_OCTET: u8 = 5;
pub const NAS_NAME: &str = "nas";
pub const NAS_OCTET: u8 = 25;

/// What a host simulates; passed to `pve-sim --applets/lab-init/lab-daemons --role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Pve,
    Pi,
    Nas,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Pve => "pve",
            Role::Pi => "pi",
            Role::Nas => "nas",
        }
    }
}

/// The shape of a lab, as `lab up` was asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabShape {
    pub nodes: u32,
    pub qdevice: bool,
    pub nas: bool,
    pub sim: bool,
}

impl Default for LabShape {
    fn default() -> Self {
        LabShape { nodes: 2, qdevice: true, nas: true, sim: true }
    }
}

/// One simulated host: everything fixed at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSpec {
    pub name: String,
    pub role: Role,
    pub octet: u8,
    pub mgmt_ip: String,
    pub prod_ip: String,
    /// `ip netns` name (`lab-<name>`).
    pub netns: String,
    /// Root-namespace ends of the veth pairs (≤ 15 characters, IFNAMSIZ).
    pub veth_mgmt: String,
    pub veth_prod: String,
    /// MACs of eth0 / eth1 inside the host.
    pub mac_mgmt: String,
    pub mac_prod: String,
}

impl HostSpec {
    pub fn new(name: &str, role: Role, octet: u8) -> Self {
        let short = short_name(name);
        HostSpec {
            name: name.to_string(),
            role,
            octet,
            mgmt_ip: format!("{MGMT_NET}.{octet}"),
            prod_ip: format!("{PROD_NET}.{octet}"),
            netns: format!("{LAB_PREFIX}{name}"),
            veth_mgmt: format!("{LAB_PREFIX}{short}-m"),
            veth_prod: format!("{LAB_PREFIX}{short}-p"),
            mac_mgmt: format!("52:54:00:e7:0a:{octet:02x}"),
            mac_prod: format!("52:54:00:e7:01:{octet:02x}"),
        }
    }

    pub fn fqdn(&self) -> String {
        format!("{}.{DOMAIN}", self.name)
    }

    /// Every spelling of this host a known_hosts pin must carry: name, FQDN, both addresses.
    pub fn pin_names(&self) -> Vec<String> {
        vec![self.name.clone(), self.fqdn(), self.mgmt_ip.clone(), self.prod_ip.clone()]
    }

    /// The root-side veth of `link0` (mgmt) or `link1` (prod).
    pub fn veth(&self, link: Link) -> &str {
        match link {
            Link::Link0 => &self.veth_mgmt,
            Link::Link1 => &self.veth_prod,
        }
    }
}

/// The corosync links, named as in the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Link {
    /// mgmt network (eth0)
    Link0,
    /// prod network (eth1)
    Link1,
}

impl Link {
    pub fn as_str(&self) -> &'static str {
        match self {
            Link::Link0 => "link0",
            Link::Link1 => "link1",
        }
    }
}

/// Interface names are limited to 15 characters: `lab-` + name + `-m` leaves 9 for the name,
/// enough for `pve-node9` and `qdevice1`; `pve-node10` and up become `pve10`.
fn short_name(name: &str) -> String {
    if name.len() <= 9 {
        return name.to_string();
    }
    match name.strip_prefix("pve-node") {
        Some(n) => format!("pve{n}"),
        None => name.chars().take(9).collect(),
    }
}

/// The hosts of a lab: pve nodes first (pve-node1 is the master), then the Pi, then the NAS.
pub fn hosts(shape: &LabShape) -> Result<Vec<HostSpec>> {
    if shape.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    if shape.nodes > 244 {
        bail!("--nodes {} does not fit the lab's /24 networks (pve-nodeN is .10+N; at most 244)", shape.nodes);
    }
    if shape.nas && shape.nodes >= (NAS_OCTET - 10) as u32 {
        bail!(
            "--nodes {}: pve-node{} would take .{NAS_OCTET}, the nas's address; add --no-nas for labs of {} nodes or more",
            shape.nodes,
            NAS_OCTET - 10,
            NAS_OCTET - 10
        );
    }
    let mut out: Vec<HostSpec> =
        (1..=shape.nodes).map(|n| HostSpec::new(&format!("pve-node{n}"), Role::Pve, (10 + n) as u8)).collect();
    if shape.qdevice {
        out.push(HostSpec::new(QDEVICE_NAME, Role::Pi, QDEVICE_OCTET));
    }
    if shape.nas {
        out.push(HostSpec::new(NAS_NAME, Role::Nas, NAS_OCTET));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_lab_addresses_and_names() {
        let h = hosts(&LabShape::default()).unwrap();
        let names: Vec<_> = h.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["pve-node1", "pve-node2", "qdevice1", "nas"]);
        assert_eq!(h[0].mgmt_ip, "10.231.10.11");
        assert_eq!(h[1].prod_ip, "10.231.1.12");
        assert_eq!(h[2].mgmt_ip, "10.231.10.5");
        assert_eq!(h[3].prod_ip, "10.231.1.25");
        assert_eq!(h[0].veth_mgmt, "lab-pve-node1-m");
        assert_eq!(h[0].mac_mgmt, "52:54:00:e7:0a:0b");
        assert_eq!(h[3].mac_prod, "52:54:00:e7:01:19");
    }

    #[test]
    fn interface_names_fit_ifnamsiz() {
        let shape = LabShape { nodes: 200, qdevice: true, nas: false, sim: false };
        for h in hosts(&shape).unwrap() {
            assert!(h.veth_mgmt.len() <= 15 && h.veth_prod.len() <= 15, "{}", h.veth_mgmt);
        }
        assert_eq!(HostSpec::new("pve-node32", Role::Pve, 42).veth_prod, "lab-pve32-p");
    }

    #[test]
    fn nas_address_clash_is_refused() {
        let e = hosts(&LabShape { nodes: 15, ..LabShape::default() }).unwrap_err().to_string();
        assert!(e.contains("--no-nas"), "{e}");
        assert!(hosts(&LabShape { nodes: 32, nas: false, ..LabShape::default() }).is_ok());
        assert!(hosts(&LabShape { nodes: 0, ..LabShape::default() }).is_err());
    }
}
