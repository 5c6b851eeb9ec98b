//! Rules for `[cluster]`, `[automation]` and `[defaults]`.

use super::{Ctx, Seen};
use crate::inventory::names;
use crate::inventory::pubkey::PublicKey;

pub(super) fn check(cx: &mut Ctx) {
    cluster(cx);
    automation(cx);
    defaults(cx);
}

fn cluster(cx: &mut Ctx) {
    let c = &cx.inv.cluster;
    if let Err(e) = names::check_cluster_name(&c.name) {
        cx.err(
            "cluster.name",
            format!("cluster.name {e} (e.g. homelab); choose with care, it cannot be changed after `pvecm create`"),
        );
    }
    if let Err(e) = names::check_dns_name(&c.domain) {
        cx.err("cluster.domain", format!("cluster.domain {e}; give the DNS domain of the nodes, e.g. home.arpa"));
    } else if c.domain.len() > 190 {
        cx.err("cluster.domain", "cluster.domain is too long: node FQDNs (name.domain) must stay within 253 characters");
    }
}

/// What makes two `automation.keys` entries the same (comments and GitHub login case aside).
#[derive(PartialEq)]
enum KeyId {
    Key(String, String),
    GitHub(String),
}

fn automation(cx: &mut Ctx) {
    let a = &cx.inv.automation;
    if let Err(e) = names::check_automation_user(&a.user) {
        cx.err("automation.user", format!("automation.user {e}"));
    }
    if a.keys.is_empty() {
        cx.err(
            "automation.keys",
            "automation.keys is empty; add at least one public key (the line from ~/.ssh/id_ed25519.pub) or `github:USER` — without one nobody can log in after password login is disabled",
        );
    }
    let mut seen = Seen::new();
    for (i, k) in a.keys.iter().enumerate() {
        let path = format!("automation.keys[{i}]");
        let id = if let Some(user) = k.strip_prefix("github:") {
            if let Err(e) = names::check_github_user(user) {
                cx.err(&path, format!("`{k}`: {e}; write github:USER with your GitHub login"));
                continue;
            }
            KeyId::GitHub(user.to_ascii_lowercase())
        } else {
            match PublicKey::parse(k) {
                Ok(pk) => KeyId::Key(pk.kind, pk.data),
                Err(e) => {
                    let hint = if k.contains(':') && !k.contains(' ') {
                        " (key sources are `github:USER`)"
                    } else {
                        ""
                    };
                    cx.err(&path, format!("automation.keys entry is not a public key: {e}{hint}"));
                    continue;
                }
            }
        };
        if let Some(first) = seen.first_path(id, &path) {
            let line = cx.line(&first);
            cx.err(&path, format!("this key source repeats {first} (line {line}); remove the duplicate"));
        }
    }
    if let Some(p) = &a.identity_file {
        if p.as_os_str().is_empty() {
            cx.err("automation.identity_file", "automation.identity_file is empty; give the private key's path or remove the key to use the SSH agent");
        } else if p.extension().is_some_and(|e| e == "pub") {
            cx.err("automation.identity_file", "automation.identity_file names a .pub file; give the private key (the same path without .pub)");
        }
    }
    if let Some(p) = &a.known_hosts {
        if p.as_os_str().is_empty() {
            cx.err("automation.known_hosts", "automation.known_hosts is empty; give a path or remove it (default: known_hosts beside the inventory)");
        }
    }
    if a.ssh_port == 0 {
        cx.err("automation.ssh_port", "automation.ssh_port must be 1..=65535 (sshd's port, normally 22)");
    }
    if !(1..=300).contains(&a.connect_timeout_secs) {
        cx.err(
            "automation.connect_timeout_secs",
            format!("automation.connect_timeout_secs = {} must be 1..=300 seconds (default 10)", a.connect_timeout_secs),
        );
    }
}

/// Keyboard layouts the Proxmox installer accepts (auto-install.md §2.9).
const KEYBOARDS: &[&str] = &[
    "de", "de-ch", "dk", "en-gb", "en-us", "es", "fi", "fr", "fr-be", "fr-ca", "fr-ch", "hu", "is", "it", "jp", "lt",
    "mk", "nl", "no", "pl", "pt", "pt-br", "se", "si", "tr",
];

fn defaults(cx: &mut Ctx) {
    let d = &cx.inv.defaults;
    if let Err(e) = names::check_timezone(&d.timezone) {
        cx.err("defaults.timezone", format!("defaults.timezone {e}"));
    }
    let mut seen = Seen::new();
    for (i, s) in d.ntp_servers.iter().enumerate() {
        let path = format!("defaults.ntp_servers[{i}]");
        if let Err(e) = names::check_host_or_ip(s) {
            cx.err(&path, format!("NTP server `{s}` {e}; write a host name like 0.debian.pool.ntp.org or an IP address"));
        } else if let Some(first) = seen.first_path(s.to_ascii_lowercase(), &path) {
            let line = cx.line(&first);
            cx.err(&path, format!("NTP server `{s}` is listed twice (first on line {line}); remove one"));
        }
    }
    for (i, p) in d.packages.iter().enumerate() {
        if let Err(e) = names::check_package_name(p) {
            cx.err(&format!("defaults.packages[{i}]"), e);
        }
    }
    if !matches!(d.debian_suite.as_str(), "trixie" | "bookworm") {
        cx.err(
            "defaults.debian_suite",
            format!("defaults.debian_suite `{}` is not a Proxmox base: use `trixie` (PVE 9) or `bookworm` (PVE 8)", d.debian_suite),
        );
    }
    if !KEYBOARDS.contains(&d.keyboard.as_str()) {
        cx.err(
            "defaults.keyboard",
            format!("defaults.keyboard `{}` is not a layout the Proxmox installer knows; use one of {}", d.keyboard, KEYBOARDS.join(", ")),
        );
    }
    if !(d.country.len() == 2 && d.country.chars().all(|c| c.is_ascii_lowercase())) {
        cx.err(
            "defaults.country",
            format!("defaults.country `{}` must be a lower-case two-letter country code (ISO 3166), e.g. au", d.country),
        );
    }
    if let Err(e) = check_mail(&d.mailto) {
        cx.err("defaults.mailto", format!("defaults.mailto {e}"));
    }
    if d.ssh_max_auth_tries == 0 {
        cx.err("defaults.ssh_max_auth_tries", "defaults.ssh_max_auth_tries must be at least 1 (sshd MaxAuthTries; default 3)");
    }
}

/// Mail address shape the installer accepts: `local@domain.tld`, not the placeholder
/// `mail@example.invalid` (auto-install.md §3.2).
fn check_mail(m: &str) -> Result<(), String> {
    let bad = || format!("`{m}` is not a mail address; write user@domain.tld (the installer requires one)");
    let (local, domain) = m.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.chars().any(|c| c.is_whitespace() || c == '@') || !domain.contains('.') {
        return Err(bad());
    }
    names::check_dns_name(domain).map_err(|_| bad())?;
    if m == "mail@example.invalid" {
        return Err("is the installer's placeholder `mail@example.invalid`; give a real address".into());
    }
    Ok(())
}
