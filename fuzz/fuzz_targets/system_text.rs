#![no_main]
//! Fuzz target `system_text`: see `homelab_fuzz::checks::system_text` for what it feeds and which properties it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| homelab_fuzz::checks::system_text(data));
