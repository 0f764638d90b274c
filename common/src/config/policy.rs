//! Policy: what may be requested and by whom, and the defaults requests get.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};
use crate::compose::{ComposeFlag, ComposeResult, SourceType};

/// What one user or group in `allowed_clients` may request. A missing list falls back to the
/// matching `allowed_*` key; a list holding only `""` allows any value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each field restricts the compose attribute of the same name
pub struct ClientRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arches: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compose_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_dirs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_config_keys: Option<Vec<String>>,
}

/// Who may create composes, by user name and by group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedClients {
    /// Rules for single users.
    #[serde(default)]
    pub users: BTreeMap<String, ClientRule>,
    /// Rules for members of groups.
    #[serde(default)]
    pub groups: BTreeMap<String, ClientRule>,
}

/// Users and groups with every permission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admins {
    /// Admin users.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups whose members are admins.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Admins {
    /// Whether `user`, member of `groups`, is an admin.
    pub fn contains(&self, user: &str, groups: &[String]) -> bool {
        self.users.iter().any(|u| u == user) || groups.iter().any(|g| self.groups.contains(g))
    }
}

/// A Pungi configuration users may name in a `raw_config` compose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfigSource {
    /// The git repository holding the configuration.
    pub url: String,
    /// The configuration's file name in that repository (`dir/file.conf`: a file in a
    /// subdirectory, which then is the configuration's directory).
    pub config_filename: String,
    /// The commit (or branch) always used, whatever the request names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The subdirectory of the repository the configuration's files are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Seconds a Pungi run of this configuration may take, overriding `pungi_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pungi_timeout: Option<u64>,
    /// The wrapper configuration for this configuration, overriding
    /// `raw_config_wrapper_conf_path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_config_wrapper: Option<std::path::PathBuf>,
    /// A JSON schema override its validation gets, after `raw_config_schema_override`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_override: Option<std::path::PathBuf>,
    /// A program (a path, or a path and its arguments) run in the compose's directory after
    /// Pungi succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_script: Option<PostScript>,
    /// Default lifetime of composes from this configuration, overriding `seconds_to_live`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_to_live: Option<i64>,
    /// Longest lifetime of composes from this configuration, overriding `max_seconds_to_live`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds_to_live: Option<i64>,
}

impl RawConfigSource {
    /// The configuration `config_filename` of repository `url`, with nothing else set.
    pub fn new(url: &str, config_filename: &str) -> RawConfigSource {
        RawConfigSource {
            url: url.to_owned(),
            config_filename: config_filename.to_owned(),
            commit: None,
            path: None,
            pungi_timeout: None,
            raw_config_wrapper: None,
            schema_override: None,
            post_script: None,
            seconds_to_live: None,
            max_seconds_to_live: None,
        }
    }

    /// The subdirectory the configuration's files are in, and the configuration's file name
    /// there: `path`, else the directory part of `config_filename`.
    pub fn config_location(&self) -> (Option<String>, String) {
        match self.config_filename.rsplit_once('/') {
            Some((dir, file)) => (Some(dir.to_owned()), file.to_owned()),
            None => (self.path.clone(), self.config_filename.clone()),
        }
    }
}

/// A program run after a compose: a path alone, or a path and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PostScript {
    /// A program with no arguments.
    Program(String),
    /// A program and its arguments.
    Argv(Vec<String>),
}

impl PostScript {
    /// The command line.
    pub fn argv(&self) -> Vec<String> {
        match self {
            PostScript::Program(program) => vec![program.clone()],
            PostScript::Argv(argv) => argv.clone(),
        }
    }
}

