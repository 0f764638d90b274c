//! Turning stored rows into the API's JSON view.

use std::path::Path;

use chrono::NaiveDateTime;

use crate::api::{format_time, ComposeJson};
use crate::compose::SourceType;
use crate::config::Config;
use crate::db::models::Compose;

/// Where a compose's files are published, derived from `target_dir_url` as the reference does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeUrls {
    /// The compose's top directory.
    pub toplevel: String,
    /// The directory holding the per-arch repositories.
    pub repo: String,
    /// The `.repo` file.
    pub repofile: String,
}

/// The directory name of a compose: a reusing compose shares the one it reuses.
pub fn compose_dir_name(compose: &Compose) -> String {
    compose.reused_id.unwrap_or(compose.id).dir_name()
}

/// The public URLs of `compose`; empty when it lives outside the default target directory
/// (nobody serves those), and no repository URLs for raw_config composes (Pungi lays those out).
pub fn compose_urls(compose: &Compose, config: &Config) -> ComposeUrls {
    let on_default_dir = compose
        .target_dir
        .as_deref()
        .is_none_or(|dir| Path::new(dir) == config.storage.target_dir);
    if !on_default_dir {
        return ComposeUrls {
            toplevel: String::new(),
            repo: String::new(),
            repofile: String::new(),
        };
    }
    let name = compose_dir_name(compose);
    let base = config.storage.target_dir_url.trim_end_matches('/');
    let toplevel = format!("{base}/{name}");
    if compose.source_type == SourceType::RawConfig {
        return ComposeUrls {
            toplevel,
            repo: String::new(),
            repofile: String::new(),
        };
    }
    ComposeUrls {
        repo: format!("{toplevel}/compose/Temporary"),
        repofile: format!("{toplevel}/compose/Temporary/{name}.repo"),
        toplevel,
    }
}

fn time(value: Option<NaiveDateTime>) -> Option<String> {
    value.map(format_time)
}

/// The JSON view of `compose`; `full` adds `pungi_config_dump` (single-compose view only).
pub fn compose_json(compose: &Compose, config: &Config, full: bool) -> ComposeJson {
    let urls = compose_urls(compose, config);
    ComposeJson {
        id: compose.id,
        owner: compose.owner.clone(),
        source_type: compose.source_type.code(),
        source: compose.source.clone(),
        state: compose.state.code(),
        state_name: compose.state.name().to_owned(),
        state_reason: compose.state_reason.clone(),
        time_to_expire: time(Some(compose.time_to_expire)),
        time_submitted: time(Some(compose.time_submitted)),
        time_started: time(compose.time_started),
        time_done: time(compose.time_done),
        time_removed: time(compose.time_removed),
        removed_by: compose.removed_by.clone(),
        result_repo: urls.repo,
        result_repofile: urls.repofile,
        toplevel_url: urls.toplevel,
        flags: names(compose.flags.names()),
        results: names(compose.results.names()),
        sigkeys: compose.sigkeys.clone().unwrap_or_default(),
        koji_event: compose.koji_event,
        koji_task_id: compose.koji_task_id,
        packages: compose.packages.clone(),
        builds: compose.builds.clone(),
        arches: compose.arches.clone(),
        multilib_arches: compose.multilib_arches.clone(),
        multilib_method: compose.multilib_method.map(|m| m.bits()),
        lookaside_repos: compose.lookaside_repos.clone(),
        modular_koji_tags: compose.modular_koji_tags.clone(),
        module_defaults_url: compose.module_defaults_url.clone(),
        label: compose.label.clone(),
        compose_type: compose.compose_type.clone(),
        pungi_compose_id: compose.pungi_compose_id.clone(),
        target_dir: config
            .storage
            .target_dir_name(compose.target_dir.as_deref())
            .to_owned(),
        scratch_modules: compose.scratch_modules.clone(),
        parent_pungi_compose_ids: compose.parent_pungi_compose_ids.clone(),
        scratch_build_tasks: compose.scratch_build_tasks.clone(),
        modules: compose.modules.clone(),
        respin_of: compose.respin_of.clone(),
        base_module_br_name: compose.base_module_br_name.clone(),
        base_module_br_stream: compose.base_module_br_stream.clone(),
        base_module_br_stream_version_lte: compose.base_module_br_stream_version_lte,
        base_module_br_stream_version_gte: compose.base_module_br_stream_version_gte,
        pungi_config_dump: full.then(|| compose.pungi_config_dump.clone()),
        extra: Default::default(),
    }
}

fn names(list: Vec<&'static str>) -> Vec<String> {
    list.into_iter().map(str::to_owned).collect()
}
