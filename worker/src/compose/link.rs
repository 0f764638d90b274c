//! Placing package files into a compose: a hard link when source and compose share a
//! filesystem, a copy otherwise.

use std::path::Path;

/// How a file was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Hard-linked.
    Linked,
    /// Copied (and synced).
    Copied,
}

/// Puts `source` at `dest` (creating its directory), linking if possible.
pub fn place(source: &Path, dest: &Path) -> std::io::Result<Placed> {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::hard_link(source, dest) {
        Ok(()) => Ok(Placed::Linked),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Placed::Linked),
        // Across filesystems (EXDEV), or where linking others' files is not permitted.
        Err(_) => {
            let tmp = dest.with_extension("rpm.part");
            std::fs::copy(source, &tmp)?;
            let file = std::fs::OpenOptions::new().write(true).open(&tmp)?;
            // Keep the source's mtime: repodata records it as the file time.
            if let Ok(modified) = std::fs::metadata(source).and_then(|m| m.modified()) {
                let _ = file.set_modified(modified);
            }
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, dest)?;
            Ok(Placed::Copied)
        }
    }
}
