//! The post-installation webhook (auto-install.md §6.5): the installer tells us the new
//! node's SSH host keys. We replace that node's pins in the project's known_hosts (this is a
//! reinstall: the old keys are gone for good, so the change is deliberate and logged with both
//! fingerprints) and record the node as installed in `install-state.json` beside it.

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use common::inventory::LoadedInventory;
use common::ssh::known_hosts::{fingerprint_b64, KnownHosts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::http::{Request, Response};
use super::{constant_time_eq, normalize_mac, ServeState};

/// One node as the webhook needs it.
#[derive(Debug, Clone)]
pub struct NodeNames {
    pub name: String,
    pub fqdn: String,
    /// Pin names: name, FQDN, link0, link1 (every way the tools address the host).
    pub pin_names: Vec<String>,
    pub macs: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub nodes: Vec<NodeNames>,
    pub known_hosts: PathBuf,
    pub state_file: PathBuf,
    pub ssh_port: u16,
}

impl WebhookTarget {
    pub fn from_inventory(loaded: &LoadedInventory, known_hosts: PathBuf) -> Self {
        let inv = &loaded.inv;
        let nodes = inv
            .nodes
            .iter()
            .map(|n| NodeNames {
                name: n.name.clone(),
                fqdn: inv.fqdn(&n.name),
                pin_names: vec![n.name.clone(), inv.fqdn(&n.name), n.link0.clone(), n.link1.clone()],
                macs: [&n.mgmt_mac, &n.prod_mac].into_iter().flatten().map(|m| normalize_mac(m)).collect(),
            })
            .collect();
        let state_file = state_path(&known_hosts);
        WebhookTarget { nodes, known_hosts, state_file, ssh_port: inv.automation.ssh_port }
    }
}

/// `install-state.json` beside the known_hosts file.
pub fn state_path(known_hosts: &Path) -> PathBuf {
    known_hosts.with_file_name("install-state.json")
}

/// The part of the webhook body we use (kebab-case keys, §6.5); the rest is ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct PostHookInfo {
    fqdn: Option<String>,
    #[serde(default)]
    network_interfaces: Vec<PostHookNic>,
    ssh_public_host_keys: BTreeMap<String, String>,
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PostHookNic {
    mac: Option<String>,
}

/// `install-state.json`: which nodes the installer reported as installed, and with which keys.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct InstallState {
    pub nodes: BTreeMap<String, InstalledNode>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstalledNode {
    pub fqdn: String,
    /// Seconds since the Unix epoch when the webhook arrived.
    pub installed_at: u64,
    pub host_keys: Vec<String>,
    pub product_version: Option<String>,
}

pub fn handle(state: &ServeState, req: &Request) -> Response {
    let raw: serde_json::Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return Response::text(400, format!("malformed JSON webhook body: {e}")),
    };
    let info: PostHookInfo = match serde_json::from_value(raw.clone()) {
        Ok(i) => i,
        Err(e) => return Response::text(400, format!("webhook body is not a post-installation report (auto-install.md §6.5): {e}")),
    };
    if let Some(expected) = &state.token {
        if !info.token.as_deref().is_some_and(|t| constant_time_eq(t.as_bytes(), expected.expose().as_bytes())) {
            log::warn!("{}: webhook without a valid token → 401", req.peer);
            return Response::text(401, "missing or wrong token");
        }
    }
    let target = &state.webhook;
    let node = match identify(target, &info) {
        Ok(n) => n,
        Err(e) => {
            log::warn!("{}: webhook not accepted: {e:#}", req.peer);
            return Response::text(404, format!("{e:#}"));
        }
    };
    let keys = match parse_host_keys(&info.ssh_public_host_keys) {
        Ok(k) if !k.is_empty() => k,
        Ok(_) => return Response::text(400, "ssh-public-host-keys is empty"),
        Err(e) => return Response::text(400, format!("{e:#}")),
    };
    let version = raw.pointer("/product/version").and_then(|v| v.as_str()).map(str::to_string);
    let _guard = state.state_lock.lock().unwrap_or_else(|p| p.into_inner());
    match record(target, node, &keys, version) {
        Ok(()) => Response::text(200, format!("pinned {} host key(s) of {}", keys.len(), node.name)),
        Err(e) => {
            log::error!("webhook for {}: {e:#}", node.name);
            Response::text(500, format!("could not record the host keys: {e:#}"))
        }
    }
}

