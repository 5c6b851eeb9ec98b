//! From a phase's resources and their observation to drift items.
//!
//! The bucket of a change comes from the resource ([`Resource::drift_kind`], by default the
//! first word of its summary). Two places know more than one resource does, and refine it:
//!
//! * the automation user's `authorized_keys`: a File resource only says "content differs"; here
//!   each key line is compared, so a stray key is **unmanaged** and a declared key that is gone
//!   is **missing** (one item per key);
//! * the Pi's "root window closed" resources (bootstrap-qdevice): anything that keeps root SSH
//!   open — the window marker, tagged temporary root keys, an effective `PermitRootLogin` other
//!   than `no` — is an **unmanaged** root-key window, not a mere difference.
//!
//! Diffs: a unified diff is kept as is; a summary of field changes (`rate 10 → 5; schedule …`)
//! becomes a field-level diff, followed by the phase's fix command when it gave one.

use crate::model::{Bucket, DriftItem};
use common::baseline::keys::key_type_and_blob;
use common::engine::{Observed, Resource, Status};
use std::collections::HashMap;

/// What the caller knows about the host that refines classification.
#[derive(Debug, Clone, Default)]
pub struct Refine {
    /// Path of the automation user's `authorized_keys` and the declared key lines.
    pub authorized_keys: Option<(String, Vec<String>)>,
    /// Resource ids that together keep the Pi's root window closed.
    pub root_window_ids: Vec<String>,
}

/// Evaluate `resources` against `observed` (keyed by resource id): drift items, plus the
/// resources that could not be checked (not observed).
pub fn evaluate(
    phase: &str,
    resources: &[Box<dyn Resource>],
    observed: &HashMap<String, Observed>,
    refine: &Refine,
) -> (Vec<DriftItem>, Vec<String>) {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for r in resources {
        let id = r.id();
        let Some(o) = observed.get(&id) else {
            errors.push(format!("{phase}: {id} was not observed (its probe is not in the phase's batch: a drift-check/phase library mismatch, please report it)"));
            continue;
        };
        match r.evaluate(o) {
            Ok(Status::InState) => {}
            Ok(Status::Change { summary, diff }) => {
                let bucket = r.drift_kind(o, &summary);
                items.extend(refine_change(phase, &id, bucket, &summary, diff, o, refine));
            }
            // The phase would refuse to continue here (e.g. a directory where a file belongs,
            // a drop-in that sshd overrides): that is drift the tool cannot fix by itself.
            Err(e) => {
                let why = format!("{e:#}");
                if refine.root_window_ids.contains(&id) {
                    if let Some(item) = window_sshd(phase, &id, &why, None, o) {
                        items.push(item);
                        continue;
                    }
                }
                items.push(DriftItem::new(Bucket::Different, phase, id, format!("cannot be fixed automatically: {why}")));
            }
        }
    }
    (items, errors)
}

fn refine_change(
    phase: &str,
    id: &str,
    bucket: Bucket,
    summary: &str,
    diff: Option<String>,
    o: &Observed,
    refine: &Refine,
) -> Vec<DriftItem> {
    if let Some((path, declared)) = &refine.authorized_keys {
        if id == format!("file {path}") {
            if let Some(items) = key_items(phase, path, declared, summary, o) {
                return items;
            }
        }
    }
    if refine.root_window_ids.contains(&id.to_string()) {
        if id.starts_with("sshd ") {
            if let Some(item) = window_sshd(phase, id, summary, diff.clone(), o) {
                return vec![item];
            }
        } else {
            return vec![DriftItem::new(Bucket::Unmanaged, phase, id, format!("root-key window open: {summary}"))
                .with_diff(diff)];
        }
    }
    vec![DriftItem::new(bucket, phase, id, summary).with_diff(render_diff(bucket, summary, diff))]
}

/// The Pi's sshd: an effective `PermitRootLogin` other than `no` is an open root window.
fn window_sshd(phase: &str, id: &str, summary: &str, diff: Option<String>, o: &Observed) -> Option<DriftItem> {
    let prl = effective_permit_root_login(&o.stdout)?;
    if prl == "no" {
        return None;
    }
    Some(
        DriftItem::new(
            Bucket::Unmanaged,
            phase,
            id,
            format!("root-key window open: sshd PermitRootLogin is {prl} (want no): {summary}"),
        )
        .with_diff(diff),
    )
}

