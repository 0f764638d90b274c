//! Finding the packages of a directory tree.

use std::path::{Path, PathBuf};

use crate::repodata::PackageInput;

/// Why a directory could not be scanned.
#[derive(Debug, thiserror::Error)]
#[error("cannot scan {path}: {reason}")]
pub struct ScanError {
    /// The directory or entry.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// Every `*.rpm` under `dir` (skipping `repodata` and hidden directories), with hrefs relative
/// to `dir`, sorted by href so listings are deterministic.
pub fn find_packages(dir: &Path) -> Result<Vec<PackageInput>, ScanError> {
    let mut found = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !(e.file_type().is_dir()
                    && (e.file_name() == "repodata"
                        || e.file_name().to_string_lossy().starts_with('.')))
        });
    for entry in walker {
        let entry = entry.map_err(|e| ScanError {
            path: e.path().map_or_else(|| dir.to_owned(), Path::to_owned),
            reason: e.to_string(),
        })?;
        let is_rpm = entry.file_name().to_string_lossy().ends_with(".rpm");
        if !is_rpm || entry.file_type().is_dir() {
            continue;
        }
        let relative = entry.path().strip_prefix(dir).map_err(|e| ScanError {
            path: entry.path().to_owned(),
            reason: e.to_string(),
        })?;
        let href = relative.to_str().ok_or_else(|| ScanError {
            path: entry.path().to_owned(),
            reason: "the file name is not UTF-8".into(),
        })?;
        found.push(PackageInput {
            path: entry.path().to_owned(),
            href: href.to_owned(),
        });
    }
    found.sort_by(|a, b| a.href.cmp(&b.href));
    Ok(found)
}
