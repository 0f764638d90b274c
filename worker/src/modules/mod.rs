//! Modular content: module streams from MBS or Koji, their RPMs, their defaults, and the
//! `modules.yaml` and `modules.json` a compose carries so dnf can enable them.

pub mod content;
pub mod defaults;
pub mod koji;
pub mod mbs;
pub mod modulemd;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use odcs_common::spec::ModuleDefaults as DefaultsSource;
use thiserror::Error;

use self::content::ModularContent;
use self::defaults::{fetch_defaults, DefaultsError, DefaultsPolicy};
use self::koji::{module_contents, KojiModuleError, ModuleContents};
use crate::koji::model::{BuildInfo, RpmInfo};
use crate::koji::Koji;

/// Why a compose's modular content cannot be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ModularError {
    /// The module builds or their RPMs.
    #[error(transparent)]
    Koji(#[from] KojiModuleError),
    /// The module defaults.
    #[error(transparent)]
    Defaults(#[from] DefaultsError),
}

impl ModularError {
    /// Whether trying later may succeed (Koji was unreachable).
    pub fn is_transient(&self) -> bool {
        match self {
            ModularError::Koji(e) => e.is_transient(),
            ModularError::Defaults(_) => false,
        }
    }
}

/// What a compose's modular content is read from.
pub struct ContentRequest<'a> {
    /// Koji: the module builds, their content tags, their RPMs.
    pub koji: &'a Koji,
    /// The module builds, `N:S:V:C` or Koji NVRs (the same build named twice is taken once).
    pub nsvcs: &'a [String],
    /// The compose's arches (one modulemd document each).
    pub arches: &'a [String],
    /// The RPM arches taken (the compose's, multilib and `noarch`).
    pub rpm_arches: &'a [String],
    /// The Koji event the content tags are read at.
    pub event: i64,
    /// The most one modulemd document may hold.
    pub max_metadata_bytes: u64,
    /// The git repository holding the modules' defaults.
    pub defaults: Option<&'a DefaultsSource>,
    /// Directories `file://` defaults repositories may lie in.
    pub file_roots: &'a [PathBuf],
    /// Networks a defaults repository may not be fetched from.
    pub blocked_networks: &'a [ipnet::IpNet],
    /// A directory of the compose's own the defaults are checked out under.
    pub scratch: &'a Path,
}

/// The RPMs and the modular metadata of the module builds `request` names.
pub fn modular_content(
    request: &ContentRequest<'_>,
) -> Result<(Vec<(RpmInfo, BuildInfo)>, ModularContent), ModularError> {
    let ModuleContents { rpms, modules } = module_contents(
        request.koji,
        request.nsvcs,
        request.arches,
        request.rpm_arches,
        request.event,
        request.max_metadata_bytes,
    )?;
    let defaults = match request.defaults {
        Some(source) => {
            let names: HashSet<String> = modules
                .iter()
                .filter_map(|m| m.nsvc.split(':').next())
                .map(str::to_owned)
                .collect();
            let scratch = request.scratch.join(".module-defaults");
            let found = fetch_defaults(
                &source.url,
                &source.commit,
                &names,
                &DefaultsPolicy {
                    file_roots: request.file_roots,
                    blocked_networks: request.blocked_networks,
                },
                &scratch,
            );
            let _ = std::fs::remove_dir_all(&scratch);
            found?
        }
        None => Vec::new(),
    };
    Ok((rpms, ModularContent { modules, defaults }))
}

/// One compose enables one stream of a module: refuses `nsvcs` (or `N:S` keys) naming two
/// streams of one module, saying which.
pub fn one_stream_per_module<'a>(nsvcs: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let mut streams: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for nsvc in nsvcs {
        let mut parts = nsvc.split(':');
        if let (Some(name), Some(stream)) = (parts.next(), parts.next()) {
            let seen = streams.entry(name).or_default();
            if !seen.contains(&stream) {
                seen.push(stream);
            }
        }
    }
    match streams.into_iter().find(|(_, s)| s.len() > 1) {
        Some((name, streams)) => Err(format!(
            "module {name} would be in the compose in streams {}: one compose holds one \
             stream of a module (request one, or use no_deps)",
            streams.join(" and ")
        )),
        None => Ok(()),
    }
}
