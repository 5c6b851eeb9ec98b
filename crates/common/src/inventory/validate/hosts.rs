//! Rules for `[networks]`, `[[nodes]]`, `[qdevice]` and `[nas]`: names, addresses, MACs,
//! membership of each address in its network, uniqueness across all hosts, one master,
//! and the QDevice vote arithmetic.

use super::{plural, secrets, Ctx, Seen};
use crate::inventory::names;
use crate::inventory::net::{parse_ip, Cidr, Mac};
use crate::inventory::{Filesystem, Network, QDeviceAlgorithm, Role};
use std::net::IpAddr;

pub(super) fn check(cx: &mut Ctx) {
    networks(cx);
    nodes(cx);
    masters(cx);
    qdevice(cx);
    nas(cx);
    unique_names(cx);
    unique_addresses(cx);
    unique_macs(cx);
}

fn networks(cx: &mut Ctx) {
    let inv = cx.inv;
    let mgmt = network(cx, "mgmt", &inv.networks.mgmt);
    let prod = network(cx, "prod", &inv.networks.prod);
    if let (Some(m), Some(p)) = (mgmt, prod) {
        if m.overlaps(&p) {
            cx.err(
                "networks.prod.cidr",
                format!(
                    "networks.prod.cidr {p} overlaps networks.mgmt.cidr {m}; corosync link0 (mgmt) and link1 (prod) must be separate networks, or one failure takes down both links"
                ),
            );
        }
    }
    let (mb, pb) = (&cx.inv.networks.mgmt.bridge, &cx.inv.networks.prod.bridge);
    if let (Some(a), Some(b)) = (mb, pb) {
        if a == b {
            cx.err("networks.prod.bridge", format!("networks.prod.bridge `{b}` is also the mgmt bridge; each network needs its own bridge (e.g. vmbr0 and vmbr1)"));
        }
    }
    cx.mgmt = mgmt;
    cx.prod = prod;
}

fn network(cx: &mut Ctx, name: &str, net: &Network) -> Option<Cidr> {
    let base = format!("networks.{name}");
    let cidr = match Cidr::parse(&net.cidr) {
        Ok(c) => Some(c),
        Err(e) => {
            cx.err(&format!("{base}.cidr"), format!("{base}.cidr: {e}"));
            None
        }
    };
    if let Some(gw) = &net.gateway {
        match parse_ip(gw) {
            Err(e) => cx.err(&format!("{base}.gateway"), format!("{base}.gateway: {e}")),
            Ok(ip) => {
                if let Some(c) = cidr {
                    if !c.is_host(ip) {
                        cx.err(
                            &format!("{base}.gateway"),
                            format!("{base}.gateway {ip} is not a host address in {c}; the gateway must be on the network it serves"),
                        );
                    }
                }
            }
        }
    }
    for (i, d) in net.dns.iter().enumerate() {
        if let Err(e) = parse_ip(d) {
            cx.err(&format!("{base}.dns[{i}]"), format!("DNS server: {e}"));
        }
    }
    if let Some(b) = &net.bridge {
        if let Err(e) = names::check_ifname(b) {
            cx.err(&format!("{base}.bridge"), format!("{base}.bridge {e}"));
        }
    }
    cidr
}

/// Check that `value` (at `path`) is a usable host address in `net`; returns the address.
fn address_in(cx: &mut Ctx, path: &str, what: &str, value: &str, net: Option<Cidr>, net_name: &str, why: &str) -> Option<IpAddr> {
    let ip = match parse_ip(value) {
        Ok(ip) => ip,
        Err(e) => {
            cx.err(path, format!("{what}: {e}"));
            return None;
        }
    };
    if let Some(c) = net {
        if !c.contains(ip) {
            cx.err(
                path,
                format!("{what} {ip} is outside networks.{net_name}.cidr {c} ({why}); use an address in {c} or correct networks.{net_name}.cidr"),
            );
        } else if !c.is_host(ip) {
            cx.err(path, format!("{what} {ip} is the network or broadcast address of {c}; use a host address"));
        }
    }
    Some(ip)
}

