//! Key resolution: literal keys, `github:USER` from a local stand-in for github.com (a tiny
//! HTTP server on 127.0.0.1 started by the test), the offline cache, and the errors.

use common::inventory::keys::{resolve_keys_with, GithubKeys, KeySource, PublicKey};
use common::inventory::{parse_str, LoadedInventory};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIBWnBZCKUZg2imiBpR3Az+N9QvyQz05kXcjQKLEe44Q";
const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCc2Nz8ywKDvxZ+ORNpoJntO6X6UdQOVgBcR0xxfNsrtvWp64oE2tTJ36/Fv60iqFPPY1gwa9dcvHyqKV8NHcRkFu5kd7ngbWzFKfTbz/P1jz5kfRz4q/Vi95lfk4whEo1PxhzA0jFIlFVUckj5cU2INpLiwS1UJnBAupX9cwWIvp2t8IU6gWM0QURMCBNPtrQHdT/5y8oYvnhtTvJ0T7Yl+1EtSzkznkw2HQ+dj3j8wUq6sSaGd1z0w/6Z5fMXwHWrT2LiIaMsyM1XQBX0VmfwSo2//tcHFbZrL38cRa/qOrRigzrZi+c890TtEa8NPqNkpFbq2H1M/RjRfDUZT6Oj";
const EC: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOUV9rDQRfIm5/lh7HZLsIhbvzOVpqgTvoXtV+k5KxhCzzJQ66ajCelKnEz0GYq8QW7dMAcEjfVL14x5IW1uHqQ=";

/// A stand-in for github.com: serves `path → (status, body)` and records requested paths.
struct FakeGithub {
    base: String,
    hits: Arc<Mutex<Vec<String>>>,
}

fn serve(routes: &[(&str, u16, &str)]) -> FakeGithub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes: HashMap<String, (u16, String)> = routes.iter().map(|(p, c, b)| (p.to_string(), (*c, b.to_string()))).collect();
    let hits = Arc::new(Mutex::new(Vec::new()));
    let seen = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // skip the headers
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(path.clone());
            let (code, body) = routes.get(&path).cloned().unwrap_or((404, "Not Found".into()));
            let _ = write!(
                conn,
                "HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    FakeGithub { base, hits }
}

/// A base URL where nothing listens (connection refused).
fn nothing_listening() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

fn github(base: &str, cache: &Path) -> GithubKeys {
    GithubKeys { base_url: base.to_string(), cache_dir: Some(cache.to_path_buf()), timeout: Duration::from_secs(10) }
}

