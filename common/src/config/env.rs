//! `ODCS_*` environment variables: each overrides the configuration key of the same name,
//! read as that key's type.

use std::collections::BTreeMap;

use super::{Config, ConfigError, ENV_PREFIX};

/// Overrides keys of `table` with `ODCS_<KEY>` variables from `env`.
///
/// A value is read as the key's type: strings as they are, numbers and booleans parsed, lists
/// as JSON (`["a","b"]`) or as comma/space separated words, tables as JSON objects.
pub(super) fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let defaults = match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    let overrides: BTreeMap<String, String> = env
        .into_iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(ENV_PREFIX)
                .map(|key| (key.to_ascii_lowercase(), v))
        })
        .collect();
    for (key, default) in &defaults {
        let Some(raw) = overrides.get(key) else {
            continue;
        };
        let var = format!("{ENV_PREFIX}{}", key.to_ascii_uppercase());
        let bad = |what: &str| ConfigError::Parse(format!("{var}: {what}, got {raw:?}"));
        let value = match default {
            toml::Value::String(_) => toml::Value::String(raw.clone()),
            toml::Value::Integer(_) => {
                toml::Value::Integer(raw.trim().parse().map_err(|_| bad("expected an integer"))?)
            }
            toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => return Err(bad("expected true or false")),
            }),
            toml::Value::Array(_) if raw.trim_start().starts_with('[') => {
                json_to_toml(raw).ok_or_else(|| bad("expected a JSON list"))?
            }
            toml::Value::Array(_) => toml::Value::Array(
                raw.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|w| !w.is_empty())
                    .map(|w| toml::Value::String(w.to_owned()))
                    .collect(),
            ),
            _ => json_to_toml(raw).ok_or_else(|| bad("expected a JSON object"))?,
        };
        table.insert(key.clone(), value);
    }
    Ok(())
}

fn json_to_toml(raw: &str) -> Option<toml::Value> {
    let json: serde_json::Value = serde_json::from_str(raw).ok()?;
    toml::Value::try_from(json).ok()
}
