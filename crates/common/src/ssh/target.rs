//! Where and how to connect: one [`SshTarget`] per host and login.

use crate::inventory::{HostKeyPolicy, LoadedInventory};
use crate::secret::Secret;
use std::path::PathBuf;
use std::time::Duration;

/// How to authenticate. Passwords exist only for first contact (a fresh Pi, a root login
/// before keys are installed) and come from a [`Secret`], never from the inventory text.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Every identity the SSH agent (`$SSH_AUTH_SOCK`) offers.
    Agent,
    /// A private key file (OpenSSH or PEM format, no passphrase).
    KeyFile(PathBuf),
    /// Password (or keyboard-interactive answered with the password).
    Password(Secret),
}

impl Auth {
    /// Short description for error messages: never contains a secret.
    pub fn describe(&self) -> String {
        match self {
            Auth::Agent => "agent".into(),
            Auth::KeyFile(p) => format!("key {}", p.display()),
            Auth::Password(_) => "password".into(),
        }
    }
}

/// One host and one login on it.
#[derive(Debug, Clone)]
pub struct SshTarget {
    /// Inventory host name; used in every message and as a pin name.
    pub name: String,
    /// IP or DNS name to connect to; also pinned.
    pub address: String,
    pub port: u16,
    pub user: String,
    pub auth: Auth,
    /// The pinned known-hosts file (see [`super::known_hosts`]).
    pub known_hosts: PathBuf,
    pub host_key_policy: HostKeyPolicy,
    /// Limit for TCP connect, the SSH handshake and authentication (not for commands:
    /// `pvecm add` may legitimately run for minutes).
    pub connect_timeout: Duration,
}

impl SshTarget {
    /// A target with the usual defaults: port 22, pinned host keys only, 10 s connect timeout.
    pub fn new(name: &str, address: &str, user: &str, auth: Auth, known_hosts: PathBuf) -> Self {
        SshTarget {
            name: name.to_string(),
            address: address.to_string(),
            port: 22,
            user: user.to_string(),
            auth,
            known_hosts,
            host_key_policy: HostKeyPolicy::Pinned,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// The automation user on a host, as the inventory describes it: its identity file (or
    /// the agent), the project's pins file, the inventory's SSH port and connect timeout.
    /// Phases override `user`/`auth`/`host_key_policy` for first contact.
    pub fn automation(loaded: &LoadedInventory, name: &str, address: &str) -> Self {
        let a = &loaded.inv.automation;
        let auth = match loaded.identity_file() {
            Some(p) => Auth::KeyFile(p),
            None => Auth::Agent,
        };
        SshTarget {
            port: a.ssh_port,
            connect_timeout: Duration::from_secs(a.connect_timeout_secs),
            ..SshTarget::new(name, address, &a.user, auth, loaded.known_hosts_path())
        }
    }

    /// `address:port`, as shown in messages.
    pub fn addr(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }

    /// Names the host key is pinned under: the inventory name and the address.
    pub fn pin_names(&self) -> Vec<String> {
        let mut names = vec![self.name.clone()];
        if self.address != self.name {
            names.push(self.address.clone());
        }
        names
    }
}
