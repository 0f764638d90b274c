//! Repository metadata (repodata/) for a set of packages, meaning what createrepo_c 0.17
//! writes for them.
//!
//! Packages are read, hashed and rendered on all cores in bounded chunks; their XML is cut into
//! content-defined blocks ([`blocks`]), compressed in parallel and streamed in order into the
//! three files while their checksums are computed. Nothing holds more than about one chunk of
//! packages, so memory stays flat for any repository size. With a [`PackageCache`], packages
//! seen before (same file, same location) are not read again, and blocks compressed before are
//! not compressed again.
//!
//! Why not `rpmrepo_metadata`: its writer takes a whole in-memory `Repository` (every package
//! with its file list held at once), its package loader reads each file twice (header, then
//! checksum) and panics on non-UTF-8 paths, and it cannot emit per-package XML for a cache.
//! We use the `rpm` crate it builds on for headers, and `quick-xml` for escaping and parsing.

pub mod block_files;
pub mod blocks;
pub mod cache;
pub mod compress;
pub mod extra;
pub mod repomd;
mod stream;
pub mod xml;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::checksum::{FileDigest, Sha256};
use rayon::prelude::*;
use thiserror::Error;

use crate::durable::{is_transient_io, sync_dir, write_synced, WriteError};
use crate::package::{read_package, read_package_hashed, PackageSummary, ReadError};
use block_files::{BlockXml, Form};
pub use cache::{CacheKey, CacheWrite, CachedBlock, CachedPackage, PackageCache};
pub use compress::Compression;
pub use extra::ExtraMetadata;
pub use repomd::RepomdRecord;
use xml::Document;

/// The largest repomd.xml read (they are a few KB).
pub const MAX_REPOMD_BYTES: u64 = 1024 * 1024;

/// The largest metadata file read or decompressed where no configuration says otherwise
/// (`createrepo` on a trusted directory).
pub const MAX_METADATA_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Packages processed together; bounds memory to this many packages' metadata.
const CHUNK: usize = 64;

/// Why repodata could not be written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RepodataError {
    /// A package file could not be read.
    #[error(transparent)]
    Package(#[from] ReadError),
    /// Writing the metadata failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What the filesystem said.
        #[source]
        source: std::io::Error,
    },
    /// A block's XML could not be read back from the package cache.
    #[error("cannot read cached repodata: {0}")]
    CacheRead(#[source] std::io::Error),
    /// Extra metadata (modules, comps) from the source could not be carried over.
    #[error("cannot carry {kind} metadata from {path}: {reason}")]
    Extra {
        /// The record type.
        kind: String,
        /// The source file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl From<WriteError> for RepodataError {
    fn from(e: WriteError) -> Self {
        RepodataError::Write {
            path: e.path,
            source: e.source,
        }
    }
}

impl RepodataError {
    /// Whether trying again later may succeed (the disk was full, a device failed), unlike a
    /// package that is not an RPM.
    pub fn is_transient(&self) -> bool {
        match self {
            RepodataError::Package(ReadError::Io { source, .. })
            | RepodataError::Write { source, .. }
            | RepodataError::CacheRead(source) => is_transient_io(source),
            _ => false,
        }
    }
}

/// One package to list: its file, and its location relative to the repository root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInput {
    /// The file to read.
    pub path: PathBuf,
    /// The `location href` (relative to the repository root).
    pub href: String,
    /// The file's identity as the caller already stat-ed it (a directory scan does, relative
    /// to the directory it reads, which costs less than a `stat` of the whole path later);
    /// `None` to have the run stat it.
    pub stat: Option<FileStat>,
}

/// What a `stat` of a package file tells that the run uses: its size, and the identity (device,
/// inode, modification time) that keys the package cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// The device holding the file.
    pub dev: u64,
    /// The file's inode.
    pub ino: u64,
    /// The file's size in bytes.
    pub size: u64,
    /// The modification time: seconds since the epoch.
    pub mtime: i64,
    /// The modification time: nanoseconds past `mtime`.
    pub mtime_nsec: i64,
}

