//! The access baseline every managed host shares: the automation user with exactly the
//! inventory's keys, its `NOPASSWD` sudoers drop-in (validated with `visudo -cf`), and the sshd
//! hardening drop-in (validated with `sshd -t` against the full configuration, applied only
//! after a fresh key login of the automation user is proven, proven again after the reload and
//! rolled back if that fails).
//!
//! bootstrap-node and bootstrap-qdevice apply it, form-cluster uses the temporary root window of
//! the Pi, drift-check re-evaluates it. The text of every file is a pure function here
//! ([`keys`], [`sshd`], [`text`]); the resources that put them on a host are in [`resources`].

pub mod keys;
pub mod resources;
pub mod sshd;
pub mod text;
