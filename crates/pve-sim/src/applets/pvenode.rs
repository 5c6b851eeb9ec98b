//! `pvenode cert info` (pve-cli.md §7.3): the CA, `pve-ssl.pem` and (if present)
//! `pveproxy-ssl.pem`, with real values read from the certificates by the openssl CLI.

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::{self, die, Kind};
use crate::{json as js, pmxcfs, sys};

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// `2026-11-24 02:41:35Z` → epoch.
pub fn parse_iso(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('Z');
    let (d, t) = s.split_once(' ')?;
    let dv: Vec<i64> = d.split('-').filter_map(|x| x.parse().ok()).collect();
    let tv: Vec<i64> = t.split(':').filter_map(|x| x.parse().ok()).collect();
    if dv.len() != 3 || tv.len() != 3 {
        return None;
    }
    Some(days_from_civil(dv[0], dv[1], dv[2]) * 86400 + tv[0] * 3600 + tv[1] * 60 + tv[2])
}

/// Expand an IPv6 address as Net::SSLeay reports SANs (`0000:0000:…:0001`).
fn expand_v6(a: &str) -> String {
    match a.parse::<std::net::Ipv6Addr>() {
        Ok(ip) => ip.segments().iter().map(|s| format!("{s:04X}")).collect::<Vec<_>>().join(":"),
        Err(_) => a.to_string(),
    }
}

/// Certificate info object for one file.
pub fn cert_info(path: &Path) -> Result<Value> {
    let p = path.to_string_lossy();
    let out = sys::run_checked(
        "openssl",
        &["x509", "-in", &p, "-noout", "-nameopt", "compat", "-subject", "-issuer", "-dates", "-dateopt", "iso_8601", "-fingerprint", "-sha256", "-ext", "subjectAltName"],
    )?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut v = json!({"filename": path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()});
    let mut san = Vec::new();
    let mut in_san = false;
    for line in text.lines() {
        if let Some(x) = line.strip_prefix("subject=") {
            v["subject"] = json!(x.trim());
        } else if let Some(x) = line.strip_prefix("issuer=") {
            v["issuer"] = json!(x.trim());
        } else if let Some(x) = line.strip_prefix("notBefore=") {
            v["notbefore"] = json!(parse_iso(x).unwrap_or(0));
        } else if let Some(x) = line.strip_prefix("notAfter=") {
            v["notafter"] = json!(parse_iso(x).unwrap_or(0));
        } else if line.contains("Fingerprint=") {
            v["fingerprint"] = json!(line.split_once('=').map(|(_, f)| f.trim().to_ascii_uppercase()).unwrap_or_default());
        } else if line.starts_with("X509v3 Subject Alternative Name") {
            in_san = true;
        } else if in_san {
            for item in line.split(',') {
                let item = item.trim();
                if let Some(ip) = item.strip_prefix("IP Address:") {
                    san.push(if ip.contains(':') { expand_v6(ip) } else { ip.to_string() });
                } else if let Some(d) = item.strip_prefix("DNS:") {
                    san.push(d.to_string());
                }
            }
            in_san = false;
        }
    }
    if !san.is_empty() {
        v["san"] = json!(san);
    }
    let text = sys::run_checked("openssl", &["x509", "-in", &p, "-noout", "-text"])?;
    for line in String::from_utf8_lossy(&text.stdout).lines() {
        let l = line.trim();
        if let Some(x) = l.strip_prefix("Public Key Algorithm:") {
            v["public-key-type"] = json!(x.trim());
        } else if let Some(x) = l.strip_prefix("Public-Key: (") {
            v["public-key-bits"] = json!(x.split_whitespace().next().and_then(|b| b.parse::<u64>().ok()).unwrap_or(0));
        }
    }
    v["pem"] = json!(sys::read(path)?);
    Ok(v)
}

pub fn main(args: &[String]) -> Result<i32> {
    match args.first().map(String::as_str) {
        Some("cert") if args.get(1).map(String::as_str) == Some("info") => {
            let usage = "USAGE: pvenode cert info [FORMAT_OPTIONS]\n";
            let a = cli::parse(
                &args[2..],
                &[("output-format", Kind::Str), ("noheader", Kind::Bool), ("noborder", Kind::Bool), ("quiet", Kind::Bool), ("human-readable", Kind::Bool)],
                Some(0),
                usage,
            )?;
            pmxcfs::require_mounted()?;
            let node = sys::hostname();
            let mut out = Vec::new();
            for f in [
                pmxcfs::pve_path("pve-root-ca.pem"),
                pmxcfs::etc_pve().join("nodes").join(&node).join("pve-ssl.pem"),
                pmxcfs::etc_pve().join("nodes").join(&node).join("pveproxy-ssl.pem"),
            ] {
                if f.is_file() {
                    out.push(cert_info(&f)?);
                }
            }
            js::print_result(&Value::Array(out), a.get("output-format").unwrap_or("text"));
            Ok(0)
        }
        _ => Err(die("USAGE: pvenode cert info [FORMAT_OPTIONS]\n(only 'cert info' is simulated)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(parse_iso("1970-01-01 00:00:00Z"), Some(0));
        assert_eq!(parse_iso("2025-09-01 12:00:00Z"), Some(1_756_728_000));
    }

    #[test]
    fn v6_expanded() {
        assert_eq!(expand_v6("0:0:0:0:0:0:0:1"), "0000:0000:0000:0000:0000:0000:0000:0001");
    }
}
