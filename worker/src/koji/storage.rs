//! Koji's package files: read in place from a mounted top directory, or downloaded from the
//! top URL into a content cache shared by composes (parallel, bounded, retried, verified
//! against what Koji recorded, never left half-written) and pruned by age and size.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use odcs_common::report::error_chain;
use thiserror::Error;

use super::model::{BuildInfo, RpmInfo};
use crate::package::read_identity;

/// The cache's subdirectory below the worker's package cache.
pub const CACHE_SUBDIR: &str = "koji-packages";

/// Why a package file could not be had.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Neither a top directory nor a top URL is configured.
    #[error("Koji package storage is not configured: set koji_topdir or koji_topurl")]
    NotConfigured,
    /// The file is not in Koji's storage.
    #[error("{nvra} is missing from Koji storage: {location}")]
    Missing {
        /// The package.
        nvra: String,
        /// Where it was looked for.
        location: String,
    },
    /// The downloaded file is not the one Koji recorded.
    #[error("{nvra} downloaded from {url} does not match Koji's record: {reason}")]
    Mismatch {
        /// The package.
        nvra: String,
        /// Where it came from.
        url: String,
        /// What differs.
        reason: String,
    },
    /// Downloading failed after retries.
    #[error("cannot download {url}: {reason}")]
    Download {
        /// The file's URL.
        url: String,
        /// The last error.
        reason: String,
    },
    /// Downloading stopped because the compose must stop (its deadline, a lost lease).
    #[error("downloading stopped: {cause}; the last attempt failed with: {last}")]
    Stopped {
        /// Why.
        cause: crate::cancel::Cancelled,
        /// The last error.
        last: String,
    },
    /// The cache could not be written.
    #[error("package cache {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the filesystem said.
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// Whether trying again later may succeed: downloads failed through every retry, or the
    /// cache's disk is full.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Download { .. } => true,
            StorageError::Io { source, .. } => crate::durable::is_transient_io(source),
            StorageError::NotConfigured
            | StorageError::Missing { .. }
            | StorageError::Mismatch { .. }
            | StorageError::Stopped { .. } => false,
        }
    }
}

/// Where package files come from and how downloads behave.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Koji's top directory mounted locally (files are used in place).
    pub topdir: Option<PathBuf>,
    /// Koji's top URL (files are downloaded into the cache).
    pub topurl: Option<String>,
    /// The worker's package cache directory.
    pub cache_dir: PathBuf,
    /// Downloads running at once.
    pub parallel: usize,
    /// Attempts per file.
    pub attempts: u32,
    /// Wait before the first retry; doubles after each.
    pub backoff: Duration,
    /// Timeout of one download.
    pub timeout: Duration,
    /// PEM file of a CA to trust for the top URL besides the public ones.
    pub server_ca: Option<PathBuf>,
}

/// One package file a compose needs.
#[derive(Debug, Clone)]
pub struct WantedRpm {
    /// The RPM.
    pub rpm: RpmInfo,
    /// Its build (for the storage path).
    pub build: BuildInfo,
    /// The signed copy to take (lower-case short key id), or `None` for the unsigned file.
    pub sigkey: Option<String>,
}

/// What fetching did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The local file of each wanted RPM, in order.
    pub paths: Vec<PathBuf>,
    /// Files downloaded now.
    pub downloaded: usize,
    /// Bytes downloaded now.
    pub bytes: u64,
}

/// A file downloaded into the cache: which wanted RPM, where it is, how many bytes.
type Downloaded = (usize, (PathBuf, u64));

/// Package files from one Koji's storage.
pub struct PackageStore {
    settings: StoreSettings,
    http: reqwest::blocking::Client,
}

