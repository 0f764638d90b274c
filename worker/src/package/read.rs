//! One pass over one RPM file: header fields through the `rpm` crate, SHA-256 of the bytes.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use crate::checksum::{FileDigest, Sha256};
use rpm::{IndexSignatureTag, IndexTag};
use thiserror::Error;

use super::bounds::check_header_sizes;
use super::deps::{filter_requires, is_primary_file, Dependency, RawDeps};
use super::{ChangelogEntry, FileKind, PackageFile, PackageInfo};

/// How many changelog entries repodata keeps per package (createrepo_c's default).
pub const CHANGELOG_LIMIT: usize = 10;

/// Why a file could not be read as a package.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened or mapped.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the filesystem said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an RPM, or is truncated or corrupt.
    #[error("{path} is not a valid RPM package: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl ReadError {
    /// Turns what the filesystem said about reading `path` into an error naming it.
    fn io(path: &Path) -> impl Fn(std::io::Error) -> ReadError + Copy + '_ {
        move |source| ReadError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// Turns why `path` is not a valid package into an error naming it.
    fn invalid(path: &Path) -> impl Fn(String) -> ReadError + Copy + '_ {
        move |reason| ReadError::Invalid {
            path: path.to_owned(),
            reason,
        }
    }
}

const RPMFILE_GHOST: u32 = 1 << 6;
const S_IFMT: u16 = 0o170000;
const S_IFDIR: u16 = 0o040000;

/// How much of a file is read at a time: the header is parsed from the first window and every
/// window is hashed as it is read, so memory stays flat however big packages are. Files are
/// read, not mapped: a file truncated underneath is a read error naming it, not a SIGBUS.
const WINDOW: usize = 1024 * 1024;

thread_local! {
    /// Each thread's read window, reused and never zeroed: a new zeroed MiB for every package
    /// cost a memset of it and the page faults of fresh memory, 6% of a fresh run.
    static WINDOW_BUFFER: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(WINDOW));
}

/// Runs `parse` on `rpm`'s header parser, turning a panic inside it (malformed headers can make
/// the `rpm` crate index out of bounds) into a reason.
fn guarded<T>(parse: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!("its header is malformed ({what})"))
    })
}

/// Reads the next `limit` bytes into `buf`, replacing what it held, fewer only at the end of
/// the file. Read into the buffer's spare capacity as it is, not zeroed first.
fn read_window(file: &mut File, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<usize> {
    buf.clear();
    file.take(limit as u64).read_to_end(buf)
}

/// How much of an already hashed file is read for its header at first (most headers fit).
const HEADER_WINDOW: usize = 64 * 1024;

/// Reads the package at `path`: its header, its file list and its checksum.
///
/// The file is read once, front to back. Its modification time becomes `time_file`, as
/// createrepo_c records it. A malformed, truncated or changing file is an error naming it.
pub fn read_package(path: &Path) -> Result<PackageInfo, ReadError> {
    read_package_with(path, None)
}

/// Reads the package at `path` whose bytes were already hashed as `hashed` (see
/// [`crate::checksum::files`]): only its header is read. A file that is no longer the one
/// hashed (another size or modification time) is read whole, as [`read_package`] does.
pub fn read_package_hashed(path: &Path, hashed: &FileDigest) -> Result<PackageInfo, ReadError> {
    read_package_with(path, Some(hashed))
}

fn read_package_with(path: &Path, hashed: Option<&FileDigest>) -> Result<PackageInfo, ReadError> {
    let (io, invalid) = (ReadError::io(path), ReadError::invalid(path));
    let mut file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(invalid("not a regular file".into()));
    }
    let size = meta.len();
    let time_file = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    if size == 0 {
        return Err(invalid("the file is empty".into()));
    }
    check_header_sizes(&mut file, size).map_err(invalid)?;
    file.rewind().map_err(io)?;
    let hashed = hashed.filter(|h| h.size == size && h.modified == meta.modified().ok());
    WINDOW_BUFFER.with(|cell| {
        let wanted = if hashed.is_some() {
            HEADER_WINDOW
        } else {
            WINDOW
        };
        read_opened(
            path,
            file,
            size,
            time_file,
            hashed,
            wanted,
            &mut cell.borrow_mut(),
        )
    })
}

