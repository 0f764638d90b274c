//! The `build` source type: the RPMs of listed Koji builds.

use odcs_common::spec::{BuildSource, ComposeSpec, Sigkeys};

use super::{PackageSet, ResolveContext, Resolved, Source, SourceContext, SourceError};
use crate::koji::rpms::{build_rpms, choose_copies, listed_arches};
use crate::koji::Koji;

/// Listed builds, to be read from the hub.
pub struct KojiBuilds<'a> {
    koji: &'a Koji,
    builds: Vec<String>,
    arches: Vec<String>,
    sigkeys: Sigkeys,
}

impl<'a> KojiBuilds<'a> {
    /// Opens `source` (builds are checked when resolved, all in one batch).
    pub fn open(
        source: &BuildSource,
        spec: &ComposeSpec,
        ctx: &SourceContext<'a>,
    ) -> Result<KojiBuilds<'a>, SourceError> {
        if source.builds.is_empty() {
            return Err(SourceError::message(
                "build composes need at least one build in \"builds\"",
            ));
        }
        Ok(KojiBuilds {
            koji: ctx.koji()?,
            builds: source.builds.as_slice().to_vec(),
            arches: listed_arches(&spec.arches, &spec.options.multilib_arches),
            sigkeys: spec.sigkeys.clone(),
        })
    }
}

impl Source for KojiBuilds<'_> {
    /// Builds never change: there is nothing to pin.
    fn pin(&mut self) -> Result<Option<i64>, SourceError> {
        Ok(None)
    }

    fn unchanged_since(&mut self, event: Option<i64>) -> Result<bool, SourceError> {
        Ok(event.is_none())
    }

    fn resolve(self: Box<Self>, ctx: &ResolveContext<'_>) -> Result<Resolved, SourceError> {
        let hub = &self.koji.hub;
        let rpms = build_rpms(hub, &self.builds, &self.arches)?;
        ctx.log.line(format_args!(
            "Koji builds {}: {} RPMs",
            self.builds.join(" "),
            rpms.len()
        ));
        let wanted = choose_copies(hub, rpms, &self.sigkeys)?;
        let files = self.koji.fetch(&wanted, ctx.log)?;
        Ok(Resolved::Packages(PackageSet::chosen(files)))
    }
}