impl PackageStore {
    /// A store reading from what `settings` name.
    pub fn new(settings: StoreSettings) -> Result<PackageStore, StorageError> {
        let setup = |reason: String| StorageError::Download {
            url: settings.topurl.clone().unwrap_or_default(),
            reason,
        };
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("odcs-rs/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &settings.server_ca {
            let certificate = std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|pem| reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string()))
                .map_err(|e| setup(format!("{}: {e}", path.display())))?;
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder.build().map_err(|e| setup(error_chain(&e)))?;
        Ok(PackageStore { settings, http })
    }

    /// The cache directory downloads go to.
    pub fn cache_root(&self) -> PathBuf {
        self.settings.cache_dir.join(CACHE_SUBDIR)
    }

    /// The file `relative` below `build`'s directory (a module build's
    /// `files/module/modulemd.x86_64.txt`, say), read from the top directory or downloaded;
    /// `None` when storage has no such file. Files larger than `max_bytes` are refused.
    pub fn build_file(
        &self,
        build: &BuildInfo,
        relative: &str,
        max_bytes: u64,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let path = format!("{}/{relative}", build.directory());
        if let Some(topdir) = &self.settings.topdir {
            let local = topdir.join(&path);
            if local.is_file() {
                return crate::repodata::compress::read_limited(&local, max_bytes)
                    .map(Some)
                    .map_err(|source| StorageError::Io {
                        path: local,
                        source,
                    });
            }
        }
        let Some(base) = self.settings.topurl.as_deref() else {
            return match self.settings.topdir {
                Some(_) => Ok(None),
                None => Err(StorageError::NotConfigured),
            };
        };
        let url = format!("{}/{path}", base.trim_end_matches('/'));
        let download = |reason: String| StorageError::Download {
            url: url.clone(),
            reason,
        };
        let mut wait = self.settings.backoff;
        let mut last = String::new();
        for attempt in 1..=self.settings.attempts.max(1) {
            if attempt > 1 {
                crate::cancel::sleep_before_retry(wait).map_err(|cause| StorageError::Stopped {
                    cause,
                    last: last.clone(),
                })?;
                wait = wait.saturating_mul(2);
            }
            let response = match self.http.get(&url).send() {
                Ok(response) => response,
                Err(e) => {
                    last = error_chain(&e);
                    continue;
                }
            };
            let status = response.status();
            if status == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !status.is_success() {
                last = format!("HTTP {status}");
                continue;
            }
            let mut body = Vec::new();
            let read = std::io::Read::read_to_end(
                &mut std::io::Read::take(response, max_bytes.saturating_add(1)),
                &mut body,
            );
            match read {
                Ok(_) if body.len() as u64 > max_bytes => {
                    return Err(download(format!("more than {max_bytes} bytes")));
                }
                Ok(_) => return Ok(Some(body)),
                Err(e) => last = e.to_string(),
            }
        }
        Err(download(last))
    }

    /// Local files for every wanted RPM: in place under the top directory when it has them,
    /// else from the cache, downloading what it lacks.
    pub fn fetch(&self, wanted: &[WantedRpm]) -> Result<Fetched, StorageError> {
        if self.settings.topdir.is_none() && self.settings.topurl.is_none() {
            return Err(StorageError::NotConfigured);
        }
        let mut paths: Vec<Option<PathBuf>> = vec![None; wanted.len()];
        let mut missing = Vec::new();
        let mut hits = 0;
        for (i, w) in wanted.iter().enumerate() {
            let relative = w.rpm.path(&w.build, w.sigkey.as_deref());
            if let Some(topdir) = &self.settings.topdir {
                let local = topdir.join(&relative);
                if local.is_file() {
                    paths[i] = Some(local);
                    continue;
                }
                if self.settings.topurl.is_none() {
                    return Err(StorageError::Missing {
                        nvra: w.rpm.nvra(),
                        location: local.display().to_string(),
                    });
                }
            }
            let cached = self.cached_path(w);
            if cached.is_file() {
                touch(&cached);
                paths[i] = Some(cached);
                hits += 1;
            } else {
                missing.push(i);
            }
        }
        if let Some(metrics) = crate::metrics::metrics() {
            metrics.looked_up(crate::metrics::Cache::KojiRpms, hits, missing.len());
        }
        let downloaded = self.download_all(wanted, &missing)?;
        let mut fetched = Fetched {
            downloaded: downloaded.len(),
            ..Fetched::default()
        };
        for (i, (path, size)) in downloaded {
            fetched.bytes += size;
            paths[i] = Some(path);
        }
        fetched.paths = paths.into_iter().flatten().collect();
        Ok(fetched)
    }

    /// Where the cache keeps `w`: by signing key and Koji's payload hash, under its file name.
    fn cached_path(&self, w: &WantedRpm) -> PathBuf {
        let content = if w.rpm.payloadhash.is_empty() {
            format!("rpm-{}", w.rpm.id)
        } else {
            w.rpm.payloadhash.to_ascii_lowercase()
        };
        self.cache_root()
            .join(w.sigkey.as_deref().unwrap_or("unsigned"))
            .join(content)
            .join(format!("{}.rpm", w.rpm.nvra()))
    }

    /// Downloads `indices` of `wanted` with a bounded pool of threads; stops at the first
    /// failure.
    fn download_all(
        &self,
        wanted: &[WantedRpm],
        indices: &[usize],
    ) -> Result<Vec<Downloaded>, StorageError> {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results = Mutex::new(Vec::with_capacity(indices.len()));
        let first_error: Mutex<Option<StorageError>> = Mutex::new(None);
        let threads = self.settings.parallel.clamp(1, 64).min(indices.len());
        // Download threads stop with the compose that started them.
        let cancel = crate::cancel::current();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let _current = cancel.as_ref().map(crate::cancel::Cancel::enter);
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            return;
                        }
                        if let Some(Err(cause)) = cancel.as_ref().map(crate::cancel::Cancel::check)
                        {
                            failed.store(true, Ordering::Relaxed);
                            lock(&first_error).get_or_insert(StorageError::Stopped {
                                cause,
                                last: "no download failed".into(),
                            });
                            return;
                        }
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = indices.get(n) else { return };
                        match self.download(&wanted[i]) {
                            Ok(done) => {
                                if let Some(metrics) = crate::metrics::metrics() {
                                    metrics.downloaded("package", done.1);
                                }
                                lock(&results).push((i, done));
                            }
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                lock(&first_error).get_or_insert(e);
                                return;
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = lock(&first_error).take() {
            return Err(e);
        }
        let downloaded = results
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(downloaded)
    }

    /// Downloads one file into the cache, verified; retries transport errors and mismatches.
    fn download(&self, w: &WantedRpm) -> Result<(PathBuf, u64), StorageError> {
        let base = self.settings.topurl.as_deref().unwrap_or_default();
        let url = format!(
            "{}/{}",
            base.trim_end_matches('/'),
            w.rpm.path(&w.build, w.sigkey.as_deref())
        );
        let dest = self.cached_path(w);
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let partial = dir.join(format!(
            ".{}.part-{}-{:?}",
            w.rpm.nvra(),
            std::process::id(),
            std::thread::current().id()
        ));
        let attempts = self.settings.attempts.max(1);
        let mut wait = self.settings.backoff;
        let mut last: Option<StorageError> = None;
        for attempt in 1..=attempts {
            if attempt > 1 {
                if let Err(cause) = crate::cancel::sleep_before_retry(wait) {
                    return Err(StorageError::Stopped {
                        cause,
                        last: last.map(|e| e.to_string()).unwrap_or_default(),
                    });
                }
                wait = wait.saturating_mul(2);
            }
            let outcome = self
                .get_to(&url, &partial, &w.rpm.nvra())
                .and_then(|size| verify(w, &url, &partial).map(|()| size));
            match outcome {
                Ok(size) => {
                    std::fs::rename(&partial, &dest).map_err(|source| StorageError::Io {
                        path: dest.clone(),
                        source,
                    })?;
                    return Ok((dest, size));
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    if matches!(e, StorageError::Missing { .. } | StorageError::Io { .. }) {
                        return Err(e);
                    }
                    tracing::warn!(url = %url, attempt, error = %e, "download failed");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(StorageError::Download {
            url,
            reason: "no attempt made".into(),
        }))
    }

    /// Streams `url` (the file of `nvra`) into `path`; the number of bytes written.
    fn get_to(&self, url: &str, path: &Path, nvra: &str) -> Result<u64, StorageError> {
        let download = |reason: String| StorageError::Download {
            url: url.to_owned(),
            reason,
        };
        let mut response = self
            .http
            .get(url)
            .send()
            .map_err(|e| download(error_chain(&e)))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(StorageError::Missing {
                nvra: nvra.to_owned(),
                location: url.to_owned(),
            });
        }
        if !status.is_success() {
            return Err(download(format!("HTTP {status}")));
        }
        let io = |source| StorageError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = std::fs::File::create(path).map_err(io)?;
        let size = response
            .copy_to(&mut file)
            .map_err(|e| download(error_chain(&e)))?;
        file.sync_all().map_err(io)?;
        Ok(size)
    }
}

