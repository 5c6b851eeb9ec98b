//! Node files of `/etc/pve` and root's SSH setup, as `PVE::Cluster::Setup` manages them:
//! the cluster CA (`pve-root-ca.pem`), the node certificate (`nodes/<n>/pve-ssl.pem`, signed by the
//! CA), `priv/authorized_keys` shared by all members with `/root/.ssh/authorized_keys` symlinked to
//! it, and `nodes/<n>/ssh_known_hosts` used by cluster SSH (`pvecm updatecerts`, pve-cli.md §2.7).
//!
//! Simplification: the CA key is RSA 2048 (PVE uses 4096) to keep lab start-up fast; the node
//! certificate is RSA 2048 like PVE's.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{anyhow, Context, Result};

use crate::pmxcfs::{etc_pve, pve_path};
use crate::sys;

/// FQDN of this node from /etc/hosts (`<ip> <fqdn> <host>`, as the installer writes it).
pub fn fqdn(host: &str) -> String {
    if let Some(hosts) = sys::read_opt(&sys::p("/etc/hosts")) {
        for line in hosts.lines() {
            let parts: Vec<&str> = line.split('#').next().unwrap_or("").split_whitespace().collect();
            if parts.len() >= 2 && !parts[0].starts_with("127.") && parts[1..].contains(&host) {
                if let Some(f) = parts[1..].iter().find(|n| n.starts_with(&format!("{host}."))) {
                    return f.to_string();
                }
            }
        }
    }
    host.to_string()
}

fn spawn_genrsa(out: &Path) -> Result<Child> {
    Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(out)
        .arg("2048")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("unable to run openssl")
}