/// `permitrootlogin` from the `sshd -T` part of the sshd drop-in probe (`@@hiac sshd-T ok`).
pub fn effective_permit_root_login(stdout: &str) -> Option<String> {
    let (_, after) = stdout.split_once("@@hiac sshd-T ok\n")?;
    after.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()?.eq_ignore_ascii_case("permitrootlogin")).then(|| it.next().unwrap_or("").to_ascii_lowercase())
    })
}

/// A File probe's current content (printed after a `content` line when it differs).
fn file_content(stdout: &str) -> Option<&str> {
    let mut offset = 0;
    for line in stdout.split_inclusive('\n') {
        if line == "content\n" {
            return Some(&stdout[offset + line.len()..]);
        }
        offset += line.len();
    }
    None
}

/// Short, recognisable name of a key line: `ssh-ed25519 …uC0Q= alice@laptop`.
pub fn key_label(line: &str) -> String {
    match key_type_and_blob(line) {
        Ok((t, blob)) => {
            let tail: String = blob.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
            let comment = line.split_whitespace().skip_while(|w| *w != blob).nth(1).unwrap_or("");
            format!("{t} …{tail} {comment}").trim_end().to_string()
        }
        Err(_) => line.chars().take(40).collect(),
    }
}

fn key_id(line: &str) -> Option<(String, String)> {
    key_type_and_blob(line).ok().map(|(t, b)| (t.to_string(), b.to_string()))
}

/// Per-key items for the automation user's `authorized_keys`, or None when the content was
/// not printed (absent file, too large) or no key differs (then the generic item stands).
fn key_items(phase: &str, path: &str, declared: &[String], summary: &str, o: &Observed) -> Option<Vec<DriftItem>> {
    let current = file_content(&o.stdout)?;
    let lines = |t: &str| -> Vec<String> {
        t.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect()
    };
    let have = lines(current);
    let want: Vec<String> = declared.iter().flat_map(|d| lines(d)).collect();
    let want_ids: Vec<_> = want.iter().map(|l| key_id(l)).collect();
    let have_ids: Vec<_> = have.iter().map(|l| key_id(l)).collect();
    let mut items = Vec::new();
    for (l, id) in have.iter().zip(&have_ids) {
        let declared = match id {
            Some(id) => want_ids.contains(&Some(id.clone())),
            None => want.contains(l),
        };
        if !declared {
            items.push(DriftItem::new(
                Bucket::Unmanaged,
                phase,
                format!("authorized key {}", key_label(l)),
                format!("in {path}, not in the inventory's automation.keys"),
            ));
        }
    }
    for (l, id) in want.iter().zip(&want_ids) {
        let present = match id {
            Some(id) => have_ids.contains(&Some(id.clone())),
            None => have.contains(l),
        };
        if !present {
            items.push(DriftItem::new(
                Bucket::Missing,
                phase,
                format!("authorized key {}", key_label(l)),
                format!("declared in automation.keys, absent from {path}"),
            ));
        }
    }
    if items.is_empty() {
        return None;
    }
    // What else the File resource found (mode, owner) stays a difference of the file.
    let rest: Vec<&str> = summary.split(", ").filter(|p| !p.starts_with("content differs")).collect();
    if !rest.is_empty() {
        items.push(DriftItem::new(Bucket::Different, phase, format!("file {path}"), rest.join(", ")));
    }
    Some(items)
}

/// The diff shown for a change: a unified diff as is; otherwise the field changes of the
/// summary, one per line (`rate: 10 → 5`), then the phase's own detail (its fix command).
pub fn render_diff(bucket: Bucket, summary: &str, diff: Option<String>) -> Option<String> {
    if diff.as_deref().is_some_and(|d| d.starts_with("---") || d.starts_with("@@")) {
        return diff;
    }
    let fields = if bucket == Bucket::Different { field_changes(summary) } else { Vec::new() };
    let mut out: Vec<String> = fields.iter().map(|(f, from, to)| format!("{f}: {from} → {to}")).collect();
    if let Some(d) = diff.filter(|d| !d.trim().is_empty()) {
        if !out.is_empty() {
            out.push("fix:".into());
        }
        out.extend(d.lines().map(str::to_string));
    }
    if out.is_empty() {
        None
    } else {
        Some(out.join("\n"))
    }
}

