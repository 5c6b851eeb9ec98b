//! Per-node `answer.toml` from the inventory, in the current kebab-case schema (auto-install.md §2).
//!
//! The output is hand-laid TOML (stable key order, one section per table, comments on top) so
//! that golden files are readable and a re-run only changes what the inventory changed. The
//! root password goes in only as a SHA-512 crypt hash; since every hash has a fresh salt, an
//! existing file whose hash still verifies keeps its hash (idempotent `answer`, §2.2).

use anyhow::{bail, Context, Result};
use common::inventory::{Filesystem, InstallNetwork, LoadedInventory, Node};
use common::secret::Secret;

use crate::answer::{self, locale, net};

/// Where the installer gets the first-boot executable (§2.8, §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FirstBootSource {
    /// `/proxmox-first-boot` embedded by `prepare` (works in iso and http mode).
    Iso,
    /// Downloaded from the answer server: `<install.answer_url>/first-boot`.
    Url,
}

/// Secrets and resolved keys needed to render answers (resolved once, used for every node).
pub struct AnswerInputs {
    pub root_password: Secret,
    /// Sent back by the installer as the webhook's `token` (§2.7, §6.5).
    pub webhook_token: Option<Secret>,
    pub root_ssh_keys: Vec<String>,
    pub first_boot: FirstBootSource,
}

impl AnswerInputs {
    /// Resolve `install.root_password`, `install.token` and the automation keys.
    pub fn resolve(loaded: &LoadedInventory, first_boot: FirstBootSource) -> Result<Self> {
        let base = loaded.base_dir();
        let install = &loaded.inv.install;
        let Some(pw_ref) = &install.root_password else {
            bail!(
                "{}",
                loaded.error_at(
                    "install",
                    "install.root_password is not set: name the secret, e.g. `root_password = { env = \"PROXMOX_ROOT_PASSWORD\" }` in [install]"
                )
            );
        };
        let root_password = pw_ref
            .resolve(&base)
            .map_err(|e| anyhow::anyhow!("{}", loaded.error_at("install.root_password", format!("{e:#}"))))?;
        if root_password.expose().len() < 8 {
            bail!(
                "{}",
                loaded.error_at(
                    "install.root_password",
                    format!("the root password from {} is shorter than 8 bytes (the installer's minimum)", pw_ref.describe())
                )
            );
        }
        let webhook_token = match &install.token {
            Some(t) => Some(t.resolve(&base).map_err(|e| anyhow::anyhow!("{}", loaded.error_at("install.token", format!("{e:#}"))))?),
            None => None,
        };
        Ok(AnswerInputs { root_password, webhook_token, root_ssh_keys: resolve_keys(loaded)?, first_boot })
    }
}

/// The automation keys as OpenSSH lines (literal keys and `github:USER` sources, resolved and
/// cached by `common::inventory::keys`).
pub fn resolve_keys(loaded: &LoadedInventory) -> Result<Vec<String>> {
    let keys: Vec<String> = common::inventory::keys::resolve_keys(loaded)?.iter().map(|k| k.to_line()).collect();
    if keys.is_empty() {
        bail!("{}", loaded.error_at("automation.keys", "no automation keys: the first contact would need a password; add your public key"));
    }
    Ok(keys)
}

/// A TOML basic string literal.
fn q(s: &str) -> String {
    toml_edit::Value::from(s).to_string()
}

fn node_index(loaded: &LoadedInventory, node: &Node) -> usize {
    loaded.inv.nodes.iter().position(|n| n.name == node.name).unwrap_or(0)
}

/// The root password hash to write: the existing one when it still verifies, else a new one.
pub fn root_hash(inputs: &AnswerInputs, existing_answer: Option<&str>) -> Result<String> {
    if let Some(old) = existing_answer.and_then(existing_hash) {
        if crate::crypt::verify(inputs.root_password.expose(), &old) {
            return Ok(old);
        }
    }
    crate::crypt::sha512_crypt(inputs.root_password.expose())
}

/// `global.root-password-hashed` of an answer file, if any.
pub fn existing_hash(text: &str) -> Option<String> {
    let t: toml::Table = toml::from_str(text).ok()?;
    let g = t.get("global")?.as_table()?;
    g.get("root-password-hashed").or_else(|| g.get("root_password_hashed"))?.as_str().map(str::to_string)
}