impl From<&std::fs::Metadata> for FileStat {
    fn from(meta: &std::fs::Metadata) -> FileStat {
        use std::os::unix::fs::MetadataExt;
        FileStat {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

impl FileStat {
    /// The stat of the file at `path` (following symbolic links), if it can be had.
    pub fn of(path: &Path) -> Option<FileStat> {
        std::fs::metadata(path)
            .ok()
            .map(|meta| FileStat::from(&meta))
    }
}

/// Options of one repodata run.
#[derive(Clone, Copy, Default)]
pub struct RepodataOptions<'a> {
    /// gzip (default) or zstd.
    pub compression: Compression,
    /// The repomd revision and record timestamps; the same revision and inputs give
    /// byte-identical files.
    pub revision: u64,
    /// Cache of packages seen before.
    pub cache: Option<&'a PackageCache>,
    /// How package files are hashed.
    pub hashing: FileHashing,
}

/// How package files are hashed: the same digests either way, at different speeds per CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FileHashing {
    /// Whichever is faster on this CPU ([`crate::checksum::lockstep_preferred`]).
    #[default]
    Fastest,
    /// Each file as it is read, one per thread, through OpenSSL.
    OneAtATime,
    /// Every file to read, before reading, eight per core in lockstep lanes where the CPU has
    /// AVX2 (one at a time elsewhere).
    Lockstep,
}

impl FileHashing {
    fn lockstep(self) -> bool {
        match self {
            FileHashing::Fastest => crate::checksum::lockstep_preferred(),
            FileHashing::OneAtATime => false,
            #[cfg(target_arch = "x86_64")]
            FileHashing::Lockstep => crate::checksum::lanes::available(),
            #[cfg(not(target_arch = "x86_64"))]
            FileHashing::Lockstep => false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repodata {
    /// How many packages are listed.
    pub listed: usize,
    /// The repomd.xml records.
    pub records: Vec<RepomdRecord>,
    /// How many packages were read (not found in the cache).
    pub read: usize,
    /// How many blocks the documents were cut into ([`blocks`]).
    pub blocks: usize,
    /// How many of them came whole from the cache.
    pub blocks_cached: usize,
}

/// A document being written: the file and the checksums of what went in and out.
struct DocumentWriter {
    doc: Document,
    compression: Compression,
    path: PathBuf,
    file: BufWriter<File>,
    packed_hash: Sha256,
    raw_hash: Sha256,
    /// The CRC-32 of what went in, for gzip's trailer.
    raw_crc: Option<crc32fast::Hasher>,
    packed_size: u64,
    raw_size: u64,
}

impl DocumentWriter {
    fn create(dir: &Path, doc: Document, compression: Compression) -> Result<Self, RepodataError> {
        let path = dir.join(format!("{}.xml{}.tmp", doc.name(), compression.suffix()));
        let file = File::create(&path).map_err(|source| RepodataError::Write {
            path: path.clone(),
            source,
        })?;
        let mut writer = DocumentWriter {
            doc,
            compression,
            path,
            file: BufWriter::with_capacity(128 << 10, file),
            packed_hash: Sha256::new(),
            raw_hash: Sha256::new(),
            raw_crc: (!compression.file_start().is_empty()).then(crc32fast::Hasher::new),
            packed_size: 0,
            raw_size: 0,
        };
        writer.push_packed(compression.file_start())?;
        Ok(writer)
    }

    /// Appends a segment that is not a block (the header or the footer), compressed here.
    fn push_segment(&mut self, raw: &[u8], last: bool) -> Result<(), RepodataError> {
        // Neither refers back into what came before.
        let packed = self.compression.pack_segment(raw, &[], last);
        self.take_raw(raw);
        self.push_packed(&packed)
    }

    /// Counts `raw` into the document's checksums and size.
    fn take_raw(&mut self, raw: &[u8]) {
        self.raw_hash.update(raw);
        if let Some(crc) = &mut self.raw_crc {
            crc.update(raw);
        }
        self.raw_size += raw.len() as u64;
    }

    /// Appends document `doc` of a block.
    fn push_block(&mut self, xml: &BlockXml, doc: usize) -> Result<(), RepodataError> {
        xml.each_piece(Form::Raw, doc, |piece| {
            self.take_raw(piece);
            Ok(())
        })
        .map_err(RepodataError::CacheRead)?;
        let mut failed = None;
        xml.each_piece(Form::Packed, doc, |piece| {
            self.push_packed(piece).map_err(|e| {
                failed = Some(e);
                std::io::Error::other("write failed")
            })
        })
        .map_err(|e| failed.take().unwrap_or(RepodataError::CacheRead(e)))
    }

    fn push_packed(&mut self, packed: &[u8]) -> Result<(), RepodataError> {
        self.packed_hash.update(packed);
        self.packed_size += packed.len() as u64;
        self.file
            .write_all(packed)
            .map_err(|source| RepodataError::Write {
                path: self.path.clone(),
                source,
            })
    }

    /// Writes the footer, closes the file, names it by its checksum and returns its record.
    fn finish(mut self, revision: u64) -> Result<RepomdRecord, RepodataError> {
        self.push_segment(self.doc.footer(), true)?;
        let crc = self.raw_crc.take().map_or(0, crc32fast::Hasher::finalize);
        self.push_packed(&self.compression.file_end(crc, self.raw_size))?;
        let DocumentWriter {
            doc,
            compression,
            path,
            file,
            packed_hash,
            raw_hash,
            packed_size,
            raw_size,
            ..
        } = self;
        let write_err = |source| RepodataError::Write {
            path: path.clone(),
            source,
        };
        let file = file.into_inner().map_err(|e| write_err(e.into_error()))?;
        file.sync_all().map_err(write_err)?;
        drop(file);
        let checksum = packed_hash.hex();
        let name = format!("{checksum}-{}.xml{}", doc.name(), compression.suffix());
        let final_path = path.with_file_name(&name);
        std::fs::rename(&path, &final_path).map_err(write_err)?;
        Ok(RepomdRecord {
            kind: doc.name().to_owned(),
            checksum,
            open_checksum: Some(raw_hash.hex()),
            location: format!("repodata/{name}"),
            timestamp: revision,
            size: packed_size,
            open_size: Some(raw_size),
        })
    }
}

/// A package's XML and summary, from the cache or freshly rendered.
struct Rendered {
    key: Option<CacheKey>,
    entry: CachedPackage,
    fresh: bool,
}

/// Reads, renders and compresses one package, already hashed as `hashed` if given.
fn render(input: &PackageInput, hashed: Option<&FileDigest>) -> Result<CachedPackage, ReadError> {
    let info = match hashed {
        Some(hashed) => read_package_hashed(&input.path, hashed)?,
        None => read_package(&input.path)?,
    };
    let xml = Document::ALL.map(|doc| {
        let mut raw = Vec::with_capacity(4096);
        doc.render(&info, &input.href, &mut raw);
        raw
    });
    Ok(CachedPackage {
        summary: info.summary(),
        xml,
    })
}

/// Each input's stat (`None` if it cannot be stat-ed) and, with a cache, its key; both line
/// up with the inputs.
struct Files {
    metas: Vec<Option<FileStat>>,
    keys: Vec<Option<CacheKey>>,
}

impl Files {
    /// Each input's stat: as the caller gave it, else taken now (in parallel).
    fn stat(inputs: &[PackageInput], options: &RepodataOptions<'_>) -> Files {
        let metas: Vec<Option<FileStat>> = inputs
            .par_iter()
            .map(|input| input.stat.or_else(|| FileStat::of(&input.path)))
            .collect();
        let keys = match options.cache {
            None => vec![None; inputs.len()],
            Some(_) => inputs
                .iter()
                .zip(&metas)
                .map(|(input, meta)| meta.as_ref().map(|m| CacheKey::new(m, &input.href)))
                .collect(),
        };
        Files { metas, keys }
    }

    /// The size of input `i`, 0 if unknown.
    fn size(&self, i: usize) -> u64 {
        self.metas[i].map_or(0, |stat| stat.size)
    }
}

/// Hashes ahead, when [`FileHashing`] says to, the packages among `candidates` (indices into
/// `inputs`, asked for only then) that the cache will not supply, but for any too big to
/// share a lane ([`crate::checksum::files::lane_share`]); the digests (a hundred bytes per
/// package) line up with `inputs`, `None` where the package is left to be hashed as it is
/// read.
fn prehash(
    inputs: &[PackageInput],
    files: &Files,
    candidates: impl FnOnce() -> Vec<usize>,
    options: &RepodataOptions<'_>,
) -> Vec<Option<FileDigest>> {
    if inputs.is_empty() || !options.hashing.lockstep() {
        return vec![None; inputs.len()];
    }
    hash_ahead(inputs, files, &candidates(), options)
}

/// [`prehash`]'s work, where the lanes exist.
#[cfg(target_arch = "x86_64")]
fn hash_ahead(
    inputs: &[PackageInput],
    files: &Files,
    candidates: &[usize],
    options: &RepodataOptions<'_>,
) -> Vec<Option<FileDigest>> {
    let mut digests = vec![None; inputs.len()];
    let cached = match options.cache {
        None => Default::default(),
        Some(cache) => {
            let keys: Vec<&CacheKey> = candidates
                .iter()
                .filter_map(|i| files.keys[*i].as_ref())
                .collect();
            cache.contains_many(&keys).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "package cache lookup failed; hashing packages");
                Default::default()
            })
        }
    };
    let misses: Vec<(usize, u64)> = candidates
        .iter()
        .filter(|i| {
            let hit = files.keys[**i].as_ref().is_some_and(|k| cached.contains(k));
            !hit && files.metas[**i].is_some()
        })
        .map(|i| (*i, files.size(*i)))
        .collect();
    let share = crate::checksum::files::lane_share(misses.iter().map(|(_, size)| size).sum());
    let wanted: Vec<(usize, u64)> = misses
        .into_iter()
        .filter(|(_, size)| *size <= share)
        .collect();
    let paths: Vec<(&Path, u64)> = wanted
        .iter()
        .map(|&(i, size)| (inputs[i].path.as_path(), size))
        .collect();
    let hashed = crate::checksum::files::hash_files(&paths);
    for ((i, _), digest) in wanted.into_iter().zip(hashed) {
        digests[i] = digest;
    }
    digests
}

/// Without the lanes nothing is hashed ahead ([`FileHashing::lockstep`] is false there).
#[cfg(not(target_arch = "x86_64"))]
fn hash_ahead(
    inputs: &[PackageInput],
    _: &Files,
    _: &[usize],
    _: &RepodataOptions<'_>,
) -> Vec<Option<FileDigest>> {
    vec![None; inputs.len()]
}

/// Renders the packages `wanted` (indices into `inputs`), taking what it can from the cache;
/// the result lines up with `wanted`, and `hashed` with `inputs`.
fn render_packages(
    inputs: &[PackageInput],
    wanted: &[usize],
    files: &Files,
    hashed: &[Option<FileDigest>],
    options: &RepodataOptions<'_>,
) -> Result<Vec<Rendered>, RepodataError> {
    let mut cached: std::collections::HashMap<CacheKey, CachedPackage> = match options.cache {
        Some(cache) if !wanted.is_empty() => {
            let keys: Vec<&CacheKey> = wanted
                .iter()
                .filter_map(|i| files.keys[*i].as_ref())
                .collect();
            cache
                .get_many(&keys)
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "package cache lookup failed; reading packages");
                    Vec::new()
                })
                .into_iter()
                .collect()
        }
        _ => Default::default(),
    };
    let mut slots: Vec<Rendered> = wanted
        .iter()
        .map(|i| {
            let key = files.keys[*i].clone();
            match key.as_ref().and_then(|k| cached.remove(k)) {
                Some(entry) => Rendered {
                    key,
                    entry,
                    fresh: false,
                },
                None => Rendered {
                    key,
                    entry: CachedPackage {
                        summary: PackageSummary::default(),
                        xml: Default::default(),
                    },
                    fresh: true,
                },
            }
        })
        .collect();
    // Read the misses largest first, so no core is left hashing one big package alone at the
    // end of the batch; results keep their listing order.
    let mut misses: Vec<usize> = (0..wanted.len()).filter(|s| slots[*s].fresh).collect();
    misses.sort_by_key(|s| std::cmp::Reverse(files.size(wanted[*s])));
    let rendered: Vec<(usize, Result<CachedPackage, ReadError>)> = misses
        .par_iter()
        .with_max_len(1)
        .map(|s| {
            let i = wanted[*s];
            (*s, render(&inputs[i], hashed[i].as_ref()))
        })
        .collect();
    for (s, result) in rendered {
        slots[s].entry = result?;
    }
    Ok(slots)
}

