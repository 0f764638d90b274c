//! Reading the values of a request body (after [`super::check_values`] passed) and writing a
//! request back as a body.

use serde_json::{json, Map, Value};

use super::{bad, ComposeRequest, InvalidRequest};
use crate::spec::{BaseModuleBounds, ModuleDefaults, SourceFields, WordList};

/// The items of list `key` of `object`, as strings; `None` when the key is absent.
pub(super) fn string_list(
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

/// List `key` of `object`, remembering whether it was given.
pub(super) fn word_list(
    object: &Map<String, Value>,
    key: &str,
) -> Result<WordList, InvalidRequest> {
    Ok(WordList::from_option(string_list(object, key)?))
}

/// String `key` of `object`.
pub(super) fn string(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Integer `key` of `object`.
pub(super) fn integer(object: &Map<String, Value>, key: &str) -> Option<i64> {
    object.get(key).and_then(Value::as_i64)
}

/// List `key` of names of `T`, each parsed; an unknown one is named with `what`.
pub(super) fn parse_names<T>(
    body: &Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Vec<T>, InvalidRequest>
where
    T: std::str::FromStr,
{
    parse_names_but(body, key, what, &[])
}

/// As [`parse_names`], with the names in `nothing` standing for no value (the reference's
/// `no_flags`).
pub(super) fn parse_names_but<T>(
    body: &Map<String, Value>,
    key: &str,
    what: &str,
    nothing: &[&str],
) -> Result<Vec<T>, InvalidRequest>
where
    T: std::str::FromStr,
{
    string_list(body, key)?
        .unwrap_or_default()
        .iter()
        .filter(|name| !nothing.contains(&name.as_str()))
        .map(|name| match name.parse::<T>() {
            Ok(value) => Ok(value),
            Err(_) => bad(format!("Unknown {what} \"{name}\"")),
        })
        .collect()
}

/// The source fields of a source object: `source` split into words (repeats dropped, order
/// kept), every list, the module defaults pair and the base module bounds.
pub(super) fn source_fields(source: &Map<String, Value>) -> Result<SourceFields, InvalidRequest> {
    let mut words: Vec<String> = Vec::new();
    for word in source
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split_whitespace()
    {
        if !words.iter().any(|w| w == word) {
            words.push(word.to_owned());
        }
    }
    let defaults_url = string(source, "module_defaults_url").filter(|s| !s.is_empty());
    let defaults_commit = string(source, "module_defaults_commit").filter(|s| !s.is_empty());
    let module_defaults =
        match (defaults_url, defaults_commit) {
            (Some(url), Some(commit)) => Some(ModuleDefaults { url, commit }),
            (None, None) => None,
            _ => return bad(
                "The \"module_defaults_url\" and \"module_defaults_commit\" must be used together.",
            ),
        };
    Ok(SourceFields {
        source: words,
        koji_event: integer(source, "koji_event"),
        builds: word_list(source, "builds")?,
        modular_koji_tags: word_list(source, "modular_koji_tags")?,
        module_defaults,
        scratch_modules: word_list(source, "scratch_modules")?,
        scratch_build_tasks: word_list(source, "scratch_build_tasks")?,
        modules: word_list(source, "modules")?,
        base_module: BaseModuleBounds {
            name: string(source, "base_module_br_name"),
            stream: string(source, "base_module_br_stream"),
            stream_version_lte: integer(source, "base_module_br_stream_version_lte"),
            stream_version_gte: integer(source, "base_module_br_stream_version_gte"),
        },
    })
}

fn put_list(map: &mut Map<String, Value>, key: &str, list: &WordList) {
    if let Some(items) = list.to_option() {
        map.insert(key.into(), json!(items));
    }
}

fn put_vec(map: &mut Map<String, Value>, key: &str, list: &[String]) {
    if !list.is_empty() {
        map.insert(key.into(), json!(list));
    }
}

fn put<T: serde::Serialize>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        map.insert(key.into(), json!(value));
    }
}

/// The body of a create request for `request`.
pub(super) fn request_body(request: &ComposeRequest) -> Value {
    let fields = request.source.to_fields();
    let mut source = Map::new();
    source.insert("type".into(), json!(request.source.source_type().name()));
    source.insert("source".into(), json!(fields.source.join(" ")));
    put(&mut source, "koji_event", fields.koji_event);
    put_list(&mut source, "packages", &request.options.packages);
    put_list(&mut source, "builds", &fields.builds);
    put_list(&mut source, "modular_koji_tags", &fields.modular_koji_tags);
    if let Some(defaults) = &fields.module_defaults {
        source.insert("module_defaults_url".into(), json!(defaults.url));
        source.insert("module_defaults_commit".into(), json!(defaults.commit));
    }
    put_list(&mut source, "scratch_modules", &fields.scratch_modules);
    put_list(
        &mut source,
        "scratch_build_tasks",
        &fields.scratch_build_tasks,
    );
    put_list(&mut source, "modules", &fields.modules);
    let base = &fields.base_module;
    put(&mut source, "base_module_br_name", base.name.as_ref());
    put(&mut source, "base_module_br_stream", base.stream.as_ref());
    put(
        &mut source,
        "base_module_br_stream_version_lte",
        base.stream_version_lte,
    );
    put(
        &mut source,
        "base_module_br_stream_version_gte",
        base.stream_version_gte,
    );
    put(&mut source, "sigkeys", request.sigkeys.as_ref());

    let options = &request.options;
    let mut body = Map::new();
    body.insert("source".into(), Value::Object(source));
    let flags = options.flags.names();
    if !flags.is_empty() {
        body.insert("flags".into(), json!(flags));
    }
    let results: Vec<&str> = options
        .results
        .names()
        .into_iter()
        .filter(|r| *r != "repository")
        .collect();
    if !results.is_empty() {
        body.insert("results".into(), json!(results));
    }
    put(&mut body, "arches", request.arches.as_ref());
    put_vec(&mut body, "lookaside_repos", &options.lookaside_repos);
    put_vec(&mut body, "multilib_arches", &options.multilib_arches);
    let methods = options.multilib_method.names();
    if !methods.is_empty() {
        body.insert("multilib_method".into(), json!(methods));
    }
    put(&mut body, "seconds_to_live", request.seconds_to_live);
    put(&mut body, "label", options.label.as_ref());
    put(
        &mut body,
        "compose_type",
        request.compose_type.map(|t| t.name()),
    );
    put(&mut body, "target_dir", request.target_dir.as_ref());
    put_list(
        &mut body,
        "parent_pungi_compose_ids",
        &options.parent_pungi_compose_ids,
    );
    put(&mut body, "respin_of", options.respin_of.as_ref());
    Value::Object(body)
}
