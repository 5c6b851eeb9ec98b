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
/// Shared test fixture (feature `test-fixtures`): the small lab inventory of the phases' tests.
#[cfg(any(test, feature = "test-fixtures"))]
pub mod testing;
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
    // Read at most one byte past the limit: a pipe or device has no meaningful metadata size
    // (`-i /dev/stdin`, `-i /dev/zero`), and must not be read without bound (issue 11).
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(path).map_err(|e| at_start(format!("cannot read the inventory: {e}")))?, MAX_INVENTORY_BYTES + 1),
        &mut bytes,
    )
    .map_err(|e| at_start(format!("cannot read the inventory: {e}")))?;
    if bytes.len() as u64 > MAX_INVENTORY_BYTES {
        return Err(at_start(format!("the inventory is over {MAX_INVENTORY_BYTES} bytes, the limit — is this the right file?")));
    }
    let src = String::from_utf8(bytes).map_err(|e| {
        // Locate the first bad byte like any other error: line and column of what precedes it.
        let ok = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let before = std::str::from_utf8(ok).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        let message = format!("the inventory is not valid UTF-8 (byte {}); save it as UTF-8", ok.len());
        InventoryErrors(vec![InventoryError { file: path.to_path_buf(), line, col, message }])
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
            message: readable(&serde_error_message(e.message(), e.span().and_then(|s| spans.path_at(s.start)), src, e.span())),
        }])
    })?;
    let mut errors = validate::validate(&inv, &spans, path);
    if !errors.is_empty() {
        for e in &mut errors {
            e.message = readable(&e.message);
        }
        return Err(InventoryErrors(errors));
    }
    Ok(LoadedInventory { inv, path: path.to_path_buf(), spans })
}

/// toml/serde messages say what was expected but not about which key, nor where to look:
/// add both, so every error is actionable.
fn serde_error_message(raw: &str, key: Option<&str>, src: &str, span: Option<std::ops::Range<usize>>) -> String {
    // toml's messages may span lines ("invalid table header\nduplicate key …"), and are empty
    // for some stray characters (a lone carriage return at a line start): say what is there.
    let raw = raw.trim_end().replace('\n', ": ");
    let stray = span.and_then(|s| src.get(s.start..)).and_then(|t| t.chars().next());
    let raw = match stray {
        Some(c) if raw.is_empty() => format!("invalid TOML: unexpected character {:?} (U+{:04X})", c, c as u32),
        _ if raw.is_empty() => "invalid TOML".to_string(),
        _ => raw,
    };
    let raw = raw.as_str();
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

/// An error message fit for a terminal, whatever the inventory contained (issue 11): control
/// characters, bidi overrides and invisible characters from the file are shown escaped
/// (`\u{202e}`) instead of garbling or hiding the rest of the line, and a quoted value longer
/// than 120 characters is cut (`…`) so a 100 KB key does not make a 100 KB message.
pub fn readable(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4096));
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        let quoted = i % 2 == 1;
        let count = part.chars().count();
        for (n, c) in part.chars().enumerate() {
            if quoted && n == 120 && count > 121 {
                out.push('…');
                break;
            }
            let escaped = c.escape_debug();
            if escaped.len() > 1 && !matches!(c, '"' | '\'' | '\\') {
                out.extend(escaped);
            } else {
                out.push(c);
            }
        }
    }
    out
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
