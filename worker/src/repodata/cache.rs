//! The package-metadata cache shared by composes.
//!
//! A package file is identified by device, inode, size and modification time; with its
//! location in the repository, that identity keys the package's rendered repodata XML and the
//! summary composes need. A compose whose packages were seen before reads and hashes only the
//! new ones and copies the rest from here.
//!
//! Blocks of repodata (see [`super::blocks`]) are cached too, keyed by their packages' keys:
//! their XML, its compressed form and how many packages they list in one row, so an incremental
//! run takes an unchanged block whole (one row, no per-package work) and renders and
//! compresses only the blocks around changed packages.
//!
//! The cache is an SQLite file (several worker processes on one host may share it; SQLite
//! locks). It is only a cache: it is written without fsync, and a cache that cannot be opened
//! or read is recreated.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use thiserror::Error;

#[cfg(test)]
use super::block_files::Form;
use super::block_files::{BlockFiles, BlockXml};
use super::FileStat;
use crate::package::PackageSummary;

/// Bumped whenever rendering or compression changes, so old entries are never reused.
const FORMAT_VERSION: u32 = 8;

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
    /// The key for a file stat-ed as `stat`, listed at `href`.
    pub fn new(stat: &FileStat, href: &str) -> CacheKey {
        CacheKey(format!(
            "v{FORMAT_VERSION}:{}:{}:{}:{}.{}:{href}",
            stat.dev, stat.ino, stat.size, stat.mtime, stat.mtime_nsec,
        ))
    }
}

impl CacheKey {
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A key with this text, for tests that need keys without files.
    #[cfg(test)]
    pub fn from_text(text: &str) -> CacheKey {
        CacheKey(text.to_owned())
    }
}

/// Something to store in the cache, handed to a background writer.
pub enum CacheWrite {
    /// Rendered packages.
    Packages(Vec<(CacheKey, CachedPackage)>),
    /// Blocks, under their keys.
    Blocks(Vec<(String, CachedBlock)>),
}

impl PackageCache {
    /// Stores everything received on `rx` until the senders are gone, rows held until
    /// `PENDING_BYTES` of package XML waits so that a run's writes share few transactions
    /// (block files are written as they come); run on its own thread so storing overlaps with
    /// reading and compressing.
    pub fn store_all(&self, rx: std::sync::mpsc::Receiver<CacheWrite>, now: i64) {
        // Opened here, while the run scans its packages, rather than on the first write.
        if let Err(e) = self.writing() {
            tracing::warn!(error = %e, "package cache not writable");
        }
        let mut pending = PendingRows::default();
        for write in rx {
            match write {
                CacheWrite::Packages(entries) => {
                    pending.bytes += entries.iter().map(|(_, e)| e.size()).sum::<usize>();
                    pending.packages.extend(entries);
                }
                // Their files now, so their XML need not wait in memory for the rows.
                CacheWrite::Blocks(blocks) => match self.block_rows(&blocks) {
                    Ok(rows) => pending.blocks.extend(rows),
                    Err(e) => tracing::warn!(error = %e, "package cache not updated"),
                },
            }
            if pending.bytes >= PENDING_BYTES {
                self.insert_pending(&mut pending, now);
            }
        }
        self.insert_pending(&mut pending, now);
        if let Ok(mut conn) = self.writing() {
            // Best effort, like every cache write: a log left behind is only read slower.
            let _ = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);");
        }
    }
}

/// How much rendered XML the cache writer holds before it stores it: every transaction
/// rewrites the 64 KiB pages it touches (table and index leaves) into the log, so an
/// incremental run's handful of batches are stored in one.
const PENDING_BYTES: usize = 16 << 20;

/// Rows the cache writer has received and not yet stored.
#[derive(Default)]
struct PendingRows {
    packages: Vec<(CacheKey, CachedPackage)>,
    blocks: Vec<BlockRowValues>,
    /// The packages' XML, in bytes.
    bytes: usize,
}

