//! Writing files so they survive a crash: contents synced before they are relied on, and the
//! directories holding new entries synced too. Every stage that publishes files uses these.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A file or directory that could not be written or synced.
#[derive(Debug, Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    /// The file or directory.
    pub path: PathBuf,
    /// What the filesystem said.
    #[source]
    pub source: std::io::Error,
}

impl WriteError {
    /// Whether trying again later may succeed (the disk is full, the device failed).
    pub fn is_transient(&self) -> bool {
        is_transient_io(&self.source)
    }
}

fn write_error(path: &Path) -> impl Fn(std::io::Error) -> WriteError + '_ {
    move |source| WriteError {
        path: path.to_owned(),
        source,
    }
}

/// Writes `bytes` to `path` and syncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let err = write_error(path);
    let mut file = File::create(path).map_err(&err)?;
    file.write_all(bytes).map_err(&err)?;
    file.sync_all().map_err(&err)
}

/// Syncs a directory, so renames and new entries in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(write_error(dir))
}

/// Syncs every directory under `dir` (new hard links are directory entries; copies were
/// synced when made).
pub fn sync_tree(dir: &Path) -> Result<(), WriteError> {
    for entry in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_dir() {
            sync_dir(entry.path())?;
        }
    }
    Ok(())
}

/// Whether an I/O error is the machine's state rather than the input's: a full disk or quota,
/// a device error, a timeout. Composes failing so are tried again.
pub fn is_transient_io(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    /// ENOSPC, EDQUOT, EIO: what `ErrorKind` does not always name on every target.
    const TRANSIENT_ERRNO: [i32; 3] = [28, 122, 5];
    matches!(
        error.kind(),
        StorageFull | Interrupted | TimedOut | WouldBlock | OutOfMemory | ResourceBusy
    ) || error
        .raw_os_error()
        .is_some_and(|code| TRANSIENT_ERRNO.contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_transient_and_a_missing_file_is_not() {
        assert!(is_transient_io(&std::io::Error::from_raw_os_error(28)));
        assert!(!is_transient_io(&std::io::Error::from(
            std::io::ErrorKind::NotFound
        )));
    }

    #[test]
    fn written_files_hold_their_bytes() {
        let dir = std::env::temp_dir().join(format!("odcs-durable-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).expect("dir");
        write_synced(&dir.join("sub/f"), b"hello").expect("write");
        sync_tree(&dir).expect("sync");
        assert_eq!(std::fs::read(dir.join("sub/f")).expect("read"), b"hello");
        let err = write_synced(&dir.join("missing/f"), b"x").expect_err("no directory");
        assert!(err.to_string().contains("missing/f"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