/// [`read_package_with`] once the file is open and checked, reading through `buf`.
fn read_opened(
    path: &Path,
    mut file: File,
    size: u64,
    time_file: u64,
    hashed: Option<&FileDigest>,
    wanted: usize,
    buf: &mut Vec<u8>,
) -> Result<PackageInfo, ReadError> {
    let (io, invalid) = (ReadError::io(path), ReadError::invalid(path));
    let first = read_window(&mut file, buf, wanted).map_err(io)?;
    let pkg = guarded(|| {
        match rpm::PackageMetadata::parse(&mut std::io::Cursor::new(&buf[..first])) {
            Ok(pkg) => Ok(pkg),
            // A header longer than the first window: parse it from the file instead.
            Err(_) if first == wanted => {
                let reader = File::open(path).map_err(|e| e.to_string())?;
                rpm::PackageMetadata::parse(&mut std::io::BufReader::new(reader))
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    })
    .map_err(invalid)?;
    let checksum = match hashed {
        Some(hashed) => hashed.hex.clone(),
        None => hash_rest(path, &mut file, buf, first, size)?,
    };
    guarded(|| parse(&pkg, size, time_file, checksum)).map_err(invalid)
}

/// The SHA-256 of the package at `path`, `size` bytes, whose first `first` bytes are in
/// `buf`, reading the rest through `buf`.
fn hash_rest(
    path: &Path,
    file: &mut File,
    buf: &mut Vec<u8>,
    first: usize,
    size: u64,
) -> Result<String, ReadError> {
    let mut hash = Sha256::new();
    hash.update(&buf[..first]);
    let mut read = first as u64;
    loop {
        let n = read_window(file, buf, WINDOW).map_err(ReadError::io(path))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        read += n as u64;
    }
    if read != size {
        return Err(ReadError::invalid(path)(format!(
            "the file changed while it was read ({size} bytes, then {read})"
        )));
    }
    Ok(hash.hex())
}

/// Turns a parsed header into repodata's view of the package.
fn parse(
    pkg: &rpm::PackageMetadata,
    size: u64,
    time_file: u64,
    checksum: String,
) -> Result<PackageInfo, String> {
    let offsets = pkg.get_package_segment_offsets();
    if offsets.payload > size {
        return Err(format!(
            "the header ends at byte {} but the file has {size} bytes",
            offsets.payload
        ));
    }
    // The signature header records the size of the header and payload: a shorter file lost
    // the end of its payload.
    let recorded = pkg
        .signature
        .get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGSIZE)
        .or_else(|_| {
            pkg.signature
                .get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_SIZE)
                .map(u64::from)
        });
    if let Ok(recorded) = recorded {
        let expected = offsets.header.saturating_add(recorded);
        if size < expected {
            return Err(format!(
                "the file is truncated: {size} bytes of the {expected} its header promises"
            ));
        }
    }
    let h = &pkg.header;
    let text = |tag: IndexTag| -> String {
        h.get_entry_data_as_string(tag)
            .or_else(|_| h.get_entry_data_as_i18n_string(tag))
            .unwrap_or_default()
            .to_owned()
    };
    let name = h
        .get_entry_data_as_string(IndexTag::RPMTAG_NAME)
        .map_err(|e| format!("no name: {e}"))?
        .to_owned();
    let is_source = pkg.is_source_package();
    let arch = if is_source {
        "src".to_owned()
    } else {
        text(IndexTag::RPMTAG_ARCH)
    };

    let files = file_list(pkg)?;
    let own_files: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();

    let provides_raw = raw_deps(
        pkg,
        IndexTag::RPMTAG_PROVIDENAME,
        IndexTag::RPMTAG_PROVIDEFLAGS,
        IndexTag::RPMTAG_PROVIDEVERSION,
    )?;
    let requires_raw = raw_deps(
        pkg,
        IndexTag::RPMTAG_REQUIRENAME,
        IndexTag::RPMTAG_REQUIREFLAGS,
        IndexTag::RPMTAG_REQUIREVERSION,
    )?;
    let (requires, legacy_recommends) = filter_requires(&requires_raw, &provides_raw, |path| {
        own_files.contains(path) && is_primary_file(path)
    });
    let list = |n, f, v| -> Result<Vec<Dependency>, String> {
        Ok(raw_deps(pkg, n, f, v)?
            .into_iter()
            .filter_map(|(name, sense, evr)| Dependency::from_header(name, sense, evr))
            .collect())
    };
    let provides = provides_raw
        .iter()
        .filter_map(|(name, sense, evr)| Dependency::from_header(name, *sense, evr))
        .collect();
    let mut recommends = list(
        IndexTag::RPMTAG_RECOMMENDNAME,
        IndexTag::RPMTAG_RECOMMENDFLAGS,
        IndexTag::RPMTAG_RECOMMENDVERSION,
    )?;
    recommends.extend(legacy_recommends);

    let epoch = h.get_entry_data_as_u32(IndexTag::RPMTAG_EPOCH).unwrap_or(0);
    Ok(PackageInfo {
        epoch,
        version: text(IndexTag::RPMTAG_VERSION),
        release: text(IndexTag::RPMTAG_RELEASE),
        summary: text(IndexTag::RPMTAG_SUMMARY),
        description: text(IndexTag::RPMTAG_DESCRIPTION),
        packager: text(IndexTag::RPMTAG_PACKAGER),
        url: text(IndexTag::RPMTAG_URL),
        time_file,
        time_build: h
            .get_entry_data_as_u32(IndexTag::RPMTAG_BUILDTIME)
            .map_or(0, u64::from),
        size_package: size,
        size_installed: h
            .get_entry_data_as_u64(IndexTag::RPMTAG_LONGSIZE)
            .or_else(|_| {
                h.get_entry_data_as_u32(IndexTag::RPMTAG_SIZE)
                    .map(u64::from)
            })
            .unwrap_or(0),
        size_archive: pkg
            .signature
            .get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE)
            .or_else(|_| {
                pkg.signature
                    .get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
                    .map(u64::from)
            })
            .or_else(|_| h.get_entry_data_as_u64(IndexTag::RPMTAG_LONGARCHIVESIZE))
            .or_else(|_| {
                h.get_entry_data_as_u32(IndexTag::RPMTAG_ARCHIVESIZE)
                    .map(u64::from)
            })
            .unwrap_or(0),
        header_start: offsets.header,
        header_end: offsets.payload,
        license: text(IndexTag::RPMTAG_LICENSE),
        vendor: text(IndexTag::RPMTAG_VENDOR),
        group: text(IndexTag::RPMTAG_GROUP),
        buildhost: text(IndexTag::RPMTAG_BUILDHOST),
        sourcerpm: if is_source {
            String::new()
        } else {
            text(IndexTag::RPMTAG_SOURCERPM)
        },
        provides,
        requires,
        conflicts: list(
            IndexTag::RPMTAG_CONFLICTNAME,
            IndexTag::RPMTAG_CONFLICTFLAGS,
            IndexTag::RPMTAG_CONFLICTVERSION,
        )?,
        obsoletes: list(
            IndexTag::RPMTAG_OBSOLETENAME,
            IndexTag::RPMTAG_OBSOLETEFLAGS,
            IndexTag::RPMTAG_OBSOLETEVERSION,
        )?,
        recommends,
        suggests: list(
            IndexTag::RPMTAG_SUGGESTNAME,
            IndexTag::RPMTAG_SUGGESTFLAGS,
            IndexTag::RPMTAG_SUGGESTVERSION,
        )?,
        supplements: list(
            IndexTag::RPMTAG_SUPPLEMENTNAME,
            IndexTag::RPMTAG_SUPPLEMENTFLAGS,
            IndexTag::RPMTAG_SUPPLEMENTVERSION,
        )?,
        enhances: list(
            IndexTag::RPMTAG_ENHANCENAME,
            IndexTag::RPMTAG_ENHANCEFLAGS,
            IndexTag::RPMTAG_ENHANCEVERSION,
        )?,
        changelogs: changelogs(pkg)?,
        sigkey: signing_key(pkg),
        checksum,
        files,
        name,
        arch,
    })
}

