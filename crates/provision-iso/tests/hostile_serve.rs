//! The answer server against hostile clients (issue 11 §7), over real HTTP against the
//! `provision-iso serve` binary started here on 127.0.0.1: oversized bodies (declared and
//! undeclared), malformed and hostile JSON, chunked bodies, slow-loris connections, wrong and
//! missing tokens, unknown MACs, other methods, path traversal, header floods, hostile webhook
//! reports. Every request must be answered with a clean 4xx/5xx (or dropped at the limit),
//! and a well-behaved installer must still get its answer afterwards — the server keeps
//! serving, never panics, and never logs the token or the root password.
//!
//! Nothing here asserts a duration: waits poll for a condition with a generous deadline.

mod common;

use common::{inventory_in, ROOT_PW, TOKEN};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A MAC of pve-node1 in the fixture inventory.
const NODE1_MAC: &str = "52:54:00:0a:00:11";
const K_NEW: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBokt1qmUYS9QaIRcxhuGjatsS6BfQ/m6SkuCwcPliX9";

/// The running binary; its stderr (the server log) is collected for the leak/panic checks.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    known_hosts: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let inv = inventory_in(dir.path());
        let known_hosts = dir.path().join("known_hosts");
        let mut child = Command::new(common::bin())
            .args(["-i", inv.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        err.read_line(&mut first).unwrap();
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no listening line: {first}"))
            .parse()
            .unwrap();
        let log = Arc::new(Mutex::new(first));
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while err.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Server { child, addr, log, known_hosts, _dir: dir }
    }

    /// The good installer: known MAC, right token → 200 with that node's answer.
    fn assert_still_serving(&mut self, after: &str) {
        assert!(self.child.try_wait().unwrap().is_none(), "server exited after {after}");
        let (code, body) = http(self.addr, &answer_request(&system_info(&[NODE1_MAC]), Some(TOKEN)));
        assert_eq!(code, 200, "after {after}: good request got {code}: {body}");
        assert!(body.contains("fqdn = \"pve-node1.lab.home.arpa\""), "after {after}: {body}");
        assert_eq!(http(self.addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").0, 200, "after {after}");
    }

    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status:?}");
        // Let the log reader drain.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log.lock().unwrap().contains("stopped") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = self.log.lock().unwrap().clone();
        assert!(!log.contains("panicked"), "the server panicked:\n{log}");
        assert!(!log.contains(TOKEN), "the token is in the server log:\n{log}");
        assert!(!log.contains(ROOT_PW), "the root password is in the server log:\n{log}");
        log
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn system_info(macs: &[&str]) -> String {
    let nics: Vec<serde_json::Value> = macs.iter().map(|m| serde_json::json!({"link": "enp1s0", "mac": m})).collect();
    serde_json::json!({
        "$schema": {"version": "1.0"}, "product": {"product": "pve"}, "iso": {"release": "9.1"},
        "dmi": {"system": {}}, "network_interfaces": nics,
    })
    .to_string()
}

fn answer_request(body: &str, bearer: Option<&str>) -> String {
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}", body.len())
}

/// Send raw bytes, read the whole reply (the server closes); (status, reply). Status 0 when
/// the server dropped the connection without a reply.
fn http(addr: SocketAddr, raw: &str) -> (u16, String) {
    http_bytes(addr, raw.as_bytes())
}

fn http_bytes(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // Write on another thread while reading here: the server may answer (and close) before
    // everything is written, and that reply must not be missed.
    let mut w = c.try_clone().unwrap();
    let raw = raw.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&raw);
        let _ = w.shutdown(Shutdown::Write);
    });
    let reply = read_reply(&mut c);
    let _ = writer.join();
    reply
}

fn read_reply(c: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (code, text)
}

fn assert_status(s: &mut Server, what: &str, raw: &[u8], want: &[u16]) -> String {
    let (code, reply) = http_bytes(s.addr, raw);
    assert!(want.contains(&code), "{what}: got {code}, want one of {want:?}:\n{}", reply.chars().take(400).collect::<String>());
    assert!(!reply.contains("root:x:0:0"), "{what}: a system file leaked:\n{reply}");
    assert!(!reply.contains(ROOT_PW), "{what}: the root password leaked:\n{reply}");
    reply
}

