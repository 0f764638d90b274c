//! Koji RPM selection every Koji source shares: the RPMs of builds, and which copy of each
//! (signed by which key) a compose takes.

use std::collections::BTreeSet;

use odcs_common::arch::compatible_arches;
use odcs_common::reason::listed;
use odcs_common::spec::Sigkeys;
use thiserror::Error;

use super::hub::{KojiError, KojiHub};
use super::model::{BuildInfo, RpmInfo, BUILD_COMPLETE};
use super::storage::WantedRpm;
use crate::package::sigkey::{describe_keys, key_accepts};

/// Why Koji's RPMs cannot be had; messages are for the compose's user.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RpmsError {
    /// Builds that do not exist.
    #[error("Unknown Koji builds: {}", listed(.0, ", "))]
    UnknownBuilds(Vec<String>),
    /// Builds that are not complete.
    #[error("Koji builds not complete: {}", listed(.0, ", "))]
    IncompleteBuilds(Vec<String>),
    /// RPMs without a signed copy for any accepted key.
    #[error("RPMs not signed with any of the keys {}: {}", describe_keys(.keys), listed(.rpms, "; "))]
    Unsigned {
        /// The accepted keys in order.
        keys: Vec<String>,
        /// Each RPM and the keys it has copies for.
        rpms: Vec<String>,
    },
    /// The hub failed.
    #[error(transparent)]
    Hub(#[from] KojiError),
}

impl RpmsError {
    /// Whether trying again later may succeed (the hub was unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(self, RpmsError::Hub(e) if e.is_transient())
    }
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

/// The RPMs of the builds `nvrs` in `arches`; fails naming unknown or incomplete builds.
pub fn build_rpms(
    hub: &KojiHub,
    nvrs: &[String],
    arches: &[String],
) -> Result<Vec<(RpmInfo, BuildInfo)>, RpmsError> {
    let builds = hub.builds(nvrs)?;
    let unknown: Vec<String> = nvrs
        .iter()
        .zip(&builds)
        .filter(|(_, b)| b.is_none())
        .map(|(nvr, _)| nvr.clone())
        .collect();
    if !unknown.is_empty() {
        return Err(RpmsError::UnknownBuilds(unknown));
    }
    let builds: Vec<BuildInfo> = builds.into_iter().flatten().collect();
    let incomplete: Vec<String> = builds
        .iter()
        .filter(|b| b.state != BUILD_COMPLETE)
        .map(|b| b.nvr.clone())
        .collect();
    if !incomplete.is_empty() {
        return Err(RpmsError::IncompleteBuilds(incomplete));
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
/// the unsigned file); keys that accept anything take every RPM unsigned. Fails naming each
/// RPM with no accepted copy and the keys it has.
pub fn choose_copies(
    hub: &KojiHub,
    rpms: Vec<(RpmInfo, BuildInfo)>,
    sigkeys: &Sigkeys,
) -> Result<Vec<WantedRpm>, RpmsError> {
    let keys: Vec<String> = sigkeys
        .as_slice()
        .iter()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    let unsigned = |(rpm, build): (RpmInfo, BuildInfo)| WantedRpm {
        rpm,
        build,
        sigkey: None,
    };
    if sigkeys.accepts_any() {
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
        return Err(RpmsError::Unsigned {
            keys,
            rpms: refused,
        });
    }
    Ok(wanted)
}

/// An RPM without an accepted signed copy, with the keys it has copies for.
pub fn refusal(rpm: &RpmInfo, have: &[String]) -> String {
    let keys = if have.is_empty() {
        "no key".to_owned()
    } else {
        have.join(", ")
    };
    format!("{} (signed with {keys})", rpm.nvra())
}

#[cfg(test)]
mod tests {
    use super::*;

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
