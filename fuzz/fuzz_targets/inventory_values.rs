#![no_main]
//! Fuzz target `inventory_values`: see `homelab_fuzz::checks::inventory_values` for what it feeds and which properties it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| homelab_fuzz::checks::inventory_values(data));
