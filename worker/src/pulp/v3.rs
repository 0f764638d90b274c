//! The Pulp 3 REST API: what Pulp 2 kept in repository notes are labels of RPM distributions
//! (`pulp_labels`): `content_set`, `arch`, `signatures` (comma separated keys) and
//! `include_in_download_service` (`True` when published). A distribution's name is its id, and
//! its `base_url` is where its content is served.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{is_true, sigkeys, Http, PulpError, PulpRepo};

/// RPM distributions, relative to the server.
const DISTRIBUTIONS: &str = "pulp/api/v3/distributions/rpm/rpm/";
/// Distributions asked for per page.
const PAGE_SIZE: &str = "100";

/// A distribution as `distributions/rpm/rpm/` lists it.
#[derive(Debug, Deserialize)]
struct Distribution {
    name: String,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    pulp_labels: BTreeMap<String, String>,
}

/// One page of a Pulp 3 list.
#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    next: Option<String>,
    results: Vec<Distribution>,
}

impl Distribution {
    fn is_published(&self) -> bool {
        self.pulp_labels
            .get("include_in_download_service")
            .is_some_and(|v| is_true(v))
    }

    fn label(&self, key: &str) -> Option<String> {
        self.pulp_labels.get(key).filter(|v| !v.is_empty()).cloned()
    }

    fn into_repo(self, http: &Http) -> Result<PulpRepo, PulpError> {
        let url = self
            .base_url
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| http.protocol(format!("distribution {} has no base_url", self.name)))?;
        Ok(PulpRepo {
            url,
            arch: self.label("arch"),
            sigkeys: sigkeys(
                self.pulp_labels
                    .get("signatures")
                    .map_or("", String::as_str),
            ),
            content_set: self.label("content_set"),
            id: self.name,
        })
    }
}

/// Every distribution matching `filter`, following Pulp's page links (which must stay on the
/// server: credentials go with them).
fn distributions(http: &Http, filter: (&str, &str)) -> Result<Vec<Distribution>, PulpError> {
    let mut found = Vec::new();
    let mut page = http.get(DISTRIBUTIONS, &[filter, ("limit", PAGE_SIZE)])?;
    loop {
        let answer = page.ok_or_else(|| {
            http.protocol("distributions/rpm/rpm/ is not found: is pulp-rpm installed?")
        })?;
        let listed: Page = serde_json::from_value(answer)
            .map_err(|e| http.protocol(format!("distributions/rpm/rpm/: {e}")))?;
        found.extend(listed.results);
        let Some(next) = listed.next else {
            return Ok(found);
        };
        if !next.starts_with(&http.url("")) {
            return Err(http.protocol(format!("a page link leaves the server: {next}")));
        }
        page = http.get_url(&next, &[])?;
    }
}

/// Distributions labelled with one of `content_sets`, published ones only unless
/// `include_unpublished`: one listing per content set.
pub(super) fn repos_by_content_set(
    http: &Http,
    content_sets: &[String],
    include_unpublished: bool,
) -> Result<BTreeMap<String, Vec<PulpRepo>>, PulpError> {
    let mut by_set: BTreeMap<String, Vec<PulpRepo>> = BTreeMap::new();
    for set in content_sets {
        let selector = format!("content_set={set}");
        for distribution in distributions(http, ("pulp_label_select", &selector))? {
            let labelled = distribution.label("content_set").as_ref() == Some(set);
            if labelled && (include_unpublished || distribution.is_published()) {
                by_set
                    .entry(set.clone())
                    .or_default()
                    .push(distribution.into_repo(http)?);
            }
        }
    }
    Ok(by_set)
}

/// The distributions named `ids` that exist (published ones only unless
/// `include_unpublished`).
pub(super) fn repos_by_id(
    http: &Http,
    ids: &[String],
    include_unpublished: bool,
) -> Result<BTreeMap<String, PulpRepo>, PulpError> {
    let mut found = BTreeMap::new();
    for id in ids {
        for distribution in distributions(http, ("name", id))? {
            if distribution.name == *id && (include_unpublished || distribution.is_published()) {
                found.insert(id.clone(), distribution.into_repo(http)?);
            }
        }
    }
    Ok(found)
}
