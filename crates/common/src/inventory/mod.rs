//! The inventory: load `homelab.toml`, check it, and answer questions about it.
//!
//! Loading is two passes over the same text: serde builds the typed [`Inventory`] (unknown
//! keys and wrong types fail here, with the span toml reports), then `validate` runs the
//! semantic rules and locates each problem through a [`SpanIndex`].

mod model;
pub mod calendar;
pub mod keys;
pub mod names;
pub mod needs;
pub mod net;
pub mod pubkey;
pub mod spans;
pub mod validate;
pub mod validate_cmd;
pub mod zfs_props;

pub use model::*;
pub use needs::{check_secrets, check_secrets_for, SecretNeed};
pub use spans::SpanIndex;
pub use validate_cmd::{run_validate, summary, validate_outcome};

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in an inventory file, with its place and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryError {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.col, self.message)
    }
}

/// All problems found; loading reports every one at once, not just the first.
#[derive(Debug, Clone)]
pub struct InventoryErrors(pub Vec<InventoryError>);

impl fmt::Display for InventoryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InventoryErrors {}

/// A checked inventory plus where it came from (relative paths resolve against its directory).
#[derive(Debug, Clone)]
pub struct LoadedInventory {
    pub inv: Inventory,
    pub path: PathBuf,
    pub spans: SpanIndex,
}

/// Largest inventory we read: a homelab description is a few KiB; anything bigger is a mistake.
pub const MAX_INVENTORY_BYTES: u64 = 1024 * 1024;

/// Read, parse and validate an inventory file.
pub fn load(path: &Path) -> Result<LoadedInventory, InventoryErrors> {
    let at_start = |message: String| {
        InventoryErrors(vec![InventoryError { file: path.to_path_buf(), line: 1, col: 1, message }])
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        at_start(format!(
            "cannot read the inventory: {e}; pass -i/--inventory FILE or set HOMELAB_INVENTORY"
        ))
    })?;
    if meta.len() > MAX_INVENTORY_BYTES {
        return Err(at_start(format!(
            "the inventory is {} bytes; the limit is {MAX_INVENTORY_BYTES} — is this the right file?",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| at_start(format!("cannot read the inventory: {e}")))?;
    let src = String::from_utf8(bytes).map_err(|e| {
        at_start(format!("the inventory is not valid UTF-8 (byte {}); save it as UTF-8", e.utf8_error().valid_up_to()))
    })?;
    parse_str(&src, path)
}

/// Parse and validate inventory text; `path` is used for messages and relative paths.
pub fn parse_str(src: &str, path: &Path) -> Result<LoadedInventory, InventoryErrors> {
    let spans = SpanIndex::build(src);
    let inv: Inventory = toml::from_str(src).map_err(|e| {
        let (line, col) = e.span().map(|s| spans.line_col(s.start)).unwrap_or((1, 1));
        InventoryErrors(vec![InventoryError {
            file: path.to_path_buf(),
            line,
            col,
            message: serde_error_message(e.message(), e.span().and_then(|s| spans.path_at(s.start))),
        }])
    })?;
    let errors = validate::validate(&inv, &spans, path);
    if !errors.is_empty() {
        return Err(InventoryErrors(errors));
    }
    Ok(LoadedInventory { inv, path: path.to_path_buf(), spans })
}

/// toml/serde messages say what was expected but not about which key, nor where to look:
/// add both, so every error is actionable.
fn serde_error_message(raw: &str, key: Option<&str>) -> String {
    let raw = raw.trim_end();
    let hint = if raw.starts_with("unknown field") {
        "remove or correct the key (a typo is never silently ignored)"
    } else if raw.starts_with("missing field") {
        "add the key"
    } else {
        "fix the value"
    };
    match key {
        Some(k) => format!("{k}: {raw}; {hint} — examples/homelab.toml shows every key with its expected form"),
        None => format!("{raw}; {hint} — examples/homelab.toml shows every key with its expected form"),
    }
}

impl LoadedInventory {
    /// Directory of the inventory file: the base of relative paths in it.
    pub fn base_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Resolve a path from the inventory: `~/` expands to $HOME, relative means beside the file.
    pub fn resolve_path(&self, p: &Path) -> PathBuf {
        if let Ok(rest) = p.strip_prefix("~") {
            if let Some(home) = std::env::var_os("HOME") {
                return PathBuf::from(home).join(rest);
            }
        }
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir().join(p)
        }
    }

    /// The pinned known-hosts file (default: `known_hosts` beside the inventory).
    pub fn known_hosts_path(&self) -> PathBuf {
        match &self.inv.automation.known_hosts {
            Some(p) => self.resolve_path(p),
            None => self.base_dir().join("known_hosts"),
        }
    }

    /// The automation private key, if the inventory names one (else the agent is used).
    pub fn identity_file(&self) -> Option<PathBuf> {
        self.inv.automation.identity_file.as_ref().map(|p| self.resolve_path(p))
    }

    /// A located error at `path` (TOML path such as `nodes[1].link0`), for checks made by
    /// phases after loading (e.g. a secret variable that is not set).
    pub fn error_at(&self, toml_path: &str, message: impl Into<String>) -> InventoryError {
        let (line, col) = self.spans.locate(toml_path);
        InventoryError { file: self.path.clone(), line, col, message: message.into() }
    }
}