/// The (name, flags, version) triples of one dependency tag; absent tags are empty.
fn raw_deps(
    pkg: &rpm::PackageMetadata,
    names: IndexTag,
    flags: IndexTag,
    versions: IndexTag,
) -> Result<RawDeps<'_>, String> {
    let h = &pkg.header;
    let Ok(names) = h.get_entry_data_as_string_array(names) else {
        return Ok(Vec::new());
    };
    let flags = h.get_entry_data_as_u32_array(flags).unwrap_or_default();
    let versions = h
        .get_entry_data_as_string_array(versions)
        .unwrap_or_default();
    if flags.len() != names.len() || versions.len() != names.len() {
        return Err(format!(
            "dependency tag {names:?} has {} names, {} flags and {} versions",
            names.len(),
            flags.len(),
            versions.len()
        ));
    }
    Ok(names
        .into_iter()
        .zip(flags)
        .zip(versions)
        .map(|((n, f), v)| (n, f, v))
        .collect())
}

/// The file list in header order, with directories and ghosts marked.
fn file_list(pkg: &rpm::PackageMetadata) -> Result<Vec<PackageFile>, String> {
    let h = &pkg.header;
    let Ok(basenames) = h.get_entry_data_as_string_array(IndexTag::RPMTAG_BASENAMES) else {
        return Ok(Vec::new());
    };
    let dirnames = h
        .get_entry_data_as_string_array(IndexTag::RPMTAG_DIRNAMES)
        .map_err(|e| format!("file list without directories: {e}"))?;
    let indexes = h
        .get_entry_data_as_u32_array(IndexTag::RPMTAG_DIRINDEXES)
        .map_err(|e| format!("file list without directory indexes: {e}"))?;
    let modes = h
        .get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES)
        .unwrap_or_default();
    let flags = h
        .get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEFLAGS)
        .unwrap_or_default();
    if indexes.len() != basenames.len() {
        return Err("file list arrays differ in length".into());
    }
    basenames
        .iter()
        .enumerate()
        .map(|(i, base)| {
            let dir = dirnames
                .get(indexes[i] as usize)
                .ok_or_else(|| format!("file {base} names a missing directory"))?;
            let kind = if flags.get(i).is_some_and(|f| f & RPMFILE_GHOST != 0) {
                FileKind::Ghost
            } else if modes.get(i).is_some_and(|m| m & S_IFMT == S_IFDIR) {
                FileKind::Dir
            } else {
                FileKind::File
            };
            Ok(PackageFile {
                path: format!("{dir}{base}"),
                kind,
            })
        })
        .collect()
}

