#![no_main]
//! Fuzz target `section_config`: see `homelab_fuzz::checks::section_config` for what it feeds and which properties it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| homelab_fuzz::checks::section_config(data));
