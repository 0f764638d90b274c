//! Compose and renewal requests as they travel: the body of `POST /api/1/composes/` and of
//! `PATCH /api/1/composes/{id}`, typed.
//!
//! The server reads a body with [`ComposeRequest::from_json`] (checked as the reference checks
//! it, plus a refusal of anything that would be ignored) and resolves the server's defaults
//! with [`ComposeRequest::resolve`]; the client builds a [`ComposeRequest`] and sends
//! [`ComposeRequest::to_json`]. Parsing is pure: errors are one message a user can act on.

mod check;
mod json;
mod renew;

use serde_json::{Map, Value};
use thiserror::Error;

pub use check::{check_values, ALLOWED_CHARS};
pub use renew::RenewRequest;

use crate::arch;
use crate::compose::{
    ComposeFlag, ComposeResult, ComposeResults, ComposeType, MultilibMethod, SourceType,
};
use crate::config::Config;
use crate::spec::{ComposeOptions, ComposeSource, ComposeSpec, Sigkeys, SourceField, SourceFields};
use json::{parse_names, parse_names_but, source_fields, string, string_list, word_list};

/// A request that cannot be accepted, with the message the API returns (status 400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct InvalidRequest(pub String);

fn bad<T>(message: impl Into<String>) -> Result<T, InvalidRequest> {
    Err(InvalidRequest(message.into()))
}

/// Keys a create body may have at its top level.
const TOP_LEVEL_KEYS: &[&str] = &[
    "source",
    "seconds_to_live",
    "seconds-to-live",
    "flags",
    "results",
    "arches",
    "multilib_arches",
    "multilib_method",
    "lookaside_repos",
    "label",
    "compose_type",
    "target_dir",
    "parent_pungi_compose_ids",
    "respin_of",
];

/// Keys a create body's source object may have.
const SOURCE_KEYS: &[&str] = &[
    "type",
    "source",
    "packages",
    "sigkeys",
    "koji_event",
    "builds",
    "modular_koji_tags",
    "module_defaults_url",
    "module_defaults_commit",
    "scratch_modules",
    "scratch_build_tasks",
    "modules",
    "base_module_br_name",
    "base_module_br_stream",
    "base_module_br_stream_version_lte",
    "base_module_br_stream_version_gte",
];

/// A compose request as a client sends it: the source, the options, and the options the server
/// fills in when the request leaves them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeRequest {
    /// What to build from.
    pub source: ComposeSource,
    /// Options without a server default.
    pub options: ComposeOptions,
    /// Accepted signing keys (`""`: unsigned); `None`: the server's `sigkeys`.
    pub sigkeys: Option<Vec<String>>,
    /// Arches; `None`: the server's `arches`.
    pub arches: Option<Vec<String>>,
    /// Lifetime in seconds; `None` or 0: the server's default (longer ones are clamped).
    pub seconds_to_live: Option<i64>,
    /// Compose type; `None`: test.
    pub compose_type: Option<ComposeType>,
    /// A target directory name from the server's `extra_target_dirs`; `None`: the default.
    pub target_dir: Option<String>,
}

/// A request as the reference reads it, and what this server refuses besides.
#[derive(Debug, Clone)]
pub struct ParsedRequest {
    /// The request.
    pub request: ComposeRequest,
    /// The first thing about it the reference would accept and ignore but this server
    /// refuses; reported after the permission check.
    pub refusal: Option<InvalidRequest>,
}

impl ComposeRequest {
    /// A request for `source` with no further options.
    pub fn new(source: ComposeSource) -> ComposeRequest {
        ComposeRequest {
            source,
            options: ComposeOptions {
                results: ComposeResults::EMPTY.with(ComposeResult::Repository),
                ..ComposeOptions::default()
            },
            sigkeys: None,
            arches: None,
            seconds_to_live: None,
            compose_type: None,
            target_dir: None,
        }
    }

    /// Reads and checks the body of a create request.
    pub fn from_json(body: &Value) -> Result<ComposeRequest, InvalidRequest> {
        let parsed = ComposeRequest::parse_json(body)?;
        match parsed.refusal {
            Some(refusal) => Err(refusal),
            None => Ok(parsed.request),
        }
    }

