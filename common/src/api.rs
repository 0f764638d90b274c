//! JSON shapes of the REST API, shared by the server, the workers' messages and the client.
//!
//! Field names, types and time formats are the reference ODCS's, so its clients and consumers
//! read ours unchanged.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::compose::ComposeId;

/// The time format of every timestamp in the API.
pub const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// The compose log's name in the compose's top directory (`toplevel_url`), the name the
/// reference client tails.
pub const COMPOSE_LOG: &str = "pungi-stderr.log";

/// Formats a stored UTC time as the API shows it.
pub fn format_time(time: NaiveDateTime) -> String {
    time.format(TIME_FORMAT).to_string()
}

/// One compose as the API shows it. Read leniently (a field an older server lacks takes its
/// default), and fields a newer server adds are kept in `extra`, so clients lose nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
#[allow(missing_docs)] // the fields are the reference API's; docs/API.md describes each
pub struct ComposeJson {
    #[schema(value_type = i64)]
    pub id: ComposeId,
    pub owner: String,
    pub source_type: i32,
    pub source: String,
    pub state: i32,
    pub state_name: String,
    pub state_reason: Option<String>,
    pub time_to_expire: Option<String>,
    pub time_submitted: Option<String>,
    pub time_started: Option<String>,
    pub time_done: Option<String>,
    pub time_removed: Option<String>,
    pub removed_by: Option<String>,
    pub result_repo: String,
    pub result_repofile: String,
    pub toplevel_url: String,
    pub flags: Vec<String>,
    pub results: Vec<String>,
    pub sigkeys: String,
    pub koji_event: Option<i64>,
    pub koji_task_id: Option<i64>,
    pub packages: Option<String>,
    pub builds: Option<String>,
    pub arches: Option<String>,
    pub multilib_arches: Option<String>,
    pub multilib_method: Option<i32>,
    pub lookaside_repos: Option<String>,
    pub modular_koji_tags: Option<String>,
    pub module_defaults_url: Option<String>,
    pub label: Option<String>,
    pub compose_type: Option<String>,
    pub pungi_compose_id: Option<String>,
    pub target_dir: String,
    pub scratch_modules: Option<String>,
    pub parent_pungi_compose_ids: Option<String>,
    pub scratch_build_tasks: Option<String>,
    pub modules: Option<String>,
    pub respin_of: Option<String>,
    pub base_module_br_name: Option<String>,
    pub base_module_br_stream: Option<String>,
    pub base_module_br_stream_version_lte: Option<i64>,
    pub base_module_br_stream_version_gte: Option<i64>,
    /// Only in the single-compose view: the Pungi configuration a raw_config compose used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub pungi_config_dump: Option<Option<String>>,
    /// Fields this version does not know (from a newer server); never set by this one.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(ignore)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ComposeJson {
    /// Whether the compose can still change on its own (`wait` or `generating`).
    pub fn is_pending(&self) -> bool {
        matches!(self.state_name.as_str(), "wait" | "generating")
    }
}

/// Pagination of a list response; the links are absolute and keep the request's filters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct PageMeta {
    /// This page's number, from 1.
    pub page: i64,
    /// How many pages there are.
    pub pages: i64,
    /// Composes per page.
    pub per_page: i64,
    /// Composes matching the filters.
    pub total: i64,
    /// Link to the first page.
    pub first: String,
    /// Link to the last page.
    pub last: String,
    /// Link to the previous page, if any.
    pub prev: Option<String>,
    /// Link to the next page, if any.
    pub next: Option<String>,
}

/// A page of composes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ComposeList {
    /// The composes on this page.
    pub items: Vec<ComposeJson>,
    /// Where this page is.
    pub meta: PageMeta,
}

/// The body of every error response, and of the 202 answer to DELETE (without `error`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusMessage {
    /// The HTTP status code.
    pub status: u16,
    /// The HTTP reason phrase; absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What happened, for a person.
    pub message: String,
}

/// What `/api/1/about/` says about this instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct About {
    /// The server version.
    pub version: String,
    /// The authentication backend's name.
    pub auth_backend: String,
    /// Who may create composes.
    #[schema(value_type = Object)]
    pub allowed_clients: serde_json::Value,
    /// Raw Pungi configurations that may be requested.
    #[schema(value_type = Object)]
    pub raw_config_urls: serde_json::Value,
    /// Signing keys required by default.
    pub sigkeys: Vec<String>,
    /// The results this server produces (`repository`, `iso`); others are refused.
    pub results: Vec<String>,
}
