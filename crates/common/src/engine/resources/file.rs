//! A regular file with exact content, mode and owner.
//!
//! The probe embeds the desired SHA-256, so a file in state costs a `stat` and a hash; the
//! current content is printed only when it differs (for the diff), is small, and the file is
//! not secret. Applying is one atomic upload (temp + validate + rename).

use super::{meta_diffs, type_probe};
use crate::engine::{Observed, Resource, Status};
use crate::ssh::{Session, Upload};
use anyhow::{bail, Result};
use sha2::Digest;

/// Files larger than this are compared by hash only ("content differs (N bytes → M bytes)").
const MAX_DIFF_BYTES: u64 = 256 * 1024;

#[derive(Debug, Clone)]
pub struct File {
    pub path: String,
    pub content: Vec<u8>,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    /// Validator run on the temp file before it replaces the target (`{}` = temp path),
    /// e.g. `visudo -cf {}`, `sshd -t -f {}`.
    pub validate: Option<String>,
    /// Never show content (current or desired) in diffs: only "content differs".
    pub secret: bool,
}

impl File {
    /// `path` with `content`, `mode`, owned by root:root.
    pub fn new(path: &str, content: impl Into<Vec<u8>>, mode: u32) -> Self {
        File {
            path: path.to_string(),
            content: content.into(),
            mode,
            owner: "root".into(),
            group: "root".into(),
            validate: None,
            secret: false,
        }
    }
    pub fn owned_by(mut self, owner: &str, group: &str) -> Self {
        self.owner = owner.into();
        self.group = group.into();
        self
    }
    pub fn validated_by(mut self, command: &str) -> Self {
        self.validate = Some(command.into());
        self
    }
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    fn upload(&self) -> Upload<'_> {
        Upload {
            path: &self.path,
            content: &self.content,
            mode: self.mode,
            owner: &self.owner,
            group: &self.group,
            validate: self.validate.as_deref(),
        }
    }

    fn sha256(&self) -> String {
        sha2::Sha256::digest(&self.content).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Unified diff current → desired, or None when it must not or cannot be shown.
    fn text_diff(&self, current: Option<&[u8]>) -> Option<String> {
        if self.secret {
            return None;
        }
        let old = std::str::from_utf8(current.unwrap_or(b"")).ok()?;
        let new = std::str::from_utf8(&self.content).ok()?;
        if old.contains('\0') || new.contains('\0') {
            return None;
        }
        let diff = similar::TextDiff::from_lines(old, new);
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header(&format!("{} (current)", self.path), &format!("{} (desired)", self.path))
            .to_string();
        Some(text)
    }
}

/// The probe's output split into header lines and the optional raw content after `content`.
fn split_content(stdout: &str) -> (&str, Option<&str>) {
    let mut offset = 0;
    for line in stdout.split_inclusive('\n') {
        if line == "content\n" {
            return (&stdout[..offset], Some(&stdout[offset + line.len()..]));
        }
        offset += line.len();
    }
    (stdout, None)
}

impl Resource for File {
    fn id(&self) -> String {
        format!("file {}", self.path)
    }

    /// Meta and hash come from the batch's prefetch ([`crate::engine::observe::prefetch_file`])
    /// when it has them, else from `stat` and `sha256sum` run here.
    fn probe(&self) -> String {
        let show = if self.secret { 0 } else { 1 };
        format!(
            "{prefetch}{type_probe}if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then\n\
             {meta}{sha}\
             \x20 [ -n \"$meta\" ] || meta=$(stat -c '%a %U %G %s' -- \"$p\")\n\
             \x20 [ -n \"$h\" ] || {{ h=$(sha256sum < \"$p\"); h=${{h%% *}}; }}\n\
             \x20 echo \"meta $meta\"; echo \"sha256 $h\"\n\
             \x20 if [ \"$h\" != {want} ] && [ {show} = 1 ] && [ \"${{meta##* }}\" -le {MAX_DIFF_BYTES} ]; then\n\
             \x20   echo content; cat -- \"$p\"\n\
             \x20 fi\n\
             fi\n",
            prefetch = crate::engine::observe::prefetch_file(&self.path),
            meta = crate::engine::observe::LOOKUP_META,
            sha = crate::engine::observe::LOOKUP_SHA256,
            type_probe = type_probe(&self.path),
            want = self.sha256(),
        )
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        let (head, current) = split_content(&observed.stdout);
        let head = Observed::new(head, observed.status);
        let desired = format!("mode {:04o}, {}:{}", self.mode & 0o7777, self.owner, self.group);
        match head.field("type") {
            Some("file") => {}
            Some("absent") => {
                let summary = format!("create ({} bytes, {desired})", self.content.len());
                let diff = if self.secret { None } else { self.text_diff(None) };
                return Ok(Status::change_with_diff(summary, diff));
            }
            Some("symlink") => return Ok(Status::change(format!("replace a symlink by a file ({desired})"))),
            Some(other) => bail!("{} is a {other}, not a regular file; remove it first (or declare it Absent)", self.path),
            None => bail!("probe of {} printed nothing usable: {}", self.path, observed.stderr.trim()),
        }
        let meta = head.field("meta");
        let mut parts = Vec::new();
        let mut diff = None;
        if head.field("sha256") != Some(self.sha256().as_str()) {
            let current_size: u64 = meta.and_then(|m| m.split_whitespace().nth(3)).and_then(|s| s.parse().ok()).unwrap_or(0);
            diff = current.and_then(|c| self.text_diff(Some(c.as_bytes())));
            if diff.is_some() {
                parts.push("content differs".to_string());
            } else {
                parts.push(format!("content differs ({current_size} bytes → {} bytes)", self.content.len()));
            }
        }
        parts.extend(meta_diffs(meta, self.mode, &self.owner, &self.group)?);
        if parts.is_empty() {
            Ok(Status::InState)
        } else {
            Ok(Status::change_with_diff(parts.join(", "), diff))
        }
    }

