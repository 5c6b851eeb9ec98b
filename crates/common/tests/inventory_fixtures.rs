//! Data-driven inventory validation: every `fixtures/inventory/bad-*.toml` must produce exactly
//! the errors listed in its `.expected` file (location and message fragment), and every
//! `good-*.toml` must be valid. See fixtures/inventory/README.md.

use common::inventory::{load, InventoryError};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory")
}

fn files(prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(".toml")
        })
        .collect();
    v.sort();
    v
}

/// `LINE:COL: fragment` lines.
fn expected(path: &Path) -> Vec<(usize, usize, String)> {
    let text = std::fs::read_to_string(path.with_extension("expected"))
        .unwrap_or_else(|e| panic!("{}: missing .expected file: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (line, rest) = l.split_once(':').expect("LINE:COL: fragment");
            let (col, frag) = rest.split_once(": ").expect("LINE:COL: fragment");
            (line.parse().unwrap(), col.parse().unwrap(), frag.to_string())
        })
        .collect()
}

fn show(errs: &[InventoryError]) -> String {
    errs.iter().map(|e| format!("  {}:{}: {}", e.line, e.col, e.message)).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_bad_fixture_gives_exactly_its_located_errors() {
    let bad = files("bad-");
    assert!(bad.len() >= 60, "expected the full set of bad fixtures, found {}", bad.len());
    let mut failures = Vec::new();
    for path in &bad {
        let want = expected(path);
        assert!(!want.is_empty(), "{}: .expected lists no error", path.display());
        let got = match load(path) {
            Ok(_) => {
                failures.push(format!("{}: loaded without errors, expected:\n{want:?}", path.display()));
                continue;
            }
            Err(e) => e.0,
        };
        for e in &got {
            assert_eq!(e.file, *path, "errors name the file they are about");
        }
        let matches = got.len() == want.len()
            && got.iter().zip(&want).all(|(g, (l, c, f))| g.line == *l && g.col == *c && g.message.contains(f.as_str()));
        if !matches {
            failures.push(format!(
                "{}:\n want:\n{}\n got:\n{}",
                path.file_name().unwrap().to_string_lossy(),
                want.iter().map(|(l, c, f)| format!("  {l}:{c}: …{f}…")).collect::<Vec<_>>().join("\n"),
                show(&got)
            ));
        }
    }
    assert!(failures.is_empty(), "{} fixture(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn good_fixtures_validate() {
    let good = files("good-");
    assert!(good.len() >= 3);
    for path in good {
        if let Err(e) = load(&path) {
            panic!("{} should be valid:\n{e}", path.display());
        }
    }
}

#[test]
fn errors_are_actionable() {
    // Every rule's message says what to do, not only what is wrong: it contains a suggestion
    // word or an example value. This keeps new rules honest.
    let hints = ["use ", "set ", "add ", "remove", "write", "give", "choose", "e.g.", "expected", "must", "fix", "copy", "replicate to", "keep", "merge", "list ", "Paste"];
    let mut vague = Vec::new();
    for path in files("bad-") {
        for e in load(&path).unwrap_err().0 {
            if !hints.iter().any(|h| e.message.contains(h)) {
                vague.push(format!("{}: {}", path.file_name().unwrap().to_string_lossy(), e.message));
            }
        }
    }
    assert!(vague.is_empty(), "messages that give no direction:\n{}", vague.join("\n"));
}
