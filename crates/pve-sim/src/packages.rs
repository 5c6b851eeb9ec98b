//! "Hidden" Debian packages: packages installed on the machine (and so present in every lab host
//! through the overlay) that the simulated fresh install must not have — `sudo` and
//! `corosync-qdevice` on PVE, `corosync-qnetd` on the Pi, a few inventory packages.
//!
//! Hiding removes the package's `/var/lib/dpkg/status` stanza and moves its files and
//! `/var/lib/dpkg/info/<pkg>.*` into a stash, so `dpkg -s`, `dpkg-query` and `command -v` all agree
//! it is absent. `apt-get install` (the shim) restores it and runs its real postinst.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::sys;

fn state_dir() -> PathBuf {
    sys::p("/var/lib/pve-sim")
}

fn stash_dir(pkg: &str) -> PathBuf {
    state_dir().join("stash").join(pkg)
}

fn hidden_file() -> PathBuf {
    state_dir().join("hidden.json")
}

/// What was hidden, for restore and for the report.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Hidden {
    pub packages: BTreeMap<String, HiddenPkg>,
}

#[derive(Debug, Default, Serialize, Deserialize, Clone)]
pub struct HiddenPkg {
    pub version: String,
    pub files: Vec<String>,
    pub info_files: Vec<String>,
    pub removed_dirs: Vec<String>,
}

pub fn load_hidden() -> Hidden {
    sys::read_opt(&hidden_file()).and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
}

fn save_hidden(h: &Hidden) -> Result<()> {
    sys::write_str(&hidden_file(), &serde_json::to_string_pretty(h)?, 0o644)
}

fn status_path() -> PathBuf {
    sys::p("/var/lib/dpkg/status")
}

/// Split the dpkg status file into stanzas.
fn stanzas(text: &str) -> Vec<String> {
    text.split("\n\n").map(|s| s.trim_matches('\n').to_string()).filter(|s| !s.is_empty()).collect()
}

fn field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

/// Installed packages (Status `install ok installed`) with their versions.
pub fn installed() -> BTreeMap<String, String> {
    let text = sys::read_opt(&status_path()).unwrap_or_default();
    let mut out = BTreeMap::new();
    for s in stanzas(&text) {
        if field(&s, "Status") == Some("install ok installed") {
            if let Some(p) = field(&s, "Package") {
                out.insert(p.to_string(), field(&s, "Version").unwrap_or("").to_string());
            }
        }
    }
    out
}

/// Files from `/var/lib/dpkg/info/<pkg>[:arch].list`.
fn info_files(pkg: &str) -> Vec<PathBuf> {
    let dir = sys::p("/var/lib/dpkg/info");
    let Ok(rd) = fs::read_dir(&dir) else { return Vec::new() };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let base = n.rsplit_once('.').map(|(b, _)| b).unwrap_or(n);
            base == pkg || base.split(':').next() == Some(pkg) && base.contains(':')
        })
        .collect();
    v.sort();
    v
}

fn list_file(pkg: &str) -> Option<PathBuf> {
    info_files(pkg).into_iter().find(|p| p.extension().and_then(|e| e.to_str()) == Some("list"))
}

