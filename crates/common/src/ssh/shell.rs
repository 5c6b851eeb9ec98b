//! POSIX shell quoting for values spliced into remote commands and scripts.

/// Quote `s` as one POSIX shell word: `'…'`, with embedded `'` written as `'\''`.
/// Plain words made only of safe characters are returned unquoted for readable scripts.
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `command` wrapped to run as root through `sudo -n` (never prompts: a missing NOPASSWD
/// rule fails fast instead of hanging). What [`crate::ssh::Session::exec_root`] sends when the
/// login user is not root.
pub fn sudo_wrap(command: &str) -> String {
    format!("sudo -n -- sh -c {}", quote(command))
}

/// The line in which sudo itself refused to run the command (as opposed to the command
/// failing): "a password is required", "not in the sudoers file", sudo missing.
pub fn sudo_refusal(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .map(str::trim)
        .find(|l| {
            (l.starts_with("sudo:")
                && (l.contains("password is required")
                    || l.contains("terminal is required")
                    || l.contains("not in the sudoers")
                    || l.contains("is not allowed to")
                    || l.contains("not found")))
                || l.ends_with("sudo: not found")
                || l.ends_with("sudo: command not found")
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_sudo_refusals() {
        assert_eq!(sudo_refusal("sudo: a password is required\n").as_deref(), Some("sudo: a password is required"));
        assert!(sudo_refusal("homelab is not in the sudoers file.\nsudo: homelab is not in the sudoers file.  This incident will be reported.").is_some());
        assert!(sudo_refusal("sh: 1: sudo: not found").is_some());
        assert!(sudo_refusal("cat: /x: No such file or directory").is_none());
        assert_eq!(sudo_wrap("id -u"), "sudo -n -- sh -c 'id -u'");
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("/etc/hosts"), "/etc/hosts");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }
}
