//! Replays the fuzz checks of `fuzz/src/common_checks.rs` (every output parser, corosync.conf,
//! section config, known_hosts, property strings, the inventory's value checkers) in
//! `cargo test`, without libFuzzer:
//!
//! * every input a fuzz run ever crashed on (`fuzz/regressions/TARGET/*`, kept with its fix);
//! * every parser fixture through every parser target, so the round-trip properties
//!   (writers are stable, Ok values serialize, errors are located) hold on real layouts too.
//!
//! Each input runs on its own thread with a generous deadline, so a hang fails the test
//! naming the input instead of stalling the suite. See RELIABILITY.md, scripts/fuzz.sh.

#[allow(dead_code)]
#[path = "../../../fuzz/src/common_checks.rs"]
mod checks;

use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Run `check(input)` on a thread; a panic or a hang fails with the input's name.
fn replay(target: &str, check: fn(&[u8]), name: &str, input: Vec<u8>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(format!("{target}:{name}"))
        .stack_size(8 << 20)
        .spawn(move || {
            check(&input);
            let _ = tx.send(());
        })
        .expect("spawn");
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(()) => handle.join().expect("joined"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            let err = handle.join().expect_err("a check thread that did not report has panicked");
            std::panic::resume_unwind(err)
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{target}: {name}: no result within 120 s (hang)"),
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.expect("dir entry").path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

#[test]
fn fuzz_regressions_stay_fixed() {
    let mut n = 0;
    for (target, check) in checks::TARGETS {
        for f in files(&repo().join("fuzz/regressions").join(target)) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            replay(target, *check, &name, std::fs::read(&f).unwrap());
            n += 1;
        }
    }
    println!("replayed {n} fuzz regression input(s)");
}

#[test]
fn every_parser_fixture_through_every_parser_target() {
    let mut inputs: Vec<PathBuf> = files(&repo().join("crates/common/tests/fixtures/parsers"));
    inputs.extend(files(&repo().join("crates/pve-sim/tests/fixtures")));
    inputs.extend(files(&repo().join("fuzz/seeds/system_text")));
    inputs.extend(files(&repo().join("fuzz/seeds/inventory_values")));
    assert!(inputs.len() >= 60, "expected the parser fixtures, found {}", inputs.len());
    for f in &inputs {
        let data = std::fs::read(f).unwrap();
        for (target, check) in checks::TARGETS {
            replay(target, *check, &f.display().to_string(), data.clone());
        }
    }
}
