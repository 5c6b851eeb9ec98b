//! PVE section-config files: `storage.cfg`, `jobs.cfg`, `replication.cfg`.
//!
//! Format (pve-cli.md §1.4, from `PVE::SectionConfig`):
//! ```text
//! <type>: <id>
//! \t<key> <value>
//! \t<bare-boolean-key>
//!
//! ```
//! - Reader: a section starts at a `type: id` header and ends at the first empty line; `#` lines
//!   are skipped; a property line starts with whitespace; a key without a value is a boolean `1`.
//!   Lines that fit nowhere are reported as warnings (PVE warns and ignores them).
//! - Writer: `comment` first (percent-encoded where the schema says so), then a bare `disable`
//!   line when true, then the type's required keys alphabetically, then the rest alphabetically,
//!   one empty line after every section. Sections keep their order; new ones are appended.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

/// What the writer needs to know about a file's section types.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// Required (non-optional) keys per section type; written right after comment/disable.
    pub required: &'static [(&'static str, &'static [&'static str])],
    /// `comment` is percent-encoded on disk (`jobs.cfg`, `replication.cfg`; pve-cli.md §1.4).
    pub encode_comment: bool,
}

impl Schema {
    pub fn required_keys(&self, section_type: &str) -> &'static [&'static str] {
        self.required.iter().find(|(t, _)| *t == section_type).map(|(_, k)| *k).unwrap_or(&[])
    }
}

/// `/etc/pve/storage.cfg`: fixed/required options per plugin (pve-cli.md §4.2: nfs → export, path,
/// server; dir → path; zfspool → pool).
pub const STORAGE_CFG: Schema = Schema {
    required: &[
        ("dir", &["path"]),
        ("nfs", &["export", "path", "server"]),
        ("zfspool", &["pool"]),
        ("lvmthin", &["thinpool", "vgname"]),
        ("lvm", &["vgname"]),
        ("cifs", &["path", "server", "share"]),
        ("pbs", &["datastore", "server"]),
    ],
    encode_comment: false,
};

/// `/etc/pve/jobs.cfg`: `schedule` is the only required vzdump option (pve-cli.md §6.2).
pub const JOBS_CFG: Schema = Schema { required: &[("vzdump", &["schedule"])], encode_comment: true };

/// `/etc/pve/replication.cfg`: `target` is required for `local` jobs (pve-cli.md §5.3).
pub const REPLICATION_CFG: Schema = Schema { required: &[("local", &["target"])], encode_comment: true };

/// One `type: id` section with its properties (comment stored decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub section_type: String,
    pub id: String,
    pub props: BTreeMap<String, String>,
}

impl Entry {
    pub fn new(section_type: &str, id: &str) -> Entry {
        Entry { section_type: section_type.into(), id: id.into(), props: BTreeMap::new() }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.props.insert(key.into(), value.into());
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.props.remove(key)
    }

    /// Boolean property (`1`, bare key) → true.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some(v) if v != "0" && !v.is_empty())
    }
}

/// A whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SectionConfig {
    pub sections: Vec<Entry>,
    /// Lines PVE would warn about and ignore, as `line N: ...`.
    pub warnings: Vec<String>,
}

impl SectionConfig {
    /// Parse; a duplicate property inside one section is an error naming the line.
    pub fn parse(raw: &str, schema: &Schema) -> Result<SectionConfig> {
        let mut cfg = SectionConfig::default();
        let mut current: Option<Entry> = None;
        // Ids seen so far: a linear scan per section made a (hostile) file with many sections
        // quadratic — minutes for a few MiB (issue 11).
        let mut ids: std::collections::HashSet<String> = std::collections::HashSet::new();
        for (idx, line) in raw.split('\n').enumerate() {
            let lineno = idx + 1;
            if line.trim_start().starts_with('#') {
                continue;
            }
            if line.is_empty() {
                if let Some(e) = current.take() {
                    cfg.push_entry(e, lineno, &mut ids);
                }
                continue;
            }
            if let Some(entry) = current.as_mut() {
                if line.starts_with(char::is_whitespace) && !line.trim().is_empty() {
                    let body = line.trim();
                    let (k, v) = match body.split_once(char::is_whitespace) {
                        Some((k, v)) => (k, v.trim().to_string()),
                        None => (body, "1".to_string()),
                    };
                    if entry.props.contains_key(k) {
                        bail!(
                            "line {lineno}: section '{}' - duplicate attribute '{k}'",
                            entry.id
                        );
                    }
                    let v = if k == "comment" && schema.encode_comment { decode_text(&v) } else { v };
                    entry.props.insert(k.to_string(), v);
                } else {
                    cfg.warnings.push(format!("line {lineno}: (section '{}') - ignore config line: {line}", entry.id));
                }
                continue;
            }
            match parse_header(line) {
                Some((t, id)) => current = Some(Entry::new(t, id)),
                None => cfg.warnings.push(format!("line {lineno}: ignore config line: {line}")),
            }
        }
        if let Some(e) = current.take() {
            let n = raw.split('\n').count();
            cfg.push_entry(e, n, &mut ids);
        }
        Ok(cfg)
    }

