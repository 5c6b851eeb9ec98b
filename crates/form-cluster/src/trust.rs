//! SSH trust between the cluster nodes, as pure text: which root keys every node accepts and
//! which host keys every node pins.
//!
//! `pvecm add --use_ssh` logs in from the joining node to the master as root (`ssh-copy-id -i
//! /root/.ssh/id_rsa`, then `ssh <master> pvecm addnode …`, pve-cli.md §2.3), and `pvecm qdevice
//! setup` runs ssh/scp from the master to every member (`-o BatchMode=yes -o
//! HostKeyAlias=<node>`, so pins must exist under the node *name*) and to the Pi (by address).
//! None of that may prompt, and none of it may learn a host key on first use. So:
//!
//! * every node's root public keys — ed25519 (ours) and RSA (the one pvecm uses) — are in every
//!   node's `/root/.ssh/authorized_keys` (itself included: on a clustered node that file is a
//!   symlink to the cluster-wide `/etc/pve/priv/authorized_keys`, so every node must want the
//!   same set);
//! * every node's root `known_hosts` pins every node's ed25519 host key under its name, FQDN and
//!   both link addresses, and the Pi's under its name and address — keys read from the hosts'
//!   own `/etc/ssh/ssh_host_ed25519_key.pub` over the already-verified sessions, never scanned.
//!
//! Our lines carry a one-token comment starting with [`MARK`]; they are replaced as a set and
//! everything else in the files (the operator's keys, PVE's own merges) is left alone. The
//! one-token form matters: PVE's `ssh_merge_keys` de-duplicates `ssh-rsa KEY COMMENT` lines
//! only when the comment is a single word, so PVE then keeps ours and drops its own copy.

use std::fmt::Write as _;

/// Prefix of the comment on every line form-cluster manages.
pub const MARK: &str = "homelab-iac:form-cluster:";

/// Root keys of one node (public key lines as in `id_*.pub`; `None` when absent).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RootKeys {
    pub node: String,
    pub ed25519: Option<String>,
    pub rsa: Option<String>,
}

impl RootKeys {
    /// The keys present, ed25519 first.
    pub fn lines(&self) -> Vec<&str> {
        self.ed25519.iter().chain(self.rsa.iter()).map(String::as_str).collect()
    }
}

/// A host to pin: the names it is reached under and its ed25519 host key (`type blob`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPin {
    pub name: String,
    pub aliases: Vec<String>,
    pub key: String,
}

/// `TYPE BLOB` of a public key line (options and comment dropped); `None` if unreadable.
pub fn type_and_blob(line: &str) -> Option<(String, String)> {
    common::baseline::keys::key_type_and_blob(line).ok().map(|(t, b)| (t.to_string(), b.to_string()))
}

/// Is `line` one of ours? (Its last token is our marker comment; `#` lines never are.)
pub fn is_marked(line: &str) -> bool {
    let t = line.trim();
    !t.starts_with('#') && t.split_whitespace().last().is_some_and(|c| c.starts_with(MARK))
}

/// The lines we manage in `text`, trimmed, in file order.
pub fn marked_lines(text: &str) -> Vec<String> {
    text.lines().filter(|l| is_marked(l)).map(|l| l.trim().to_string()).collect()
}

/// `authorized_keys` lines: each node's keys, in inventory order, each key once.
pub fn authorized_lines(nodes: &[RootKeys]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for n in nodes {
        for l in n.lines() {
            let Some((t, b)) = type_and_blob(l) else { continue };
            if seen.contains(&b) {
                continue;
            }
            seen.push(b.clone());
            out.push(format!("{t} {b} {MARK}root@{}", n.node));
        }
    }
    out
}

