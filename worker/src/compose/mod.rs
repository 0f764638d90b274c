//! Building a compose on disk from a selected set of packages.
//!
//! The top directory `odcs-{id}/` is created first and holds the log, so users can tail it
//! while they wait. Everything else is built in the claim's own staging directory
//! (`odcs-{id}/.compose-{claim}/`) and synced; [`publish`] renames it to `odcs-{id}/compose/` in
//! one step, only for the claim that holds the compose (the pipeline calls it under the lease's
//! fence). Nobody ever sees half a compose, two claims never write into one tree, and a failed
//! build leaves nothing but the log.

pub mod iso;
pub mod layout;
pub mod link;
pub mod log;
pub mod metadata;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use thiserror::Error;

use odcs_common::compose::{ComposeId, ComposeType};

use crate::cancel::Cancel;
use crate::durable::{is_transient_io, sync_dir, sync_tree, write_synced, WriteError};
use crate::package::PackageSummary;
use crate::repodata::{
    write_repodata, Compression, ExtraMetadata, FileHashing, PackageCache, PackageInput,
    RepodataError, RepodataOptions,
};
use layout::{package_href, ComposeLayout, Trees};
pub use log::ComposeLog;
use metadata::{ComposeDescription, ModuleRecord, PlacedPackage};

/// Why a compose could not be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// Metadata could not be written or a package could not be read.
    #[error(transparent)]
    Repodata(#[from] RepodataError),
    /// The built tree could not be put in place.
    #[error("cannot put the compose in place: {0}")]
    Publish(String),
    /// An ISO image could not be made.
    #[error("cannot make the ISO image of {arch}: {reason}")]
    Iso {
        /// The arch whose tree it holds.
        arch: String,
        /// What went wrong.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// What the filesystem said.
        #[source]
        source: std::io::Error,
    },
}

impl From<WriteError> for ComposeError {
    fn from(e: WriteError) -> Self {
        ComposeError::Io {
            action: "write",
            path: e.path,
            source: e.source,
        }
    }
}

impl ComposeError {
    /// Whether trying again later may succeed (the disk was full, a device failed).
    pub fn is_transient(&self) -> bool {
        match self {
            ComposeError::Repodata(e) => e.is_transient(),
            ComposeError::Io { source, .. } => is_transient_io(source),
            ComposeError::Publish(_) | ComposeError::Iso { .. } => false,
        }
    }
}

pub(crate) fn io_err(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> ComposeError {
    let path = path.to_owned();
    move |source| ComposeError::Io {
        action,
        path,
        source,
    }
}

/// What is being built: where, for which arches, and how it is named.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// The compose id.
    pub id: ComposeId,
    /// The directory composes go to.
    pub target_dir: PathBuf,
    /// Arches to build trees for.
    pub arches: Vec<String>,
    /// The compose type, marked in the Pungi compose id.
    pub compose_type: ComposeType,
    /// Optional label.
    pub label: Option<String>,
    /// Public URL of `compose/Temporary` (the compose's `result_repo`); empty: a `file://` URL
    /// of the directory is written into the `.repo` file.
    pub repo_url: String,
    /// The claim's staging directory the tree is built in.
    pub staging: PathBuf,
    /// Metadata compression.
    pub compression: Compression,
    /// When the compose is built (its date and repodata revision).
    pub built_at: chrono::DateTime<chrono::Utc>,
    /// Whether ISO images of the os trees are made (the `iso` result).
    pub iso: bool,
    /// The command making each arch's boot.iso (the `boot.iso` result); empty: none.
    pub boot_iso_command: Vec<String>,
}

/// A package chosen for the compose: its file and what it is.
#[derive(Debug, Clone)]
pub struct SelectedPackage {
    /// The source file.
    pub path: PathBuf,
    /// Its summary.
    pub summary: PackageSummary,
    /// The arches whose trees (os, or debug for debug packages) it goes into; ignored for
    /// source packages, which go into the source tree.
    pub arches: Vec<String>,
}

/// A finished compose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltCompose {
    /// The Pungi-style compose id recorded as `pungi_compose_id`.
    pub pungi_compose_id: String,
    /// Package files placed (a noarch package in two arch trees counts twice).
    pub placed: usize,
    /// Packages whose metadata had to be read (not in the cache).
    pub read: usize,
}

/// One repository tree being assembled.
#[derive(Default)]
struct Tree<'a> {
    inputs: Vec<PackageInput>,
    packages: Vec<(&'a SelectedPackage, Option<&'a str>)>,
}

