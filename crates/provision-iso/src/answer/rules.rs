//! Stage 2 of validation: the semantic checks the installer and `validate-answer` run after
//! parsing (auto-install.md §3.2, §3.5), with the installer's messages.
//!
//! Each section is parsed on its own, so a mistake in `[global]` does not hide a RAID problem
//! in `[disk-setup]`: every rule whose section parses is checked, and all findings reported.

use common::inventory::SpanIndex;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

use super::check::render_item;
use super::model::*;
use super::{locale, net, Problem, Severity};

fn section<T: DeserializeOwned>(doc: &toml_edit::Table, key: &str) -> Option<T> {
    let item = doc.get(key)?;
    T::deserialize(toml::de::ValueDeserializer::new(&render_item(item))).ok()
}

struct Out<'a> {
    spans: &'a SpanIndex,
    doc: &'a toml_edit::Table,
    problems: Vec<Problem>,
}

impl Out<'_> {
    /// Report at the first of `paths` present in the file (kebab and snake spellings).
    fn err(&mut self, paths: &[&str], message: String, hint: Option<&str>) {
        self.add(Severity::Error, paths, message, hint);
    }
    fn warn(&mut self, paths: &[&str], message: String, hint: Option<&str>) {
        self.add(Severity::Warning, paths, message, hint);
    }
    fn add(&mut self, severity: Severity, paths: &[&str], message: String, hint: Option<&str>) {
        // The first spelling present in the file; else where its table starts.
        let (line, col) = paths
            .iter()
            .find_map(|p| position(self.doc, p).map(|o| self.spans.line_col(o)))
            .unwrap_or_else(|| paths.iter().map(|p| self.spans.locate(p)).max().unwrap_or((1, 1)));
        self.problems.push(Problem { line, col, severity, message, hint: hint.map(str::to_string) });
    }
}

/// Byte offset of the thing at `path` (`a.b`, `a.b[2]`): a plain value's own position, a
/// table's key (dotted and implicit tables have no span of their own).
fn position(doc: &toml_edit::Table, path: &str) -> Option<usize> {
    use toml_edit::{Item, TableLike};
    let mut table: &dyn TableLike = doc;
    let segs: Vec<&str> = path.split('.').collect();
    for (i, seg) in segs.iter().enumerate() {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (*seg, None),
        };
        let (key, item) = table.get_key_value(name)?;
        if i + 1 == segs.len() {
            if let Some(ix) = index {
                return item.as_array()?.get(ix)?.span().map(|s| s.start);
            }
            return match item {
                Item::Value(v) if v.as_inline_table().is_none() => v.span().or(key.span()).map(|s| s.start),
                _ => item.span().or(key.span()).map(|s| s.start),
            };
        }
        table = item.as_table_like()?;
    }
    None
}

/// Run every stage-2 rule whose section parses.
pub fn check_sections(doc: &toml_edit::Table, spans: &SpanIndex) -> Vec<Problem> {
    let mut out = Out { spans, doc, problems: Vec::new() };
    if let Some(disks) = section::<DiskSetup>(doc, "disk-setup") {
        check_disks(&disks, &mut out);
    }
    if let Some(net) = section::<NetworkConfig>(doc, "network") {
        check_network(&net, &mut out);
    }
    if let Some(global) = doc.get("global").and_then(|g| g.as_table_like()) {
        let g = GlobalLite::from_table(global);
        check_locale(&g, &mut out);
        check_mail_and_password(&g, &mut out);
    }
    if let Some(fb) = section::<FirstBootHookInfo>(doc, "first-boot") {
        if fb.source == FirstBootHookSourceMode::FromUrl && fb.url.is_none() {
            out.err(&["first-boot.source"], "first-boot executable source set to URL, but none specified!".into(),
                Some("add `url = \"https://…\"` to [first-boot], or use source = \"from-iso\""));
        }
    }
    if let Some(hook) = section::<PostNotificationHookInfo>(doc, "post-installation-webhook") {
        if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
            out.warn(&["post-installation-webhook.url"], format!("webhook url '{}' is not an http(s) URL", hook.url),
                Some("the installer POSTs JSON to this URL; e.g. http://192.168.10.2:8000/webhook"));
        }
    }
    out.problems
}

const DISK_LIST: &[&str] = &["disk-setup.disk-list", "disk-setup.disk_list"];

