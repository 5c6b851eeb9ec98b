//! APT repositories of a Proxmox node, written *before* the first `apt-get update`
//! (layouts: pve-cli.md §8).
//!
//! * `pve-enterprise.sources` and the Ceph enterprise stanza are disabled with `Enabled: no`
//!   (the admin guide's spelling; the GUI's `Enabled: false` counts as disabled too) and the
//!   files are kept, so the GUI's repository view shows them as switched off — the same end
//!   state as clicking "Disable".
//! * `proxmox.sources` is ours entirely: the no-subscription (or test) stanza for the suite.
//! * `ceph.sources`: enterprise stanzas disabled, our no-subscription stanza present (what the
//!   GUI's "Add → No-Subscription" leaves in the same file).
//! * Pre-PVE-9 one-line `.list` files (`pve-enterprise.list`, `ceph.list`) get their
//!   enterprise lines commented out, for nodes still on bookworm.

use common::inventory::{Defaults, Repository};

pub const SOURCES_DIR: &str = "/etc/apt/sources.list.d";
pub const KEYRING: &str = "/usr/share/keyrings/proxmox-archive-keyring.gpg";
const ENTERPRISE_HOST: &str = "enterprise.proxmox.com";

/// One deb822 stanza, kept as its raw lines (comments and continuation lines included) so
/// that rewriting a file changes only what we mean to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza {
    pub lines: Vec<String>,
}

impl Stanza {
    pub fn from_fields(fields: &[(&str, &str)]) -> Stanza {
        Stanza { lines: fields.iter().map(|(k, v)| format!("{k}: {v}")).collect() }
    }

    /// Value of a field (case-insensitive name, continuation lines joined by a space).
    pub fn field(&self, name: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for l in &self.lines {
            if l.starts_with('#') {
                continue;
            }
            if l.starts_with(' ') || l.starts_with('\t') {
                if let Some(v) = out.as_mut() {
                    v.push(' ');
                    v.push_str(l.trim());
                }
                continue;
            }
            if out.is_some() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.trim().eq_ignore_ascii_case(name) {
                    out = Some(v.trim().to_string());
                }
            }
        }
        out
    }

    /// `Enabled: no|false` switches a stanza off; absent means enabled.
    pub fn enabled(&self) -> bool {
        !matches!(self.field("Enabled").map(|v| v.to_ascii_lowercase()).as_deref(), Some("no" | "false"))
    }

    fn without_field(&self, name: &str) -> Stanza {
        let mut lines = Vec::new();
        let mut skipping = false;
        for l in &self.lines {
            let cont = l.starts_with(' ') || l.starts_with('\t');
            if cont && skipping {
                continue;
            }
            skipping = !l.starts_with('#')
                && !cont
                && l.split_once(':').is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case(name));
            if !skipping {
                lines.push(l.clone());
            }
        }
        Stanza { lines }
    }

    /// This stanza switched off: `Enabled: no` as its first field.
    pub fn disabled(&self) -> Stanza {
        let mut s = self.without_field("Enabled");
        let at = s.lines.iter().position(|l| !l.starts_with('#')).unwrap_or(s.lines.len());
        s.lines.insert(at, "Enabled: no".into());
        s
    }

    fn uris_contain(&self, needle: &str) -> bool {
        self.field("URIs").is_some_and(|u| u.contains(needle))
    }

    /// Same repository (URIs, suites, components), whatever its other fields say.
    fn same_repo(&self, other: &Stanza) -> bool {
        let norm = |s: &Stanza, f: &str| {
            s.field(f).unwrap_or_default().split_whitespace().map(|x| x.trim_end_matches('/').to_string()).collect::<Vec<_>>()
        };
        ["URIs", "Suites", "Components"].iter().all(|f| norm(self, f) == norm(other, f))
    }
}

/// Split a deb822 file into stanzas (blank-line separated). Comment-only paragraphs are kept
/// as stanzas without fields.
pub fn parse(text: &str) -> Vec<Stanza> {
    let mut out = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    for l in text.lines() {
        if l.trim().is_empty() {
            if !cur.is_empty() {
                out.push(Stanza { lines: std::mem::take(&mut cur) });
            }
        } else {
            cur.push(l.to_string());
        }
    }
    if !cur.is_empty() {
        out.push(Stanza { lines: cur });
    }
    out
}

pub fn render(stanzas: &[Stanza]) -> String {
    stanzas.iter().map(|s| s.lines.join("\n") + "\n").collect::<Vec<_>>().join("\n")
}

/// Every enabled stanza pointing at enterprise.proxmox.com switched off.
pub fn disable_enterprise(text: &str) -> String {
    let needs = |s: &Stanza| s.uris_contain(ENTERPRISE_HOST) && s.enabled();
    if !parse(text).iter().any(needs) {
        return text.to_string(); // nothing to switch off: keep the file byte for byte
    }
    let stanzas: Vec<Stanza> = parse(text)
        .into_iter()
        .map(|s| if s.uris_contain(ENTERPRISE_HOST) && s.enabled() { s.disabled() } else { s })
        .collect();
    render(&stanzas)
}

