//! Pure parsers of command output and Proxmox file formats (unit-tested on real layouts).

pub mod apt_sources;
pub mod cfgtool;
pub mod dpkg;
pub mod error;
pub mod hosts;
pub mod ip_addr;
pub mod lenient;
pub mod passwd;
pub mod pvesh;
pub mod pvesm;
pub mod pvesr;
pub mod qdevice;
pub mod quorum;
pub mod sshd;
pub mod stat;
mod text;

pub use error::{Layout, ParseError, Result};
