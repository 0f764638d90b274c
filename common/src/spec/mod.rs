//! The typed compose request, from the API to the worker: what to build from
//! ([`ComposeSource`]) and how ([`ComposeOptions`]), with every server default resolved.
//!
//! The API parses a request body into a [`crate::request::ComposeRequest`] and resolves it
//! into a [`ComposeSpec`] against the configuration; the store keeps it in the reference's
//! columns (`db::row` converts both ways); the worker reads it back and never sees the
//! stored strings.

mod list;
mod source;

use std::collections::BTreeSet;
use std::path::PathBuf;

pub use list::{Sigkeys, WordList};
pub use source::{
    BaseModuleBounds, BuildSource, ComposeSource, ModularInputs, ModuleDefaults, ModuleRef,
    ModuleSource, PulpSource, PungiComposeSource, RawConfigSource, RepoSource, SourceError,
    SourceField, SourceFields, TagSource,
};

use crate::compose::{
    ComposeFlag, ComposeFlags, ComposeResults, ComposeType, MultilibMethods, SourceType,
};

/// Options every source type shares that have no server default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ComposeOptions {
    /// Package names to compose (with their dependencies); not given or empty: everything.
    pub packages: WordList,
    /// Arches that get multilib packages.
    pub multilib_arches: Vec<String>,
    /// How multilib packages are chosen.
    pub multilib_method: MultilibMethods,
    /// Repositories that satisfy dependencies without entering the compose.
    pub lookaside_repos: Vec<String>,
    /// Flags.
    pub flags: ComposeFlags,
    /// Results (always including the repository).
    pub results: ComposeResults,
    /// The label of a raw_config compose.
    pub label: Option<String>,
    /// Pungi compose ids of parent composes (raw_config).
    pub parent_pungi_compose_ids: WordList,
    /// The Pungi compose id this compose respins (raw_config).
    pub respin_of: Option<String>,
}

impl ComposeOptions {
    /// Whether `flag` is set.
    pub fn has(&self, flag: ComposeFlag) -> bool {
        self.flags.contains(flag)
    }
}

/// A compose request with every default resolved: what the store keeps and the worker builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeSpec {
    /// What it is built from.
    pub source: ComposeSource,
    /// How.
    pub options: ComposeOptions,
    /// Accepted signing keys.
    pub sigkeys: Sigkeys,
    /// Arches to build for.
    pub arches: Vec<String>,
    /// Lifetime in seconds.
    pub seconds_to_live: i64,
    /// The compose type.
    pub compose_type: ComposeType,
    /// The directory the compose goes to.
    pub target_dir: PathBuf,
}

/// Request fields a source fills in from what it found (a Pungi compose's arches, builds,
/// packages and keys, say), recorded in the compose as the reference records them; `None`
/// leaves a field as requested.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedRequest {
    /// Arches.
    pub arches: Option<Vec<String>>,
    /// Build NVRs.
    pub builds: Option<Vec<String>>,
    /// Package names.
    pub packages: Option<Vec<String>>,
    /// Signing keys.
    pub sigkeys: Option<Sigkeys>,
    /// What the request's `source` resolved to, recorded as the compose's `source` from then
    /// on, as the reference records it: a module request's builds (`N:S:V:C`), the content
    /// sets a Pulp request found when absent ones may be left out.
    pub source: Option<Vec<String>>,
}

/// What identifies a request when looking for an earlier compose to reuse: lists compared as
/// sets, everything else exactly; the point in time the source is read at, the label and the
/// compose type are not part of it (the reference compares the same attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReuseKey<'a> {
    source_type: SourceType,
    source: String,
    lists: [BTreeSet<&'a str>; 11],
    flags: ComposeFlags,
    results: ComposeResults,
    module_defaults: Option<ModuleDefaults>,
    respin_of: Option<&'a str>,
    target_dir: &'a std::path::Path,
    multilib_method: MultilibMethods,
}

fn word_set(list: &[String]) -> BTreeSet<&str> {
    list.iter().map(String::as_str).collect()
}

impl ComposeSpec {
    /// The source type.
    pub fn source_type(&self) -> SourceType {
        self.source.source_type()
    }

    /// Whether an earlier compose may be reused for this request: not with `no_reuse`, never
    /// for raw_config composes (each is a product compose of its own).
    pub fn allows_reuse(&self) -> bool {
        !self.options.has(ComposeFlag::NoReuse) && self.source_type() != SourceType::RawConfig
    }

