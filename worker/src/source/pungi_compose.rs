//! The `pungi_compose` source type: exactly the RPMs of one variant of an existing Pungi
//! compose (its `metadata/rpms.json`), the same NVRAs and signed copies, taken from Koji.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use odcs_common::spec::{PungiComposeSource, ResolvedRequest, Sigkeys};
use thiserror::Error;

use super::{PackageSet, ResolveContext, Resolved, Source, SourceContext, SourceError};
use crate::fetch::Fetcher;
use crate::koji::hub::KojiHub;
use crate::koji::model::{BuildInfo, RpmInfo};
use crate::koji::rpms::{build_rpms, refusal, RpmsError};
use crate::koji::storage::WantedRpm;
use crate::koji::Koji;

/// Why the external compose cannot be read.
#[derive(Debug, Error)]
#[error("cannot read the Pungi compose {url}: {reason}")]
pub struct PungiComposeError {
    /// The metadata URL.
    url: String,
    /// What went wrong.
    reason: String,
    /// Whether its server was unreachable.
    transient: bool,
}

impl From<PungiComposeError> for SourceError {
    fn from(e: PungiComposeError) -> Self {
        let transient = e.transient;
        SourceError::classified(e, transient)
    }
}

/// The RPMs of one variant of an external Pungi compose, from its `metadata/rpms.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PungiComposeRpms {
    /// Arches the variant has.
    pub arches: BTreeSet<String>,
    /// Source NVR → the NVRAs of its RPMs in the variant, each with its signing key (`None`:
    /// unsigned).
    pub builds: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

/// Reads the variant at `variant_url` (e.g. `https://host/compose/Server`) of a Pungi compose.
pub fn pungi_compose_rpms(
    fetcher: &Fetcher,
    variant_url: &str,
) -> Result<PungiComposeRpms, PungiComposeError> {
    let variant_url = variant_url.trim_end_matches('/');
    let (parent, variant) = variant_url
        .rsplit_once('/')
        .ok_or_else(|| PungiComposeError {
            url: variant_url.to_owned(),
            reason: "not a variant URL".into(),
            transient: false,
        })?;
    let metadata = format!("{parent}/metadata/rpms.json");
    let failed = |reason: String| PungiComposeError {
        url: metadata.clone(),
        reason,
        transient: false,
    };
    let url = url::Url::parse(&metadata).map_err(|e| failed(e.to_string()))?;
    let bytes = fetcher.get(&url).map_err(|e| PungiComposeError {
        url: metadata.clone(),
        reason: e.to_string(),
        transient: e.is_transient(),
    })?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| failed(format!("not JSON: {e}")))?;
    let arches = json
        .pointer(&format!("/payload/rpms/{variant}"))
        .and_then(|v| v.as_object())
        .ok_or_else(|| failed(format!("no payload -> rpms -> {variant} section")))?;
    let mut rpms = PungiComposeRpms::default();
    for (arch, sources) in arches {
        rpms.arches.insert(arch.clone());
        let sources = sources
            .as_object()
            .ok_or_else(|| failed(format!("{variant}.{arch} is not an object")))?;
        for (srpm_nevra, packages) in sources {
            let nvr = source_nvr(srpm_nevra)
                .ok_or_else(|| failed(format!("{srpm_nevra} is not a source NEVRA")))?;
            let entry = rpms.builds.entry(nvr).or_default();
            let packages = packages
                .as_object()
                .ok_or_else(|| failed(format!("{srpm_nevra} is not an object")))?;
            for (nevra, data) in packages {
                let sigkey = data
                    .get("sigkey")
                    .and_then(|k| k.as_str())
                    .map(str::to_ascii_lowercase);
                entry.insert(strip_epoch(nevra), sigkey);
            }
        }
    }
    Ok(rpms)
}

/// `name-epoch:version-release.src` → `name-version-release`.
fn source_nvr(nevra: &str) -> Option<String> {
    let nvra = strip_epoch(nevra);
    let (nvr, arch) = nvra.rsplit_once('.')?;
    (arch == "src" && nvr.matches('-').count() >= 2).then(|| nvr.to_owned())
}

/// Drops the `epoch:` Pungi writes before the version.
fn strip_epoch(nevra: &str) -> String {
    let Some((left, right)) = nevra.split_once(':') else {
        return nevra.to_owned();
    };
    match left.rsplit_once('-') {
        Some((name, epoch)) if epoch.chars().all(|c| c.is_ascii_digit()) => {
            format!("{name}-{right}")
        }
        _ => nevra.to_owned(),
    }
}

