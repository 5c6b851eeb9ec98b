//! Helpers of the hostile-input tests (issue 11 §6, RELIABILITY.md) shared by common's and
//! provision-iso's: run one case on its own thread with a deadline, find inputs on disk, place
//! a needle, and judge and clip the messages a person would read.
//!
//! Reuse from another crate's tests by path:
//! `#[path = "../../common/tests/support/hostile.rs"] mod hostile;`
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one case may run before the test calls it a hang (generous: debug builds, 2 cores).
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Stack of the fuzz replay threads: as large as libFuzzer's main thread, so a replay fails
/// where the fuzzer failed and nowhere else.
pub const FUZZ_STACK: usize = 8 << 20;

/// The repository root (for `fuzz/…`), seen from the including crate's directory.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Run `f` on a thread named `name` (with `stack` bytes of stack, else the default) and return
/// its value. If `f` panics, the panic goes on in the caller (the thread's name, printed with
/// it, names the case); if it does not return within [`DEADLINE`], the test fails as a hang.
pub fn bounded<T: Send + 'static>(name: &str, stack: Option<usize>, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut builder = std::thread::Builder::new().name(name.to_string());
    if let Some(s) = stack {
        builder = builder.stack_size(s);
    }
    let handle = builder
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn");
    match rx.recv_timeout(DEADLINE) {
        Ok(v) => {
            handle.join().expect("joined");
            v
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            let err = handle.join().expect_err("a case thread that did not report has panicked");
            std::panic::resume_unwind(err)
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{name}: no result within {} s (hang)", DEADLINE.as_secs()),
    }
}

/// Fuzz check `check(input)` of `target` on a [`bounded`] thread with the fuzzer's stack.
pub fn replay(target: &str, check: fn(&[u8]), name: &str, input: Vec<u8>) {
    bounded(&format!("{target}: {name}"), Some(FUZZ_STACK), move || check(&input))
}

/// Replay every input a fuzz run ever crashed on (`fuzz/regressions/TARGET/*`, kept with its
/// fix) through its target's check; how many there were.
pub fn replay_regressions(targets: &[(&str, fn(&[u8]))]) -> usize {
    let mut n = 0;
    for (target, check) in targets {
        for f in files(&repo().join("fuzz/regressions").join(target), None) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            replay(target, *check, &name, std::fs::read(&f).unwrap());
            n += 1;
        }
    }
    n
}

/// Regular files in `dir` (ending in `.EXT` when `ext` is given), sorted; none if `dir` is missing.
pub fn files(dir: &Path, ext: Option<&str>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.is_file() && ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// 1-based line of the first occurrence of `needle` in `text`.
pub fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).unwrap_or_else(|| panic!("test bug: {needle:?} not in the case text"));
    text[..at].matches('\n').count() + 1
}

/// Characters that must not reach a terminal raw inside an error message: controls (other
/// than the newline some toml messages contain), bidi controls and invisible format chars.
pub fn unreadable(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// The first 160 characters of `s`, escaped for one readable line (`…` when cut).
pub fn clip(s: &str) -> String {
    let c: String = s.chars().take(160).flat_map(char::escape_debug).collect();
    if s.chars().count() > 160 {
        format!("{c}…")
    } else {
        c
    }
}
