//! The pinned known-hosts file the project manages.
//!
//! OpenSSH `known_hosts` format, unhashed so an operator can read and review it:
//! `host[,alias…] key-type base64-key [comment]`, with `[host]:port` for non-22 ports.
//! Pins come from the installer's post-installation webhook (`provision-iso serve`), from an
//! explicit `accept-new` first contact, or from `form-cluster` for node-to-node trust.
//!
//! Every change is a read-modify-write under an exclusive lock on `<file>.lock`, and the file
//! is replaced atomically, so parallel phases (hosts are worked in threads) and a running
//! answer server never lose each other's pins.

use anyhow::{Context, Result};
use base64::Engine as _;
use sha2::Digest;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Host patterns as written (`pve-node1`, `10.231.10.11`, `[10.0.0.5]:2222`).
    pub hosts: Vec<String>,
    pub key_type: String,
    /// Base64 key blob as in the file.
    pub key: String,
    pub comment: Option<String>,
}

impl Entry {
    pub fn fingerprint(&self) -> String {
        fingerprint_b64(&self.key).unwrap_or_else(|_| "SHA256:<unreadable key>".into())
    }
}

/// What the pinned file says about a key a host presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The presented key is pinned for this host.
    Match,
    /// No key of any type is pinned for this host.
    Unknown,
    /// Keys are pinned for this host, and the presented one is not among them.
    Changed { pinned: Vec<String> },
}

#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

/// `host` for port 22, `[host]:port` otherwise (OpenSSH's spelling).
pub fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// OpenSSH-style fingerprint `SHA256:<base64 without padding>` of a base64 key blob.
pub fn fingerprint_b64(key_b64: &str) -> Result<String> {
    let blob = base64::engine::general_purpose::STANDARD
        .decode(key_b64.trim())
        .context("host key is not valid base64")?;
    Ok(fingerprint_blob(&blob))
}

/// Fingerprint of a raw key blob (what libssh2 hands us).
pub fn fingerprint_blob(blob: &[u8]) -> String {
    let digest = sha2::Sha256::digest(blob);
    format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest))
}

/// Parse the text of a known-hosts file. Comments, blank lines, `@cert-authority`/`@revoked`
/// markers and hashed (`|1|…`) entries are skipped: we never write them.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') || line.starts_with('|') {
                return None;
            }
            let mut parts = line.split_whitespace();
            let hosts = parts.next()?.split(',').map(str::to_string).collect();
            let key_type = parts.next()?.to_string();
            let key = parts.next()?.to_string();
            let rest: Vec<&str> = parts.collect();
            let comment = if rest.is_empty() { None } else { Some(rest.join(" ")) };
            Some(Entry { hosts, key_type, key, comment })
        })
        .collect()
}

impl KnownHosts {
    /// Load the file; a missing file is an empty set of pins.
    pub fn load(path: &Path) -> Result<Self> {
        let entries = match std::fs::read_to_string(path) {
            Ok(text) => parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading known-hosts file {}", path.display())),
        };
        Ok(KnownHosts { path: path.to_path_buf(), entries })
    }

    /// Entries pinned for `host` on `port`.
    pub fn keys_for(&self, host: &str, port: u16) -> Vec<&Entry> {
        let pat = host_pattern(host, port);
        self.entries.iter().filter(|e| e.hosts.iter().any(|h| h == &pat)).collect()
    }

    /// Check a presented key (type + base64 blob) against the pins for `host`.
    pub fn verify(&self, host: &str, port: u16, key_type: &str, key_b64: &str) -> Verdict {
        let pinned = self.keys_for(host, port);
        if pinned.is_empty() {
            return Verdict::Unknown;
        }
        if pinned.iter().any(|e| e.key_type == key_type && e.key == key_b64) {
            return Verdict::Match;
        }
        Verdict::Changed { pinned: pinned.iter().map(|e| format!("{} {}", e.key_type, e.fingerprint())).collect() }
    }

    /// Render the file.
    pub fn render(&self) -> String {
        let mut out = String::from("# Pinned SSH host keys, managed by homelab-iac. Review changes like code.\n");
        for e in &self.entries {
            out.push_str(&e.hosts.join(","));
            out.push(' ');
            out.push_str(&e.key_type);
            out.push(' ');
            out.push_str(&e.key);
            if let Some(c) = &e.comment {
                out.push(' ');
                out.push_str(c);
            }
            out.push('\n');
        }
        out
    }

