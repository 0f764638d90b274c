//! Parsing compose and renewal requests: the body of `POST /api/1/composes/` and of
//! `PATCH /api/1/composes/{id}`, checked as the reference checks them.
//!
//! Parsing is pure: it takes the JSON and the configuration and returns either a resolved
//! request (lists joined the way they are stored, defaults filled in) or one message a user
//! can act on.

use std::path::PathBuf;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::compose::{
    ComposeFlag, ComposeFlags, ComposeResult, ComposeResults, MultilibMethod, SourceType,
};
use crate::config::Config;

/// A request that cannot be accepted, with the message the API returns (status 400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct InvalidRequest(pub String);

fn bad<T>(message: impl Into<String>) -> Result<T, InvalidRequest> {
    Err(InvalidRequest(message.into()))
}

/// Characters besides letters and digits allowed in string values; everything else could
/// end up in a generated Pungi configuration.
pub const ALLOWED_CHARS: &str = " -/_.:#+?$~^,";

const LIST_KEYS: &[&str] = &[
    "builds",
    "multilib_method",
    "packages",
    "scratch_build_tasks",
    "scratch_modules",
    "sigkeys",
    "modules",
    "arches",
    "flags",
    "results",
    "multilib_arches",
    "lookaside_repos",
    "modular_koji_tags",
    "parent_pungi_compose_ids",
];
const STRING_KEYS: &[&str] = &[
    "base_module_br_name",
    "base_module_br_stream",
    "compose_type",
    "label",
    "target_dir",
    "type",
    "source",
    "respin_of",
    "module_defaults_url",
    "module_defaults_commit",
];
const INT_KEYS: &[&str] = &[
    "seconds_to_live",
    "koji_event",
    "base_module_br_stream_version_lte",
    "base_module_br_stream_version_gte",
];

/// Arch names a request may ask for: rpm's own list of architectures.
const KNOWN_ARCHES: &[&str] = &[
    "x86_64",
    "i386",
    "i486",
    "i586",
    "i686",
    "athlon",
    "geode",
    "pentium3",
    "pentium4",
    "amd64",
    "ia32e",
    "em64t",
    "x86_64_v2",
    "x86_64_v3",
    "x86_64_v4",
    "aarch64",
    "armv5tel",
    "armv5tejl",
    "armv6l",
    "armv6hl",
    "armv7l",
    "armv7hl",
    "armv7hnl",
    "armv8l",
    "armv8hl",
    "ppc",
    "ppc64",
    "ppc64le",
    "ppc64p7",
    "ppc64pseries",
    "ppc64iseries",
    "s390",
    "s390x",
    "riscv64",
    "loongarch64",
    "mips",
    "mipsel",
    "mips64",
    "mips64el",
    "sparc",
    "sparcv9",
    "sparc64",
    "ia64",
    "alpha",
    "noarch",
    "src",
];

/// Checks the shape of the whole body: which keys hold lists, strings and integers, that only
/// `source` holds an object, and that strings use only safe characters (package names excepted,
/// as they never reach a Pungi configuration).
pub fn check_values(body: &Map<String, Value>) -> Result<(), InvalidRequest> {
    check_object(body, 0)
}

fn check_object(object: &Map<String, Value>, level: usize) -> Result<(), InvalidRequest> {
    for (key, value) in object {
        let key = key.as_str();
        if LIST_KEYS.contains(&key) && !value.is_array() {
            return bad(format!("{key} should be a list"));
        }
        // At the top level `source` is the source object; inside it, the source string.
        let source_object = level == 0 && key == "source";
        if STRING_KEYS.contains(&key) && !value.is_string() && !source_object {
            return bad(format!("{key} should be a string"));
        }
        if INT_KEYS.contains(&key) && !(value.is_i64() || value.is_u64()) {
            return bad(format!("{key} should be an integer"));
        }
        match value {
            Value::Object(inner) if source_object => check_object(inner, 1)?,
            Value::Object(_) => return bad("Only 'source' key is allowed to contain dict."),
            Value::Array(items) => check_list(key, items)?,
            Value::String(text) => check_chars(key, text)?,
            Value::Number(_) | Value::Bool(_) => {}
            Value::Null => return bad(format!("{key} must not be null")),
        }
    }
    Ok(())
}