/// Render and validate the answer file of `node`.
pub fn render_answer(loaded: &LoadedInventory, node: &Node, inputs: &AnswerInputs, root_hash: &str) -> Result<String> {
    let inv = &loaded.inv;
    let idx = node_index(loaded, node);
    let at = |path: &str, msg: String| anyhow::anyhow!("{}", loaded.error_at(path, msg));
    let d = &inv.defaults;

    // Locale values come from [defaults]; check them here so errors point at the inventory.
    if !keyboard_valid(&d.keyboard) {
        return Err(at("defaults.keyboard", format!("keyboard layout '{}' is not valid: use one of de, de-ch, dk, en-gb, en-us, es, fi, fr, fr-be, fr-ca, fr-ch, hu, is, it, jp, lt, mk, nl, no, pl, pt, pt-br, se, si, tr", d.keyboard)));
    }
    if !locale::country_is_valid(&d.country) {
        return Err(at("defaults.country", format!("country code '{}' is not valid: lower-case ISO 3166-1 alpha-2, e.g. \"de\"", d.country)));
    }
    if !locale::timezone_is_valid(&d.timezone) {
        return Err(at("defaults.timezone", format!("timezone '{}' is not valid: e.g. \"Europe/Vienna\" or \"UTC\"", d.timezone)));
    }
    if !net::email_looks_valid(&d.mailto) {
        return Err(at("defaults.mailto", format!("'{}' does not look like a mail address (user@domain.tld)", d.mailto)));
    }
    let fqdn = inv.fqdn(&node.name);
    if let Some(p) = net::fqdn_problem(&fqdn) {
        return Err(at(&format!("nodes[{idx}].name"), format!("the node's FQDN is not valid: {p}")));
    }

    let mut s = String::new();
    s.push_str(&format!(
        "# Proxmox VE answer file for {}, generated by provision-iso from the inventory.\n\
         # Do not edit: change the inventory and run `provision-iso answer` again.\n\
         # Schema: current kebab-case answer format (installer 9.x).\n\n",
        node.name,
    ));

    s.push_str("[global]\n");
    s.push_str(&format!("keyboard = {}\n", q(&d.keyboard)));
    s.push_str(&format!("country = {}\n", q(&d.country)));
    s.push_str(&format!("timezone = {}\n", q(&d.timezone)));
    s.push_str(&format!("fqdn = {}\n", q(&fqdn)));
    s.push_str(&format!("mailto = {}\n", q(&d.mailto)));
    s.push_str(&format!("root-password-hashed = {}\n", q(root_hash)));
    s.push_str("root-ssh-keys = [\n");
    for k in &inputs.root_ssh_keys {
        s.push_str(&format!("    {},\n", q(k)));
    }
    s.push_str("]\n");
    s.push_str("reboot-on-error = false\n\n");

    s.push_str("[network]\n");
    match inv.install.network {
        InstallNetwork::Dhcp => s.push_str("source = \"from-dhcp\"\n\n"),
        InstallNetwork::Static => {
            let mgmt = &inv.networks.mgmt;
            let prefix = mgmt
                .cidr
                .split_once('/')
                .and_then(|(_, p)| p.parse::<u8>().ok())
                .ok_or_else(|| at("networks.mgmt.cidr", format!("'{}' is not ADDRESS/PREFIX", mgmt.cidr)))?;
            let cidr = format!("{}/{}", node.link0, prefix);
            cidr.parse::<net::Cidr>().map_err(|e| at(&format!("nodes[{idx}].link0"), format!("'{cidr}': {e}")))?;
            let gateway = mgmt.gateway.as_deref().ok_or_else(|| {
                at("networks.mgmt", "install.network = \"static\" needs networks.mgmt.gateway (the installer requires one)".into())
            })?;
            let dns = mgmt.dns.first().ok_or_else(|| {
                at("networks.mgmt", "install.network = \"static\" needs networks.mgmt.dns (at least one server)".into())
            })?;
            s.push_str("source = \"from-answer\"\n");
            s.push_str(&format!("cidr = {}\n", q(&cidr)));
            s.push_str(&format!("gateway = {}\n", q(gateway)));
            s.push_str(&format!("dns = {}\n", q(dns)));
            // The management NIC is picked by udev property (§3.3): by MAC where we know it.
            if let Some(mac) = &node.mgmt_mac {
                let hex: String = mac.chars().filter(|c| c.is_ascii_hexdigit()).collect::<String>().to_lowercase();
                if hex.len() != 12 {
                    return Err(at(&format!("nodes[{idx}].mgmt_mac"), format!("'{mac}' is not a MAC address")));
                }
                s.push_str(&format!("filter.ID_NET_NAME_MAC = {}\n\n", q(&format!("*{hex}"))));
            } else if let Some(nic) = &node.mgmt_nic {
                s.push_str(&format!("filter.ID_NET_NAME = {}\n\n", q(nic)));
            } else {
                return Err(at(
                    &format!("nodes[{idx}]"),
                    "install.network = \"static\" needs mgmt_mac (or mgmt_nic) to pick the management NIC".into(),
                ));
            }
        }
    }

    s.push_str("[disk-setup]\n");
    s.push_str(&disk_setup(node, idx, &at)?);
    s.push('\n');

    let ordering = inv.install.first_boot_ordering.as_deref().unwrap_or("fully-up");
    if !["before-network", "network-online", "fully-up"].contains(&ordering) {
        return Err(at("install.first_boot_ordering", format!("'{ordering}': use before-network, network-online or fully-up")));
    }
    s.push_str("[first-boot]\n");
    match inputs.first_boot {
        FirstBootSource::Iso => s.push_str("source = \"from-iso\"\n"),
        FirstBootSource::Url => {
            let base = inv.install.answer_url.as_deref().ok_or_else(|| {
                at("install", "first-boot from url needs install.answer_url (the answer server serves /first-boot)".into())
            })?;
            s.push_str("source = \"from-url\"\n");
            s.push_str(&format!("url = {}\n", q(&format!("{}/first-boot", base.trim_end_matches('/')))));
        }
    }
    s.push_str(&format!("ordering = {}\n", q(ordering)));

    if let Some(base) = &inv.install.answer_url {
        s.push_str("\n[post-installation-webhook]\n");
        s.push_str(&format!("url = {}\n", q(&format!("{}/webhook", base.trim_end_matches('/')))));
        if let Some(t) = &inputs.webhook_token {
            s.push_str(&format!("auth-token = {}\n", q(t.expose())));
        }
    }

    let report = answer::validate_str(&s);
    if !report.is_valid() {
        let errs: Vec<String> = report.errors().map(|p| p.to_string()).collect();
        bail!("the generated answer for {} does not validate (a bug, or an inventory value the installer rejects):\n{}", node.name, common::secret::redact(&errs.join("\n")));
    }
    Ok(s)
}

