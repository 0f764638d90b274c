//! Requests and responses of the ODCS API v1, as the reference server spells them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// A compose as the server returns it. The fields a client acts on are typed; everything else
/// (and anything a newer server adds) is kept in `extra`, so nothing is lost when printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compose {
    /// The compose id.
    pub id: i64,
    /// Who asked for it.
    #[serde(default)]
    pub owner: String,
    /// `wait`, `generating`, `done`, `removed` or `failed`.
    pub state_name: String,
    /// Why it is in its state.
    #[serde(default)]
    pub state_reason: Option<String>,
    /// The source (tag, builds, modules, ...).
    #[serde(default)]
    pub source: String,
    /// The source type's number.
    #[serde(default)]
    pub source_type: i64,
    /// The directory of the compose.
    #[serde(default)]
    pub toplevel_url: Option<String>,
    /// The `.repo` file of the result.
    #[serde(default)]
    pub result_repofile: Option<String>,
    /// When it expires.
    #[serde(default)]
    pub time_to_expire: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Compose {
    /// Whether the compose can still change on its own (`wait` or `generating`).
    pub fn is_pending(&self) -> bool {
        matches!(self.state_name.as_str(), "wait" | "generating")
    }
}

/// One page of a compose listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComposePage {
    /// The composes on this page.
    pub items: Vec<Compose>,
    /// Paging information.
    pub meta: PageMeta,
}

/// Paging information of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageMeta {
    /// This page, from 1.
    pub page: i64,
    /// Number of pages.
    pub pages: i64,
    /// Items per page.
    pub per_page: i64,
    /// Items in all pages.
    pub total: i64,
    /// Link to the next page.
    #[serde(default)]
    pub next: Option<String>,
    /// Link to the previous page.
    #[serde(default)]
    pub prev: Option<String>,
}

/// Where a compose's packages come from, with the options that belong to each source type.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The latest builds of a Koji tag.
    Tag {
        /// The tag.
        tag: String,
        /// Packages to include (all when empty).
        packages: Vec<String>,
        /// Builds added on top of the tag.
        builds: Vec<String>,
        /// The Koji event to read the tag at.
        koji_event: Option<i64>,
        /// Koji tags with module builds.
        modular_koji_tags: Vec<String>,
        /// Module defaults repository and commit.
        module_defaults: Option<(String, String)>,
        /// Scratch modules N:S:V:C.
        scratch_modules: Vec<String>,
    },
    /// Modules.
    Module {
        /// N:S, N:S:V or N:S:V:C.
        modules: Vec<String>,
        /// Koji tags with module builds.
        modular_koji_tags: Vec<String>,
        /// Module defaults repository and commit.
        module_defaults: Option<(String, String)>,
        /// Scratch modules N:S:V:C.
        scratch_modules: Vec<String>,
        /// Base module name, stream and stream-version bounds the modules must build-require.
        base_module: BaseModule,
    },
    /// Pulp content sets.
    Pulp {
        /// The content sets.
        content_sets: Vec<String>,
    },
    /// A Pungi configuration the server knows by name.
    RawConfig {
        /// Its name.
        name: String,
        /// The commit or branch.
        commit: String,
        /// The Koji event to build at.
        koji_event: Option<i64>,
        /// Extra builds.
        builds: Vec<String>,
    },
    /// Koji builds.
    Build {
        /// NVRs.
        builds: Vec<String>,
    },
    /// A local repository on the server (`repo`).
    Repo {
        /// Its directory.
        path: String,
        /// Packages to include (all when empty).
        packages: Vec<String>,
    },
}

/// Constraints on a module compose's base module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseModule {
    /// Its name, e.g. `platform`.
    pub name: Option<String>,
    /// Its stream.
    pub stream: Option<String>,
    /// Highest stream version.
    pub stream_version_lte: Option<i64>,
    /// Lowest stream version.
    pub stream_version_gte: Option<i64>,
}