/// Hide `pkg` (no-op when not installed or already hidden). `purge_extra` are package-created
/// paths (not in the .list) that are deleted, e.g. qnetd's CA database, which the postinst recreates.
pub fn hide(pkg: &str, purge_extra: &[&str]) -> Result<bool> {
    let mut hidden = load_hidden();
    if hidden.packages.contains_key(pkg) {
        return Ok(false);
    }
    let text = sys::read_opt(&status_path()).unwrap_or_default();
    let all = stanzas(&text);
    let Some(idx) = all.iter().position(|s| field(s, "Package") == Some(pkg) && field(s, "Status") == Some("install ok installed"))
    else {
        return Ok(false);
    };
    let stash = stash_dir(pkg);
    sys::mkdir_p(&stash, 0o700)?;
    let stanza = all[idx].clone();
    let version = field(&stanza, "Version").unwrap_or("").to_string();
    let mut rec = HiddenPkg { version, ..Default::default() };

    // Files (not directories) listed by dpkg.
    let listed: Vec<String> = list_file(pkg)
        .and_then(|l| sys::read_opt(&l))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default();
    let mut dirs: Vec<String> = Vec::new();
    for f in &listed {
        let src = sys::p(f);
        if fs::symlink_metadata(&src).is_err() {
            continue;
        }
        // Directories — including symlinks to directories such as merged-usr's `/lib` — stay.
        if src.is_dir() {
            if !src.is_symlink() {
                dirs.push(f.clone());
            }
            continue;
        }
        let dst = stash.join("files").join(f.trim_start_matches('/'));
        fs::create_dir_all(dst.parent().unwrap_or(&stash))?;
        move_path(&src, &dst)?;
        rec.files.push(f.clone());
    }
    // Directories that became empty and belong to no other installed package (deepest first, so
    // a parent emptied by removing its child is considered too).
    dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
    let is_empty = |d: &str| fs::read_dir(sys::p(d)).map(|mut r| r.next().is_none()).unwrap_or(false);
    let mut owned_elsewhere: Option<std::collections::HashSet<String>> = None;
    for d in dirs {
        if !is_empty(&d) {
            continue;
        }
        // Scanning every .list is the expensive part: only done when a candidate exists.
        let others = owned_elsewhere.get_or_insert_with(|| other_owned_dirs(pkg, &listed));
        if others.contains(&d) {
            continue;
        }
        if fs::remove_dir(sys::p(&d)).is_ok() {
            rec.removed_dirs.push(d);
        }
    }
    for e in purge_extra {
        let p = sys::p(e);
        if p.is_dir() {
            let _ = fs::remove_dir_all(&p);
        } else {
            let _ = fs::remove_file(&p);
        }
    }
    // dpkg database.
    for info in info_files(pkg) {
        let name = info.file_name().unwrap_or_default().to_string_lossy().into_owned();
        move_path(&info, &stash.join("info").join(&name))?;
        rec.info_files.push(name);
    }
    sys::write_str(&stash.join("status-stanza"), &format!("{stanza}\n"), 0o644)?;
    let rest: Vec<&String> = all.iter().enumerate().filter(|(i, _)| *i != idx).map(|(_, s)| s).collect();
    let mut new_text = rest.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n\n");
    new_text.push_str("\n\n");
    sys::write_str(&status_path(), &new_text, 0o644)?;
    hidden.packages.insert(pkg.to_string(), rec);
    save_hidden(&hidden)?;
    Ok(true)
}

/// Every package's dpkg file list, read once per process (hiding several packages in lab-init
/// would otherwise re-read thousands of files per package).
fn all_lists() -> &'static Vec<(String, String)> {
    static LISTS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    LISTS.get_or_init(|| {
        let mut v = Vec::new();
        let Ok(rd) = fs::read_dir(sys::p("/var/lib/dpkg/info")) else { return v };
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(base) = n.strip_suffix(".list") {
                let pkg = base.split(':').next().unwrap_or(base).to_string();
                if let Some(text) = sys::read_opt(&e.path()) {
                    v.push((pkg, text));
                }
            }
        }
        v
    })
}

/// Which of `candidates` appear in another package's file list.
fn other_owned_dirs(pkg: &str, candidates: &[String]) -> std::collections::HashSet<String> {
    let wanted: std::collections::HashSet<&str> = candidates.iter().map(String::as_str).collect();
    let mut set = std::collections::HashSet::new();
    for (owner, text) in all_lists() {
        if owner == pkg {
            continue;
        }
        for l in text.lines() {
            if wanted.contains(l) {
                set.insert(l.to_string());
            }
        }
    }
    set
}

fn move_path(src: &Path, dst: &Path) -> Result<()> {
    if let Some(d) = dst.parent() {
        fs::create_dir_all(d)?;
    }
    if fs::rename(src, dst).is_err() {
        // Cross-device (overlay lower → upper is the same fs, but be safe): copy + remove.
        let meta = fs::symlink_metadata(src)?;
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
        } else {
            fs::copy(src, dst).with_context(|| format!("copy {} → {}", src.display(), dst.display()))?;
        }
        fs::remove_file(src)?;
    }
    Ok(())
}

/// Restore a hidden package (files, dpkg database). Returns its record; the caller runs the postinst.
pub fn restore(pkg: &str) -> Result<Option<HiddenPkg>> {
    let mut hidden = load_hidden();
    let Some(rec) = hidden.packages.get(pkg).cloned() else { return Ok(None) };
    let stash = stash_dir(pkg);
    for d in rec.removed_dirs.iter().rev() {
        let _ = fs::create_dir_all(sys::p(d));
    }
    for f in &rec.files {
        let src = stash.join("files").join(f.trim_start_matches('/'));
        if fs::symlink_metadata(&src).is_ok() {
            move_path(&src, &sys::p(f))?;
        }
    }
    for n in &rec.info_files {
        move_path(&stash.join("info").join(n), &sys::p("/var/lib/dpkg/info").join(n))?;
    }
    let stanza = sys::read(&stash.join("status-stanza"))?;
    let mut text = sys::read_opt(&status_path()).unwrap_or_default();
    if !text.ends_with("\n\n") && !text.is_empty() {
        text.push('\n');
    }
    text.push_str(stanza.trim_end());
    text.push_str("\n\n");
    sys::write_str(&status_path(), &text, 0o644)?;
    let _ = fs::remove_dir_all(&stash);
    hidden.packages.remove(pkg);
    save_hidden(&hidden)?;
    Ok(Some(rec))
}