    /// Reads a request as the reference does, keeping aside the first thing this server
    /// refuses that the reference would accept and ignore (unknown keys, options the source
    /// type cannot use, unknown arches and compose types): the frontend reports it after the
    /// permission check, so a user who may not ask for the compose gets the reference's 403.
    pub fn parse_json(body: &Value) -> Result<ParsedRequest, InvalidRequest> {
        let mut refusal: Option<InvalidRequest> = None;
        let mut refuse = |reason: String| {
            refusal.get_or_insert(InvalidRequest(reason));
        };
        let Some(body) = body.as_object() else {
            return bad("The request body must be a JSON object");
        };
        if body.is_empty() {
            return bad("No JSON POST data submitted");
        }
        check_values(body)?;
        let Some(source_data) = body.get("source").and_then(Value::as_object) else {
            return bad(format!(
                "Invalid source configuration provided: {}",
                Value::Object(body.clone())
            ));
        };
        let source_data = &with_top_level_source_keys(body, source_data)?;
        let outside_source = |key: &String| !SOURCE_KEYS.contains(&key.as_str()) || key == "source";
        let top_level: Map<String, Value> = body
            .iter()
            .filter(|(key, _)| outside_source(key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Err(e) = refuse_unknown_keys(&top_level, TOP_LEVEL_KEYS, "") {
            refuse(e.0);
        }
        let Some(type_name) = source_data.get("type").and_then(Value::as_str) else {
            return bad(format!(
                "Missing type in source configuration, received: {}",
                crate::pyrepr::value(&Value::Object(source_data.clone()))
            ));
        };
        let Ok(source_type) = type_name.parse::<SourceType>() else {
            return bad(format!("Unknown source type \"{type_name}\""));
        };
        if let Err(e) = refuse_unknown_keys(source_data, SOURCE_KEYS, " in source") {
            refuse(e.0);
        }
        let fields = source_fields(source_data)?;
        if let Some(field) = fields.unused_by(source_type) {
            refuse(unused(field.name(), source_type));
        }
        if let Some(reason) = unsupported_field(&fields, source_type) {
            return bad(reason);
        }
        let source = ComposeSource::from_fields(source_type, fields)
            .map_err(|e| InvalidRequest(e.to_string()))?;

        let packages = word_list(source_data, "packages")?;
        if packages.is_given() && !uses_packages(source_type) {
            match source_type {
                SourceType::Module => {
                    return bad("Exact packages cannot be set for MODULE source type.")
                }
                other => refuse(unused("packages", other)),
            }
        }
        let sigkeys = string_list(source_data, "sigkeys")?;
        if sigkeys.is_some() && !uses_sigkeys(source_type) {
            refuse(unused("sigkeys", source_type));
        }

        let options = ComposeOptions {
            packages,
            multilib_arches: arches_or_refuse(body, "multilib_arches", &mut refuse)?
                .unwrap_or_default(),
            multilib_method: parse_names::<MultilibMethod>(
                body,
                "multilib_method",
                "multilib method",
            )?
            .into_iter()
            .collect(),
            lookaside_repos: string_list(body, "lookaside_repos")?.unwrap_or_default(),
            flags: parse_names_but::<ComposeFlag>(body, "flags", "flag", &["no_flags"])?
                .into_iter()
                .collect(),
            results: parse_names::<ComposeResult>(body, "results", "result")?
                .into_iter()
                .collect::<ComposeResults>()
                .with(ComposeResult::Repository),
            label: string(body, "label"),
            parent_pungi_compose_ids: word_list(body, "parent_pungi_compose_ids")?,
            respin_of: string(body, "respin_of"),
        };
        if let Some(reason) = pulp_option_refusal(&options, source_type) {
            refuse(reason);
        }
        if source_type != SourceType::RawConfig {
            // Only Pungi runs of raw_config composes are told their parents and respins.
            if !options.parent_pungi_compose_ids.is_empty() {
                refuse(unused("parent_pungi_compose_ids", source_type));
            }
            if options.respin_of.is_some() {
                refuse(unused("respin_of", source_type));
            }
        }
        if let ComposeSource::Module(module) = &source {
            if module.modular.koji_tags.is_given() && options.has(ComposeFlag::IncludeDoneModules) {
                return bad(
                    "include_done_modules cannot be used with modular_koji_tags: it takes MBS \
                     builds in the done state, and modules in Koji tags have no MBS state",
                );
            }
        }
        let compose_type = match string(body, "compose_type") {
            None => None,
            Some(name) => match name.parse::<ComposeType>() {
                Ok(compose_type) => Some(compose_type),
                Err(_) => {
                    refuse(format!("Unknown compose_type \"{name}\""));
                    None
                }
            },
        };
        let arches = arches_or_refuse(body, "arches", &mut refuse)?;
        let request = ComposeRequest {
            source,
            options,
            sigkeys,
            arches,
            seconds_to_live: requested_lifetime(body)?,
            compose_type,
            target_dir: string(body, "target_dir"),
        };
        Ok(ParsedRequest { request, refusal })
    }

    /// The request with the server's defaults filled in, checked against what `config` knows
    /// (raw config names, base modules, target directories).
    pub fn resolve(self, config: &Config) -> Result<ComposeSpec, InvalidRequest> {
        if let Some(refusal) = self.refusal(config) {
            return Err(refusal);
        }
        self.resolve_accepting(config)
    }

    /// What `config` makes this request refuse that the reference would accept and ignore:
    /// results this server cannot produce, options of a raw_config compose that only a
    /// wrapper could pass to Pungi.
    pub fn refusal(&self, config: &Config) -> Option<InvalidRequest> {
        let boot_iso = !config.pungi.boot_iso_command.is_empty();
        if let Some(reason) = self
            .options
            .results
            .iter()
            .find_map(|r| r.unproducible(boot_iso))
        {
            return Some(InvalidRequest(reason.to_owned()));
        }
        match &self.source {
            ComposeSource::RawConfig(raw)
                if config.policy.raw_config_urls.contains_key(&raw.name) =>
            {
                self.raw_config_refusal(&raw.name, config)
                    .map(InvalidRequest)
            }
            _ => None,
        }
    }

    /// As [`ComposeRequest::resolve`], leaving [`ComposeRequest::refusal`] to the caller (who
    /// checks permissions first, as the reference does).
    pub fn resolve_accepting(self, config: &Config) -> Result<ComposeSpec, InvalidRequest> {
        let raw_config_key = match &self.source {
            ComposeSource::RawConfig(raw) => {
                if !config.policy.raw_config_urls.contains_key(&raw.name) {
                    return bad(format!(
                        "Source \"{}\" does not exist in server configuration.",
                        raw.name
                    ));
                }
                Some(raw.name.as_str())
            }
            ComposeSource::Module(module) => {
                if let Some(base) = module
                    .modules
                    .iter()
                    .find(|m| config.policy.base_module_names.contains(&m.name))
                {
                    return bad(format!(
                        "ODCS currently cannot create compose with base modules, but {} was requested.",
                        base.name
                    ));
                }
                None
            }
            _ => None,
        };
        let seconds_to_live = lifetime(self.seconds_to_live, config, raw_config_key);
        let target_dir = match &self.target_dir {
            None => config.storage.target_dir.clone(),
            Some(name) => match config.storage.target_dir_named(name) {
                Some(dir) => dir.to_owned(),
                None => return bad(format!("Unknown \"target_dir\" \"{name}\"")),
            },
        };
        Ok(ComposeSpec {
            sigkeys: Sigkeys::new(
                self.sigkeys
                    .unwrap_or_else(|| config.policy.sigkeys.clone()),
            ),
            arches: self.arches.unwrap_or_else(|| config.policy.arches.clone()),
            seconds_to_live,
            compose_type: self.compose_type.unwrap_or_default(),
            target_dir,
            source: self.source,
            options: self.options,
        })
    }

    /// Why this raw_config request for configuration `name` cannot be honoured, if it cannot:
    /// Pungi's configuration decides arches, keys, multilib, lookasides, builds and results, so
    /// a request may set them only when the server renders a wrapper (which receives the
    /// compose's JSON) around that configuration.
    fn raw_config_refusal(&self, name: &str, config: &Config) -> Option<String> {
        if has_raw_config_wrapper(name, config) {
            return None;
        }
        let options = &self.options;
        let source = match &self.source {
            ComposeSource::RawConfig(raw) => raw,
            _ => return None,
        };
        let flag = options
            .flags
            .iter()
            .find(|f| !matches!(f, ComposeFlag::NoLabel | ComposeFlag::NoReuse));
        let result = options
            .results
            .iter()
            .find(|r| *r != ComposeResult::Repository);
        let given = [
            ("arches", self.arches.is_some()),
            ("sigkeys", self.sigkeys.is_some()),
            ("builds", !source.builds.is_empty()),
            ("modules", !source.modules.is_empty()),
            ("multilib_arches", !options.multilib_arches.is_empty()),
            ("multilib_method", !options.multilib_method.is_empty()),
            ("lookaside_repos", !options.lookaside_repos.is_empty()),
            (flag.map_or("", |f| f.name()), flag.is_some()),
            (result.map_or("", |r| r.name()), result.is_some()),
        ];
        let (field, _) = given.into_iter().find(|(_, given)| *given)?;
        Some(unwrapped(field, name))
    }

    /// The JSON body of `POST /api/1/composes/`, with only what is set, as the reference
    /// client sends it.
    pub fn to_json(&self) -> Value {
        json::request_body(self)
    }
}

/// The source object with the source keys a body gave at its top level (`packages` beside
/// `source`, as the reference client's `request_compose(source, packages=...)` sends them);
/// a key given in both places is refused.
fn with_top_level_source_keys(
    body: &Map<String, Value>,
    source: &Map<String, Value>,
) -> Result<Map<String, Value>, InvalidRequest> {
    let mut merged = source.clone();
    for (key, value) in body {
        if key == "source" || key == "type" || !SOURCE_KEYS.contains(&key.as_str()) {
            continue;
        }
        if merged.contains_key(key) {
            return bad(format!("{key} is given both in source and beside it"));
        }
        merged.insert(key.clone(), value.clone());
    }
    Ok(merged)
}

/// Fails naming the first key of `object` not in `known`.
fn refuse_unknown_keys(
    object: &Map<String, Value>,
    known: &[&str],
    place: &str,
) -> Result<(), InvalidRequest> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => bad(format!("Unknown key \"{key}\"{place}")),
        None => Ok(()),
    }
}

