//! The compose log: what a compose did, line by line, in its top directory, so users can tail
//! it over HTTP while they wait.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// An append-only, line-flushed log file.
pub struct ComposeLog {
    file: Mutex<File>,
}

impl ComposeLog {
    /// Opens (creating or appending to) the log at `path`.
    pub fn open(path: &Path) -> std::io::Result<ComposeLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(ComposeLog {
            file: Mutex::new(file),
        })
    }

    /// Appends one timestamped line; a failing log never fails the compose.
    pub fn line(&self, message: impl std::fmt::Display) {
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S");
        if let Ok(mut file) = self.file.lock() {
            let _ = writeln!(file, "{now} [INFO    ] {message}");
        }
    }

    /// Appends an error line.
    pub fn error(&self, message: impl std::fmt::Display) {
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S");
        if let Ok(mut file) = self.file.lock() {
            let _ = writeln!(file, "{now} [ERROR   ] {message}");
        }
    }

    /// Flushes the log to disk.
    pub fn sync(&self) {
        if let Ok(file) = self.file.lock() {
            let _ = file.sync_all();
        }
    }
}
