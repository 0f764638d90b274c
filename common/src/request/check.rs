//! The shape checks every request body passes before it is read: which keys hold lists,
//! strings and integers, that only `source` holds an object, and that strings use only safe
//! characters, as the reference checks them.

use serde_json::{Map, Value};

use super::{bad, InvalidRequest};

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
            Value::String(text) => check_chars(text)?,
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
            Value::String(text) => check_chars(text)?,
            Value::Number(_) | Value::Bool(_) => {}
            Value::Object(_) => return bad("Only 'source' key is allowed to contain dict."),
            Value::Array(_) => return bad(format!("{key} must be a flat list")),
            Value::Null => return bad(format!("{key} must not contain null")),
        }
    }
    Ok(())
}

fn check_chars(text: &str) -> Result<(), InvalidRequest> {
    if text
        .chars()
        .all(|c| c.is_alphanumeric() || ALLOWED_CHARS.contains(c))
    {
        Ok(())
    } else {
        bad(format!(
            "Only alphanumerical characters and {} characters are allowed in ODCS input \
             variables",
            crate::pyrepr::string(ALLOWED_CHARS)
        ))
    }
}