/// Flags only Pulp composes act on.
const PULP_FLAGS: [ComposeFlag; 3] = [
    ComposeFlag::IncludeUnpublishedPulpRepos,
    ComposeFlag::IgnoreAbsentPulpRepos,
    ComposeFlag::UseOnlyCompatibleArch,
];

/// Why `options` cannot be honoured with `source_type`, if they cannot: Pulp composes only
/// point at Pulp's repositories (no packages are gathered, so the gathering options would be
/// ignored), and the Pulp flags mean nothing to other composes.
fn pulp_option_refusal(options: &ComposeOptions, source_type: SourceType) -> Option<String> {
    if source_type != SourceType::Pulp {
        return PULP_FLAGS
            .into_iter()
            .find(|f| options.has(*f))
            .map(|f| unused(f.name(), source_type));
    }
    if options.results.contains(ComposeResult::Iso) {
        // A Pulp compose is a .repo file pointing into Pulp; it has no packages to put on a disc.
        return Some(unused(ComposeResult::Iso.name(), source_type));
    }
    let gathering = [
        ("multilib_arches", !options.multilib_arches.is_empty()),
        ("multilib_method", !options.multilib_method.is_empty()),
        ("lookaside_repos", !options.lookaside_repos.is_empty()),
    ];
    if let Some((field, _)) = gathering.into_iter().find(|(_, given)| *given) {
        return Some(unused(field, source_type));
    }
    [
        ComposeFlag::NoDeps,
        ComposeFlag::NoInheritance,
        ComposeFlag::CheckDeps,
        ComposeFlag::IncludeDoneModules,
        ComposeFlag::NoLabel,
    ]
    .into_iter()
    .find(|f| options.has(*f))
    .map(|f| unused(f.name(), source_type))
}

