//! The answer server over real HTTP (ureq), with requests shaped like the installer's
//! (auto-install.md §6.2 headers and body, §6.5 webhook body).

mod common;

use common::*;
use provision_iso::serve::{self, http::Limits, ServeState};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const K_NEW: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9";
const K_OLD: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIK4oRhvqnlWeatUYARzjd5oVh6cTXPvXiWMU5A5cGFNv";

struct Running {
    addr: SocketAddr,
    stop: serve::http::ShutdownHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    known_hosts: PathBuf,
    _dir: tempfile::TempDir,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn start(token: Option<&str>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory_in(dir.path());
    let loaded = ::common::inventory::load(&inv).unwrap_or_else(|e| panic!("{e}"));
    let kh = dir.path().join("known_hosts");
    let state = ServeState::build(&loaded, token.map(|t| ::common::secret::Secret::new(t.into())), kh.clone()).unwrap();
    let server = serve::server("127.0.0.1:0", Limits::default()).unwrap();
    let addr = server.local_addr();
    let stop = server.shutdown_handle();
    let h = serve::handler(Arc::new(state));
    let thread = Some(std::thread::spawn(move || server.run(h).unwrap()));
    Running { addr, stop, thread, known_hosts: kh, _dir: dir }
}

/// The installer's POST (§6.2): headers and the five top-level keys.
fn system_info(macs: &[&str]) -> String {
    let nics: Vec<serde_json::Value> = macs
        .iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({"link": format!("enp{i}s0"), "mac": m}))
        .collect();
    serde_json::json!({
        "$schema": {"version": "1.0"},
        "product": {"fullname": "Proxmox VE", "product": "pve", "enable_btrfs": true},
        "iso": {"release": "9.1", "isorelease": "1"},
        "dmi": {"system": {"name": "Standard PC", "uuid": "x"}, "baseboard": {}, "chassis": {}},
        "network_interfaces": nics,
    })
    .to_string()
}

