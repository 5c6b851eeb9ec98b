//! `resolve_keys` reads its endpoint and cache from the environment
//! (`HOMELAB_GITHUB_KEYS_URL`, `XDG_CACHE_HOME`). One test per binary: it sets process-wide
//! environment variables, which would race with other tests in the same process.

use common::inventory::keys::{resolve_keys, GithubKeys};
use common::inventory::parse_str;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

const EC: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOUV9rDQRfIm5/lh7HZLsIhbvzOVpqgTvoXtV+k5KxhCzzJQ66ajCelKnEz0GYq8QW7dMAcEjfVL14x5IW1uHqQ=";

#[test]
fn resolve_keys_uses_the_env_endpoint_and_xdg_cache() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let (code, body) =
                if req.starts_with("GET /envuser.keys ") { (200, format!("{EC}\n")) } else { (404, String::new()) };
            let _ = write!(c, "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    let cache = tempfile::tempdir().unwrap();
    std::env::set_var("HOMELAB_GITHUB_KEYS_URL", &base);
    std::env::set_var("XDG_CACHE_HOME", cache.path());

    let g = GithubKeys::from_env();
    assert_eq!(g.url("envuser"), format!("{base}envuser.keys"), "a trailing / in the base is tolerated");
    assert_eq!(g.cache_dir.as_deref(), Some(cache.path().join("homelab-iac/github-keys").as_path()));

    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory/good-minimal.toml"))
        .unwrap()
        .replace("github:octocat", "github:envuser");
    let loaded = parse_str(&text, Path::new("homelab.toml")).unwrap();
    let keys = resolve_keys(&loaded).unwrap();
    assert_eq!(keys.iter().map(|k| k.to_line()).collect::<Vec<_>>(), [EC]);
    assert!(cache.path().join("homelab-iac/github-keys/envuser.keys").exists());

    // relative XDG_CACHE_HOME is ignored (XDG spec); HOME/.cache is used instead
    std::env::set_var("XDG_CACHE_HOME", "relative/cache");
    std::env::set_var("HOME", cache.path());
    assert_eq!(GithubKeys::from_env().cache_dir.unwrap(), cache.path().join(".cache/homelab-iac/github-keys"));
    std::env::remove_var("HOMELAB_GITHUB_KEYS_URL");
    assert_eq!(GithubKeys::from_env().url("x"), "https://github.com/x.keys");
}
