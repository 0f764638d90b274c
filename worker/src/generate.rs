//! Generating one compose, stage by stage: pin → resolve → summarize → sigkeys → gather →
//! build. Each stage is a function with its own input and error; this module only strings them
//! together. It touches neither the database nor the queue (the pipeline records outcomes).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use odcs_common::compose::{ComposeFlag, ComposeId, ComposeResult};
use odcs_common::db::row::RowError;
use odcs_common::spec::{ComposeSpec, ResolvedRequest};
use thiserror::Error;

use crate::cancel::{Cancel, Cancelled};
use crate::compose::layout::ComposeLayout;
use crate::compose::{build_compose, BuildSpec, CarriedMetadata, ComposeError, ComposeLog};
use crate::durable::WriteError;
use crate::gather::select::{select, SelectError, SelectInput};
use crate::package_set::{self, list_problems, SignatureError, SummarizeError};
use crate::pungi::links::ComposeLinks;
use crate::repodata::{Compression, PackageCache};
use crate::source::{
    self, ResolveContext, Resolved, Signatures, Source, SourceContext, SourceError, Staged,
};

/// Why a compose could not be generated; the message becomes its `state_reason`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The stored request cannot be read.
    #[error(transparent)]
    Request(#[from] RowError),
    /// The compose log cannot be written.
    #[error("cannot write the compose log: {0}")]
    Log(#[from] WriteError),
    /// The source could not be opened, pinned or resolved.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The package set could not be described.
    #[error(transparent)]
    Summarize(#[from] SummarizeError),
    /// Packages are not signed with an accepted key.
    #[error(transparent)]
    Signatures(#[from] SignatureError),
    /// Packages could not be chosen.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// The compose could not be laid out.
    #[error(transparent)]
    Build(#[from] ComposeError),
    /// The compose had to stop: its lease was lost, or it ran too long.
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
    /// A bug: something panicked while generating (the panic's message).
    #[error("internal error while generating the compose: {0}")]
    Internal(String),
}

impl GenerateError {
    /// Whether trying again later may succeed (a service unreachable through its retries, a
    /// full disk), so the compose goes back to the queue instead of failing.
    pub fn is_transient(&self) -> bool {
        match self {
            GenerateError::Request(_) => false,
            GenerateError::Log(e) => e.is_transient(),
            GenerateError::Source(e) => e.is_transient(),
            GenerateError::Summarize(e) => e.is_transient(),
            GenerateError::Signatures(_) => false,
            GenerateError::Select(e) => e.is_transient(),
            GenerateError::Build(e) => e.is_transient(),
            GenerateError::Cancelled(_) | GenerateError::Internal(_) => false,
        }
    }

    /// The stage that failed, as a metrics label (a handful of values).
    pub fn class(&self) -> &'static str {
        match self {
            GenerateError::Request(_) => "request",
            GenerateError::Log(_) => "log",
            GenerateError::Source(_) => "source",
            GenerateError::Summarize(_) => "summarize",
            GenerateError::Signatures(_) => "signatures",
            GenerateError::Select(_) => "select",
            GenerateError::Build(_) => "build",
            GenerateError::Cancelled(_) => "cancelled",
            GenerateError::Internal(_) => "internal",
        }
    }
}

/// The services every compose a worker generates shares.
pub struct Engine<'a> {
    /// What sources read from.
    pub sources: SourceContext<'a>,
    /// The package-metadata cache.
    pub cache: &'a PackageCache,
    /// Compression of the repodata written.
    pub compression: Compression,
    /// Whether the compose may go on.
    pub cancel: &'a Cancel,
    /// The command making boot.iso images (`boot_iso_command`; empty: none).
    pub boot_iso_command: &'a [String],
}

/// Which compose is being built and where it is published.
#[derive(Debug, Clone)]
pub struct Target {
    /// The compose id.
    pub id: ComposeId,
    /// Public URL of its `compose/Temporary` (empty: nobody serves it; the `.repo` file gets a
    /// `file://` URL).
    pub repo_url: String,
    /// When it is built (its date and repodata revision).
    pub built_at: DateTime<Utc>,
    /// The claim's own directory the tree is built in (published by the pipeline).
    pub staging: PathBuf,
}

/// A source opened and pinned, before it is resolved.
pub struct Prepared<'a> {
    source: Box<dyn Source + 'a>,
    /// The point the source is read at, recorded as the compose's `koji_event`.
    pub koji_event: Option<i64>,
}

impl Prepared<'_> {
    /// Whether an earlier compose of the same request, read at `event`, has this one's
    /// content.
    pub fn unchanged_since(&mut self, event: Option<i64>) -> Result<bool, GenerateError> {
        Ok(self.source.unchanged_since(event)?)
    }

    /// Request fields pinning fixed, which an earlier compose must have recorded to be
    /// reused.
    pub fn pinned(&self) -> Option<ResolvedRequest> {
        self.source.pinned()
    }
}