/// A compose request: the source and the options every source type shares.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposeRequest {
    /// Where packages come from.
    pub source: Source,
    /// Accepted signing keys in order (`""`: unsigned).
    pub sigkeys: Vec<String>,
    /// Flags such as `no_deps`.
    pub flags: Vec<String>,
    /// Arches.
    pub arches: Vec<String>,
    /// Results beyond the repository.
    pub results: Vec<String>,
    /// Repositories that satisfy dependencies without entering the compose.
    pub lookaside_repos: Vec<String>,
    /// Lifetime in seconds.
    pub seconds_to_live: Option<i64>,
    /// Label (raw_config).
    pub label: Option<String>,
    /// Compose type (raw_config).
    pub compose_type: Option<String>,
    /// A server-side target directory name.
    pub target_dir: Option<String>,
    /// Arches that get multilib packages.
    pub multilib_arches: Vec<String>,
    /// Multilib methods (`runtime`, `devel`, `all`).
    pub multilib_method: Vec<String>,
}

impl ComposeRequest {
    /// A request for `source` with no further options.
    pub fn new(source: Source) -> ComposeRequest {
        ComposeRequest {
            source,
            sigkeys: Vec::new(),
            flags: Vec::new(),
            arches: Vec::new(),
            results: Vec::new(),
            lookaside_repos: Vec::new(),
            seconds_to_live: None,
            label: None,
            compose_type: None,
            target_dir: None,
            multilib_arches: Vec::new(),
            multilib_method: Vec::new(),
        }
    }

    /// The JSON body of `POST /api/1/composes/`, with only the fields that are set, as the
    /// reference client sends it.
    pub fn to_json(&self) -> Value {
        let mut source = Map::new();
        let put_list = |map: &mut Map<String, Value>, key: &str, list: &[String]| {
            if !list.is_empty() {
                map.insert(key.into(), json!(list));
            }
        };
        let defaults = |source: &mut Map<String, Value>, defaults: &Option<(String, String)>| {
            if let Some((url, commit)) = defaults {
                source.insert("module_defaults_url".into(), json!(url));
                source.insert("module_defaults_commit".into(), json!(commit));
            }
        };
        match &self.source {
            Source::Tag {
                tag,
                packages,
                builds,
                koji_event,
                modular_koji_tags,
                module_defaults,
                scratch_modules,
            } => {
                source.insert("type".into(), json!("tag"));
                source.insert("source".into(), json!(tag));
                put_list(&mut source, "packages", packages);
                put_list(&mut source, "builds", builds);
                if let Some(event) = koji_event {
                    source.insert("koji_event".into(), json!(event));
                }
                put_list(&mut source, "modular_koji_tags", modular_koji_tags);
                defaults(&mut source, module_defaults);
                put_list(&mut source, "scratch_modules", scratch_modules);
            }
            Source::Module {
                modules,
                modular_koji_tags,
                module_defaults,
                scratch_modules,
                base_module,
            } => {
                source.insert("type".into(), json!("module"));
                source.insert("source".into(), json!(modules.join(" ")));
                put_list(&mut source, "modular_koji_tags", modular_koji_tags);
                defaults(&mut source, module_defaults);
                put_list(&mut source, "scratch_modules", scratch_modules);
                let optional = [
                    (
                        "base_module_br_name",
                        base_module.name.as_ref().map(|v| json!(v)),
                    ),
                    (
                        "base_module_br_stream",
                        base_module.stream.as_ref().map(|v| json!(v)),
                    ),
                    (
                        "base_module_br_stream_version_lte",
                        base_module.stream_version_lte.map(|v| json!(v)),
                    ),
                    (
                        "base_module_br_stream_version_gte",
                        base_module.stream_version_gte.map(|v| json!(v)),
                    ),
                ];
                for (key, value) in optional {
                    if let Some(value) = value {
                        source.insert(key.into(), value);
                    }
                }
            }
            Source::Pulp { content_sets } => {
                source.insert("type".into(), json!("pulp"));
                source.insert("source".into(), json!(content_sets.join(" ")));
            }
            Source::RawConfig {
                name,
                commit,
                koji_event,
                builds,
            } => {
                source.insert("type".into(), json!("raw_config"));
                source.insert("source".into(), json!(format!("{name}#{commit}")));
                if let Some(event) = koji_event {
                    source.insert("koji_event".into(), json!(event));
                }
                put_list(&mut source, "builds", builds);
            }
            Source::Build { builds } => {
                source.insert("type".into(), json!("build"));
                source.insert("source".into(), json!(""));
                put_list(&mut source, "builds", builds);
            }
            Source::Repo { path, packages } => {
                source.insert("type".into(), json!("repo"));
                source.insert("source".into(), json!(path));
                put_list(&mut source, "packages", packages);
            }
        }
        put_list(&mut source, "sigkeys", &self.sigkeys);
        let mut body = Map::new();
        body.insert("source".into(), Value::Object(source));
        put_list(&mut body, "flags", &self.flags);
        put_list(&mut body, "arches", &self.arches);
        put_list(&mut body, "results", &self.results);
        put_list(&mut body, "lookaside_repos", &self.lookaside_repos);
        put_list(&mut body, "multilib_arches", &self.multilib_arches);
        put_list(&mut body, "multilib_method", &self.multilib_method);
        if let Some(seconds) = self.seconds_to_live {
            body.insert("seconds_to_live".into(), json!(seconds));
        }
        for (key, value) in [
            ("label", &self.label),
            ("compose_type", &self.compose_type),
            ("target_dir", &self.target_dir),
        ] {
            if let Some(value) = value {
                body.insert(key.into(), json!(value));
            }
        }
        Value::Object(body)
    }
}

