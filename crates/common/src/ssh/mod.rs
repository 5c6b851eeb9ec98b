//! SSH sessions on ssh2 (libssh2): verified host keys, one session per host, exec with
//! stdin, `sudo -n`, atomic upload. Secrets travel on stdin, never in a remote argv.
//!
//! ```no_run
//! use common::ssh::{Auth, Session, SshTarget, Upload};
//! # fn main() -> anyhow::Result<()> {
//! let mut t = SshTarget::new("pve-node1", "10.231.10.11", "root",
//!     Auth::KeyFile(".lab/id_lab".into()), ".lab/known_hosts".into());
//! t.host_key_policy = common::inventory::HostKeyPolicy::Pinned;
//! let s = Session::connect(&t)?;                          // TCP + handshake + pin check + auth
//! let out = s.exec_root("hostname", None)?;               // 1 round trip
//! s.check("hostname", out)?;                              // non-zero exit → error with stderr tail
//! s.upload(&Upload { path: "/etc/sudoers.d/homelab", content: b"homelab ALL=(ALL) NOPASSWD: ALL\n",
//!     mode: 0o440, owner: "root", group: "root", validate: Some("visudo -cf {}") })?;
//! let _maybe: Option<Vec<u8>> = s.read_file("/etc/hostname")?;
//! println!("{} round trips", s.round_trips());
//! # Ok(()) }
//! ```
//!
//! * [`Session::connect`] — connect timeout covers TCP, handshake and auth; the host key is
//!   checked against the pins *before* authentication ([`hostkey`]): match → go; unknown +
//!   `accept-new` → pinned (see [`Session::new_pin`]); unknown + `pinned` → refused; changed →
//!   always refused, showing both fingerprints.
//! * [`Session::exec`] / [`Session::exec_root`] / [`Session::script_root`] — one round trip each;
//!   stdin optional; stdout and stderr are read concurrently, so any size works.
//! * [`Session::upload`] — atomic (mktemp + mv), mode/owner, optional validator (`{}` = temp).
//! * [`Session::read_file`] — `None` when absent. [`Session::round_trips`] counts execs.
//!
//! Every error ([`SshError`], or anyhow from `check`/`upload`/`read_file`) names the host.

mod channel;
pub mod error;
pub mod hostkey;
pub mod known_hosts;
mod ops;
mod session;
pub mod shell;
mod target;

pub use error::SshError;
pub use ops::{Output, Upload};
pub use session::Session;
pub use shell::{quote, sudo_refusal, sudo_wrap};
pub use target::{Auth, SshTarget};
