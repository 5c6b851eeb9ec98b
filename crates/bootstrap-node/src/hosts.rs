//! `/etc/hosts`: every cluster node on both corosync links and the QDevice, in a block we own,
//! so names resolve without DNS (corosync, `pvecm`, SSH between nodes all use them).
//!
//! Outside the block we only *remove* what would contradict it: the installer's line for this
//! node (its address or a temporary name bound to it), Debian's `127.0.1.1 hostname` line, and
//! our names on loopback lines (Proxmox needs the node name to resolve to its cluster address,
//! never to 127.x). Everything else — localhost, IPv6 lines, the operator's own entries — stays.

use common::baseline::text::{set_block, MARKERS};
use common::inventory::Inventory;

/// One line of our block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub addr: String,
    /// FQDN first (the canonical name `hostname --fqdn` reports), then short aliases.
    pub names: Vec<String>,
}

/// The block's entries: per node `link0 → fqdn, name, name-link0` and
/// `link1 → name-link1.fqdn, name-link1`; then the QDevice.
pub fn entries(inv: &Inventory) -> Vec<HostEntry> {
    let d = &inv.cluster.domain;
    let mut out = Vec::new();
    for n in &inv.nodes {
        out.push(HostEntry {
            addr: n.link0.clone(),
            names: vec![format!("{}.{d}", n.name), n.name.clone(), format!("{}-link0", n.name)],
        });
        out.push(HostEntry {
            addr: n.link1.clone(),
            names: vec![format!("{}-link1.{d}", n.name), format!("{}-link1", n.name)],
        });
    }
    if let Some(q) = &inv.qdevice {
        out.push(HostEntry { addr: q.address.clone(), names: vec![format!("{}.{d}", q.name), q.name.clone()] });
    }
    out
}

fn is_loopback(addr: &str) -> bool {
    addr.starts_with("127.") || addr == "::1"
}

/// The whole new `/etc/hosts` for `current` text.
pub fn render(current: &str, entries: &[HostEntry]) -> String {
    let body: String = entries.iter().map(|e| format!("{} {}\n", e.addr, e.names.join(" "))).collect();
    let ours_addr = |a: &str| entries.iter().any(|e| e.addr == a);
    let ours_name = |n: &str| entries.iter().any(|e| e.names.iter().any(|x| x == n));
    // set_block keeps or drops whole lines; loopback lines need a narrower edit first.
    let mut cleaned = String::new();
    for line in current.lines() {
        let content = line.split('#').next().unwrap_or("");
        let mut fields = content.split_whitespace();
        let Some(addr) = fields.next() else {
            cleaned.push_str(line);
            cleaned.push('\n');
            continue;
        };
        let names: Vec<&str> = fields.collect();
        if line.trim_end() == MARKERS.begin || line.trim_end() == MARKERS.end {
            cleaned.push_str(line);
            cleaned.push('\n');
            continue;
        }
        if addr == "127.0.1.1" || (!is_loopback(addr) && (ours_addr(addr) || names.iter().any(|n| ours_name(n)))) {
            continue; // installer / Debian temporary name, or a stale duplicate of our entries
        }
        if is_loopback(addr) && names.iter().any(|n| ours_name(n)) {
            let kept: Vec<&str> = names.iter().copied().filter(|n| !ours_name(n)).collect();
            if !kept.is_empty() {
                cleaned.push_str(&format!("{addr}\t{}\n", kept.join(" ")));
            }
            continue;
        }
        cleaned.push_str(line);
        cleaned.push('\n');
    }
    // Lines of an old block may already be gone here; set_block re-creates the block anyway.
    set_block(&cleaned, MARKERS, &body, |_| false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab_entries() -> Vec<HostEntry> {
        let e = |a: &str, n: &[&str]| HostEntry { addr: a.into(), names: n.iter().map(|s| s.to_string()).collect() };
        vec![
            e("10.231.10.11", &["pve-node1.lab.home.arpa", "pve-node1", "pve-node1-link0"]),
            e("10.231.1.11", &["pve-node1-link1.lab.home.arpa", "pve-node1-link1"]),
            e("10.231.10.12", &["pve-node2.lab.home.arpa", "pve-node2", "pve-node2-link0"]),
            e("10.231.1.12", &["pve-node2-link1.lab.home.arpa", "pve-node2-link1"]),
            e("10.231.10.5", &["qdevice1.lab.home.arpa", "qdevice1"]),
        ]
    }

    // What the Proxmox installer leaves (fqdn from the answer file), plus Debian's IPv6 lines.
    const INSTALLED: &str = "127.0.0.1 localhost.localdomain localhost\n\
        10.231.10.11 pve-node1.lab.home.arpa pve-node1\n\
        \n\
        # The following lines are desirable for IPv6 capable hosts\n\
        ::1     ip6-localhost ip6-loopback\n\
        fe00::0 ip6-localnet\n";

    #[test]
    fn fresh_install_gets_block_and_loses_installer_line() {
        let out = render(INSTALLED, &lab_entries());
        let want = format!(
            "127.0.0.1 localhost.localdomain localhost\n\
             \n\
             # The following lines are desirable for IPv6 capable hosts\n\
             ::1     ip6-localhost ip6-loopback\n\
             fe00::0 ip6-localnet\n\
             \n\
             {}\n\
             10.231.10.11 pve-node1.lab.home.arpa pve-node1 pve-node1-link0\n\
             10.231.1.11 pve-node1-link1.lab.home.arpa pve-node1-link1\n\
             10.231.10.12 pve-node2.lab.home.arpa pve-node2 pve-node2-link0\n\
             10.231.1.12 pve-node2-link1.lab.home.arpa pve-node2-link1\n\
             10.231.10.5 qdevice1.lab.home.arpa qdevice1\n\
             {}\n",
            MARKERS.begin, MARKERS.end
        );
        assert_eq!(out, want);
        assert_eq!(render(&out, &lab_entries()), out, "a converged file is left alone");
    }

    #[test]
    fn temporary_names_and_loopback_aliases_are_removed() {
        let cur = "127.0.0.1 localhost pve-node1\n127.0.1.1 proxmox.invalid proxmox\n\
                   10.231.10.11 pve.example.invalid pve\n192.168.5.5 printer\n10.9.9.9 old pve-node2\n";
        let out = render(cur, &lab_entries());
        assert!(out.starts_with("127.0.0.1\tlocalhost\n192.168.5.5 printer\n\n# BEGIN"), "{out}");
        assert!(!out.contains("proxmox") && !out.contains("pve.example") && !out.contains("10.9.9.9"), "{out}");
    }

    #[test]
    fn changed_block_is_replaced_in_place() {
        let first = render(INSTALLED, &lab_entries());
        let mut fewer = lab_entries();
        fewer.pop();
        let second = render(&first, &fewer);
        assert!(!second.contains("qdevice1"), "{second}");
        assert_eq!(second.matches(MARKERS.begin).count(), 1);
    }
}
