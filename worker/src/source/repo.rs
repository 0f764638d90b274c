//! The `repo` source type: a local directory of RPMs (with or without repodata) under one of
//! the configured allowed roots.

use std::path::{Path, PathBuf};

use odcs_common::spec::{ComposeSpec, RepoSource, Sigkeys};
use thiserror::Error;

use super::{PackageSet, ResolveContext, Resolved, Signatures, Source, SourceContext, SourceError};
use crate::repodata::repomd::parse_locations;
use crate::repodata::{ExtraMetadata, RepodataError};
use crate::scan::find_packages;

/// Why a repository source cannot be used; messages are for the compose's user.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RepoSourceError {
    /// No roots are configured, so no path is allowed.
    #[error("repo composes are disabled: no repo_source_roots are configured")]
    Disabled,
    /// The source is not an absolute path.
    #[error("repository {0:?} must be an absolute path")]
    NotAbsolute(String),
    /// The directory does not exist or cannot be read.
    #[error("repository {path:?} cannot be read: {reason}")]
    Unreadable {
        /// The requested path.
        path: String,
        /// What the filesystem said.
        reason: String,
    },
    /// The path (after resolving `..` and symlinks) is outside every allowed root.
    #[error("repository {path:?} is outside the allowed roots")]
    OutsideRoots {
        /// The requested path.
        path: String,
    },
    /// A package or metadata file inside is a symlink leading outside the allowed roots, or
    /// not a regular file.
    #[error("{0} is a link to a file outside the allowed roots, or not a regular file")]
    EscapingLink(PathBuf),
    /// The repository has no packages.
    #[error("repository {0:?} has no RPM packages")]
    Empty(String),
    /// Its repodata could not be read.
    #[error(transparent)]
    Repodata(#[from] RepodataError),
}

impl From<RepoSourceError> for SourceError {
    fn from(e: RepoSourceError) -> Self {
        let transient = matches!(&e, RepoSourceError::Repodata(r) if r.is_transient());
        SourceError::classified(e, transient)
    }
}

/// An opened repository: a directory checked to lie under the allowed roots, walked once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoDirectory {
    /// The directory, canonical.
    pub dir: PathBuf,
    /// Its repodata revision, recorded as the compose's koji_event as the reference does.
    pub revision: Option<i64>,
    /// Its package files, sorted.
    pub packages: Vec<PathBuf>,
    /// Modules, comps and updateinfo to carry over.
    pub extra: Vec<ExtraMetadata>,
}

fn canonical_roots(roots: &[PathBuf]) -> Vec<PathBuf> {
    roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .collect()
}

fn under(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|root| path.starts_with(root))
}

/// `path` with `.` and `..` resolved without touching the filesystem.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                normal.pop();
            }
            std::path::Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// The real path of `path`, a regular file under one of `roots` (read through its real path,
/// so a symlink cannot lead a compose out of the roots).
pub fn confined_file(path: &Path, roots: &[PathBuf]) -> Result<PathBuf, RepoSourceError> {
    let escaping = || RepoSourceError::EscapingLink(path.to_owned());
    let real = std::fs::canonicalize(path).map_err(|_| escaping())?;
    if !under(&real, roots) || !real.metadata().is_ok_and(|m| m.is_file()) {
        return Err(escaping());
    }
    Ok(real)
}

