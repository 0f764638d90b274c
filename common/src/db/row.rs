//! The one place a compose request meets its row: a [`ComposeSpec`] is stored in the
//! reference's columns (lists space separated, the module defaults as `"URL COMMIT"`, the
//! lifetime as the distance between submission and expiry) and read back from them.

use std::path::PathBuf;

use chrono::NaiveDateTime;
use thiserror::Error;

use crate::compose::{ComposeState, ComposeType};
use crate::db::lifecycle::ComposeChanges;
use crate::db::models::{Compose, NewCompose};
use crate::spec::{
    ComposeOptions, ComposeSource, ComposeSpec, ModuleDefaults, ResolvedRequest, Sigkeys,
    SourceError, SourceFields, WordList,
};
use crate::time::after;

/// Why a stored row does not read as a compose request (a row written by something else).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RowError {
    /// The source columns do not make a source of the row's type.
    #[error("the stored source cannot be read: {0}")]
    Source(#[from] SourceError),
    /// A column holds a value the request model has no place for.
    #[error("the stored {column} {value:?} cannot be read")]
    Column {
        /// The column.
        column: &'static str,
        /// Its value.
        value: String,
    },
}

fn words(list: &[String]) -> String {
    list.join(" ")
}

fn split(stored: Option<&str>) -> Vec<String> {
    stored
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

impl NewCompose {
    /// The row of `spec`, requested by `owner` at `now`, waiting for a worker.
    pub fn from_spec(spec: &ComposeSpec, owner: &str, now: NaiveDateTime) -> NewCompose {
        let fields = spec.source.to_fields();
        let options = &spec.options;
        let base = fields.base_module;
        NewCompose {
            owner: owner.to_owned(),
            source_type: spec.source_type(),
            source: fields.source.join(" "),
            modular_koji_tags: fields.modular_koji_tags.to_stored(),
            module_defaults_url: fields
                .module_defaults
                .as_ref()
                .map(ModuleDefaults::to_stored),
            koji_event: fields.koji_event,
            sigkeys: Some(spec.sigkeys.to_stored()),
            state: ComposeState::Wait,
            results: options.results,
            packages: options.packages.to_stored(),
            builds: fields.builds.to_stored(),
            flags: options.flags,
            time_to_expire: after(now, spec.seconds_to_live),
            time_submitted: now,
            arches: Some(words(&spec.arches)),
            multilib_arches: Some(words(&options.multilib_arches)),
            multilib_method: Some(options.multilib_method),
            lookaside_repos: Some(words(&options.lookaside_repos)),
            label: options.label.clone(),
            compose_type: Some(spec.compose_type.name().to_owned()),
            pungi_config_dump: None,
            target_dir: Some(spec.target_dir.display().to_string()),
            scratch_modules: fields.scratch_modules.to_stored(),
            scratch_build_tasks: fields.scratch_build_tasks.to_stored(),
            parent_pungi_compose_ids: options.parent_pungi_compose_ids.to_stored(),
            modules: fields.modules.to_stored(),
            respin_of: options.respin_of.clone(),
            base_module_br_name: base.name,
            base_module_br_stream: base.stream,
            base_module_br_stream_version_lte: base.stream_version_lte,
            base_module_br_stream_version_gte: base.stream_version_gte,
            traceparent: None,
            idempotency: None,
        }
    }
}

impl Compose {
    /// The request this row stores; `target_dir` stands for rows written without one.
    pub fn spec_in(&self, default_target_dir: &std::path::Path) -> Result<ComposeSpec, RowError> {
        let module_defaults = match self.module_defaults_url.as_deref() {
            None | Some("") => None,
            Some(stored) => {
                Some(
                    ModuleDefaults::from_stored(stored).ok_or_else(|| RowError::Column {
                        column: "module_defaults_url",
                        value: stored.to_owned(),
                    })?,
                )
            }
        };
        let fields = SourceFields {
            source: split(Some(&self.source)),
            koji_event: self.koji_event,
            builds: WordList::from_stored(self.builds.as_deref()),
            modular_koji_tags: WordList::from_stored(self.modular_koji_tags.as_deref()),
            module_defaults,
            scratch_modules: WordList::from_stored(self.scratch_modules.as_deref()),
            scratch_build_tasks: WordList::from_stored(self.scratch_build_tasks.as_deref()),
            modules: WordList::from_stored(self.modules.as_deref()),
            base_module: crate::spec::BaseModuleBounds {
                name: self.base_module_br_name.clone(),
                stream: self.base_module_br_stream.clone(),
                stream_version_lte: self.base_module_br_stream_version_lte,
                stream_version_gte: self.base_module_br_stream_version_gte,
            },
        };
        let compose_type = match self.compose_type.as_deref() {
            None | Some("") => ComposeType::Test,
            Some(name) => name.parse().map_err(|_| RowError::Column {
                column: "compose_type",
                value: name.to_owned(),
            })?,
        };
        Ok(ComposeSpec {
            source: ComposeSource::from_fields(self.source_type, fields)?,
            options: ComposeOptions {
                packages: WordList::from_stored(self.packages.as_deref()),
                multilib_arches: split(self.multilib_arches.as_deref()),
                multilib_method: self.multilib_method.unwrap_or_default(),
                lookaside_repos: split(self.lookaside_repos.as_deref()),
                flags: self.flags,
                results: self.results,
                label: self.label.clone(),
                parent_pungi_compose_ids: WordList::from_stored(
                    self.parent_pungi_compose_ids.as_deref(),
                ),
                respin_of: self.respin_of.clone(),
            },
            sigkeys: Sigkeys::from_stored(self.sigkeys.as_deref().unwrap_or_default()),
            arches: split(self.arches.as_deref()),
            seconds_to_live: self.lifetime_seconds(),
            compose_type,
            target_dir: self
                .target_dir
                .as_deref()
                .map_or_else(|| default_target_dir.to_owned(), PathBuf::from),
        })
    }

    /// The request this row stores (rows always carry their target directory when written by
    /// this service; older rows read as the current directory's).
    pub fn spec(&self) -> Result<ComposeSpec, RowError> {
        self.spec_in(std::path::Path::new(""))
    }

    /// The lifetime the compose was asked for: from submission to expiry.
    pub fn lifetime_seconds(&self) -> i64 {
        (self.time_to_expire - self.time_submitted).num_seconds()
    }
}

impl ComposeChanges {
    /// The columns recording what a source resolved a request to.
    pub fn recording(resolved: &ResolvedRequest) -> ComposeChanges {
        ComposeChanges {
            arches: resolved.arches.as_deref().map(|a| Some(words(a))),
            builds: resolved.builds.as_deref().map(|b| Some(words(b))),
            packages: resolved.packages.as_deref().map(|p| Some(words(p))),
            sigkeys: resolved.sigkeys.as_ref().map(|k| Some(k.to_stored())),
            source: resolved.source.as_ref().map(|s| s.join(" ")),
            ..ComposeChanges::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::Config;
    use crate::request::ComposeRequest;
    use crate::time::now;

    /// A row as the store returns it for `new`.
    fn stored(new: NewCompose) -> Compose {
        Compose {
            id: crate::compose::ComposeId(1),
            owner: new.owner,
            source_type: new.source_type,
            source: new.source,
            modular_koji_tags: new.modular_koji_tags,
            module_defaults_url: new.module_defaults_url,
            koji_event: new.koji_event,
            sigkeys: new.sigkeys,
            state: new.state,
            state_reason: None,
            results: new.results,
            packages: new.packages,
            builds: new.builds,
            flags: new.flags,
            time_to_expire: new.time_to_expire,
            time_submitted: new.time_submitted,
            time_started: None,
            time_done: None,
            time_removed: None,
            removed_by: None,
            reused_id: None,
            koji_task_id: None,
            arches: new.arches,
            multilib_arches: new.multilib_arches,
            multilib_method: new.multilib_method,
            lookaside_repos: new.lookaside_repos,
            label: new.label,
            compose_type: new.compose_type,
            pungi_compose_id: None,
            pungi_config_dump: new.pungi_config_dump,
            celery_task_id: None,
            target_dir: new.target_dir,
            scratch_modules: new.scratch_modules,
            scratch_build_tasks: new.scratch_build_tasks,
            parent_pungi_compose_ids: new.parent_pungi_compose_ids,
            modules: new.modules,
            respin_of: new.respin_of,
            base_module_br_name: new.base_module_br_name,
            base_module_br_stream: new.base_module_br_stream,
            base_module_br_stream_version_lte: new.base_module_br_stream_version_lte,
            base_module_br_stream_version_gte: new.base_module_br_stream_version_gte,
            traceparent: new.traceparent,
            worker_id: None,
            lease_expires_at: None,
            dispatched_at: None,
            attempts: 0,
        }
    }

    #[test]
    fn every_request_reads_back_as_it_was_stored() {
        let mut config = Config::default();
        config.policy.raw_config_urls.insert(
            "cfg".into(),
            crate::config::RawConfigSource::new("https://git/cfg", "p.conf"),
        );
        let bodies = [
            json!({"source": {"type": "tag", "source": "f40", "packages": ["a"], "koji_event": 3,
                              "builds": ["x-1-1"], "modular_koji_tags": ["m"],
                              "module_defaults_url": "https://git/d", "module_defaults_commit": "main",
                              "scratch_modules": [], "modules": ["n:s"], "scratch_build_tasks": [],
                              "sigkeys": ["", "K"]},
                   "flags": ["no_deps"], "multilib_arches": ["x86_64"], "multilib_method": ["devel"],
                   "lookaside_repos": ["http://l/r"], "label": "L", "compose_type": "nightly",
                   "seconds_to_live": 60}),
            json!({"source": {"type": "module", "source": "nodejs:20 perl:5:1:c",
                              "base_module_br_name": "platform", "base_module_br_stream_version_gte": 4}}),
            json!({"source": {"type": "repo", "source": "/srv/r"}, "arches": ["aarch64"]}),
            json!({"source": {"type": "pulp", "source": "a b"}}),
            json!({"source": {"type": "raw_config", "source": "cfg#main", "builds": []},
                   "label": "RC-1.0", "compose_type": "production", "flags": ["no_label"],
                   "parent_pungi_compose_ids": ["P-1"], "respin_of": "R-1"}),
            json!({"source": {"type": "build", "source": "", "builds": ["a-1-1"]}, "results": ["iso"]}),
            json!({"source": {"type": "pungi_compose", "source": "https://h/c/Server"}}),
        ];
        for body in bodies {
            let spec = ComposeRequest::from_json(&body)
                .and_then(|r| r.resolve(&config))
                .expect("valid");
            let row = stored(NewCompose::from_spec(&spec, "me", now()));
            assert_eq!(row.spec().expect("readable"), spec, "{body}");
        }
    }

    #[test]
    fn unreadable_rows_say_which_column() {
        let spec = ComposeRequest::from_json(&json!({"source": {"type": "tag", "source": "t"}}))
            .and_then(|r| r.resolve(&Config::default()))
            .expect("valid");
        let mut row = stored(NewCompose::from_spec(&spec, "me", now()));
        row.compose_type = Some("weekly".into());
        let err = row.spec().expect_err("unknown compose type");
        assert!(err.to_string().contains("compose_type"), "{err}");
    }
}
