//! deb822 APT source files (`/etc/apt/sources.list.d/*.sources`).
//!
//! Layout: pve-cli.md §8 (PVE 9 / Debian 13 files and their exact stanzas) and
//! sources.list(5) / deb822(5): stanzas separated by blank lines, `Field: value` lines, field
//! names case-insensitive, continuation lines start with a space or tab (` .` = empty line),
//! `#` comment lines. A stanza is disabled by `Enabled: no` (admin guide) or `Enabled: false`
//! (what the PVE API writes) — both are understood (pve-cli.md §8).

use super::error::{Layout, Result};
use super::text::numbered_lines;
use serde::Serialize;

pub const APT_SOURCES: Layout =
    Layout { what: "deb822 APT sources file", doc: "pve-cli.md §8 and sources.list(5)" };

/// One deb822 stanza: fields in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deb822Stanza {
    /// 1-based line of the stanza's first field.
    pub line: usize,
    pub fields: Vec<(String, String)>,
}

impl Deb822Stanza {
    /// Value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parse any deb822 text into stanzas.
pub fn parse_deb822(text: &str) -> Result<Vec<Deb822Stanza>> {
    let l = APT_SOURCES;
    let mut out: Vec<Deb822Stanza> = Vec::new();
    let mut cur: Option<Deb822Stanza> = None;
    for (n, line) in numbered_lines(text) {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            out.extend(cur.take());
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let field = cur
                .as_mut()
                .and_then(|s| s.fields.last_mut())
                .ok_or_else(|| l.err_at(n, line, "continuation line without a field before it"))?;
            let t = line.trim();
            field.1.push('\n');
            field.1.push_str(if t == "." { "" } else { t });
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| l.err_at(n, line, "expected `Field: value`"))?;
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(l.err_at(n, line, "expected `Field: value` with a field name without spaces"));
        }
        let stanza = cur.get_or_insert_with(|| Deb822Stanza { line: n, fields: Vec::new() });
        if stanza.get(key).is_some() {
            return Err(l.err_at(n, line, format!("field `{key}` appears twice in one stanza")));
        }
        stanza.fields.push((key.to_string(), value.trim().to_string()));
    }
    out.extend(cur);
    Ok(out)
}

/// One APT source stanza, typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AptSource {
    /// 1-based line where the stanza starts.
    pub line: usize,
    pub types: Vec<String>,
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// Keyring path(s) or an embedded key block, verbatim.
    pub signed_by: Option<String>,
    /// `Enabled:` absent or `yes`/`true` → true; `no`/`false` → false.
    pub enabled: bool,
    /// All fields as written (including the ones above).
    pub fields: Vec<(String, String)>,
}

impl AptSource {
    /// Whether this (enabled or not) stanza provides `uri` `suite` `component`; URIs compare
    /// without a trailing `/`.
    pub fn provides(&self, uri: &str, suite: &str, component: &str) -> bool {
        let norm = |u: &str| u.trim_end_matches('/').to_string();
        self.uris.iter().any(|u| norm(u) == norm(uri))
            && self.suites.iter().any(|s| s == suite)
            && self.components.iter().any(|c| c == component)
    }
}

/// Parse a `.sources` file into typed stanzas; `Types`, `URIs` and `Suites` are required.
pub fn parse_apt_sources(text: &str) -> Result<Vec<AptSource>> {
    let l = APT_SOURCES;
    parse_deb822(text)?
        .into_iter()
        .map(|s| {
            let words = |name: &str| -> Vec<String> {
                s.get(name).map(|v| v.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
            };
            let require = |name: &str| -> Result<Vec<String>> {
                let w = words(name);
                if w.is_empty() {
                    return Err(l.err(format!("stanza starting at line {} has no `{name}:` field", s.line)));
                }
                Ok(w)
            };
            let enabled = match s.get("Enabled").map(|v| v.trim().to_ascii_lowercase()) {
                None => true,
                Some(v) if v == "yes" || v == "true" => true,
                Some(v) if v == "no" || v == "false" => false,
                Some(v) => {
                    return Err(l.err(format!(
                        "stanza starting at line {}: `Enabled: {v}` is neither yes/no nor true/false",
                        s.line
                    )))
                }
            };
            Ok(AptSource {
                line: s.line,
                types: require("Types")?,
                uris: require("URIs")?,
                suites: require("Suites")?,
                components: words("Components"),
                signed_by: s.get("Signed-By").map(str::to_string),
                enabled,
                fields: s.fields.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/parsers/", $name))
        };
    }

    #[test]
    fn pve_enterprise_enabled_and_disabled() {
        let s = parse_apt_sources(fixture!("apt-pve-enterprise.sources")).unwrap();
        assert_eq!(s.len(), 1);
        assert!(s[0].enabled);
        assert_eq!(s[0].types, ["deb"]);
        assert!(s[0].provides("https://enterprise.proxmox.com/debian/pve/", "trixie", "pve-enterprise"));
        assert_eq!(s[0].signed_by.as_deref(), Some("/usr/share/keyrings/proxmox-archive-keyring.gpg"));
        let d = parse_apt_sources(fixture!("apt-pve-enterprise-disabled.sources")).unwrap();
        assert!(!d[0].enabled, "Enabled: false");
        let no = fixture!("apt-pve-enterprise.sources").to_string() + "enabled: No\n";
        assert!(!parse_apt_sources(&no).unwrap()[0].enabled, "Enabled: no, case-insensitive");
    }

    #[test]
    fn no_subscription_and_debian_two_stanzas() {
        let p = parse_apt_sources(fixture!("apt-proxmox.sources")).unwrap();
        assert!(p[0].provides("http://download.proxmox.com/debian/pve", "trixie", "pve-no-subscription"));
        let d = parse_apt_sources(fixture!("apt-debian.sources")).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].suites, ["trixie", "trixie-updates"]);
        assert_eq!(d[0].components, ["main", "non-free-firmware"]);
        assert_eq!(d[1].line, 7);
        assert!(d[1].provides("http://security.debian.org/debian-security", "trixie-security", "main"));
    }

    #[test]
    fn comments_continuations_and_errors() {
        let text = "# managed by homelab-iac\nTypes: deb\nURIs: http://x/\nSuites: s\nComponents: c\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n -----END PGP PUBLIC KEY BLOCK-----\n\n\n";
        let s = parse_apt_sources(text).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].signed_by.as_deref(),
            Some("\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nabc\n-----END PGP PUBLIC KEY BLOCK-----")
        );
        assert_eq!(parse_apt_sources("").unwrap(), vec![]);
        let e = parse_apt_sources("Types: deb\nSuites: s\n").unwrap_err();
        assert!(e.message.contains("`URIs:`"), "{e}");
        let e = parse_apt_sources("Types: deb\nthis is not a field\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse_apt_sources(" continuation\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = parse_apt_sources("Types: deb\ntypes: deb-src\n").unwrap_err();
        assert!(e.message.contains("twice"), "{e}");
        let e = parse_apt_sources("Types: deb\nURIs: u\nSuites: s\nEnabled: perhaps\n").unwrap_err();
        assert!(e.message.contains("perhaps"), "{e}");
    }
}
