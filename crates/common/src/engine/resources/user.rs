//! A local account: exists, with shell, home and (at least) the given supplementary groups.
//! Extra groups the user already has are left alone: other tools may add them.

use crate::engine::{Observed, Resource, Status};
use super::run_script;
use crate::ssh::{quote, Session};
use anyhow::{bail, Result};

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub shell: String,
    pub home: String,
    /// `useradd --system` on creation (no aging, uid below 1000).
    pub system: bool,
    /// Supplementary groups the user must be in (they must exist).
    pub groups: Vec<String>,
}

impl User {
    /// A regular user with `/bin/bash` and `/home/NAME`.
    pub fn new(name: &str) -> Self {
        User {
            name: name.to_string(),
            shell: "/bin/bash".into(),
            home: format!("/home/{name}"),
            system: false,
            groups: Vec::new(),
        }
    }
    pub fn groups(mut self, groups: &[&str]) -> Self {
        self.groups = groups.iter().map(|g| g.to_string()).collect();
        self
    }
}

impl Resource for User {
    fn id(&self) -> String {
        format!("user {}", self.name)
    }

    fn probe(&self) -> String {
        let n = quote(&self.name);
        format!("getent passwd {n} || echo absent\nprintf 'groups %s\\n' \"$(id -Gn {n} 2>/dev/null)\"\n")
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        let prefix = format!("{}:", self.name);
        let Some(entry) = observed.stdout.lines().find(|l| l.starts_with(&prefix)) else {
            if observed.stdout.lines().any(|l| l == "absent") {
                let mut what = format!("create (home {}, shell {}", self.home, self.shell);
                if !self.groups.is_empty() {
                    what.push_str(&format!(", groups {}", self.groups.join(",")));
                }
                what.push(')');
                return Ok(Status::change(what));
            }
            bail!("probe of user {} printed nothing usable: {}", self.name, observed.stderr.trim());
        };
        // name:x:uid:gid:gecos:home:shell
        let fields: Vec<&str> = entry.split(':').collect();
        if fields.len() < 7 {
            bail!("unreadable passwd entry {entry:?}");
        }
        let (home, shell) = (fields[5], fields[6]);
        let mut parts = Vec::new();
        if shell != self.shell {
            parts.push(format!("shell {shell} → {}", self.shell));
        }
        if home != self.home {
            parts.push(format!("home {home} → {}", self.home));
        }
        let have: Vec<&str> = observed.field("groups").unwrap_or("").split_whitespace().collect();
        let missing: Vec<&str> = self.groups.iter().map(String::as_str).filter(|g| !have.contains(g)).collect();
        if !missing.is_empty() {
            parts.push(format!("add to groups {}", missing.join(",")));
        }
        Ok(if parts.is_empty() { Status::InState } else { Status::change(parts.join(", ")) })
    }

    fn apply(&self, session: &Session) -> Result<()> {
        run_script(session, &format!("user {}", self.name), &self.script())
    }

    fn apply_script(&self, _observed: &Observed) -> Option<Result<String>> {
        Some(Ok(self.script()))
    }
}

impl User {
    fn script(&self) -> String {
        let n = quote(&self.name);
        let (shell, home) = (quote(&self.shell), quote(&self.home));
        let groups = quote(&self.groups.join(","));
        let g = !self.groups.is_empty();
        let mut script = format!("if getent passwd {n} >/dev/null; then\n  usermod -s {shell} -d {home} {n}\n");
        if g {
            script.push_str(&format!("  usermod -a -G {groups} {n}\n"));
        }
        script.push_str("else\n  useradd ");
        if self.system {
            script.push_str("--system ");
        }
        script.push_str(&format!("-m -d {home} -s {shell} "));
        if g {
            script.push_str(&format!("-G {groups} "));
        }
        script.push_str(&format!("{n}\nfi\n"));
        script
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u() -> User {
        User::new("homelab").groups(&["sudo"])
    }

    #[test]
    fn absent_user_is_created() {
        let s = u().evaluate(&Observed::new("absent\ngroups \n", 0)).unwrap();
        assert_eq!(s, Status::change("create (home /home/homelab, shell /bin/bash, groups sudo)"));
    }

    #[test]
    fn in_state_with_extra_groups() {
        let o = Observed::new("homelab:x:1000:1000::/home/homelab:/bin/bash\ngroups homelab sudo adm\n", 0);
        assert_eq!(u().evaluate(&o).unwrap(), Status::InState);
    }

    #[test]
    fn shell_home_and_groups_differences() {
        let o = Observed::new("homelab:x:1000:1000::/srv/h:/bin/sh\ngroups homelab\n", 0);
        assert_eq!(
            u().evaluate(&o).unwrap(),
            Status::change("shell /bin/sh → /bin/bash, home /srv/h → /home/homelab, add to groups sudo")
        );
        assert!(u().evaluate(&Observed::new("", 2)).is_err());
    }
}
