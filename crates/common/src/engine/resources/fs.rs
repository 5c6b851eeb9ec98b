//! Filesystem shapes other than file content: [`Absent`], [`Directory`], [`Symlink`].

use super::{meta_diffs, owner_spec, run_script, type_probe};
use crate::engine::{Observed, Resource, Status};
use crate::ssh::{quote, Session};
use anyhow::{bail, Result};

fn kind(observed: &Observed, path: &str) -> Result<String> {
    match observed.field("type") {
        Some(t) => Ok(t.to_string()),
        None => bail!("probe of {path} printed nothing usable: {}", observed.stderr.trim()),
    }
}

/// Nothing at `path` (file, symlink or directory tree: removed with `rm -rf`).
#[derive(Debug, Clone)]
pub struct Absent {
    pub path: String,
}

impl Absent {
    pub fn new(path: &str) -> Self {
        Absent { path: path.to_string() }
    }

    fn script(&self) -> Result<String> {
        // Guard against a path that would make `rm -rf` catastrophic.
        let p = self.path.trim_end_matches('/');
        if !self.path.starts_with('/') || p.is_empty() || p.split('/').any(|c| c == "..") {
            bail!("refusing to remove {:?}: not a plain absolute path", self.path);
        }
        Ok(format!("rm -rf -- {}\n", quote(&self.path)))
    }
}

impl Resource for Absent {
    fn id(&self) -> String {
        format!("absent {}", self.path)
    }
    fn probe(&self) -> String {
        type_probe(&self.path)
    }
    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        match kind(observed, &self.path)?.as_str() {
            "absent" => Ok(Status::InState),
            t => Ok(Status::change(format!("remove ({t})"))),
        }
    }
    fn apply(&self, session: &Session) -> Result<()> {
        run_script(session, &format!("removing {}", self.path), &self.script()?)
    }

    fn apply_script(&self, _observed: &Observed) -> Option<Result<String>> {
        Some(self.script())
    }
}

/// A directory with mode and owner (parents created as needed).
#[derive(Debug, Clone)]
pub struct Directory {
    pub path: String,
    pub mode: u32,
    pub owner: String,
    pub group: String,
}

impl Directory {
    /// Owned by root:root.
    pub fn new(path: &str, mode: u32) -> Self {
        Directory { path: path.to_string(), mode, owner: "root".into(), group: "root".into() }
    }
    pub fn owned_by(mut self, owner: &str, group: &str) -> Self {
        self.owner = owner.into();
        self.group = group.into();
        self
    }

    fn script(&self) -> String {
        let p = quote(&self.path);
        format!("mkdir -p -- {p} && chown {} {p} && chmod {:o} {p}\n", owner_spec(&self.owner, &self.group), self.mode & 0o7777)
    }
}

impl Resource for Directory {
    fn id(&self) -> String {
        format!("directory {}", self.path)
    }
    fn probe(&self) -> String {
        // meta from the batch's prefetch when it has it (one `stat` for all paths).
        format!(
            "{}{}if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then\n{}[ -n \"$meta\" ] || meta=$(stat -c '%a %U %G %s' -- \"$p\")\necho \"meta $meta\"\nfi\n",
            crate::engine::observe::prefetch_stat(&self.path),
            type_probe(&self.path),
            crate::engine::observe::LOOKUP_META,
        )
    }
    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        match kind(observed, &self.path)?.as_str() {
            "directory" => {
                let diffs = meta_diffs(observed.field("meta"), self.mode, &self.owner, &self.group)?;
                Ok(if diffs.is_empty() { Status::InState } else { Status::change(diffs.join(", ")) })
            }
            "absent" => Ok(Status::change(format!(
                "create (mode {:04o}, {}:{})",
                self.mode & 0o7777,
                self.owner,
                self.group
            ))),
            t => bail!("{} is a {t}, not a directory; remove it first (or declare it Absent)", self.path),
        }
    }
    fn apply(&self, session: &Session) -> Result<()> {
        run_script(session, &format!("creating directory {}", self.path), &self.script())
    }

    fn apply_script(&self, _observed: &Observed) -> Option<Result<String>> {
        Some(Ok(self.script()))
    }
}

/// A symlink at `path` pointing at `target` (a regular file there is replaced).
#[derive(Debug, Clone)]
pub struct Symlink {
    pub path: String,
    pub target: String,
}

impl Symlink {
    pub fn new(path: &str, target: &str) -> Self {
        Symlink { path: path.to_string(), target: target.to_string() }
    }