fn inventory(keys: &[&str]) -> LoadedInventory {
    let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory/good-base.toml")).unwrap();
    let list: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
    let start = base.find("keys = [").unwrap();
    let end = start + base[start..].find('\n').unwrap();
    let text = format!("{}keys = [{}]{}", &base[..start], list.join(", "), &base[end..]);
    parse_str(&text, Path::new("homelab.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn lines(keys: &[PublicKey]) -> Vec<String> {
    keys.iter().map(|k| k.to_line()).collect()
}

#[test]
fn literal_keys_resolve_in_order_without_network() {
    let cache = tempfile::tempdir().unwrap();
    let ed = format!("{ED} first@laptop");
    let loaded = inventory(&[RSA, &ed, EC]);
    let keys = resolve_keys_with(&loaded, &github(&nothing_listening(), cache.path())).unwrap();
    assert_eq!(lines(&keys), [RSA, ed.as_str(), EC]);
    assert_eq!(keys[1].comment.as_deref(), Some("first@laptop"));
}

#[test]
fn a_key_given_literally_and_on_github_appears_once_with_its_literal_comment() {
    let cache = tempfile::tempdir().unwrap();
    let gh = serve(&[("/octocat.keys", 200, &format!("{ED}\n{RSA}\n"))]);
    let ed = format!("{ED} first@laptop");
    let loaded = inventory(&[&ed, "github:octocat"]);
    let keys = resolve_keys_with(&loaded, &github(&gh.base, cache.path())).unwrap();
    assert_eq!(lines(&keys), [ed.as_str(), RSA]);
}

#[test]
fn github_keys_are_fetched_validated_merged_and_cached() {
    let cache = tempfile::tempdir().unwrap();
    let gh = serve(&[("/octocat.keys", 200, &format!("{RSA}\n{EC}\n\n"))]);
    let loaded = inventory(&[ED, "github:octocat", RSA]);
    let keys = resolve_keys_with(&loaded, &github(&gh.base, cache.path())).unwrap();
    assert_eq!(lines(&keys), [ED, RSA, EC], "literal first, GitHub's in its order, the repeated RSA key once");
    assert_eq!(*gh.hits.lock().unwrap(), ["/octocat.keys"]);
    let cached = std::fs::read_to_string(cache.path().join("octocat.keys")).unwrap();
    assert_eq!(cached, format!("{RSA}\n{EC}\n"));
}

#[test]
fn unreachable_github_falls_back_to_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    // a first, online run fills the cache …
    let gh = serve(&[("/Octocat.keys", 200, &format!("{EC}\n"))]);
    let loaded = inventory(&["github:Octocat"]);
    assert_eq!(lines(&resolve_keys_with(&loaded, &github(&gh.base, cache.path())).unwrap()), [EC]);
    // … and an offline run uses it (file name is case-insensitive like GitHub logins)
    assert!(cache.path().join("octocat.keys").exists());
    let keys = resolve_keys_with(&loaded, &github(&nothing_listening(), cache.path())).unwrap();
    assert_eq!(lines(&keys), [EC]);
    // a server error counts as unreachable too
    let broken = serve(&[("/Octocat.keys", 503, "try later")]);
    assert_eq!(lines(&resolve_keys_with(&loaded, &github(&broken.base, cache.path())).unwrap()), [EC]);
}

#[test]
fn unreachable_github_without_cache_names_user_url_and_the_way_out() {
    let cache = tempfile::tempdir().unwrap();
    let base = nothing_listening();
    let loaded = inventory(&["github:octocat"]);
    let err = resolve_keys_with(&loaded, &github(&base, cache.path())).unwrap_err().to_string();
    assert!(err.contains("github user octocat"), "{err}");
    assert!(err.contains(&format!("{base}/octocat.keys")), "{err}");
    assert!(err.contains("no cached copy"), "{err}");
    assert!(err.contains("literal key"), "{err}");
    // no cache directory at all behaves the same
    let no_cache = GithubKeys { base_url: base, cache_dir: None, timeout: Duration::from_secs(10) };
    assert!(resolve_keys_with(&loaded, &no_cache).unwrap_err().to_string().contains("no cached copy"));
}

#[test]
fn definite_answers_from_github_are_errors_even_with_a_cache() {
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(cache.path().join("ghost.keys"), format!("{ED}\n")).unwrap();
    std::fs::write(cache.path().join("nokeys.keys"), format!("{ED}\n")).unwrap();
    let gh = serve(&[("/nokeys.keys", 200, "\n")]);
    let g = github(&gh.base, cache.path());
    let err = resolve_keys_with(&inventory(&["github:ghost"]), &g).unwrap_err().to_string();
    assert!(err.contains("github user ghost does not exist") && err.contains("404"), "{err}");
    let err = resolve_keys_with(&inventory(&["github:nokeys"]), &g).unwrap_err().to_string();
    assert!(err.contains("github user nokeys has no public keys"), "{err}");
}

#[test]
fn a_response_that_is_not_keys_is_not_trusted() {
    let cache = tempfile::tempdir().unwrap();
    let gh = serve(&[("/portal.keys", 200, "<html>Please log in to the hotel wifi</html>\n")]);
    let loaded = inventory(&["github:portal"]);
    let err = resolve_keys_with(&loaded, &github(&gh.base, cache.path())).unwrap_err().to_string();
    assert!(err.contains("not a list of SSH keys"), "{err}");
    assert!(!cache.path().join("portal.keys").exists(), "an invalid response must not be cached");
    // with a cached copy the tool keeps working, on the cache
    std::fs::write(cache.path().join("portal.keys"), format!("{RSA}\n")).unwrap();
    assert_eq!(lines(&resolve_keys_with(&loaded, &github(&gh.base, cache.path())).unwrap()), [RSA]);
}

#[test]
fn key_sources_parse() {
    assert_eq!(KeySource::parse("github:octocat").unwrap(), KeySource::GitHub("octocat".into()));
    assert!(matches!(KeySource::parse(ED).unwrap(), KeySource::Literal(_)));
    assert!(KeySource::parse("github:").unwrap_err().contains("empty"));
    assert!(KeySource::parse("gitlab:octocat").is_err());
}

#[test]
fn https_goes_through_a_tls_backend() {
    // ureq without a configured TLS connector refuses https outright ("no TLS backend is
    // configured"); against a plain-HTTP server a wired-up TLS stack fails the handshake instead.
    let cache = tempfile::tempdir().unwrap();
    let gh = serve(&[("/octocat.keys", 200, &format!("{ED}\n"))]);
    let https = gh.base.replacen("http://", "https://", 1);
    let err = resolve_keys_with(&inventory(&["github:octocat"]), &github(&https, cache.path())).unwrap_err().to_string();
    assert!(!err.contains("no TLS backend"), "{err}");
    assert!(err.contains("is unreachable"), "{err}");
}