    fn push_entry(&mut self, e: Entry, lineno: usize, ids: &mut std::collections::HashSet<String>) {
        if !ids.insert(e.id.clone()) {
            self.warnings.push(format!("line {lineno}: duplicate section id '{}' ignored", e.id));
        } else {
            self.sections.push(e);
        }
    }

    /// Serialise exactly like `PVE::SectionConfig::write_config` (pve-cli.md §1.4).
    pub fn write(&self, schema: &Schema) -> String {
        let mut out = String::new();
        for e in &self.sections {
            out.push_str(&format!("{}: {}\n", e.section_type, e.id));
            let mut done: Vec<&str> = vec!["comment", "disable"];
            if let Some(c) = e.get("comment").filter(|c| !c.is_empty()) {
                let c = if schema.encode_comment { encode_text(c) } else { c.to_string() };
                out.push_str(&format!("\tcomment {c}\n"));
            }
            if e.flag("disable") {
                out.push_str("\tdisable\n");
            }
            let mut required: Vec<&str> = schema.required_keys(&e.section_type).to_vec();
            required.sort_unstable();
            for k in required {
                if let Some(v) = e.get(k) {
                    out.push_str(&format!("\t{k} {v}\n"));
                }
                done.push(k);
            }
            for (k, v) in &e.props {
                if !done.contains(&k.as_str()) {
                    out.push_str(&format!("\t{k} {v}\n"));
                }
            }
            out.push('\n');
        }
        out
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.sections.iter().find(|e| e.id == id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Entry> {
        self.sections.iter_mut().find(|e| e.id == id)
    }

    /// Remove a section by id; returns it when present.
    pub fn remove(&mut self, id: &str) -> Option<Entry> {
        let pos = self.sections.iter().position(|e| e.id == id)?;
        Some(self.sections.remove(pos))
    }

    /// Sections of one type, in file order.
    pub fn of_type<'a>(&'a self, t: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.sections.iter().filter(move |e| e.section_type == t)
    }
}

/// `type: id` (pve-common SectionConfig `parse_section_header`: `^(\S+):\s*(\S+)\s*$`).
fn parse_header(line: &str) -> Option<(&str, &str)> {
    let (t, rest) = line.split_once(':')?;
    if t.is_empty() || t.contains(char::is_whitespace) {
        return None;
    }
    let id = rest.trim();
    if id.is_empty() || id.contains(char::is_whitespace) {
        return None;
    }
    Some((t, id))
}

/// Percent-encode control characters, `:` and `%` (pve-cli.md §1.4, ParseUtils `encode_text`);
/// upper-case hex like URI::Escape.
pub fn encode_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_ascii_control() || ch == ':' || ch == '%' {
            out.push_str(&format!("%{:02X}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out
}

/// Inverse of [`encode_text`]: decodes every `%XX` (URI unescape), leaving malformed `%` alone.
pub fn decode_text(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pve-cli.md §4.2 (⇥ = TAB).
    const NFS: &str = "nfs: nas1\n\texport /export/pve\n\tpath /mnt/pve/nas1\n\tserver 10.0.0.10\n\tcontent images,backup\n\toptions vers=4.2\n\n";
    /// pve-cli.md §5.3.
    const REPL: &str = "local: 100-0\n\ttarget pve2\n\trate 10\n\tschedule */5\n\tsource pve1\n\n";
    const REPL_DISABLED: &str = "local: 101-0\n\tdisable\n\ttarget pve2\n\tschedule */5\n\tsource pve1\n\n";
    /// pve-cli.md §6.2.
    const JOBS: &str = "vzdump: backup-nightly\n\tcomment Nightly\n\tschedule 21:00\n\tall 1\n\tcompress zstd\n\tenabled 1\n\tmode snapshot\n\tnotification-mode notification-system\n\tprune-backups keep-daily=7,keep-last=3\n\tstorage nas1\n\n";
    /// pve-cli.md §4.4 `local` plus the ZFS install's `local-zfs`.
    const STORAGE: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: local-zfs\n\tpool rpool/data\n\tcontent images,rootdir\n\tsparse 1\n\n";

    fn round_trip(raw: &str, schema: &Schema) -> SectionConfig {
        let c = SectionConfig::parse(raw, schema).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.write(schema), raw);
        c
    }

    #[test]
    fn storage_nfs_layout() {
        let c = round_trip(NFS, &STORAGE_CFG);
        let e = c.get("nas1").unwrap();
        assert_eq!(e.section_type, "nfs");
        assert_eq!(e.get("server"), Some("10.0.0.10"));
    }

    #[test]
    fn storage_local_and_zfs() {
        round_trip(STORAGE, &STORAGE_CFG);
    }

    #[test]
    fn nfs_written_from_scratch_orders_required_first() {
        let mut e = Entry::new("nfs", "nas1");
        for (k, v) in [("options", "vers=4.2"), ("content", "images,backup"), ("server", "10.0.0.10"), ("path", "/mnt/pve/nas1"), ("export", "/export/pve")] {
            e.set(k, v);
        }
        let c = SectionConfig { sections: vec![e], warnings: vec![] };
        assert_eq!(c.write(&STORAGE_CFG), NFS);
    }

    #[test]
    fn replication_layouts() {
        round_trip(REPL, &REPLICATION_CFG);
        let c = round_trip(REPL_DISABLED, &REPLICATION_CFG);
        assert!(c.get("101-0").unwrap().flag("disable"));
        assert_eq!(c.get("101-0").unwrap().get("disable"), Some("1"));
    }

    #[test]
    fn jobs_layout_and_comment_encoding() {
        let mut c = round_trip(JOBS, &JOBS_CFG);
        c.get_mut("backup-nightly").unwrap().set("comment", "Nightly: 100% ok\nnext");
        let w = c.write(&JOBS_CFG);
        assert!(w.contains("\tcomment Nightly%3A 100%25 ok%0Anext\n"), "{w}");
        let back = SectionConfig::parse(&w, &JOBS_CFG).unwrap();
        assert_eq!(back.get("backup-nightly").unwrap().get("comment"), Some("Nightly: 100% ok\nnext"));
    }

    #[test]
    fn storage_comment_not_encoded_and_disable_zero_not_written() {
        let mut e = Entry::new("dir", "x");
        e.set("path", "/x");
        e.set("comment", "a: b");
        e.set("disable", "0");
        let c = SectionConfig { sections: vec![e], warnings: vec![] };
        assert_eq!(c.write(&STORAGE_CFG), "dir: x\n\tcomment a: b\n\tpath /x\n\n");
    }

    #[test]
    fn reader_tolerates_comments_and_reports_junk() {
        let raw = "# hand edited\ndir: local\n\tpath /var/lib/vz\n# inner\n\tcontent iso\n\ngarbage line\nnfs: n\n    server 1.2.3.4\n";
        let c = SectionConfig::parse(raw, &STORAGE_CFG).unwrap();
        assert_eq!(c.sections.len(), 2);
        assert_eq!(c.get("local").unwrap().get("content"), Some("iso"));
        assert_eq!(c.get("n").unwrap().get("server"), Some("1.2.3.4"));
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].starts_with("line 7:"));
    }

    #[test]
    fn duplicate_attribute_is_an_error() {
        let err = SectionConfig::parse("dir: a\n\tpath /a\n\tpath /b\n", &STORAGE_CFG).unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn append_and_remove_keep_order() {
        let mut c = SectionConfig::parse(STORAGE, &STORAGE_CFG).unwrap();
        let mut e = Entry::new("nfs", "nas1");
        e.set("export", "/export/pve");
        e.set("path", "/mnt/pve/nas1");
        e.set("server", "10.0.0.10");
        e.set("content", "images,backup");
        e.set("options", "vers=4.2");
        c.sections.push(e);
        assert_eq!(c.write(&STORAGE_CFG), format!("{STORAGE}{NFS}"));
        c.remove("local-zfs");
        assert!(c.write(&STORAGE_CFG).starts_with("dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nnfs: nas1\n"));
    }
}