/// `field from → to` parts of a summary (`; `-separated, or `, `-separated when each part has
/// exactly one arrow). Parts that are not field changes are left out.
pub fn field_changes(summary: &str) -> Vec<(String, String, String)> {
    let mut parts: Vec<&str> = summary.split("; ").collect();
    if parts.len() == 1 && summary.matches(" → ").count() > 1 {
        parts = summary.split(", ").collect();
    }
    parts
        .iter()
        .filter_map(|p| {
            let (left, to) = p.split_once(" → ")?;
            let (field, from) = left.trim().split_once(' ')?;
            Some((field.to_string(), from.to_string(), to.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::engine::resources::{Absent, File, Packages};

    const K1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9 alice@homelab";
    const K2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK4oRhvqnlWeatUYARzjd5oVh6cTXPvXiWMU5A5cGFNv bob@homelab";

    fn obs(pairs: &[(&str, String)]) -> HashMap<String, Observed> {
        pairs.iter().map(|(k, v)| (k.to_string(), Observed::new(v, 0))).collect()
    }

    #[test]
    fn generic_buckets_come_from_the_resources() {
        let rs: Vec<Box<dyn Resource>> = vec![
            Box::new(File::new("/etc/a", "x\n", 0o644)),
            Box::new(Packages::new(&["attr"])),
            Box::new(Absent::new("/etc/b")),
            Box::new(File::new("/etc/c", "c\n", 0o644)),
        ];
        let o = obs(&[
            ("file /etc/a", "type absent\n".into()),
            ("packages attr", "attr deinstall ok config-files 1\n".into()),
            ("absent /etc/b", "type file\n".into()),
        ]);
        let (items, errors) = evaluate("p", &rs, &o, &Refine::default());
        assert_eq!(items.iter().map(|i| i.bucket).collect::<Vec<_>>(), [Bucket::Missing, Bucket::Missing, Bucket::Unmanaged]);
        assert_eq!(items[0].resource, "file /etc/a");
        assert!(items[0].diff.as_deref().unwrap().contains("+x"), "{:?}", items[0].diff);
        assert!(errors[0].starts_with("p: file /etc/c was not observed"), "{errors:?}");
    }

    #[test]
    fn evaluation_errors_are_differences_that_need_a_person() {
        let rs: Vec<Box<dyn Resource>> = vec![Box::new(File::new("/etc/a", "x\n", 0o644))];
        let (items, _) = evaluate("p", &rs, &obs(&[("file /etc/a", "type directory\n".into())]), &Refine::default());
        assert_eq!(items[0].bucket, Bucket::Different);
        assert!(items[0].summary.starts_with("cannot be fixed automatically: /etc/a is a directory"), "{}", items[0].summary);
    }

    #[test]
    fn stray_and_missing_authorized_keys_are_split_per_key() {
        let path = "/home/homelab/.ssh/authorized_keys";
        let want = format!("{K1}\n");
        let f = File::new(path, want.clone(), 0o600).owned_by("homelab", "homelab");
        let current = format!("{K1}\n{K2}\n");
        let probe = format!("type file\nmeta 644 homelab homelab {}\nsha256 0\ncontent\n{current}", current.len());
        let refine = Refine { authorized_keys: Some((path.into(), vec![K1.to_string()])), ..Default::default() };
        let rs: Vec<Box<dyn Resource>> = vec![Box::new(f.clone())];
        let (items, _) = evaluate("bootstrap-node", &rs, &obs(&[(&format!("file {path}"), probe)]), &refine);
        assert_eq!(items.len(), 2, "{items:#?}");
        assert_eq!(items[0].bucket, Bucket::Unmanaged);
        assert_eq!(items[0].resource, "authorized key ssh-ed25519 …5A5cGFNv bob@homelab");
        assert_eq!(items[1], DriftItem::new(Bucket::Different, "bootstrap-node", format!("file {path}"), "mode 0644 → 0600"));

        // A declared key removed: missing.
        let current = format!("{K2}\n");
        let refine = Refine { authorized_keys: Some((path.into(), vec![K1.to_string(), K2.to_string()])), ..Default::default() };
        let f2 = File::new(path, format!("{K1}\n{K2}\n"), 0o600).owned_by("homelab", "homelab");
        let probe = format!("type file\nmeta 600 homelab homelab 1\nsha256 0\ncontent\n{current}");
        let rs: Vec<Box<dyn Resource>> = vec![Box::new(f2)];
        let (items, _) = evaluate("p", &rs, &obs(&[(&format!("file {path}"), probe)]), &refine);
        assert_eq!(items.len(), 1, "{items:#?}");
        assert_eq!(items[0].bucket, Bucket::Missing);
        assert!(items[0].resource.ends_with("alice@homelab"), "{}", items[0].resource);

        // Absent file: the File resource's own "create" stands.
        let rs: Vec<Box<dyn Resource>> = vec![Box::new(f)];
        let (items, _) = evaluate("p", &rs, &obs(&[(&format!("file {path}"), "type absent\n".into())]), &refine);
        assert_eq!((items.len(), items[0].bucket), (1, Bucket::Missing));
    }

    #[test]
    fn root_window_items_are_unmanaged() {
        let marker = Absent::new("/var/lib/homelab-iac/qdevice-root-window");
        let refine = Refine { root_window_ids: vec![marker.id()], ..Default::default() };
        let rs: Vec<Box<dyn Resource>> = vec![Box::new(marker.clone())];
        let (items, _) = evaluate("bootstrap-qdevice", &rs, &obs(&[(&marker.id(), "type file\n".into())]), &refine);
        assert_eq!(items[0].bucket, Bucket::Unmanaged);
        assert_eq!(items[0].summary, "root-key window open: remove (file)");
    }

    #[test]
    fn effective_root_login_is_read_from_the_sshd_probe() {
        let out = "@@hiac meta\n644 root root\n@@hiac content\nPermitRootLogin no\n@@hiac sshd-T ok\nport 22\npermitrootlogin without-password\n";
        assert_eq!(effective_permit_root_login(out).as_deref(), Some("without-password"));
        assert_eq!(effective_permit_root_login("@@hiac sshd-T failed\nx\n"), None);
        let item = window_sshd("q", "sshd /x", "content differs", None, &Observed::new(out, 0)).unwrap();
        assert_eq!(item.bucket, Bucket::Unmanaged);
        assert!(item.summary.contains("PermitRootLogin is without-password (want no)"), "{}", item.summary);
        let closed = out.replace("permitrootlogin without-password", "permitrootlogin no");
        assert!(window_sshd("q", "sshd /x", "content differs", None, &Observed::new(&closed, 0)).is_none());
    }

    #[test]
    fn field_level_diffs_from_summaries() {
        assert_eq!(
            field_changes("rate 10 → 5; schedule */5 → */15"),
            vec![("rate".into(), "10".into(), "5".into()), ("schedule".into(), "*/5".into(), "*/15".into())]
        );
        assert_eq!(
            field_changes("mode 0644 → 0600, owner root:root → homelab:homelab").len(),
            2,
            "comma-separated standard resource summaries"
        );
        assert_eq!(field_changes("content images,rootdir → images").len(), 1);
        assert!(field_changes("content differs").is_empty());
        let d = render_diff(Bucket::Different, "rate 10 → 5", Some("$ pvesr update 900-0 --rate 10".into())).unwrap();
        assert_eq!(d, "rate: 10 → 5\nfix:\n$ pvesr update 900-0 --rate 10");
        let u = "--- a (current)\n+++ a (desired)\n@@ -1 +1 @@\n-x\n+y\n";
        assert_eq!(render_diff(Bucket::Different, "content differs", Some(u.into())).as_deref(), Some(u));
        assert_eq!(render_diff(Bucket::Missing, "create", None), None);
    }

    #[test]
    fn key_labels_are_short_and_recognisable() {
        assert_eq!(key_label(K1), "ssh-ed25519 …CwcPliX9 alice@homelab");
        assert_eq!(key_label("garbage"), "garbage");
    }
}
