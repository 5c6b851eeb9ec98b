//! Data-driven validator tests: `tests/fixtures/answers/{valid,invalid}/NAME.toml` with the
//! expected report beside it in `NAME.expected` (exactly what `provision-iso validate` prints
//! for the file, minus the file name; empty for a clean valid file).
//!
//! `BLESS=1 cargo test -p provision-iso --test answers` rewrites the .expected files — review
//! the diff before committing: the expected messages are the installer's (auto-install.md §3).

use provision_iso::answer::{installer_parse_error, render_report, schema_problems, validate_str, Severity};
use std::path::{Path, PathBuf};

fn cases(dir: &str) -> Vec<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/answers").join(dir);
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
    v.sort();
    v
}

fn run(dir: &str, want_valid: bool) {
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    let files = cases(dir);
    assert!(!files.is_empty(), "no cases in {dir}");
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        let report = validate_str(&src);
        let got = render_report(&report);
        let exp_path = f.with_extension("expected");
        if bless {
            std::fs::write(&exp_path, &got).unwrap();
        }
        let expected = std::fs::read_to_string(&exp_path).unwrap_or_else(|_| panic!("missing {}", exp_path.display()));
        if report.is_valid() != want_valid {
            failures.push(format!("{}: valid={} but the case is in {dir}/\n{got}", f.display(), report.is_valid()));
        } else if got != expected {
            failures.push(format!("{}:\n--- expected\n{expected}--- got\n{got}", f.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn valid_answer_files_pass_with_the_expected_warnings() {
    run("valid", true);
}

#[test]
fn invalid_answer_files_fail_with_the_expected_messages() {
    run("invalid", false);
}

/// The walker and a whole-file serde parse (what the installer does) agree on every case:
/// serde accepts ⇔ the walk finds no schema problem, and serde's one message is among the
/// walk's messages. This keeps the hand-built messages (unknown/missing/duplicate field) honest.
#[test]
fn schema_walk_agrees_with_the_installer_parse() {
    let mut all = cases("valid");
    all.extend(cases("invalid"));
    for f in all {
        let src = std::fs::read_to_string(&f).unwrap();
        let Some(walk) = schema_problems(&src) else { continue };
        let msgs: Vec<&str> = walk.iter().map(|p| p.message.as_str()).collect();
        match installer_parse_error(&src) {
            None => assert!(walk.is_empty(), "{}: serde accepts but the walk reports {msgs:?}", f.display()),
            Some(m) => assert!(msgs.contains(&m.as_str()), "{}: serde says {m:?}, the walk says {msgs:?}", f.display()),
        }
    }
}

/// Every problem has a real position (a line of the file, 1-based column).
#[test]
fn every_problem_has_a_position_inside_the_file() {
    for f in cases("invalid") {
        let src = std::fs::read_to_string(&f).unwrap();
        let lines = src.lines().count().max(1);
        for p in validate_str(&src).problems {
            assert!(p.line >= 1 && p.line <= lines && p.col >= 1, "{}: {p}", f.display());
        }
    }
}

/// The corpus covers at least 30 cases and the wild-style rejections are errors with hints.
#[test]
fn corpus_size_and_wild_style_hints() {
    assert!(cases("valid").len() + cases("invalid").len() >= 30);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/answers/invalid");
    for (case, key) in [("wild_general_section", "general"), ("wild_disk_device", "disk_device"), ("wild_first_boot_script", "script")] {
        let r = validate_str(&std::fs::read_to_string(dir.join(format!("{case}.toml"))).unwrap());
        let p = r.problems.iter().find(|p| p.message.starts_with(&format!("unknown field `{key}`"))).unwrap();
        assert_eq!(p.severity, Severity::Error);
        assert!(p.hint.is_some(), "{case}: no hint");
    }
}

/// The `validate` command: exit 0 for valid files (warnings allowed), 1 when any file is
/// invalid; every problem printed as `FILE:LINE:COL: …`; `--json` is machine-readable.
#[test]
fn validate_command_exit_codes_and_locations() {
    let bin = env!("CARGO_BIN_EXE_provision-iso");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/answers");
    let valid = dir.join("valid/snake_case_legacy.toml");
    let invalid = dir.join("invalid/wild_general_section.toml");
    let o = std::process::Command::new(bin).arg("validate").arg(&valid).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let o = std::process::Command::new(bin).arg("validate").arg(&valid).arg(&invalid).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("{}:2:2: error: unknown field `general`", invalid.display())), "{out}");
    let o = std::process::Command::new(bin).args(["--json", "validate"]).arg(&invalid).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["valid"], false);
    assert_eq!(v[0]["problems"][0]["line"], 1);
}
