//! `ip -j addr` (iproute2 JSON): interfaces and their addresses — to answer "is this corosync
//! link address present on the node, and on which interface?" (`pvecm add` refuses a link
//! address that is not local: pve-cli.md §2.3).
//!
//! Quirk handled: older iproute2 prints `{}` for interfaces filtered out by `-4`/`-6`, and
//! may put `{}` inside `addr_info`; such empty objects are skipped.

use super::error::{Layout, Result};
use super::lenient;
use super::pvesh::from_json_list;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

pub const IP_ADDR: Layout = Layout { what: "`ip -j addr` JSON", doc: "ip-address(8), iproute2 JSON output" };

/// One interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub ifname: String,
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub ifindex: Option<u32>,
    /// `UP`, `LOWER_UP`, `LOOPBACK`, …
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub mtu: Option<u32>,
    /// `UP`, `DOWN`, `UNKNOWN` (loopback), …
    #[serde(default)]
    pub operstate: Option<String>,
    /// MAC address.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default, deserialize_with = "addr_list")]
    pub addr_info: Vec<AddrInfo>,
}

impl Interface {
    /// Administratively up (`UP` flag).
    pub fn is_up(&self) -> bool {
        self.flags.iter().any(|f| f == "UP")
    }
}

/// One address of an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrInfo {
    /// `inet` / `inet6`.
    pub family: String,
    pub local: IpAddr,
    #[serde(deserialize_with = "lenient::u32")]
    pub prefixlen: u32,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
}

/// `addr_info` entries, skipping `{}`.
fn addr_list<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<AddrInfo>, D::Error> {
    use serde::de::Error;
    let items: Vec<serde_json::Value> = Vec::deserialize(d)?;
    items
        .into_iter()
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        .map(|v| AddrInfo::deserialize(v).map_err(D::Error::custom))
        .collect()
}

/// All interfaces of `ip -j addr`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Interfaces {
    pub interfaces: Vec<Interface>,
}

impl Interfaces {
    pub fn get(&self, ifname: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.ifname == ifname)
    }
    /// The interface carrying `ip`, if any.
    pub fn interface_with(&self, ip: IpAddr) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.addr_info.iter().any(|a| a.local == ip))
    }
    /// Whether `ip` is configured on some interface of this node.
    pub fn has_address(&self, ip: IpAddr) -> bool {
        self.interface_with(ip).is_some()
    }
    /// Every (interface, address, prefix length).
    pub fn addresses(&self) -> impl Iterator<Item = (&str, IpAddr, u32)> {
        self.interfaces
            .iter()
            .flat_map(|i| i.addr_info.iter().map(move |a| (i.ifname.as_str(), a.local, a.prefixlen)))
    }
}

/// Parse `ip -j addr` (also `ip -j -4 addr`, `ip -j addr show dev X`).
pub fn parse_ip_addr(json: &str) -> Result<Interfaces> {
    let raw: Vec<serde_json::Value> = from_json_list(IP_ADDR, json)?;
    let mut interfaces = Vec::new();
    for (i, v) in raw.into_iter().enumerate() {
        if v.as_object().is_some_and(|o| o.is_empty()) {
            continue; // filtered-out interface (older iproute2)
        }
        interfaces.push(
            Interface::deserialize(v).map_err(|e| IP_ADDR.err(format!("entry {}: {e}", i + 1)))?,
        );
    }
    Ok(Interfaces { interfaces })
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/parsers/", $name))
        };
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lab_node() {
        let ifs = parse_ip_addr(fixture!("ip-j-addr.json")).unwrap();
        assert_eq!(ifs.interfaces.len(), 4);
        assert!(ifs.has_address(ip("10.231.10.11")));
        assert_eq!(ifs.interface_with(ip("10.231.1.11")).map(|i| i.ifname.as_str()), Some("eth1"));
        assert!(!ifs.has_address(ip("10.231.10.12")));
        assert_eq!(ifs.interface_with(ip("fd00::11")).map(|i| i.is_up()), Some(false));
        let eth0 = ifs.get("eth0").unwrap();
        assert_eq!((eth0.mtu, eth0.operstate.as_deref()), (Some(1500), Some("UP")));
        assert_eq!(eth0.addr_info[0].prefixlen, 24);
        assert_eq!(ifs.addresses().count(), 4);
    }

    #[test]
    fn old_iproute2_empty_objects() {
        let ifs = parse_ip_addr(fixture!("ip-j-4-addr-old-iproute2.json")).unwrap();
        assert_eq!(ifs.interfaces.len(), 1);
        assert_eq!(ifs.interfaces[0].addr_info.len(), 1);
        assert!(ifs.has_address(ip("10.231.10.12")));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_ip_addr("[]").unwrap(), Interfaces::default());
        let e = parse_ip_addr(r#"[{"ifname":"eth0","addr_info":[{"family":"inet","local":"nope","prefixlen":24}]}]"#).unwrap_err();
        assert!(e.message.contains("entry 1"), "{e}");
        assert!(parse_ip_addr("").is_err());
        assert!(parse_ip_addr(r#"[{"flags":[]}]"#).is_err());
    }
}
