//! SSH keys: the lab's operator/automation key and every host's host keys.
//!
//! Host keys are what `ssh-keygen -A` makes on a fresh install (rsa 3072, ecdsa 256, ed25519),
//! but generated from the machine side straight into the host's upper layer, three processes
//! per host and all hosts at once: RSA generation dominates host start (lab-feasibility.md
//! "Timings"), so it runs while the network and the other hosts are being set up.

use crate::sys;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Key types of a fresh Debian/Proxmox install, in `ssh-keygen -A` order.
pub const HOST_KEY_TYPES: [&str; 3] = ["rsa", "ecdsa", "ed25519"];

/// Host key generation running in the background.
pub struct KeyJob {
    host: String,
    children: Vec<(String, Child)>,
}

/// Start generating `host`'s keys into `etc_ssh` (an `etc/ssh` dir of its upper layer).
pub fn spawn_host_keys(host: &str, etc_ssh: &Path) -> Result<KeyJob> {
    let mut children = Vec::new();
    for t in HOST_KEY_TYPES {
        let path = etc_ssh.join(format!("ssh_host_{t}_key"));
        for p in [path.clone(), path.with_extension("pub")] {
            let _ = std::fs::remove_file(p);
        }
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-t", t, "-N", "", "-C", &format!("root@{host}"), "-f"]).arg(&path);
        if t == "rsa" {
            cmd.args(["-b", "3072"]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("{host}: cannot start ssh-keygen (is openssh-client installed?)"))?;
        children.push((t.to_string(), child));
    }
    Ok(KeyJob { host: host.to_string(), children })
}

impl KeyJob {
    pub fn wait(self) -> Result<()> {
        for (t, child) in self.children {
            let out = child.wait_with_output()?;
            if !out.status.success() {
                bail!(
                    "{}: generating its {t} key failed ({}): {}",
                    self.host,
                    sys::describe_status(out.status),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        Ok(())
    }
}

/// Public host keys found in `etc_ssh`, as (type, base64) pairs for known_hosts pins.
pub fn read_host_pubkeys(etc_ssh: &Path) -> Result<Vec<(String, String)>> {
    let mut keys = Vec::new();
    for t in HOST_KEY_TYPES {
        let p = etc_ssh.join(format!("ssh_host_{t}_key.pub"));
        let text = std::fs::read_to_string(&p).with_context(|| format!("reading host key {}", p.display()))?;
        let mut parts = text.split_whitespace();
        match (parts.next(), parts.next()) {
            (Some(kt), Some(k)) => keys.push((kt.to_string(), k.to_string())),
            _ => bail!("{}: not an OpenSSH public key", p.display()),
        }
    }
    Ok(keys)
}

/// Make sure the lab key pair exists (kept across `lab up`s so agents and habits keep
/// working); returns the public key line.
pub fn ensure_lab_key(key: &Path, pubkey: &Path) -> Result<String> {
    if !key.exists() || !pubkey.exists() {
        for p in [key, pubkey] {
            let _ = std::fs::remove_file(p);
        }
        sys::run(
            Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "homelab-lab", "-f"]).arg(key),
            "creating the lab key",
        )?;
    }
    let line = std::fs::read_to_string(pubkey).with_context(|| format!("reading {}", pubkey.display()))?;
    let line = line.trim().to_string();
    if !line.starts_with("ssh-ed25519 ") {
        bail!("{}: expected an ssh-ed25519 public key; delete id_lab and id_lab.pub to recreate them", pubkey.display());
    }
    Ok(line)
}

/// `etc/ssh` inside an upper dir.
pub fn etc_ssh(upper: &Path) -> PathBuf {
    upper.join("etc/ssh")
}

/// The Pi's own qnetd CA, made like the corosync-qnetd postinst does (`corosync-qnetd-certutil
/// -i -G`, then `chgrp -R coroqnetd`; lab-feasibility.md gotchas 1+2) but from the machine side,
/// in parallel with the SSH keys: certutil hard-codes /etc/corosync/qnetd, so it runs in a
/// private mount namespace where that path is bind-mounted to the host's upper-layer copy.
/// None when corosync-qnetd is not installed on the machine.
pub fn spawn_qnetd_ca(host: &str, upper_qnetd_dir: &Path) -> Result<Option<KeyJob>> {
    if !Path::new("/etc/corosync/qnetd").is_dir() || sys::which("corosync-qnetd-certutil").is_none() {
        return Ok(None);
    }
    let script = "mount --bind \"$1\" /etc/corosync/qnetd && corosync-qnetd-certutil -i -G >/dev/null && \
                  chgrp -R coroqnetd /etc/corosync/qnetd/nssdb";
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh"])
        .arg(upper_qnetd_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("{host}: cannot start corosync-qnetd-certutil"))?;
    Ok(Some(KeyJob { host: host.to_string(), children: vec![("qnetd-ca".into(), child)] }))
}