/// Metadata published beside the packages: files for the arches' os repositories, and the
/// module builds `modules.json` lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct CarriedMetadata<'a> {
    /// Files each arch's os repository carries (those for its arch, or for every arch).
    pub extra: &'a [ExtraMetadata],
    /// The module builds in the compose, per arch; none: no `modules.json`.
    pub modules: &'a [ModuleRecord],
}

/// Builds compose `spec` from `packages` in its staging directory, with `carried` metadata.
/// Logs to `log`; on failure removes the staging directory.
pub fn build_compose(
    spec: &BuildSpec,
    packages: &[SelectedPackage],
    carried: CarriedMetadata<'_>,
    cache: &PackageCache,
    log: &ComposeLog,
    cancel: &Cancel,
) -> Result<BuiltCompose, ComposeError> {
    let layout = ComposeLayout::new(&spec.target_dir, spec.id);
    let result = build_in(spec, packages, carried, cache, log, &layout, cancel);
    if result.is_err() && spec.staging.exists() {
        let _ = std::fs::remove_dir_all(&spec.staging);
    }
    result
}

/// Puts the tree built in `staging` in place: as `compose/` of `layout`, or (a Pungi compose
/// directory) as the entries of its top directory, replacing what a claim left there without
/// recording it. Call only while holding the compose (its outcome is not recorded yet and
/// nobody else may publish). Publishing again what is already in place is a no-op, so a
/// retried transaction may call it twice.
pub fn publish(
    layout: &ComposeLayout,
    staging: &Path,
    staged: crate::source::Staged,
) -> Result<(), ComposeError> {
    let final_dir = layout.compose_dir();
    if !staging.exists() && final_dir.exists() {
        return Ok(());
    }
    match staged {
        crate::source::Staged::ComposeDir => replace_with(staging, &final_dir)?,
        crate::source::Staged::TopDir => {
            let entries = std::fs::read_dir(staging).map_err(io_err("read", staging))?;
            for entry in entries {
                let entry = entry.map_err(io_err("read", staging))?;
                replace_with(&entry.path(), &layout.top.join(entry.file_name()))?;
            }
            std::fs::remove_dir(staging).map_err(io_err("remove", staging))?;
        }
    }
    sync_dir(&layout.top)?;
    // Staging directories of claims that lost the compose (killed, cut off) are garbage now; a
    // claim still writing into one finds it gone and stops.
    if let Ok(entries) = std::fs::read_dir(&layout.top) {
        for entry in entries.filter_map(Result::ok) {
            if layout::is_staging_dir(&entry.file_name().to_string_lossy()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(())
}

/// Renames `from` to `to`, replacing what is there.
fn replace_with(from: &Path, to: &Path) -> Result<(), ComposeError> {
    match std::fs::symlink_metadata(to) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(to).map_err(io_err("remove", to))?,
        Ok(_) => std::fs::remove_file(to).map_err(io_err("remove", to))?,
        Err(_) => {}
    }
    std::fs::rename(from, to).map_err(io_err("rename into place", to))
}

fn build_in(
    spec: &BuildSpec,
    packages: &[SelectedPackage],
    carried: CarriedMetadata<'_>,
    cache: &PackageCache,
    log: &ComposeLog,
    layout: &ComposeLayout,
    cancel: &Cancel,
) -> Result<BuiltCompose, ComposeError> {
    let staging = spec.staging.clone();
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io_err("remove", &staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(io_err("create", &staging))?;
    let trees = Trees {
        root: staging.clone(),
    };

    // Assign every package to its trees.
    let mut by_tree: BTreeMap<String, Tree<'_>> = BTreeMap::new();
    for arch in &spec.arches {
        by_tree.entry(Trees::os_rel(arch)).or_default();
        by_tree.entry(Trees::debug_rel(arch)).or_default();
    }
    by_tree.entry(Trees::source_rel()).or_default();
    for pkg in packages {
        let file_name = pkg
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let input = PackageInput {
            path: pkg.path.clone(),
            href: package_href(file_name),
            stat: None,
        };
        if pkg.summary.is_source() {
            let tree = by_tree.entry(Trees::source_rel()).or_default();
            tree.inputs.push(input);
            tree.packages.push((pkg, None));
            continue;
        }
        let mut placed = false;
        for arch in spec.arches.iter().filter(|a| pkg.arches.contains(a)) {
            let rel = if pkg.summary.is_debug() {
                Trees::debug_rel(arch)
            } else {
                Trees::os_rel(arch)
            };
            let tree = by_tree.entry(rel).or_default();
            tree.inputs.push(input.clone());
            tree.packages.push((pkg, Some(arch.as_str())));
            placed = true;
        }
        if !placed {
            log.line(format_args!(
                "Skipping {} ({}): not for arches {}",
                file_name,
                pkg.summary.arch,
                spec.arches.join(" ")
            ));
        }
    }

    let options = RepodataOptions {
        compression: spec.compression,
        revision: spec.built_at.timestamp().max(0) as u64,
        cache: Some(cache),
        hashing: FileHashing::Fastest,
    };
    let mut placed_count = 0;
    let mut read = 0;
    let mut placed: Vec<PlacedPackage<'_>> = Vec::new();
    let mut modulemd_paths: BTreeMap<String, String> = BTreeMap::new();
    for (rel, tree) in &mut by_tree {
        tree.inputs.sort_by(|a, b| a.href.cmp(&b.href));
        let dir = trees.path(rel);
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        tree.inputs
            .par_iter()
            .map(|input| {
                let dest = dir.join(&input.href);
                link::place(&input.path, &dest).map_err(io_err("place a package at", &dest))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for package_dir in [dir.join("Packages")] {
            if package_dir.exists() {
                sync_tree(&package_dir)?;
            }
        }
        let os_arch = spec.arches.iter().find(|a| Trees::os_rel(a) == *rel);
        let extra: Vec<ExtraMetadata> = match os_arch {
            Some(arch) => carried
                .extra
                .iter()
                .filter(|e| e.is_for(arch))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let repodata = write_repodata(&dir, &tree.inputs, &extra, options)?;
        if let (Some(arch), Some(record)) = (
            os_arch,
            repodata.records.iter().find(|r| r.kind == "modules"),
        ) {
            modulemd_paths.insert(arch.clone(), format!("{rel}/{}", record.location));
        }
        read += repodata.read;
        placed_count += tree.inputs.len();
        log.line(format_args!(
            "Wrote {rel}: {} packages, repodata for {} ({} read)",
            tree.inputs.len(),
            repodata.listed,
            repodata.read
        ));
        for (pkg, arch) in &tree.packages {
            let file_name = pkg
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            placed.push(PlacedPackage {
                summary: &pkg.summary,
                path: format!("{rel}/{}", package_href(file_name)),
                arch: *arch,
            });
        }
    }

    let date = spec.built_at.format("%Y%m%d").to_string();
    let compose_id = metadata::pungi_compose_id(&layout.name, &date, spec.compose_type);
    let description = ComposeDescription {
        name: &layout.name,
        compose_id: &compose_id,
        date: &date,
        compose_type: spec.compose_type,
        label: spec.label.as_deref(),
        arches: &spec.arches,
        isos: spec.iso,
    };
    let repo_url = if spec.repo_url.is_empty() {
        format!(
            "file://{}/{}",
            layout.compose_dir().display(),
            layout::VARIANT
        )
    } else {
        spec.repo_url.clone()
    };
    write_synced(
        &trees.repofile(&layout.name),
        metadata::repo_file(&layout.name, &repo_url).as_bytes(),
    )?;
    let metadata_dir = trees.metadata_dir();
    std::fs::create_dir_all(&metadata_dir).map_err(io_err("create", &metadata_dir))?;
    let pretty = |v: serde_json::Value| {
        let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
        text.push('\n');
        text
    };
    write_synced(
        &metadata_dir.join("composeinfo.json"),
        pretty(metadata::composeinfo(&description)).as_bytes(),
    )?;
    write_synced(
        &metadata_dir.join("rpms.json"),
        pretty(metadata::rpms(&description, &placed)).as_bytes(),
    )?;
    if !carried.modules.is_empty() {
        write_synced(
            &metadata_dir.join("modules.json"),
            pretty(metadata::modules(
                &description,
                carried.modules,
                &modulemd_paths,
            ))
            .as_bytes(),
        )?;
    }
    let images = iso::ImageRequest {
        dvd: spec.iso,
        boot_iso_command: &spec.boot_iso_command,
    };
    if images.any() {
        for image in iso::write_images(&trees, &description, images, cancel)? {
            log.line(format_args!(
                "Wrote {}: {} bytes, volume {:?}",
                image.path, image.size, image.volume_id
            ));
        }
    }
    sync_dir(&metadata_dir)?;
    sync_dir(&staging.join(layout::VARIANT))?;
    sync_dir(&staging)?;
    log.line(format_args!(
        "Compose {compose_id} is complete: {placed_count} package files"
    ));
    Ok(BuiltCompose {
        pungi_compose_id: compose_id,
        placed: placed_count,
        read,
    })
}
