//! A service enabled and/or running, via `systemctl` (pve-sim's shim in the lab). When
//! notified (its config changed) it is reloaded or restarted.

use crate::engine::{Observed, Resource, Status};
use super::run_script;
use crate::ssh::{quote, Session};
use anyhow::{bail, Result};

/// What a notified service does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotifyAction {
    /// `systemctl reload` (sshd: keeps the listener, re-reads config).
    Reload,
    #[default]
    Restart,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// `Some(true)`: enabled at boot; `Some(false)`: disabled; `None`: don't care.
    pub enabled: Option<bool>,
    pub running: Option<bool>,
    pub notified_by: Vec<String>,
    pub on_notify: NotifyAction,
}

impl Service {
    /// Enabled and running.
    pub fn running(name: &str) -> Self {
        Service {
            name: name.to_string(),
            enabled: Some(true),
            running: Some(true),
            notified_by: Vec::new(),
            on_notify: NotifyAction::Restart,
        }
    }
    /// Reload/restart (per `action`) when any of `ids` changed in this run.
    pub fn notified_by(mut self, ids: &[&str], action: NotifyAction) -> Self {
        self.notified_by = ids.iter().map(|s| s.to_string()).collect();
        self.on_notify = action;
        self
    }
}

/// `systemctl is-enabled` answers that count as "starts at boot".
fn is_enabled(word: &str) -> bool {
    matches!(word, "enabled" | "enabled-runtime" | "static" | "indirect" | "generated" | "alias")
}

impl Resource for Service {
    fn id(&self) -> String {
        format!("service {}", self.name)
    }

    fn probe(&self) -> String {
        let n = quote(&self.name);
        format!(
            "printf 'enabled %s\\n' \"$(systemctl is-enabled {n} 2>/dev/null)\"\n\
             printf 'active %s\\n' \"$(systemctl is-active {n} 2>/dev/null)\"\n"
        )
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        let enabled = observed.field("enabled").unwrap_or("").trim();
        let active = observed.field("active").unwrap_or("").trim();
        if enabled.is_empty() && active.is_empty() && (self.enabled.is_some() || self.running.is_some()) {
            bail!("systemctl printed nothing for {}; is systemctl available on this host?", self.name);
        }
        let mut parts = Vec::new();
        match self.enabled {
            Some(true) if !is_enabled(enabled) => parts.push(format!("enable ({enabled})")),
            Some(false) if matches!(enabled, "enabled" | "enabled-runtime") => parts.push("disable".to_string()),
            _ => {}
        }
        match self.running {
            Some(true) if active != "active" && active != "reloading" => parts.push(format!("start ({active})")),
            Some(false) if active == "active" || active == "reloading" => parts.push("stop".to_string()),
            _ => {}
        }
        Ok(if parts.is_empty() { Status::InState } else { Status::change(parts.join(", ")) })
    }

    fn apply(&self, session: &Session) -> Result<()> {
        run_script(session, &format!("service {}", self.name), &self.apply_commands())
    }

    fn apply_script(&self, _observed: &Observed) -> Option<Result<String>> {
        Some(Ok(self.apply_commands()))
    }

    fn notified_by(&self) -> Vec<String> {
        self.notified_by.clone()
    }

    fn on_notify(&self, session: &Session) -> Result<()> {
        run_script(session, &format!("systemctl {} {}", self.notify_verb(), self.name), &self.notify_command())
    }

    fn notify_script(&self, _observed: &Observed) -> Option<Result<String>> {
        Some(Ok(self.notify_command()))
    }
}

impl Service {
    /// enable/disable, then start/stop, as needed (`true` when nothing is asked).
    fn apply_commands(&self) -> String {
        let n = quote(&self.name);
        let mut cmds = Vec::new();
        match self.enabled {
            Some(true) => cmds.push(format!("systemctl enable {n}")),
            Some(false) => cmds.push(format!("systemctl disable {n}")),
            None => {}
        }
        match self.running {
            Some(true) => cmds.push(format!("systemctl start {n}")),
            Some(false) => cmds.push(format!("systemctl stop {n}")),
            None => {}
        }
        if cmds.is_empty() {
            return "true\n".to_string();
        }
        format!("{}\n", cmds.join(" && "))
    }

    fn notify_verb(&self) -> &'static str {
        match self.on_notify {
            NotifyAction::Reload => "reload",
            NotifyAction::Restart => "restart",
        }
    }

    fn notify_command(&self) -> String {
        format!("systemctl {} {}\n", self.notify_verb(), quote(&self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(e: &str, a: &str) -> Observed {
        Observed::new(&format!("enabled {e}\nactive {a}\n"), 0)
    }

    #[test]
    fn running_and_enabled() {
        let s = Service::running("corosync-qnetd");
        assert_eq!(s.evaluate(&obs("enabled", "active")).unwrap(), Status::InState);
        assert_eq!(s.evaluate(&obs("disabled", "inactive")).unwrap(), Status::change("enable (disabled), start (inactive)"));
        assert_eq!(s.evaluate(&obs("static", "failed")).unwrap(), Status::change("start (failed)"));
        assert!(s.evaluate(&obs("", "")).is_err());
    }

    #[test]
    fn stopped_and_disabled() {
        let s = Service { enabled: Some(false), running: Some(false), ..Service::running("pve-ha-lrm") };
        assert_eq!(s.evaluate(&obs("disabled", "inactive")).unwrap(), Status::InState);
        assert_eq!(s.evaluate(&obs("enabled", "active")).unwrap(), Status::change("disable, stop"));
        let dont_care = Service { enabled: None, running: None, ..Service::running("x") };
        assert_eq!(dont_care.evaluate(&obs("", "")).unwrap(), Status::InState);
    }
}