    fn apply(&self, session: &Session) -> Result<()> {
        session.upload(&self.upload())
    }

    fn apply_script(&self, _observed: &Observed) -> Option<Result<String>> {
        Some(self.upload().script())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(s: &str) -> Observed {
        Observed::new(s, 0)
    }

    fn sha(s: &str) -> String {
        sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn in_state_when_hash_mode_owner_match() {
        let f = File::new("/etc/motd", "hi\n", 0o644);
        let o = obs(&format!("type file\nmeta 644 root root 3\nsha256 {}\n", sha("hi\n")));
        assert_eq!(f.evaluate(&o).unwrap(), Status::InState);
    }

    #[test]
    fn content_change_shows_unified_diff() {
        let f = File::new("/etc/motd", "a\nb\nc\n", 0o644);
        let o = obs(&format!("type file\nmeta 644 root root 6\nsha256 {}\ncontent\na\nx\nc\n", sha("a\nx\nc\n")));
        match f.evaluate(&o).unwrap() {
            Status::Change { summary, diff } => {
                assert_eq!(summary, "content differs");
                let d = diff.unwrap();
                assert!(d.contains("--- /etc/motd (current)"), "{d}");
                assert!(d.contains("-x\n+b\n"), "{d}");
            }
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn secret_file_never_shows_content() {
        let f = File::new("/etc/secret", "new-password\n", 0o600).secret();
        assert!(f.probe().contains("[ 0 = 1 ]"), "secret probe must not print content");
        let o = obs(&format!("type file\nmeta 600 root root 4\nsha256 {}\n", sha("old\n")));
        match f.evaluate(&o).unwrap() {
            Status::Change { summary, diff } => {
                assert_eq!(summary, "content differs (4 bytes → 13 bytes)");
                assert!(diff.is_none());
            }
            s => panic!("{s:?}"),
        }
        match f.evaluate(&obs("type absent\n")).unwrap() {
            Status::Change { diff, .. } => assert!(diff.is_none()),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn mode_and_owner_changes_are_listed() {
        let f = File::new("/etc/x", "x", 0o640).owned_by("root", "adm");
        let o = obs(&format!("type file\nmeta 644 root root 1\nsha256 {}\n", sha("x")));
        assert_eq!(f.evaluate(&o).unwrap(), Status::change("mode 0644 → 0640, owner root:root → root:adm"));
    }

    #[test]
    fn absent_file_is_created_and_directory_is_an_error() {
        let f = File::new("/etc/x", "one\n", 0o644);
        match f.evaluate(&obs("type absent\n")).unwrap() {
            Status::Change { summary, diff } => {
                assert_eq!(summary, "create (4 bytes, mode 0644, root:root)");
                assert!(diff.unwrap().contains("+one"));
            }
            s => panic!("{s:?}"),
        }
        let e = f.evaluate(&obs("type directory\n")).unwrap_err().to_string();
        assert!(e.contains("/etc/x is a directory"), "{e}");
        assert!(matches!(f.evaluate(&obs("type symlink\n")).unwrap(), Status::Change { .. }));
    }

    #[test]
    fn binary_or_large_content_gives_sizes() {
        let f = File::new("/bin/x", vec![0u8, 1, 2], 0o755);
        let o = obs(&format!("type file\nmeta 755 root root 5\nsha256 {}\n", sha("other")));
        assert_eq!(f.evaluate(&o).unwrap(), Status::change("content differs (5 bytes → 3 bytes)"));
    }

    #[test]
    fn probe_runs_in_sh_and_prints_content_only_when_different() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "old\n").unwrap();
        let run = |f: &File| {
            let out = std::process::Command::new("sh").arg("-c").arg(f.probe()).output().unwrap();
            Observed::new(&String::from_utf8_lossy(&out.stdout), out.status.code().unwrap())
        };
        let same = File::new(p.to_str().unwrap(), "old\n", 0o644);
        let o = run(&same);
        assert!(!o.stdout.contains("content"), "{o:?}");
        assert_eq!(o.field("sha256"), Some(sha("old\n").as_str()));
        let other = File::new(p.to_str().unwrap(), "new\n", 0o644);
        let o = run(&other);
        assert!(o.stdout.ends_with("content\nold\n"), "{o:?}");
        let gone = File::new(dir.path().join("none").to_str().unwrap(), "x", 0o644);
        assert_eq!(run(&gone).field("type"), Some("absent"));
    }
}
