//! Pure parsers of command output and Proxmox file formats (unit-tested on real layouts).

pub mod error;
pub mod quorum;
mod text;

pub use error::{Layout, ParseError, Result};