/// Reads (or takes from the cache) every package of `inputs` and returns their summaries and
/// rendered metadata, leaving the metadata in the cache for the repodata runs that follow.
pub fn summarize(
    inputs: &[PackageInput],
    options: RepodataOptions<'_>,
) -> Result<Vec<CachedPackage>, RepodataError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut described = Vec::with_capacity(inputs.len());
    let files = Files::stat(inputs, &options);
    let all: Vec<usize> = (0..inputs.len()).collect();
    let hashed = prehash(inputs, &files, || all.clone(), &options);
    for chunk in all.chunks(CHUNK) {
        let rendered = render_packages(inputs, chunk, &files, &hashed, &options)?;
        let mut fresh = Vec::new();
        for item in rendered {
            if let (true, Some(key)) = (item.fresh, item.key) {
                fresh.push((key, item.entry.clone()));
            }
            described.push(item.entry);
        }
        if let Some(cache) = options.cache {
            if let Err(e) = cache.put_many(&fresh, now) {
                tracing::warn!(error = %e, "package cache not updated");
            }
        }
    }
    Ok(described)
}

/// Writes `repo_dir/repodata/` for `inputs` (listed in the given order) plus `extra` metadata,
/// replacing any repodata there. The new files are complete on disk before the old ones go.
pub fn write_repodata(
    repo_dir: &Path,
    inputs: &[PackageInput],
    extra: &[ExtraMetadata],
    options: RepodataOptions<'_>,
) -> Result<Repodata, RepodataError> {
    let result = write_repodata_in(repo_dir, inputs, extra, options);
    if result.is_err() {
        // Nothing half-written stays behind.
        let _ = std::fs::remove_dir_all(repo_dir.join(".repodata.tmp"));
    }
    result
}

