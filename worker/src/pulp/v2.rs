//! The Pulp 2 REST API, as the reference speaks it: repositories carry `notes` saying their
//! content set (`content_set`), arch, signing keys (`signatures`), path under the server
//! (`relative_url`) and whether they are published (`include_in_download_service`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use super::{is_true, sigkeys, Http, PulpError, PulpRepo};

/// The API root, relative to the server.
const API: &str = "pulp/api/v2";

/// The notes of a Pulp 2 repository this client reads.
#[derive(Debug, Deserialize)]
struct Notes {
    relative_url: String,
    #[serde(default)]
    arch: Option<String>,
    #[serde(default)]
    signatures: Option<String>,
    #[serde(default)]
    content_set: Option<String>,
    #[serde(default)]
    include_in_download_service: Option<serde_json::Value>,
}

/// A repository as `repositories/search/` and `repositories/{id}/` return it.
#[derive(Debug, Deserialize)]
struct Repository {
    id: String,
    notes: Notes,
}

impl Repository {
    /// Whether the notes say it is published: the string `True`, or JSON `true`.
    fn is_published(&self) -> bool {
        match &self.notes.include_in_download_service {
            Some(serde_json::Value::String(s)) => is_true(s),
            Some(serde_json::Value::Bool(b)) => *b,
            _ => false,
        }
    }

    fn into_repo(self, http: &Http) -> PulpRepo {
        PulpRepo {
            url: http.url(&self.notes.relative_url),
            arch: self.notes.arch.filter(|a| !a.is_empty()),
            sigkeys: sigkeys(self.notes.signatures.as_deref().unwrap_or_default()),
            content_set: self.notes.content_set,
            id: self.id,
        }
    }
}

/// Repositories whose `notes.content_set` is one of `content_sets`, published ones only unless
/// `include_unpublished`: one search.
pub(super) fn repos_by_content_set(
    http: &Http,
    content_sets: &[String],
    include_unpublished: bool,
) -> Result<BTreeMap<String, Vec<PulpRepo>>, PulpError> {
    let mut filters = json!({ "notes.content_set": { "$in": content_sets } });
    if !include_unpublished {
        filters["notes.include_in_download_service"] = json!("True");
    }
    let query = json!({ "criteria": { "filters": filters, "fields": ["notes", "id"] } });
    let answer = http
        .post(&format!("{API}/repositories/search/"), &query)?
        .ok_or_else(|| http.protocol("repositories/search/ is not found: is this Pulp 2?"))?;
    let repos: Vec<Repository> = serde_json::from_value(answer)
        .map_err(|e| http.protocol(format!("repositories/search/: {e}")))?;
    let mut by_set: BTreeMap<String, Vec<PulpRepo>> = BTreeMap::new();
    for repo in repos {
        let published = repo.is_published();
        let Some(set) = repo.notes.content_set.clone() else {
            continue;
        };
        if content_sets.contains(&set) && (published || include_unpublished) {
            by_set.entry(set).or_default().push(repo.into_repo(http));
        }
    }
    Ok(by_set)
}

/// The repositories with the ids `ids` that exist (published ones only unless
/// `include_unpublished`): one GET each.
pub(super) fn repos_by_id(
    http: &Http,
    ids: &[String],
    include_unpublished: bool,
) -> Result<BTreeMap<String, PulpRepo>, PulpError> {
    let mut found = BTreeMap::new();
    for id in ids {
        let path = format!("{API}/repositories/{}/", urlencoding(id));
        let Some(answer) = http.get(&path, &[])? else {
            continue;
        };
        let repo: Repository = serde_json::from_value(answer)
            .map_err(|e| http.protocol(format!("repositories/{id}/: {e}")))?;
        if repo.is_published() || include_unpublished {
            found.insert(id.clone(), repo.into_repo(http));
        }
    }
    Ok(found)
}

/// `id` as one URL path segment.
fn urlencoding(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
