#![no_main]
//! Fuzz target `webhook_keys`: see `homelab_fuzz::checks::webhook_keys` for what it feeds and which properties it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| homelab_fuzz::checks::webhook_keys(data));
