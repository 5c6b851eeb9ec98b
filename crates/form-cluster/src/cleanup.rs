//! Rebuild clean-up as shell scripts (run as root via `sh -s`): the stale node's host keys and
//! its old root keys. Pure text, so the scripts are tested by running them on a temp tree.
//!
//! `awk` rather than `ssh-keygen -R`: the latter hard-links a `.old` backup, which pmxcfs
//! (`/etc/pve`) does not support. Files are rewritten through a temp file beside the target
//! and renamed; unchanged files are not touched.

use crate::trust;
use common::ssh::quote;

/// Remove every known-hosts entry of the stale node (by name, FQDN and both addresses) from
/// root's known_hosts and the system file on this node and, with `cluster_files` (once, on
/// one survivor), from `/etc/pve/priv/known_hosts`, its `/etc/pve/nodes/<node>/ssh_known_hosts`
/// and its old root keys (comment `root@<node>`) in `/etc/pve/priv/authorized_keys`. Lines
/// form-cluster manages are kept in root's known_hosts: the trust step rewrites them with the
/// fresh key. `prefix` is prepended to every path (tests; "" on hosts). Prints one line per
/// file changed.
pub fn stale_host_keys_script(stale: &str, names: &[String], cluster_files: bool, prefix: &str) -> String {
    let names_lc: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
    let p = |path: &str| quote(&format!("{prefix}{path}"));
    let mut script = format!(
        r#"names={names}
clean() {{
  f=$1; keep=$2
  [ -f "$f" ] || return 0
  t=$(readlink -f "$f")
  tmp=$(mktemp "$(dirname "$t")/.homelab-iac.XXXXXX")
  awk -v names="$names" -v keep="$keep" -v mark='{mark}' '
    BEGIN {{ n = split(names, a, " "); for (i = 1; i <= n; i++) drop[a[i]] = 1 }}
    /^[ \t]*(#|@|$)/ {{ print; next }}
    keep == "1" && index($NF, mark) == 1 {{ print; next }}
    {{ hit = 0; m = split($1, h, ",");
      for (i = 1; i <= m; i++) {{ x = tolower(h[i]); sub(/^\[/, "", x); sub(/\]:[0-9]+$/, "", x); if (x in drop) hit = 1 }}
      if (!hit) print }}' "$t" > "$tmp"
  if cmp -s "$t" "$tmp"; then rm -f "$tmp"; return 0; fi
  chmod "$(stat -c %a "$t")" "$tmp"
  mv -f "$tmp" "$t"
  echo "cleaned $f"
}}
clean {root_kh} 1
[ -L {sys_kh} ] || clean {sys_kh} 0
"#,
        names = quote(&names_lc.join(" ")),
        mark = trust::MARK,
        root_kh = p("/root/.ssh/known_hosts"),
        sys_kh = p("/etc/ssh/ssh_known_hosts"),
    );
    if cluster_files {
        script.push_str(&format!(
            r#"t={ak}
if [ -f "$t" ]; then
  tmp=$(mktemp "$(dirname "$t")/.homelab-iac.XXXXXX")
  awk -v who={who} '/^[ \t]*#/ {{ print; next }} $NF == who {{ next }} {{ print }}' "$t" > "$tmp"
  if cmp -s "$t" "$tmp"; then rm -f "$tmp"; else chmod 600 "$tmp"; mv -f "$tmp" "$t"; echo "removed old root keys of {stale} from $t"; fi
fi
clean {pve_kh} 0
n={node_kh}
if [ -e "$n" ]; then rm -f "$n" && echo "removed $n"; fi
"#,
            ak = p("/etc/pve/priv/authorized_keys"),
            who = quote(&format!("root@{stale}")),
            stale = stale,
            pve_kh = p("/etc/pve/priv/known_hosts"),
            node_kh = p(&format!("/etc/pve/nodes/{stale}/ssh_known_hosts")),
        ));
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn stale_keys_are_removed_and_ours_kept() {
        let root = std::env::temp_dir().join(format!("fc-clean-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for d in ["root/.ssh", "etc/ssh", "etc/pve/priv", "etc/pve/nodes/pve-node2"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        let w = |p: &str, s: &str| fs::write(root.join(p), s).unwrap();
        w(
            "root/.ssh/known_hosts",
            "# comment\n10.231.10.12 ssh-ed25519 OLD\nPVE-NODE2.lab.home.arpa ssh-rsa OLD2\n\
             pve-node1,10.231.10.11 ssh-ed25519 KEEP\n[10.231.1.12]:22 ssh-ed25519 OLD3\n\
             pve-node2,10.231.10.12 ssh-ed25519 NEWPIN homelab-iac:form-cluster:pve-node2\n",
        );
        w("etc/pve/priv/known_hosts", "pve-node2 ssh-rsa OLD\npve-node1 ssh-rsa KEEP\n");
        w(
            "etc/pve/priv/authorized_keys",
            "ssh-rsa AAAAOLD root@pve-node2\nssh-rsa AAAAKEEP root@pve-node1\n\
             ssh-ed25519 AAAAMARKED homelab-iac:form-cluster:root@pve-node2\n",
        );
        w("etc/pve/nodes/pve-node2/ssh_known_hosts", "pve-node2 ssh-rsa OLD\n");
        let names: Vec<String> =
            ["pve-node2", "pve-node2.lab.home.arpa", "10.231.10.12", "10.231.1.12"].iter().map(|s| s.to_string()).collect();
        let script = stale_host_keys_script("pve-node2", &names, true, root.to_str().unwrap());
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let r = |p: &str| fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(
            r("root/.ssh/known_hosts"),
            "# comment\npve-node1,10.231.10.11 ssh-ed25519 KEEP\n\
             pve-node2,10.231.10.12 ssh-ed25519 NEWPIN homelab-iac:form-cluster:pve-node2\n"
        );
        assert_eq!(r("etc/pve/priv/known_hosts"), "pve-node1 ssh-rsa KEEP\n");
        assert_eq!(
            r("etc/pve/priv/authorized_keys"),
            "ssh-rsa AAAAKEEP root@pve-node1\nssh-ed25519 AAAAMARKED homelab-iac:form-cluster:root@pve-node2\n"
        );
        assert!(!root.join("etc/pve/nodes/pve-node2/ssh_known_hosts").exists());
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(said.lines().count(), 4, "{said}");
        // Second run: nothing left to clean, nothing printed.
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "");
        let _ = fs::remove_dir_all(&root);
    }
}