/// Checks a downloaded file against Koji's record: the same NVRA; the MD5 of its header and
/// payload, computed, equal to Koji's payload hash (and to what its signature header says);
/// the unsigned file's size, or for a signed copy the size of its header and payload; the
/// signing key.
fn verify(w: &WantedRpm, url: &str, path: &Path) -> Result<(), StorageError> {
    let mismatch = |reason: String| StorageError::Mismatch {
        nvra: w.rpm.nvra(),
        url: url.to_owned(),
        reason,
    };
    let identity = read_identity(path).map_err(|e| mismatch(e.to_string()))?;
    if identity.nvra != w.rpm.nvra() {
        return Err(mismatch(format!("the file is {}", identity.nvra)));
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let computed = header_and_payload_md5(path, identity.header_start)
        .map_err(|e| mismatch(format!("cannot read it back: {e}")))?;
    if !w.rpm.payloadhash.is_empty() && !computed.eq_ignore_ascii_case(&w.rpm.payloadhash) {
        return Err(mismatch(format!(
            "header and payload MD5 {computed}, Koji recorded {}",
            w.rpm.payloadhash
        )));
    }
    if let Some(sigmd5) = &identity.sigmd5 {
        if !sigmd5.eq_ignore_ascii_case(&computed) {
            return Err(mismatch(format!(
                "its signature header says MD5 {sigmd5}, its content has {computed}"
            )));
        }
    }
    match &w.sigkey {
        None => {
            if i64::try_from(size).ok() != Some(w.rpm.size) {
                return Err(mismatch(format!(
                    "{size} bytes, Koji recorded {}",
                    w.rpm.size
                )));
            }
        }
        Some(key) => {
            if identity.sigkey.as_deref() != Some(key.as_str()) {
                return Err(mismatch(format!(
                    "signed with {}, expected {key}",
                    identity.sigkey.as_deref().unwrap_or("no key")
                )));
            }
            // Signing changes only the signature header: what follows it is the unsigned
            // file's, which is longer by its own lead and signature header.
            let content = size.saturating_sub(identity.header_start);
            let unsigned = u64::try_from(w.rpm.size).unwrap_or(0);
            if w.rpm.size > 0 && content >= unsigned {
                return Err(mismatch(format!(
                    "its header and payload take {content} bytes, more than the {unsigned} \
                     bytes of the whole unsigned file"
                )));
            }
        }
    }
    Ok(())
}

/// The MD5 of the bytes of `path` from `start` to the end: an RPM's header and payload.
fn header_and_payload_md5(path: &Path, start: u64) -> std::io::Result<String> {
    use md5::{Digest, Md5};
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut hash = Md5::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex::encode(hash.finalize()))
}

