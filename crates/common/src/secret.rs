//! Secrets: named in the inventory (environment variable or file), resolved at run time,
//! never printed. Every resolved secret is registered so that log output can be scrubbed
//! (see `output::init_logging`), as a second line of defence behind "never format it".

use crate::inventory::SecretRef;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// A secret value. `Debug`/`Display` print `<redacted>`; use [`Secret::expose`] deliberately.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        register(&value);
        Secret(value)
    }
    /// The clear value, for the one place that needs it (SSH auth, stdin of a remote command).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

fn registry() -> &'static Mutex<Vec<String>> {
    static REG: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remember a secret value so [`redact`] can scrub it from any text.
pub fn register(value: &str) {
    // Very short values would scrub innocent text; they are rejected by validation anyway.
    if value.len() >= 4 {
        let mut reg = registry().lock().unwrap();
        if !reg.iter().any(|v| v == value) {
            reg.push(value.to_string());
        }
    }
}

/// Replace every registered secret value in `text` by `<redacted>`.
pub fn redact(text: &str) -> String {
    let reg = registry().lock().unwrap();
    let mut out = text.to_string();
    for v in reg.iter() {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), "<redacted>");
        }
    }
    out
}

impl SecretRef {
    /// Human description of where the secret comes from, e.g. `environment variable PI_ROOT_PASSWORD`.
    pub fn describe(&self) -> String {
        match (&self.env, &self.file) {
            (Some(e), _) => format!("environment variable {e}"),
            (None, Some(f)) => format!("file {}", f.display()),
            (None, None) => "nowhere (neither env nor file is set)".into(),
        }
    }

    /// Read the secret. `base` is the inventory's directory (relative `file` paths).
    pub fn resolve(&self, base: &Path) -> Result<Secret> {
        match (&self.env, &self.file) {
            (Some(var), None) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
                Ok(_) => bail!("environment variable {var} is empty; export the secret before running"),
                Err(_) => bail!("environment variable {var} is not set; export it (for the lab: `source .lab/secrets.env`)"),
            },
            (None, Some(file)) => {
                let path = if file.is_absolute() { file.clone() } else { base.join(file) };
                let raw = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading secret file {}", path.display()))?;
                let v = raw.trim_end_matches(['\n', '\r']).to_string();
                if v.is_empty() {
                    bail!("secret file {} is empty", path.display());
                }
                Ok(Secret::new(v))
            }
            _ => bail!("a secret must name exactly one of `env` or `file`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_format_and_are_scrubbed() {
        let s = Secret::new("hunter2-very-secret".into());
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert_eq!(redact("pw=hunter2-very-secret!"), "pw=<redacted>!");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn missing_env_names_the_variable() {
        let r = SecretRef { env: Some("HIAC_TEST_SURELY_UNSET".into()), file: None };
        let e = r.resolve(Path::new(".")).unwrap_err().to_string();
        assert!(e.contains("HIAC_TEST_SURELY_UNSET"), "{e}");
    }
}
