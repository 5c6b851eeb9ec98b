//! `stat -c` lines in a format defined here, for file facts (mode, owner, size, type).
//!
//! Format [`STAT_FORMAT`] = `%f %a %u %g %U %G %s %Y %n`: raw mode in hex (carries the file
//! type bits), permissions in octal, uid, gid, user and group names (`UNKNOWN` when there is
//! none), size in bytes, mtime (epoch), and the path **last** so paths with spaces survive.
//! Paths containing a newline cannot be represented; do not ask for them.
//! A missing path makes stat print an error on stderr (and exit 1) and no line here.

use super::error::{Layout, Result};
use super::text::{numbered_lines, tokens};
use serde::Serialize;

/// The `stat -c` format this parser reads.
pub const STAT_FORMAT: &str = "%f %a %u %g %U %G %s %Y %n";

pub const STAT: Layout = Layout {
    what: "`stat -c '%f %a %u %g %U %G %s %Y %n'` output",
    doc: "parsers/stat.rs (STAT_FORMAT)",
};

/// A shell command that stats `paths` (already shell-quoted by the caller) in this format;
/// `-L` is not used, so symlinks are described themselves.
pub fn stat_command(quoted_paths: &[&str]) -> String {
    format!("stat -c '{STAT_FORMAT}' -- {}", quoted_paths.join(" "))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    Socket,
    Fifo,
    BlockDevice,
    CharDevice,
    Unknown,
}

impl FileKind {
    fn from_mode(raw: u32) -> FileKind {
        match raw & 0o170000 {
            0o100000 => FileKind::Regular,
            0o040000 => FileKind::Directory,
            0o120000 => FileKind::Symlink,
            0o140000 => FileKind::Socket,
            0o010000 => FileKind::Fifo,
            0o060000 => FileKind::BlockDevice,
            0o020000 => FileKind::CharDevice,
            _ => FileKind::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatEntry {
    pub path: String,
    pub kind: FileKind,
    /// Permission bits incl. setuid/setgid/sticky, e.g. `0o644`, `0o1777`.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub group: String,
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

impl StatEntry {
    /// Mode as the usual 4-digit octal string (`0644`).
    pub fn mode_octal(&self) -> String {
        format!("{:04o}", self.mode)
    }
}

/// Parse one line.
pub fn parse_stat_line(line: &str) -> Result<StatEntry> {
    parse_numbered(1, line.trim_end_matches(['\n', '\r']))
}

/// Parse every line (one per existing path).
pub fn parse_stat(text: &str) -> Result<Vec<StatEntry>> {
    numbered_lines(text)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| parse_numbered(n, l))
        .collect()
}

fn parse_numbered(n: usize, line: &str) -> Result<StatEntry> {
    let l = STAT;
    let toks = tokens(line);
    if toks.len() < 9 {
        return Err(l.err_at(n, line, format!("expected 9 fields ({STAT_FORMAT}), got {}", toks.len())));
    }
    let tok = |i: usize| toks.get(i).map(|t| t.1).unwrap_or("");
    let bad = |what: &str, v: &str| l.err_at(n, line, format!("expected {what}, got {v:?}"));
    let raw = u32::from_str_radix(tok(0), 16).map_err(|_| bad("the raw mode in hex (%f)", tok(0)))?;
    let mode = u32::from_str_radix(tok(1), 8).map_err(|_| bad("octal permissions (%a)", tok(1)))?;
    // The path is the rest of the line from the 9th field on (may contain spaces).
    let path = toks.get(8).and_then(|t| line.get(t.0..)).unwrap_or("");
    Ok(StatEntry {
        path: path.to_string(),
        kind: FileKind::from_mode(raw),
        mode,
        uid: tok(2).parse().map_err(|_| bad("a uid", tok(2)))?,
        gid: tok(3).parse().map_err(|_| bad("a gid", tok(3)))?,
        user: tok(4).to_string(),
        group: tok(5).to_string(),
        size: tok(6).parse().map_err(|_| bad("a size", tok(6)))?,
        mtime: tok(7).parse().map_err(|_| bad("an epoch mtime", tok(7)))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_lines() {
        // Lines in the layout of `stat -c '%f %a %u %g %U %G %s %Y %n' /etc/hosts /tmp /etc/mtab '/tmp/a b'`.
        let text = "81a4 644 0 0 root root 49 1795486091 /etc/hosts\n\
                    43ff 1777 0 0 root root 4096 1795487014 /tmp\n\
                    a1ff 777 0 0 root root 12 1790186341 /etc/mtab\n\
                    8180 600 1000 1000 homelab homelab 0 1795487000 /tmp/a b\n";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!((s[0].kind, s[0].mode_octal(), s[0].size), (FileKind::Regular, "0644".into(), 49));
        assert_eq!((s[1].kind, s[1].mode), (FileKind::Directory, 0o1777));
        assert_eq!(s[2].kind, FileKind::Symlink);
        assert_eq!((s[3].path.as_str(), s[3].uid, s[3].user.as_str()), ("/tmp/a b", 1000, "homelab"));
        assert_eq!(s[3].mtime, 1795487000);
        assert_eq!(stat_command(&["/etc/hosts"]), "stat -c '%f %a %u %g %U %G %s %Y %n' -- /etc/hosts");
    }

    #[test]
    fn errors() {
        let e = parse_stat_line("81a4 644 0 0 root root 49 1795486091").unwrap_err();
        assert!(e.message.contains("9 fields"), "{e}");
        let e = parse_stat("81a4 644 0 0 root root 49 1 /a\nzz 644 0 0 r r 1 1 /b\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(parse_stat_line("81a4 999 0 0 r r 1 1 /a").is_err());
    }
}
