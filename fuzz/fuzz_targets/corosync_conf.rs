#![no_main]
//! Fuzz target `corosync_conf`: see `homelab_fuzz::checks::corosync_conf` for what it feeds and which properties it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| homelab_fuzz::checks::corosync_conf(data));
