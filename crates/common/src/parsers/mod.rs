//! Pure parsers of command output and Proxmox file formats (unit-tested on real layouts).

pub mod cfgtool;
pub mod error;
pub mod pvesm;
pub mod pvesr;
pub mod qdevice;
pub mod quorum;
mod text;

pub use error::{Layout, ParseError, Result};
