//! The Module Build Service: finds the newest build of each requested module and of the
//! modules they need at run time, as the reference does.

use std::collections::BTreeMap;
use std::time::Duration;

use odcs_common::config::Config;
use odcs_common::spec::BaseModuleBounds;
use serde::Deserialize;
use thiserror::Error;

use super::modulemd::{read_stream, ModuleStream};

/// MBS build states: `done` (built, not yet tagged into its final tag) and `ready`.
const STATE_DONE: &str = "3";
const STATE_READY: &str = "5";
/// Builds asked for per page: every context of a module's newest version fits.
const PER_PAGE: &str = "100";

/// Why MBS could not answer, or what it answered cannot be composed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MbsError {
    /// MBS could not be reached, or failed, through every attempt.
    #[error("MBS {url} is unreachable: {reason}")]
    Unreachable {
        /// The MBS API root.
        url: String,
        /// The last error.
        reason: String,
    },
    /// MBS answered something that is not its API's JSON.
    #[error("MBS {url} answered something unreadable: {reason}")]
    Protocol {
        /// The MBS API root.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A requested (or required) module has no build in the states asked for.
    #[error("Module {nsvc} was not found in MBS in the {states} state")]
    NotFound {
        /// What was looked for.
        nsvc: String,
        /// `ready`, or `ready or done`.
        states: &'static str,
    },
    /// Several requested modules have no build in the states asked for.
    #[error("Modules {} were not found in MBS in the {states} state", odcs_common::reason::listed(.nsvcs, ", "))]
    NoneFound {
        /// What was looked for.
        nsvcs: Vec<String>,
        /// `ready`, or `ready or done`.
        states: &'static str,
    },
    /// Two builds of one module cannot be in one compose.
    #[error("{0}")]
    Conflict(String),
    /// A build's modulemd is unusable.
    #[error(transparent)]
    Modulemd(#[from] super::modulemd::ModulemdError),
    /// The compose was told to stop while MBS was being retried.
    #[error("MBS lookup stopped ({cause}); last error: {last}")]
    Stopped {
        /// Why it stopped.
        cause: crate::cancel::Cancelled,
        /// The last error before it stopped.
        last: String,
    },
}

impl MbsError {
    /// Whether trying later may succeed (MBS was down or failing).
    pub fn is_transient(&self) -> bool {
        matches!(self, MbsError::Unreachable { .. })
    }
}

/// A base module a build was built against, as MBS lists it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BaseModuleBuild {
    /// Its name, e.g. `platform`.
    pub name: String,
    /// Its stream, e.g. `f39`.
    pub stream: String,
    /// Its stream version, e.g. 390000 (MBS writes it as a number).
    #[serde(default)]
    pub stream_version: Option<f64>,
}

/// One module build as `GET /1/module-builds/?verbose=true` lists it.
#[derive(Debug, Clone, Deserialize)]
struct ListedBuild {
    name: String,
    stream: String,
    version: serde_json::Value,
    context: Option<String>,
    #[serde(default)]
    modulemd: Option<String>,
    #[serde(default)]
    base_module_buildrequires: Vec<BaseModuleBuild>,
}

#[derive(Debug, Deserialize)]
struct Page {
    items: Vec<ListedBuild>,
}

/// MBS lookups one compose runs at once (each waits mostly on MBS).
const LOOKUPS_AT_ONCE: usize = 8;

/// A module build chosen for a compose.
#[derive(Debug, Clone)]
pub struct MbsModule {
    /// Its modulemd (renamed and with its module as a requirement for `-devel` modules).
    pub modulemd: ModuleStream,
    /// The base modules it was built against.
    pub base_modules: Vec<BaseModuleBuild>,
}

impl MbsModule {
    /// `NAME:STREAM:VERSION:CONTEXT`.
    pub fn nsvc(&self) -> String {
        self.modulemd.nsvc()
    }
}

/// A client of one MBS.
pub struct Mbs {
    http: reqwest::blocking::Client,
    url: String,
    attempts: u32,
    backoff: Duration,
}

