#![no_main]
//! Fuzz target `pvesm_pvesr`: see `homelab_fuzz::checks::pvesm_pvesr` for what it feeds and which properties it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| homelab_fuzz::checks::pvesm_pvesr(data));
