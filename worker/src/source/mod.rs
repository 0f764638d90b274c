//! Where a compose's packages come from: one file per source type, behind one seam.
//!
//! [`open`] turns a request's [`ComposeSource`] into an opened [`Source`] (the one `match` over
//! source types). A source is opened once per compose and then
//! 1. pins itself ([`Source::pin`]): the Koji event, or the repository revision, it is read
//!    at, recorded as the compose's `koji_event`;
//! 2. tells whether an earlier compose of the same request still has its content
//!    ([`Source::unchanged_since`]), so it can be reused;
//! 3. resolves ([`Source::resolve`]) into a package set for the later stages, or into a result
//!    it produced itself.
//!
//! Adding a source type: a file here implementing [`Source`], and its arm in [`open`].

pub mod build;
pub mod module;
pub mod pulp;
pub mod pungi_compose;
pub mod raw_config;
pub mod repo;
pub mod tag;

use std::path::PathBuf;

use odcs_common::spec::{ComposeSource, ComposeSpec, ResolvedRequest, Sigkeys};
use thiserror::Error;

use crate::compose::layout::ComposeLayout;
use crate::compose::ComposeLog;
use crate::fetch::Fetcher;
use crate::koji::Koji;
use crate::modules::content::ModularContent;
use crate::modules::mbs::Mbs;
use crate::pulp::Pulp;
use crate::repodata::ExtraMetadata;

/// Why a source cannot be used; the message is the compose's `state_reason`.
#[derive(Debug, Error)]
#[error("{message}")]
pub struct SourceError {
    message: String,
    transient: bool,
    #[source]
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SourceError {
    /// A failure that will happen again whatever the time: bad input, a missing package.
    pub fn permanent(cause: impl std::error::Error + Send + Sync + 'static) -> SourceError {
        SourceError::classified(cause, false)
    }

    /// A failure `transient` says may pass (a service unreachable through every retry).
    pub fn classified(
        cause: impl std::error::Error + Send + Sync + 'static,
        transient: bool,
    ) -> SourceError {
        SourceError {
            message: cause.to_string(),
            transient,
            cause: Some(Box::new(cause)),
        }
    }

    /// A failure described by `message` alone.
    pub fn message(message: impl Into<String>) -> SourceError {
        SourceError {
            message: message.into(),
            transient: false,
            cause: None,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

/// Errors of the services sources use, each classified by its own `is_transient`.
macro_rules! classified_errors {
    ($($ty:ty),+ $(,)?) => {$(
        impl From<$ty> for SourceError {
            fn from(e: $ty) -> Self {
                let transient = e.is_transient();
                SourceError::classified(e, transient)
            }
        }
    )+};
}

classified_errors!(
    crate::koji::hub::KojiError,
    crate::koji::rpms::RpmsError,
    crate::koji::storage::StorageError,
    crate::fetch::FetchError,
    crate::modules::mbs::MbsError,
    crate::modules::koji::KojiModuleError,
    crate::modules::ModularError,
    crate::pulp::PulpError,
);

/// What sources may use: the services of the worker generating the compose.
pub struct SourceContext<'a> {
    /// Directories `repo` composes may read.
    pub repo_roots: &'a [PathBuf],
    /// The most one metadata file may hold, read or decompressed.
    pub max_metadata_bytes: u64,
    /// Reads remote files.
    pub fetcher: &'a Fetcher,
    /// The Koji hub and storage, when configured.
    pub koji: Option<&'a Koji>,
    /// The Module Build Service, when configured.
    pub mbs: Option<&'a Mbs>,
    /// The Pulp server, when configured.
    pub pulp: Option<&'a Pulp>,
    /// Modules that are base modules (`platform`): never put in a compose.
    pub base_module_names: &'a [String],
    /// Pungi and the named configurations, for `raw_config` composes.
    pub raw_config: Option<&'a raw_config::RawConfigServices>,
    /// The stored compose being generated, for sources that record in it while they run.
    pub record: Option<&'a dyn ComposeRecord>,
}

/// The stored compose being generated, as a source driving an external tool sees it.
pub trait ComposeRecord {
    /// The compose as the API shows it (what a `raw_config` wrapper is rendered with).
    fn json(&self) -> serde_json::Value;

    /// The Pungi configuration dump stored with the compose (a renewed production compose's).
    fn config_dump(&self) -> Option<String>;

    /// Records `id` as the compose's Pungi compose id unless another compose has it (false).
    fn claim_pungi_compose_id(&self, id: &str) -> Result<bool, SourceError>;
}

impl<'a> SourceContext<'a> {
    /// The Koji services, or the error saying Koji composes are disabled.
    pub fn koji(&self) -> Result<&'a Koji, SourceError> {
        self.koji.ok_or_else(|| {
            SourceError::message("Koji composes are disabled: no koji_hub_url is configured")
        })
    }
}

/// Where a source's own results go, and where it says what it does.
pub struct ResolveContext<'a> {
    /// The compose's directories.
    pub layout: &'a ComposeLayout,
    /// The claim's staging directory: a source producing its own result writes the compose's
    /// tree (what becomes `compose/`) here, and the pipeline puts it in place.
    pub staging: &'a std::path::Path,
    /// The compose log.
    pub log: &'a ComposeLog,
}

/// Whether a package set's files still have to be checked against the request's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signatures {
    /// Nothing to check: the source chose signed copies itself (Koji knows which copy is
    /// signed by what), or any package is accepted.
    Settled,
    /// The files are what they are: keep only copies signed with these keys.
    Check(Sigkeys),
}