fn fetch(url: &str, body: &str, bearer: Option<&str>) -> (u16, String, String) {
    let mut req = ureq::post(url)
        .set("Content-Type", "application/json; charset=utf-8")
        .set("Accept", "application/json, application/toml;q=0.5");
    if let Some(t) = bearer {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    match req.send_string(body) {
        Ok(r) => (r.status(), r.content_type().to_string(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.content_type().to_string(), r.into_string().unwrap()),
        Err(e) => panic!("transport error: {e}"),
    }
}

#[test]
fn known_mac_gets_that_nodes_answer_and_case_does_not_matter() {
    let s = start(None);
    let (code, ct, body) = fetch(&s.url("/answer"), &system_info(&["aa:aa:aa:aa:aa:aa", "52:54:00:0a:00:11"]), None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(ct, "application/toml");
    assert!(body.contains("fqdn = \"pve-node1.lab.home.arpa\""), "{body}");
    assert!(provision_iso::answer::validate_str(&body).is_valid());
    // 9.2 sends upper case; the inventory spells node2's MAC in mixed case; prod MACs count too.
    for mac in ["52:54:00:0A:00:12", "52:54:00:0a:00:12", "52:54:00:01:00:12"] {
        let (code, _, body) = fetch(&s.url("/"), &system_info(&[mac]), None);
        assert_eq!(code, 200, "{mac}: {body}");
        assert!(body.contains("fqdn = \"pve-node2.lab.home.arpa\""), "{mac}");
    }
}

#[test]
fn unknown_mac_404_malformed_400_oversized_413_wrong_method_405() {
    let s = start(None);
    let (code, _, body) = fetch(&s.url("/"), &system_info(&["DE:AD:BE:EF:00:01"]), None);
    assert_eq!(code, 404);
    assert!(body.contains("de:ad:be:ef:00:01"), "{body}");
    let (code, _, body) = fetch(&s.url("/"), "{not json", None);
    assert_eq!(code, 400, "{body}");
    let (code, _, _) = fetch(&s.url("/"), "{\"product\": {}}", None);
    assert_eq!(code, 400);
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(100 * 1024));
    match ureq::post(&s.url("/")).set("Content-Type", "application/json").send_string(&big) {
        Err(ureq::Error::Status(code, _)) => assert_eq!(code, 413),
        // The server may close before the whole body is sent; then read the status raw.
        Err(ureq::Error::Transport(_)) => assert_eq!(raw_status(s.addr, &big), 413),
        Ok(r) => panic!("oversized body accepted: {}", r.status()),
    }
    let r = ureq::get(&s.url("/answer")).call();
    assert!(matches!(r, Err(ureq::Error::Status(405, _))));
    let r = ureq::get(&s.url("/healthz")).call().unwrap();
    assert_eq!(r.status(), 200);
}

/// Send a request by hand and return the status code of the reply.
fn raw_status(addr: SocketAddr, body: &str) -> u16 {
    let mut c = TcpStream::connect(addr).unwrap();
    let _ = write!(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
    let mut buf = String::new();
    let _ = c.read_to_string(&mut buf);
    buf.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn bearer_token_is_required_when_configured() {
    let s = start(Some("tok-123456"));
    let info = system_info(&["52:54:00:0a:00:11"]);
    assert_eq!(fetch(&s.url("/"), &info, None).0, 401);
    assert_eq!(fetch(&s.url("/"), &info, Some("wrong-token")).0, 401);
    let (code, _, body) = fetch(&s.url("/"), &info, Some("tok-123456"));
    assert_eq!(code, 200);
    // The answer tells the installer to echo the same token back on the webhook.
    assert!(body.contains("auth-token = \"tok-123456\""));
}

fn webhook_body(fqdn: &str, mac: &str, key: &str, token: Option<&str>) -> String {
    let mut v = serde_json::json!({
        "$schema": {"version": "1.2"},
        "debian-version": "13.1",
        "product": {"fullname": "Proxmox VE", "short": "pve", "version": "9.1.1"},
        "fqdn": fqdn,
        "machine-id": "0123456789abcdef",
        "network-interfaces": [{"name": "nic0", "mac": mac, "is-management": true}],
        "ssh-public-host-keys": {"ed25519": format!("ssh-ed25519 {key} root@{fqdn}"), "ecdsa": "", "rsa": ""},
    });
    if let Some(t) = token {
        v["token"] = serde_json::json!(t);
    }
    v.to_string()
}

fn post_webhook(s: &Running, body: &str) -> u16 {
    match ureq::post(&s.url("/webhook")).set("Content-Type", "application/json; charset=utf-8").send_string(body) {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(c, _)) => c,
        Err(e) => panic!("{e}"),
    }
}

fn pins(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn webhook_replaces_the_nodes_pins_and_records_the_install() {
    let s = start(Some("hook-token-1"));
    // Old pins: node1 (to be replaced) and node2 (must stay).
    ::common::ssh::known_hosts::KnownHosts::update(&s.known_hosts, |kh| {
        kh.pin(&["pve-node1".into(), "10.231.10.11".into()], 22, "ssh-ed25519", K_OLD);
        kh.pin(&["pve-node2".into()], 22, "ssh-ed25519", K_OLD);
    })
    .unwrap();

    // Wrong or missing token: nothing changes.
    assert_eq!(post_webhook(&s, &webhook_body("pve-node1.lab.home.arpa", "52:54:00:0A:00:11", K_NEW, None)), 401);
    assert_eq!(post_webhook(&s, &webhook_body("pve-node1.lab.home.arpa", "52:54:00:0A:00:11", K_NEW, Some("nope"))), 401);
    assert!(!pins(&s.known_hosts).contains(K_NEW));

    let code = post_webhook(&s, &webhook_body("pve-node1.lab.home.arpa", "52:54:00:0A:00:11", K_NEW, Some("hook-token-1")));
    assert_eq!(code, 200);
    let kh = ::common::ssh::known_hosts::KnownHosts::load(&s.known_hosts).unwrap();
    use ::common::ssh::known_hosts::Verdict;
    for name in ["pve-node1", "pve-node1.lab.home.arpa", "10.231.10.11", "10.231.1.11"] {
        assert_eq!(kh.verify(name, 22, "ssh-ed25519", K_NEW), Verdict::Match, "{name}");
        assert!(matches!(kh.verify(name, 22, "ssh-ed25519", K_OLD), Verdict::Changed { .. }), "{name}");
    }
    assert_eq!(kh.verify("pve-node2", 22, "ssh-ed25519", K_OLD), Verdict::Match, "other node's pin touched");

    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.known_hosts.with_file_name("install-state.json")).unwrap()).unwrap();
    assert_eq!(state["nodes"]["pve-node1"]["fqdn"], "pve-node1.lab.home.arpa");
    assert_eq!(state["nodes"]["pve-node1"]["product_version"], "9.1.1");

    // Identified by MAC when the fqdn is not ours; a conflicting fqdn/MAC pair is refused.
    assert_eq!(post_webhook(&s, &webhook_body("pve.example.invalid", "52:54:00:0a:00:12", K_NEW, Some("hook-token-1"))), 200);
    assert_eq!(post_webhook(&s, &webhook_body("pve-node1.lab.home.arpa", "52:54:00:0a:00:12", K_NEW, Some("hook-token-1"))), 404);
    // A key whose label lies about its type is rejected.
    let lying = webhook_body("pve-node1.lab.home.arpa", "x", K_NEW, Some("hook-token-1")).replace("ssh-ed25519 AAAA", "ssh-rsa AAAA");
    assert_eq!(post_webhook(&s, &lying), 400);
}

#[test]
fn slow_client_does_not_block_others_and_shutdown_finishes_in_flight_requests() {
    let mut s = start(None);
    // A client that sends half a request and waits.
    let mut slow = TcpStream::connect(s.addr).unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nContent-Type: application/json\r\n").unwrap();
    // Others are served meanwhile.
    let (code, _, _) = fetch(&s.url("/"), &system_info(&["52:54:00:0a:00:11"]), None);
    assert_eq!(code, 200);
    // Stop the server while the slow request is in flight, then complete it: it is answered.
    s.stop.shutdown();
    let body = system_info(&["52:54:00:0a:00:12"]);
    write!(slow, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut reply = String::new();
    slow.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("pve-node2.lab.home.arpa"));
    s.thread.take().unwrap().join().unwrap();
    // The listener is closed when `run` returns. A sibling test that spawns a process can hold
    // a copy of that descriptor between its fork and exec, so a connect right now may still
    // land in the backlog for a moment: wait (bounded) for refusal instead of asserting once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while TcpStream::connect(s.addr).is_ok() {
        assert!(std::time::Instant::now() < deadline, "still accepting 5 s after shutdown");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn serve_binary_stops_cleanly_on_sigterm() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory_in(dir.path());
    let mut child = std::process::Command::new(bin())
        .args(["-i", inv.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or_else(|| panic!("{line}")).to_string();
    assert!(!line.contains(TOKEN) && !line.contains(ROOT_PW), "{line}");
    let (code, _, _) = fetch(&format!("http://{addr}/"), &system_info(&["52:54:00:0a:00:11"]), Some(TOKEN));
    assert_eq!(code, 200);
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("stopped"), "{rest}");
    assert!(!rest.contains(TOKEN) && !rest.contains(ROOT_PW), "secret in the log: {rest}");
}