/// Whether the server renders a wrapper (which receives the compose's JSON) around the
/// `raw_config_urls` configuration `name`.
fn has_raw_config_wrapper(name: &str, config: &Config) -> bool {
    config
        .policy
        .raw_config_urls
        .get(name)
        .is_some_and(|entry| entry.raw_config_wrapper.is_some())
        || !config
            .pungi
            .raw_config_wrapper_conf_path
            .as_os_str()
            .is_empty()
}

/// Why `field` cannot be set on a compose of the raw_config configuration `name`.
fn unwrapped(field: &str, name: &str) -> String {
    format!(
        "{field} cannot be used with source type \"raw_config\": the Pungi configuration \
         \"{name}\" decides it, and this server has no raw_config wrapper to pass it to Pungi"
    )
}

fn unused(field: &str, source_type: SourceType) -> String {
    format!("{field} cannot be used with source type \"{source_type}\"")
}

/// Why fields the API knows cannot be served by this server (rather than accepted and
/// ignored), if they are given.
fn unsupported_field(fields: &SourceFields, source_type: SourceType) -> Option<String> {
    // Empty lists ask for nothing and are accepted, as the reference's clients may send them.
    if !fields.scratch_modules.is_empty() {
        return Some(
            "scratch_modules is not supported: this server does not compose scratch module \
             builds (their modulemd lives only in MBS); build the module for real, or ask for \
             its RPMs with builds"
                .to_owned(),
        );
    }
    if !fields.scratch_build_tasks.is_empty() {
        return Some(
            "scratch_build_tasks is not supported: this server does not compose the RPMs of \
             Koji scratch builds; ask for real builds with builds"
                .to_owned(),
        );
    }
    let modular_tags = fields.has(SourceField::ModularKojiTags);
    if source_type == SourceType::Module && modular_tags && fields.has(SourceField::BaseModule) {
        return Some(
            "base_module_br_name and its stream bounds cannot be used with modular_koji_tags: \
             they select module builds through MBS, and modular_koji_tags finds modules in \
             Koji tags instead"
                .to_owned(),
        );
    }
    None
}