/// What a successful generation produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The point the source was read at.
    pub koji_event: Option<i64>,
    /// The Pungi-style compose id (`None`: the result is no Pungi compose).
    pub pungi_compose_id: Option<String>,
    /// Package files placed.
    pub placed: usize,
    /// Broken dependencies tolerated (without `check_deps`), for the compose's reason.
    pub broken: Vec<String>,
    /// Request fields the source filled in, recorded in the compose.
    pub resolved: Option<ResolvedRequest>,
    /// The configuration dump to store with the compose.
    pub config_dump: Option<String>,
    /// What the staging directory holds.
    pub staged: Staged,
    /// Links to create once the compose is in place.
    pub links: Option<ComposeLinks>,
}

impl Generated {
    /// The state reason of the done compose: `done_reason`, plus the broken dependencies.
    pub fn reason(&self, done_reason: &str) -> String {
        if self.broken.is_empty() {
            done_reason.to_owned()
        } else {
            format!(
                "{done_reason}. Broken dependencies: {}",
                list_problems(&self.broken)
            )
        }
    }
}

/// Opens the compose's source and pins it.
pub fn prepare<'a>(spec: &ComposeSpec, engine: &Engine<'a>) -> Result<Prepared<'a>, GenerateError> {
    let mut source = source::open(spec, &engine.sources)?;
    engine.cancel.check()?;
    let koji_event = source.pin()?;
    Ok(Prepared { source, koji_event })
}

/// Generates the compose `spec` describes from its prepared source, logging to `log`.
pub fn generate(
    spec: &ComposeSpec,
    prepared: Prepared<'_>,
    target: &Target,
    engine: &Engine<'_>,
    log: &ComposeLog,
) -> Result<Generated, GenerateError> {
    let Prepared { source, koji_event } = prepared;
    let cancel = engine.cancel;
    cancel.check()?;
    let layout = ComposeLayout::new(&spec.target_dir, target.id);
    let resolved = source.resolve(&ResolveContext {
        layout: &layout,
        staging: &target.staging,
        log,
    });
    if resolved.is_err() {
        // A source that failed because the compose had to stop (its external tool killed)
        // reports the stop.
        cancel.check()?;
    }
    let set = match resolved? {
        Resolved::Finished(finished) => {
            return Ok(Generated {
                koji_event,
                pungi_compose_id: finished.pungi_compose_id,
                placed: 0,
                broken: Vec::new(),
                resolved: finished.resolved,
                config_dump: finished.config_dump,
                staged: finished.staged,
                links: finished.links,
            })
        }
        Resolved::Packages(set) => set,
    };
    cancel.check()?;
    let packages = package_set::describe(set.files, engine.compression, engine.cache)?;
    cancel.check()?;
    let packages = match &set.signatures {
        Signatures::Settled => packages,
        Signatures::Check(keys) => package_set::signed_copies(packages, keys)?,
    };
    let arches = set.arches.unwrap_or_else(|| spec.arches.clone());
    let options = &spec.options;
    cancel.check()?;
    let selection = select(
        &SelectInput {
            packages: &packages,
            arches: &arches,
            names: options.packages.as_slice(),
            no_deps: options.has(ComposeFlag::NoDeps),
            check_deps: options.has(ComposeFlag::CheckDeps),
            lookaside_repos: &options.lookaside_repos,
            multilib_arches: &options.multilib_arches,
            multilib: options.multilib_method.into(),
        },
        engine.sources.fetcher,
        log,
    )?;
    let boot_iso_command = if options.results.contains(ComposeResult::BootIso) {
        if engine.boot_iso_command.is_empty() {
            return Err(GenerateError::Build(ComposeError::Iso {
                arch: arches.join(" "),
                reason: "boot.iso was asked for, but this worker has no boot_iso_command".into(),
            }));
        }
        engine.boot_iso_command.to_vec()
    } else {
        Vec::new()
    };
    let build = BuildSpec {
        id: target.id,
        target_dir: spec.target_dir.clone(),
        arches,
        compose_type: spec.compose_type,
        label: options.label.clone(),
        repo_url: target.repo_url.clone(),
        compression: engine.compression,
        built_at: target.built_at,
        staging: target.staging.clone(),
        iso: options.results.contains(ComposeResult::Iso),
        boot_iso_command,
    };
    let mut extra = set.extra;
    let mut module_records = Vec::new();
    if let Some(modules) = &set.modules {
        extra.extend(modules.repository_metadata(&build.arches));
        module_records = modules.records(&build.arches);
    }
    cancel.check()?;
    let built = build_compose(
        &build,
        &selection.packages,
        CarriedMetadata {
            extra: &extra,
            modules: &module_records,
        },
        engine.cache,
        log,
        cancel,
    );
    if built.is_err() {
        // An image tool killed because the compose had to stop reports the stop.
        cancel.check()?;
    }
    let built = built?;
    cancel.check()?;
    Ok(Generated {
        koji_event,
        pungi_compose_id: Some(built.pungi_compose_id),
        placed: built.placed,
        broken: selection.broken,
        resolved: set.resolved,
        config_dump: None,
        staged: Staged::ComposeDir,
        links: None,
    })
}
