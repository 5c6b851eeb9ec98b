//! Shared by the fuzz targets (`fuzz_targets/*.rs`, one line each) and by the regression tests
//! `crates/common/tests/hostile_fuzz_regressions.rs` and
//! `crates/provision-iso/tests/hostile_fuzz_regressions.rs`, which include the check files by
//! path and replay every file under `fuzz/regressions/<target>/` through the same check.

#[path = "common_checks.rs"]
mod common_checks;
#[path = "iso_checks.rs"]
mod iso_checks;

/// Every fuzz target's check, by target name.
pub mod checks {
    pub use super::common_checks::{
        cfgtool, corosync_conf, inventory_values, pvesh_json, pvesm_pvesr, qdevice, quorum, section_config, system_text,
    };
    pub use super::iso_checks::{answer, inventory, webhook_keys};
    pub use super::common_checks::TARGETS as COMMON_TARGETS;
    pub use super::iso_checks::TARGETS as ISO_TARGETS;
}