/// `DiskSetup::filesystem_details()`, `disk_selection()` and `verify_disks_settings` (§3.2
/// steps 1 and 4, 0.1.1 wording for RAID minimums).
fn check_disks(d: &DiskSetup, out: &mut Out) {
    let n = d.disk_list.len();
    match d.filesystem {
        Filesystem::Ext4 | Filesystem::Xfs => {
            if d.zfs.is_some() || d.btrfs.is_some() {
                let p = if d.zfs.is_some() { "disk-setup.zfs" } else { "disk-setup.btrfs" };
                out.err(&[p], "make sure only 'lvm' options are set".into(), Some("ext4 and xfs take only a [disk-setup.lvm] table"));
            }
            if n > 1 {
                out.err(DISK_LIST, "make sure to define only one disk for ext4 and xfs".into(),
                    Some("use zfs or btrfs with a RAID level for several disks"));
            }
        }
        Filesystem::Zfs => {
            if d.lvm.is_some() || d.btrfs.is_some() {
                let p = if d.lvm.is_some() { "disk-setup.lvm" } else { "disk-setup.btrfs" };
                out.err(&[p], "make sure only 'zfs' options are set".into(), None);
            }
            match d.zfs.and_then(|z| z.raid) {
                None => out.err(&["disk-setup.zfs", "disk-setup"], "ZFS raid level 'zfs.raid' must be set".into(),
                    Some("e.g. `zfs.raid = \"raid1\"` in [disk-setup]")),
                Some(level) => raid_counts("ZFS", level.as_str(), level.min_disks(), level == ZfsRaidLevel::Raid10, n, out),
            }
        }
        Filesystem::Btrfs => {
            if d.zfs.is_some() || d.lvm.is_some() {
                let p = if d.zfs.is_some() { "disk-setup.zfs" } else { "disk-setup.lvm" };
                out.err(&[p], "make sure only 'btrfs' options are set".into(), None);
            }
            match d.btrfs.and_then(|b| b.raid) {
                None => out.err(&["disk-setup.btrfs", "disk-setup"], "Btrfs raid level 'btrfs.raid' must be set".into(),
                    Some("e.g. `btrfs.raid = \"raid1\"` in [disk-setup]")),
                Some(level) => raid_counts("Btrfs", level.as_str(), level.min_disks(), level == BtrfsRaidLevel::Raid10, n, out),
            }
        }
    }
    if d.disk_list.is_empty() && d.filter.is_empty() {
        out.err(&["disk-setup"], "Need either 'disk-list' or 'filter' set".into(), Some("e.g. `disk-list = [\"sda\"]`"));
    }
    if !d.disk_list.is_empty() && !d.filter.is_empty() {
        out.err(&["disk-setup.filter"], "Cannot use both, 'disk-list' and 'filter'".into(), None);
    }
    for (i, disk) in d.disk_list.iter().enumerate() {
        if d.disk_list[..i].contains(disk) {
            let p1 = format!("disk-setup.disk-list[{i}]");
            let p2 = format!("disk-setup.disk_list[{i}]");
            out.err(&[&p1, &p2], format!("List of disks contains duplicate device {disk}"), None);
        }
    }
    if matches!(d.filesystem, Filesystem::Ext4 | Filesystem::Xfs) {
        if let Some(LvmOptions { swapsize: Some(swap), hdsize: Some(hd), .. }) = d.lvm {
            let half = hd / 2.0;
            if swap > half {
                out.err(&["disk-setup.lvm.swapsize"],
                    format!("Swap size {swap} GiB cannot be greater than {half} GiB (hard disk size / 2)"), None);
            }
        }
    }
    check_globs(&d.filter, "disk-setup.filter", out);
}

/// RAID minimum disks (0.1.1 wording) and the even-count rule for RAID10; only an explicit
/// `disk-list` is counted — filters are resolved at install time (§2.6).
fn raid_counts(fs: &str, level: &str, min: usize, even: bool, n: usize, out: &mut Out) {
    if n == 0 {
        return;
    }
    if n < min {
        out.err(DISK_LIST, format!("{fs} {level} needs at least {min} disks, got {n}"), None);
    } else if even && n % 2 == 1 {
        // Exact installer wording unknown (auto-install.md §0); the rule itself is documented.
        out.err(DISK_LIST, format!("{fs} {level} needs an even number of disks, got {n}"), None);
    }
}

/// Filter values are `glob::Pattern`s; a broken one fails the install (§3.3).
fn check_globs(filter: &BTreeMap<String, String>, path: &str, out: &mut Out) {
    for (k, v) in filter {
        if let Err(e) = glob::Pattern::new(v) {
            let p = format!("{path}.{k}");
            out.err(&[&p], format!("invalid glob in disk selection: {e}"), Some("globs support `*`, `?`, `[abc]`, `[a-z]`, `[!x]`"));
        }
    }
}

