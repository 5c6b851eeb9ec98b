//! Fuzz checks over the inventory loader and provision-iso's answer-file validator.
//!
//! Each `pub fn NAME(data: &[u8])` is one fuzz target (`fuzz_targets/NAME.rs`) and is also
//! replayed on `fuzz/regressions/NAME/*` by
//! `crates/provision-iso/tests/hostile_fuzz_regressions.rs`, which includes this file by path —
//! so it may only use `common`, `provision_iso`, `serde_json` and `std`.
//!
//! Properties (a broken one panics, which libFuzzer reports as a crash):
//! * the loader and the validator never panic, hang or overflow the stack;
//! * every error has a position inside the file (line 1..=lines, column ≥ 1), names the file,
//!   and has a message;
//! * a valid answer file is one the installer's whole-file parse accepts;
//! * an inventory that loads renders answer files that our own validator accepts, and that
//!   contain the root password only as its hash.

use std::path::Path;

/// A fuzz check: panics when a property is broken.
pub type Check = fn(&[u8]);

/// Lines of `s` as a position may count them (a trailing newline opens one more, empty line).
fn line_count(s: &str) -> usize {
    s.split('\n').count()
}

/// A clear root password the generated answers must never contain.
const ROOT_PW: &str = "fuzz-clear-root-password";
/// What the generator writes instead (any fixed crypt string: rendering does not check it).
const ROOT_HASH: &str = "$6$fuzzsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ./0123456789abcdefghi";

/// `common::inventory::parse_str` (what `load` runs after its size and UTF-8 checks).
pub fn inventory(data: &[u8]) {
    use common::inventory::*;
    // `load` rejects non-UTF-8 before parsing (tested in the hostile corpus).
    let Ok(src) = std::str::from_utf8(data) else { return };
    let path = Path::new("fuzz/homelab.toml");
    let loaded = match parse_str(src, path) {
        Ok(l) => l,
        Err(errs) => {
            assert!(!errs.0.is_empty(), "inventory: Err without errors");
            for e in &errs.0 {
                assert_eq!(e.file, path, "inventory: error names another file: {e}");
                assert!(
                    e.line >= 1 && e.line <= line_count(src) && e.col >= 1,
                    "inventory: position {}:{} outside the {}-line input: {e}",
                    e.line,
                    e.col,
                    line_count(src)
                );
                assert!(!e.message.trim().is_empty(), "inventory: empty message at {}:{}", e.line, e.col);
            }
            let _ = errs.to_string();
            return;
        }
    };
    let _ = summary(&loaded.inv);
    let _ = (loaded.known_hosts_path(), loaded.identity_file(), loaded.error_at("nodes[0].name", "x"));
    let _ = check_secrets(&loaded, &[SecretNeed::QDeviceFirstContact, SecretNeed::NodeFirstContact]);
    answers_from(&loaded);
}

/// Render every node's answer with fixed inputs; each must pass our validator.
fn answers_from(loaded: &common::inventory::LoadedInventory) {
    use provision_iso::generate::{render_answer, AnswerInputs, FirstBootSource};
    let inputs = AnswerInputs {
        root_password: common::secret::Secret::new(ROOT_PW.into()),
        webhook_token: Some(common::secret::Secret::new("fuzz-webhook-token".into())),
        root_ssh_keys: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIBWnBZCKUZg2imiBpR3Az+N9QvyQz05kXcjQKLEe44Q fuzz@x".into()],
        first_boot: FirstBootSource::Iso,
    };
    for node in &loaded.inv.nodes {
        let Ok(text) = render_answer(loaded, node, &inputs, ROOT_HASH) else { continue };
        assert!(!text.contains(ROOT_PW), "answer for {} contains the clear root password", node.name);
        let report = provision_iso::answer::validate_str(&text);
        assert!(
            report.is_valid(),
            "answer rendered for {} fails our own validator:\n{}\n---\n{text}",
            node.name,
            provision_iso::answer::render_report(&report)
        );
    }
}

/// `provision_iso::answer::validate_str` (the `validate` command's check of one file).
pub fn answer(data: &[u8]) {
    use provision_iso::answer::*;
    let src = String::from_utf8_lossy(data);
    let report = validate_str(&src);
    for p in &report.problems {
        assert!(
            p.line >= 1 && p.line <= line_count(&src) && p.col >= 1,
            "answer: position {}:{} outside the {}-line input: {p}",
            p.line,
            p.col,
            line_count(&src)
        );
        assert!(!p.message.trim().is_empty(), "answer: empty message at {}:{}", p.line, p.col);
    }
    if report.is_valid() {
        assert!(report.config.is_some(), "answer: valid, but the installer's parse fails: {:?}", installer_parse_error(&src));
    }
    assert_eq!(render_report(&report).is_empty(), report.problems.is_empty());
    // The installer's own parse (serde) and our schema walk agree on whether the file parses.
    if let Some(walk) = schema_problems(&src) {
        let walk_errors = walk.iter().filter(|p| p.severity == Severity::Error).count();
        match installer_parse_error(&src) {
            None => assert_eq!(walk_errors, 0, "answer: the installer accepts it but our walk reports {walk:?}"),
            Some(m) => assert!(walk_errors > 0, "answer: the installer rejects it ({m}) but our walk finds nothing"),
        }
    }
    let _ = serde_json::to_string(&report.problems).expect("problems serialize");
    // The value checkers the validator uses.
    let _ = provision_iso::answer::net::fqdn_problem(&src);
    let _ = provision_iso::answer::net::email_looks_valid(&src);
    let _ = provision_iso::answer::locale::country_is_valid(&src);
    let _ = provision_iso::answer::locale::timezone_is_valid(&src);
}

/// The install webhook's host keys (`ssh-public-host-keys`, one `label=value` per line):
/// whatever a client sends, an accepted key type is one plain word and the blob is base64 —
/// they are written into known_hosts as fields, so anything else would forge lines there.
pub fn webhook_keys(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let map: std::collections::BTreeMap<String, String> = text
        .lines()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => ("ed25519".to_string(), l.to_string()),
        })
        .collect();
    if let Ok(keys) = provision_iso::serve::webhook::parse_host_keys(&map) {
        for (ty, blob) in keys {
            assert!(
                !ty.is_empty() && ty.bytes().all(|b| b.is_ascii_alphanumeric() || b"-@.".contains(&b)),
                "webhook: key type {ty:?} is not one word"
            );
            assert!(!blob.is_empty() && !blob.contains(char::is_whitespace), "webhook: blob {blob:?} has whitespace");
        }
    }
}

/// Every target of this file, for the regression replay.
pub const TARGETS: &[(&str, Check)] = &[("inventory", inventory), ("answer", answer), ("webhook_keys", webhook_keys)];
