#![no_main]
//! Fuzz target `pvesh_json`: see `homelab_fuzz::checks::pvesh_json` for what it feeds and which properties it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| homelab_fuzz::checks::pvesh_json(data));