/// Whether composes of `source_type` choose packages by name.
fn uses_packages(source_type: SourceType) -> bool {
    matches!(
        source_type,
        SourceType::Tag | SourceType::Build | SourceType::Repo | SourceType::PungiCompose
    )
}

/// Whether composes of `source_type` take signing keys from the request (a Pungi compose and
/// Pulp repositories bring their own).
fn uses_sigkeys(source_type: SourceType) -> bool {
    !matches!(source_type, SourceType::PungiCompose | SourceType::Pulp)
}

/// List `key` of arch names; one rpm does not know is handed to `refuse` (and kept, for the
/// permission check to name as the reference does).
fn arches_or_refuse(
    body: &Map<String, Value>,
    key: &str,
    refuse: &mut impl FnMut(String),
) -> Result<Option<Vec<String>>, InvalidRequest> {
    let arches = string_list(body, key)?;
    if let Some(name) = arches.iter().flatten().find(|name| !arch::is_known(name)) {
        refuse(format!("Unknown arch \"{name}\" in {key}"));
    }
    Ok(arches)
}

/// The lifetime a body asks for: `seconds_to_live` (or the old `seconds-to-live`), as a number
/// or a numeric string; negative lifetimes are refused.
pub fn requested_lifetime(body: &Map<String, Value>) -> Result<Option<i64>, InvalidRequest> {
    let value = body
        .get("seconds_to_live")
        .or_else(|| body.get("seconds-to-live"));
    let requested = match value {
        None => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match requested {
        None => bad(format!(
            "Invalid seconds_to_live specified in request: {}",
            value.map(Value::to_string).unwrap_or_default()
        )),
        Some(s) if s < 0 => bad(format!("seconds_to_live must not be negative, got {s}")),
        Some(s) => Ok(Some(s)),
    }
}

/// The lifetime of a compose asking for `requested` seconds: the default when absent or zero,
/// else clamped to the longest allowed (for raw_config composes, their key's limits).
pub fn lifetime(requested: Option<i64>, config: &Config, raw_config_key: Option<&str>) -> i64 {
    let (default, max) = config.policy.lifetimes(raw_config_key);
    match requested {
        None | Some(0) => default,
        Some(seconds) => seconds.min(max),
    }
}

#[cfg(test)]
mod tests;