impl Mbs {
    /// The MBS `config` names, if any.
    pub fn from_config(config: &Config) -> Result<Option<Mbs>, MbsError> {
        let mbs = &config.mbs;
        if !mbs.is_enabled() {
            return Ok(None);
        }
        let url = mbs.url.trim_end_matches('/').to_owned();
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(mbs.timeout_seconds))
            .user_agent(concat!("odcs-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MbsError::Protocol {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        Ok(Some(Mbs {
            http,
            url,
            attempts: mbs.attempts.max(1),
            backoff: Duration::from_millis(mbs.retry_backoff_ms),
        }))
    }

    /// The MBS API root.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Module builds matching `params`, newest version first.
    fn list(&self, params: &[(&str, String)]) -> Result<Vec<ListedBuild>, MbsError> {
        let endpoint = format!("{}/1/module-builds/", self.url);
        let mut last = String::new();
        let mut wait = self.backoff;
        for attempt in 0..self.attempts {
            if attempt > 0 {
                crate::cancel::sleep_before_retry(wait).map_err(|cause| MbsError::Stopped {
                    cause,
                    last: last.clone(),
                })?;
                wait = wait.saturating_mul(2);
            }
            let response = match self.http.get(&endpoint).query(params).send() {
                Ok(response) => response,
                Err(e) => {
                    last = odcs_common::report::error_chain(&e);
                    continue;
                }
            };
            let status = response.status();
            if status.is_server_error() {
                last = format!("HTTP {status}");
                continue;
            }
            if !status.is_success() {
                return Err(MbsError::Protocol {
                    url: self.url.clone(),
                    reason: format!("HTTP {status} for {endpoint}"),
                });
            }
            let protocol = |reason: String| MbsError::Protocol {
                url: self.url.clone(),
                reason,
            };
            let body = match response.bytes() {
                Ok(body) => body,
                Err(e) => {
                    last = odcs_common::report::error_chain(&e);
                    continue;
                }
            };
            let page: Page = serde_json::from_slice(&body).map_err(|e| protocol(e.to_string()))?;
            return Ok(page.items);
        }
        Err(MbsError::Unreachable {
            url: self.url.clone(),
            reason: last,
        })
    }

    /// Every context of the newest version of `nsvc` (`N:S[:V[:C]]`) in the ready state (or
    /// done too), within `bounds`. A `-devel` module MBS does not know is its module's build
    /// under the `-devel` name, requiring its module.
    pub fn latest(
        &self,
        nsvc: &str,
        include_done: bool,
        bounds: &BaseModuleBounds,
    ) -> Result<Vec<MbsModule>, MbsError> {
        let mut params = vec![
            ("nsvc", nsvc.to_owned()),
            ("state", STATE_READY.to_owned()),
            ("verbose", "true".to_owned()),
            ("order_desc_by", "version".to_owned()),
            ("per_page", PER_PAGE.to_owned()),
        ];
        if include_done {
            params.push(("state", STATE_DONE.to_owned()));
        }
        if let Some(name) = &bounds.name {
            params.push(("base_module_br_name", name.clone()));
        }
        if let Some(stream) = &bounds.stream {
            params.push(("base_module_br_stream", stream.clone()));
        }
        if let Some(lte) = bounds.stream_version_lte {
            params.push(("base_module_br_stream_version_lte", lte.to_string()));
        }
        if let Some(gte) = bounds.stream_version_gte {
            params.push(("base_module_br_stream_version_gte", gte.to_string()));
        }
        let mut builds = self.list(&params)?;
        let name = nsvc.split(':').next().unwrap_or_default();
        let devel_of = name.strip_suffix("-devel").filter(|_| builds.is_empty());
        if let Some(module) = devel_of {
            params[0].1 = format!("{module}{}", &nsvc[name.len()..]);
            builds = self.list(&params)?;
        }
        let Some(newest) = builds.first().map(|b| version_text(&b.version)) else {
            return Err(MbsError::NotFound {
                nsvc: nsvc.to_owned(),
                states: if include_done {
                    "ready or done"
                } else {
                    "ready"
                },
            });
        };
        let mut out = Vec::new();
        for build in builds
            .into_iter()
            .take_while(|b| version_text(&b.version) == newest)
        {
            let what = format!(
                "the modulemd of {}:{}:{}:{} in MBS",
                build.name,
                build.stream,
                newest,
                build.context.clone().unwrap_or_default()
            );
            let mut modulemd = read_stream(build.modulemd.as_deref().unwrap_or_default(), &what)?;
            if devel_of.is_some() {
                let (module, stream) = (modulemd.name(), modulemd.stream());
                modulemd.rename(name);
                modulemd.add_runtime_requirement(&module, &stream);
            }
            out.push(MbsModule {
                modulemd,
                base_modules: build.base_module_buildrequires,
            });
        }
        Ok(out)
    }
}

