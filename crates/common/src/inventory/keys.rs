//! Automation public keys: literal OpenSSH lines and `github:USER` sources.
//!
//! `github:USER` is fetched from `https://github.com/USER.keys` (the public key list GitHub
//! publishes for every account), validated line by line, and cached under
//! `$XDG_CACHE_HOME/homelab-iac/github-keys/USER.keys` (fallback `~/.cache/…`). When GitHub
//! cannot be reached the cache is used with a warning, so a phase still runs offline once the
//! keys were seen; without a cache the error names the user, the URL, and the way out (a
//! literal key). A definite answer from GitHub — no such user, no keys — is never papered
//! over with the cache: the keys a user removed must not be installed again.

pub use super::pubkey::PublicKey;
use super::LoadedInventory;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// One entry of `automation.keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Literal(PublicKey),
    GitHub(String),
}

impl KeySource {
    pub fn parse(s: &str) -> Result<KeySource, String> {
        match s.strip_prefix("github:") {
            Some(user) => super::names::check_github_user(user).map(|_| KeySource::GitHub(user.to_string())),
            None => PublicKey::parse(s).map(KeySource::Literal),
        }
    }
}

/// Environment variable overriding `https://github.com` (tests point it at a local server).
pub const GITHUB_KEYS_URL_ENV: &str = "HOMELAB_GITHUB_KEYS_URL";

/// Largest `USER.keys` response read; real ones are a few KiB.
const MAX_RESPONSE: u64 = 1024 * 1024;

/// Where and how `github:USER` keys are fetched and cached.
#[derive(Debug, Clone)]
pub struct GithubKeys {
    /// Base URL; the keys are at `<base_url>/<USER>.keys`.
    pub base_url: String,
    /// Cache directory (`None`: no cache, e.g. no HOME).
    pub cache_dir: Option<PathBuf>,
    pub timeout: Duration,
}

impl GithubKeys {
    /// `https://github.com` (or `$HOMELAB_GITHUB_KEYS_URL`), the XDG cache, a 10 s timeout.
    pub fn from_env() -> Self {
        let base_url = std::env::var(GITHUB_KEYS_URL_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "https://github.com".into());
        let cache_root = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache")));
        GithubKeys {
            base_url: base_url.trim_end_matches('/').to_string(),
            cache_dir: cache_root.map(|r| r.join("homelab-iac").join("github-keys")),
            timeout: Duration::from_secs(10),
        }
    }

    pub fn url(&self, user: &str) -> String {
        format!("{}/{user}.keys", self.base_url.trim_end_matches('/'))
    }

    /// Cache file of `user` (GitHub names are case-insensitive: one file per account).
    pub fn cache_path(&self, user: &str) -> Option<PathBuf> {
        self.cache_dir.as_ref().map(|d| d.join(format!("{}.keys", user.to_ascii_lowercase())))
    }

    /// The keys of GitHub user `user`: fetched, else cached (with a warning), else an error.
    pub fn fetch(&self, user: &str) -> Result<Vec<PublicKey>> {
        let url = self.url(user);
        let unreachable = match self.download(&url) {
            Download::NotFound => bail!(
                "github user {user} does not exist ({url} answered 404); fix the name in automation.keys or use a literal key"
            ),
            Download::Body(body) => match parse_keys(&body) {
                Ok(keys) if keys.is_empty() => bail!(
                    "github user {user} has no public keys ({url} is empty); add a key at https://github.com/settings/keys or put a literal key in automation.keys"
                ),
                Ok(keys) => {
                    self.store(user, &keys);
                    return Ok(keys);
                }
                Err(e) => format!("the response is not a list of SSH keys ({e})"),
            },
            Download::Failed(why) => why,
        };
        match self.cached(user) {
            Some(keys) => {
                log::warn!(
                    "github keys of {user}: {url} unreachable ({unreachable}); using the {} cached key(s) from {}",
                    keys.len(),
                    self.cache_path(user).map(|p| p.display().to_string()).unwrap_or_default()
                );
                Ok(keys)
            }
            None => bail!(
                "cannot get the public keys of github user {user}: {url} is unreachable ({unreachable}) and there is no cached copy; connect to the internet once, or put a literal key (the line from ~/.ssh/id_ed25519.pub) in automation.keys"
            ),
        }
    }

