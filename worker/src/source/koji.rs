//! The Koji source types: `tag` (the latest builds of a tag at an event, with inheritance,
//! plus extra builds), `build` (listed builds) and `pungi_compose` (the RPMs of an external
//! Pungi compose). Each resolves to the RPM files to fetch from Koji's storage.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use odcs_common::compose::SourceType;
use thiserror::Error;

use crate::gather::lookaside::Fetcher;
use crate::gather::multilib::compatible_arches;
use crate::koji::hub::{KojiError, KojiHub};
use crate::koji::model::{BuildInfo, RpmInfo, TagInfo, BUILD_COMPLETE};
use crate::koji::storage::WantedRpm;
use crate::package::sigkey::{describe_keys, key_accepts};

/// Why a Koji source cannot be resolved; messages are for the compose's user.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KojiSourceError {
    /// No hub is configured.
    #[error("Koji composes are disabled: no koji_hub_url is configured")]
    NotConfigured,
    /// The tag does not exist (the reference's wording).
    #[error("Unknown Koji tag {0}.")]
    UnknownTag(String),
    /// Builds that do not exist.
    #[error("Unknown Koji builds: {}", .0.join(", "))]
    UnknownBuilds(Vec<String>),
    /// Builds that are not complete.
    #[error("Koji builds not complete: {}", .0.join(", "))]
    IncompleteBuilds(Vec<String>),
    /// RPMs without a signed copy for any accepted key.
    #[error("RPMs not signed with any of the keys {}: {}", describe_keys(.keys), .rpms.join("; "))]
    Unsigned {
        /// The accepted keys in order.
        keys: Vec<String>,
        /// Each RPM and the keys it has copies for.
        rpms: Vec<String>,
    },
    /// The external Pungi compose could not be read.
    #[error("cannot read the Pungi compose {url}: {reason}")]
    PungiCompose {
        /// The metadata URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The hub failed.
    #[error(transparent)]
    Hub(#[from] KojiError),
}

/// Whether `source_type` is built from Koji.
pub fn is_koji_source(source_type: SourceType) -> bool {
    matches!(
        source_type,
        SourceType::Tag | SourceType::Build | SourceType::PungiCompose
    )
}

/// The arches to list: the compose's, their multilib companions, `noarch` and `src`.
pub fn listed_arches(arches: &[String], multilib_arches: &[String]) -> Vec<String> {
    let mut listed: BTreeSet<String> = arches.iter().cloned().collect();
    for arch in multilib_arches {
        listed.extend(compatible_arches(arch).iter().map(|a| (*a).to_owned()));
    }
    listed.insert("noarch".into());
    listed.insert("src".into());
    listed.into_iter().collect()
}

/// The tag named `name`, or [`KojiSourceError::UnknownTag`].
pub fn known_tag(hub: &KojiHub, name: &str) -> Result<TagInfo, KojiSourceError> {
    hub.tag(name)?
        .ok_or_else(|| KojiSourceError::UnknownTag(name.to_owned()))
}

/// A `tag` compose: the latest RPMs of `tag` at `event` (inherited unless `inherit` is
/// false), with `extra_builds` replacing the tag's builds of the same packages.
pub fn tag_rpms(
    hub: &KojiHub,
    tag: &TagInfo,
    event: i64,
    inherit: bool,
    arches: &[String],
    extra_builds: &[String],
) -> Result<Vec<(RpmInfo, BuildInfo)>, KojiSourceError> {
    let (rpms, builds) =
        hub.latest_tagged_rpms(&tag.name, event, inherit, Some(arches.to_vec()))?;
    let by_id: HashMap<i64, BuildInfo> = builds.into_iter().map(|b| (b.id, b)).collect();
    let mut selected: Vec<(RpmInfo, BuildInfo)> = rpms
        .into_iter()
        .filter_map(|r| by_id.get(&r.build_id).cloned().map(|b| (r, b)))
        .collect();
    if !extra_builds.is_empty() {
        let extra = build_rpms(hub, extra_builds, arches)?;
        let replaced: HashSet<&str> = extra.iter().map(|(_, b)| b.name.as_str()).collect();
        selected.retain(|(_, b)| !replaced.contains(b.name.as_str()));
        selected.extend(extra);
    }
    Ok(selected)
}

/// A `build` compose (and a tag compose's extra builds): the RPMs of `nvrs` in `arches`.
pub fn build_rpms(
    hub: &KojiHub,
    nvrs: &[String],
    arches: &[String],
) -> Result<Vec<(RpmInfo, BuildInfo)>, KojiSourceError> {
    let builds = hub.builds(nvrs)?;
    let unknown: Vec<String> = nvrs
        .iter()
        .zip(&builds)
        .filter(|(_, b)| b.is_none())
        .map(|(nvr, _)| nvr.clone())
        .collect();
    if !unknown.is_empty() {
        return Err(KojiSourceError::UnknownBuilds(unknown));
    }
    let builds: Vec<BuildInfo> = builds.into_iter().flatten().collect();
    let incomplete: Vec<String> = builds
        .iter()
        .filter(|b| b.state != BUILD_COMPLETE)
        .map(|b| b.nvr.clone())
        .collect();
    if !incomplete.is_empty() {
        return Err(KojiSourceError::IncompleteBuilds(incomplete));
    }
    let ids: Vec<i64> = builds.iter().map(|b| b.id).collect();
    let rpms = hub.build_rpms(&ids)?;
    Ok(builds
        .into_iter()
        .zip(rpms)
        .flat_map(|(build, rpms)| {
            rpms.into_iter()
                .filter(|r| arches.contains(&r.arch))
                .map(move |r| (r, build.clone()))
        })
        .collect())
}

/// Chooses each RPM's copy: the signed copy for the most preferred key it has (`""` accepts
/// the unsigned file); `None` keys take every RPM unsigned. Fails naming each RPM with no
/// accepted copy and the keys it has.
pub fn choose_copies(
    hub: &KojiHub,
    rpms: Vec<(RpmInfo, BuildInfo)>,
    keys: Option<&[String]>,
) -> Result<Vec<WantedRpm>, KojiSourceError> {
    let keys: Vec<String> = keys
        .unwrap_or_default()
        .iter()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    let unsigned = |(rpm, build): (RpmInfo, BuildInfo)| WantedRpm {
        rpm,
        build,
        sigkey: None,
    };
    if keys.iter().all(String::is_empty) {
        return Ok(rpms.into_iter().map(unsigned).collect());
    }
    let ids: Vec<i64> = rpms.iter().map(|(r, _)| r.id).collect();
    let signatures = hub.rpm_sigkeys(&ids)?;
    let mut wanted = Vec::with_capacity(rpms.len());
    let mut refused = Vec::new();
    for ((rpm, build), have) in rpms.into_iter().zip(signatures) {
        // The first key in preference order with a copy: `Some(None)` is the unsigned file.
        let chosen = keys.iter().find_map(|k| {
            if k.is_empty() {
                return Some(None);
            }
            have.iter()
                .find(|h| key_accepts(k, Some(h.as_str())))
                .map(|h| Some(h.clone()))
        });
        match chosen {
            Some(sigkey) => wanted.push(WantedRpm { rpm, build, sigkey }),
            None => refused.push(refusal(&rpm, &have)),
        }
    }
    if !refused.is_empty() {
        refused.sort();
        return Err(KojiSourceError::Unsigned {
            keys,
            rpms: refused,
        });
    }
    Ok(wanted)
}

/// An RPM without an accepted signed copy, with the keys it has copies for.
fn refusal(rpm: &RpmInfo, have: &[String]) -> String {
    let keys = if have.is_empty() {
        "no key".to_owned()
    } else {
        have.join(", ")
    };
    format!("{} (signed with {keys})", rpm.nvra())
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
) -> Result<PungiComposeRpms, KojiSourceError> {
    let variant_url = variant_url.trim_end_matches('/');
    let (parent, variant) =
        variant_url
            .rsplit_once('/')
            .ok_or_else(|| KojiSourceError::PungiCompose {
                url: variant_url.to_owned(),
                reason: "not a variant URL".into(),
            })?;
    let metadata = format!("{parent}/metadata/rpms.json");
    let failed = |reason: String| KojiSourceError::PungiCompose {
        url: metadata.clone(),
        reason,
    };
    let url = url::Url::parse(&metadata).map_err(|e| failed(e.to_string()))?;
    let bytes = fetcher.get(&url).map_err(|e| failed(e.to_string()))?;
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
) -> Result<Vec<WantedRpm>, KojiSourceError> {
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
        return Err(KojiSourceError::Unsigned {
            keys: keys.into_iter().collect(),
            rpms: refused,
        });
    }
    Ok(wanted)
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

    #[test]
    fn listed_arches_add_multilib_noarch_and_src() {
        let listed = listed_arches(&["x86_64".into()], &["x86_64".into()]);
        assert!(listed.contains(&"i686".to_owned()));
        assert!(listed.contains(&"noarch".to_owned()));
        assert!(listed.contains(&"src".to_owned()));
        assert_eq!(
            listed_arches(&["aarch64".into()], &[]),
            vec!["aarch64".to_owned(), "noarch".into(), "src".into()]
        );
    }
}