/// `text` with `wanted` present and enabled (replacing a stanza for the same repository,
/// else appended).
pub fn ensure_stanza(text: &str, wanted: &Stanza) -> String {
    let mut stanzas = parse(text);
    match stanzas.iter().position(|s| s.same_repo(wanted)) {
        Some(i) if stanzas[i] == *wanted => return text.to_string(),
        Some(i) => stanzas[i] = wanted.clone(),
        None => stanzas.push(wanted.clone()),
    }
    render(&stanzas)
}

/// One-line `.list` format: enterprise `deb` lines commented out.
pub fn disable_enterprise_list(text: &str) -> String {
    let mut out = String::new();
    for l in text.lines() {
        let t = l.trim_start();
        if (t.starts_with("deb ") || t.starts_with("deb-src ")) && t.contains(ENTERPRISE_HOST) {
            out.push_str("# disabled by homelab-iac (no subscription): ");
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The Proxmox VE stanza for the inventory's repository choice (None for `enterprise`: the
/// shipped enterprise file is then left as it is).
pub fn pve_stanza(d: &Defaults) -> Option<Stanza> {
    let component = match d.repository {
        Repository::NoSubscription => "pve-no-subscription",
        Repository::Test => "pve-test",
        Repository::Enterprise => return None,
    };
    Some(Stanza::from_fields(&[
        ("Types", "deb"),
        ("URIs", "http://download.proxmox.com/debian/pve"),
        ("Suites", &d.debian_suite),
        ("Components", component),
        ("Signed-By", KEYRING),
    ]))
}

/// The Ceph Squid stanza matching the repository choice (pve-cli.md §8: `ceph-squid`,
/// components `no-subscription` / `test`).
pub fn ceph_stanza(d: &Defaults) -> Option<Stanza> {
    let component = match d.repository {
        Repository::NoSubscription => "no-subscription",
        Repository::Test => "test",
        Repository::Enterprise => return None,
    };
    Some(Stanza::from_fields(&[
        ("Types", "deb"),
        ("URIs", "http://download.proxmox.com/debian/ceph-squid"),
        ("Suites", &d.debian_suite),
        ("Components", component),
        ("Signed-By", KEYRING),
    ]))
}

/// How a sources file should change, as a pure edit of its current text (`None` = absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcesEdit {
    /// Disable enterprise stanzas if the file exists; an absent file is fine.
    DisableEnterprise,
    /// Comment out enterprise lines of a one-line `.list` file if it exists.
    DisableEnterpriseList,
    /// Whole file is ours.
    Exactly(String),
    /// Enterprise stanzas disabled and this stanza present; created when absent.
    DisableEnterpriseAndEnsure(Stanza),
}

impl SourcesEdit {
    /// Desired content, or `None` when the file should stay absent.
    pub fn apply(&self, current: Option<&str>) -> Option<String> {
        match (self, current) {
            (SourcesEdit::DisableEnterprise, Some(c)) => Some(disable_enterprise(c)),
            (SourcesEdit::DisableEnterpriseList, Some(c)) => Some(disable_enterprise_list(c)),
            (SourcesEdit::DisableEnterprise | SourcesEdit::DisableEnterpriseList, None) => None,
            (SourcesEdit::Exactly(t), _) => Some(t.clone()),
            (SourcesEdit::DisableEnterpriseAndEnsure(s), c) => {
                Some(ensure_stanza(&disable_enterprise(c.unwrap_or("")), s))
            }
        }
    }
}

/// Every sources file bootstrap-node manages, with its edit, in the order they are written.
pub fn desired(d: &Defaults) -> Vec<(String, SourcesEdit)> {
    let p = |f: &str| format!("{SOURCES_DIR}/{f}");
    let mut out = Vec::new();
    if d.repository == Repository::Enterprise {
        return out;
    }
    out.push((p("pve-enterprise.sources"), SourcesEdit::DisableEnterprise));
    out.push((p("pve-enterprise.list"), SourcesEdit::DisableEnterpriseList));
    out.push((p("ceph.list"), SourcesEdit::DisableEnterpriseList));
    if let Some(s) = pve_stanza(d) {
        out.push((p("proxmox.sources"), SourcesEdit::Exactly(render(&[s]))));
    }
    if let Some(s) = ceph_stanza(d) {
        out.push((p("ceph.sources"), SourcesEdit::DisableEnterpriseAndEnsure(s)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // pve-cli.md §8, as shipped by pve-manager.
    const ENTERPRISE: &str = "Types: deb\nURIs: https://enterprise.proxmox.com/debian/pve\nSuites: trixie\n\
        Components: pve-enterprise\nSigned-By: /usr/share/keyrings/proxmox-archive-keyring.gpg\n";
    const CEPH_ENTERPRISE: &str = "Types: deb\nURIs: https://enterprise.proxmox.com/debian/ceph-squid\n\
        Suites: trixie\nComponents: enterprise\nSigned-By: /usr/share/keyrings/proxmox-archive-keyring.gpg\n";

    #[test]
    fn enterprise_file_is_disabled_and_kept() {
        let out = disable_enterprise(ENTERPRISE);
        assert_eq!(out, format!("Enabled: no\n{ENTERPRISE}"));
        assert_eq!(disable_enterprise(&out), out, "idempotent");
        // The GUI's spelling counts as disabled: left alone.
        let gui = ENTERPRISE.replace("Types: deb\n", "Types: deb\nEnabled: false\n");
        assert_eq!(disable_enterprise(&gui), gui);
        // A stanza switched back on by hand is switched off again (one Enabled line only).
        let on = ENTERPRISE.replace("Types: deb\n", "Enabled: yes\nTypes: deb\n");
        assert_eq!(disable_enterprise(&on), format!("Enabled: no\n{ENTERPRISE}"));
    }

    #[test]
    fn no_subscription_files_match_the_digest() {
        let d = Defaults::default();
        let want = desired(&d);
        let pve = &want.iter().find(|(p, _)| p.ends_with("/proxmox.sources")).unwrap().1;
        assert_eq!(
            pve.apply(None).unwrap(),
            "Types: deb\nURIs: http://download.proxmox.com/debian/pve\nSuites: trixie\n\
             Components: pve-no-subscription\nSigned-By: /usr/share/keyrings/proxmox-archive-keyring.gpg\n"
        );
        let ceph = &want.iter().find(|(p, _)| p.ends_with("/ceph.sources")).unwrap().1;
        let out = ceph.apply(Some(CEPH_ENTERPRISE)).unwrap();
        assert_eq!(
            out,
            format!(
                "Enabled: no\n{CEPH_ENTERPRISE}\nTypes: deb\nURIs: http://download.proxmox.com/debian/ceph-squid\n\
                 Suites: trixie\nComponents: no-subscription\nSigned-By: /usr/share/keyrings/proxmox-archive-keyring.gpg\n"
            )
        );
        assert_eq!(ceph.apply(Some(&out)).unwrap(), out, "idempotent");
        // absent enterprise file stays absent
        let ent = &want.iter().find(|(p, _)| p.ends_with("/pve-enterprise.sources")).unwrap().1;
        assert_eq!(ent.apply(None), None);
    }

    #[test]
    fn our_stanza_disabled_by_hand_is_re_enabled_not_duplicated() {
        let d = Defaults::default();
        let s = ceph_stanza(&d).unwrap();
        let off = render(&[s.disabled()]);
        let out = ensure_stanza(&off, &s);
        assert_eq!(out, render(&[s]));
    }

    #[test]
    fn test_repository_and_suite_follow_inventory() {
        let d = Defaults { repository: Repository::Test, debian_suite: "bookworm".into(), ..Defaults::default() };
        let s = pve_stanza(&d).unwrap();
        assert_eq!(s.field("Components").as_deref(), Some("pve-test"));
        assert_eq!(s.field("suites").as_deref(), Some("bookworm"));
        assert_eq!(ceph_stanza(&d).unwrap().field("Components").as_deref(), Some("test"));
        let e = Defaults { repository: Repository::Enterprise, ..Defaults::default() };
        assert!(desired(&e).is_empty());
    }

    #[test]
    fn comments_and_continuations_survive() {
        let t = "# managed elsewhere\nTypes: deb\nURIs: https://enterprise.proxmox.com/debian/pve\n  https://mirror.example/pve\nSuites: trixie\nComponents: pve-enterprise\n";
        let out = disable_enterprise(t);
        assert_eq!(out, "# managed elsewhere\nEnabled: no\nTypes: deb\nURIs: https://enterprise.proxmox.com/debian/pve\n  https://mirror.example/pve\nSuites: trixie\nComponents: pve-enterprise\n");
        let s = &parse(&out)[0];
        assert_eq!(s.field("URIs").as_deref(), Some("https://enterprise.proxmox.com/debian/pve https://mirror.example/pve"));
        assert!(!s.enabled());
    }

    #[test]
    fn list_files_get_enterprise_lines_commented() {
        let t = "deb https://enterprise.proxmox.com/debian/pve bookworm pve-enterprise\ndeb http://x/ y z\n";
        let out = disable_enterprise_list(t);
        assert_eq!(
            out,
            "# disabled by homelab-iac (no subscription): deb https://enterprise.proxmox.com/debian/pve bookworm pve-enterprise\ndeb http://x/ y z\n"
        );
        assert_eq!(disable_enterprise_list(&out), out);
    }
}