/// `known_hosts` lines: `name,alias… TYPE BLOB marker`, one per host.
pub fn known_host_lines(hosts: &[HostPin]) -> Vec<String> {
    hosts
        .iter()
        .filter_map(|h| {
            let (t, b) = type_and_blob(&h.key)?;
            let mut names = vec![h.name.to_lowercase()];
            for a in &h.aliases {
                let a = a.to_lowercase();
                if !names.contains(&a) {
                    names.push(a);
                }
            }
            Some(format!("{} {t} {b} {MARK}{}", names.join(","), h.name))
        })
        .collect()
}

/// Is the file in state: exactly `desired` as our lines, in that order, each once?
pub fn in_state(current: &str, desired: &[String]) -> bool {
    marked_lines(current) == desired
}

/// The file with our lines replaced by `desired` (appended after everything else).
pub fn with_marked(current: &str, desired: &[String]) -> String {
    let mut out = String::new();
    for l in current.lines().filter(|l| !is_marked(l)) {
        out.push_str(l);
        out.push('\n');
    }
    for l in desired {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Human summary of the difference in our lines (`+ root@pve-node2 (ssh-ed25519 …)` style).
pub fn describe_change(current: &str, desired: &[String]) -> String {
    let have = marked_lines(current);
    let mut s = String::new();
    for d in desired.iter().filter(|d| !have.contains(d)) {
        let _ = writeln!(s, "+ {}", short(d));
    }
    for h in have.iter().filter(|h| !desired.contains(h)) {
        let _ = writeln!(s, "- {}", short(h));
    }
    if s.is_empty() {
        s.push_str("~ order or duplicates of managed lines\n");
    }
    s
}

/// A line shortened for display: only the base64 key blob is cut to its last 12 characters.
fn short(line: &str) -> String {
    let toks: Vec<&str> = line.split_whitespace().collect();
    let key_at = toks.iter().position(|t| t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-"));
    toks.iter()
        .enumerate()
        .map(|(i, t)| {
            if Some(i) == key_at.map(|k| k + 1) && t.len() > 16 {
                format!("…{}", &t[t.len() - 12..])
            } else {
                t.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Shell script (run as root via `sh -s`) that rewrites `path` with our lines replaced by
/// `desired`, keeping every other line. It edits the symlink's *target* (on a clustered node
/// `/root/.ssh/authorized_keys` points into `/etc/pve/priv`), writes a temp file beside it and
/// renames it into place, and merges on the host itself — so two nodes editing the same
/// cluster-wide file at the same time still both end with exactly our set.
pub fn rewrite_script(path: &str, mode: &str, desired: &[String]) -> String {
    let mut body = String::new();
    for l in desired {
        body.push_str(l);
        body.push('\n');
    }
    format!(
        r#"set -e
umask 077
f={path}
mkdir -p "$(dirname "$f")"
t=$(readlink -f "$f" 2>/dev/null || true)
[ -n "$t" ] || t="$f"
tmp=$(mktemp "$(dirname "$t")/.homelab-iac.XXXXXX")
trap 'rm -f "$tmp"' EXIT
{{
  if [ -f "$t" ]; then grep -v -E '[[:space:]]{mark}[^[:space:]]*[[:space:]]*$' "$t" || true; fi
  cat <<'HOMELAB_IAC_EOF'
{body}HOMELAB_IAC_EOF
}} > "$tmp"
chmod {mode} "$tmp"
mv -f "$tmp" "$t"
trap - EXIT
"#,
        path = common::ssh::quote(path),
        mark = MARK,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const E1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9 root@pve-node1";
    const E2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK4oRhvqnlWeatUYARzjd5oVh6cTXPvXiWMU5A5cGFNv root@pve-node2";
    const R1: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 root@pve-node1";

    fn keys() -> Vec<RootKeys> {
        vec![
            RootKeys { node: "pve-node1".into(), ed25519: Some(E1.into()), rsa: Some(R1.into()) },
            RootKeys { node: "pve-node2".into(), ed25519: Some(E2.into()), rsa: None },
        ]
    }

    #[test]
    fn authorized_lines_are_marked_ordered_and_unique() {
        let l = authorized_lines(&keys());
        assert_eq!(l.len(), 3);
        assert!(l[0].starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBok"));
        assert!(l[0].ends_with(" homelab-iac:form-cluster:root@pve-node1"));
        assert!(l[1].starts_with("ssh-rsa "));
        assert!(l[2].ends_with(":root@pve-node2"));
        // The same key on two nodes (cloned image) is listed once.
        let mut k = keys();
        k[1].ed25519 = Some(E1.into());
        assert_eq!(authorized_lines(&k).len(), 2);
        // Every line matches PVE's ssh_merge_keys dedup pattern: TYPE BLOB ONE-WORD-COMMENT.
        for line in authorized_lines(&keys()) {
            assert_eq!(line.split_whitespace().count(), 3, "{line}");
        }
    }

    #[test]
    fn merge_keeps_foreign_lines_and_is_stable() {
        let desired = authorized_lines(&keys());
        let operator = "# operator\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOPERATOR op@laptop\n";
        assert!(!in_state(operator, &desired));
        let new = with_marked(operator, &desired);
        assert!(new.starts_with(operator));
        assert!(in_state(&new, &desired));
        assert_eq!(with_marked(&new, &desired), new, "second edit is a no-op");
        // PVE's merge appending a duplicate of one of our lines breaks the exact set.
        let dup = format!("{new}{}\n", desired[0]);
        assert!(!in_state(&dup, &desired));
        assert_eq!(with_marked(&dup, &desired), new);
        // A removed node's line disappears.
        let fewer = &desired[..2];
        assert!(!with_marked(&new, fewer).contains("root@pve-node2"));
        assert!(describe_change(&new, fewer).contains("- "));
        let shown = describe_change("", &desired[..1]);
        assert!(shown.starts_with("+ ssh-ed25519 …"), "{shown}");
        assert!(shown.ends_with("…wcPliX9 homelab-iac:form-cluster:root@pve-node1\n".trim_start_matches('…')), "{shown}");
        assert!(shown.len() < 80, "{shown}");
    }

    #[test]
    fn known_host_lines_pin_every_name() {
        let pins = vec![HostPin {
            name: "pve-node1".into(),
            aliases: vec!["pve-node1.lab.home.arpa".into(), "10.231.10.11".into(), "10.231.1.11".into()],
            key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9 root@pve-node1"
                .into(),
        }];
        let l = known_host_lines(&pins);
        assert_eq!(
            l,
            vec!["pve-node1,pve-node1.lab.home.arpa,10.231.10.11,10.231.1.11 ssh-ed25519 \
                  AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9 \
                  homelab-iac:form-cluster:pve-node1"
                .to_string()]
        );
        // OpenSSH's own parser sees our comment as a comment: the entry is `hosts type blob`.
        let e = common::ssh::known_hosts::parse(&l[0]);
        assert_eq!(e[0].hosts.len(), 4);
        assert_eq!(e[0].key_type, "ssh-ed25519");
    }

    #[test]
    fn marker_detection() {
        assert!(is_marked("ssh-rsa AAAA homelab-iac:form-cluster:root@x"));
        assert!(is_marked("  ssh-rsa AAAA homelab-iac:form-cluster:root@x  "));
        assert!(!is_marked("# ssh-rsa AAAA homelab-iac:form-cluster:root@x"));
        assert!(!is_marked("ssh-rsa AAAA root@x"));
        assert!(!is_marked("ssh-rsa AAAA homelab-iac:form-cluster:x trailing"));
        assert!(!is_marked(""));
    }

    #[test]
    fn rewrite_script_filters_exactly_our_marker() {
        let s = rewrite_script("/root/.ssh/authorized_keys", "600", &["a b homelab-iac:form-cluster:root@n".into()]);
        assert!(s.contains("readlink -f"));
        assert!(s.contains("grep -v -E '[[:space:]]homelab-iac:form-cluster:[^[:space:]]*[[:space:]]*$'"));
        assert!(s.contains("a b homelab-iac:form-cluster:root@n\nHOMELAB_IAC_EOF"));
    }
}
