//! Everything a lab can leave on the machine, found by looking, not by trusting state files:
//! `lab-*` links and namespaces, mounts of the runtime dir, host overlays and netns files in any
//! mount namespace, and host processes. `lab up` refuses while any exist; `lab down` must end
//! with none.

use crate::network;
use crate::paths::RUNTIME_DIR;
use crate::sys;
use std::collections::BTreeSet;

/// Human-readable remnants; empty means the machine is clean.
pub fn find() -> Vec<String> {
    find_with(&[])
}

/// Like [`find`], also reporting live processes in the given network/PID namespace inodes
/// (recorded before teardown, when the names still existed).
pub fn find_with(ns_inodes: &[(&'static str, u64)]) -> Vec<String> {
    let mut out = Vec::new();
    for l in network::lab_links() {
        out.push(format!("network interface {l}"));
    }
    for n in network::lab_netns() {
        out.push(format!("network namespace {n} (/run/netns/{n})"));
    }
    out.extend(lab_mounts().into_iter().map(|m| format!("mount {m}")));
    let me = std::process::id() as i32;
    for p in sys::all_pids() {
        if p == me || !sys::alive(p) {
            continue;
        }
        let cmd = sys::cmdline(p);
        let in_ns = sys::in_any_ns(p, ns_inodes);
        if in_ns || cmd.contains(&format!("{RUNTIME_DIR}/host-init.sh")) {
            out.push(format!("process {p} ({})", if cmd.is_empty() { sys::comm(p) } else { cmd }));
        }
    }
    out
}

/// Mounts belonging to the lab in any process's mount namespace, deduplicated.
pub fn lab_mounts() -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    for p in sys::all_pids() {
        // one mountinfo per mount namespace is enough
        match sys::ns_inode(p, "mnt") {
            Some(ns) if !namespaces.insert(ns) => continue,
            _ => {}
        }
        let Ok(text) = std::fs::read_to_string(format!("/proc/{p}/mountinfo")) else { continue };
        for line in text.lines() {
            if let Some(m) = describe_lab_mount(line) {
                seen.insert(m);
            }
        }
    }
    seen
}

/// `mount point (fstype source)` if a mountinfo line belongs to the lab.
fn describe_lab_mount(line: &str) -> Option<String> {
    let (pre, post) = line.split_once(" - ")?;
    let mount_point = pre.split(' ').nth(4)?;
    let mut post = post.split(' ');
    let (fstype, source) = (post.next()?, post.next()?);
    let ours = mount_point.starts_with(RUNTIME_DIR)
        || line.contains(&format!("{RUNTIME_DIR}/"))
        || mount_point.starts_with("/run/netns/lab-")
        || (fstype == "overlay" && source.starts_with("lab-"));
    ours.then(|| format!("{mount_point} ({fstype} {source})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_are_classified() {
        let tmpfs = "620 25 0:120 / /run/homelab-lab rw,relatime shared:300 - tmpfs homelab-lab rw,size=4194304k";
        assert_eq!(describe_lab_mount(tmpfs).unwrap(), "/run/homelab-lab (tmpfs homelab-lab)");
        let ovl = "700 650 0:130 / / rw - overlay lab-pve-node1 rw,lowerdir=/,upperdir=/run/homelab-lab/hosts/pve-node1/upper";
        assert!(describe_lab_mount(ovl).is_some());
        let ns = "640 30 0:4 net:[4026532] /run/netns/lab-nas rw shared:5 - nsfs nsfs rw";
        assert!(describe_lab_mount(ns).is_some());
        let other = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/root rw";
        assert!(describe_lab_mount(other).is_none());
        let netns_dir = "630 25 0:25 /netns /run/netns rw shared:2 - tmpfs tmpfs rw";
        assert!(describe_lab_mount(netns_dir).is_none());
    }
}
