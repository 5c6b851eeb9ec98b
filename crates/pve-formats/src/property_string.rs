//! PVE property strings: `key=value,key=value`, optionally with a default key whose name may be
//! omitted (`--link0 10.0.0.1,priority=10` ≡ `address=10.0.0.1,priority=10`).
//! Used for `--linkX` (pve-cli.md §2.1) and `prune-backups` (pve-cli.md §6.2).

use anyhow::{bail, Result};

/// Parse into `(key, value)` pairs in input order. A part without `=` is the value of
/// `default_key` (at most once); without a default key such a part is an error.
pub fn parse(s: &str, default_key: Option<&str>) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => match default_key {
                Some(d) => (d.to_string(), part.to_string()),
                None => bail!("invalid property string part '{part}' (expected key=value)"),
            },
        };
        if out.iter().any(|(ok, _)| *ok == k) {
            bail!("duplicate key in property string: '{k}'");
        }
        out.push((k, v));
    }
    Ok(out)
}

/// Write with keys sorted, as PVE re-prints property strings (pve-cli.md §6.2: `prune-backups`).
pub fn write_sorted(pairs: &[(String, String)]) -> String {
    let mut v: Vec<&(String, String)> = pairs.iter().collect();
    v.sort();
    v.iter().map(|(k, val)| format!("{k}={val}")).collect::<Vec<_>>().join(",")
}

/// Normalise a property string (parse + sorted write).
pub fn normalise(s: &str, default_key: Option<&str>) -> Result<String> {
    Ok(write_sorted(&parse(s, default_key)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_backups_sorted() {
        assert_eq!(normalise("keep-last=3,keep-daily=7", None).unwrap(), "keep-daily=7,keep-last=3");
    }

    #[test]
    fn default_key() {
        let p = parse("10.0.0.1,priority=10", Some("address")).unwrap();
        assert_eq!(p[0], ("address".into(), "10.0.0.1".into()));
        assert!(parse("a,b", Some("address")).is_err());
        assert!(parse("a", None).is_err());
    }
}
