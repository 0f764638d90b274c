//! The `tag` source type: the latest builds of Koji tags at an event (inherited unless
//! `no_inheritance`), with the request's builds replacing the tags' builds of the same
//! packages. With several tags, a package's builds come from the first tag that has it, as
//! Pungi merges the package sets of several tags. Modules join them: every module stream in
//! `modular_koji_tags` (its newest builds) and the module builds `modules` names, with their
//! `modules.yaml` and defaults.

use std::collections::{HashMap, HashSet};

use odcs_common::compose::ComposeFlag;
use odcs_common::spec::{ComposeSpec, ModuleDefaults, Sigkeys, TagSource};

use crate::modules::content::ModularContent;

use super::{PackageSet, ResolveContext, Resolved, Source, SourceContext, SourceError};
use crate::koji::model::{BuildInfo, RpmInfo, TagInfo};
use crate::koji::rpms::{build_rpms, choose_copies, listed_arches, RpmsError};
use crate::koji::Koji;
use crate::modules::koji::TaggedModules;
use crate::modules::{modular_content, ContentRequest};

/// Opened tags: each exists on the hub.
pub struct KojiTag<'a> {
    koji: &'a Koji,
    tags: Vec<TagInfo>,
    /// The requested event, then the pinned one.
    event: Option<i64>,
    inherit: bool,
    /// RPM arches taken (the compose's, multilib, `noarch`).
    arches: Vec<String>,
    /// The compose's arches.
    compose_arches: Vec<String>,
    builds: Vec<String>,
    sigkeys: Sigkeys,
    /// The tags and the tags they inherit from, once asked for.
    inherited: Option<Vec<i64>>,
    modular: TagModules<'a>,
}

/// The modules a tag compose adds.
struct TagModules<'a> {
    /// Tags whose module streams are all taken.
    tags: Vec<String>,
    /// Module builds taken besides (`N:S:V:C`).
    builds: Vec<String>,
    defaults: Option<ModuleDefaults>,
    base_module_names: &'a [String],
    file_roots: &'a [std::path::PathBuf],
    blocked_networks: &'a [ipnet::IpNet],
    max_metadata_bytes: u64,
}

impl TagModules<'_> {
    fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.builds.is_empty()
    }
}

impl<'a> KojiTag<'a> {
    /// Opens `source`: fails with the reference's "Unknown Koji tag X." when the hub does not
    /// know a tag.
    pub fn open(
        source: &TagSource,
        spec: &ComposeSpec,
        ctx: &SourceContext<'a>,
    ) -> Result<KojiTag<'a>, SourceError> {
        let koji = ctx.koji()?;
        let mut tags = Vec::with_capacity(source.tags.len());
        for name in &source.tags {
            let tag = koji
                .hub
                .tag(name)?
                .ok_or_else(|| SourceError::message(format!("Unknown Koji tag {name}.")))?;
            tags.push(tag);
        }
        Ok(KojiTag {
            koji,
            tags,
            event: source.koji_event,
            inherit: !spec.options.has(ComposeFlag::NoInheritance),
            arches: listed_arches(&spec.arches, &spec.options.multilib_arches),
            builds: source.builds.as_slice().to_vec(),
            sigkeys: spec.sigkeys.clone(),
            inherited: None,
            modular: TagModules {
                tags: source.modular.koji_tags.as_slice().to_vec(),
                builds: source.modules.as_slice().to_vec(),
                defaults: source.modular.defaults.clone(),
                base_module_names: ctx.base_module_names,
                file_roots: ctx.repo_roots,
                blocked_networks: ctx.fetcher.blocked_networks(),
                max_metadata_bytes: ctx.max_metadata_bytes,
            },
            compose_arches: spec.arches.clone(),
        })
    }

    /// The tags' latest RPMs at `event` (a package from the first tag that has it), with the
    /// extra builds replacing the tags' builds of the same packages.
    fn rpms(&self, event: i64) -> Result<Vec<(RpmInfo, BuildInfo)>, RpmsError> {
        let hub = &self.koji.hub;
        let mut selected: Vec<(RpmInfo, BuildInfo)> = Vec::new();
        let mut taken: HashSet<String> = HashSet::new();
        for tag in &self.tags {
            let (rpms, builds) =
                hub.latest_tagged_rpms(&tag.name, event, self.inherit, Some(self.arches.clone()))?;
            let by_id: HashMap<i64, BuildInfo> = builds
                .into_iter()
                .filter(|b| !taken.contains(&b.name))
                .map(|b| (b.id, b))
                .collect();
            taken.extend(by_id.values().map(|b| b.name.clone()));
            selected.extend(
                rpms.into_iter()
                    .filter_map(|r| by_id.get(&r.build_id).cloned().map(|b| (r, b))),
            );
        }
        if !self.builds.is_empty() {
            let extra = build_rpms(hub, &self.builds, &self.arches)?;
            let replaced: HashSet<&str> = extra.iter().map(|(_, b)| b.name.as_str()).collect();
            selected.retain(|(_, b)| !replaced.contains(b.name.as_str()));
            selected.extend(extra);
        }
        Ok(selected)
    }
}

