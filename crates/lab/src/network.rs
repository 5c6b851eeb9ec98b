//! The two lab networks: bridges in the machine's namespace, one netns per host with two veth
//! pairs (lab-feasibility.md "How it works: Network"). IPv6 is off on every lab interface before
//! it goes up, so not even link-local chatter appears; no host gets a default route.

use crate::sys::{self, ip_batch};
use crate::topology::{HostSpec, Link, BR_MGMT, BR_PROD, LAB_PREFIX, MGMT_NET, PROD_NET};
use anyhow::{Context, Result};
use std::path::Path;

fn disable_ipv6(ifname: &str) -> Result<()> {
    if !Path::new("/proc/sys/net/ipv6").exists() {
        return Ok(()); // IPv6 is off in the whole kernel (ipv6.disable=1)
    }
    sys::sysctl(&format!("net/ipv6/conf/{ifname}/disable_ipv6"), "1")
}

/// Create bridges, namespaces, veths and addresses for `hosts` (all at once, few processes).
pub fn create(hosts: &[HostSpec]) -> Result<()> {
    // 1. bridges and namespaces
    let mut l = vec![format!("link add {BR_MGMT} type bridge"), format!("link add {BR_PROD} type bridge")];
    l.extend(hosts.iter().map(|h| format!("netns add {}", h.netns)));
    ip_batch(None, false, &l, "creating the lab bridges and host namespaces")?;
    disable_ipv6(BR_MGMT)?;
    disable_ipv6(BR_PROD)?;
    // IPv6 off inside each namespace before its interfaces exist: eth0/eth1 inherit `default`
    std::thread::scope(|s| -> Result<()> {
        let jobs: Vec<_> = hosts
            .iter()
            .map(|h| {
                s.spawn(move || {
                    sys::in_netns(&h.netns, || {
                        for k in ["all", "default", "lo"] {
                            disable_ipv6(k)?;
                        }
                        Ok(())
                    })
                    .with_context(|| format!("{}: disabling IPv6 in its namespace", h.name))
                })
            })
            .collect();
        for j in jobs {
            j.join().expect("netns thread")?;
        }
        Ok(())
    })?;
    // 2. veth pairs, the inner ends created directly in the host's namespace
    let mut l = Vec::new();
    for h in hosts {
        l.push(format!("link add {} type veth peer name eth0 address {} netns {}", h.veth_mgmt, h.mac_mgmt, h.netns));
        l.push(format!("link add {} type veth peer name eth1 address {} netns {}", h.veth_prod, h.mac_prod, h.netns));
    }
    ip_batch(None, false, &l, "creating the hosts' veth pairs")?;
    for h in hosts {
        disable_ipv6(&h.veth_mgmt)?;
        disable_ipv6(&h.veth_prod)?;
    }
    // 3. addresses and links up: the machine side in one batch, each host's side in parallel
    let mut l = vec![
        format!("addr add {MGMT_NET}.1/24 dev {BR_MGMT}"),
        format!("addr add {PROD_NET}.1/24 dev {BR_PROD}"),
        format!("link set {BR_MGMT} up"),
        format!("link set {BR_PROD} up"),
    ];
    for h in hosts {
        l.push(format!("link set {} master {BR_MGMT} up", h.veth_mgmt));
        l.push(format!("link set {} master {BR_PROD} up", h.veth_prod));
    }
    ip_batch(None, false, &l, "bringing up the lab bridges")?;
    std::thread::scope(|s| -> Result<()> {
        let jobs: Vec<_> = hosts
            .iter()
            .map(|h| {
                s.spawn(move || {
                    let l = vec![
                        "link set lo up".to_string(),
                        format!("addr add {}/24 dev eth0", h.mgmt_ip),
                        format!("addr add {}/24 dev eth1", h.prod_ip),
                        "link set eth0 up".to_string(),
                        "link set eth1 up".to_string(),
                    ];
                    ip_batch(Some(&h.netns), false, &l, &format!("{}: configuring eth0/eth1", h.name))
                })
            })
            .collect();
        for j in jobs {
            j.join().expect("ip thread")?;
        }
        Ok(())
    })
}

/// `lab fault link-down|link-up`: the root-side veth, like pulling the host's cable.
pub fn set_link(h: &HostSpec, link: Link, up: bool) -> Result<()> {
    let l = vec![format!("link set {} {}", h.veth(link), if up { "up" } else { "down" })];
    ip_batch(None, false, &l, &format!("{}: setting {} {}", h.name, link.as_str(), if up { "up" } else { "down" }))
}

/// Is the root-side veth administratively up?
pub fn link_is_up(ifname: &str) -> Option<bool> {
    let flags = std::fs::read_to_string(Path::new("/sys/class/net").join(ifname).join("flags")).ok()?;
    let v = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).ok()?;
    Some(v & 1 == 1)
}

/// Lab interfaces in the machine's namespace (`lab-*`).
pub fn lab_links() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/class/net") else { return Vec::new() };
    let mut v: Vec<String> =
        rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.starts_with(LAB_PREFIX)).collect();
    v.sort();
    v
}

/// Named lab network namespaces (`lab-*` in /run/netns).
pub fn lab_netns() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/run/netns") else { return Vec::new() };
    let mut v: Vec<String> =
        rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.starts_with(LAB_PREFIX)).collect();
    v.sort();
    v
}

/// Delete every lab link and namespace. Veths go first and explicitly: deleting one end
/// removes its peer at once, while a deleted netns may linger (and keep its veths) as long as
/// anything references it (gotcha 18). Errors are ignored here; `down` verifies afterwards.
pub fn teardown() {
    let links = lab_links();
    let bridges = [BR_MGMT, BR_PROD];
    let mut l: Vec<String> =
        links.iter().filter(|n| !bridges.contains(&n.as_str())).map(|n| format!("link del {n}")).collect();
    l.extend(links.iter().filter(|n| bridges.contains(&n.as_str())).map(|n| format!("link del {n}")));
    l.extend(lab_netns().iter().map(|n| format!("netns del {n}")));
    let _ = ip_batch(None, true, &l, "removing the lab network");
}