#[test]
fn oversized_malformed_and_chunked_bodies_are_rejected_and_serving_continues() {
    let mut s = Server::start();
    s.assert_still_serving("start");
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    // Declared too big: refused before any body is read.
    assert_status(&mut s, "declared 100 MB", format!("POST / HTTP/1.1\r\n{auth}Content-Length: 100000000\r\n\r\n").as_bytes(), &[413]);
    assert_status(&mut s, "declared 2^64", b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n", &[400, 413]);
    assert_status(&mut s, "negative length", b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &[400]);
    assert_status(&mut s, "length not a number", b"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", &[400]);
    // Declared big and actually streamed (100 KiB > the 64 KiB limit).
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(100 * 1024));
    // (the server stops reading at the limit; a reset may then replace the reply: code 0)
    assert_status(&mut s, "streamed 100 KiB", answer_request(&big, Some(TOKEN)).as_bytes(), &[413, 0]);
    // Undeclared: more bytes than Content-Length says — only the declared ones are read.
    let info = system_info(&[NODE1_MAC]);
    let mut lying = format!("POST / HTTP/1.1\r\n{auth}Content-Length: {}\r\n\r\n{info}", info.len()).into_bytes();
    lying.extend(std::iter::repeat_n(b'A', 2 << 20));
    assert_status(&mut s, "2 MiB beyond Content-Length", &lying, &[200, 0]);
    let tiny = format!("POST / HTTP/1.1\r\n{auth}Content-Length: 10\r\n\r\n{}", big);
    assert_status(&mut s, "Content-Length 10, 100 KiB sent", tiny.as_bytes(), &[400, 0]);
    // No length at all, and chunked (smuggling-prone; refused outright), also with a length.
    assert_status(&mut s, "POST without Content-Length", format!("POST / HTTP/1.1\r\n{auth}\r\n{info}").as_bytes(), &[411]);
    let chunked = format!("POST / HTTP/1.1\r\n{auth}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{info}\r\n0\r\n\r\n", info.len());
    assert_status(&mut s, "chunked body", chunked.as_bytes(), &[411]);
    let both = format!("POST / HTTP/1.1\r\n{auth}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_status(&mut s, "chunked plus Content-Length", both.as_bytes(), &[411]);
    // Body shorter than declared, then the client closes.
    assert_status(&mut s, "truncated body", format!("POST / HTTP/1.1\r\n{auth}Content-Length: 500\r\n\r\n{{\"a\"").as_bytes(), &[400]);
    s.assert_still_serving("oversized/chunked bodies");

    // Malformed or hostile JSON, with a valid token.
    let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let many_nics = system_info(&vec!["de:ad:be:ef:00:01"; 1400]);
    let weird = [
        ("not JSON", "{not json".to_string()),
        ("empty body", String::new()),
        ("JSON null", "null".to_string()),
        ("JSON array", "[]".to_string()),
        ("nesting beyond the JSON limit", deep),
        ("network_interfaces not an array", r#"{"network_interfaces": "52:54:00:0a:00:11"}"#.to_string()),
        ("mac not a string", r#"{"network_interfaces": [{"mac": 5254000}]}"#.to_string()),
        ("invalid UTF-8 in a string", "{\"network_interfaces\": [{\"mac\": \"\u{fffd}\"}]}".replace('\u{fffd}', "\\udc00")),
        ("NUL in the MAC", r#"{"network_interfaces": [{"mac": "52:54:00:0a:00:11\u0000"}]}"#.to_string()),
        ("1400 unknown MACs", many_nics),
    ];
    for (what, body) in weird {
        let reply = assert_status(&mut s, what, answer_request(&body, Some(TOKEN)).as_bytes(), &[400, 404]);
        assert!(reply.len() < 64 * 1024, "{what}: reply of {} bytes", reply.len());
    }
    let mut raw = answer_request("{\"network_interfaces\": []}", Some(TOKEN)).into_bytes();
    let n = raw.len();
    raw[n - 3] = 0xff; // invalid UTF-8 inside the JSON
    assert_status(&mut s, "invalid UTF-8 body", &raw, &[400]);
    s.assert_still_serving("malformed JSON");
    s.stop();
}

#[test]
fn tokens_macs_methods_paths_and_header_floods_are_rejected_cleanly() {
    let mut s = Server::start();
    let info = system_info(&[NODE1_MAC]);
    // Tokens.
    for (what, header) in [
        ("no token", String::new()),
        ("wrong token", "Authorization: Bearer wrong-token\r\n".to_string()),
        ("token prefix", format!("Authorization: Bearer {}\r\n", &TOKEN[..TOKEN.len() - 1])),
        ("token plus a byte", format!("Authorization: Bearer {TOKEN}x\r\n")),
        ("basic auth", format!("Authorization: Basic {TOKEN}\r\n")),
        ("10 KiB token", format!("Authorization: Bearer {}\r\n", "t".repeat(10 * 1024))),
        ("wrong token first", format!("Authorization: Bearer nope\r\nAuthorization: Bearer {TOKEN}\r\n")),
        ("token in the query only", String::new()),
    ] {
        let path = if what.contains("query") { format!("/?token={TOKEN}") } else { "/".into() };
        let raw = format!("POST {path} HTTP/1.1\r\nHost: x\r\n{header}Content-Length: {}\r\n\r\n{info}", info.len());
        let reply = assert_status(&mut s, what, raw.as_bytes(), &[401]);
        assert!(!reply.contains("pve-node1.lab"), "{what}: an answer was served without the token");
    }
    // MACs: unknown, malformed, empty, the broadcast address.
    for mac in ["de:ad:be:ef:00:01", "52:54:00:0a:00:1", "", "ff:ff:ff:ff:ff:ff", "52-54-00-0a-00-11-00", "../../etc/passwd"] {
        assert_status(&mut s, &format!("MAC {mac:?}"), answer_request(&system_info(&[mac]), Some(TOKEN)).as_bytes(), &[404]);
    }
    // Both nodes' MACs at once: ambiguous, refused.
    assert_status(&mut s, "two nodes' MACs", answer_request(&system_info(&[NODE1_MAC, "52:54:00:0a:00:12"]), Some(TOKEN)).as_bytes(), &[409]);
    // Methods.
    for m in ["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "PATCH", "FOO", "post"] {
        assert_status(&mut s, m, format!("{m} / HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(), &[405]);
    }
    assert_status(&mut s, "PUT without a body", b"PUT / HTTP/1.1\r\nHost: x\r\n\r\n", &[405, 411]);
    assert_status(&mut s, "CONNECT", b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n", &[405]);
    // Path traversal: nothing but the fixed routes is ever served.
    for p in ["/../../../../etc/passwd", "/first-boot/../../../etc/shadow", "/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd", "/healthz/../../etc/passwd", "\\..\\..\\etc\\passwd"] {
        assert_status(&mut s, &format!("GET {p}"), format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(), &[405, 400]);
        // POST to any path is an answer fetch: the path is never used as a file name.
        let raw = format!("POST {p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{info}", info.len());
        assert_status(&mut s, &format!("POST {p}"), raw.as_bytes(), &[200, 400]);
    }
    s.assert_still_serving("tokens/MACs/methods/paths");

    // Header floods and garbage request heads.
    let flood: String = (0..2000).map(|i| format!("X-{i}: {}\r\n", "v".repeat(20))).collect();
    assert_status(&mut s, "2000 headers (> 16 KiB)", format!("GET /healthz HTTP/1.1\r\n{flood}\r\n").as_bytes(), &[431, 0]);
    let small_flood: String = (0..500).map(|i| format!("X{i}:v\r\n")).collect();
    assert_status(&mut s, "500 small headers", format!("GET /healthz HTTP/1.1\r\n{small_flood}\r\n").as_bytes(), &[200]);
    assert_status(&mut s, "one 20 KiB header", format!("GET /healthz HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(20 * 1024)).as_bytes(), &[431, 0]);
    assert_status(&mut s, "1 MiB without an end of headers", "A".repeat(1 << 20).as_bytes(), &[431, 0]);
    assert_status(&mut s, "header without a colon", b"GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n", &[400]);
    assert_status(&mut s, "binary request line", b"\x00\x01\x02\xff\xfe\r\n\r\n", &[400]);
    assert_status(&mut s, "HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &[400]);
    assert_status(&mut s, "HTTP/0.9 style", b"GET /\r\n\r\n", &[400]);
    assert_status(&mut s, "TLS client hello", &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, b'\r', b'\n', b'\r', b'\n'], &[400]);
    assert_status(&mut s, "closed before the end of headers", b"GET /healthz HTTP/1.1\r\nHost:", &[400]);
    s.assert_still_serving("header floods");
    s.stop();
}

#[test]
fn slow_clients_cannot_starve_the_installer_and_are_cut_off() {
    let mut s = Server::start();
    // 40 slow-loris connections (below the server's 64-connection cap), each dribbling a
    // header byte now and then: the installer is still served meanwhile.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut dribblers = Vec::new();
    for _ in 0..40 {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.write_all(b"POST / HTTP/1.1\r\nX-Slow: ").unwrap();
        let stop = stop.clone();
        dribblers.push(std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if c.write_all(b"a").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            // The server's request deadline ends a dribbler with 408 (or closes it).
            let _ = c.set_read_timeout(Some(Duration::from_secs(60)));
            read_reply(&mut c).0
        }));
    }
    for round in 0..5 {
        s.assert_still_serving(&format!("40 slow clients, round {round}"));
    }
    // The request deadline cuts every dribbler off (408) without our help.
    let codes: Vec<u16> = dribblers.into_iter().map(|d| d.join().unwrap()).collect();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(codes.iter().all(|c| *c == 408 || *c == 0), "slow clients got {codes:?}");
    assert!(codes.contains(&408), "no slow client got 408: {codes:?}");

    // A flood beyond the cap: the surplus is refused at once (503, not queued), and once the
    // idle connections hit their deadline the installer is served again.
    let idle: Vec<TcpStream> = (0..64).map(|_| TcpStream::connect(s.addr).unwrap()).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut saw_503 = false;
    loop {
        let (code, _) = http(s.addr, &answer_request(&system_info(&[NODE1_MAC]), Some(TOKEN)));
        if code == 503 {
            saw_503 = true;
        }
        if code == 200 {
            break;
        }
        assert_eq!(code, 503, "over the cap: expected 503 or 200");
        assert!(Instant::now() < deadline, "installer never served again after a connection flood");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(saw_503, "64 idle connections should fill the cap and get the next client a 503");
    drop(idle);
    s.assert_still_serving("connection flood");
    s.stop();
}

fn webhook(fqdn: &str, keys: serde_json::Value, token: Option<&str>) -> String {
    let mut v = serde_json::json!({
        "fqdn": fqdn,
        "network-interfaces": [{"name": "nic0", "mac": NODE1_MAC}],
        "ssh-public-host-keys": keys,
        "product": {"version": "9.1.1"},
    });
    if let Some(t) = token {
        v["token"] = serde_json::json!(t);
    }
    let body = v.to_string();
    format!("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
}

/// An SSH key blob whose embedded type string is `key_type`.
fn blob_with_type(key_type: &str) -> String {
    use base64::Engine as _;
    let mut raw = (key_type.len() as u32).to_be_bytes().to_vec();
    raw.extend_from_slice(key_type.as_bytes());
    raw.extend_from_slice(&[0, 0, 0, 32]);
    raw.extend_from_slice(&[7u8; 32]);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

#[test]
fn hostile_webhook_reports_pin_nothing() {
    let mut s = Server::start();
    let good_keys = serde_json::json!({"ed25519": format!("ssh-ed25519 {K_NEW} root@pve-node1")});
    for (what, raw, want) in [
        ("no token", webhook("pve-node1.lab.home.arpa", good_keys.clone(), None), 401),
        ("wrong token", webhook("pve-node1.lab.home.arpa", good_keys.clone(), Some("nope")), 401),
        ("malformed JSON", "POST /webhook HTTP/1.1\r\nContent-Length: 5\r\n\r\n{nope".to_string(), 400),
        ("unknown host", webhook("evil.example", serde_json::json!({"ed25519": format!("ssh-ed25519 {K_NEW}")}), Some(TOKEN)).replace(NODE1_MAC, "de:ad:be:ef:00:01"), 404),
        ("path in the fqdn", webhook("../../../etc/passwd", good_keys.clone(), Some(TOKEN)).replace(NODE1_MAC, "de:ad:be:ef:00:01"), 404),
        ("not base64", webhook("pve-node1.lab.home.arpa", serde_json::json!({"ed25519": "ssh-ed25519 !!!"}), Some(TOKEN)), 400),
        ("not a key", webhook("pve-node1.lab.home.arpa", serde_json::json!({"ed25519": "ssh-ed25519 aGVsbG8="}), Some(TOKEN)), 400),
        ("keys not a map", webhook("pve-node1.lab.home.arpa", serde_json::json!(["ssh-ed25519 x"]), Some(TOKEN)), 400),
        // A blob whose *embedded* type smuggles a line break: pinned as-is it would write a
        // second known_hosts line pinning an attacker key for another host (the Pi).
        (
            "newline smuggled in the key type",
            webhook("pve-node1.lab.home.arpa", serde_json::json!({"ed25519": blob_with_type(&format!("ssh-ed25519\n10.231.10.5 ssh-ed25519 {K_NEW}\n#"))}), Some(TOKEN)),
            400,
        ),
        ("space in the key type", webhook("pve-node1.lab.home.arpa", serde_json::json!({"ed25519": blob_with_type("ssh-ed25519 qdevice1")}), Some(TOKEN)), 400),
    ] {
        assert_status(&mut s, what, raw.as_bytes(), &[want]);
        let pins = std::fs::read_to_string(&s.known_hosts).unwrap_or_default();
        assert!(pins.lines().all(|l| l.starts_with('#') || l.is_empty()), "{what}: something was pinned:\n{pins}");
    }
    // The genuine report still works afterwards, and pins exactly that node.
    assert_status(&mut s, "genuine webhook", webhook("pve-node1.lab.home.arpa", good_keys, Some(TOKEN)).as_bytes(), &[200]);
    let pins = std::fs::read_to_string(&s.known_hosts).unwrap();
    assert!(pins.contains(K_NEW) && !pins.contains("10.231.10.5 "), "{pins}");
    s.assert_still_serving("hostile webhooks");
    s.stop();
}