/// The packages a source resolved to.
#[derive(Debug, Clone)]
pub struct PackageSet {
    /// The package files.
    pub files: Vec<PathBuf>,
    /// Modules, comps and updateinfo to carry into the compose's repositories.
    pub extra: Vec<ExtraMetadata>,
    /// Whether signatures remain to be checked.
    pub signatures: Signatures,
    /// Arches the source decided (a Pungi compose's own); `None`: the request's.
    pub arches: Option<Vec<String>>,
    /// Request fields the source filled in, recorded in the compose.
    pub resolved: Option<ResolvedRequest>,
    /// The modules the packages include, for the compose's modular metadata.
    pub modules: Option<ModularContent>,
}

impl PackageSet {
    /// Package files whose copies the source chose itself, with nothing to carry over.
    pub fn chosen(files: Vec<PathBuf>) -> PackageSet {
        PackageSet {
            files,
            extra: Vec::new(),
            signatures: Signatures::Settled,
            arches: None,
            resolved: None,
            modules: None,
        }
    }
}

/// What a claim's staging directory holds once a source finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Staged {
    /// The compose's `compose/` directory.
    #[default]
    ComposeDir,
    /// Everything of the compose's top directory (a Pungi compose directory: `compose/`,
    /// `logs/`, `work/`, ...).
    TopDir,
}

/// A result a source produced itself (a `.repo` file pointing at other repositories, a tree
/// written by an external tool), written into the claim's staging directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The Pungi compose id the result carries (`None`: it is no Pungi compose).
    pub pungi_compose_id: Option<String>,
    /// Request fields the source filled in, recorded in the compose.
    pub resolved: Option<ResolvedRequest>,
    /// The configuration dump to store with the compose (production and development Pungi
    /// composes, so a renewal runs the same configuration).
    pub config_dump: Option<String>,
    /// What the staging directory holds.
    pub staged: Staged,
    /// Links to create once the compose is in place.
    pub links: Option<crate::pungi::links::ComposeLinks>,
}

/// What a source resolves to.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// Packages for the later stages to gather and lay out.
    Packages(PackageSet),
    /// A finished result.
    Finished(Finished),
}

/// An opened source.
pub trait Source {
    /// Fixes the point in time the source is read at (the request's Koji event, the hub's
    /// newest, a repository's revision), recorded as the compose's `koji_event`.
    fn pin(&mut self) -> Result<Option<i64>, SourceError>;

    /// Whether an earlier compose of the same request, read at `event`, has exactly the
    /// content this one would: then it is reused. Call after [`Source::pin`].
    fn unchanged_since(&mut self, event: Option<i64>) -> Result<bool, SourceError>;

    /// Request fields pinning fixed (a module request's builds), which an earlier compose
    /// must have recorded to be reused. Call after [`Source::pin`].
    fn pinned(&self) -> Option<ResolvedRequest> {
        None
    }

    /// Resolves the pinned source into packages, or a result written under the compose's
    /// directory.
    fn resolve(self: Box<Self>, ctx: &ResolveContext<'_>) -> Result<Resolved, SourceError>;
}

/// Opens the source of `spec`: checks it exists and may be read, once per compose.
pub fn open<'a>(
    spec: &ComposeSpec,
    ctx: &SourceContext<'a>,
) -> Result<Box<dyn Source + 'a>, SourceError> {
    Ok(match &spec.source {
        ComposeSource::Repo(repo) => Box::new(repo::LocalRepo::open(repo, spec, ctx)?),
        ComposeSource::Tag(tag) => Box::new(tag::KojiTag::open(tag, spec, ctx)?),
        ComposeSource::Build(build) => Box::new(build::KojiBuilds::open(build, spec, ctx)?),
        ComposeSource::PungiCompose(compose) => {
            Box::new(pungi_compose::PungiCompose::open(compose, ctx)?)
        }
        ComposeSource::Module(module) => Box::new(module::ModuleCompose::open(module, spec, ctx)?),
        ComposeSource::Pulp(pulp) => Box::new(pulp::PulpCompose::open(pulp, spec, ctx)?),
        ComposeSource::RawConfig(raw) => {
            Box::new(raw_config::RawConfigCompose::open(raw, spec, ctx)?)
        }
    })
}
