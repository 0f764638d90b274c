//! The modular part of a compose: its module builds with their per-arch documents, and the
//! defaults of those modules; what goes into each arch's `modules.yaml` and which RPMs are
//! module artifacts.

use std::collections::{BTreeMap, HashSet};

use super::modulemd::{write_documents, ModuleDefaults, ModuleStream};
use crate::compose::metadata::ModuleRecord;
use crate::repodata::ExtraMetadata;

/// One module build in a compose.
#[derive(Debug, Clone)]
pub struct ComposeModule {
    /// `NAME:STREAM:VERSION:CONTEXT`.
    pub nsvc: String,
    /// The Koji tag holding its RPMs.
    pub koji_tag: String,
    /// Its document for each compose arch it was built for.
    pub streams: BTreeMap<String, ModuleStream>,
}

/// The modules of a compose and their defaults.
#[derive(Debug, Clone, Default)]
pub struct ModularContent {
    /// The module builds.
    pub modules: Vec<ComposeModule>,
    /// Defaults of those modules.
    pub defaults: Vec<ModuleDefaults>,
}

impl ModularContent {
    /// The `modules.yaml` of `arch`'s repository: the modules built for it, then the
    /// defaults of those modules; `None` when no module was built for it.
    pub fn modules_yaml(&self, arch: &str) -> Option<String> {
        let streams: Vec<&ModuleStream> = self
            .modules
            .iter()
            .filter_map(|m| m.streams.get(arch))
            .collect();
        if streams.is_empty() {
            return None;
        }
        let names: HashSet<String> = streams.iter().map(|s| s.name()).collect();
        let documents = streams.iter().map(|s| s.document()).chain(
            self.defaults
                .iter()
                .filter(|d| names.contains(&d.module))
                .map(ModuleDefaults::document),
        );
        Some(write_documents(documents))
    }
}

impl ModularContent {
    /// The `modules.yaml` of each of `arches` that has modules.
    pub fn repository_metadata(&self, arches: &[String]) -> Vec<ExtraMetadata> {
        arches
            .iter()
            .filter_map(|arch| {
                self.modules_yaml(arch)
                    .map(|text| ExtraMetadata::modules_yaml(arch, text))
            })
            .collect()
    }

    /// What `modules.json` lists: each module build on each of `arches` it was built for.
    pub fn records(&self, arches: &[String]) -> Vec<ModuleRecord> {
        arches
            .iter()
            .flat_map(|arch| {
                self.modules.iter().filter_map(move |m| {
                    m.streams.get(arch).map(|stream| {
                        let mut rpms = stream.rpm_artifacts();
                        rpms.sort();
                        ModuleRecord {
                            arch: arch.clone(),
                            nsvc: m.nsvc.clone(),
                            koji_tag: m.koji_tag.clone(),
                            rpms,
                        }
                    })
                })
            })
            .collect()
    }
}

/// The NEVRA modulemd names an RPM by (the epoch always written).
pub fn artifact_nevra(
    name: &str,
    epoch: Option<u32>,
    version: &str,
    release: &str,
    arch: &str,
) -> String {
    format!("{name}-{}:{version}-{release}.{arch}", epoch.unwrap_or(0))
}
