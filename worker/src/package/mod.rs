//! Reading RPM packages: everything repository metadata needs, from one pass over the file.
//!
//! Headers are parsed with the `rpm` crate; the file is memory-mapped once and the same bytes
//! feed both the header parser and SHA-256, so each package is read exactly once.

mod bounds;
mod deps;
mod read;
pub mod sigkey;

pub use deps::{is_primary_file, Dependency, DependencyKind};
pub use read::{read_identity, read_package, read_package_hashed, HeaderIdentity, ReadError};

/// What composes need to know of a package besides its repodata: identity, where it goes
/// (binary, debug or source tree) and its signature. Small, so it is kept for every package.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)] // fields are the package's NEVRA and header values of the same name
pub struct PackageSummary {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// Empty for source packages.
    pub sourcerpm: String,
    /// Short ID of the signing key, lower-case hex.
    pub sigkey: Option<String>,
    /// SHA-256 of the file, hex.
    pub checksum: String,
    /// File size in bytes.
    pub size: u64,
}

impl PackageSummary {
    /// Whether this is a source package.
    pub fn is_source(&self) -> bool {
        self.arch == "src"
    }

    /// Whether this is debuginfo or debugsource, which composes keep in the debug tree.
    pub fn is_debug(&self) -> bool {
        is_debug_name(&self.name)
    }

    /// `name-epoch:version-release.arch`, as rpms.json and messages name packages.
    pub fn nevra(&self) -> String {
        format!(
            "{}-{}:{}-{}.{}",
            self.name, self.epoch, self.version, self.release, self.arch
        )
    }
}

/// Whether a package name is a debuginfo or debugsource package's.
pub fn is_debug_name(name: &str) -> bool {
    name.ends_with("-debuginfo") || name.ends_with("-debugsource") || name.contains("-debuginfo-")
}

/// The kind of an entry in a package's file list, as repodata distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file, symlink or device.
    File,
    /// A directory.
    Dir,
    /// A `%ghost` file (owned, not shipped).
    Ghost,
}

/// One entry of a package's file list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    /// The full path (SRPMs: the bare file name).
    pub path: String,
    /// What it is.
    pub kind: FileKind,
}

/// One changelog entry, as createrepo_c keeps it (author trimmed, equal dates made distinct).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogEntry {
    /// Who wrote it (with the version, as RPM stores it).
    pub author: String,
    /// Seconds since the epoch.
    pub date: u64,
    /// The text.
    pub text: String,
}

/// Everything repodata says about one package file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // fields are the repodata elements of the same name
pub struct PackageInfo {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    /// `src` for source packages.
    pub arch: String,
    pub summary: String,
    pub description: String,
    pub packager: String,
    pub url: String,
    pub time_file: u64,
    pub time_build: u64,
    pub size_package: u64,
    pub size_installed: u64,
    pub size_archive: u64,
    pub header_start: u64,
    pub header_end: u64,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub buildhost: String,
    /// Empty for source packages.
    pub sourcerpm: String,
    pub provides: Vec<Dependency>,
    pub requires: Vec<Dependency>,
    pub conflicts: Vec<Dependency>,
    pub obsoletes: Vec<Dependency>,
    pub recommends: Vec<Dependency>,
    pub suggests: Vec<Dependency>,
    pub supplements: Vec<Dependency>,
    pub enhances: Vec<Dependency>,
    pub files: Vec<PackageFile>,
    /// The newest entries (at most the changelog limit), oldest first.
    pub changelogs: Vec<ChangelogEntry>,
    /// Short (8 hex digit, lower case) ID of the key that signed the header, if signed.
    pub sigkey: Option<String>,
    /// SHA-256 of the whole file, hex.
    pub checksum: String,
}

impl PackageInfo {
    /// The summary composes keep of this package.
    pub fn summary(&self) -> PackageSummary {
        PackageSummary {
            name: self.name.clone(),
            epoch: self.epoch,
            version: self.version.clone(),
            release: self.release.clone(),
            arch: self.arch.clone(),
            sourcerpm: self.sourcerpm.clone(),
            sigkey: self.sigkey.clone(),
            checksum: self.checksum.clone(),
            size: self.size_package,
        }
    }
}
