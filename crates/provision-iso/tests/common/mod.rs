//! Shared helpers of the integration tests.
#![allow(dead_code)]

use common::inventory::LoadedInventory;
use std::path::{Path, PathBuf};

pub const ROOT_PW: &str = "fixture-root-pw";
pub const TOKEN: &str = "fixture-token-4711";
/// `openssl passwd -6 -salt goldensalt fixture-root-pw`: a fixed hash keeps golden files stable.
pub const GOLDEN_HASH: &str =
    "$6$goldensalt$sq.9icFioG5EJVbvTjjsv/12zuS.8/sPCYCFpM3VBSt9cvAWTMLyhvOZDOZQfjCbBdWbJM9HqND.QUVQww.iy1";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Set the fixture secrets (same values in every test, so parallel tests agree).
pub fn set_secrets() {
    std::env::set_var("PISO_TEST_ROOT_PW", ROOT_PW);
    std::env::set_var("PISO_TEST_TOKEN", TOKEN);
}

pub fn inventory() -> LoadedInventory {
    set_secrets();
    common::inventory::load(&fixtures().join("inventory/homelab.toml")).unwrap_or_else(|e| panic!("fixture inventory: {e}"))
}

/// A copy of the fixture inventory in `dir` (so known_hosts etc. land in a temp dir).
pub fn inventory_in(dir: &Path) -> PathBuf {
    set_secrets();
    let p = dir.join("homelab.toml");
    std::fs::copy(fixtures().join("inventory/homelab.toml"), &p).unwrap();
    p
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_provision-iso"))
}
