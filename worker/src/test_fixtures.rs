//! Inputs the crate's unit tests share.

use std::path::{Path, PathBuf};

/// The real Fedora RPMs in `shared/fixtures` (or `ODCS_TEST_FIXTURE_REPO`).
pub fn fixture_repo() -> PathBuf {
    std::env::var_os("ODCS_TEST_FIXTURE_REPO").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/odcs-test-repo"),
        PathBuf::from,
    )
}

/// Whether this CPU can run the AVX2 lanes; if not, says that the calling test is skipped.
#[cfg(target_arch = "x86_64")]
pub fn lanes_available() -> bool {
    let available = crate::checksum::lanes::available();
    if !available {
        eprintln!("skipped: this CPU has no AVX2");
    }
    available
}
