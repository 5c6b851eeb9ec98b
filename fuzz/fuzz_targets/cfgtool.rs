#![no_main]
//! Fuzz target `cfgtool`: see `homelab_fuzz::checks::cfgtool` for what it feeds and which properties it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| homelab_fuzz::checks::cfgtool(data));
