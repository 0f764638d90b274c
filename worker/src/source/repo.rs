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
    #[error("repository {path:?} is outside the allowed roots ({roots})")]
    OutsideRoots {
        /// The requested path.
        path: String,
        /// The allowed roots.
        roots: String,
    },
    /// A package inside is a symlink leading outside the allowed roots.
    #[error("package {0} is a link to a file outside the allowed roots")]
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

/// Resolves `source` (the compose's `source` field) against the allowed `roots`.
pub fn open(source: &str, roots: &[PathBuf]) -> Result<RepoDirectory, RepoSourceError> {
    let roots = canonical_roots(roots);
    if roots.is_empty() {
        return Err(RepoSourceError::Disabled);
    }
    let requested = Path::new(source);
    if !requested.is_absolute() {
        return Err(RepoSourceError::NotAbsolute(source.to_owned()));
    }
    let dir = std::fs::canonicalize(requested).map_err(|e| RepoSourceError::Unreadable {
        path: source.to_owned(),
        reason: e.to_string(),
    })?;
    if !under(&dir, &roots) {
        return Err(RepoSourceError::OutsideRoots {
            path: source.to_owned(),
            roots: roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if !dir.is_dir() {
        return Err(RepoSourceError::Unreadable {
            path: source.to_owned(),
            reason: "not a directory".into(),
        });
    }
    let found = find_packages(&dir).map_err(|e| RepoSourceError::Unreadable {
        path: source.to_owned(),
        reason: e.to_string(),
    })?;
    let mut packages = Vec::with_capacity(found.len());
    for input in found {
        let real = std::fs::canonicalize(&input.path).map_err(|e| RepoSourceError::Unreadable {
            path: input.path.display().to_string(),
            reason: e.to_string(),
        })?;
        if !under(&real, &roots) {
            return Err(RepoSourceError::EscapingLink(input.path));
        }
        packages.push(input.path);
    }
    if packages.is_empty() {
        return Err(RepoSourceError::Empty(source.to_owned()));
    }
    Ok(RepoDirectory {
        revision: revision(&dir),
        extra: ExtraMetadata::from_repository(&dir)?,
        dir,
        packages,
    })
}

/// The `<revision>` of the repository's repomd.xml, when it has a numeric one.
fn revision(dir: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(dir.join("repodata/repomd.xml")).ok()?;
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
            dir: open(&source.path, ctx.repo_roots)?,
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
            resolved: None,
        }))
    }
}
