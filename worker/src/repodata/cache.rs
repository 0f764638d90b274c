//! The package-metadata cache shared by composes.
//!
//! A package file is identified by device, inode, size and modification time; with its
//! location in the repository and the compression, that identity keys the rendered repodata
//! pieces (raw and compressed) and the summary composes need. A compose whose packages were
//! seen before reads and hashes only the new ones and copies the rest from here.
//!
//! The cache is an SQLite file (several worker processes on one host may share it; SQLite
//! locks). It is only a cache: it is written without fsync, and a cache that cannot be opened
//! or read is recreated.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use thiserror::Error;

use super::compress::Compression;
use super::Piece;
use crate::package::PackageSummary;

/// Bumped whenever rendering changes, so old entries are never reused.
const FORMAT_VERSION: u32 = 1;

/// Why the cache failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The database could not be opened or queried.
    #[error("package cache {path}: {message}")]
    Database {
        /// The cache file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Identity of a package file and where it sits in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key for the file at `path` (already stat-ed as `meta`), listed at `href`.
    pub fn new(meta: &std::fs::Metadata, href: &str, compression: Compression) -> CacheKey {
        use std::os::unix::fs::MetadataExt;
        CacheKey(format!(
            "v{FORMAT_VERSION}:{}:{}:{}:{}.{}:{}:{href}",
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            compression.name()
        ))
    }
}

/// What the cache holds for one package.
#[derive(Debug, Clone)]
pub struct CachedPackage {
    /// The summary composes need.
    pub summary: PackageSummary,
    /// primary, filelists and other pieces.
    pub pieces: [Piece; 3],
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Text)]
    summary: String,
    #[diesel(sql_type = Binary)]
    primary_raw: Vec<u8>,
    #[diesel(sql_type = Binary)]
    primary_packed: Vec<u8>,
    #[diesel(sql_type = Binary)]
    filelists_raw: Vec<u8>,
    #[diesel(sql_type = Binary)]
    filelists_packed: Vec<u8>,
    #[diesel(sql_type = Binary)]
    other_raw: Vec<u8>,
    #[diesel(sql_type = Binary)]
    other_packed: Vec<u8>,
}

/// An open cache.
pub struct PackageCache {
    path: PathBuf,
    conn: Mutex<SqliteConnection>,
}

