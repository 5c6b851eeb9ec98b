//! `pvenode cert info --output-format json`: the node's certificates.

use super::from_json_list;
use crate::parsers::error::{Layout, Result};
use crate::parsers::lenient;
use serde::{Deserialize, Serialize};

/// `pvenode cert info --output-format json` (pve-cli.md §7.3).
pub const CERT_INFO: Layout =
    Layout { what: "`pvenode cert info` JSON", doc: "pve-cli.md §7.3" };

/// One certificate: `pve-root-ca.pem`, `pve-ssl.pem`, and `pveproxy-ssl.pem` if custom/ACME.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertInfo {
    /// Basename, e.g. `pve-ssl.pem`.
    pub filename: String,
    /// SHA-256, upper-case `AA:BB:…`.
    #[serde(default)]
    pub fingerprint: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    /// Epoch seconds.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub notbefore: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub notafter: Option<i64>,
    #[serde(default)]
    pub san: Vec<String>,
    #[serde(default)]
    pub pem: Option<String>,
    #[serde(rename = "public-key-type", default)]
    pub public_key_type: Option<String>,
    #[serde(rename = "public-key-bits", default, deserialize_with = "lenient::opt_u32")]
    pub public_key_bits: Option<u32>,
}

/// Parse `pvenode cert info --output-format json` (order kept: CA, node cert, proxy cert).
pub fn parse_cert_info(json: &str) -> Result<Vec<CertInfo>> {
    from_json_list(CERT_INFO, json)
}

/// The fingerprint `pvecm add --fingerprint` needs: of `pveproxy-ssl.pem` if present, else of
/// `pve-ssl.pem` (pve-cli.md §2.4).
pub fn api_fingerprint(certs: &[CertInfo]) -> Option<&str> {
    let by_name = |n: &str| certs.iter().find(|c| c.filename == n).and_then(|c| c.fingerprint.as_deref());
    by_name("pveproxy-ssl.pem").or_else(|| by_name("pve-ssl.pem"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_info() {
        let certs = parse_cert_info(include_str!("../../../tests/fixtures/parsers/pvenode-cert-info.json")).unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].filename, "pve-root-ca.pem");
        assert!(certs[0].san.is_empty());
        let node = &certs[1];
        assert_eq!(node.public_key_bits, Some(2048));
        assert_eq!(node.public_key_type.as_deref(), Some("rsaEncryption"));
        assert!(node.san.iter().any(|s| s == "pve1.example.com"));
        assert_eq!(node.notafter, Some(1787836000));
        assert_eq!(api_fingerprint(&certs), node.fingerprint.as_deref());

        let mut with_proxy = certs.clone();
        with_proxy.push(CertInfo { filename: "pveproxy-ssl.pem".into(), fingerprint: Some("FF".into()), ..certs[1].clone() });
        assert_eq!(api_fingerprint(&with_proxy), Some("FF"));
        assert_eq!(api_fingerprint(&certs[..1]), None);
    }
}