    fn download(&self, url: &str) -> Download {
        let mut builder = ureq::AgentBuilder::new().timeout(self.timeout);
        // ureq is built with native-tls only, which it does not enable by default. Loading the
        // system CAs costs a few hundred ms, so only for https (tests use plain http).
        if url.starts_with("https://") {
            match native_tls::TlsConnector::new() {
                Ok(t) => builder = builder.tls_connector(Arc::new(t)),
                Err(e) => return Download::Failed(format!("TLS setup failed: {e}")),
            }
        }
        let agent = builder.build();
        match agent.get(url).call() {
            Ok(resp) => {
                let mut body = String::new();
                match resp.into_reader().take(MAX_RESPONSE).read_to_string(&mut body) {
                    Ok(_) => Download::Body(body),
                    Err(e) => Download::Failed(format!("reading the response failed: {e}")),
                }
            }
            Err(ureq::Error::Status(404, _)) => Download::NotFound,
            Err(ureq::Error::Status(code, _)) => Download::Failed(format!("HTTP {code}")),
            Err(ureq::Error::Transport(t)) => Download::Failed(t.to_string()),
        }
    }

    fn cached(&self, user: &str) -> Option<Vec<PublicKey>> {
        let path = self.cache_path(user)?;
        let text = std::fs::read_to_string(&path).ok()?;
        match parse_keys(&text) {
            Ok(keys) if !keys.is_empty() => Some(keys),
            _ => {
                log::warn!("ignoring the unreadable key cache {}", path.display());
                None
            }
        }
    }

    /// Write the cache atomically; a failure only costs the offline fallback, so it warns.
    fn store(&self, user: &str, keys: &[PublicKey]) {
        let Some(path) = self.cache_path(user) else { return };
        let write = || -> Result<()> {
            let dir = path.parent().context("cache path has no directory")?;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            let text: String = keys.iter().map(|k| format!("{k}\n")).collect();
            std::io::Write::write_all(&mut tmp, text.as_bytes())?;
            tmp.persist(&path)?;
            Ok(())
        };
        if let Err(e) = write() {
            log::warn!("could not cache the github keys of {user} in {}: {e:#}", path.display());
        }
    }
}

enum Download {
    Body(String),
    NotFound,
    Failed(String),
}

/// Parse a `USER.keys` body: one key per non-empty line, every line must be a key.
fn parse_keys(body: &str) -> Result<Vec<PublicKey>, String> {
    body.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| PublicKey::parse(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Every accepted key of the automation user, literal and from GitHub, de-duplicated
/// (same type and data; the first comment wins), in inventory order.
pub fn resolve_keys(loaded: &LoadedInventory) -> Result<Vec<PublicKey>> {
    resolve_keys_with(loaded, &GithubKeys::from_env())
}

/// [`resolve_keys`] with an explicit GitHub endpoint and cache.
pub fn resolve_keys_with(loaded: &LoadedInventory, github: &GithubKeys) -> Result<Vec<PublicKey>> {
    let mut out: Vec<PublicKey> = Vec::new();
    for (i, entry) in loaded.inv.automation.keys.iter().enumerate() {
        let keys = match KeySource::parse(entry) {
            Ok(KeySource::Literal(k)) => vec![k],
            Ok(KeySource::GitHub(user)) => github.fetch(&user)?,
            // Validation rejects these; a hand-built inventory may not have been validated.
            Err(e) => bail!("{}", loaded.error_at(&format!("automation.keys[{i}]"), e)),
        };
        for k in keys {
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    if out.is_empty() {
        bail!("{}", loaded.error_at("automation.keys", "no public keys: add a key or github:USER to automation.keys"));
    }
    Ok(out)
}