const SCHEMA: &str = "
    PRAGMA busy_timeout = 30000;
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = OFF;
    CREATE TABLE IF NOT EXISTS packages (
        key TEXT PRIMARY KEY NOT NULL,
        summary TEXT NOT NULL,
        primary_raw BLOB NOT NULL,
        primary_packed BLOB NOT NULL,
        filelists_raw BLOB NOT NULL,
        filelists_packed BLOB NOT NULL,
        other_raw BLOB NOT NULL,
        other_packed BLOB NOT NULL,
        used_at BIGINT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS packages_used_at ON packages (used_at);
";

/// Keys per lookup statement (well under SQLite's variable limit).
const LOOKUP_BATCH: usize = 500;

impl PackageCache {
    /// Opens (or creates) the cache in `dir`; an unreadable cache file is replaced.
    pub fn open(dir: &Path) -> Result<PackageCache, CacheError> {
        let path = dir.join("packages.sqlite");
        let fail = |message: String| CacheError::Database {
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let open = || -> Result<SqliteConnection, String> {
            let mut conn =
                SqliteConnection::establish(&path.to_string_lossy()).map_err(|e| e.to_string())?;
            conn.batch_execute(SCHEMA).map_err(|e| e.to_string())?;
            Ok(conn)
        };
        let conn = match open() {
            Ok(conn) => conn,
            Err(first) => {
                tracing::warn!(cache = %path.display(), error = %first, "package cache unreadable, starting a new one");
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                open().map_err(fail)?
            }
        };
        Ok(PackageCache {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// A cache that lives only as long as this value: for runs asked not to use the shared
    /// one, so each package is still read only once per run.
    pub fn in_memory() -> Result<PackageCache, CacheError> {
        let path = PathBuf::from(":memory:");
        let mut conn =
            SqliteConnection::establish(":memory:").map_err(|e| CacheError::Database {
                path: path.clone(),
                message: e.to_string(),
            })?;
        conn.batch_execute(SCHEMA)
            .map_err(|e| CacheError::Database {
                path: path.clone(),
                message: e.to_string(),
            })?;
        Ok(PackageCache {
            path,
            conn: Mutex::new(conn),
        })
    }

    fn error(&self, message: impl ToString) -> CacheError {
        CacheError::Database {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    /// The cached entries among `keys`, in any order.
    pub fn get_many(
        &self,
        keys: &[&CacheKey],
    ) -> Result<Vec<(CacheKey, CachedPackage)>, CacheError> {
        let mut conn = self.conn.lock().map_err(|e| self.error(e))?;
        let mut found = Vec::new();
        for batch in keys.chunks(LOOKUP_BATCH) {
            let placeholders = vec!["?"; batch.len()].join(",");
            let sql = format!(
                "SELECT key, summary, primary_raw, primary_packed, filelists_raw, \
                 filelists_packed, other_raw, other_packed FROM packages WHERE key IN ({placeholders})"
            );
            let mut query = diesel::sql_query(sql).into_boxed();
            for key in batch {
                query = query.bind::<Text, _>(key.0.clone());
            }
            let rows: Vec<Row> = query.load(&mut *conn).map_err(|e| self.error(e))?;
            for row in rows {
                let Ok(summary) = serde_json::from_str::<PackageSummary>(&row.summary) else {
                    continue;
                };
                found.push((
                    CacheKey(row.key),
                    CachedPackage {
                        summary,
                        pieces: [
                            Piece {
                                raw: row.primary_raw,
                                packed: row.primary_packed,
                            },
                            Piece {
                                raw: row.filelists_raw,
                                packed: row.filelists_packed,
                            },
                            Piece {
                                raw: row.other_raw,
                                packed: row.other_packed,
                            },
                        ],
                    },
                ));
            }
        }
        Ok(found)
    }

    /// Stores entries (replacing any with the same key) in one transaction.
    pub fn put_many(
        &self,
        entries: &[(CacheKey, CachedPackage)],
        now: i64,
    ) -> Result<(), CacheError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.lock().map_err(|e| self.error(e))?;
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            for (key, entry) in entries {
                let summary = serde_json::to_string(&entry.summary).unwrap_or_default();
                diesel::sql_query(
                    "INSERT OR REPLACE INTO packages (key, summary, primary_raw, primary_packed, \
                     filelists_raw, filelists_packed, other_raw, other_packed, used_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind::<Text, _>(&key.0)
                .bind::<Text, _>(summary)
                .bind::<Binary, _>(&entry.pieces[0].raw)
                .bind::<Binary, _>(&entry.pieces[0].packed)
                .bind::<Binary, _>(&entry.pieces[1].raw)
                .bind::<Binary, _>(&entry.pieces[1].packed)
                .bind::<Binary, _>(&entry.pieces[2].raw)
                .bind::<Binary, _>(&entry.pieces[2].packed)
                .bind::<BigInt, _>(now)
                .execute(conn)?;
            }
            Ok(())
        })
        .map_err(|e| self.error(e))
    }

    /// Removes entries not used since `before` (seconds since the epoch); returns how many.
    pub fn prune(&self, before: i64) -> Result<usize, CacheError> {
        let mut conn = self.conn.lock().map_err(|e| self.error(e))?;
        diesel::sql_query("DELETE FROM packages WHERE used_at < ?")
            .bind::<Nullable<BigInt>, _>(Some(before))
            .execute(&mut *conn)
            .map_err(|e| self.error(e))
    }
}