fn nodes(cx: &mut Ctx) {
    if cx.inv.nodes.is_empty() {
        cx.err("nodes", "no nodes: add a [[nodes]] table for each Proxmox host");
    }
    let inv = cx.inv;
    for (i, n) in inv.nodes.iter().enumerate() {
        let p = format!("nodes[{i}]");
        if let Err(e) = names::check_host_name(&n.name) {
            cx.err(&format!("{p}.name"), format!("node name {e}"));
        }
        let who = if n.name.is_empty() { format!("node {}", i + 1) } else { n.name.clone() };
        let (mgmt, prod) = (cx.mgmt, cx.prod);
        address_in(cx, &format!("{p}.link0"), &format!("{who} link0"), &n.link0, mgmt, "mgmt", "corosync link0 runs on the mgmt network");
        address_in(cx, &format!("{p}.link1"), &format!("{who} link1"), &n.link1, prod, "prod", "corosync link1 runs on the prod network");
        for (key, mac) in [("mgmt_mac", &n.mgmt_mac), ("prod_mac", &n.prod_mac)] {
            if let Some(m) = mac {
                if let Err(e) = Mac::parse(m) {
                    cx.err(&format!("{p}.{key}"), format!("{who} {key}: {e}"));
                }
            }
        }
        for (key, nic) in [("mgmt_nic", &n.mgmt_nic), ("prod_nic", &n.prod_nic)] {
            if let Some(nic) = nic {
                if let Err(e) = names::check_ifname(nic) {
                    cx.err(&format!("{p}.{key}"), format!("{who} {key} {e}"));
                }
            }
        }
        if n.mgmt_nic.is_some() && n.mgmt_nic == n.prod_nic {
            cx.err(&format!("{p}.prod_nic"), format!("{who}: prod_nic is the same NIC as mgmt_nic; the two networks need two NICs — set prod_nic to the prod network's NIC"));
        }
        disks(cx, &p, &who, n);
        if n.manage_bridges {
            let mut missing = Vec::new();
            if n.mgmt_nic.is_none() {
                missing.push(format!("{p}.mgmt_nic"));
            }
            if n.prod_nic.is_none() {
                missing.push(format!("{p}.prod_nic"));
            }
            if cx.inv.networks.mgmt.bridge.is_none() {
                missing.push("networks.mgmt.bridge".into());
            }
            if cx.inv.networks.prod.bridge.is_none() {
                missing.push("networks.prod.bridge".into());
            }
            if !missing.is_empty() {
                cx.err(
                    &format!("{p}.manage_bridges"),
                    format!("{who}: manage_bridges = true needs {} to render the bridges; set them or remove manage_bridges", missing.join(", ")),
                );
            }
        }
        secrets::first_contact(cx, &format!("{p}.first_contact"), &n.first_contact, &who);
    }
}

/// Installer disk selection and RAID level (auto-install.md §2.6).
fn disks(cx: &mut Ctx, p: &str, who: &str, n: &crate::inventory::Node) {
    let mut seen = Seen::new();
    for (j, d) in n.install_disks.iter().enumerate() {
        let dp = format!("{p}.install_disks[{j}]");
        if d.is_empty() || d.chars().any(char::is_whitespace) {
            cx.err(&dp, format!("{who} install disk `{d}` must be a device name such as sda or nvme0n1 (no spaces)"));
        } else if let Some(first) = seen.first_path(d.trim_start_matches("/dev/").to_string(), &dp) {
            let line = cx.line(&first);
            cx.err(&dp, format!("{who} install disk `{d}` is listed twice (first on line {line}); the installer refuses duplicate disks — remove one"));
        }
    }
    let levels: &[(&str, usize)] = match n.filesystem {
        Filesystem::Zfs => &[("raid0", 1), ("raid1", 2), ("raid10", 4), ("raidz-1", 3), ("raidz-2", 4), ("raidz-3", 5)],
        Filesystem::Btrfs => &[("raid0", 1), ("raid1", 2), ("raid10", 4)],
        Filesystem::Ext4 | Filesystem::Xfs => &[],
    };
    let fs = n.filesystem.as_str();
    match &n.raid {
        Some(_) if levels.is_empty() => {
            cx.err(&format!("{p}.raid"), format!("{who}: raid is only for zfs or btrfs; {fs} installs on one disk — remove raid"));
        }
        Some(r) => match levels.iter().find(|(l, _)| r == l || *r == l.to_ascii_uppercase()) {
            None => {
                let names: Vec<&str> = levels.iter().map(|(l, _)| *l).collect();
                cx.err(&format!("{p}.raid"), format!("{who}: raid `{r}` is not a {fs} level; use one of {}", names.join(", ")));
            }
            Some((l, _)) if *l == "raid10" && n.install_disks.len() % 2 == 1 => {
                cx.err(
                    &format!("{p}.raid"),
                    format!("{who}: {fs} raid10 stripes over mirrored pairs and needs an even number of disks, install_disks lists {}; add or remove one", n.install_disks.len()),
                );
            }
            Some((l, min)) if !n.install_disks.is_empty() && n.install_disks.len() < *min => {
                cx.err(
                    &format!("{p}.raid"),
                    format!(
                        "{who}: {fs} {l} needs at least {}, install_disks lists {}; add disks or choose a level that fits",
                        plural(*min, "disk", "disks"),
                        n.install_disks.len()
                    ),
                );
            }
            Some(_) => {}
        },
        None => {}
    }
    if levels.is_empty() && n.install_disks.len() > 1 {
        cx.err(
            &format!("{p}.install_disks"),
            format!("{who}: {fs} installs on exactly one disk, install_disks lists {}; keep one or use filesystem = \"zfs\" with a raid level", n.install_disks.len()),
        );
    }
}

