//! Replays the fuzz checks of `fuzz/src/iso_checks.rs` (the inventory loader with answer
//! rendering, the answer-file validator) in `cargo test`, without libFuzzer:
//!
//! * every input a fuzz run ever crashed on, or that reproduces a bug found otherwise
//!   (`fuzz/regressions/{inventory,answer,webhook_keys}/*`);
//! * every inventory and answer fixture of the repository, so the cross-properties hold on
//!   real files too (a loadable inventory renders answers our validator accepts; the
//!   validator's schema walk agrees with the installer's whole-file parse).
//!
//! Each input runs on its own thread with a generous deadline: a hang fails naming the input.

#[allow(dead_code)]
#[path = "../../../fuzz/src/iso_checks.rs"]
mod checks;

#[path = "../../common/tests/support/hostile.rs"]
mod hostile;

use hostile::{files, replay, replay_regressions, repo};

#[test]
fn fuzz_regressions_stay_fixed() {
    let n = replay_regressions(checks::TARGETS);
    println!("replayed {n} fuzz regression input(s)");
}

#[test]
fn webhook_key_seeds_through_the_webhook_check() {
    let seeds = files(&repo().join("fuzz/seeds/webhook_keys"), None);
    assert!(!seeds.is_empty());
    for f in seeds {
        replay("webhook_keys", checks::webhook_keys, &f.display().to_string(), std::fs::read(&f).unwrap());
    }
}

#[test]
fn every_inventory_fixture_through_the_inventory_check() {
    let mut inputs = files(&repo().join("crates/common/tests/fixtures/inventory"), Some("toml"));
    inputs.extend(files(&repo().join("crates/provision-iso/tests/fixtures/inventory"), Some("toml")));
    inputs.push(repo().join("examples/homelab.toml"));
    assert!(inputs.len() >= 100, "expected the inventory fixtures, found {}", inputs.len());
    for f in inputs {
        replay("inventory", checks::inventory, &f.display().to_string(), std::fs::read(&f).unwrap());
    }
}

#[test]
fn every_answer_fixture_through_the_answer_check() {
    let base = repo().join("crates/provision-iso/tests/fixtures");
    let mut inputs = files(&base.join("answers/valid"), Some("toml"));
    inputs.extend(files(&base.join("answers/invalid"), Some("toml")));
    inputs.extend(files(&base.join("golden"), Some("toml")));
    assert!(inputs.len() >= 60, "expected the answer fixtures, found {}", inputs.len());
    for f in inputs {
        replay("answer", checks::answer, &f.display().to_string(), std::fs::read(&f).unwrap());
    }
}