/// MBS writes versions as numbers or strings.
fn version_text(version: &serde_json::Value) -> String {
    match version {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a module request asks MBS for.
#[derive(Debug, Clone, Default)]
pub struct ModuleQuery<'a> {
    /// `N:S[:V[:C]]` of each requested module.
    pub requested: &'a [String],
    /// Whether builds in the done state are taken too (always for a full NSVC).
    pub include_done: bool,
    /// Whether the modules they need at run time are added.
    pub with_dependencies: bool,
    /// Bounds on the base module the requested modules were built against.
    pub bounds: BaseModuleBounds,
    /// Base modules: never added, never expanded.
    pub base_module_names: &'a [String],
}

/// The module builds a compose of `query` holds: the newest of each requested module and,
/// unless told otherwise, of each module they need at run time (with stream versions bounded
/// by the base module the requiring build was built against). Two versions or two streams of
/// one module are refused.
pub fn resolve(mbs: &Mbs, query: &ModuleQuery<'_>) -> Result<Vec<MbsModule>, MbsError> {
    let mut chosen: BTreeMap<String, Vec<MbsModule>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut add = |builds: Vec<MbsModule>,
                   chosen: &mut BTreeMap<String, Vec<MbsModule>>|
     -> Result<Vec<MbsModule>, MbsError> {
        let mut added = Vec::new();
        for build in builds {
            let key = format!("{}:{}", build.modulemd.name(), build.modulemd.stream());
            let same = chosen.entry(key.clone()).or_default();
            if let Some(first) = same.first() {
                if first.modulemd.version() != build.modulemd.version() {
                    return Err(MbsError::Conflict(format!(
                        "{} conflicts with {}: one compose holds one version of a module stream",
                        build.nsvc(),
                        first.nsvc()
                    )));
                }
                if same
                    .iter()
                    .any(|b| b.modulemd.context() == build.modulemd.context())
                {
                    continue;
                }
            } else {
                order.push(key);
            }
            same.push(build.clone());
            added.push(build);
        }
        Ok(added)
    };
    let mut added = Vec::new();
    let mut missing = Vec::new();
    let found = crate::cancel::map_concurrently(query.requested, LOOKUPS_AT_ONCE, |nsvc| {
        let full = nsvc.split(':').count() == 4;
        mbs.latest(nsvc, query.include_done || full, &query.bounds)
    });
    for lookup in found {
        match lookup {
            Ok(builds) => added.extend(add(builds, &mut chosen)?),
            Err(MbsError::NotFound { nsvc, states }) => missing.push((nsvc, states)),
            Err(e) => return Err(e),
        }
    }
    match missing.len() {
        0 => {}
        1 => {
            let (nsvc, states) = missing.remove(0);
            return Err(MbsError::NotFound { nsvc, states });
        }
        _ => {
            let states = if query.include_done {
                "ready or done"
            } else {
                "ready"
            };
            return Err(MbsError::NoneFound {
                nsvcs: missing.into_iter().map(|(n, _)| n).collect(),
                states,
            });
        }
    }
    while query.with_dependencies && !added.is_empty() {
        // This level's requirements, looked up together; a stream required twice is taken
        // from its first requirer, as a one-by-one walk would.
        let mut wanted: Vec<(String, BaseModuleBounds)> = Vec::new();
        for build in std::mem::take(&mut added) {
            let (lte, gte) = stream_version_bounds(&build.base_modules);
            let bounds = BaseModuleBounds {
                stream_version_lte: lte,
                stream_version_gte: gte,
                ..BaseModuleBounds::default()
            };
            for (name, streams) in build.modulemd.runtime_requires() {
                if query.base_module_names.contains(&name) {
                    continue;
                }
                for stream in streams.iter().filter(|s| !s.starts_with('-')) {
                    let key = format!("{name}:{stream}");
                    if !chosen.contains_key(&key) && !wanted.iter().any(|(k, _)| *k == key) {
                        wanted.push((key, bounds.clone()));
                    }
                }
            }
        }
        let found = crate::cancel::map_concurrently(&wanted, LOOKUPS_AT_ONCE, |(key, bounds)| {
            mbs.latest(key, false, bounds)
        });
        let mut next = Vec::new();
        for lookup in found {
            next.extend(add(lookup?, &mut chosen)?);
        }
        added = next;
    }
    super::one_stream_per_module(chosen.keys().map(String::as_str)).map_err(MbsError::Conflict)?;
    Ok(order
        .iter()
        .flat_map(|key| chosen.remove(key).unwrap_or_default())
        .filter(|b| !query.base_module_names.contains(&b.modulemd.name()))
        .collect())
}

/// The stream-version window a dependency of a build is looked up in: at most the stream
/// version of the base module the build was built against, at least that version's major
/// release (the digits of the base module's stream, padded with zeros to the same length).
fn stream_version_bounds(base_modules: &[BaseModuleBuild]) -> (Option<i64>, Option<i64>) {
    let Some(base) = base_modules.last() else {
        return (None, None);
    };
    let Some(version) = base.stream_version.map(|v| v as i64) else {
        return (None, None);
    };
    let major: String = base
        .stream
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    let digits = version.to_string().len();
    let gte = (!major.is_empty() && major.len() <= digits)
        .then(|| format!("{major:0<digits$}").parse().ok())
        .flatten();
    (Some(version), gte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_windows_follow_the_base_module_stream() {
        let base = |stream: &str, version: f64| BaseModuleBuild {
            name: "platform".into(),
            stream: stream.into(),
            stream_version: Some(version),
        };
        assert_eq!(
            stream_version_bounds(&[base("f39", 390000.0)]),
            (Some(390000), Some(390000))
        );
        assert_eq!(
            stream_version_bounds(&[base("el8.4.0", 80400.0)]),
            (Some(80400), Some(80000))
        );
        assert_eq!(
            stream_version_bounds(&[base("rawhide", 400000.0)]),
            (Some(400000), None)
        );
        assert_eq!(stream_version_bounds(&[]), (None, None));
    }
}
