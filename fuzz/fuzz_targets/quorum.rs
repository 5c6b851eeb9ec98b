#![no_main]
//! Fuzz target `quorum`: see `homelab_fuzz::checks::quorum` for what it feeds and which properties it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| homelab_fuzz::checks::quorum(data));