/// A block's row, its parts already in their file where the cache has a directory.
struct BlockRowValues {
    key: String,
    packages: usize,
    sizes: [u64; 6],
    /// The parts themselves where the cache has no directory, else empty.
    parts: Vec<u8>,
}

/// What the cache holds for one package.
#[derive(Debug, Clone)]
pub struct CachedPackage {
    /// The summary composes need.
    pub summary: PackageSummary,
    /// The package's primary, filelists and other XML.
    pub xml: [Vec<u8>; 3],
}

impl CachedPackage {
    /// The bytes of its XML: what holding it costs.
    pub fn size(&self) -> usize {
        self.xml.iter().map(Vec::len).sum()
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Text)]
    summary: String,
    #[diesel(sql_type = Binary)]
    primary: Vec<u8>,
    #[diesel(sql_type = Binary)]
    filelists: Vec<u8>,
    #[diesel(sql_type = Binary)]
    other: Vec<u8>,
}

/// What the cache holds for one block of packages.
#[derive(Debug, Default)]
pub struct CachedBlock {
    /// How many packages the block lists.
    pub packages: usize,
    /// The block's primary, filelists and other XML, as it is and compressed.
    pub xml: BlockXml,
}

/// A key, as the key-only queries read it.
#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    key: String,
}

#[derive(QueryableByName)]
struct BlockRow {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    packages: i64,
    #[diesel(sql_type = Text)]
    sizes: String,
    #[diesel(sql_type = Binary)]
    parts: Vec<u8>,
}

/// The block columns, in [`BlockRow`]'s order: `sizes` lists the six parts' sizes (the three
/// documents' XML, then compressed); `parts` holds them one after the other where the cache
/// has no directory, and is empty where they are in a block file ([`BlockFiles`]).
const BLOCK_COLUMNS: &str = "packages, sizes, parts";

/// The six sizes of a `sizes` column, if it holds six.
fn parse_sizes(text: &str) -> Option<[u64; 6]> {
    let parsed: Vec<u64> = text
        .split(' ')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    parsed.try_into().ok()
}

/// Cuts a `parts` column into the three documents' XML and compressed forms.
fn split_parts(mut parts: Vec<u8>, sizes: [u64; 6]) -> Option<BlockXml> {
    if parts.len() as u64 != sizes.iter().sum::<u64>() {
        return None;
    }
    let mut pieces: Vec<Vec<u8>> = Vec::with_capacity(6);
    for size in sizes.iter().rev() {
        let at = parts.len() - usize::try_from(*size).ok()?;
        pieces.push(parts.split_off(at));
    }
    pieces.reverse();
    let mut pieces = pieces.into_iter();
    let mut next = || pieces.next().unwrap_or_default();
    Some(BlockXml::Memory {
        raw: [next(), next(), next()],
        packed: [next(), next(), next()],
    })
}

