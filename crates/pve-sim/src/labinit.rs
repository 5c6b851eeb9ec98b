//! `pve-sim lab-init`: turn a fresh lab host into the image of a fresh install (issue 3
//! "Fresh-install images"). Runs as root inside the host at first boot, before sshd.
//!
//! Besides what the brief lists, two machine artefacts are removed because real installs do not
//! have them: `/usr/sbin/policy-rc.d` (a container-build leftover that blocks service starts in
//! package postinsts) and the machine's Debian 12 apt sources.

use std::fs;
use anyhow::{bail, Context, Result};
use pve_formats::section_config::{Entry, SectionConfig, STORAGE_CFG};

use crate::applets::systemctl;
use crate::model::zfs::ZfsState;
use crate::{cli, nodefiles, packages, pmxcfs, sys};

pub struct Params {
    pub role: String,
    pub hostname: String,
    pub domain: String,
    pub mgmt_ip: String,
    /// Accepted for the fixed lab interface; the installer leaves the second NIC unconfigured.
    #[allow(dead_code)]
    pub prod_ip: String,
}

pub fn main(args: &[String]) -> Result<i32> {
    let spec: cli::Spec = &[
        ("role", cli::Kind::Str),
        ("hostname", cli::Kind::Str),
        ("domain", cli::Kind::Str),
        ("mgmt-ip", cli::Kind::Str),
        ("prod-ip", cli::Kind::Str),
    ];
    let usage = "USAGE: pve-sim lab-init --role pve|pi|nas --hostname H --domain D --mgmt-ip IP --prod-ip IP\n";
    let a = cli::parse(args, spec, Some(0), usage)?;
    let get = |k: &str| -> Result<String> {
        a.get(k).map(str::to_string).with_context(|| format!("lab-init: --{k} is required\n{usage}"))
    };
    let p = Params { role: get("role")?, hostname: get("hostname")?, domain: get("domain")?, mgmt_ip: get("mgmt-ip")?, prod_ip: get("prod-ip")? };
    run(&p)?;
    Ok(0)
}

pub fn run(p: &Params) -> Result<()> {
    if !matches!(p.role.as_str(), "pve" | "pi" | "nas") {
        bail!("lab-init: unknown role '{}' (expected pve, pi or nas)", p.role);
    }
    sys::mkdir_p(&sys::p("/var/lib/pve-sim"), 0o755)?;
    sys::write_str(&sys::p("/var/lib/pve-sim/role"), &format!("{}\n", p.role), 0o644)?;
    sys::write_str(&sys::p("/etc/hostname"), &format!("{}\n", p.hostname), 0o644)?;
    let _ = fs::remove_file(sys::p("/usr/sbin/policy-rc.d"));
    for unit in systemctl::default_enabled(&p.role) {
        systemctl::set_enabled(unit, true)?;
    }
    match p.role.as_str() {
        "pve" => init_pve(p),
        "pi" => init_pi(p),
        _ => init_nas(p),
    }
}

fn fqdn(p: &Params) -> String {
    format!("{}.{}", p.hostname, p.domain)
}

/// /etc/hosts as the PVE installer writes it.
pub fn pve_hosts(p: &Params) -> String {
    format!(
        "127.0.0.1 localhost.localdomain localhost\n{} {} {}\n\n\
         # The following lines are desirable for IPv6 capable hosts\n\n\
         ::1     ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\n\
         ff02::1 ip6-allnodes\nff02::2 ip6-allrouters\nff02::3 ip6-allhosts\n",
        p.mgmt_ip,
        fqdn(p),
        p.hostname
    )
}

/// /etc/network/interfaces as the PVE installer writes it (vmbr0 on the first NIC). Rendered only;
/// the lab does not apply it.
pub fn pve_interfaces(p: &Params) -> String {
    let gw = p.mgmt_ip.rsplit_once('.').map(|(n, _)| format!("{n}.1")).unwrap_or_default();
    format!(
        "auto lo\niface lo inet loopback\n\niface eth0 inet manual\n\nauto vmbr0\niface vmbr0 inet static\n\
         \taddress {}/24\n\tgateway {gw}\n\tbridge-ports eth0\n\tbridge-stp off\n\tbridge-fd 0\n\n\
         iface eth1 inet manual\n\n\nsource /etc/network/interfaces.d/*\n",
        p.mgmt_ip
    )
}

