//! Semantic rules of the inventory (issue #2): everything serde cannot express — name and
//! address formats, uniqueness, CIDR membership, one master, QDevice vote arithmetic,
//! cross-references between jobs, storages and nodes, schedules.
//!
//! Every rule reports *all* its findings as [`InventoryError`]s located through the
//! [`SpanIndex`] (TOML paths such as `nodes[1].link0`), with a message that says what is
//! wrong and what to write instead. Rules never stop at the first problem, and a value that
//! failed to parse (a malformed CIDR, say) silently skips the rules that depend on it, so one
//! typo gives one error, not a cascade.
//!
//! The rules are grouped by part of the file:
//! [`general`] (cluster, automation, defaults), [`hosts`] (networks, nodes, QDevice, NAS),
//! [`install`], [`jobs`] (storages, ZFS, replication, backup, monitoring), and
//! [`secrets`] (the shape of secret references and first-contact settings).

mod general;
mod hosts;
mod install;
mod jobs;
mod secrets;

use super::net::Cidr;
use super::{Inventory, InventoryError, SpanIndex};
use std::path::Path;

/// Run every rule; an empty result means the inventory is valid. Errors are ordered by
/// position in the file.
pub fn validate(inv: &Inventory, spans: &SpanIndex, file: &Path) -> Vec<InventoryError> {
    let mut cx = Ctx { inv, spans, file, errors: Vec::new(), mgmt: None, prod: None };
    general::check(&mut cx);
    hosts::check(&mut cx);
    install::check(&mut cx);
    jobs::check(&mut cx);
    cx.finish()
}

/// Shared state of one validation run.
pub(crate) struct Ctx<'a> {
    pub inv: &'a Inventory,
    spans: &'a SpanIndex,
    file: &'a Path,
    errors: Vec<InventoryError>,
    /// The parsed networks, when their CIDR is valid (set by `hosts`).
    pub mgmt: Option<Cidr>,
    pub prod: Option<Cidr>,
}

impl Ctx<'_> {
    /// Report a problem at the value `path` (or its closest enclosing table if absent).
    pub fn err(&mut self, path: &str, message: impl Into<String>) {
        let (line, col) = self.spans.locate(path);
        self.errors.push(InventoryError { file: self.file.to_path_buf(), line, col, message: message.into() });
    }

    /// Line of `path`, for messages that point at an earlier definition.
    pub fn line(&self, path: &str) -> usize {
        self.spans.locate(path).0
    }

    fn finish(mut self) -> Vec<InventoryError> {
        self.errors.sort_by_key(|e| (e.line, e.col));
        self.errors.dedup();
        self.errors
    }
}

/// Remembers the first place each key was seen, to report duplicates at the later places.
pub(crate) struct Seen<K> {
    first: Vec<(K, String)>,
}

impl<K: PartialEq> Seen<K> {
    pub fn new() -> Self {
        Seen { first: Vec::new() }
    }

    /// `None` the first time `key` is offered; afterwards the path where it was first seen.
    pub fn first_path(&mut self, key: K, path: &str) -> Option<String> {
        if let Some((_, p)) = self.first.iter().find(|(k, _)| *k == key) {
            return Some(p.clone());
        }
        self.first.push((key, path.to_string()));
        None
    }
}

/// "1 node", "2 nodes".
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
