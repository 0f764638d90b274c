//! Module builds in Koji: which builds `modular_koji_tags` hold, and each build's content (the
//! RPMs of its content tag that its per-arch documents list as artifacts).

use std::collections::{BTreeMap, HashMap, HashSet};

use thiserror::Error;

use super::content::{artifact_nevra, ComposeModule};
use super::modulemd::{read_stream, ModulemdError};
use super::one_stream_per_module;
use crate::koji::hub::{KojiError, KojiHub};
use crate::koji::model::{BuildInfo, ModuleBuildInfo, RpmInfo, TaggedBuild};
use crate::koji::storage::StorageError;
use crate::koji::Koji;

/// Why modules cannot be taken from Koji.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KojiModuleError {
    /// The hub failed.
    #[error(transparent)]
    Koji(#[from] KojiError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A document is unusable.
    #[error(transparent)]
    Modulemd(#[from] ModulemdError),
    /// A module build is not in Koji.
    #[error("Module {nsvc} has no build in Koji (looked for {nvr})")]
    NotInKoji {
        /// The module.
        nsvc: String,
        /// The Koji NVR looked for.
        nvr: String,
    },
    /// Requested or required modules are in none of the tags.
    #[error("No build in the Koji tags {tags} for: {module}")]
    NotInTags {
        /// `N:S[:V[:C]]`, comma separated when several.
        module: String,
        /// The tags, space separated.
        tags: String,
    },
    /// RPMs a module's documents list are not in its content tag.
    #[error("Module {nsvc}: its content tag {tag} lacks RPMs its metadata lists: {}", odcs_common::reason::listed(.missing, " "))]
    MissingArtifacts {
        /// The module.
        nsvc: String,
        /// Its content tag.
        tag: String,
        /// The RPMs not found.
        missing: Vec<String>,
    },
    /// Two streams of one module.
    #[error("{0}")]
    Conflict(String),
}

impl KojiModuleError {
    /// Whether trying later may succeed (the hub or storage was unreachable).
    pub fn is_transient(&self) -> bool {
        match self {
            KojiModuleError::Koji(e) => e.is_transient(),
            KojiModuleError::Storage(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// What a set of module builds brings to a compose.
pub struct ModuleContents {
    /// The modules' RPMs with their builds, as tag composes select them.
    pub rpms: Vec<(RpmInfo, BuildInfo)>,
    /// The modules themselves, one per NSVC, with their per-arch documents.
    pub modules: Vec<ComposeModule>,
}

/// The RPMs and documents of the module builds `nsvcs` (`N:S:V:C` or Koji NVRs) for
/// `arches`, read at `event`. A build
/// without a document for an arch was not built for it; a build with no per-arch document at
/// all is described by its whole-build modulemd on every arch.
pub fn module_contents(
    koji: &Koji,
    nsvcs: &[String],
    arches: &[String],
    rpm_arches: &[String],
    event: i64,
    max_bytes: u64,
) -> Result<ModuleContents, KojiModuleError> {
    let read = crate::cancel::map_concurrently(nsvcs, READS_AT_ONCE, |nsvc| {
        one_module(koji, nsvc, arches, rpm_arches, event, max_bytes)
    });
    let mut contents = ModuleContents {
        rpms: Vec::new(),
        modules: Vec::new(),
    };
    let mut taken = HashSet::new();
    for module in read {
        let (rpms, module) = module?;
        if taken.insert(module.nsvc.clone()) {
            contents.rpms.extend(rpms);
            contents.modules.push(module);
        }
    }
    Ok(contents)
}

/// Module builds read from Koji at once (each mostly waits on the hub and storage).
const READS_AT_ONCE: usize = 8;

/// One module build's RPMs and per-arch documents.
fn one_module(
    koji: &Koji,
    nsvc: &str,
    arches: &[String],
    rpm_arches: &[String],
    event: i64,
    max_bytes: u64,
) -> Result<(Vec<(RpmInfo, BuildInfo)>, ComposeModule), KojiModuleError> {
    let module = find_build(&koji.hub, nsvc)?;
    let mut streams = BTreeMap::new();
    for arch in arches {
        let file = format!("files/module/modulemd.{arch}.txt");
        if let Some(bytes) = koji.store.build_file(&module.build, &file, max_bytes)? {
            let what = format!("{} of {}", file, module.build.nvr);
            let text = String::from_utf8_lossy(&bytes);
            streams.insert(arch.clone(), read_stream(&text, &what)?);
        }
    }
    if streams.is_empty() {
        let whole = read_stream(
            &module.modulemd,
            &format!("the modulemd of {}", module.build.nvr),
        )?;
        for arch in arches {
            streams.insert(arch.clone(), whole.clone());
        }
    }
    let wanted: HashSet<String> = streams.values().flat_map(|s| s.rpm_artifacts()).collect();
    let (tagged, builds) = koji.hub.latest_tagged_rpms(
        &module.content_tag,
        event,
        false,
        Some(rpm_arches.to_vec()),
    )?;
    let builds: HashMap<i64, BuildInfo> = builds.into_iter().map(|b| (b.id, b)).collect();
    let mut rpms = Vec::new();
    let mut found = HashSet::new();
    for rpm in tagged {
        let nevra = nevra_of(&rpm);
        if !wanted.contains(&nevra) {
            continue;
        }
        if let Some(build) = builds.get(&rpm.build_id) {
            found.insert(nevra);
            rpms.push((rpm, build.clone()));
        }
    }
    let listed_arches: HashSet<&str> = rpm_arches.iter().map(String::as_str).collect();
    let mut missing: Vec<String> = wanted
        .iter()
        .filter(|n| !found.contains(*n))
        .filter(|n| {
            n.rsplit('.')
                .next()
                .is_some_and(|a| listed_arches.contains(a))
        })
        .cloned()
        .collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(KojiModuleError::MissingArtifacts {
            nsvc: nsvc.to_owned(),
            tag: module.content_tag,
            missing,
        });
    }
    Ok((
        rpms,
        ComposeModule {
            nsvc: module.nsvc.clone(),
            koji_tag: module.content_tag.clone(),
            streams,
        },
    ))
}

/// The NEVRA of a Koji RPM as modulemd artifacts write it.
fn nevra_of(rpm: &RpmInfo) -> String {
    artifact_nevra(
        &rpm.name,
        rpm.epoch.and_then(|e| u32::try_from(e).ok()),
        &rpm.version,
        &rpm.release,
        &rpm.arch,
    )
}

/// The content-generator build of module `nsvc` (`N:S:V:C`).
fn find_build(hub: &KojiHub, nsvc: &str) -> Result<ModuleBuildInfo, KojiModuleError> {
    let parts: Vec<&str> = nsvc.split(':').collect();
    let nvr = match parts.as_slice() {
        [n, s, v, c] => ModuleBuildInfo::nvr(n, s, v, c),
        _ => nsvc.to_owned(),
    };
    hub.module_build(&nvr)?
        .ok_or_else(|| KojiModuleError::NotInKoji {
            nsvc: nsvc.to_owned(),
            nvr,
        })
}

/// What `modular_koji_tags` hold, and which builds of it a compose takes.
pub struct TaggedModules<'a> {
    hub: &'a KojiHub,
    tags: &'a [String],
    event: i64,
    /// For each module name, the newest builds of each stream (every context of the newest
    /// version), from the first tag that has the stream.
    by_name: HashMap<String, BTreeMap<String, Vec<TaggedBuild>>>,
}

impl<'a> TaggedModules<'a> {
    /// Reads the module builds in `tags` at `event`.
    pub fn read(hub: &'a KojiHub, tags: &'a [String], event: i64) -> Result<Self, KojiModuleError> {
        let mut by_name: HashMap<String, BTreeMap<String, Vec<TaggedBuild>>> = HashMap::new();
        let mut taken: HashSet<(String, String)> = HashSet::new();
        for tag in tags {
            let builds = topmost(hub, tag, event, hub.tagged_module_builds(tag, event)?)?;
            let mut streams_here: HashSet<(String, String)> = HashSet::new();
            for build in builds {
                let key = (build.build.name.clone(), build.build.version.clone());
                if taken.contains(&key) {
                    continue;
                }
                streams_here.insert(key);
                by_name
                    .entry(build.build.name.clone())
                    .or_default()
                    .entry(build.build.version.clone())
                    .or_default()
                    .push(build);
            }
            taken.extend(streams_here);
        }
        for streams in by_name.values_mut() {
            for builds in streams.values_mut() {
                let newest = builds.iter().map(|b| module_version(&b.build)).max();
                builds.retain(|b| Some(module_version(&b.build)) == newest);
            }
        }
        Ok(TaggedModules {
            hub,
            tags,
            event,
            by_name,
        })
    }

    /// The newest builds of every module stream in the tags.
    pub fn all(&self) -> Vec<String> {
        let mut nvrs: Vec<String> = self
            .by_name
            .values()
            .flat_map(|streams| streams.values().flatten())
            .map(|b| b.build.nvr.clone())
            .collect();
        nvrs.sort();
        nvrs
    }

    /// The NSVCs a compose of `requested` (`N:S[:V[:C]]`) takes, with the modules they need
    /// at run time when `with_dependencies` (base modules left out).
    pub fn resolve(
        &self,
        requested: &[String],
        with_dependencies: bool,
        base_module_names: &[String],
    ) -> Result<Vec<String>, KojiModuleError> {
        let mut chosen: BTreeMap<String, ModuleBuildInfo> = BTreeMap::new();
        let mut pending: Vec<ModuleBuildInfo> = Vec::new();
        let mut seen_streams: HashSet<String> = HashSet::new();
        let mut missing: Vec<&str> = Vec::new();
        for module in requested {
            let parts: Vec<&str> = module.split(':').collect();
            let builds = if parts.len() > 2 {
                let pattern = format!(
                    "{}-{}-{}.{}",
                    parts[0],
                    parts[1].replace('-', "_"),
                    parts[2],
                    parts.get(3).copied().unwrap_or("*")
                );
                self.hub.search_builds(&pattern)?
            } else {
                self.stream_builds(parts[0], parts.get(1).copied().unwrap_or_default())
            };
            if builds.is_empty() {
                missing.push(module);
                continue;
            }
            seen_streams.insert(format!(
                "{}:{}",
                parts[0],
                parts.get(1).copied().unwrap_or_default()
            ));
            for nvr in builds {
                let build = self.module_build(&nvr)?;
                pending.push(build);
            }
        }
        if !missing.is_empty() {
            return Err(self.not_found(&missing.join(", ")));
        }
        while let Some(build) = pending.pop() {
            if chosen.contains_key(&build.nsvc) {
                continue;
            }
            if with_dependencies {
                let stream = read_stream(
                    &build.modulemd,
                    &format!("the modulemd of {}", build.build.nvr),
                )?;
                for (name, streams) in stream.runtime_requires() {
                    if base_module_names.contains(&name) {
                        continue;
                    }
                    for dep_stream in streams.iter().filter(|s| !s.starts_with('-')) {
                        let key = format!("{name}:{dep_stream}");
                        if !seen_streams.insert(key.clone()) {
                            continue;
                        }
                        let builds = self.stream_builds(&name, dep_stream);
                        if builds.is_empty() {
                            return Err(self.not_found(&key));
                        }
                        for nvr in builds {
                            pending.push(self.module_build(&nvr)?);
                        }
                    }
                }
            }
            chosen.insert(build.nsvc.clone(), build);
        }
        one_stream_per_module(chosen.keys().map(String::as_str))
            .map_err(KojiModuleError::Conflict)?;
        Ok(chosen
            .into_keys()
            .filter(|nsvc| {
                !base_module_names
                    .iter()
                    .any(|base| nsvc.split(':').next() == Some(base.as_str()))
            })
            .collect())
    }

    /// The NVRs of the newest builds of `name:stream` in the tags.
    fn stream_builds(&self, name: &str, stream: &str) -> Vec<String> {
        let koji_stream = stream.replace('-', "_");
        self.by_name
            .get(name)
            .and_then(|streams| streams.get(&koji_stream))
            .map(|builds| builds.iter().map(|b| b.build.nvr.clone()).collect())
            .unwrap_or_default()
    }

    fn module_build(&self, nvr: &str) -> Result<ModuleBuildInfo, KojiModuleError> {
        self.hub
            .module_build(nvr)?
            .ok_or_else(|| self.not_found(nvr))
    }

    fn not_found(&self, module: &str) -> KojiModuleError {
        let tags = if self.tags.is_empty() {
            "(no modular_koji_tags given: name module builds as NAME:STREAM:VERSION:CONTEXT)"
                .to_owned()
        } else {
            format!("{} (at event {})", self.tags.join(" "), self.event)
        };
        KojiModuleError::NotInTags {
            module: module.to_owned(),
            tags,
        }
    }
}

/// A module build's version (`release` is `VERSION.CONTEXT`).
fn module_version(build: &BuildInfo) -> u64 {
    build
        .release
        .split('.')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Keeps, for each module stream, only the builds of the topmost tag that has it (`tag`
/// first, then the tags it inherits from, nearest first): `listTagged` with inheritance
/// returns builds of every tag, and does not know streams.
fn topmost(
    hub: &KojiHub,
    tag: &str,
    event: i64,
    builds: Vec<TaggedBuild>,
) -> Result<Vec<TaggedBuild>, KojiModuleError> {
    let mut order = vec![tag.to_owned()];
    if builds.iter().any(|b| b.tag_name != tag) {
        order.extend(hub.inherited_tag_names(tag, event)?);
    }
    let rank = |name: &str| order.iter().position(|t| t == name).unwrap_or(usize::MAX);
    let mut best: HashMap<(String, String), usize> = HashMap::new();
    for b in &builds {
        let key = (b.build.name.clone(), b.build.version.clone());
        let r = rank(&b.tag_name);
        best.entry(key)
            .and_modify(|v| *v = (*v).min(r))
            .or_insert(r);
    }
    Ok(builds
        .into_iter()
        .filter(|b| {
            best.get(&(b.build.name.clone(), b.build.version.clone())) == Some(&rank(&b.tag_name))
        })
        .collect())
}
