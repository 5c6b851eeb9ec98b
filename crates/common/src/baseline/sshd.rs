//! The sshd hardening drop-in: its text, what `sshd -T` must report once it is active, and the
//! parser of `sshd -T` output.
//!
//! The drop-in lives at [`DROPIN_PATH`]. sshd keeps the *first* value it reads for most
//! keywords, and Debian's `sshd_config` includes `sshd_config.d/*.conf` at its very top, so a
//! file named `00-…` wins over every later file and over the main file (BRIEFING.md, lab
//! conventions). That is also why the effective settings are checked with `sshd -T`: a line
//! placed *above* the Include in `sshd_config` would still beat us, and only the effective
//! view shows it.

use std::collections::BTreeMap;

/// Our drop-in (sorts first in `sshd_config.d`).
pub const DROPIN_PATH: &str = "/etc/ssh/sshd_config.d/00-homelab-iac.conf";
/// Directory sshd includes drop-ins from (Debian default `Include /etc/ssh/sshd_config.d/*.conf`).
pub const DROPIN_DIR: &str = "/etc/ssh/sshd_config.d";

/// `PermitRootLogin` values we set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermitRootLogin {
    /// Key login only: Proxmox nodes need root key login between cluster members.
    ProhibitPassword,
    /// No root login at all: the Pi outside a `pvecm qdevice setup` window.
    No,
}

impl PermitRootLogin {
    /// Spelling in the config file.
    pub fn as_config(&self) -> &'static str {
        match self {
            PermitRootLogin::ProhibitPassword => "prohibit-password",
            PermitRootLogin::No => "no",
        }
    }
    /// Spellings `sshd -T` may print for it (OpenSSH 9.2 prints the old alias
    /// `without-password`; ansible-baseline.md "batched probe").
    pub fn effective_spellings(&self) -> &'static [&'static str] {
        match self {
            PermitRootLogin::ProhibitPassword => &["prohibit-password", "without-password"],
            PermitRootLogin::No => &["no"],
        }
    }
}

/// Desired sshd hardening of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshdHardening {
    pub permit_root_login: PermitRootLogin,
    /// `MaxAuthTries` from the inventory (`defaults.ssh_max_auth_tries`).
    pub max_auth_tries: u32,
    /// Who wrote it (shown in the file's header): `bootstrap-node`, `bootstrap-qdevice`, …
    pub managed_by: String,
    /// Extra raw lines appended verbatim. Not exposed in the inventory: tests use it to prove
    /// that an invalid setting is rejected by `sshd -t` and never installed.
    pub extra_lines: Vec<String>,
}

impl SshdHardening {
    pub fn new(permit_root_login: PermitRootLogin, max_auth_tries: u32, managed_by: &str) -> Self {
        SshdHardening { permit_root_login, max_auth_tries, managed_by: managed_by.to_string(), extra_lines: Vec::new() }
    }

    /// The drop-in text.
    pub fn render(&self) -> String {
        let mut s = format!(
            "# Managed by homelab-iac ({}); local edits are overwritten.\n\
             # sshd keeps the first value it reads and this file sorts first in {DROPIN_DIR}.\n",
            self.managed_by
        );
        for (k, v) in self.settings() {
            s.push_str(&format!("{k} {v}\n"));
        }
        for l in &self.extra_lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    /// Keyword/value pairs in config spelling, in file order.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PubkeyAuthentication", "yes".into()),
            ("PasswordAuthentication", "no".into()),
            ("KbdInteractiveAuthentication", "no".into()),
            ("PermitRootLogin", self.permit_root_login.as_config().into()),
            ("MaxAuthTries", self.max_auth_tries.to_string()),
        ]
    }

    /// Compare with `sshd -T` output: one line per setting that is not effective, e.g.
    /// `passwordauthentication is yes, want no`. Empty = every setting is in effect.
    pub fn effective_mismatches(&self, effective: &BTreeMap<String, String>) -> Vec<String> {
        let mut out = Vec::new();
        for (k, want) in self.settings() {
            let key = k.to_ascii_lowercase();
            let have = effective.get(&key).map(String::as_str).unwrap_or("<absent>");
            let ok = if k == "PermitRootLogin" {
                self.permit_root_login.effective_spellings().contains(&have)
            } else {
                have.eq_ignore_ascii_case(&want)
            };
            if !ok {
                out.push(format!("{key} is {have}, want {want}"));
            }
        }
        out
    }
}

/// Parse `sshd -T` output (`keyword value…` per line, keywords lower-case). The first line of a
/// keyword wins; multi-valued keywords (e.g. `hostkey`) keep only their first value, which is
/// enough for the settings we check.
pub fn parse_sshd_t(out: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in out.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        map.entry(k.to_ascii_lowercase()).or_insert_with(|| v.trim().to_string());
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_dropin_text() {
        let h = SshdHardening::new(PermitRootLogin::ProhibitPassword, 3, "bootstrap-node");
        assert_eq!(
            h.render(),
            "# Managed by homelab-iac (bootstrap-node); local edits are overwritten.\n\
             # sshd keeps the first value it reads and this file sorts first in /etc/ssh/sshd_config.d.\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\n\
             MaxAuthTries 3\n"
        );
    }

    #[test]
    fn pi_dropin_forbids_root_and_extra_lines_are_appended() {
        let mut h = SshdHardening::new(PermitRootLogin::No, 4, "bootstrap-qdevice");
        h.extra_lines.push("NoSuchOption yes".into());
        let t = h.render();
        assert!(t.contains("\nPermitRootLogin no\nMaxAuthTries 4\nNoSuchOption yes\n"), "{t}");
    }

    // Layout of `sshd -T` as OpenSSH 9.2p1 prints it (ansible-baseline.md, appendix C).
    const SSHD_T: &str = "port 22\naddressfamily any\nlistenaddress [::]:22\nlistenaddress 0.0.0.0:22\n\
        usepam yes\nmaxauthtries 3\npubkeyauthentication yes\npasswordauthentication no\n\
        kbdinteractiveauthentication no\npermitrootlogin without-password\nhostkey /etc/ssh/ssh_host_rsa_key\n\
        hostkey /etc/ssh/ssh_host_ed25519_key\n";

    #[test]
    fn sshd_t_is_parsed_and_old_alias_accepted() {
        let eff = parse_sshd_t(SSHD_T);
        assert_eq!(eff["listenaddress"], "[::]:22");
        assert_eq!(eff["hostkey"], "/etc/ssh/ssh_host_rsa_key");
        let h = SshdHardening::new(PermitRootLogin::ProhibitPassword, 3, "t");
        assert!(h.effective_mismatches(&eff).is_empty(), "{:?}", h.effective_mismatches(&eff));
    }

    #[test]
    fn mismatches_name_key_have_and_want() {
        let eff = parse_sshd_t(&SSHD_T.replace("passwordauthentication no", "passwordauthentication yes"));
        let h = SshdHardening::new(PermitRootLogin::No, 5, "t");
        assert_eq!(
            h.effective_mismatches(&eff),
            vec![
                "passwordauthentication is yes, want no".to_string(),
                "permitrootlogin is without-password, want no".to_string(),
                "maxauthtries is 3, want 5".to_string(),
            ]
        );
        assert_eq!(h.effective_mismatches(&BTreeMap::new()).len(), 5);
    }
}