fn wait_ok(child: Child, what: &str) -> Result<()> {
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(anyhow!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

fn random_uuid() -> String {
    sys::read_opt(Path::new("/proc/sys/kernel/random/uuid")).map(|s| s.trim().to_string()).unwrap_or_else(|| {
        format!("{:08x}-0000-4000-8000-{:012x}", std::process::id(), sys::now())
    })
}

/// Generate the CA (if missing) and this node's key + certificate. Both keys are generated in
/// parallel when needed. `force` re-issues the node certificate.
pub fn gen_node_files(host: &str, ip: &str, force: bool) -> Result<()> {
    let ca_key = pve_path("priv/pve-root-ca.key");
    let ca_pem = pve_path("pve-root-ca.pem");
    let node_dir = etc_pve().join("nodes").join(host);
    let key = node_dir.join("pve-ssl.key");
    let pem = node_dir.join("pve-ssl.pem");
    sys::mkdir_p(&pve_path("priv"), 0o700)?;
    sys::mkdir_p(&node_dir, 0o755)?;

    let need_ca = !ca_pem.is_file() || !ca_key.is_file();
    let need_key = !key.is_file();
    let ca_child = if need_ca { Some(spawn_genrsa(&ca_key)?) } else { None };
    let key_child = if need_key { Some(spawn_genrsa(&key)?) } else { None };
    if let Some(c) = ca_child {
        wait_ok(c, "generate CA key")?;
        let subj = format!("/CN=Proxmox Virtual Environment/OU={}/O=PVE Cluster Manager CA/", random_uuid());
        let ca_key_s = ca_key.to_string_lossy().into_owned();
        let ca_pem_s = ca_pem.to_string_lossy().into_owned();
        sys::run_checked(
            "openssl",
            &["req", "-batch", "-days", "3650", "-new", "-x509", "-nodes", "-key", &ca_key_s, "-out", &ca_pem_s, "-subj", &subj],
        )?;
        sys::write_str(&pve_path("priv/pve-root-ca.srl"), "01\n", 0o600)?;
    }
    if let Some(c) = key_child {
        wait_ok(c, "generate node key")?;
    }
    if need_ca || need_key || force || !pem.is_file() {
        issue_node_cert(host, ip, &key, &pem, &ca_key, &ca_pem)?;
    }
    Ok(())
}

fn issue_node_cert(host: &str, ip: &str, key: &Path, pem: &Path, ca_key: &Path, ca_pem: &Path) -> Result<()> {
    let fq = fqdn(host);
    let tmpdir = sys::p(&format!("/tmp/pve-sim-cert.{}", std::process::id()));
    fs::create_dir_all(&tmpdir)?;
    let cfg = tmpdir.join("req.cnf");
    let san = format!("IP:127.0.0.1,IP:0:0:0:0:0:0:0:1,DNS:localhost,IP:{ip},DNS:{host},DNS:{fq}");
    sys::write_str(
        &cfg,
        &format!(
            "[ req ]\ndistinguished_name = req_distinguished_name\nreq_extensions = v3_req\nprompt = no\n\n\
             [ req_distinguished_name ]\nOU = PVE Cluster Node\nO = Proxmox Virtual Environment\nCN = {fq}\n\n\
             [ v3_req ]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\nsubjectAltName = {san}\n"
        ),
        0o600,
    )?;
    let csr = tmpdir.join("req.csr");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    sys::run_checked("openssl", &["req", "-batch", "-new", "-config", &s(&cfg), "-key", &s(key), "-out", &s(&csr)])?;
    let srl = pve_path("priv/pve-root-ca.srl");
    if !srl.is_file() {
        sys::write_str(&srl, "01\n", 0o600)?;
    }
    let tmp_pem = tmpdir.join("pve-ssl.pem");
    sys::run_checked(
        "openssl",
        &[
            "x509", "-req", "-batch", "-days", "730", "-sha256", "-in", &s(&csr), "-CA", &s(ca_pem), "-CAkey", &s(ca_key),
            "-CAserial", &s(&srl), "-extfile", &s(&cfg), "-extensions", "v3_req", "-out", &s(&tmp_pem),
        ],
    )?;
    let data = fs::read(&tmp_pem)?;
    sys::write_atomic(pem, &data, 0o640)?;
    let _ = fs::remove_dir_all(&tmpdir);
    Ok(())
}

fn root_ssh(rel: &str) -> PathBuf {
    sys::p("/root/.ssh").join(rel)
}

/// `setup_rootsshconfig`: root's RSA key (4096, like PVE) and ssh config.
pub fn setup_root_ssh_config() -> Result<()> {
    let ssh = sys::p("/root/.ssh");
    sys::mkdir_p(&ssh, 0o700)?;
    let id = root_ssh("id_rsa");
    if !id.is_file() {
        let id_s = id.to_string_lossy().into_owned();
        sys::run_checked("ssh-keygen", &["-q", "-t", "rsa", "-N", "", "-b", "4096", "-f", &id_s])?;
    }
    let cfg = root_ssh("config");
    if !cfg.exists() {
        sys::write_str(
            &cfg,
            "Ciphers aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com\n",
            0o640,
        )?;
    }
    Ok(())
}

/// `setup_ssh_keys` + `ssh_merge_keys`: /etc/pve/priv/authorized_keys holds everyone's keys
/// (deduplicated), /root/.ssh/authorized_keys is a symlink to it.
pub fn merge_ssh_keys() -> Result<()> {
    let shared = pve_path("priv/authorized_keys");
    let root_keys = root_ssh("authorized_keys");
    let backup = root_ssh("authorized_keys.org");
    sys::mkdir_p(&pve_path("priv"), 0o700)?;
    let mut data = sys::read_opt(&shared).unwrap_or_default();
    if root_keys.is_file() && !root_keys.is_symlink() {
        data.push('\n');
        data.push_str(&sys::read_opt(&root_keys).unwrap_or_default());
        fs::rename(&root_keys, &backup).ok();
    } else if backup.is_file() {
        data.push('\n');
        data.push_str(&sys::read_opt(&backup).unwrap_or_default());
    }
    if let Some(pubkey) = sys::read_opt(&root_ssh("id_rsa.pub")) {
        data.push('\n');
        data.push_str(pubkey.trim());
        data.push('\n');
    }
    // Dedupe identical key blobs (PVE only dedupes ssh-rsa/dsa; deduping all types is harmless).
    let mut seen = std::collections::HashSet::new();
    let mut out = String::new();
    for line in data.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with('#') {
            let blob = line.split_whitespace().find(|t| t.starts_with("AAAA")).unwrap_or(line).to_string();
            if !seen.insert(blob) {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    sys::write_str(&shared, &out, 0o600)?;
    if !root_keys.is_symlink() {
        sys::mkdir_p(&sys::p("/root/.ssh"), 0o700)?;
        let _ = fs::remove_file(&root_keys);
        std::os::unix::fs::symlink(pve_path("priv/authorized_keys"), &root_keys)?;
    }
    if root_keys.is_symlink() {
        let _ = fs::remove_file(&backup);
    }
    Ok(())
}

/// `nodes/<n>/ssh_known_hosts`: `<nodename> <rsa host key>` (used by cluster SSH).
pub fn write_node_known_hosts(host: &str) -> Result<()> {
    let Some(key) = sys::read_opt(&sys::p("/etc/ssh/ssh_host_rsa_key.pub")) else { return Ok(()) };
    let mut parts = key.split_whitespace();
    let (Some(t), Some(k)) = (parts.next(), parts.next()) else { return Ok(()) };
    sys::write_str(&etc_pve().join("nodes").join(host).join("ssh_known_hosts"), &format!("{host} {t} {k}\n"), 0o640)
}

/// `updatecerts_and_ssh` (pve-cli.md §2.7). Prints its progress lines unless `silent`.
pub fn updatecerts(force_new_cert: bool, silent: bool) -> Result<()> {
    let host = sys::hostname();
    let ip = sys::resolve_host(&host).unwrap_or_else(|| "127.0.0.1".into());
    if !silent {
        println!("(re)generate node files");
    }
    crate::pmxcfs::ensure_node_dirs(&etc_pve(), &host)?;
    if force_new_cert && !silent {
        println!("generate new node certificate");
    }
    gen_node_files(&host, &ip, force_new_cert)?;
    if !silent {
        println!("merge authorized SSH keys");
    }
    setup_root_ssh_config()?;
    merge_ssh_keys()?;
    write_node_known_hosts(&host)?;
    Ok(())
}

/// Cluster SSH to another member like `PVE::SSHInfo::ssh_info_to_command`.
pub fn cluster_ssh_args(node: &str, ip: &str) -> Vec<String> {
    vec![
        "-e".into(),
        "none".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!("HostKeyAlias={node}"),
        "-o".into(),
        format!("UserKnownHostsFile={}", etc_pve().join("nodes").join(node).join("ssh_known_hosts").display()),
        "-o".into(),
        "GlobalKnownHostsFile=none".into(),
        format!("root@{ip}"),
    ]
}
