//! `serve`: the HTTP answer server (auto-install.md §6) and the post-installation webhook
//! receiver (§6.5) that pins each reinstalled node's SSH host keys.
//!
//! * `POST /` (any path but the ones below) — the installer's answer fetch: JSON system info
//!   (§6.2); any `network_interfaces[].mac` matching a node's `mgmt_mac`/`prod_mac`
//!   (case-insensitive; 9.2 sends upper case) gets that node's answer as `application/toml`.
//! * `POST /webhook` — the installer's report after a successful install: the node's host keys
//!   replace its pins in the project's known_hosts, and the node is recorded as installed.
//! * `GET /first-boot` — the first-boot script (no secrets in it) for `source = "from-url"`.
//! * `GET /healthz` — liveness for scripts.

pub mod http;
pub mod webhook;

use anyhow::Result;
use common::inventory::LoadedInventory;
use common::secret::Secret;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::generate::{self, AnswerInputs};
use http::{Request, Response};

/// Everything a request needs, built once at start-up (answers rendered, secrets resolved).
pub struct ServeState {
    /// Node name → answer text.
    pub answers: BTreeMap<String, String>,
    /// Lower-case MAC → node name.
    pub macs: BTreeMap<String, String>,
    /// Bearer token of the answer fetch and expected `token` of the webhook.
    pub token: Option<Secret>,
    pub first_boot: String,
    pub webhook: webhook::WebhookTarget,
    /// Serialises webhook updates of the state file within this process.
    pub state_lock: Mutex<()>,
}

impl ServeState {
    /// Render every node's answer now, so a missing secret fails at start, not mid-install.
    pub fn build(loaded: &LoadedInventory, token: Option<Secret>, known_hosts: PathBuf) -> Result<Self> {
        let mut inputs = AnswerInputs::resolve(loaded, generate::FirstBootSource::Iso)?;
        // The answer's webhook auth-token is what the webhook must echo back: use ours.
        if token.is_some() {
            inputs.webhook_token = token.clone();
        }
        let mut answers = BTreeMap::new();
        let mut macs = BTreeMap::new();
        for node in &loaded.inv.nodes {
            let hash = generate::root_hash(&inputs, None)?;
            answers.insert(node.name.clone(), generate::render_answer(loaded, node, &inputs, &hash)?);
            for mac in [&node.mgmt_mac, &node.prod_mac].into_iter().flatten() {
                macs.insert(normalize_mac(mac), node.name.clone());
            }
        }
        if macs.is_empty() {
            log::warn!("no node has mgmt_mac/prod_mac in the inventory: every answer request will get 404");
        }
        let first_boot = crate::firstboot::render(loaded, &inputs.root_ssh_keys);
        let webhook = webhook::WebhookTarget::from_inventory(loaded, known_hosts);
        Ok(ServeState { answers, macs, token, first_boot, webhook, state_lock: Mutex::new(()) })
    }

    pub fn handle(&self, req: &Request) -> Response {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/healthz") => Response::text(200, "ok"),
            ("GET", "/first-boot") => Response {
                status: 200,
                content_type: "application/octet-stream",
                body: self.first_boot.clone().into_bytes(),
                extra_headers: Vec::new(),
            },
            ("POST", "/webhook") => webhook::handle(self, req),
            ("POST", _) => self.answer(req),
            _ => Response::text(405, "use POST (answer fetch, /webhook) or GET /first-boot"),
        }
    }

    fn answer(&self, req: &Request) -> Response {
        if let Some(expected) = &self.token {
            let given = req.header("authorization").and_then(|h| h.strip_prefix("Bearer "));
            if !given.is_some_and(|g| constant_time_eq(g.trim().as_bytes(), expected.expose().as_bytes())) {
                log::warn!("{}: answer request without a valid bearer token → 401", req.peer);
                return Response::text(401, "missing or wrong bearer token").with_header("WWW-Authenticate", "Bearer");
            }
        }
        let info: serde_json::Value = match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(e) => return Response::text(400, format!("malformed JSON system info: {e}")),
        };
        let Some(nics) = info.get("network_interfaces").and_then(|v| v.as_array()) else {
            return Response::text(400, "system info has no network_interfaces array (auto-install.md §6.2)");
        };
        let seen: Vec<String> =
            nics.iter().filter_map(|n| n.get("mac").and_then(|m| m.as_str())).map(normalize_mac).collect();
        let mut matched: Vec<(&String, &String)> =
            seen.iter().filter_map(|m| self.macs.get(m).map(|node| (node, m))).collect();
        matched.sort();
        matched.dedup_by(|a, b| a.0 == b.0);
        match matched.as_slice() {
            [] => {
                log::warn!("{}: no node has any of the MACs {:?} → 404", req.peer, seen);
                Response::text(404, format!("no node in the inventory has any of these MACs: {}", seen.join(", ")))
            }
            [(node, mac)] => {
                log::info!("{}: answer for {node} (matched MAC {mac})", req.peer);
                Response {
                    status: 200,
                    content_type: "application/toml",
                    body: self.answers[*node].clone().into_bytes(),
                    extra_headers: Vec::new(),
                }
            }
            many => {
                let names: Vec<&str> = many.iter().map(|(n, _)| n.as_str()).collect();
                log::error!("{}: MACs {:?} match several nodes {:?} → 409", req.peer, seen, names);
                Response::text(409, format!("these MACs match several nodes: {}", names.join(", ")))
            }
        }
    }
}

/// `AA-BB-…`/`aa:bb:…` → `aa:bb:cc:dd:ee:ff`.
pub fn normalize_mac(m: &str) -> String {
    m.trim().to_ascii_lowercase().replace('-', ":")
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Start serving `state` on `listen`; returns the server (call `run`) for the caller to drive.
pub fn server(listen: &str, limits: http::Limits) -> Result<http::Server> {
    http::Server::bind(listen, limits)
}

pub fn handler(state: Arc<ServeState>) -> http::Handler {
    Arc::new(move |req: &Request| state.handle(req))
}