/// The RPMs of `compose` taken from Koji: the same builds, the same NVRAs, the same signed
/// copies.
pub fn pungi_compose_selection(
    hub: &KojiHub,
    compose: &PungiComposeRpms,
) -> Result<Vec<WantedRpm>, RpmsError> {
    let nvrs: Vec<String> = compose.builds.keys().cloned().collect();
    let arches: Vec<String> = compose
        .arches
        .iter()
        .cloned()
        .chain(["noarch".into(), "src".into()])
        .collect();
    let wanted_keys: HashMap<String, Option<String>> = compose
        .builds
        .values()
        .flat_map(|rpms| rpms.iter().map(|(n, k)| (n.clone(), k.clone())))
        .collect();
    let rpms = build_rpms(hub, &nvrs, &arches)?;
    let rpms: Vec<(RpmInfo, BuildInfo)> = rpms
        .into_iter()
        .filter(|(r, _)| wanted_keys.contains_key(&r.nvra()))
        .collect();
    let ids: Vec<i64> = rpms.iter().map(|(r, _)| r.id).collect();
    let signatures = if wanted_keys.values().any(Option::is_some) {
        hub.rpm_sigkeys(&ids)?
    } else {
        vec![Vec::new(); ids.len()]
    };
    let mut wanted = Vec::new();
    let mut refused = Vec::new();
    for ((rpm, build), have) in rpms.into_iter().zip(signatures) {
        let key = wanted_keys.get(&rpm.nvra()).cloned().flatten();
        match key {
            Some(k) if !have.contains(&k) => refused.push(refusal(&rpm, &have)),
            sigkey => wanted.push(WantedRpm { rpm, build, sigkey }),
        }
    }
    if !refused.is_empty() {
        let keys: BTreeSet<String> = wanted_keys.into_values().flatten().collect();
        return Err(RpmsError::Unsigned {
            keys: keys.into_iter().collect(),
            rpms: refused,
        });
    }
    Ok(wanted)
}

/// The request fields of a Pungi compose's RPMs: its arches, builds, package names and keys
/// (unsigned allowed last, as a trailing space).
fn resolved_request(external: &PungiComposeRpms) -> ResolvedRequest {
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    let mut unsigned = false;
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for rpms in external.builds.values() {
        for (nvra, key) in rpms {
            match key {
                Some(k) => {
                    keys.insert(k);
                }
                None => unsigned = true,
            }
            if let Some(name) = nvra.rsplitn(3, '-').nth(2) {
                names.insert(name);
            }
        }
    }
    // Stored as the reference stores it: the keys, then a trailing space when unsigned
    // packages are allowed (tried last).
    let mut sigkeys = keys.into_iter().collect::<Vec<_>>().join(" ");
    if unsigned {
        sigkeys.push(' ');
    }
    ResolvedRequest {
        arches: Some(external.arches.iter().cloned().collect()),
        builds: Some(external.builds.keys().cloned().collect()),
        packages: Some(names.into_iter().map(str::to_owned).collect()),
        sigkeys: Some(Sigkeys::from_stored(&sigkeys)),
        source: None,
    }
}

/// An external compose, its RPMs read from its metadata.
pub struct PungiCompose<'a> {
    koji: &'a Koji,
    url: String,
    external: PungiComposeRpms,
}

impl<'a> PungiCompose<'a> {
    /// Opens the compose variant at `source`'s URL: reads its `rpms.json`.
    pub fn open(
        source: &PungiComposeSource,
        ctx: &SourceContext<'a>,
    ) -> Result<PungiCompose<'a>, SourceError> {
        let koji = ctx.koji()?;
        Ok(PungiCompose {
            koji,
            external: pungi_compose_rpms(ctx.fetcher, &source.url)?,
            url: source.url.clone(),
        })
    }
}

impl Source for PungiCompose<'_> {
    /// A finished Pungi compose never changes: there is nothing to pin.
    fn pin(&mut self) -> Result<Option<i64>, SourceError> {
        Ok(None)
    }

    fn unchanged_since(&mut self, event: Option<i64>) -> Result<bool, SourceError> {
        Ok(event.is_none())
    }

    fn resolve(self: Box<Self>, ctx: &ResolveContext<'_>) -> Result<Resolved, SourceError> {
        let wanted = pungi_compose_selection(&self.koji.hub, &self.external)?;
        ctx.log.line(format_args!(
            "Pungi compose {}: {} builds, {} RPMs",
            self.url,
            self.external.builds.len(),
            wanted.len()
        ));
        let files = self.koji.fetch(&wanted, ctx.log)?;
        Ok(Resolved::Packages(PackageSet {
            arches: Some(self.external.arches.iter().cloned().collect()),
            resolved: Some(resolved_request(&self.external)),
            ..PackageSet::chosen(files)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pungi_nevras_lose_their_epoch() {
        assert_eq!(
            strip_epoch("bash-0:5.2-1.fc40.x86_64"),
            "bash-5.2-1.fc40.x86_64"
        );
        assert_eq!(
            strip_epoch("bash-5.2-1.fc40.x86_64"),
            "bash-5.2-1.fc40.x86_64"
        );
        assert_eq!(
            source_nvr("bash-1:5.2-1.fc40.src").as_deref(),
            Some("bash-5.2-1.fc40")
        );
        assert_eq!(source_nvr("bash-5.2-1.fc40.x86_64"), None);
    }
}
