//! SSH keys: the lab's operator/automation key and every host's identity keys.
//!
//! Host keys are what `ssh-keygen -A` makes on a fresh install (rsa 3072, ecdsa 256, ed25519),
//! generated from the machine side straight into each host's upper layer before it boots. RSA
//! generation dominates host start (lab-feasibility.md "Timings"), so a [`KeyFactory`] starts at
//! the very beginning of `lab up` and works while the network is built and earlier hosts boot:
//! the cheap keys of every host first, then the expensive ones (RSA, the Pi's qnetd CA) host by
//! host, with as many generator processes as CPUs, so the first hosts can boot early and the
//! rest of `lab up` is not starved (with 32 hosts, 96 simultaneous generators were).

use crate::sys;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};

/// Key types of a fresh Debian/Proxmox install, in `ssh-keygen -A` order.
pub const HOST_KEY_TYPES: [&str; 3] = ["rsa", "ecdsa", "ed25519"];

/// One generation task: a program run to completion.
struct Task {
    host: String,
    what: String,
    cmd: Command,
}

#[derive(Default)]
struct Shared {
    queue: VecDeque<Task>,
    /// Per host: tasks not finished yet, and failures.
    pending: BTreeMap<String, (usize, Vec<String>)>,
}

/// Background generation of host identities with bounded parallelism.
pub struct KeyFactory {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    workers: Vec<std::thread::JoinHandle<()>>,
}


fn ssh_keygen(host: &str, etc_ssh: &Path, t: &str) -> Command {
    let path = etc_ssh.join(format!("ssh_host_{t}_key"));
    for p in [path.clone(), path.with_extension("pub")] {
        let _ = std::fs::remove_file(p);
    }
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", t, "-N", "", "-C", &format!("root@{host}"), "-f"]).arg(&path);
    if t == "rsa" {
        cmd.args(["-b", "3072"]);
    }
    cmd
}

/// The Pi's own qnetd CA, made like the corosync-qnetd postinst does (`corosync-qnetd-certutil
/// -i -G`, then `chgrp -R coroqnetd`; lab-feasibility.md gotchas 1+2) but from the machine side:
/// certutil hard-codes /etc/corosync/qnetd, so it runs in a private mount namespace where that
/// path is bind-mounted to the host's upper-layer copy. None when corosync-qnetd is not installed.
fn qnetd_ca(upper_qnetd_dir: &Path) -> Option<Command> {
    if !Path::new("/etc/corosync/qnetd").is_dir() || sys::which("corosync-qnetd-certutil").is_none() {
        return None;
    }
    let script = "mount --bind \"$1\" /etc/corosync/qnetd && corosync-qnetd-certutil -i -G >/dev/null && \
                  chgrp -R coroqnetd /etc/corosync/qnetd/nssdb";
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh"]).arg(upper_qnetd_dir);
    Some(cmd)
}

impl KeyFactory {
    /// Queue every host's identity: `(name, its upper etc/ssh, its upper etc/corosync/qnetd if
    /// it needs its own qnetd CA)`, and start working.
    pub fn start(hosts: &[(String, PathBuf, Option<PathBuf>)]) -> KeyFactory {
        let mut sh = Shared::default();
        let mut heavy = VecDeque::new();
        for (host, etc_ssh, qnetd) in hosts {
            let mut n = 0;
            for t in ["ed25519", "ecdsa"] {
                sh.queue.push_back(Task { host: host.clone(), what: format!("{t} host key"), cmd: ssh_keygen(host, etc_ssh, t) });
                n += 1;
            }
            heavy.push_back(Task { host: host.clone(), what: "rsa host key".into(), cmd: ssh_keygen(host, etc_ssh, "rsa") });
            n += 1;
            if let Some(cmd) = qnetd.as_deref().and_then(qnetd_ca) {
                heavy.push_back(Task { host: host.clone(), what: "qnetd CA".into(), cmd });
                n += 1;
            }
            sh.pending.insert(host.clone(), (n, Vec::new()));
        }
        sh.queue.extend(heavy);
        let shared = Arc::new((Mutex::new(sh), Condvar::new()));
        let n_workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2);
        let workers = (0..n_workers)
            .map(|_| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || loop {
                    let task = shared.0.lock().unwrap().queue.pop_front();
                    let Some(mut task) = task else { return };
                    let res = task
                        .cmd
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .output()
                        .map_err(|e| format!("cannot start {}: {e}", task.cmd.get_program().to_string_lossy()))
                        .and_then(|o| {
                            if o.status.success() {
                                Ok(())
                            } else {
                                Err(format!("{} ({})", String::from_utf8_lossy(&o.stderr).trim(), sys::describe_status(o.status)))
                            }
                        });
                    let (lock, cv) = &*shared;
                    let mut st = lock.lock().unwrap();
                    let entry = st.pending.get_mut(&task.host).expect("queued host");
                    entry.0 -= 1;
                    if let Err(e) = res {
                        entry.1.push(format!("{}: generating its {} failed: {e}", task.host, task.what));
                    }
                    cv.notify_all();
                })
            })
            .collect();
        KeyFactory { shared, workers }
    }

    /// Wait until `host`'s identity is complete.
    pub fn wait(&self, host: &str) -> Result<()> {
        let (lock, cv) = &*self.shared;
        let mut st = lock.lock().map_err(|_| anyhow!("key factory poisoned"))?;
        loop {
            let (left, errors) = st.pending.get(host).with_context(|| format!("internal: no keys queued for {host}"))?;
            if !errors.is_empty() {
                bail!("{}", errors.join("; "));
            }
            if *left == 0 {
                return Ok(());
            }
            st = cv.wait(st).map_err(|_| anyhow!("key factory poisoned"))?;
        }
    }

}

impl Drop for KeyFactory {
    /// Drop what is queued and wait for running generators, so none outlives a failed `lab up`
    /// (they write into the runtime tmpfs that teardown unmounts).
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.0.lock() {
            st.queue.clear();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
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

