//! Text of the files that grant access: the automation user's `authorized_keys`, its sudoers
//! drop-in, and the *temporary* root keys of a QDevice setup window.
//!
//! Temporary root keys carry the comment [`TEMP_ROOT_TAG`] and a `from="…"` restriction, so
//! closing the window removes exactly the lines the tools added and nothing an operator put
//! there (DESIGN.md security rules: root SSH into the Pi only for the duration of
//! `pvecm qdevice setup`, only for the nodes' root keys, restricted with `from=`).

use anyhow::{bail, Result};
use base64::Engine as _;

/// Comment that marks a root authorized key added for a QDevice setup window.
pub const TEMP_ROOT_TAG: &str = "homelab-iac-temporary-root";

/// Our sudoers drop-in (no `.` or `~` in the name: sudo skips such files in sudoers.d).
pub const SUDOERS_PATH: &str = "/etc/sudoers.d/homelab-iac";

/// `authorized_keys` content: exactly these keys, one per line, in inventory order, each once.
pub fn authorized_keys(keys: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = String::new();
    for k in keys {
        let k = k.trim();
        if k.is_empty() || seen.contains(&k) {
            continue;
        }
        seen.push(k);
        out.push_str(k);
        out.push('\n');
    }
    out
}

/// The sudoers drop-in granting the automation user password-less sudo.
pub fn sudoers(user: &str) -> String {
    format!("# Managed by homelab-iac: the automation user runs every step with `sudo -n`.\n{user} ALL=(ALL:ALL) NOPASSWD: ALL\n")
}

/// Key type and base64 blob of an OpenSSH public key line (options and comment ignored).
pub fn key_type_and_blob(line: &str) -> Result<(&str, &str)> {
    let toks: Vec<&str> = line.split_whitespace().collect();
    for (i, t) in toks.iter().enumerate() {
        let is_type = t.starts_with("ssh-") || t.starts_with("ecdsa-sha2-") || t.starts_with("sk-");
        if is_type {
            let Some(blob) = toks.get(i + 1) else { break };
            if base64::engine::general_purpose::STANDARD.decode(blob).is_err() {
                bail!("public key `{}` has a malformed base64 part", short(line));
            }
            return Ok((t, blob));
        }
    }
    bail!("`{}` is not an OpenSSH public key line (expected `ssh-ed25519 AAAA… comment`)", short(line))
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.len() > 40 {
        format!("{}…", &s[..s.char_indices().nth(40).map(|(i, _)| i).unwrap_or(s.len())])
    } else {
        s.to_string()
    }
}

/// `from="a,b" TYPE BLOB homelab-iac-temporary-root`: a root key usable only from the given
/// addresses. The key's own comment is dropped (it would be an ambiguous marker).
pub fn temporary_root_line(pubkey: &str, from: &[String]) -> Result<String> {
    if from.is_empty() {
        bail!("a temporary root key needs at least one source address (from=)");
    }
    for a in from {
        let ok = !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || ".:/*?-_".contains(c));
        if !ok {
            bail!("`{a}` is not a usable from= pattern (an address, CIDR or host name)");
        }
    }
    let (t, blob) = key_type_and_blob(pubkey)?;
    Ok(format!("from=\"{}\" {t} {blob} {TEMP_ROOT_TAG}", from.join(",")))
}

/// Is this `authorized_keys` line one of our temporary root keys?
pub fn is_temporary_root_line(line: &str) -> bool {
    !line.trim_start().starts_with('#') && line.split_whitespace().any(|t| t == TEMP_ROOT_TAG)
}

/// `authorized_keys` text without our temporary lines (everything else kept byte for byte).
pub fn without_temporary_root_lines(current: &str) -> String {
    let mut out = String::new();
    for l in current.lines() {
        if !is_temporary_root_line(l) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// `authorized_keys` text with exactly `lines` as its temporary root keys: the operator's
/// lines stay, old temporary lines are replaced.
pub fn with_temporary_root_lines(current: &str, lines: &[String]) -> String {
    let mut out = without_temporary_root_lines(current);
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9 alice@homelab";
    const K2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK4oRhvqnlWeatUYARzjd5oVh6cTXPvXiWMU5A5cGFNv bob@homelab";

    #[test]
    fn authorized_keys_exact_ordered_deduplicated() {
        let t = authorized_keys(&[K1.into(), format!("  {K2} "), K1.into(), String::new()]);
        assert_eq!(t, format!("{K1}\n{K2}\n"));
        assert_eq!(authorized_keys(&[]), "");
    }

    #[test]
    fn sudoers_line() {
        assert!(sudoers("homelab").ends_with("\nhomelab ALL=(ALL:ALL) NOPASSWD: ALL\n"));
    }

    #[test]
    fn temporary_line_has_from_and_tag_and_drops_comment() {
        let l = temporary_root_line(K1, &["10.231.10.11".into(), "10.231.10.12".into()]).unwrap();
        assert_eq!(
            l,
            "from=\"10.231.10.11,10.231.10.12\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9 homelab-iac-temporary-root"
        );
        assert!(is_temporary_root_line(&l));
        assert!(temporary_root_line(K1, &[]).is_err());
        assert!(temporary_root_line(K1, &["a\" b".into()]).is_err());
        assert!(temporary_root_line("not a key", &["10.0.0.1".into()]).is_err());
        assert!(temporary_root_line("ssh-rsa !!!notbase64", &["10.0.0.1".into()]).is_err());
    }

    #[test]
    fn window_lines_replace_and_remove_only_ours() {
        let operator = format!("# operator\n{K2}\n");
        let t1 = temporary_root_line(K1, &["10.0.0.1".into()]).unwrap();
        let opened = with_temporary_root_lines(&operator, &[t1.clone()]);
        assert_eq!(opened, format!("{operator}{t1}\n"));
        assert_eq!(with_temporary_root_lines(&opened, &[t1.clone()]), opened, "re-opening is stable");
        assert_eq!(without_temporary_root_lines(&opened), operator);
        assert_eq!(without_temporary_root_lines(&operator), operator);
        // A comment that merely mentions the tag is not a key line.
        let c = format!("# {TEMP_ROOT_TAG}\n");
        assert_eq!(without_temporary_root_lines(&c), c);
    }

    #[test]
    fn options_before_type_are_skipped() {
        let line = format!("no-pty,from=\"x\" {K1}");
        let (t, b) = key_type_and_blob(&line).unwrap();
        assert_eq!(t, "ssh-ed25519");
        assert!(b.starts_with("AAAAC3"));
    }
}
