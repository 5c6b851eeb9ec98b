//! Optional Linux bridges (`manage_bridges = true` on a node): `/etc/network/interfaces` in the
//! layout the Proxmox installer writes (ifupdown2), with the prod network's bridge (vmbr0) on
//! the prod NIC and the mgmt network's bridge (vmbr1) on the mgmt NIC.
//!
//! Safety: the node is reached over its link0 (mgmt) address; a rendering that would not keep
//! that address configured is refused before anything is written ([`render`] errors), and the
//! running network is only reloaded with `ifreload -a` where ifupdown2 exists. Elsewhere (the
//! lab) the file is rendered and validated but not applied.

use anyhow::{bail, Context, Result};
use common::inventory::{Inventory, Node};

pub const INTERFACES: &str = "/etc/network/interfaces";
/// Where the file is kept before we replace it.
pub const BACKUP: &str = "/etc/network/interfaces.homelab-iac.bak";

/// The full `/etc/network/interfaces` for `node`, or an error naming what is missing.
pub fn render(inv: &Inventory, node: &Node) -> Result<String> {
    let mgmt_nic = node.mgmt_nic.as_deref().with_context(|| format!("{}: manage_bridges needs mgmt_nic", node.name))?;
    let prod_nic = node.prod_nic.as_deref().with_context(|| format!("{}: manage_bridges needs prod_nic", node.name))?;
    let nets = &inv.networks;
    let mgmt_br = nets.mgmt.bridge.clone().unwrap_or_else(|| "vmbr1".into());
    let prod_br = nets.prod.bridge.clone().unwrap_or_else(|| "vmbr0".into());
    if mgmt_br == prod_br {
        bail!("{}: networks.mgmt.bridge and networks.prod.bridge are both {mgmt_br}", node.name);
    }
    // The inventory validator has checked the CIDRs; only the prefix is needed here.
    let prefix = |cidr: &str| -> Result<u8> {
        cidr.split_once('/').and_then(|(_, p)| p.parse().ok()).with_context(|| format!("`{cidr}` is not a CIDR"))
    };
    // One default route: the mgmt gateway (the network the installer configured), else prod's.
    let (mgmt_gw, prod_gw) = match (&nets.mgmt.gateway, &nets.prod.gateway) {
        (Some(g), _) => (Some(g.clone()), None),
        (None, g) => (None, g.clone()),
    };
    let bridge = |name: &str, addr: &str, cidr: &str, gw: Option<String>, port: &str| -> Result<String> {
        let mut s = format!("auto {name}\niface {name} inet static\n\taddress {addr}/{}\n", prefix(cidr)?);
        if let Some(g) = gw {
            s.push_str(&format!("\tgateway {g}\n"));
        }
        s.push_str(&format!("\tbridge-ports {port}\n\tbridge-stp off\n\tbridge-fd 0\n"));
        Ok(s)
    };
    let mut out = String::from(
        "# Managed by homelab-iac (bootstrap-node, manage_bridges); the previous file is kept as\n\
         # /etc/network/interfaces.homelab-iac.bak. Local changes are overwritten.\n\n\
         auto lo\niface lo inet loopback\n\n",
    );
    out.push_str(&format!("iface {mgmt_nic} inet manual\n\niface {prod_nic} inet manual\n\n"));
    out.push_str(&bridge(&prod_br, &node.link1, &nets.prod.cidr, prod_gw, prod_nic)?);
    out.push('\n');
    out.push_str(&bridge(&mgmt_br, &node.link0, &nets.mgmt.cidr, mgmt_gw, mgmt_nic)?);
    out.push_str("\nsource /etc/network/interfaces.d/*\n");
    if !configured_addresses(&out).iter().any(|a| a == &node.link0) {
        bail!("{}: the rendered interfaces would not keep {} (the address the tools connect to)", node.name, node.link0);
    }
    Ok(out)
}

/// Addresses (without prefix) configured by `address` lines of an interfaces file.
pub fn configured_addresses(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("address "))
        .map(|a| a.trim().split('/').next().unwrap_or("").to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> (Inventory, Node) {
        let toml = r#"
[cluster]
name = "homelab"
domain = "home.arpa"
[automation]
user = "homelab"
keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9 lab"]
[networks.mgmt]
cidr = "192.168.10.0/24"
gateway = "192.168.10.1"
bridge = "vmbr1"
[networks.prod]
cidr = "192.168.1.0/24"
gateway = "192.168.1.1"
bridge = "vmbr0"
[[nodes]]
name = "pve-node1"
role = "master"
link0 = "192.168.10.230"
link1 = "192.168.1.230"
mgmt_nic = "enp1s0"
prod_nic = "enp2s0"
manage_bridges = true
"#;
        let inv = common::inventory::parse_str(toml, std::path::Path::new("t.toml")).unwrap().inv;
        let n = inv.nodes[0].clone();
        (inv, n)
    }

    #[test]
    fn installer_style_bridges_with_one_gateway() {
        let (inv, n) = inv();
        let out = render(&inv, &n).unwrap();
        assert!(out.ends_with(
            "auto lo\niface lo inet loopback\n\n\
             iface enp1s0 inet manual\n\niface enp2s0 inet manual\n\n\
             auto vmbr0\niface vmbr0 inet static\n\taddress 192.168.1.230/24\n\tbridge-ports enp2s0\n\tbridge-stp off\n\tbridge-fd 0\n\n\
             auto vmbr1\niface vmbr1 inet static\n\taddress 192.168.10.230/24\n\tgateway 192.168.10.1\n\tbridge-ports enp1s0\n\tbridge-stp off\n\tbridge-fd 0\n\n\
             source /etc/network/interfaces.d/*\n"
        ), "{out}");
        assert_eq!(configured_addresses(&out), ["192.168.1.230", "192.168.10.230"]);
    }

    #[test]
    fn missing_nic_is_an_error() {
        let (inv, mut n) = inv();
        n.prod_nic = None;
        assert!(render(&inv, &n).unwrap_err().to_string().contains("prod_nic"));
    }
}