    fn script(&self) -> String {
        // -n: replace an existing symlink to a directory instead of creating a link inside it.
        format!("ln -sfn -- {} {}\n", quote(&self.target), quote(&self.path))
    }
}

impl Resource for Symlink {
    fn id(&self) -> String {
        format!("symlink {}", self.path)
    }
    fn probe(&self) -> String {
        format!("{}if [ -L \"$p\" ]; then printf 'link %s\\n' \"$(readlink -- \"$p\")\"; fi\n", type_probe(&self.path))
    }
    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        match kind(observed, &self.path)?.as_str() {
            "symlink" => match observed.field("link") {
                Some(t) if t == self.target => Ok(Status::InState),
                Some(t) => Ok(Status::change(format!("target {t} → {}", self.target))),
                None => bail!("probe of symlink {} printed no target", self.path),
            },
            "absent" => Ok(Status::change(format!("create → {}", self.target))),
            "file" => Ok(Status::change(format!("replace a regular file by a symlink → {}", self.target))),
            t => bail!("{} is a {t}, not a symlink; remove it first (or declare it Absent)", self.path),
        }
    }
    fn apply(&self, session: &Session) -> Result<()> {
        run_script(session, &format!("linking {} → {}", self.path, self.target), &self.script())
    }

    fn apply_script(&self, _observed: &Observed) -> Option<Result<String>> {
        Some(Ok(self.script()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(s: &str) -> Observed {
        Observed::new(s, 0)
    }

    #[test]
    fn absent_evaluates() {
        let a = Absent::new("/etc/apt/sources.list.d/pve-enterprise.sources");
        assert_eq!(a.evaluate(&obs("type absent\n")).unwrap(), Status::InState);
        assert_eq!(a.evaluate(&obs("type file\n")).unwrap(), Status::change("remove (file)"));
        assert_eq!(a.evaluate(&obs("type directory\n")).unwrap(), Status::change("remove (directory)"));
        assert!(a.evaluate(&obs("")).is_err());
    }

    #[test]
    fn directory_evaluates() {
        let d = Directory::new("/home/homelab/.ssh", 0o700).owned_by("homelab", "homelab");
        assert_eq!(d.evaluate(&obs("type directory\nmeta 700 homelab homelab\n")).unwrap(), Status::InState);
        assert_eq!(
            d.evaluate(&obs("type directory\nmeta 755 root root\n")).unwrap(),
            Status::change("mode 0755 → 0700, owner root:root → homelab:homelab")
        );
        assert_eq!(d.evaluate(&obs("type absent\n")).unwrap(), Status::change("create (mode 0700, homelab:homelab)"));
        let e = d.evaluate(&obs("type file\n")).unwrap_err().to_string();
        assert!(e.contains("is a file, not a directory"), "{e}");
    }

    #[test]
    fn symlink_evaluates() {
        let s = Symlink::new("/etc/localtime", "/usr/share/zoneinfo/Australia/Brisbane");
        assert_eq!(
            s.evaluate(&obs("type symlink\nlink /usr/share/zoneinfo/Australia/Brisbane\n")).unwrap(),
            Status::InState
        );
        assert_eq!(
            s.evaluate(&obs("type symlink\nlink /usr/share/zoneinfo/Etc/UTC\n")).unwrap(),
            Status::change("target /usr/share/zoneinfo/Etc/UTC → /usr/share/zoneinfo/Australia/Brisbane")
        );
        assert!(matches!(s.evaluate(&obs("type absent\n")).unwrap(), Status::Change { .. }));
        assert!(matches!(s.evaluate(&obs("type file\n")).unwrap(), Status::Change { .. }));
        assert!(s.evaluate(&obs("type directory\n")).is_err());
    }

    #[test]
    fn probes_run_in_sh() {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path().join("l");
        std::os::unix::fs::symlink("/some where", &l).unwrap();
        let run = |script: String| {
            let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
            Observed::new(&String::from_utf8_lossy(&out.stdout), 0)
        };
        let s = Symlink::new(l.to_str().unwrap(), "/some where");
        assert_eq!(s.evaluate(&run(s.probe())).unwrap(), Status::InState);
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
        let d = Directory::new(dir.path().to_str().unwrap(), 0o750);
        let o = run(d.probe());
        assert_eq!(o.field("type"), Some("directory"));
        assert!(o.field("meta").unwrap().starts_with("750 "), "{o:?}");
    }
}