fn keyboard_valid(k: &str) -> bool {
    <answer::model::KeyboardLayout as serde::Deserialize>::deserialize(toml::de::ValueDeserializer::new(&q(k))).is_ok()
}

fn disk_setup(node: &Node, idx: usize, at: &dyn Fn(&str, String) -> anyhow::Error) -> Result<String> {
    let disks = &node.install_disks;
    let here = format!("nodes[{idx}].install_disks");
    if disks.is_empty() {
        return Err(at(&format!("nodes[{idx}]"), "install_disks is empty: list the install disk(s), e.g. install_disks = [\"sda\"]".into()));
    }
    let list = format!("[{}]", disks.iter().map(|d| q(d)).collect::<Vec<_>>().join(", "));
    let mut s = format!("filesystem = {}\ndisk-list = {list}\n", q(node.filesystem.as_str()));
    let raid_path = format!("nodes[{idx}].raid");
    match node.filesystem {
        Filesystem::Ext4 | Filesystem::Xfs => {
            if disks.len() > 1 {
                return Err(at(&here, format!("{} installs on exactly one disk; use zfs or btrfs with a RAID level for several", node.filesystem.as_str())));
            }
            if node.raid.is_some() {
                return Err(at(&raid_path, format!("raid is only for zfs and btrfs, not {}", node.filesystem.as_str())));
            }
        }
        Filesystem::Zfs | Filesystem::Btrfs => {
            let raid = node.raid.as_deref().unwrap_or("raid0");
            let (levels, min): (&[&str], usize) = if node.filesystem == Filesystem::Zfs {
                let levels: &[&str] = &["raid0", "raid1", "raid10", "raidz-1", "raidz-2", "raidz-3"];
                let min = match raid { "raid0" => 1, "raid1" => 2, "raid10" => 4, "raidz-1" => 3, "raidz-2" => 4, _ => 5 };
                (levels, min)
            } else {
                let min = match raid { "raid0" => 1, "raid1" => 2, _ => 4 };
                (&["raid0", "raid1", "raid10"], min)
            };
            if !levels.contains(&raid) {
                return Err(at(&raid_path, format!("'{raid}' is not a {} RAID level: use one of {}", node.filesystem.as_str(), levels.join(", "))));
            }
            if disks.len() < min {
                return Err(at(&here, format!("{raid} needs at least {min} disks, got {}", disks.len())));
            }
            if raid == "raid10" && disks.len() % 2 == 1 {
                return Err(at(&here, format!("raid10 needs an even number of disks, got {}", disks.len())));
            }
            s.push_str(&format!("{}.raid = {}\n", node.filesystem.as_str(), q(raid)));
        }
    }
    Ok(s)
}

/// `answer` idempotency helper: the lines of an answer that may be shown (hash and token hidden).
pub fn redact_answer(text: &str) -> String {
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("root-password-hashed") || t.starts_with("auth-token") || t.starts_with("root-password") {
                format!("{} = \"<redacted>\"", t.split('=').next().unwrap_or("").trim())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if text.ends_with('\n') { "\n" } else { "" }
}

/// Read a file if it exists (None when missing).
pub fn read_existing(path: &std::path::Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