    /// Apply `change` to the file on disk under an exclusive lock, re-reading it first so
    /// concurrent writers do not lose pins. Returns the updated set.
    pub fn update(path: &Path, change: impl FnOnce(&mut KnownHosts)) -> Result<KnownHosts> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let lock_path = path.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening lock {}", lock_path.display()))?;
        lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
        let mut kh = KnownHosts::load(path)?;
        change(&mut kh);
        kh.save_unlocked()?;
        drop(lock);
        Ok(kh)
    }

    fn save_unlocked(&self) -> Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        tmp.write_all(self.render().as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).with_context(|| format!("replacing {}", self.path.display()))?;
        Ok(())
    }

    /// Pin a key for `names` (all spellings of one host: name, FQDN, addresses) unless an
    /// identical entry exists. Returns true when something was added.
    pub fn pin(&mut self, names: &[String], port: u16, key_type: &str, key_b64: &str) -> bool {
        let pats: Vec<String> = names.iter().map(|n| host_pattern(n, port)).collect();
        let already = self.entries.iter().any(|e| {
            e.key_type == key_type && e.key == key_b64 && pats.iter().all(|p| e.hosts.contains(p))
        });
        if already {
            return false;
        }
        self.entries.push(Entry { hosts: pats, key_type: key_type.to_string(), key: key_b64.to_string(), comment: None });
        true
    }

    /// Forget every pin that names any of `names` on `port` (a reinstalled host). Returns
    /// the removed entries so the caller can log the deliberate change.
    pub fn forget(&mut self, names: &[String], port: u16) -> Vec<Entry> {
        let pats: Vec<String> = names.iter().map(|n| host_pattern(n, port)).collect();
        let (removed, kept): (Vec<Entry>, Vec<Entry>) =
            self.entries.drain(..).partition(|e| e.hosts.iter().any(|h| pats.contains(h)));
        self.entries = kept;
        removed
    }

    /// Replace all pins of a host by `keys` (type, base64): what the install webhook does.
    pub fn replace_host(&mut self, names: &[String], port: u16, keys: &[(String, String)]) -> Vec<Entry> {
        let removed = self.forget(names, port);
        for (t, k) in keys {
            self.pin(names, port, t, k);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9";
    const K2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIK4oRhvqnlWeatUYARzjd5oVh6cTXPvXiWMU5A5cGFNv";

    #[test]
    fn verify_match_unknown_changed() {
        let kh = KnownHosts { path: "x".into(), entries: parse(&format!("pve-node1,10.0.0.1 ssh-ed25519 {K1}\n")) };
        assert_eq!(kh.verify("10.0.0.1", 22, "ssh-ed25519", K1), Verdict::Match);
        assert_eq!(kh.verify("10.0.0.2", 22, "ssh-ed25519", K1), Verdict::Unknown);
        assert_eq!(kh.verify("10.0.0.1", 2222, "ssh-ed25519", K1), Verdict::Unknown);
        match kh.verify("pve-node1", 22, "ssh-ed25519", K2) {
            Verdict::Changed { pinned } => assert!(pinned[0].starts_with("ssh-ed25519 SHA256:")),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn update_replaces_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        KnownHosts::update(&path, |kh| {
            kh.pin(&["a".into(), "10.0.0.1".into()], 22, "ssh-ed25519", K1);
        })
        .unwrap();
        let kh = KnownHosts::update(&path, |kh| {
            let removed = kh.replace_host(&["a".into(), "10.0.0.1".into()], 22, &[("ssh-ed25519".into(), K2.into())]);
            assert_eq!(removed.len(), 1);
        })
        .unwrap();
        assert_eq!(kh.entries.len(), 1);
        let again = KnownHosts::load(&path).unwrap();
        assert_eq!(again.verify("a", 22, "ssh-ed25519", K2), Verdict::Match);
        assert_eq!(host_pattern("h", 2222), "[h]:2222");
    }

    #[test]
    fn fingerprint_matches_openssh_format() {
        // ssh-keygen -lf prints SHA256:<43 chars> for ed25519 keys
        let fp = fingerprint_b64(K1).unwrap();
        assert!(fp.starts_with("SHA256:") && fp.len() == 7 + 43, "{fp}");
    }
}