fn write_repodata_in(
    repo_dir: &Path,
    inputs: &[PackageInput],
    extra: &[ExtraMetadata],
    options: RepodataOptions<'_>,
) -> Result<Repodata, RepodataError> {
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| RepodataError::Write { path, source }
    };
    let staging = repo_dir.join(".repodata.tmp");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(write_err(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(write_err(&staging))?;

    let mut writers = Document::ALL
        .map(|doc| DocumentWriter::create(&staging, doc, options.compression))
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    for writer in &mut writers {
        writer.push_segment(&writer.doc.header(inputs.len()), false)?;
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (streamed, mut records) = std::thread::scope(|scope| {
        // Cache writes go to their own thread (and connection), overlapping the work here.
        // Bounded, so a slow cache cannot make pending writes pile up in memory.
        let (tx, rx) = std::sync::mpsc::sync_channel::<CacheWrite>(2);
        if let Some(cache) = options.cache {
            scope.spawn(move || cache.store_all(rx, now));
        }
        let streamed = stream::stream_packages(inputs, &mut writers, &options, &tx)?;
        // The cache writer finishes its last writes while the documents are closed.
        drop(tx);
        // Each document's last write, fsync and rename at once: the fsyncs wait on the disk.
        let records = writers
            .into_par_iter()
            .map(|writer| writer.finish(options.revision))
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, RepodataError>((streamed, records))
    })?;
    for item in extra {
        records.extend(item.write(&staging, options.compression, options.revision)?);
    }
    let repomd = repomd::render(options.revision, &records);
    let repomd_path = staging.join("repomd.xml");
    write_synced(&repomd_path, repomd.as_bytes())?;
    sync_dir(&staging)?;

    let target = repo_dir.join("repodata");
    let old = repo_dir.join(".repodata.old");
    if target.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(write_err(&old))?;
        }
        std::fs::rename(&target, &old).map_err(write_err(&target))?;
    }
    std::fs::rename(&staging, &target).map_err(write_err(&target))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(write_err(&old))?;
    }
    sync_dir(repo_dir)?;
    Ok(Repodata {
        listed: streamed.listed,
        records,
        read: streamed.read,
        blocks: streamed.blocks,
        blocks_cached: streamed.blocks_cached,
    })
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn lockstep_hashes_ahead_what_the_cache_lacks_and_fits_a_lane() {
        if !crate::test_fixtures::lanes_available() {
            return;
        }
        let fixtures = crate::test_fixtures::fixture_repo();
        let found = crate::scan::find_packages(&fixtures).expect("scan");
        assert!(found.len() > 1, "fixture packages in {fixtures:?}");
        // Each package listed eight times: more packages than lanes, most within a lane's share.
        let inputs: Vec<PackageInput> = (0..8)
            .flat_map(|copy| {
                found.iter().map(move |p| PackageInput {
                    path: p.path.clone(),
                    href: format!("{copy}/{}", p.href),
                    stat: p.stat,
                })
            })
            .collect();
        let size = |input: &PackageInput| std::fs::metadata(&input.path).expect("stat").len();
        let options = |cache, hashing| RepodataOptions {
            compression: Compression::Gzip,
            revision: 1,
            cache,
            hashing,
        };
        let every = || (0..inputs.len()).collect::<Vec<_>>();
        let prehash_all = |options: RepodataOptions<'_>| {
            let files = Files::stat(&inputs, &options);
            prehash(&inputs, &files, every, &options)
        };
        let none = prehash_all(options(None, FileHashing::OneAtATime));
        assert!(none.iter().all(Option::is_none));

        let all = prehash_all(options(None, FileHashing::Lockstep));
        let share = crate::checksum::files::lane_share(inputs.iter().map(size).sum());
        assert!(all.iter().any(Option::is_some));
        for (input, digest) in inputs.iter().zip(&all) {
            match digest {
                Some(digest) => {
                    let read = read_package(&input.path).expect("package");
                    assert_eq!(digest.hex, read.checksum);
                }
                None => assert!(size(input) > share, "{input:?} not hashed ahead"),
            }
        }

        // A cached package is neither hashed again nor counted in the share.
        let cache = PackageCache::in_memory().expect("cache");
        let first = &inputs[0];
        let key = CacheKey::new(&FileStat::of(&first.path).expect("stat"), &first.href);
        let entry = render(first, None).expect("render");
        cache.put_many(&[(key, entry)], 0).expect("put");
        let rest = prehash_all(options(Some(&cache), FileHashing::Lockstep));
        assert!(rest[0].is_none());
        let share = crate::checksum::files::lane_share(inputs[1..].iter().map(size).sum());
        for (input, digest) in inputs[1..].iter().zip(&rest[1..]) {
            assert_eq!(digest.is_some(), size(input) <= share, "{input:?}");
        }
    }
}