/// The newest changelog entries, oldest first, with createrepo_c's adjustments: trailing
/// spaces trimmed from authors, and an entry sharing its date with the next newer one moved a
/// second later (repeatedly), so dates stay distinct.
fn changelogs(pkg: &rpm::PackageMetadata) -> Result<Vec<ChangelogEntry>, String> {
    let h = &pkg.header;
    let (Ok(times), Ok(names), Ok(texts)) = (
        h.get_entry_data_as_u32_array(IndexTag::RPMTAG_CHANGELOGTIME),
        h.get_entry_data_as_string_array(IndexTag::RPMTAG_CHANGELOGNAME),
        h.get_entry_data_as_string_array(IndexTag::RPMTAG_CHANGELOGTEXT),
    ) else {
        return Ok(Vec::new());
    };
    // Header order is newest first; build oldest-first by prepending, as createrepo_c does.
    let mut entries: std::collections::VecDeque<ChangelogEntry> = std::collections::VecDeque::new();
    let mut last_time: u64 = 0;
    for ((time, name), text) in times
        .into_iter()
        .zip(names)
        .zip(texts)
        .take(CHANGELOG_LIMIT)
    {
        let time = u64::from(time);
        entries.push_front(ChangelogEntry {
            author: name.trim_end_matches(' ').to_owned(),
            date: time,
            text: text.to_owned(),
        });
        if last_time == time {
            for (bumped, previous) in (time..).zip(entries.iter_mut().skip(1)) {
                if previous.date != bumped {
                    break;
                }
                previous.date += 1;
            }
        } else {
            last_time = time;
        }
    }
    Ok(entries.into())
}

/// What identifies a package file's content, read from its headers alone: enough to check a
/// downloaded file against what a build system recorded for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderIdentity {
    /// `name-version-release.arch`, with `src` as the arch of source packages.
    pub nvra: String,
    /// MD5 of header and payload (the signature header's MD5), lower-case hex, when present.
    pub sigmd5: Option<String>,
    /// The short ID of the signing key, lower-case hex, when signed.
    pub sigkey: Option<String>,
    /// Where the header starts (after the lead and the signature header).
    pub header_start: u64,
}

/// Reads the identity of the package at `path` (its headers only).
pub fn read_identity(path: &Path) -> Result<HeaderIdentity, ReadError> {
    let (io, invalid) = (ReadError::io(path), ReadError::invalid(path));
    let mut file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    check_header_sizes(&mut file, size).map_err(invalid)?;
    file.rewind().map_err(io)?;
    guarded(|| {
        let pkg = rpm::PackageMetadata::parse(&mut std::io::BufReader::new(file))
            .map_err(|e| e.to_string())?;
        let arch = if pkg.is_source_package() {
            "src"
        } else {
            pkg.get_arch().map_err(|e| e.to_string())?
        };
        Ok(HeaderIdentity {
            nvra: format!(
                "{}-{}-{}.{arch}",
                pkg.get_name().map_err(|e| e.to_string())?,
                pkg.get_version().map_err(|e| e.to_string())?,
                pkg.get_release().map_err(|e| e.to_string())?
            ),
            sigmd5: pkg
                .signature
                .get_entry_data_as_binary(IndexSignatureTag::RPMSIGTAG_MD5)
                .ok()
                .map(hex::encode),
            sigkey: signing_key(&pkg),
            header_start: pkg.get_package_segment_offsets().header,
        })
    })
    .map_err(invalid)
}

/// The short ID of the key that signed the header, lower-case hex.
fn signing_key(pkg: &rpm::PackageMetadata) -> Option<String> {
    let signatures = pkg.signatures().ok()?;
    signatures
        .iter()
        .find_map(|s| s.key_id().map(str::to_owned))
        .map(|id| {
            let id = id.to_ascii_lowercase();
            let start = id.len().saturating_sub(8);
            id[start..].to_owned()
        })
}