/// An open cache. Lookups and writes use separate connections, so a run can keep reading
/// while its earlier results are being stored (SQLite in WAL mode allows both at once).
pub struct PackageCache {
    path: PathBuf,
    /// What SQLite opens: the file's path, or the URI of a database in memory.
    url: String,
    conn: Mutex<SqliteConnection>,
    /// The connection that writes, opened on first use ([`PackageCache::writing`]): a run
    /// writes from its own thread, which opens it while the run is scanning.
    writer: OnceLock<Mutex<SqliteConnection>>,
    /// Entries looked up and not yet marked used: marked by the next write, on the writer's
    /// thread, so a lookup never waits for a write in progress.
    touched: Mutex<Vec<(&'static str, String)>>,
    /// When this process last pruned the cache.
    last_prune: Mutex<Option<std::time::Instant>>,
    /// Where blocks' XML is kept; `None` (a cache in memory): in the database.
    block_files: Option<BlockFiles>,
}

/// `page_size` takes effect when the file is created: an entry's XML (15 KB on average) fits in
/// one 64 KiB page, so SQLite hands it out of the memory map in place instead of assembling it
/// from a chain of overflow pages into a fresh buffer. Cache files made with smaller pages
/// keep them and still work. Only the database file is memory-mapped, not its write-ahead log:
/// the log is checkpointed every 16 MB and after each run's writes (see
/// [`PackageCache::store_all`]), so the next run reads what this one wrote through the map.
/// The `(key, used_at)` indexes serve marking entries used: SQLite checks a looked-up entry's
/// time in the index and reads its row only to update it, where it read every looked-up row
/// (a 64 KiB page each) to find that recently used ones need nothing.
const SCHEMA: &str = "
    PRAGMA busy_timeout = 30000;
    PRAGMA page_size = 65536;
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = OFF;
    PRAGMA wal_autocheckpoint = 256;
    PRAGMA cache_size = -8192;
    PRAGMA mmap_size = 1073741824;
    CREATE TABLE IF NOT EXISTS packages (
        key TEXT PRIMARY KEY NOT NULL,
        summary TEXT NOT NULL,
        primary_xml BLOB NOT NULL,
        filelists_xml BLOB NOT NULL,
        other_xml BLOB NOT NULL,
        used_at BIGINT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS packages_used_at ON packages (used_at);
    CREATE INDEX IF NOT EXISTS packages_key_used_at ON packages (key, used_at);
    CREATE TABLE IF NOT EXISTS blocks (
        key TEXT PRIMARY KEY NOT NULL,
        packages BIGINT NOT NULL,
        sizes TEXT NOT NULL,
        bytes BIGINT NOT NULL,
        parts BLOB NOT NULL,
        used_at BIGINT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS blocks_used_at ON blocks (used_at);
    CREATE INDEX IF NOT EXISTS blocks_key_used_at ON blocks (key, used_at);
";

/// How stale an entry's last-use time may be: pruning goes by days, and keeping the time of an
/// entry used within this long saves rewriting it on every run.
const TOUCH_GRANULARITY_SECONDS: i64 = 3600;

/// Keys per lookup statement (well under SQLite's variable limit).
const LOOKUP_BATCH: usize = 500;

impl PackageCache {
    /// Opens (or creates) the cache in `dir`; an unreadable cache file is replaced.
    pub fn open(dir: &Path) -> Result<PackageCache, CacheError> {
        let path = dir.join(format!("packages-v{FORMAT_VERSION}.sqlite"));
        let fail = |message: String| CacheError::Database {
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        remove_older_formats(dir);
        let url = path.to_string_lossy().into_owned();
        let open = || connect(&url);
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
            url,
            conn: Mutex::new(conn),
            writer: OnceLock::new(),
            touched: Mutex::default(),
            last_prune: Mutex::new(None),
            block_files: Some(BlockFiles::new(
                dir.join(format!("blocks-v{FORMAT_VERSION}")),
            )),
        })
    }

    /// A cache that lives only as long as this value: for runs asked not to use the shared
    /// one, so each package is still read only once per run.
    pub fn in_memory() -> Result<PackageCache, CacheError> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // A named shared-cache memory database, so the reader and writer see the same data.
        let uri = format!(
            "file:odcs-cache-{}-{n}?mode=memory&cache=shared",
            std::process::id()
        );
        let path = PathBuf::from(&uri);
        let conn = connect(&uri).map_err(|message| CacheError::Database {
            path: path.clone(),
            message,
        })?;
        Ok(PackageCache {
            path,
            url: uri,
            conn: Mutex::new(conn),
            writer: OnceLock::new(),
            touched: Mutex::default(),
            last_prune: Mutex::new(None),
            block_files: None,
        })
    }

    /// The writer connection (opened if it is not yet), with the entries looked up since the
    /// last write marked used.
    fn writing(&self) -> Result<MutexGuard<'_, SqliteConnection>, CacheError> {
        if self.writer.get().is_none() {
            let conn = connect(&self.url).map_err(|e| self.error(e))?;
            // Another thread may have opened one meanwhile: either serves.
            let _ = self.writer.set(Mutex::new(conn));
        }
        let writer = self
            .writer
            .get()
            .ok_or_else(|| self.error("the writer connection is not open"))?;
        let mut conn = writer.lock().map_err(|e| self.error(e))?;
        let touched = std::mem::take(&mut *self.touched.lock().map_err(|e| self.error(e))?);
        for table in ["packages", "blocks"] {
            let keys = touched
                .iter()
                .filter(|(t, _)| *t == table)
                .map(|(_, key)| key.as_str());
            mark_used(&mut conn, table, keys);
        }
        Ok(conn)
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
                "SELECT key, summary, primary_xml AS \"primary\", filelists_xml AS filelists, \
                 other_xml AS other FROM packages WHERE key IN ({placeholders})"
            );
            let mut query = diesel::sql_query(sql).into_boxed();
            for key in batch {
                query = query.bind::<Text, _>(key.0.clone());
            }
            let rows: Vec<Row> = query.load(&mut *conn).map_err(|e| self.error(e))?;
            self.touch("packages", rows.iter().map(|r| r.key.as_str()));
            for row in rows {
                let Ok(summary) = serde_json::from_str::<PackageSummary>(&row.summary) else {
                    continue;
                };
                found.push((
                    CacheKey(row.key),
                    CachedPackage {
                        summary,
                        xml: [row.primary, row.filelists, row.other],
                    },
                ));
            }
        }
        if let Some(metrics) = crate::metrics::metrics() {
            metrics.looked_up(
                crate::metrics::Cache::PackageMetadata,
                found.len(),
                keys.len() - found.len(),
            );
        }
        Ok(found)
    }

    /// Which of `keys` have entries, without loading them: what a run will not have to read,
    /// known before it reads anything.
    pub fn contains_many(
        &self,
        keys: &[&CacheKey],
    ) -> Result<std::collections::HashSet<CacheKey>, CacheError> {
        let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
        let found = self.keys_present("packages", &keys)?;
        Ok(found.into_iter().map(CacheKey).collect())
    }

    /// Which of `keys` the `table` holds.
    fn keys_present(
        &self,
        table: &str,
        keys: &[&str],
    ) -> Result<std::collections::HashSet<String>, CacheError> {
        let mut conn = self.conn.lock().map_err(|e| self.error(e))?;
        let mut found = std::collections::HashSet::new();
        for batch in keys.chunks(LOOKUP_BATCH) {
            let placeholders = vec!["?"; batch.len()].join(",");
            let sql = format!("SELECT key FROM {table} WHERE key IN ({placeholders})");
            let mut query = diesel::sql_query(sql).into_boxed();
            for key in batch {
                query = query.bind::<Text, _>(*key);
            }
            let rows: Vec<KeyRow> = query.load(&mut *conn).map_err(|e| self.error(e))?;
            found.extend(rows.into_iter().map(|r| r.key));
        }
        Ok(found)
    }

    /// Stores entries (replacing any with the same key) in one transaction.
    pub fn put_many(
        &self,
        entries: &[(CacheKey, CachedPackage)],
        now: i64,
    ) -> Result<(), CacheError> {
        self.insert(entries, &[], now)
    }

    /// Stores what the cache writer holds, in one transaction, and lets it go.
    fn insert_pending(&self, pending: &mut PendingRows, now: i64) {
        let PendingRows {
            packages, blocks, ..
        } = std::mem::take(pending);
        if let Err(e) = self.insert(&packages, &blocks, now) {
            tracing::warn!(error = %e, "package cache not updated");
        }
    }

    /// Stores package entries and block rows (replacing any with the same keys) in one
    /// transaction.
    fn insert(
        &self,
        packages: &[(CacheKey, CachedPackage)],
        blocks: &[BlockRowValues],
        now: i64,
    ) -> Result<(), CacheError> {
        let mut conn = self.writing()?;
        if packages.is_empty() && blocks.is_empty() {
            return Ok(());
        }
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            for (key, entry) in packages {
                let summary = serde_json::to_string(&entry.summary).unwrap_or_default();
                diesel::sql_query(
                    "INSERT OR REPLACE INTO packages (key, summary, primary_xml, \
                     filelists_xml, other_xml, used_at) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind::<Text, _>(&key.0)
                .bind::<Text, _>(summary)
                .bind::<Binary, _>(&entry.xml[0])
                .bind::<Binary, _>(&entry.xml[1])
                .bind::<Binary, _>(&entry.xml[2])
                .bind::<BigInt, _>(now)
                .execute(conn)?;
            }
            for row in blocks {
                // What the block takes, in the database or its file: what pruning counts.
                let bytes = i64::try_from(row.sizes.iter().sum::<u64>()).unwrap_or(i64::MAX);
                let sizes = row.sizes.map(|size| size.to_string()).join(" ");
                diesel::sql_query(format!(
                    "INSERT OR REPLACE INTO blocks (key, {BLOCK_COLUMNS}, bytes, used_at) \
                     VALUES (?, ?, ?, ?, ?, ?)"
                ))
                .bind::<Text, _>(&row.key)
                .bind::<BigInt, _>(i64::try_from(row.packages).unwrap_or(i64::MAX))
                .bind::<Text, _>(sizes)
                .bind::<Binary, _>(&row.parts)
                .bind::<BigInt, _>(bytes)
                .bind::<BigInt, _>(now)
                .execute(conn)?;
            }
            Ok(())
        })
        .map_err(|e| self.error(e))
    }

    /// The blocks cached under `keys`, in any order. Their packages count as hits of the
    /// package-metadata cache: they are served from it without a lookup of their own.
    pub fn get_blocks(&self, keys: &[&str]) -> Result<Vec<(String, CachedBlock)>, CacheError> {
        let mut conn = self.conn.lock().map_err(|e| self.error(e))?;
        let mut found = Vec::new();
        for batch in keys.chunks(LOOKUP_BATCH) {
            let placeholders = vec!["?"; batch.len()].join(",");
            let sql =
                format!("SELECT key, {BLOCK_COLUMNS} FROM blocks WHERE key IN ({placeholders})");
            let mut query = diesel::sql_query(sql).into_boxed();
            for key in batch {
                query = query.bind::<Text, _>(*key);
            }
            let rows: Vec<BlockRow> = query.load(&mut *conn).map_err(|e| self.error(e))?;
            self.touch("blocks", rows.iter().map(|r| r.key.as_str()));
            for row in rows {
                let Ok(packages) = usize::try_from(row.packages) else {
                    continue;
                };
                let Some(sizes) = parse_sizes(&row.sizes) else {
                    continue;
                };
                let xml = match &self.block_files {
                    Some(files) => files.open(&row.key, sizes),
                    None => split_parts(row.parts, sizes),
                };
                let Some(xml) = xml else {
                    continue;
                };
                found.push((row.key, CachedBlock { packages, xml }));
            }
        }
        if let Some(metrics) = crate::metrics::metrics() {
            let packages = found.iter().map(|(_, b)| b.packages).sum();
            metrics.looked_up(crate::metrics::Cache::PackageMetadata, packages, 0);
        }
        Ok(found)
    }

    /// Which of `keys` have blocks, without loading them.
    pub fn contains_blocks(
        &self,
        keys: &[&str],
    ) -> Result<std::collections::HashSet<String>, CacheError> {
        self.keys_present("blocks", keys)
    }

    /// Stores blocks under their keys (replacing any with the same key) in one transaction,
    /// their parts in block files first where the cache has a directory. Blocks not held in
    /// memory came from the cache and are skipped.
    pub fn put_blocks(&self, blocks: &[(String, CachedBlock)], now: i64) -> Result<(), CacheError> {
        let rows = self.block_rows(blocks)?;
        self.insert(&[], &rows, now)
    }

    /// The rows of the blocks held in memory among `blocks`, their parts written to block
    /// files first where the cache has a directory.
    fn block_rows(
        &self,
        blocks: &[(String, CachedBlock)],
    ) -> Result<Vec<BlockRowValues>, CacheError> {
        let mut rows = Vec::new();
        for (key, block) in blocks {
            let BlockXml::Memory { raw, packed } = &block.xml else {
                continue;
            };
            let parts = match &self.block_files {
                Some(files) => {
                    files.write(key, raw, packed).map_err(|e| self.error(e))?;
                    Vec::new()
                }
                None => raw.iter().chain(packed).flatten().copied().collect(),
            };
            rows.push(BlockRowValues {
                key: key.clone(),
                packages: block.packages,
                sizes: block.xml.sizes(),
                parts,
            });
        }
        Ok(rows)
    }

    /// Marks the entries of `table` under `keys` used, so pruning goes by last use; done by
    /// the next write ([`PackageCache::writing`]).
    fn touch<'k>(&self, table: &'static str, keys: impl Iterator<Item = &'k str>) {
        if let Ok(mut touched) = self.touched.lock() {
            touched.extend(keys.map(|key| (table, key.to_owned())));
        }
    }

    /// Removes entries unused for `max_age`, then the least recently used until the cache
    /// holds at most `max_bytes` of metadata; returns how many went.
    pub fn prune(&self, max_age: std::time::Duration, max_bytes: u64) -> Result<usize, CacheError> {
        let before =
            unix_now().saturating_sub(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX));
        let mut conn = self.writing()?;
        let mut removed = 0;
        for table in ["packages", "blocks"] {
            removed += self.delete(&mut conn, table, &format!("used_at < {before}"))?;
        }
        #[derive(QueryableByName)]
        struct Size {
            #[diesel(sql_type = Nullable<BigInt>)]
            bytes: Option<i64>,
        }
        let size = |conn: &mut SqliteConnection| -> Result<u64, CacheError> {
            let row: Size = diesel::sql_query(
                "SELECT (SELECT COALESCE(SUM(length(summary) + length(primary_xml) + \
                 length(filelists_xml) + length(other_xml)), 0) FROM packages) + \
                 (SELECT COALESCE(SUM(bytes), 0) FROM blocks) AS bytes",
            )
            .get_result(conn)
            .map_err(|e| self.error(e))?;
            Ok(u64::try_from(row.bytes.unwrap_or(0)).unwrap_or(0))
        };
        while size(&mut conn)? > max_bytes {
            let mut gone = 0;
            for table in ["packages", "blocks"] {
                let oldest = format!(
                    "key IN (SELECT key FROM {table} ORDER BY used_at LIMIT {PRUNE_BATCH})"
                );
                gone += self.delete(&mut conn, table, &oldest)?;
            }
            if gone == 0 {
                break;
            }
            removed += gone;
        }
        if let Some(files) = &self.block_files {
            let live = self.keys_in(&mut conn, "blocks")?;
            files.remove_orphans(|key| live.contains(key));
        }
        Ok(removed)
    }

    /// Deletes the rows of `table` matching `condition` (and, for blocks, their files);
    /// returns how many went.
    fn delete(
        &self,
        conn: &mut SqliteConnection,
        table: &str,
        condition: &str,
    ) -> Result<usize, CacheError> {
        let keys: Vec<String> =
            diesel::sql_query(format!("SELECT key FROM {table} WHERE {condition}"))
                .load::<KeyRow>(conn)
                .map_err(|e| self.error(e))?
                .into_iter()
                .map(|row| row.key)
                .collect();
        for batch in keys.chunks(LOOKUP_BATCH) {
            let placeholders = vec!["?"; batch.len()].join(",");
            let mut query =
                diesel::sql_query(format!("DELETE FROM {table} WHERE key IN ({placeholders})"))
                    .into_boxed();
            for key in batch {
                query = query.bind::<Text, _>(key);
            }
            query.execute(&mut *conn).map_err(|e| self.error(e))?;
        }
        if let (Some(files), "blocks") = (&self.block_files, table) {
            files.remove(&keys);
        }
        Ok(keys.len())
    }

    /// Every key of `table`.
    fn keys_in(
        &self,
        conn: &mut SqliteConnection,
        table: &str,
    ) -> Result<std::collections::HashSet<String>, CacheError> {
        Ok(diesel::sql_query(format!("SELECT key FROM {table}"))
            .load::<KeyRow>(conn)
            .map_err(|e| self.error(e))?
            .into_iter()
            .map(|row| row.key)
            .collect())
    }

    /// Prunes (see [`PackageCache::prune`]) unless this process did in the last ten minutes:
    /// pruning reads the whole cache, which should not follow every compose of a busy worker.
    pub fn prune_now_and_then(&self, max_age: std::time::Duration, max_bytes: u64) {
        {
            let Ok(mut last) = self.last_prune.lock() else {
                return;
            };
            if last.is_some_and(|t| t.elapsed() < PRUNE_INTERVAL) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        match self.prune(max_age, max_bytes) {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "pruned the package-metadata cache"),
            Err(e) => tracing::warn!(error = %e, "cannot prune the package-metadata cache"),
        }
    }
}

