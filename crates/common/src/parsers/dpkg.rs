//! `dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n'` — which packages are installed.
//!
//! `${db:Status-Abbrev}` is three characters: desired action (`u`nknown, `i`nstall, `h`old,
//! `r`emove, `p`urge), current status (`n`ot-installed, `i`nstalled, `c`onfig-files, `U`npacked,
//! `H`alf-installed, `F` half-configured, `W`/`t` trigger states), error flag (`R` or a space —
//! so a healthy line ends in a trailing space). See dpkg-query(1).

use super::error::{Layout, Result};
use super::text::numbered_lines;
use serde::Serialize;
use std::collections::BTreeMap;

/// The command this parser reads; `-W` with no names lists every package dpkg knows.
pub const DPKG_QUERY_COMMAND: &str = r"dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n'";

pub const DPKG_QUERY: Layout = Layout {
    what: "`dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n'` output",
    doc: "dpkg-query(1) (format chosen in parsers/dpkg.rs)",
};

/// Package name → status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DpkgPackages {
    pub packages: BTreeMap<String, DpkgStatus>,
}

impl DpkgPackages {
    /// Installed and healthy (`ii`, or `hi` = held and installed).
    pub fn is_installed(&self, name: &str) -> bool {
        self.packages.get(name).is_some_and(DpkgStatus::is_installed)
    }
    pub fn installed(&self) -> impl Iterator<Item = &str> {
        self.packages.iter().filter(|(_, s)| s.is_installed()).map(|(n, _)| n.as_str())
    }
}

/// One package's `db:Status-Abbrev`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DpkgStatus {
    /// As printed, without the trailing space (e.g. `ii`, `rc`, `iUR`).
    pub abbrev: String,
}

impl DpkgStatus {
    /// Desired `i`nstall or `h`old, status `i`nstalled, no error flag.
    pub fn is_installed(&self) -> bool {
        let mut c = self.abbrev.chars();
        matches!((c.next(), c.next(), c.next()), (Some('i' | 'h'), Some('i'), None | Some(' ')))
    }
}

/// Parse the listing. Multi-arch packages listed twice (same name, one per architecture) are
/// merged: installed if any copy is.
pub fn parse_dpkg_query(text: &str) -> Result<DpkgPackages> {
    let l = DPKG_QUERY;
    let mut out = DpkgPackages::default();
    for (n, line) in numbered_lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(name), Some(abbrev), None) = (words.next(), words.next(), words.next()) else {
            return Err(l.err_at(n, line, "expected `<package> <status-abbrev>`, e.g. `openssh-server ii `"));
        };
        let valid = (2..=3).contains(&abbrev.chars().count())
            && abbrev.chars().all(|c| c.is_ascii_alphabetic());
        if !valid {
            return Err(l.err_at(n, line, format!("expected a status abbreviation like `ii`, got {abbrev:?}")));
        }
        let status = DpkgStatus { abbrev: abbrev.to_string() };
        match out.packages.get(name) {
            Some(prev) if prev.is_installed() => {}
            _ => {
                out.packages.insert(name.to_string(), status);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing() {
        let p = parse_dpkg_query(include_str!("../../tests/fixtures/parsers/dpkg-query.txt")).unwrap();
        assert!(p.is_installed("openssh-server"));
        assert!(p.is_installed("corosync"));
        assert!(p.is_installed("held-pkg"), "hi = held but installed");
        assert!(!p.is_installed("removed-pkg"), "rc = config files only");
        assert!(!p.is_installed("half-pkg"), "iU = unpacked, not configured");
        assert!(!p.is_installed("broken-pkg"), "iiR = reinstall required");
        assert!(!p.is_installed("absent"));
        assert!(p.is_installed("libc6"), "multi-arch duplicates merge");
        assert_eq!(p.installed().count(), 5);
    }

    #[test]
    fn errors() {
        assert_eq!(parse_dpkg_query("").unwrap(), DpkgPackages::default());
        let e = parse_dpkg_query("ok ii \njust-a-name\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse_dpkg_query("pkg 12\n").unwrap_err();
        assert!(e.message.contains("status abbreviation"), "{e}");
        let e = parse_dpkg_query("dpkg-query: no packages found matching x\n").unwrap_err();
        assert_eq!(e.line, Some(1));
    }
}
