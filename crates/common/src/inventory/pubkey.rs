//! OpenSSH public key lines (`ssh-ed25519 AAAAC3… comment`), as written in authorized_keys
//! and returned by `https://github.com/USER.keys`.
//!
//! Parsing checks the key itself, not just the shape of the line: the base64 blob must decode,
//! start with the same type name as the line, and hold a well-formed key of that type. A
//! truncated paste therefore fails at validation, not as a mysterious login failure later.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt;

/// One public key. Equality (for de-duplication) ignores the comment.
#[derive(Debug, Clone, Eq)]
pub struct PublicKey {
    /// Key type as written on the line, e.g. `ssh-ed25519`.
    pub kind: String,
    /// The base64 blob, exactly as given.
    pub data: String,
    /// Free text after the blob (often `user@host`); `None` when absent.
    pub comment: Option<String>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.data == other.data
    }
}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.data.hash(state);
    }
}

const ECDSA: &[(&str, &str, usize)] = &[
    ("ecdsa-sha2-nistp256", "nistp256", 65),
    ("ecdsa-sha2-nistp384", "nistp384", 97),
    ("ecdsa-sha2-nistp521", "nistp521", 133),
];

impl PublicKey {
    /// Parse `TYPE BASE64 [COMMENT]`. Options in front of the type (`from="…" ssh-…`) are not
    /// accepted: the tools write the automation user's authorized_keys themselves.
    pub fn parse(line: &str) -> Result<PublicKey, String> {
        let line = line.trim();
        let mut it = line.splitn(3, [' ', '\t']);
        let kind = it.next().unwrap_or("");
        if kind.is_empty() {
            return Err("the key is empty; paste a line like `ssh-ed25519 AAAAC3Nza… you@laptop`".into());
        }
        if kind == "ssh-dss" {
            return Err("DSA keys (`ssh-dss`) are disabled by OpenSSH; use an ed25519 key (ssh-keygen -t ed25519)".into());
        }
        if kind.contains("-cert-v01@openssh.com") {
            return Err(format!("`{kind}` is a certificate, not a public key; give the plain public key"));
        }
        if !is_known_kind(kind) {
            let hint = if kind.contains('=') || kind.contains('"') {
                "; authorized_keys options in front of the key are not supported — give just the key"
            } else if kind.starts_with("-----") {
                "; this is a PEM file — give the one-line OpenSSH form (`ssh-keygen -y -f KEY`)"
            } else {
                ""
            };
            return Err(format!(
                "`{}` is not an OpenSSH key type (expected ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com){hint}",
                truncate(kind)
            ));
        }
        let data = it.next().unwrap_or("").trim();
        if data.is_empty() {
            return Err(format!("the `{kind}` key has no base64 part; paste the whole line from the .pub file"));
        }
        let comment = it.next().map(str::trim).filter(|c| !c.is_empty()).map(str::to_string);
        let blob = STANDARD
            .decode(data)
            .or_else(|_| STANDARD_NO_PAD.decode(data))
            .map_err(|_| format!("the `{kind}` key's data `{}` is not valid base64 — was it cut off? Paste the whole line from the .pub file", truncate(data)))?;
        check_blob(kind, &blob).map_err(|why| format!("the `{kind}` key is malformed: {why} — was it cut off? Paste the whole line from the .pub file"))?;
        Ok(PublicKey { kind: kind.to_string(), data: data.to_string(), comment })
    }

    /// The raw key blob (the decoded base64).
    pub fn blob(&self) -> Vec<u8> {
        STANDARD.decode(&self.data).or_else(|_| STANDARD_NO_PAD.decode(&self.data)).unwrap_or_default()
    }

    /// `SHA256:…` fingerprint, as `ssh-keygen -lf` prints it.
    pub fn fingerprint(&self) -> String {
        format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(self.blob())))
    }

    /// The authorized_keys line: `TYPE BASE64 [COMMENT]`.
    pub fn to_line(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.data)?;
        if let Some(c) = &self.comment {
            write!(f, " {c}")?;
        }
        Ok(())
    }
}

fn is_known_kind(kind: &str) -> bool {
    matches!(kind, "ssh-ed25519" | "ssh-rsa" | "sk-ssh-ed25519@openssh.com" | "sk-ecdsa-sha2-nistp256@openssh.com")
        || ECDSA.iter().any(|(k, _, _)| *k == kind)
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 24 {
        format!("{}…", s.chars().take(24).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Reads SSH wire-format strings (u32 big-endian length + bytes).
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn string(&mut self, what: &str) -> Result<&'a [u8], String> {
        if self.0.len() < 4 {
            return Err(format!("missing {what}"));
        }
        let n = u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]) as usize;
        let rest = &self.0[4..];
        if rest.len() < n {
            return Err(format!("{what} is shorter than its declared length"));
        }
        let (s, tail) = rest.split_at(n);
        self.0 = tail;
        Ok(s)
    }

    fn end(&self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(format!("{} unexpected bytes after the key", self.0.len()))
        }
    }
}

