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

#[path = "support/hostile.rs"]
mod hostile;

use hostile::{files, replay, replay_regressions, repo};
use std::path::PathBuf;

#[test]
fn fuzz_regressions_stay_fixed() {
    let n = replay_regressions(checks::TARGETS);
    println!("replayed {n} fuzz regression input(s)");
}

#[test]
fn every_parser_fixture_through_every_parser_target() {
    let mut inputs: Vec<PathBuf> = files(&repo().join("crates/common/tests/fixtures/parsers"), None);
    inputs.extend(files(&repo().join("crates/pve-sim/tests/fixtures"), None));
    inputs.extend(files(&repo().join("fuzz/seeds/system_text"), None));
    inputs.extend(files(&repo().join("fuzz/seeds/inventory_values"), None));
    assert!(inputs.len() >= 60, "expected the parser fixtures, found {}", inputs.len());
    for f in &inputs {
        let data = std::fs::read(f).unwrap();
        for (target, check) in checks::TARGETS {
            replay(target, *check, &f.display().to_string(), data.clone());
        }
    }
}
