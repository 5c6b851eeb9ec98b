//! Field-level differences between a Proxmox object and the inventory, and the bits every
//! cluster object shares: the `--opt value` / `--delete a,b` arguments of `pvesm set`,
//! `pvesr update` and `pvesh set`, and a small memo that carries an evaluated plan to `apply`.

use common::ssh::quote;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

/// Shown for a field that is not set.
pub const UNSET: &str = "(unset)";

/// One field that differs: `content images,rootdir → images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub from: String,
    pub to: String,
}

impl FieldChange {
    pub fn new(field: &str, from: impl Into<String>, to: impl Into<String>) -> Self {
        FieldChange { field: field.to_string(), from: from.into(), to: to.into() }
    }
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} → {}", self.field, self.from, self.to)
    }
}

/// `a; b; c` — the one-line summary of a resource's changes.
pub fn summary(changes: &[FieldChange]) -> String {
    changes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; ")
}

/// A set shown the way PVE writes lists: comma-separated (sorted, so it is stable).
pub fn show_set(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        UNSET.to_string()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

pub fn show_opt(v: Option<&str>) -> String {
    v.map(str::to_string).unwrap_or_else(|| UNSET.to_string())
}

/// The option arguments of an update: `--key value …` for what is set, one `--delete k1,k2`
/// for what is removed. Values are shell-quoted (a schedule like `sun 02:00` has a space).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub set: Vec<(String, String)>,
    pub delete: Vec<String>,
}

impl Update {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.delete.is_empty()
    }
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.set.push((key.to_string(), value.into()));
    }
    pub fn delete(&mut self, key: &str) {
        self.delete.push(key.to_string());
    }
    /// ` --k v … --delete a,b` (leading space; empty when nothing is to be done).
    pub fn args(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.set {
            s.push_str(&format!(" --{k} {}", quote(v)));
        }
        if !self.delete.is_empty() {
            s.push_str(&format!(" --delete {}", quote(&self.delete.join(","))));
        }
        s
    }
}

/// The plan `evaluate` worked out, kept for `apply` (which gets no observation). Apply falls
/// back to observing again when it is called without a prior evaluate.
#[derive(Debug, Default)]
pub struct Memo<T>(Mutex<Option<T>>);

impl<T: Clone> Memo<T> {
    pub fn new() -> Self {
        Memo(Mutex::new(None))
    }
    pub fn put(&self, v: T) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
    }
    pub fn get(&self) -> Option<T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A number the way PVE prints a rate: `10`, `2.5`.
pub fn show_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Split a probe's output into named sections. A section starts with a line
/// `@@homelab-iac NAME@@`; text before the first marker is ignored.
pub fn sections(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut current: Option<String> = None;
    let mut buf = String::new();
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if let Some(name) = bare.strip_prefix("@@homelab-iac ").and_then(|r| r.strip_suffix("@@")) {
            if let Some(c) = current.take() {
                out.insert(c, std::mem::take(&mut buf));
            }
            current = Some(name.to_string());
            buf.clear();
        } else if current.is_some() {
            buf.push_str(line);
        }
    }
    if let Some(c) = current {
        out.insert(c, buf);
    }
    out
}

/// The shell line that starts a section for [`sections`].
pub fn section_marker(name: &str) -> String {
    format!("printf '%s\\n' '@@homelab-iac {name}@@'\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_args_quote_values_and_join_deletes() {
        let mut u = Update::default();
        assert!(u.is_empty());
        assert_eq!(u.args(), "");
        u.set("schedule", "sun 02:00");
        u.set("content", "images,rootdir");
        u.delete("comment");
        u.delete("prune-backups");
        assert_eq!(u.args(), " --schedule 'sun 02:00' --content images,rootdir --delete comment,prune-backups");
    }

    #[test]
    fn field_changes_render_like_the_plan() {
        let c = vec![FieldChange::new("content", "images,rootdir", "images"), FieldChange::new("options", UNSET, "vers=4.2")];
        assert_eq!(summary(&c), "content images,rootdir → images; options (unset) → vers=4.2");
        let set: BTreeSet<String> = ["rootdir", "images"].iter().map(|s| s.to_string()).collect();
        assert_eq!(show_set(&set), "images,rootdir");
        assert_eq!(show_set(&BTreeSet::new()), UNSET);
        assert_eq!(show_number(10.0), "10");
        assert_eq!(show_number(2.5), "2.5");
    }

    #[test]
    fn sections_split_on_markers_only() {
        let text = "noise\n@@homelab-iac a@@\n[1]\n@@homelab-iac b@@\nline\n\n@@homelab-iac empty@@\n";
        let s = sections(text);
        assert_eq!(s["a"], "[1]\n");
        assert_eq!(s["b"], "line\n\n");
        assert_eq!(s["empty"], "");
        assert_eq!(s.len(), 3);
        let out = std::process::Command::new("sh").arg("-c").arg(format!("{}echo x", section_marker("m"))).output().unwrap();
        assert_eq!(sections(&String::from_utf8_lossy(&out.stdout))["m"], "x\n");
    }

    #[test]
    fn memo_keeps_the_last_plan() {
        let m: Memo<u32> = Memo::new();
        assert_eq!(m.get(), None);
        m.put(1);
        m.put(2);
        assert_eq!(m.get(), Some(2));
    }
}
