//! Inputs the crate's unit tests share.

use std::path::{Path, PathBuf};

/// The real Fedora RPMs in `shared/fixtures` (or `ODCS_TEST_FIXTURE_REPO`).
pub fn fixture_repo() -> PathBuf {
    std::env::var_os("ODCS_TEST_FIXTURE_REPO").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/odcs-test-repo"),
        PathBuf::from,
    )
}