fn check_blob(kind: &str, blob: &[u8]) -> Result<(), String> {
    let mut w = Wire(blob);
    let inner = w.string("key type")?;
    if inner != kind.as_bytes() {
        return Err(format!(
            "the data says it is a `{}` key, but the line says `{kind}`",
            String::from_utf8_lossy(inner)
        ));
    }
    match kind {
        "ssh-ed25519" | "sk-ssh-ed25519@openssh.com" => {
            if w.string("ed25519 public key")?.len() != 32 {
                return Err("an ed25519 public key has 32 bytes".into());
            }
        }
        "ssh-rsa" => {
            w.string("RSA exponent")?;
            let n = w.string("RSA modulus")?;
            let bits = mpint_bits(n);
            if bits < 1024 {
                return Err(format!("the RSA modulus has {bits} bits; OpenSSH refuses RSA keys under 1024 bits (use ed25519)"));
            }
        }
        _ => {
            let (curve, point_len) = if kind == "sk-ecdsa-sha2-nistp256@openssh.com" {
                ("nistp256", 65)
            } else {
                let (_, c, l) = ECDSA.iter().find(|(k, _, _)| *k == kind).expect("known kind");
                (*c, *l)
            };
            if w.string("curve name")? != curve.as_bytes() {
                return Err(format!("the curve is not {curve}"));
            }
            if w.string("EC point")?.len() != point_len {
                return Err(format!("a {curve} point has {point_len} bytes"));
            }
        }
    }
    if kind.starts_with("sk-") {
        w.string("security-key application")?;
    }
    w.end()
}

fn mpint_bits(n: &[u8]) -> usize {
    let n = match n.iter().position(|b| *b != 0) {
        Some(i) => &n[i..],
        None => return 0,
    };
    n.len() * 8 - n[0].leading_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real ed25519 public key (generated for these tests; no private key is kept).
    pub const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCc2Nz8ywKDvxZ+ORNpoJntO6X6UdQOVgBcR0xxfNsrtvWp64oE2tTJ36/Fv60iqFPPY1gwa9dcvHyqKV8NHcRkFu5kd7ngbWzFKfTbz/P1jz5kfRz4q/Vi95lfk4whEo1PxhzA0jFIlFVUckj5cU2INpLiwS1UJnBAupX9cwWIvp2t8IU6gWM0QURMCBNPtrQHdT/5y8oYvnhtTvJ0T7Yl+1EtSzkznkw2HQ+dj3j8wUq6sSaGd1z0w/6Z5fMXwHWrT2LiIaMsyM1XQBX0VmfwSo2//tcHFbZrL38cRa/qOrRigzrZi+c890TtEa8NPqNkpFbq2H1M/RjRfDUZT6Oj rsa@example";
    pub const ECDSA256: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOUV9rDQRfIm5/lh7HZLsIhbvzOVpqgTvoXtV+k5KxhCzzJQ66ajCelKnEz0GYq8QW7dMAcEjfVL14x5IW1uHqQ= ec@example";
    pub const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIBWnBZCKUZg2imiBpR3Az+N9QvyQz05kXcjQKLEe44Q test@example";

    #[test]
    fn parses_a_real_key() {
        let k = PublicKey::parse(ED25519).unwrap();
        assert_eq!(k.kind, "ssh-ed25519");
        assert_eq!(k.comment.as_deref(), Some("test@example"));
        assert_eq!(k.to_line(), ED25519);
        // same as `ssh-keygen -lf`
        assert_eq!(k.fingerprint(), "SHA256:CW+W2Ck0mMjABR2U7Ro1aB1aLrVxXVtc35OO0yTW//Q");
        assert!(PublicKey::parse(RSA).is_ok());
        assert!(PublicKey::parse(ECDSA256).is_ok());
    }

    #[test]
    fn rejects_broken_keys() {
        let truncated = &ED25519[..60];
        assert!(PublicKey::parse(truncated).unwrap_err().contains("cut off"));
        assert!(PublicKey::parse("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIIBWnBZCKUZg2imiBpR3Az+N9QvyQz05kXcjQKLEe44Q")
            .unwrap_err()
            .contains("says it is a `ssh-ed25519`"));
        assert!(PublicKey::parse("ssh-dss AAAA").unwrap_err().contains("DSA"));
        assert!(PublicKey::parse("from=\"10.0.0.1\" ssh-ed25519 AAAA").unwrap_err().contains("options"));
        assert!(PublicKey::parse("ssh-ed25519").unwrap_err().contains("no base64"));
        assert!(PublicKey::parse("ssh-ed25519 !!!!").unwrap_err().contains("base64"));
        assert!(PublicKey::parse("").unwrap_err().contains("empty"));
    }

    #[test]
    fn equality_ignores_comment() {
        let a = PublicKey::parse(ED25519).unwrap();
        let b = PublicKey::parse(ED25519.trim_end_matches(" test@example")).unwrap();
        assert_eq!(a, b);
    }
}
