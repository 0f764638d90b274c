//! Placing package files into a compose: a hard link when source and compose share a
//! filesystem, a copy otherwise. A compose only ever holds regular files: a source that is (or
//! became) a symlink is refused, so nothing outside the compose is served through it.

use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// How a file was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Hard-linked.
    Linked,
    /// Copied (and synced).
    Copied,
}

fn not_regular(path: &Path) -> std::io::Error {
    std::io::Error::new(
        ErrorKind::InvalidInput,
        format!("{} is not a regular file", path.display()),
    )
}

/// Whether `path` itself (not what a symlink points at) is a regular file.
fn is_regular(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// Puts `source`, a regular file, at `dest` (creating its directory), linking if possible.
pub fn place(source: &Path, dest: &Path) -> std::io::Result<Placed> {
    if !is_regular(source) {
        return Err(not_regular(source));
    }
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::hard_link(source, dest) {
        // link(2) does not follow symlinks: if the source was swapped for one since it was
        // checked, the link is a symlink too, and it goes.
        Ok(()) | Err(_) if std::fs::symlink_metadata(dest).is_ok() && !is_regular(dest) => {
            let _ = std::fs::remove_file(dest);
            Err(not_regular(source))
        }
        Ok(()) => Ok(Placed::Linked),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Placed::Linked),
        // Across filesystems (EXDEV), or where linking others' files is not permitted.
        Err(_) => {
            let tmp = dest.with_extension("rpm.part");
            let mut input = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(source)?;
            let mut output = std::fs::File::create(&tmp)?;
            std::io::copy(&mut input, &mut output)?;
            drop(output);
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