/// The node by FQDN (or short name), else by MAC; both present must agree.
fn identify<'a>(t: &'a WebhookTarget, info: &PostHookInfo) -> Result<&'a NodeNames> {
    let by_name = info.fqdn.as_deref().and_then(|f| {
        let f = f.trim_end_matches('.').to_ascii_lowercase();
        t.nodes.iter().find(|n| n.fqdn.eq_ignore_ascii_case(&f) || f.split('.').next() == Some(&n.name.to_ascii_lowercase()))
    });
    let macs: Vec<String> = info.network_interfaces.iter().filter_map(|n| n.mac.as_deref()).map(normalize_mac).collect();
    let by_mac = t.nodes.iter().find(|n| n.macs.iter().any(|m| macs.contains(m)));
    match (by_name, by_mac) {
        (Some(a), Some(b)) if a.name != b.name => {
            bail!("fqdn {:?} names {} but the MACs belong to {}; refusing to pin", info.fqdn, a.name, b.name)
        }
        (Some(a), _) => Ok(a),
        (None, Some(b)) => Ok(b),
        (None, None) => bail!("no node matches fqdn {:?} or MACs {:?}", info.fqdn.as_deref().unwrap_or(""), macs),
    }
}

/// `{ecdsa, ed25519, rsa}` → (key type, base64) pairs. Values are `.pub` lines
/// (`TYPE BASE64 [comment]`); a bare base64 blob is accepted too. The type is checked against
/// the one encoded inside the blob, so a mislabeled key cannot be pinned.
pub fn parse_host_keys(map: &BTreeMap<String, String>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (label, value) in map {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let mut parts = value.split_whitespace();
        let first = parts.next().unwrap_or("");
        let (given_type, blob) = match parts.next() {
            Some(b) => (Some(first), b),
            None => (None, first),
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(blob)
            .with_context(|| format!("ssh-public-host-keys.{label} is not base64"))?;
        let inner = blob_type(&raw).with_context(|| format!("ssh-public-host-keys.{label} is not an SSH public key"))?;
        if let Some(t) = given_type {
            if t != inner {
                bail!("ssh-public-host-keys.{label} says {t} but the key is {inner}");
            }
        }
        out.push((inner, blob.to_string()));
    }
    Ok(out)
}

/// The key type string at the start of an SSH public key blob.
fn blob_type(raw: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(raw.get(..4)?.try_into().ok()?) as usize;
    let t = std::str::from_utf8(raw.get(4..4 + len)?).ok()?;
    // The type is written into known_hosts as a field: whitespace or a line break in it would
    // forge pins for other hosts (issue 11). Real types are `[a-z0-9@.-]`.
    let word = t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-@.".contains(&b));
    (word && (t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-"))).then(|| t.to_string())
}

fn record(t: &WebhookTarget, node: &NodeNames, keys: &[(String, String)], version: Option<String>) -> Result<()> {
    let mut removed = Vec::new();
    KnownHosts::update(&t.known_hosts, |kh| {
        removed = kh.replace_host(&node.pin_names, t.ssh_port, keys);
    })?;
    let fp = |k: &str| fingerprint_b64(k).unwrap_or_else(|_| "?".into());
    let new: Vec<String> = keys.iter().map(|(ty, k)| format!("{ty} {}", fp(k))).collect();
    let old: Vec<String> = removed.iter().map(|e| format!("{} {}", e.key_type, e.fingerprint())).collect();
    if old.is_empty() {
        log::warn!("pinned host keys of {} (first install): {}", node.name, new.join(", "));
    } else if old.iter().collect::<std::collections::BTreeSet<_>>() == new.iter().collect() {
        log::warn!("host keys of {} unchanged (webhook repeated): {}", node.name, new.join(", "));
    } else {
        log::warn!(
            "DELIBERATE CHANGE: {} was reinstalled; replaced its pinned host keys in {}: old [{}] → new [{}]",
            node.name,
            t.known_hosts.display(),
            old.join(", "),
            new.join(", ")
        );
    }
    let mut st: InstallState = match std::fs::read_to_string(&t.state_file) {
        Ok(s) => serde_json::from_str(&s).with_context(|| format!("parsing {}", t.state_file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => InstallState::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", t.state_file.display())),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    st.nodes.insert(
        node.name.clone(),
        InstalledNode { fqdn: node.fqdn.clone(), installed_at: now, host_keys: new, product_version: version },
    );
    let text = serde_json::to_string_pretty(&st)? + "\n";
    crate::fsutil::write_atomic(&t.state_file, text.as_bytes(), 0o644)?;
    log::info!("recorded {} as installed in {}", node.name, t.state_file.display());
    Ok(())
}
