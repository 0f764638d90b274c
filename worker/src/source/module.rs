//! The `module` source type: module builds found through MBS (or in `modular_koji_tags`),
//! with the modules they need at run time unless `no_deps`; their RPMs come from Koji, their
//! defaults from a git repository. Pinning resolves the requested modules to builds
//! (`N:S:V:C`), recorded as the compose's `source`: an identical request reuses a compose
//! while it resolves to the same builds.

use odcs_common::compose::ComposeFlag;
use odcs_common::spec::{BaseModuleBounds, ComposeSpec, ModuleSource, ResolvedRequest, Sigkeys};

use super::{PackageSet, ResolveContext, Resolved, Source, SourceContext, SourceError};
use crate::koji::rpms::{choose_copies, listed_arches};
use crate::koji::Koji;
use crate::modules::koji::TaggedModules;
use crate::modules::mbs::{self, Mbs, ModuleQuery};
use crate::modules::{modular_content, ContentRequest};

/// An opened module request.
pub struct ModuleCompose<'a> {
    koji: &'a Koji,
    ctx: ModuleLookup<'a>,
    requested: Vec<String>,
    modular_tags: Vec<String>,
    defaults: Option<odcs_common::spec::ModuleDefaults>,
    include_done: bool,
    with_dependencies: bool,
    bounds: BaseModuleBounds,
    arches: Vec<String>,
    rpm_arches: Vec<String>,
    sigkeys: Sigkeys,
    /// The Koji event the content is read at, once pinned.
    event: Option<i64>,
    /// The module builds, once pinned.
    nsvcs: Option<Vec<String>>,
}

/// What module lookups use besides Koji.
struct ModuleLookup<'a> {
    mbs: Option<&'a Mbs>,
    base_module_names: &'a [String],
    max_metadata_bytes: u64,
    file_roots: &'a [std::path::PathBuf],
    blocked_networks: &'a [ipnet::IpNet],
}

impl<'a> ModuleCompose<'a> {
    /// Opens `source`: Koji is needed for the content, MBS unless the modules are looked up
    /// in `modular_koji_tags`.
    pub fn open(
        source: &ModuleSource,
        spec: &ComposeSpec,
        ctx: &SourceContext<'a>,
    ) -> Result<ModuleCompose<'a>, SourceError> {
        let koji = ctx.koji()?;
        let modular_tags = source.modular.koji_tags.as_slice().to_vec();
        if modular_tags.is_empty() && ctx.mbs.is_none() {
            return Err(SourceError::message(
                "Module composes need MBS: no mbs_url is configured (or give modular_koji_tags \
                 to find the modules in Koji tags)",
            ));
        }
        Ok(ModuleCompose {
            koji,
            ctx: ModuleLookup {
                mbs: ctx.mbs,
                base_module_names: ctx.base_module_names,
                max_metadata_bytes: ctx.max_metadata_bytes,
                file_roots: ctx.repo_roots,
                blocked_networks: ctx.fetcher.blocked_networks(),
            },
            requested: source.modules.iter().map(ToString::to_string).collect(),
            modular_tags,
            defaults: source.modular.defaults.clone(),
            include_done: spec.options.has(ComposeFlag::IncludeDoneModules),
            with_dependencies: !spec.options.has(ComposeFlag::NoDeps),
            bounds: source.base_module.clone(),
            arches: spec.arches.clone(),
            rpm_arches: listed_arches(&spec.arches, &spec.options.multilib_arches),
            sigkeys: spec.sigkeys.clone(),
            event: None,
            nsvcs: None,
        })
    }

    /// The module builds the request resolves to at `event`.
    fn lookup(&self, event: i64) -> Result<Vec<String>, SourceError> {
        if !self.modular_tags.is_empty() {
            let tagged = TaggedModules::read(&self.koji.hub, &self.modular_tags, event)?;
            return Ok(tagged.resolve(
                &self.requested,
                self.with_dependencies,
                self.ctx.base_module_names,
            )?);
        }
        let Some(mbs) = self.ctx.mbs else {
            return Err(SourceError::message("no mbs_url is configured"));
        };
        let modules = mbs::resolve(
            mbs,
            &ModuleQuery {
                requested: &self.requested,
                include_done: self.include_done,
                with_dependencies: self.with_dependencies,
                bounds: self.bounds.clone(),
                base_module_names: self.ctx.base_module_names,
            },
        )?;
        let mut nsvcs: Vec<String> = modules.iter().map(mbs::MbsModule::nsvc).collect();
        nsvcs.sort();
        nsvcs.dedup();
        Ok(nsvcs)
    }
}

impl Source for ModuleCompose<'_> {
    /// Pins the Koji event and resolves the requested modules to builds at it.
    fn pin(&mut self) -> Result<Option<i64>, SourceError> {
        let event = self.koji.hub.last_event()?.id;
        let nsvcs = self.lookup(event)?;
        if nsvcs.is_empty() {
            return Err(SourceError::message(
                "the requested modules resolve to no module build",
            ));
        }
        self.event = Some(event);
        self.nsvcs = Some(nsvcs);
        Ok(Some(event))
    }

    /// Module builds never change: an earlier compose that resolved to the same builds (the
    /// reuse candidates are found by them) has this one's content.
    fn unchanged_since(&mut self, _event: Option<i64>) -> Result<bool, SourceError> {
        Ok(self.nsvcs.is_some())
    }

    fn pinned(&self) -> Option<ResolvedRequest> {
        self.nsvcs.as_ref().map(|nsvcs| ResolvedRequest {
            source: Some(nsvcs.clone()),
            ..ResolvedRequest::default()
        })
    }

    fn resolve(self: Box<Self>, ctx: &ResolveContext<'_>) -> Result<Resolved, SourceError> {
        let resolved = self.pinned();
        let (Some(event), Some(nsvcs)) = (self.event, self.nsvcs) else {
            return Err(SourceError::message("the module source was not pinned"));
        };
        ctx.log.line(format_args!(
            "Modules {} at Koji event {event}",
            nsvcs.join(" ")
        ));
        let (rpms, content) = modular_content(&ContentRequest {
            koji: self.koji,
            nsvcs: &nsvcs,
            arches: &self.arches,
            rpm_arches: &self.rpm_arches,
            event,
            max_metadata_bytes: self.ctx.max_metadata_bytes,
            defaults: self.defaults.as_ref(),
            file_roots: self.ctx.file_roots,
            blocked_networks: self.ctx.blocked_networks,
            scratch: &ctx.layout.top,
        })?;
        ctx.log.line(format_args!(
            "{} module builds, {} RPMs",
            content.modules.len(),
            rpms.len()
        ));
        let wanted = choose_copies(&self.koji.hub, rpms, &self.sigkeys)?;
        let files = self.koji.fetch(&wanted, ctx.log)?;
        Ok(Resolved::Packages(PackageSet {
            modules: Some(content),
            resolved,
            ..PackageSet::chosen(files)
        }))
    }
}
