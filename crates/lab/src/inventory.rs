//! The lab inventory `.lab/homelab.toml`: a complete, valid inventory (schema:
//! `common/src/inventory/model.rs`) that points every phase at the lab, modelled on the real
//! homelab (two links, a Pi QDevice, three NFS storages on the NAS, replication, a weekly backup).
//!
//! Written as text rather than serialised so the file reads like one a person would write;
//! the tests parse it with `common::inventory::parse_str`.

use crate::topology::{HostSpec, LabShape, Role, CLUSTER, DOMAIN, MGMT_NET, PROD_NET};
use std::fmt::Write as _;

/// Environment variable names of the lab's secrets (also written to secrets.env).
pub const ENV_PROXMOX_ROOT_PASSWORD: &str = "PROXMOX_ROOT_PASSWORD";
pub const ENV_PI_ROOT_PASSWORD: &str = "PI_ROOT_PASSWORD";

/// Packages the inventory asks for on every node: installed on this machine (so the offline
/// apt shim can "install" them) and hidden by pve-sim's fresh-install image.
pub const DEFAULT_PACKAGES: [&str; 3] = ["rsync", "attr", "psmisc"];

fn q(s: &str) -> String {
    // TOML basic string; our values never contain quotes or backslashes, escape anyway
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn render(shape: &LabShape, hosts: &[HostSpec], lab_pubkey: &str) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# The lab inventory, written by `lab up` (crates/lab) for the lab running now;");
    let _ = writeln!(w, "# rewritten by every `lab up`. Every phase runs against it unchanged:");
    let _ = writeln!(w, "#   source .lab/secrets.env && bootstrap-node -i .lab/homelab.toml");
    let _ = writeln!(w, "# Secrets are not here: secrets.env beside this file exports them.\n");
    let _ = writeln!(w, "[cluster]\nname = {}\ndomain = {}\n", q(CLUSTER), q(DOMAIN));
    let _ = writeln!(w, "[automation]\nuser = \"homelab\"\nkeys = [{}]", q(lab_pubkey));
    let _ = writeln!(w, "identity_file = \"id_lab\"\nknown_hosts = \"known_hosts\"\n");
    let pkgs: Vec<String> = DEFAULT_PACKAGES.iter().map(|p| q(p)).collect();
    let _ = writeln!(
        w,
        "[defaults]\ntimezone = \"Australia/Brisbane\"\nntp_servers = [\"{MGMT_NET}.1\"]\npackages = [{}]\n",
        pkgs.join(", ")
    );
    let _ = writeln!(w, "[networks.mgmt]\ncidr = \"{MGMT_NET}.0/24\"\ngateway = \"{MGMT_NET}.1\"\n");
    let _ = writeln!(w, "[networks.prod]\ncidr = \"{PROD_NET}.0/24\"\n");
    for (i, h) in hosts.iter().filter(|h| h.role == Role::Pve).enumerate() {
        let role = if i == 0 { "master" } else { "member" };
        let _ = writeln!(w, "[[nodes]]\nname = {}\nrole = \"{role}\"", q(&h.name));
        let _ = writeln!(w, "link0 = {}\nlink1 = {}", q(&h.mgmt_ip), q(&h.prod_ip));
        let _ = writeln!(w, "mgmt_mac = {}\nprod_mac = {}", q(&h.mac_mgmt), q(&h.mac_prod));
        let _ = writeln!(w, "mgmt_nic = \"eth0\"\nprod_nic = \"eth1\"");
        // What the answer file would install (provision-iso needs it); the lab image is a
        // ZFS install, like the pve-sim image's rpool.
        let _ = writeln!(w, "install_disks = [\"sda\"]\nfilesystem = \"zfs\"\nraid = \"raid0\"\n");
    }
    if let Some(pi) = hosts.iter().find(|h| h.role == Role::Pi) {
        let _ = writeln!(w, "[qdevice]\nname = {}\naddress = {}", q(&pi.name), q(&pi.mgmt_ip));
        if shape.nodes % 2 == 1 {
            // ffsplit needs an even node count; lms keeps an odd-sized lab valid
            let _ = writeln!(w, "algorithm = \"lms\"");
        }
        let _ = writeln!(
            w,
            "first_contact = {{ method = \"password\", password = {{ env = \"{ENV_PI_ROOT_PASSWORD}\" }}, host_key = \"accept-new\" }}\n"
        );
    }
    let nas = hosts.iter().find(|h| h.role == Role::Nas);
    if let Some(nas) = nas {
        let _ = writeln!(w, "[nas]\nname = {}\naddress = {}\n", q(&nas.name), q(&nas.prod_ip));
    }
    let _ = writeln!(w, "[install]\nroot_password = {{ env = \"{ENV_PROXMOX_ROOT_PASSWORD}\" }}\n");
    if let Some(nas) = nas {
        for (id, export, content) in [
            ("nas-backup", "/volume1/backups/proxmox", vec!["backup"]),
            ("nas-shared", "/volume1/homelab-shared", vec!["iso", "vztmpl", "snippets"]),
            ("nas-data", "/volume1/homelab-data", vec!["images", "rootdir"]),
        ] {
            let c: Vec<String> = content.iter().map(|c| q(c)).collect();
            let _ = writeln!(
                w,
                "[[storage.nfs]]\nid = \"{id}\"\nserver = {}\nexport = \"{export}\"\ncontent = [{}]\n",
                q(&nas.prod_ip),
                c.join(", ")
            );
        }
    }
    let _ = writeln!(w, "[[zfs]]\ndataset = \"rpool/data\"\nproperties = {{ compression = \"lz4\", atime = \"off\" }}\n");
    if shape.nodes >= 2 {
        let _ = writeln!(
            w,
            "[[replication]]\nguest = 900\ntarget = \"pve-node2\"\nschedule = \"*/5\"\nrate = 10\ntest_guest = true\n"
        );
    }
    // without a NAS the weekly backup goes to the nodes' own `local` storage
    let backup_storage = if nas.is_some() { "nas-backup" } else { "local" };
    let _ = writeln!(
        w,
        "[[backup]]\nid = \"weekly-all\"\nstorage = \"{backup_storage}\"\nschedule = \"sun 02:00\"\nall = true\nmode = \"snapshot\"\ncompress = \"zstd\"\nretention = {{ keep_last = 4 }}\n"
    );
    let _ = writeln!(w, "[monitoring.memory]\ninterval_minutes = 5\nthreshold_percent = 90");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::hosts;
    use common::inventory::{parse_str, FirstContactMethod, HostKeyPolicy, QDeviceAlgorithm, Role as NodeRole};
    use std::path::Path;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9 homelab-lab";

    fn parse(shape: LabShape) -> common::inventory::Inventory {
        let text = render(&shape, &hosts(&shape).unwrap(), KEY);
        match parse_str(&text, Path::new(".lab/homelab.toml")) {
            Ok(l) => l.inv,
            Err(e) => panic!("lab inventory does not load:\n{e}\n---\n{text}"),
        }
    }

    #[test]
    fn default_lab_inventory_is_valid_and_complete() {
        let inv = parse(LabShape::default());
        assert_eq!(inv.cluster.name, "homelab");
        assert_eq!(inv.cluster.domain, "lab.home.arpa");
        assert_eq!(inv.automation.user, "homelab");
        assert_eq!(inv.automation.keys, [KEY]);
        assert_eq!(inv.automation.identity_file.as_deref(), Some(Path::new("id_lab")));
        assert_eq!(inv.automation.known_hosts.as_deref(), Some(Path::new("known_hosts")));
        assert_eq!(inv.defaults.timezone, "Australia/Brisbane");
        assert_eq!(inv.defaults.ntp_servers, ["10.231.10.1"]);
        assert_eq!(inv.networks.mgmt.cidr, "10.231.10.0/24");
        assert_eq!(inv.networks.mgmt.gateway.as_deref(), Some("10.231.10.1"));
        assert_eq!(inv.networks.prod.cidr, "10.231.1.0/24");
        assert_eq!(inv.nodes.len(), 2);
        assert_eq!(inv.master().name, "pve-node1");
        assert_eq!(inv.nodes[1].role, NodeRole::Member);
        assert_eq!(inv.nodes[1].link0, "10.231.10.12");
        assert_eq!(inv.nodes[1].link1, "10.231.1.12");
        assert_eq!(inv.nodes[0].mgmt_mac.as_deref(), Some("52:54:00:e7:0a:0b"));
        let qd = inv.qdevice.as_ref().unwrap();
        assert_eq!((qd.name.as_str(), qd.address.as_str()), ("qdevice1", "10.231.10.5"));
        assert_eq!(qd.algorithm, QDeviceAlgorithm::Ffsplit);
        assert_eq!(qd.first_contact.method, FirstContactMethod::Password);
        assert_eq!(qd.first_contact.host_key, HostKeyPolicy::AcceptNew);
        assert_eq!(qd.first_contact.password.as_ref().unwrap().env.as_deref(), Some("PI_ROOT_PASSWORD"));
        assert_eq!(inv.nas.as_ref().unwrap().address, "10.231.1.25");
        assert_eq!(inv.install.root_password.as_ref().unwrap().env.as_deref(), Some("PROXMOX_ROOT_PASSWORD"));
        let ids: Vec<_> = inv.storage.nfs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["nas-backup", "nas-shared", "nas-data"]);
        assert_eq!(inv.storage.nfs[1].content, ["iso", "vztmpl", "snippets"]);
        assert_eq!(inv.storage.nfs[2].export, "/volume1/homelab-data");
        assert_eq!(inv.zfs[0].properties["compression"], "lz4");
        assert_eq!(inv.zfs[0].properties["atime"], "off");
        let r = &inv.replication[0];
        assert_eq!((r.guest, r.target.as_str(), r.schedule.as_str(), r.rate, r.test_guest), (900, "pve-node2", "*/5", Some(10.0), true));
        let b = &inv.backup[0];
        assert_eq!((b.id.as_str(), b.storage.as_str(), b.schedule.as_str()), ("weekly-all", "nas-backup", "sun 02:00"));
        assert!(b.all);
        assert_eq!((b.mode.as_str(), b.compress.as_str(), b.retention.keep_last), ("snapshot", "zstd", Some(4)));
        let m = inv.monitoring.memory.as_ref().unwrap();
        assert_eq!((m.interval_minutes, m.threshold_percent), (5, 90));
    }

    #[test]
    fn odd_node_count_uses_lms_and_no_qdevice_omits_it() {
        let inv = parse(LabShape { nodes: 3, ..LabShape::default() });
        assert_eq!(inv.qdevice.unwrap().algorithm, QDeviceAlgorithm::Lms);
        assert_eq!(inv.nodes.len(), 3);
        let inv = parse(LabShape { nodes: 3, qdevice: false, ..LabShape::default() });
        assert!(inv.qdevice.is_none());
    }

    #[test]
    fn small_and_nasless_labs_stay_valid() {
        let inv = parse(LabShape { nodes: 1, qdevice: false, nas: false, sim: false });
        assert!(inv.replication.is_empty(), "no pve-node2 to replicate to");
        assert!(inv.nas.is_none() && inv.storage.nfs.is_empty());
        assert_eq!(inv.backup[0].storage, "local");
        let inv = parse(LabShape { nodes: 32, qdevice: false, nas: false, sim: false });
        assert_eq!(inv.nodes.len(), 32);
    }
}