/// APT sources of a fresh PVE 9 install (pve-cli.md §8): Debian trixie, PVE enterprise, Ceph enterprise.
pub const DEBIAN_SOURCES: &str = "Types: deb\nURIs: http://deb.debian.org/debian/\nSuites: trixie trixie-updates\nComponents: main contrib non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://security.debian.org/debian-security/\nSuites: trixie-security\nComponents: main contrib non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";
pub const PVE_ENTERPRISE_SOURCES: &str = "Types: deb\nURIs: https://enterprise.proxmox.com/debian/pve\nSuites: trixie\nComponents: pve-enterprise\nSigned-By: /usr/share/keyrings/proxmox-archive-keyring.gpg\n";
pub const CEPH_SOURCES: &str = "Types: deb\nURIs: https://enterprise.proxmox.com/debian/ceph-squid\nSuites: trixie\nComponents: enterprise\nSigned-By: /usr/share/keyrings/proxmox-archive-keyring.gpg\n";

/// The subscription check of proxmox-widget-toolkit's `Proxmox.Utils.checked_command`
/// (PVE 9 layout, reformatted upstream with prettier), inside a minimal proxmoxlib.js.
pub const PROXMOXLIB_JS: &str = r#"// proxmox-widget-toolkit (lab simulation: only the parts tools look at)
Ext.ns('Proxmox');
Ext.ns('Proxmox.Setup');

Ext.define('Proxmox.Utils', {
    // a singleton
    utilities: {
        yesText: gettext('Yes'),
        noText: gettext('No'),

        getNoSubKeyHtml: function (url) {
            let html_url = Ext.String.format('<a target="_blank" href="{0}">www.proxmox.com</a>', url || 'https://www.proxmox.com');
            return Ext.String.format(
                gettext('You do not have a valid subscription for this server. Please visit {0} to get a list of available options.'),
                html_url,
            );
        },

        checked_command: function (orig_cmd) {
            Proxmox.Utils.API2Request({
                url: '/nodes/localhost/subscription',
                method: 'GET',
                failure: function (response, opts) {
                    Ext.Msg.alert(gettext('Error'), response.htmlStatus);
                },
                success: function (response, opts) {
                    let res = response.result;
                    if (
                        res === null ||
                        res === undefined ||
                        !res ||
                        res.data.status.toLowerCase() !== 'active'
                    ) {
                        Ext.Msg.show({
                            title: gettext('No valid subscription'),
                            icon: Ext.Msg.WARNING,
                            message: Proxmox.Utils.getNoSubKeyHtml(res.data.url),
                            buttons: Ext.Msg.OK,
                            callback: function (btn) {
                                if (btn !== 'ok') {
                                    return;
                                }
                                orig_cmd();
                            },
                        });
                    } else {
                        orig_cmd();
                    }
                },
            });
        },
    },

    singleton: true,
    constructor: function () {
        let me = this;
        Ext.apply(me, me.utilities);
    },
});
"#;