impl KojiTag<'_> {
    /// The modules the compose adds at `event`: their RPMs and metadata.
    fn modules(
        &self,
        event: i64,
        ctx: &ResolveContext<'_>,
    ) -> Result<(Vec<(RpmInfo, BuildInfo)>, ModularContent), SourceError> {
        let modular = &self.modular;
        let tagged = TaggedModules::read(&self.koji.hub, &modular.tags, event)?;
        let mut builds = tagged.all();
        builds.extend(tagged.resolve(&modular.builds, false, modular.base_module_names)?);
        ctx.log.line(format_args!(
            "Modules from {}: {}",
            if modular.tags.is_empty() {
                "the request".to_owned()
            } else {
                format!("Koji tags {}", modular.tags.join(" "))
            },
            if builds.is_empty() {
                "none".to_owned()
            } else {
                builds.join(" ")
            }
        ));
        Ok(modular_content(&ContentRequest {
            koji: self.koji,
            nsvcs: &builds,
            arches: &self.compose_arches,
            rpm_arches: &self.arches,
            event,
            max_metadata_bytes: modular.max_metadata_bytes,
            defaults: modular.defaults.as_ref(),
            file_roots: modular.file_roots,
            blocked_networks: modular.blocked_networks,
            scratch: &ctx.layout.top,
        })?)
    }
}

impl Source for KojiTag<'_> {
    fn pin(&mut self) -> Result<Option<i64>, SourceError> {
        let event = match self.event {
            Some(event) => event,
            None => self.koji.hub.last_event()?.id,
        };
        self.event = Some(event);
        Ok(Some(event))
    }

    /// An earlier compose read the tag at `event` (not after this one's): its content is this
    /// one's when neither the tag nor any tag it inherits from changed since.
    fn unchanged_since(&mut self, event: Option<i64>) -> Result<bool, SourceError> {
        let (Some(old), Some(pinned)) = (event, self.event) else {
            return Ok(false);
        };
        if old > pinned {
            return Ok(false);
        }
        let tags = match &self.inherited {
            Some(tags) => tags,
            None => {
                let mut all = Vec::new();
                for tag in &self.tags {
                    all.extend(self.koji.hub.inherited_tags(tag)?);
                }
                for name in &self.modular.tags {
                    if let Some(tag) = self.koji.hub.tag(name)? {
                        all.extend(self.koji.hub.inherited_tags(&tag)?);
                    }
                }
                all.sort_unstable();
                all.dedup();
                self.inherited.insert(all)
            }
        };
        Ok(!self.koji.hub.tags_changed_since(old, tags)?)
    }

    fn resolve(self: Box<Self>, ctx: &ResolveContext<'_>) -> Result<Resolved, SourceError> {
        let event = match self.event {
            Some(event) => event,
            None => self.koji.hub.last_event()?.id,
        };
        let mut rpms = self.rpms(event)?;
        let names: Vec<&str> = self.tags.iter().map(|t| t.name.as_str()).collect();
        ctx.log.line(format_args!(
            "Koji tag {} at event {event}{}: {} RPMs",
            names.join(" "),
            if self.inherit {
                ""
            } else {
                " without inheritance"
            },
            rpms.len()
        ));
        let modules = if self.modular.is_empty() {
            None
        } else {
            let (module_rpms, content) = self.modules(event, ctx)?;
            rpms.extend(module_rpms);
            Some(content)
        };
        let wanted = choose_copies(&self.koji.hub, rpms, &self.sigkeys)?;
        let files = self.koji.fetch(&wanted, ctx.log)?;
        Ok(Resolved::Packages(PackageSet {
            modules,
            ..PackageSet::chosen(files)
        }))
    }
}