/// A connection to the cache database at `url`, its schema in place.
fn connect(url: &str) -> Result<SqliteConnection, String> {
    let mut conn = SqliteConnection::establish(url).map_err(|e| e.to_string())?;
    conn.batch_execute(SCHEMA).map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Marks the entries of `table` under `keys` used now. Best effort: a cache that cannot be
/// written still serves.
fn mark_used<'k>(conn: &mut SqliteConnection, table: &str, keys: impl Iterator<Item = &'k str>) {
    let keys: Vec<&str> = keys.collect();
    let now = unix_now();
    for batch in keys.chunks(LOOKUP_BATCH) {
        let placeholders = vec!["?"; batch.len()].join(",");
        // SQLite rewrites a whole row, metadata and all, to change one column: rows used
        // within the last TOUCH_GRANULARITY keep their time, so a run over packages seen
        // recently writes nothing.
        let sql =
            format!("UPDATE {table} SET used_at = ? WHERE used_at < ? AND key IN ({placeholders})");
        let mut query = diesel::sql_query(sql)
            .into_boxed()
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(now - TOUCH_GRANULARITY_SECONDS);
        for key in batch {
            query = query.bind::<Text, _>(*key);
        }
        let _ = query.execute(&mut *conn);
    }
}

/// Removes the cache files of earlier formats from `dir`: no run reads them again, and they
/// would keep their disk space until someone noticed.
fn remove_older_formats(dir: &Path) {
    for version in 1..FORMAT_VERSION {
        let _ = std::fs::remove_dir_all(dir.join(format!("blocks-v{version}")));
        for suffix in ["", "-wal", "-shm"] {
            let old = dir.join(format!("packages-v{version}.sqlite{suffix}"));
            match std::fs::remove_file(&old) {
                Ok(()) => tracing::info!(file = %old.display(), "removed an old package cache"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %old.display(), error = %e, "cannot remove an old package cache")
                }
            }
        }
    }
}

