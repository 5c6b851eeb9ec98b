//! Host-key verification against the project's pins, done right after the handshake and
//! before any credential is sent (a password must never reach an impostor).
//!
//! The presented key must match the pins of *every* name the host is known under
//! (inventory name and address): a stale pin under either name is a refusal, not a guess.

use super::error::SshError;
use super::known_hosts::{fingerprint_blob, KnownHosts, Verdict};
use super::target::SshTarget;
use crate::inventory::HostKeyPolicy;
use base64::Engine as _;
use ssh2::HostKeyType;

/// OpenSSH's name of a libssh2 host-key type (the second field of a known_hosts line).
pub fn openssh_key_type(t: HostKeyType) -> Option<&'static str> {
    Some(match t {
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Unknown => return None,
    })
}

/// Host-key algorithms to offer, best first. ed25519 leads because that is what the install
/// webhook pins; key types already pinned for this host go even earlier, so a host pinned by
/// its RSA key is not refused merely because it also has an ed25519 key.
pub fn method_preference(pinned_types: &[String], supported: &[&str]) -> String {
    const DEFAULT: &[&str] = &[
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ssh-rsa",
    ];
    let mut order: Vec<&str> = Vec::new();
    for t in pinned_types {
        let algs: &[&str] = match t.as_str() {
            "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            other => DEFAULT.iter().find(|d| **d == other).map(std::slice::from_ref).unwrap_or(&[]),
        };
        order.extend(algs);
    }
    order.extend(DEFAULT);
    let mut seen = Vec::new();
    for a in order {
        if !seen.contains(&a) && (supported.is_empty() || supported.contains(&a)) {
            seen.push(a);
        }
    }
    seen.join(",")
}

/// Key types pinned for any name of the target (to steer [`method_preference`]).
pub fn pinned_types(target: &SshTarget) -> Vec<String> {
    let kh = match KnownHosts::load(&target.known_hosts) {
        Ok(kh) => kh,
        Err(_) => return Vec::new(), // reported properly by `verify` below
    };
    let mut types = Vec::new();
    for name in target.pin_names() {
        for e in kh.keys_for(&name, target.port) {
            if !types.contains(&e.key_type) {
                types.push(e.key_type.clone());
            }
        }
    }
    types
}

/// Combined verdict over all names of the target.
fn verdict(kh: &KnownHosts, target: &SshTarget, key_type: &str, key_b64: &str) -> Verdict {
    let mut pinned = Vec::new();
    let mut any_match = false;
    for name in target.pin_names() {
        match kh.verify(&name, target.port, key_type, key_b64) {
            Verdict::Match => any_match = true,
            Verdict::Unknown => {}
            Verdict::Changed { pinned: p } => pinned.extend(p),
        }
    }
    if !pinned.is_empty() {
        pinned.dedup();
        Verdict::Changed { pinned }
    } else if any_match {
        Verdict::Match
    } else {
        Verdict::Unknown
    }
}

/// Check the key a host presented. Returns `Some(note)` when the key was newly pinned
/// (accept-new first contact), `None` when it matched an existing pin.
pub fn verify(target: &SshTarget, key_type: HostKeyType, blob: &[u8]) -> Result<Option<String>, SshError> {
    let host = target.name.clone();
    let addr = target.addr();
    let pins_file = target.known_hosts.display().to_string();
    let type_name = openssh_key_type(key_type)
        .ok_or_else(|| SshError::protocol(&host, "host-key check", "the server presented a host key of unknown type"))?;
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(blob);
    let presented = format!("{type_name} {}", fingerprint_blob(blob));

    let kh = KnownHosts::load(&target.known_hosts)
        .map_err(|e| SshError::protocol(&host, "reading the pinned host keys", format!("{e:#}")))?;
    let decide = |kh: &KnownHosts| -> Result<bool, SshError> {
        match verdict(kh, target, type_name, &key_b64) {
            Verdict::Match => Ok(false),
            Verdict::Changed { pinned } => Err(SshError::HostKeyChanged {
                host: host.clone(),
                addr: addr.clone(),
                presented: presented.clone(),
                pinned: pinned.join(", "),
                pins_file: pins_file.clone(),
            }),
            Verdict::Unknown => match target.host_key_policy {
                HostKeyPolicy::AcceptNew => Ok(true),
                HostKeyPolicy::Pinned => Err(SshError::HostKeyUnknown {
                    host: host.clone(),
                    addr: addr.clone(),
                    presented: presented.clone(),
                    pins_file: pins_file.clone(),
                }),
            },
        }
    };
    if !decide(&kh)? {
        return Ok(None);
    }
    // accept-new: decide again under the file lock, so two threads (or a running install
    // webhook) cannot race a different key in between.
    let mut outcome: Result<bool, SshError> = Ok(false);
    KnownHosts::update(&target.known_hosts, |kh| {
        outcome = decide(kh);
        if let Ok(true) = outcome {
            kh.pin(&target.pin_names(), target.port, type_name, &key_b64);
        }
    })
    .map_err(|e| SshError::protocol(&host, "pinning the host key", format!("{e:#}")))?;
    if outcome? {
        let note = format!("pinned new host key for {host}: {presented} (in {pins_file})");
        log::warn!("{note}");
        Ok(Some(note))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_puts_pinned_types_first_and_filters_unsupported() {
        let p = method_preference(&["ssh-rsa".into()], &["ssh-ed25519", "rsa-sha2-256", "ssh-rsa"]);
        assert_eq!(p, "rsa-sha2-256,ssh-rsa,ssh-ed25519");
        let p = method_preference(&[], &[]);
        assert!(p.starts_with("ssh-ed25519,ecdsa-sha2-nistp256"), "{p}");
    }

    #[test]
    fn key_type_names_are_openssh_spellings() {
        assert_eq!(openssh_key_type(HostKeyType::Ed25519), Some("ssh-ed25519"));
        assert_eq!(openssh_key_type(HostKeyType::Ecdsa256), Some("ecdsa-sha2-nistp256"));
        assert_eq!(openssh_key_type(HostKeyType::Rsa), Some("ssh-rsa"));
        assert_eq!(openssh_key_type(HostKeyType::Unknown), None);
    }
}
