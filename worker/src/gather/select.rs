//! The gather stage of a compose: a pool from the package set and the lookaside repositories,
//! the packages chosen per arch, checked against the request, with their source and debug
//! packages placed beside them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use thiserror::Error;

use super::lookaside::{self, LookasideError};
use super::metadata::{read_filelists, read_primary, MetadataError};
use super::multilib::Methods;
use super::pool::{Origin, PoolBuilder};
use super::{gather, GatherRequest};
use crate::compose::{ComposeLog, SelectedPackage};
use crate::fetch::Fetcher;
use crate::package_set::{list_problems, Package};

/// What the gather stage is asked.
pub struct SelectInput<'a> {
    /// The package set.
    pub packages: &'a [Package],
    /// The compose arches.
    pub arches: &'a [String],
    /// Requested package names; empty: the whole set.
    pub names: &'a [String],
    /// Take only the requested packages.
    pub no_deps: bool,
    /// Fail when dependencies are broken.
    pub check_deps: bool,
    /// Repositories that satisfy dependencies without entering the compose.
    pub lookaside_repos: &'a [String],
    /// Arches that get multilib packages.
    pub multilib_arches: &'a [String],
    /// How multilib packages are chosen.
    pub multilib: Methods,
}

/// What was chosen.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The packages and the trees each goes into.
    pub packages: Vec<SelectedPackage>,
    /// Broken dependencies tolerated (without `check_deps`).
    pub broken: Vec<String>,
}

/// Why packages cannot be chosen; messages are for the compose's user.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SelectError {
    /// Requested packages are not in the result.
    #[error("The following requested packages are not present in the generated compose: {}", odcs_common::reason::listed(.0, " "))]
    MissingPackages(Vec<String>),
    /// `check_deps` is set and dependencies are broken.
    #[error("Compose has broken dependencies: {}", list_problems(.0))]
    BrokenDependencies(Vec<String>),
    /// A lookaside repository could not be read.
    #[error(transparent)]
    Lookaside(#[from] LookasideError),
    /// Package metadata could not be parsed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl SelectError {
    /// Whether trying again later may succeed (a lookaside repository's server was down).
    pub fn is_transient(&self) -> bool {
        matches!(self, SelectError::Lookaside(e) if e.is_transient())
    }
}

/// Chooses the compose's packages and the trees each goes into.
pub fn select(
    input: &SelectInput<'_>,
    fetcher: &Fetcher,
    log: &ComposeLog,
) -> Result<Selection, SelectError> {
    let package_set = input.packages;
    let mut builder = PoolBuilder::default();
    for (i, (_, p)) in package_set.iter().enumerate() {
        read_primary(&p.xml[0], |record| {
            builder.add(record, Origin::PackageSet(i));
        })?;
    }
    let mut lookasides = Vec::new();
    for (n, url) in input.lookaside_repos.iter().enumerate() {
        let metadata = lookaside::fetch(fetcher, url)?;
        let before = builder.len();
        read_primary(&metadata.primary, |record| {
            builder.add(record, Origin::Lookaside(n));
        })?;
        log.line(format_args!(
            "Lookaside repository {url}: {} packages",
            builder.len() - before
        ));
        lookasides.push(metadata);
    }
    let wanted = builder.wanted_files();
    for (i, (_, p)) in package_set.iter().enumerate() {
        read_filelists(
            &p.xml[1],
            |path| wanted.contains(path),
            |pkgid, path| builder.add_file(Origin::PackageSet(i), pkgid, path),
        )?;
    }
    for (n, metadata) in lookasides.iter().enumerate() {
        read_filelists(
            &metadata.filelists,
            |path| wanted.contains(path),
            |pkgid, path| builder.add_file(Origin::Lookaside(n), pkgid, path),
        )?;
    }
    let pool = builder.build();
    let requested = (!input.names.is_empty()).then(|| input.names.to_vec());
    let gathered = gather(
        &pool,
        &GatherRequest {
            arches: input.arches.to_vec(),
            packages: requested.clone(),
            no_deps: input.no_deps,
            multilib_arches: input.multilib_arches.to_vec(),
            multilib: input.multilib,
        },
    );
    if !gathered.missing.is_empty() {
        return Err(SelectError::MissingPackages(gathered.missing));
    }
    for line in &gathered.broken {
        log.line(format_args!("Broken dependency: {line}"));
    }
    if input.check_deps && !gathered.broken.is_empty() {
        return Err(SelectError::BrokenDependencies(gathered.broken));
    }
    let mut placement = gathered.placement;
    if requested.is_some() {
        add_debug_packages(package_set, &mut placement);
    }
    let sources: HashSet<&str> = placement
        .keys()
        .map(|i| package_set[*i].1.summary.sourcerpm.as_str())
        .collect();
    let file_name = |path: &PathBuf| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut packages = Vec::new();
    for (i, (path, p)) in package_set.iter().enumerate() {
        let arches: Vec<String> = match placement.get(&i) {
            Some(arches) => arches.iter().cloned().collect(),
            None if p.summary.is_source() && sources.contains(file_name(path).as_str()) => {
                Vec::new()
            }
            None => continue,
        };
        packages.push(SelectedPackage {
            path: path.clone(),
            summary: p.summary.clone(),
            arches,
        });
    }
    log.line(format_args!("Selected {} packages", packages.len()));
    Ok(Selection {
        packages,
        broken: gathered.broken,
    })
}

/// Adds the debuginfo and debugsource packages of the gathered packages (same source package
/// and arch) to the trees of those packages.
fn add_debug_packages(package_set: &[Package], placement: &mut BTreeMap<usize, BTreeSet<String>>) {
    let mut trees: HashMap<(&str, &str), BTreeSet<String>> = HashMap::new();
    for (i, arches) in placement.iter() {
        let s = &package_set[*i].1.summary;
        trees
            .entry((s.sourcerpm.as_str(), s.arch.as_str()))
            .or_default()
            .extend(arches.iter().cloned());
    }
    for (i, (_, p)) in package_set.iter().enumerate() {
        let s = &p.summary;
        if !s.is_debug() || s.is_source() {
            continue;
        }
        if let Some(arches) = trees.get(&(s.sourcerpm.as_str(), s.arch.as_str())) {
            placement
                .entry(i)
                .or_default()
                .extend(arches.iter().cloned());
        }
    }
}