/// Set `key value` in the main sshd_config right after the `Include` line (so drop-ins, read
/// first, still win), replacing an existing active or commented-out line of the same key.
pub fn sshd_main_setting(text: &str, settings: &[(&str, &str)]) -> String {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            let t = l.trim_start().trim_start_matches('#').trim_start();
            let key = t.split_whitespace().next().unwrap_or("");
            !settings.iter().any(|(k, _)| key.eq_ignore_ascii_case(k))
        })
        .map(str::to_string)
        .collect();
    let at = lines.iter().position(|l| l.trim_start().to_ascii_lowercase().starts_with("include ")).map(|i| i + 1).unwrap_or(0);
    for (i, (k, v)) in settings.iter().enumerate() {
        lines.insert(at + i, format!("{k} {v}"));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn edit_sshd(settings: &[(&str, &str)]) -> Result<()> {
    let path = sys::p("/etc/ssh/sshd_config");
    let text = sys::read_opt(&path).unwrap_or_else(|| "Include /etc/ssh/sshd_config.d/*.conf\n".into());
    sys::write_str(&path, &sshd_main_setting(&text, settings), 0o644)
}

fn replace_apt_sources(files: &[(&str, &str)]) -> Result<()> {
    let _ = fs::remove_file(sys::p("/etc/apt/sources.list"));
    if let Ok(rd) = fs::read_dir(sys::p("/etc/apt/sources.list.d")) {
        for e in rd.flatten() {
            let _ = fs::remove_file(e.path());
        }
    }
    for (name, content) in files {
        sys::write_str(&sys::p(&format!("/etc/apt/sources.list.d/{name}")), content, 0o644)?;
    }
    Ok(())
}

fn remove_corosync_config() {
    for f in ["/etc/corosync/corosync.conf", "/etc/corosync/authkey"] {
        let _ = fs::remove_file(sys::p(f));
    }
}

fn init_pve(p: &Params) -> Result<()> {
    // /etc/pve first; the RSA key generation for the certificates (the slow part, random time)
    // then runs in the background while the rest of the image is written.
    secure_backplane_root()?;
    pmxcfs::init_local(&p.hostname)?;
    let (host, ip) = (p.hostname.clone(), p.mgmt_ip.clone());
    let certs = std::thread::spawn(move || nodefiles::gen_node_files(&host, &ip, false));

    sys::write_str(&sys::p("/etc/hosts"), &pve_hosts(p), 0o644)?;
    sys::write_str(&sys::p("/etc/network/interfaces"), &pve_interfaces(p), 0o644)?;
    sys::write_str(
        &sys::p("/etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\nVERSION=\"13 (trixie)\"\nVERSION_CODENAME=trixie\nDEBIAN_VERSION_FULL=13.1\nID=debian\nHOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"\n",
        0o644,
    )?;
    replace_apt_sources(&[
        ("debian.sources", DEBIAN_SOURCES),
        ("pve-enterprise.sources", PVE_ENTERPRISE_SOURCES),
        ("ceph.sources", CEPH_SOURCES),
    ])?;
    sys::write_str(&sys::p("/usr/share/javascript/proxmox-widget-toolkit/proxmoxlib.js"), PROXMOXLIB_JS, 0o644)?;
    // Root password login over SSH is allowed on a fresh PVE install.
    edit_sshd(&[("PermitRootLogin", "yes")])?;
    remove_corosync_config();
    packages::hide("sudo", &[])?;
    packages::hide("corosync-qdevice", &["/etc/corosync/qdevice"])?;
    packages::hide("corosync-qnetd", &["/etc/corosync/qnetd/nssdb"])?;
    packages::hide("rsync", &[])?;
    packages::hide("psmisc", &[])?;

    sys::write_str(&pmxcfs::pve_path("storage.cfg"), &fresh_storage_cfg(), 0o640)?;
    sys::write_str(&pmxcfs::pve_path("user.cfg"), &format!("user:root@pam:1:0:::root@{}::\n", fqdn(p)), 0o640)?;
    sys::write_str(&pmxcfs::pve_path("datacenter.cfg"), "keyboard: en-us\n", 0o640)?;
    for d in ["/var/lib/vz/dump", "/var/lib/vz/images", "/var/lib/vz/template/iso", "/var/lib/vz/template/cache", "/var/lib/vz/snippets"] {
        sys::mkdir_p(&sys::p(d), 0o755)?;
    }
    ZfsState::fresh_install().save()?;
    certs.join().map_err(|_| anyhow::anyhow!("lab-init: certificate generation panicked"))??;
    nodefiles::write_node_known_hosts(&p.hostname)?;
    Ok(())
}

/// storage.cfg as a ZFS install leaves it (written through the section-config writer:
/// `local` dir and `local-zfs` zfspool with `sparse 1`).
pub fn fresh_storage_cfg() -> String {
    let mut local = Entry::new("dir", "local");
    local.set("path", "/var/lib/vz");
    local.set("content", "iso,vztmpl,backup");
    let mut zfs = Entry::new("zfspool", "local-zfs");
    zfs.set("pool", "rpool/data");
    zfs.set("content", "images,rootdir");
    zfs.set("sparse", "1");
    SectionConfig { sections: vec![local, zfs], warnings: vec![] }.write(&STORAGE_CFG)
}

/// sshd's StrictModes refuses authorized_keys below group/world-writable directories; the shared
/// authorized_keys lives on the backplane (like PVE's /etc/pve/priv/authorized_keys).
fn secure_backplane_root() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let bp = pmxcfs::backplane();
    if !bp.is_dir() {
        bail!("lab-init: backplane {} is not mounted", bp.display());
    }
    let mode = fs::metadata(&bp)?.permissions().mode();
    if mode & 0o022 != 0 {
        fs::set_permissions(&bp, fs::Permissions::from_mode(mode & !0o022))?;
    }
    sys::mkdir_p(&bp.join("pmxcfs"), 0o755)?;
    Ok(())
}

fn init_pi(p: &Params) -> Result<()> {
    sys::write_str(
        &sys::p("/etc/hosts"),
        &format!("127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n\n127.0.1.1\t\t{}\n", p.hostname),
        0o644,
    )?;
    // Raspberry Pi OS Lite as the lab uses it: root may log in with a password.
    edit_sshd(&[("PermitRootLogin", "yes"), ("PasswordAuthentication", "yes")])?;
    remove_corosync_config();
    packages::hide("corosync-qnetd", &["/etc/corosync/qnetd/nssdb"])?;
    packages::hide("corosync-qdevice", &["/etc/corosync/qdevice"])?;
    Ok(())
}

/// The standard exports of the homelab NAS (issue 2), used when the lab provides no list.
pub const STANDARD_EXPORTS: &[&str] = &["/volume1/backups/proxmox", "/volume1/homelab-shared", "/volume1/homelab-data"];

fn init_nas(p: &Params) -> Result<()> {
    sys::write_str(
        &sys::p("/etc/hosts"),
        &format!("127.0.0.1\tlocalhost\n{}\t{}.{} {}\n", p.mgmt_ip, p.hostname, p.domain, p.hostname),
        0o644,
    )?;
    let bp = pmxcfs::backplane();
    let list = bp.join("nas-exports");
    let exports: Vec<String> = match sys::read_opt(&list) {
        Some(t) => t.lines().filter_map(|l| l.split_whitespace().next()).filter(|l| l.starts_with('/')).map(str::to_string).collect(),
        None => STANDARD_EXPORTS.iter().map(|s| s.to_string()).collect(),
    };
    let mut exports_file = String::new();
    for e in &exports {
        let dir = crate::model::storage::export_dir(e);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let local = sys::p(e);
        if !local.exists() {
            sys::symlink_replace(&dir, &local)?;
        }
        exports_file.push_str(&format!("{e}\t10.231.0.0/16(rw,sync,no_subtree_check,no_root_squash)\n"));
    }
    sys::write_str(&sys::p("/etc/exports"), &exports_file, 0o644)?;
    if !list.exists() {
        sys::write_str(&list, &exports_file, 0o644)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params { role: "pve".into(), hostname: "pve-node1".into(), domain: "lab.home.arpa".into(), mgmt_ip: "10.231.10.11".into(), prod_ip: "10.231.1.11".into() }
    }

    #[test]
    fn hosts_like_installer() {
        let h = pve_hosts(&params());
        assert!(h.starts_with("127.0.0.1 localhost.localdomain localhost\n10.231.10.11 pve-node1.lab.home.arpa pve-node1\n"));
    }

    #[test]
    fn interfaces_bridge_on_eth0() {
        let i = pve_interfaces(&params());
        assert!(i.contains("auto vmbr0\niface vmbr0 inet static\n\taddress 10.231.10.11/24\n\tgateway 10.231.10.1\n\tbridge-ports eth0\n"));
    }

    #[test]
    fn sshd_settings_go_after_include() {
        let t = "# comment\nInclude /etc/ssh/sshd_config.d/*.conf\n\n#PermitRootLogin prohibit-password\n#PasswordAuthentication yes\nUsePAM yes\n";
        let out = sshd_main_setting(t, &[("PermitRootLogin", "yes"), ("PasswordAuthentication", "yes")]);
        assert_eq!(out, "# comment\nInclude /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nPasswordAuthentication yes\n\nUsePAM yes\n");
    }

    #[test]
    fn storage_cfg_of_zfs_install() {
        assert_eq!(
            fresh_storage_cfg(),
            "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: local-zfs\n\tpool rpool/data\n\tcontent images,rootdir\n\tsparse 1\n\n"
        );
    }

    #[test]
    fn proxmoxlib_has_the_check() {
        assert!(PROXMOXLIB_JS.contains("res.data.status.toLowerCase() !== 'active'"));
        assert!(PROXMOXLIB_JS.contains("Ext.Msg.show({\n                            title: gettext('No valid subscription'),"));
    }
}
