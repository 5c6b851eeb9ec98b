//! `sshd -T` — the effective sshd configuration (after includes, drop-ins and defaults).
//!
//! sshd prints one `keyword value…` line per setting, keywords lower-cased. Some keywords
//! appear on several lines (`hostkey`, `listenaddress`, `acceptenv`, `subsystem`, `setenv`…);
//! all occurrences are kept in order. Values are kept verbatim (`authorizedkeysfile` has
//! several space-separated words on one line). See sshd(8) `-T`, sshd_config(5).

use super::error::{Layout, Result};
use super::text::numbered_lines;
use serde::Serialize;
use std::collections::BTreeMap;

pub const SSHD_T: Layout = Layout { what: "`sshd -T` output", doc: "sshd(8) -T, sshd_config(5)" };

/// Effective settings: lower-case keyword → every value line, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct SshdConfig {
    pub values: BTreeMap<String, Vec<String>>,
}

impl SshdConfig {
    /// The (first) value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.all(key).first().map(String::as_str)
    }
    /// Every value line of `key` (case-insensitive), e.g. all `hostkey`s.
    pub fn all(&self, key: &str) -> &[String] {
        self.values.get(&key.to_ascii_lowercase()).map(Vec::as_slice).unwrap_or(&[])
    }
    /// All words of all lines of `key` (`authorizedkeysfile`, `acceptenv`).
    pub fn words(&self, key: &str) -> Vec<&str> {
        self.all(key).iter().flat_map(|v| v.split_whitespace()).collect()
    }
    /// `Some(true)` for `yes`, `Some(false)` for `no`, `None` if absent or another value
    /// (e.g. `permitrootlogin prohibit-password`).
    pub fn yes_no(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        }
    }
}

/// Parse `sshd -T`.
pub fn parse_sshd_t(text: &str) -> Result<SshdConfig> {
    let mut out = SshdConfig::default();
    for (n, line) in numbered_lines(text) {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let (key, value) = match t.split_once(|c: char| c.is_whitespace()) {
            Some((k, v)) => (k, v.trim()),
            None => (t, ""),
        };
        if !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(SSHD_T.err_at(n, line, "expected `keyword value`, keyword made of letters and digits"));
        }
        out.values.entry(key.to_ascii_lowercase()).or_default().push(value.to_string());
    }
    if out.values.is_empty() {
        return Err(SSHD_T.err("empty output (sshd -T prints its settings; did it fail? its errors go to stderr)"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_debian_output() {
        let c = parse_sshd_t(include_str!("../../tests/fixtures/parsers/sshd-T.txt")).unwrap();
        assert_eq!(c.get("port"), Some("22"));
        assert_eq!(c.get("PermitRootLogin"), Some("without-password"));
        assert_eq!(c.yes_no("passwordauthentication"), Some(true));
        assert_eq!(c.yes_no("permitrootlogin"), None);
        assert_eq!(c.all("hostkey").len(), 3);
        assert_eq!(c.all("listenaddress").len(), 2);
        assert_eq!(c.words("authorizedkeysfile"), [".ssh/authorized_keys", ".ssh/authorized_keys2"]);
        assert_eq!(c.get("subsystem"), Some("sftp /usr/lib/openssh/sftp-server"));
        assert!(c.all("nosuchkey").is_empty());
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["port"], serde_json::json!(["22"]));
    }

    #[test]
    fn errors() {
        assert!(parse_sshd_t("").is_err());
        let e = parse_sshd_t("port 22\n/etc/ssh/sshd_config line 3: Bad configuration option\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let c = parse_sshd_t("Banner\n").unwrap();
        assert_eq!(c.get("banner"), Some(""));
    }
}