/// Entries removed per statement while pruning by size.
const PRUNE_BATCH: usize = 1000;

/// Least time between two prunings by one process.
const PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Seconds since the epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod prune_tests {
    use super::*;

    #[test]
    fn contains_many_names_exactly_the_stored_keys() {
        let cache = PackageCache::in_memory().expect("cache");
        let stored = CacheKey("v:stored".into());
        let entry = CachedPackage {
            summary: crate::package::PackageSummary::default(),
            xml: Default::default(),
        };
        cache
            .put_many(&[(stored.clone(), entry)], unix_now())
            .expect("put");
        let absent = CacheKey("v:absent".into());
        let found = cache.contains_many(&[&stored, &absent]).expect("lookup");
        assert_eq!(found, [stored].into_iter().collect());
    }

    #[test]
    fn pruning_removes_block_files_with_their_rows_and_files_without_rows() {
        let dir = std::env::temp_dir().join(format!("odcs-cache-{}", uuid::Uuid::new_v4()));
        let cache = PackageCache::open(&dir).expect("cache");
        let block = || CachedBlock {
            xml: BlockXml::Memory {
                raw: [b"<p/>".to_vec(), b"<f/>".to_vec(), b"<o/>".to_vec()],
                packed: [b"P".to_vec(), b"F".to_vec(), b"O".to_vec()],
            },
            ..CachedBlock::default()
        };
        let old = unix_now() - 100 * 86_400;
        cache
            .put_blocks(&[("old:gz".into(), block())], old)
            .expect("old");
        cache
            .put_blocks(&[("new:gz".into(), block())], unix_now())
            .expect("new");
        let files = dir.join(format!("blocks-v{FORMAT_VERSION}"));
        std::fs::write(files.join("orphan.gz.xml"), b"x").expect("orphan");
        assert!(files.join("old.gz.xml").exists());
        let removed = cache
            .prune(std::time::Duration::from_secs(30 * 86_400), u64::MAX)
            .expect("prune");
        assert_eq!(removed, 1);
        assert!(!files.join("old.gz.xml").exists());
        assert!(!files.join("orphan.gz.xml").exists());
        let found = cache.get_blocks(&["new:gz", "old:gz"]).expect("get");
        assert_eq!(found.len(), 1);
        let mut filelists = Vec::new();
        found[0]
            .1
            .xml
            .each_piece(Form::Packed, 1, |piece| {
                filelists.extend_from_slice(piece);
                Ok(())
            })
            .expect("read");
        assert_eq!(filelists, b"F");
        drop(found);
        // The block's file counts toward the size: over the limit, it goes too.
        let removed = cache
            .prune(std::time::Duration::from_secs(30 * 86_400), 10)
            .expect("prune by size");
        assert_eq!(removed, 1);
        assert!(!files.join("new.gz.xml").exists());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn pruning_keeps_the_recently_used_and_bounds_the_size() {
        let cache = PackageCache::in_memory().expect("cache");
        let entry = |n: usize| {
            let block = CachedBlock {
                xml: BlockXml::Memory {
                    raw: [vec![0u8; 1000], Vec::new(), Vec::new()],
                    packed: Default::default(),
                },
                ..CachedBlock::default()
            };
            (format!("block-{n}"), block)
        };
        let old = unix_now() - 100 * 86_400;
        cache.put_blocks(&[entry(1), entry(2)], old).expect("old");
        cache
            .put_blocks(&[entry(3), entry(4)], unix_now())
            .expect("new");
        // A lookup is a use: block 2 is kept despite its age.
        assert_eq!(cache.get_blocks(&["block-2"]).expect("get").len(), 1);
        let removed = cache
            .prune(std::time::Duration::from_secs(30 * 86_400), 1_000_000)
            .expect("prune");
        assert_eq!(removed, 1, "only the unused old block goes");
        let removed = cache
            .prune(std::time::Duration::from_secs(30 * 86_400), 1500)
            .expect("prune");
        assert!(removed >= 2, "{removed}");
        let left = cache
            .get_blocks(&["block-2", "block-3", "block-4"])
            .expect("get");
        assert!(left.len() <= 1, "{left:?}");
    }
}