/// Resolves `source` (the compose's `source` field) against the allowed `roots`. Whether a
/// path outside the roots exists is never told. Carried metadata may hold up to
/// `max_metadata_bytes`.
pub fn open(
    source: &str,
    roots: &[PathBuf],
    max_metadata_bytes: u64,
) -> Result<RepoDirectory, RepoSourceError> {
    let canonical = canonical_roots(roots);
    if canonical.is_empty() {
        return Err(RepoSourceError::Disabled);
    }
    let requested = Path::new(source);
    if !requested.is_absolute() {
        return Err(RepoSourceError::NotAbsolute(source.to_owned()));
    }
    let outside = || RepoSourceError::OutsideRoots {
        path: source.to_owned(),
    };
    let normal = lexically_normal(requested);
    let lexical_roots: Vec<PathBuf> = roots.iter().map(|r| lexically_normal(r)).collect();
    if !under(&normal, &lexical_roots) && !under(&normal, &canonical) {
        return Err(outside());
    }
    let dir = std::fs::canonicalize(requested).map_err(|e| RepoSourceError::Unreadable {
        path: source.to_owned(),
        reason: e.kind().to_string(),
    })?;
    if !under(&dir, &canonical) {
        return Err(outside());
    }
    if !dir.is_dir() {
        return Err(RepoSourceError::Unreadable {
            path: source.to_owned(),
            reason: "not a directory".into(),
        });
    }
    let found = find_packages(&dir).map_err(|e| RepoSourceError::Unreadable {
        path: source.to_owned(),
        reason: e.reason,
    })?;
    let mut packages = Vec::with_capacity(found.len());
    for input in found {
        packages.push(confined_file(&input.path, &canonical)?);
    }
    if packages.is_empty() {
        return Err(RepoSourceError::Empty(source.to_owned()));
    }
    let repomd = dir.join("repodata/repomd.xml");
    let repomd = match repomd.symlink_metadata() {
        Ok(_) => Some(confined_file(&repomd, &canonical)?),
        Err(_) => None,
    };
    let extra = match &repomd {
        Some(repomd) => ExtraMetadata::from_repomd(
            &dir,
            repomd,
            &|p| confined_file(p, &canonical).map_err(|e| e.to_string()),
            max_metadata_bytes,
        )?,
        None => Vec::new(),
    };
    Ok(RepoDirectory {
        revision: repomd.as_deref().and_then(revision),
        extra,
        dir,
        packages,
    })
}

/// The `<revision>` of a repomd.xml, when it has a numeric one.
fn revision(repomd: &Path) -> Option<i64> {
    let text = crate::repodata::compress::read_limited(repomd, crate::repodata::MAX_REPOMD_BYTES)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())?;
    // Validate the document before trusting a value from it.
    parse_locations(&text).ok()?;
    let start = text.find("<revision>")? + "<revision>".len();
    let end = start + text[start..].find("</revision>")?;
    text[start..end].trim().parse().ok()
}

/// A `repo` compose's source: the opened directory and the keys its files must be signed with.
pub struct LocalRepo {
    dir: RepoDirectory,
    sigkeys: Sigkeys,
}

impl LocalRepo {
    /// Opens the repository `source` names, within the context's allowed roots.
    pub fn open(
        source: &RepoSource,
        spec: &ComposeSpec,
        ctx: &SourceContext<'_>,
    ) -> Result<LocalRepo, SourceError> {
        Ok(LocalRepo {
            dir: open(&source.path, ctx.repo_roots, ctx.max_metadata_bytes)?,
            sigkeys: spec.sigkeys.clone(),
        })
    }
}

impl Source for LocalRepo {
    fn pin(&mut self) -> Result<Option<i64>, SourceError> {
        Ok(self.dir.revision)
    }

    fn unchanged_since(&mut self, event: Option<i64>) -> Result<bool, SourceError> {
        Ok(event == self.dir.revision)
    }

    fn resolve(self: Box<Self>, ctx: &ResolveContext<'_>) -> Result<Resolved, SourceError> {
        let LocalRepo { dir, sigkeys } = *self;
        ctx.log.line(format_args!(
            "Repository {} has {} packages (revision {})",
            dir.dir.display(),
            dir.packages.len(),
            dir.revision.map_or("none".to_owned(), |r| r.to_string())
        ));
        Ok(Resolved::Packages(PackageSet {
            files: dir.packages,
            extra: dir.extra,
            // Files carry the signature they have: any listed key (even only "", unsigned)
            // restricts them; no keys at all accepts every file.
            signatures: if sigkeys.as_slice().is_empty() {
                Signatures::Settled
            } else {
                Signatures::Check(sigkeys)
            },
            arches: None,
            modules: None,
            resolved: None,
        }))
    }
}