fn check_list(key: &str, items: &[Value]) -> Result<(), InvalidRequest> {
    for item in items {
        match item {
            Value::String(text) if key == "packages" => {
                if text.chars().any(char::is_whitespace) || text.is_empty() {
                    return bad(format!("packages must be non-empty names, got {text:?}"));
                }
            }
            Value::String(text) => check_chars(key, text)?,
            Value::Number(_) | Value::Bool(_) => {}
            Value::Object(_) => return bad("Only 'source' key is allowed to contain dict."),
            Value::Array(_) => return bad(format!("{key} must be a flat list")),
            Value::Null => return bad(format!("{key} must not contain null")),
        }
    }
    Ok(())
}

fn check_chars(key: &str, text: &str) -> Result<(), InvalidRequest> {
    if text
        .chars()
        .all(|c| c.is_alphanumeric() || ALLOWED_CHARS.contains(c))
    {
        Ok(())
    } else {
        bad(format!(
            "Only alphanumerical characters and {ALLOWED_CHARS:?} characters are allowed in \
             ODCS input variables, but {key} is {text:?}"
        ))
    }
}

/// The items of list `key` of `object`, as strings; `None` when the key is absent.
fn string_list(
    object: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, InvalidRequest> {
    let Some(value) = object.get(key) else {
        return Ok(None);
    };
    let Some(items) = value.as_array() else {
        return bad(format!("{key} should be a list"));
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => bad(format!("{key} should be a list of strings")),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// List `key` joined with spaces, the way lists are stored.
fn joined(object: &Map<String, Value>, key: &str) -> Result<Option<String>, InvalidRequest> {
    Ok(string_list(object, key)?.map(|items| items.join(" ")))
}

fn string(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn integer(object: &Map<String, Value>, key: &str) -> Option<i64> {
    object.get(key).and_then(Value::as_i64)
}

/// The lifetime a request asks for: `seconds_to_live` (or the old `seconds-to-live`), clamped
/// to the longest allowed; the default when absent or zero. Negative lifetimes are refused.
pub fn seconds_to_live(
    body: &Map<String, Value>,
    config: &Config,
    raw_config_key: Option<&str>,
) -> Result<i64, InvalidRequest> {
    let (default, max) = config.lifetimes(raw_config_key);
    let value = body
        .get("seconds_to_live")
        .or_else(|| body.get("seconds-to-live"));
    let requested = match value {
        None => return Ok(default),
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
        Some(0) => Ok(default),
        Some(s) => Ok(s.min(max)),
    }
}

/// A compose request that passed every check, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // each field is the stored column of the same name
pub struct ComposeRequest {
    pub source_type: SourceType,
    pub source: String,
    pub seconds_to_live: i64,
    pub packages: Option<String>,
    pub builds: Option<String>,
    pub sigkeys: String,
    pub koji_event: Option<i64>,
    pub flags: ComposeFlags,
    pub results: ComposeResults,
    pub arches: String,
    pub multilib_arches: String,
    pub multilib_method: i32,
    pub lookaside_repos: String,
    pub modular_koji_tags: Option<String>,
    /// `"URL COMMIT"`, stored in the `module_defaults_url` column as the reference does.
    pub module_defaults: Option<String>,
    pub scratch_modules: Option<String>,
    pub scratch_build_tasks: Option<String>,
    pub modules: Option<String>,
    pub parent_pungi_compose_ids: Option<String>,
    pub respin_of: Option<String>,
    pub base_module_br_name: Option<String>,
    pub base_module_br_stream: Option<String>,
    pub base_module_br_stream_version_lte: Option<i64>,
    pub base_module_br_stream_version_gte: Option<i64>,
    pub label: Option<String>,
    pub compose_type: String,
    /// The directory the compose goes to.
    pub target_dir: PathBuf,
    /// The `raw_config_urls` key a raw_config compose names.
    pub raw_config_key: Option<String>,
}

impl ComposeRequest {
    /// Parses and checks the body of a create request against `config`.
    pub fn parse(body: &Value, config: &Config) -> Result<ComposeRequest, InvalidRequest> {
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
        let Some(type_name) = source_data.get("type").and_then(Value::as_str) else {
            return bad(format!(
                "Missing type in source configuration, received: {}",
                Value::Object(source_data.clone())
            ));
        };
        let Ok(source_type) = type_name.parse::<SourceType>() else {
            return bad(format!("Unknown source type \"{type_name}\""));
        };

        let mut sources: Vec<&str> = Vec::new();
        for word in source_data
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split_whitespace()
        {
            if !sources.contains(&word) {
                sources.push(word);
            }
        }
        let modules = joined(source_data, "modules")?;
        let scratch_modules = joined(source_data, "scratch_modules")?;
        let has_scratch_modules = scratch_modules.as_deref().is_some_and(|s| !s.is_empty());
        if sources.is_empty()
            && source_type != SourceType::Build
            && !(source_type == SourceType::Module && has_scratch_modules)
        {
            return bad(format!(
                "No source provided for source type \"{source_type}\""
            ));
        }

        let raw_config_key = match source_type {
            SourceType::RawConfig => Some(raw_config_key(&sources, config)?),
            SourceType::Module => {
                check_modules(&sources, config)?;
                None
            }
            _ => None,
        };

        let seconds_to_live = seconds_to_live(body, config, raw_config_key.as_deref())?;
        let builds = joined(source_data, "builds")?;
        let sigkeys = match string_list(source_data, "sigkeys")? {
            Some(keys) => keys.join(" "),
            None => config.sigkeys.join(" "),
        };

        let flags = parse_names::<ComposeFlag>(body, "flags", "flag")?
            .into_iter()
            .collect::<ComposeFlags>();
        let results = parse_names::<ComposeResult>(body, "results", "result")?
            .into_iter()
            .collect::<ComposeResults>()
            .with(ComposeResult::Repository);
        let multilib_method =
            parse_names::<MultilibMethod>(body, "multilib_method", "multilib method")?
                .into_iter()
                .fold(0, |bits, m| bits | m.code());

        let arches = match string_list(body, "arches")? {
            Some(arches) => {
                check_arches("arches", &arches)?;
                arches.join(" ")
            }
            None => config.arches.join(" "),
        };
        let multilib_arches = match string_list(body, "multilib_arches")? {
            Some(arches) => {
                check_arches("multilib_arches", &arches)?;
                arches.join(" ")
            }
            None => String::new(),
        };

        let module_defaults_url =
            string(source_data, "module_defaults_url").filter(|s| !s.is_empty());
        let module_defaults_commit =
            string(source_data, "module_defaults_commit").filter(|s| !s.is_empty());
        let module_defaults = match (module_defaults_url, module_defaults_commit) {
            (Some(url), Some(commit)) => Some(format!("{url} {commit}")),
            (None, None) => None,
            _ => return bad(
                "The \"module_defaults_url\" and \"module_defaults_commit\" must be used together.",
            ),
        };

        let target_dir = match string(body, "target_dir") {
            None => config.target_dir.clone(),
            Some(name) => match config.target_dir_named(&name) {
                Some(dir) => dir.to_owned(),
                None => return bad(format!("Unknown \"target_dir\" \"{name}\"")),
            },
        };

        Ok(ComposeRequest {
            source_type,
            source: sources.join(" "),
            seconds_to_live,
            packages: joined(source_data, "packages")?,
            builds,
            sigkeys,
            koji_event: integer(source_data, "koji_event"),
            flags,
            results,
            arches,
            multilib_arches,
            multilib_method,
            lookaside_repos: joined(body, "lookaside_repos")?.unwrap_or_default(),
            modular_koji_tags: joined(source_data, "modular_koji_tags")?,
            module_defaults,
            scratch_modules,
            scratch_build_tasks: joined(source_data, "scratch_build_tasks")?,
            modules,
            parent_pungi_compose_ids: joined(body, "parent_pungi_compose_ids")?,
            respin_of: string(body, "respin_of"),
            base_module_br_name: string(source_data, "base_module_br_name"),
            base_module_br_stream: string(source_data, "base_module_br_stream"),
            base_module_br_stream_version_lte: integer(
                source_data,
                "base_module_br_stream_version_lte",
            ),
            base_module_br_stream_version_gte: integer(
                source_data,
                "base_module_br_stream_version_gte",
            ),
            label: string(body, "label"),
            compose_type: string(body, "compose_type").unwrap_or_else(|| "test".into()),
            target_dir,
            raw_config_key,
        })
    }
}

fn parse_names<T>(
    body: &Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Vec<T>, InvalidRequest>
where
    T: std::str::FromStr,
{
    string_list(body, key)?
        .unwrap_or_default()
        .iter()
        .map(|name| match name.parse::<T>() {
            Ok(value) => Ok(value),
            Err(_) => bad(format!("Unknown {what} \"{name}\"")),
        })
        .collect()
}

fn check_arches(key: &str, arches: &[String]) -> Result<(), InvalidRequest> {
    for arch in arches {
        if !KNOWN_ARCHES.contains(&arch.as_str()) {
            return bad(format!("Unknown arch \"{arch}\" in {key}"));
        }
    }
    Ok(())
}

fn raw_config_key(sources: &[&str], config: &Config) -> Result<String, InvalidRequest> {
    if sources.len() > 1 {
        return bad("Only single source is allowed for \"raw_config\" source_type");
    }
    let source = sources.first().copied().unwrap_or_default();
    let Some((name, commit)) = source.split_once('#') else {
        return bad(
            "Source must be in \"source_name#commit_hash\" format for \"raw_config\" source_type.",
        );
    };
    if name.is_empty() || commit.is_empty() || commit.contains('#') {
        return bad(
            "Source must be in \"source_name#commit_hash\" format for \"raw_config\" source_type.",
        );
    }
    if !config.raw_config_urls.contains_key(name) {
        return bad(format!(
            "Source \"{name}\" does not exist in server configuration."
        ));
    }
    Ok(name.to_owned())
}

fn check_modules(sources: &[&str], config: &Config) -> Result<(), InvalidRequest> {
    for module in sources {
        let parts: Vec<&str> = module.split(':').collect();
        if parts.len() < 2 || parts.len() > 4 || parts.iter().any(|p| p.is_empty()) {
            return bad(format!(
                "Module definition must be in \"n:s\", \"n:s:v\" or \"n:s:v:c\" format, but got {module}"
            ));
        }
        if config.base_module_names.iter().any(|b| b == parts[0]) {
            return bad(format!(
                "ODCS currently cannot create compose with base modules, but {} was requested.",
                parts[0]
            ));
        }
    }
    Ok(())
}

/// What a renewal (`PATCH`) asks to change; `None` keeps the old value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RenewRequest {
    /// New signing keys, joined with spaces.
    pub sigkeys: Option<String>,
    /// New label (an empty label keeps the old one).
    pub label: Option<String>,
    /// New builds, joined with spaces.
    pub builds: Option<String>,
    /// New modules, joined with spaces.
    pub modules: Option<String>,
}

impl RenewRequest {
    /// Parses the optional body of a renewal; an empty body renews with defaults.
    pub fn parse(
        body: Option<&Value>,
    ) -> Result<(RenewRequest, Map<String, Value>), InvalidRequest> {
        let body = match body {
            None => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return bad("The request body must be a JSON object"),
        };
        check_values(&body)?;
        let source = match body.get("source") {
            None => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return bad("source should be an object"),
        };
        let request = RenewRequest {
            sigkeys: joined(&body, "sigkeys")?,
            label: string(&body, "label").filter(|l| !l.is_empty()),
            builds: joined(&source, "builds")?,
            modules: joined(&source, "modules")?,
        };
        Ok((request, body))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config() -> Config {
        let mut config = Config::default();
        config.raw_config_urls.insert(
            "pungi_cfg".into(),
            crate::config::RawConfigSource {
                url: "https://git.example.com/cfg.git".into(),
                config_filename: "pungi.conf".into(),
                seconds_to_live: Some(100),
                max_seconds_to_live: Some(200),
                extra: Default::default(),
            },
        );
        config
            .extra_target_dirs
            .insert("private".into(), PathBuf::from("/srv/private"));
        config.sigkeys = vec!["DEFAULTKEY".into()];
        config
    }

    fn parse(body: Value) -> Result<ComposeRequest, String> {
        ComposeRequest::parse(&body, &config()).map_err(|e| e.0)
    }

    #[test]
    fn a_minimal_tag_request_gets_every_default() {
        let req = parse(json!({"source": {"type": "tag", "source": "f40-build"}})).expect("valid");
        assert_eq!(req.source_type, SourceType::Tag);
        assert_eq!(req.source, "f40-build");
        assert_eq!(req.seconds_to_live, 86400);
        assert_eq!(req.sigkeys, "DEFAULTKEY");
        assert_eq!(req.arches, "x86_64");
        assert_eq!(req.results.names(), ["repository"]);
        assert_eq!(req.compose_type, "test");
        assert_eq!(req.target_dir, PathBuf::from("odcs-data/composes"));
        assert_eq!(req.multilib_method, 0);
    }

    #[test]
    fn sources_are_deduplicated_keeping_order() {
        let req = parse(json!({"source": {"type": "tag", "source": "b a b  a c"}})).expect("valid");
        assert_eq!(req.source, "b a c");
    }

    #[test]
    fn options_are_resolved() {
        let req = parse(json!({
            "source": {"type": "tag", "source": "t", "packages": ["a", "b"], "sigkeys": ["", "K"],
                       "koji_event": 123, "builds": ["x-1-1"]},
            "flags": ["no_deps", "check_deps"], "results": ["iso"], "arches": ["x86_64", "aarch64"],
            "multilib_arches": ["x86_64"], "multilib_method": ["runtime", "devel"],
            "lookaside_repos": ["http://x/repo"], "seconds_to_live": 999999, "label": "RC-1.0",
            "compose_type": "production", "target_dir": "private"
        }))
        .expect("valid");
        assert_eq!(req.packages.as_deref(), Some("a b"));
        assert_eq!(req.sigkeys, " K");
        assert_eq!(req.koji_event, Some(123));
        assert_eq!(req.flags.bits(), 9);
        assert_eq!(req.results.bits(), 3);
        assert_eq!(req.multilib_method, 3);
        assert_eq!(req.seconds_to_live, 72 * 3600, "clamped to the max");
        assert_eq!(req.target_dir, PathBuf::from("/srv/private"));
        assert_eq!(req.lookaside_repos, "http://x/repo");
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let cases = [
            (json!({}), "No JSON POST data submitted"),
            (json!([1]), "must be a JSON object"),
            (json!({"source": "x"}), "Invalid source configuration"),
            (json!({"source": {"source": "x"}}), "Missing type"),
            (
                json!({"source": {"type": "nope", "source": "x"}}),
                "Unknown source type \"nope\"",
            ),
            (json!({"source": {"type": "tag"}}), "No source provided"),
            (
                json!({"source": {"type": "tag", "source": "x", "packages": "a"}}),
                "packages should be a list",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "label": 5}),
                "label should be a string",
            ),
            (
                json!({"source": {"type": "tag", "source": "x", "koji_event": "1"}}),
                "koji_event should be an integer",
            ),
            (
                json!({"source": {"type": "tag", "source": "x;rm"}}),
                "Only alphanumerical",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "flags": ["bogus"]}),
                "Unknown flag \"bogus\"",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "results": ["dvd"]}),
                "Unknown result \"dvd\"",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "multilib_method": ["x"]}),
                "Unknown multilib method \"x\"",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "arches": ["x86-64"]}),
                "Unknown arch",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "arches": "x86_64"}),
                "arches should be a list",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "target_dir": "nope"}),
                "Unknown \"target_dir\" \"nope\"",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "seconds_to_live": -5}),
                "must not be negative",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "extra": {"a": 1}}),
                "Only 'source' key",
            ),
            (
                json!({"source": {"type": "module", "source": "ed"}}),
                "Module definition must be",
            ),
            (
                json!({"source": {"type": "module", "source": "platform:f40"}}),
                "base modules",
            ),
            (
                json!({"source": {"type": "raw_config", "source": "pungi_cfg"}}),
                "source_name#commit_hash",
            ),
            (
                json!({"source": {"type": "raw_config", "source": "a#1 b#2"}}),
                "Only single source",
            ),
            (
                json!({"source": {"type": "raw_config", "source": "other#abc"}}),
                "does not exist in server configuration",
            ),
            (
                json!({"source": {"type": "tag", "source": "x", "module_defaults_url": "u"}}),
                "must be used together",
            ),
            (
                json!({"source": {"type": "tag", "source": "x", "label": null}}),
                "label should be a string",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "note": null}),
                "note must not be null",
            ),
        ];
        for (body, expected) in cases {
            let err = parse(body.clone()).expect_err(&format!("{body} must be refused"));
            assert!(err.contains(expected), "{body}: {err:?} lacks {expected:?}");
        }
    }

    #[test]
    fn raw_config_lifetimes_come_from_their_key() {
        let req = parse(json!({"source": {"type": "raw_config", "source": "pungi_cfg#abc"}}))
            .expect("valid");
        assert_eq!(req.raw_config_key.as_deref(), Some("pungi_cfg"));
        assert_eq!(req.seconds_to_live, 100);
        let req = parse(
            json!({"source": {"type": "raw_config", "source": "pungi_cfg#abc"},
                                "seconds-to-live": 5000}),
        )
        .expect("valid");
        assert_eq!(req.seconds_to_live, 200);
    }

    #[test]
    fn build_and_scratch_module_composes_need_no_source() {
        parse(json!({"source": {"type": "build", "builds": ["a-1-1"]}})).expect("build");
        parse(json!({"source": {"type": "module", "scratch_modules": ["m:s:1:c"]}}))
            .expect("scratch");
    }

    #[test]
    fn package_names_skip_the_character_check() {
        let req = parse(json!({"source": {"type": "tag", "source": "x", "packages": ["gcc-c++", "perl(Foo::Bar)"]}}))
            .expect("valid");
        assert_eq!(req.packages.as_deref(), Some("gcc-c++ perl(Foo::Bar)"));
    }

    #[test]
    fn renewals_parse_their_optional_body() {
        let (req, _) = RenewRequest::parse(None).expect("empty");
        assert_eq!(req, RenewRequest::default());
        let body = json!({"sigkeys": ["A"], "label": "L", "source": {"builds": ["b-1-1"]}});
        let (req, _) = RenewRequest::parse(Some(&body)).expect("valid");
        assert_eq!(req.sigkeys.as_deref(), Some("A"));
        assert_eq!(req.builds.as_deref(), Some("b-1-1"));
        assert!(RenewRequest::parse(Some(&json!(5))).is_err());
    }
}