fn masters(cx: &mut Ctx) {
    let masters: Vec<usize> = cx.inv.nodes.iter().enumerate().filter(|(_, n)| n.role == Role::Master).map(|(i, _)| i).collect();
    match masters.as_slice() {
        [] if !cx.inv.nodes.is_empty() => cx.err(
            "nodes[0].role",
            "no node has role = \"master\"; exactly one node creates the cluster (pvecm create) — set role = \"master\" on it and \"member\" on the others",
        ),
        [first, rest @ ..] => {
            let first_name = cx.inv.nodes[*first].name.clone();
            for &i in rest {
                let name = cx.inv.nodes[i].name.clone();
                cx.err(
                    &format!("nodes[{i}].role"),
                    format!("{name} is a second master ({first_name} is already master); exactly one node creates the cluster — set role = \"member\" here"),
                );
            }
        }
        _ => {}
    }
}

fn qdevice(cx: &mut Ctx) {
    let Some(q) = cx.inv.qdevice.as_ref() else { return };
    if let Err(e) = names::check_host_name(&q.name) {
        cx.err("qdevice.name", format!("qdevice.name {e}"));
    }
    let mgmt = cx.mgmt;
    address_in(cx, "qdevice.address", "qdevice.address", &q.address, mgmt, "mgmt", "every node reaches corosync-qnetd over the mgmt network");
    secrets::first_contact(cx, "qdevice.first_contact", &q.first_contact, &q.name);
    let n = cx.inv.nodes.len();
    if n % 2 == 1 && q.algorithm == QDeviceAlgorithm::Ffsplit {
        cx.err(
            "qdevice.algorithm",
            format!(
                "a QDevice with an odd number of nodes ({n}): the default algorithm ffsplit is only for even node counts and `pvecm qdevice setup` refuses it (\"Clusters with an odd node count are not officially supported!\") — add or remove a node, remove [qdevice], or set qdevice.algorithm = \"lms\" to set it up anyway (with --force)"
            ),
        );
    }
}

fn nas(cx: &mut Ctx) {
    let Some(nas) = cx.inv.nas.as_ref() else { return };
    if let Err(e) = names::check_host_name(&nas.name) {
        cx.err("nas.name", format!("nas.name {e}"));
    }
    if let Err(e) = parse_ip(&nas.address) {
        cx.err("nas.address", format!("nas.address: {e}"));
    }
}

fn unique_names(cx: &mut Ctx) {
    let mut hosts: Vec<(String, String)> = cx.inv.nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), format!("nodes[{i}].name"))).collect();
    if let Some(q) = &cx.inv.qdevice {
        hosts.push((q.name.clone(), "qdevice.name".into()));
    }
    if let Some(n) = &cx.inv.nas {
        hosts.push((n.name.clone(), "nas.name".into()));
    }
    let mut seen = Seen::new();
    for (name, path) in hosts {
        if let Some(first) = seen.first_path(name.to_ascii_lowercase(), &path) {
            let line = cx.line(&first);
            cx.err(&path, format!("host name `{name}` is already used by {first} (line {line}); give every host its own name"));
        }
    }
}

fn unique_addresses(cx: &mut Ctx) {
    let mut addrs: Vec<(String, String, String)> = Vec::new();
    for (i, n) in cx.inv.nodes.iter().enumerate() {
        addrs.push((n.link0.clone(), format!("nodes[{i}].link0"), format!("{} link0", n.name)));
        addrs.push((n.link1.clone(), format!("nodes[{i}].link1"), format!("{} link1", n.name)));
    }
    if let Some(q) = &cx.inv.qdevice {
        addrs.push((q.address.clone(), "qdevice.address".into(), format!("{} (qdevice)", q.name)));
    }
    if let Some(n) = &cx.inv.nas {
        addrs.push((n.address.clone(), "nas.address".into(), format!("{} (nas)", n.name)));
    }
    let mut seen: Seen<IpAddr> = Seen::new();
    let mut owners: Vec<(String, String)> = Vec::new();
    for (value, path, who) in addrs {
        let Ok(ip) = value.parse::<IpAddr>() else { continue };
        owners.push((path.clone(), who));
        if let Some(first) = seen.first_path(ip, &path) {
            let line = cx.line(&first);
            let first_who = owners.iter().find(|(p, _)| *p == first).map(|(_, w)| w.clone()).unwrap_or_default();
            cx.err(&path, format!("address {ip} is already used by {first_who} (line {line}); every host address must be unique"));
        }
    }
}

fn unique_macs(cx: &mut Ctx) {
    let mut seen: Seen<Mac> = Seen::new();
    let mut errs = Vec::new();
    for (i, n) in cx.inv.nodes.iter().enumerate() {
        for (key, mac) in [("mgmt_mac", &n.mgmt_mac), ("prod_mac", &n.prod_mac)] {
            let Some(Ok(m)) = mac.as_deref().map(Mac::parse) else { continue };
            let path = format!("nodes[{i}].{key}");
            if let Some(first) = seen.first_path(m, &path) {
                errs.push((path, first, m));
            }
        }
    }
    for (path, first, m) in errs {
        let line = cx.line(&first);
        cx.err(&path, format!("MAC {m} is already given as {first} (line {line}); each NIC has its own MAC — copy it again from `ip link` on that host"));
    }
}