    /// The key two requests share when one's compose can stand for the other's.
    pub fn reuse_key(&self) -> ReuseKey<'_> {
        let source = &self.source;
        let (modular, modules, scratch_build_tasks): (Option<&ModularInputs>, _, _) = match source {
            ComposeSource::Tag(t) => (
                Some(&t.modular),
                t.modules.as_set(),
                t.scratch_build_tasks.as_set(),
            ),
            ComposeSource::Module(m) => (Some(&m.modular), BTreeSet::new(), BTreeSet::new()),
            ComposeSource::RawConfig(r) => (None, r.modules.as_set(), BTreeSet::new()),
            ComposeSource::Build(b) => (None, BTreeSet::new(), b.scratch_build_tasks.as_set()),
            ComposeSource::Repo(_) | ComposeSource::Pulp(_) | ComposeSource::PungiCompose(_) => {
                (None, BTreeSet::new(), BTreeSet::new())
            }
        };
        ReuseKey {
            source_type: self.source_type(),
            source: source.text(),
            lists: [
                self.options.packages.as_set(),
                word_set(source.builds()),
                self.sigkeys.as_set(),
                word_set(&self.arches),
                word_set(&self.options.lookaside_repos),
                word_set(&self.options.multilib_arches),
                modular.map(|m| m.koji_tags.as_set()).unwrap_or_default(),
                modular
                    .map(|m| m.scratch_modules.as_set())
                    .unwrap_or_default(),
                modules,
                scratch_build_tasks,
                self.options.parent_pungi_compose_ids.as_set(),
            ],
            flags: self.options.flags,
            results: self.options.results,
            module_defaults: modular.and_then(|m| m.defaults.clone()),
            respin_of: self.options.respin_of.as_deref(),
            target_dir: &self.target_dir,
            multilib_method: self.options.multilib_method,
        }
    }

    /// This request as `resolved` pins it: a module request's modules become the builds they
    /// resolved to (what an earlier compose of it recorded), other fields as resolved.
    pub fn with_resolved(&self, resolved: &ResolvedRequest) -> ComposeSpec {
        let mut spec = self.clone();
        match (&mut spec.source, &resolved.source) {
            (ComposeSource::Module(m), Some(nsvcs)) => {
                m.modules = nsvcs.iter().filter_map(|n| n.parse().ok()).collect();
            }
            (ComposeSource::Pulp(p), Some(found)) => p.content_sets = found.clone(),
            _ => {}
        }
        if let Some(arches) = &resolved.arches {
            spec.arches = arches.clone();
        }
        if let Some(sigkeys) = &resolved.sigkeys {
            spec.sigkeys = sigkeys.clone();
        }
        spec
    }

    /// Whether `other` asks for the same compose as this one, whatever point in time each
    /// reads its source at.
    pub fn same_request_as(&self, other: &ComposeSpec) -> bool {
        self.reuse_key() == other.reuse_key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag_spec(packages: &[&str], sigkeys: &[&str], event: Option<i64>) -> ComposeSpec {
        ComposeSpec {
            source: ComposeSource::Tag(TagSource {
                tags: vec!["f40".into()],
                koji_event: event,
                builds: WordList::NONE,
                modular: ModularInputs::default(),
                modules: WordList::NONE,
                scratch_build_tasks: WordList::NONE,
            }),
            options: ComposeOptions {
                packages: WordList::new(packages.iter().map(|p| (*p).to_owned()).collect()),
                ..ComposeOptions::default()
            },
            sigkeys: Sigkeys::new(sigkeys.iter().map(|k| (*k).to_owned()).collect()),
            arches: vec!["x86_64".into()],
            seconds_to_live: 60,
            compose_type: ComposeType::Test,
            target_dir: PathBuf::from("/srv"),
        }
    }

    #[test]
    fn reuse_compares_lists_as_sets_and_ignores_the_event() {
        let a = tag_spec(&["a", "b"], &["K1", "K2"], Some(1));
        let b = tag_spec(&["b", "a", "a"], &["K2", "K1"], Some(9));
        assert!(a.same_request_as(&b));
        let mut c = b.clone();
        c.options.label = Some("RC".into());
        assert!(a.same_request_as(&c), "labels do not matter");
        assert!(!a.same_request_as(&tag_spec(&["a"], &["K1", "K2"], Some(1))));
        let mut d = a.clone();
        d.options.flags = d.options.flags.with(ComposeFlag::NoDeps);
        assert!(!a.same_request_as(&d));
    }

    #[test]
    fn raw_config_and_no_reuse_composes_are_never_reused() {
        let mut spec = tag_spec(&[], &[], None);
        assert!(spec.allows_reuse());
        spec.options.flags = spec.options.flags.with(ComposeFlag::NoReuse);
        assert!(!spec.allows_reuse());
    }
}