/// Who may request what, and what a request gets when it leaves something out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// Default compose lifetime in seconds.
    pub seconds_to_live: i64,
    /// Longest lifetime a request may ask for.
    pub max_seconds_to_live: i64,
    /// Arches composes are built for when a request names none.
    pub arches: Vec<String>,
    /// Signing keys required when a request names none.
    pub sigkeys: Vec<String>,
    /// Base modules (e.g. `platform`) that cannot be requested as modules.
    pub base_module_names: Vec<String>,
    /// Who may create composes and with what.
    pub allowed_clients: AllowedClients,
    /// Who may do everything.
    pub admins: Admins,
    /// Pungi configurations users may name in `raw_config` composes.
    pub raw_config_urls: BTreeMap<String, RawConfigSource>,
    /// Source types a client rule without `source_types` allows.
    pub allowed_source_types: Vec<String>,
    /// Flags a client rule without `flags` allows; `no_flags` must be among them for composes
    /// without flags, as in the reference.
    pub allowed_flags: Vec<String>,
    /// Arches a client rule without `arches` allows.
    pub allowed_arches: Vec<String>,
    /// Results a client rule without `results` allows.
    pub allowed_results: Vec<String>,
    /// Sources a client rule without `sources` allows (`[""]`: any).
    pub allowed_sources: Vec<String>,
    /// Compose types a client rule without `compose_types` allows (`[""]`: any).
    pub allowed_compose_types: Vec<String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            seconds_to_live: 24 * 60 * 60,
            max_seconds_to_live: 72 * 60 * 60,
            arches: vec!["x86_64".into()],
            sigkeys: Vec::new(),
            base_module_names: vec!["platform".into(), "bootstrap".into()],
            allowed_clients: AllowedClients::default(),
            admins: Admins::default(),
            raw_config_urls: BTreeMap::new(),
            allowed_source_types: vec!["tag".into(), "module".into(), "build".into()],
            // As the reference: `no_flags` (which every compose has) and every flag.
            allowed_flags: std::iter::once("no_flags".into())
                .chain(ComposeFlag::ALL.iter().map(|f| f.name().into()))
                .collect(),
            allowed_arches: vec!["x86_64".into()],
            allowed_results: ComposeResult::ALL.iter().map(|r| r.name().into()).collect(),
            allowed_sources: vec![String::new()],
            allowed_compose_types: vec![String::new()],
        }
    }
}

impl PolicyConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.seconds_to_live <= 0 {
            return Err(invalid("seconds_to_live", "must be positive"));
        }
        if self.max_seconds_to_live < self.seconds_to_live {
            return Err(invalid(
                "max_seconds_to_live",
                "must not be less than seconds_to_live",
            ));
        }
        if self.arches.is_empty() {
            return Err(invalid("arches", "must name at least one arch"));
        }
        for (name, raw) in &self.raw_config_urls {
            let key = format!("raw_config_urls.{name}");
            if raw.url.is_empty() || raw.config_filename.is_empty() {
                return Err(invalid(&key, "needs url and config_filename"));
            }
            let (dir, file) = raw.config_location();
            let escapes = |p: &str| {
                std::path::Path::new(p)
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            };
            if file.is_empty() || escapes(&file) || dir.as_deref().is_some_and(escapes) {
                return Err(invalid(
                    &key,
                    "config_filename and path must be relative paths inside the repository",
                ));
            }
            if raw.pungi_timeout == Some(0) {
                return Err(invalid(&key, "pungi_timeout must be positive"));
            }
            if raw
                .post_script
                .as_ref()
                .is_some_and(|p| p.argv().is_empty())
            {
                return Err(invalid(&key, "post_script names no program"));
            }
            if raw.seconds_to_live.is_some_and(|s| s <= 0) {
                return Err(invalid(&key, "seconds_to_live must be positive"));
            }
            let default = raw.seconds_to_live.unwrap_or(self.seconds_to_live);
            if raw.max_seconds_to_live.unwrap_or(self.max_seconds_to_live) < default {
                return Err(invalid(
                    &key,
                    "max_seconds_to_live must not be less than seconds_to_live",
                ));
            }
        }
        check_names::<SourceType>("allowed_source_types", &self.allowed_source_types)?;
        check_names::<ComposeFlag>("allowed_flags", &self.allowed_flags)?;
        check_names::<ComposeResult>("allowed_results", &self.allowed_results)?;
        for (kind, rules) in [
            ("users", &self.allowed_clients.users),
            ("groups", &self.allowed_clients.groups),
        ] {
            for (name, rule) in rules {
                let key = |attr: &str| format!("allowed_clients.{kind}.{name}.{attr}");
                if let Some(types) = &rule.source_types {
                    check_names::<SourceType>(&key("source_types"), types)?;
                }
                if let Some(flags) = &rule.flags {
                    check_names::<ComposeFlag>(&key("flags"), flags)?;
                }
                if let Some(results) = &rule.results {
                    check_names::<ComposeResult>(&key("results"), results)?;
                }
            }
        }
        Ok(())
    }

    /// Default and longest lifetime for composes of raw config `key` (or of any other source).
    pub fn lifetimes(&self, raw_config_key: Option<&str>) -> (i64, i64) {
        let raw = raw_config_key.and_then(|k| self.raw_config_urls.get(k));
        (
            raw.and_then(|r| r.seconds_to_live)
                .unwrap_or(self.seconds_to_live),
            raw.and_then(|r| r.max_seconds_to_live)
                .unwrap_or(self.max_seconds_to_live),
        )
    }
}

fn check_names<T: std::str::FromStr>(key: &str, names: &[String]) -> Result<(), ConfigError>
where
    T::Err: std::fmt::Display,
{
    for name in names.iter().filter(|n| !n.is_empty()) {
        if name == "no_flags" {
            continue;
        }
        name.parse::<T>().map_err(|e| invalid(key, e.to_string()))?;
    }
    Ok(())
}