/// Marks a cached file used now: eviction goes by last use.
fn touch(path: &Path) {
    if let Ok(file) = std::fs::OpenOptions::new().write(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a pruning pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Files removed.
    pub files: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// Removes cached packages unused for `max_age`, then the least recently used until the cache
/// holds at most `max_bytes`, and leftover partial downloads older than an hour. A file used
/// within `protect` (a running compose may be about to place it) is never removed. Composes
/// keep their own hard links, so pruning never breaks a finished one.
pub fn prune(
    root: &Path,
    max_bytes: u64,
    max_age: Duration,
    protect: Duration,
) -> std::io::Result<Pruned> {
    let now = SystemTime::now();
    let mut files = Vec::new();
    collect_files(root, &mut files)?;
    let mut pruned = Pruned::default();
    let mut kept = Vec::new();
    let mut total = 0u64;
    for (path, size, used) in files {
        let unused = now.duration_since(used).unwrap_or_default();
        let partial = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(".part-"));
        let expired = unused > max_age.max(protect)
            || (partial && unused > Duration::from_secs(3600).max(protect));
        if expired {
            if remove(&path)? {
                pruned.files += 1;
                pruned.bytes += size;
            }
        } else if !partial {
            total += size;
            kept.push((path, size, used, unused));
        }
    }
    kept.sort_by_key(|(_, _, used, _)| *used);
    for (path, size, _, unused) in kept {
        if total <= max_bytes {
            break;
        }
        if unused <= protect {
            continue;
        }
        if remove(&path)? {
            pruned.files += 1;
            pruned.bytes += size;
            total -= size;
        }
    }
    Ok(pruned)
}

fn remove(path: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                // Only succeeds when the directory is empty.
                let _ = std::fs::remove_dir(dir);
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn collect_files(dir: &Path, out: &mut Vec<(PathBuf, u64, SystemTime)>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(&entry.path(), out)?;
        } else if kind.is_file() {
            let meta = entry.metadata()?;
            out.push((entry.path(), meta.len(), meta.modified()?));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &Path, bytes: usize, age: Duration) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, vec![0u8; bytes]).expect("write");
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .expect("open");
        f.set_modified(SystemTime::now() - age).expect("mtime");
    }

    #[test]
    fn prune_removes_old_files_then_oldest_until_small_enough() {
        let root = std::env::temp_dir().join(format!("odcs-prune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let day = Duration::from_secs(86_400);
        file(&root.join("unsigned/aa/old.rpm"), 10, day * 30);
        file(&root.join("unsigned/bb/older.rpm"), 100, day * 3);
        file(&root.join("unsigned/cc/newer.rpm"), 100, day);
        file(&root.join("unsigned/dd/new.rpm"), 100, Duration::ZERO);
        file(&root.join("unsigned/dd/.x.part-1-2"), 5, day);
        let pruned = prune(&root, 250, day * 7, Duration::from_secs(3600)).expect("prunes");
        assert_eq!(pruned.files, 3);
        assert_eq!(pruned.bytes, 115);
        assert!(
            !root.join("unsigned/aa").exists(),
            "empty directories go too"
        );
        assert!(!root.join("unsigned/bb/older.rpm").exists());
        assert!(root.join("unsigned/cc/newer.rpm").exists());
        assert!(root.join("unsigned/dd/new.rpm").exists());

        // A file a running compose used moments ago stays, whatever the size limit.
        let pruned = prune(&root, 0, day * 7, Duration::from_secs(3600)).expect("prunes");
        assert_eq!(pruned.files, 1, "only the day-old file goes");
        assert!(root.join("unsigned/dd/new.rpm").exists());
        let _ = std::fs::remove_dir_all(&root);
    }
}