/// Filters and paging of `GET /api/1/composes/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeFilter {
    /// Field → value (owner, source_type, source, state, label, compose_type, ...).
    pub fields: BTreeMap<String, String>,
    /// Sort key, `-` prefixed for descending.
    pub order_by: Option<String>,
    /// Page, from 1.
    pub page: Option<u32>,
    /// Items per page.
    pub per_page: Option<u32>,
}

impl ComposeFilter {
    /// The query parameters.
    pub fn query(&self) -> Vec<(String, String)> {
        let mut query: Vec<(String, String)> = self
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(order) = &self.order_by {
            query.push(("order_by".into(), order.clone()));
        }
        if let Some(page) = self.page {
            query.push(("page".into(), page.to_string()));
        }
        if let Some(per_page) = self.per_page {
            query.push(("per_page".into(), per_page.to_string()));
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_requests_carry_only_what_is_set() {
        let mut request = ComposeRequest::new(Source::Tag {
            tag: "f40".into(),
            packages: vec!["bash".into()],
            builds: vec![],
            koji_event: Some(7),
            modular_koji_tags: vec![],
            module_defaults: None,
            scratch_modules: vec![],
        });
        request.sigkeys = vec!["".into()];
        request.flags = vec!["no_deps".into()];
        assert_eq!(
            request.to_json(),
            json!({"source": {"type": "tag", "source": "f40", "packages": ["bash"],
                              "koji_event": 7, "sigkeys": [""]},
                   "flags": ["no_deps"]})
        );
    }

    #[test]
    fn raw_config_and_build_sources_are_spelled_as_the_server_expects() {
        let raw = ComposeRequest::new(Source::RawConfig {
            name: "rhel".into(),
            commit: "main".into(),
            koji_event: None,
            builds: vec![],
        });
        assert_eq!(raw.to_json()["source"]["source"], "rhel#main");
        let build = ComposeRequest::new(Source::Build {
            builds: vec!["a-1-1".into()],
        });
        assert_eq!(
            build.to_json()["source"],
            json!({"type": "build", "source": "", "builds": ["a-1-1"]})
        );
    }

    #[test]
    fn composes_keep_unknown_fields() {
        let compose: Compose = serde_json::from_value(json!({
            "id": 3, "state_name": "done", "arches": "x86_64", "future": {"x": 1}
        }))
        .expect("parses");
        assert_eq!(compose.extra["future"]["x"], 1);
        assert!(!compose.is_pending());
    }
}
