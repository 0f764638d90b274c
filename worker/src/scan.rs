//! Finding the packages of a directory tree.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::repodata::{FileStat, PackageInput};

/// Why a directory could not be scanned.
#[derive(Debug, thiserror::Error)]
#[error("cannot scan {path}: {reason}")]
pub struct ScanError {
    /// The directory or entry.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// Every `*.rpm` under `dir` (skipping `repodata` and hidden directories, and not following
/// symbolic links to directories), with hrefs relative to `dir`, sorted by href so listings
/// are deterministic, each stat-ed as it is found. Subdirectories are read in parallel: a
/// repository's packages usually sit in one directory per initial letter.
pub fn find_packages(dir: &Path) -> Result<Vec<PackageInput>, ScanError> {
    let mut found = packages_under(dir, "")?;
    found.par_sort_unstable_by(|a, b| a.href.cmp(&b.href));
    Ok(found)
}

/// The packages in `dir` and its subdirectories; `prefix` is `dir`'s href, empty or ending
/// in `/`.
fn packages_under(dir: &Path, prefix: &str) -> Result<Vec<PackageInput>, ScanError> {
    let failed = |path: &Path, reason: String| ScanError {
        path: path.to_owned(),
        reason,
    };
    let mut packages = Vec::new();
    let mut subdirs = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| failed(dir, e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| failed(dir, e.to_string()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| failed(&path, e.to_string()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            // An href is text: a package whose path is not UTF-8 cannot be listed.
            let lossy = name.to_string_lossy();
            let holds_packages = if kind.is_dir() {
                !lossy.starts_with('.')
                    && !packages_under(&path, &format!("{prefix}{lossy}/"))?.is_empty()
            } else {
                lossy.ends_with(".rpm")
            };
            if holds_packages {
                return Err(failed(&path, "the file name is not UTF-8".into()));
            }
            continue;
        };
        if kind.is_dir() {
            if name != "repodata" && !name.starts_with('.') {
                subdirs.push((path, format!("{prefix}{name}/")));
            }
        } else if name.ends_with(".rpm") {
            // Relative to the directory being read, which costs less than a lookup of the whole
            // path later; a link is followed, as the package is read through it.
            let stat = match kind.is_symlink() {
                true => FileStat::of(&path),
                false => entry.metadata().ok().map(|meta| FileStat::from(&meta)),
            };
            packages.push(PackageInput {
                path,
                href: format!("{prefix}{name}"),
                stat,
            });
        }
    }
    let nested = subdirs
        .par_iter()
        .map(|(subdir, href)| packages_under(subdir, href))
        .collect::<Result<Vec<_>, _>>()?;
    packages.extend(nested.into_iter().flatten());
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_packages_in_subdirectories_sorted_and_skips_metadata_and_hidden_ones() {
        let root = std::env::temp_dir().join(format!("odcs-scan-{}", uuid::Uuid::new_v4()));
        for file in [
            "b/z.rpm",
            "b/a.rpm",
            "a.rpm",
            "c/d/e.rpm",
            "c/notes.txt",
            "repodata/x.rpm",
            ".hidden/y.rpm",
            "c/repodata/w.rpm",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            std::fs::write(&path, b"").expect("file");
        }
        std::os::unix::fs::symlink(root.join("c"), root.join("linked")).expect("symlink");
        std::fs::write(root.join("b/z.rpm"), b"longer").expect("file");
        std::os::unix::fs::symlink(root.join("b/z.rpm"), root.join("c/l.rpm")).expect("symlink");
        let found = find_packages(&root).expect("scan");
        let hrefs: Vec<&str> = found.iter().map(|p| p.href.as_str()).collect();
        assert_eq!(
            hrefs,
            ["a.rpm", "b/a.rpm", "b/z.rpm", "c/d/e.rpm", "c/l.rpm"]
        );
        assert_eq!(found[3].path, root.join("c/d/e.rpm"));
        for package in &found {
            assert!(package.stat.is_some(), "{package:?}");
            assert_eq!(package.stat, FileStat::of(&package.path), "{package:?}");
        }
        assert_eq!(
            found[4].stat.map(|s| s.size),
            Some(6),
            "a link is stat-ed as the file it leads to"
        );
        let err = find_packages(&root.join("missing")).expect_err("no such directory");
        assert!(err.to_string().contains("missing"), "{err}");

        use std::os::unix::ffi::OsStrExt;
        let not_utf8 = root.join(std::ffi::OsStr::from_bytes(b"n\xff"));
        std::fs::create_dir_all(&not_utf8).expect("dir");
        std::fs::write(not_utf8.join("notes.txt"), b"").expect("file");
        assert_eq!(
            find_packages(&root).expect("scan").len(),
            5,
            "nothing to list there"
        );
        std::fs::write(not_utf8.join("p.rpm"), b"").expect("file");
        let err = find_packages(&root).expect_err("a package without a text href");
        assert!(err.to_string().contains("not UTF-8"), "{err}");
        std::fs::remove_dir_all(&root).expect("clean up");
    }
}