/// `verify_network_settings` / `NetworkInterfacePinningOptions::verify` (§2.5) and the
/// install-time filter rules (§2.4).
fn check_network(n: &NetworkConfig, out: &mut Out) {
    if let NetworkConfig::FromAnswer(a) = n {
        if a.filter.is_empty() {
            out.err(&["network"], "no filter defined".into(),
                Some("the installer fails with this at install time (validate-answer does not catch it): add e.g. `filter.ID_NET_NAME_MAC = \"*aabbccddeeff\"`"));
        }
        check_globs(&a.filter, "network.filter", out);
    }
    let Some(p) = n.pinning() else { return };
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (mac_raw, name) in &p.mapping {
        let mac = mac_raw.to_lowercase();
        let path = format!("network.interface-name-pinning.mapping.{mac_raw}");
        let msg = if name.len() < 2 {
            Some(format!("interface name for '{mac}' must be at least 2 characters long"))
        } else if name.len() > 15 {
            Some(format!("interface name '{name}' for '{mac}' cannot be longer than 15 characters"))
        } else if !ifname_ok(name) {
            Some(format!("interface name '{name}' for '{mac}' is invalid: name must start with a letter and contain only ascii characters, digits and underscores"))
        } else {
            seen.get(name)
                .filter(|o| **o != mac)
                .map(|other| format!("duplicate interface name mapping '{name}' for: {mac}, {other}"))
        };
        if let Some(m) = msg {
            out.err(&[&path], m, None);
        }
        seen.insert(name.clone(), mac);
    }
    if !p.enabled {
        out.warn(&["network.interface-name-pinning.enabled"],
            "interface-name-pinning with enabled = false still pins (nicN names) in installer 9.2".into(),
            Some("to disable pinning, remove the table entirely (auto-install.md §2.5)"));
    }
}

/// `^[a-z][a-z0-9_]{1,20}([:\.]\d+)?$`, case-insensitive (the `pve-iface` schema).
fn ifname_ok(name: &str) -> bool {
    let (base, suffix) = match name.find([':', '.']) {
        Some(i) => (&name[..i], Some(&name[i + 1..])),
        None => (name, None),
    };
    let b = base.as_bytes();
    let base_ok = (2..=21).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    let suffix_ok = suffix.is_none_or(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()));
    base_ok && suffix_ok
}

/// A value of `[global]` read on its own, so these rules still run when another key of the
/// section is broken (every problem is reported, not only the first).
#[derive(Debug, Clone, PartialEq)]
enum V {
    Absent,
    Str(String),
    /// Present but not a string: its type error is already reported; skip rules needing it.
    Bad,
}

struct GlobalLite {
    country: V,
    timezone: V,
    mailto: V,
    root_password: V,
    root_password_hashed: V,
}

impl GlobalLite {
    fn from_table(t: &dyn toml_edit::TableLike) -> Self {
        let get = |names: &[&str]| -> V {
            match names.iter().find_map(|n| t.get(n)) {
                None => V::Absent,
                Some(item) => item.as_str().map(|s| V::Str(s.to_string())).unwrap_or(V::Bad),
            }
        };
        GlobalLite {
            country: get(&["country"]),
            timezone: get(&["timezone"]),
            mailto: get(&["mailto"]),
            root_password: get(&["root-password", "root_password"]),
            root_password_hashed: get(&["root-password-hashed", "root_password_hashed"]),
        }
    }
}

/// `verify_locale_settings` (§3.2 step 3). The keyboard is an enum, already checked by parsing.
fn check_locale(g: &GlobalLite, out: &mut Out) {
    if let V::Str(country) = &g.country {
        if !locale::country_is_valid(country) {
        out.err(&["global.country"], format!("country code '{country}' is not valid"),
            Some("lower-case ISO 3166-1 alpha-2, e.g. \"at\", \"de\", \"us\""));
        }
    }
    if let V::Str(tz) = &g.timezone {
        if !locale::timezone_is_valid(tz) {
            out.err(&["global.timezone"], format!("timezone '{tz}' is not valid"),
                Some("a tz database name such as \"Europe/Vienna\", or \"UTC\""));
        }
    }
}

/// `verify_email_and_root_password_settings` (§3.2 step 5). The installer's outer message for
/// a bad address is just the address; we add its cause after a colon (anyhow's `{:#}`).
fn check_mail_and_password(g: &GlobalLite, out: &mut Out) {
    if let V::Str(mailto) = &g.mailto {
        if mailto == "mail@example.invalid" {
            out.err(&["global.mailto"], format!("{mailto}: Invalid (default) email address"), None);
        } else if !net::email_looks_valid(mailto) {
            out.err(&["global.mailto"], format!("{mailto}: Email does not look like a valid address (user@domain.tld)"), None);
        }
    }
    let plain = &["global.root-password", "global.root_password"];
    match (&g.root_password, &g.root_password_hashed) {
        (V::Bad, _) | (_, V::Bad) => {}
        (V::Str(_), V::Str(_)) => out.err(plain,
            "`global.root-password` and `global.root-password-hashed` cannot be set at the same time".into(), None),
        (V::Absent, V::Absent) => out.err(&["global"],
            "One of `global.root-password` or `global.root-password-hashed` must be set".into(),
            Some("prefer root-password-hashed (e.g. `mkpasswd -m sha-512`); `provision-iso answer` writes it for you")),
        (V::Str(p), V::Absent) if p.len() < 8 => out.err(plain, "`global.root-password` must be at least 8 characters long".into(), None),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ifname_regex() {
        for ok in ["mgmt", "eth0", "nic_1", "vmbr0.100", "a1", "lan:1"] {
            assert!(super::ifname_ok(ok), "{ok}");
        }
        for bad in ["1eth", "a", "eth-0", "eth0.", "eth0.x", "é0"] {
            assert!(!super::ifname_ok(bad), "{bad}");
        }
    }
}
