//! productmd's compose identity for a Pungi run: the compose id made of the configuration's
//! release and the request's type, date, label and respin, written where Pungi reads it when
//! it is given `--compose-dir` (`COMPOSE_ID` and `work/global/composeinfo-base.json`), and the
//! `composeinfo.json` Pungi leaves in `compose/metadata/`.

use std::path::{Path, PathBuf};

use odcs_common::compose::ComposeType;
use serde_json::{json, Map, Value};
use thiserror::Error;

/// Why compose information cannot be made or read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ComposeInfoError {
    /// The configuration lacks a setting the compose id is made of, or has it wrong.
    #[error("the Pungi configuration {0}")]
    Config(String),
    /// A file cannot be written or read.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A product as productmd describes it (the release, or the base product it is layered on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// `Fedora`.
    pub name: String,
    /// `F`.
    pub short: String,
    /// `41`.
    pub version: String,
    /// `ga`, `updates`, ... (lower case).
    pub kind: String,
}

impl Product {
    /// The part of a compose id this product gives: `{short}-{version}[-{type}]`.
    fn id_part(&self) -> String {
        let suffix = if self.kind == "ga" {
            String::new()
        } else {
            format!("-{}", self.kind)
        };
        format!("{}-{}{suffix}", self.short, self.version)
    }

    fn json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("name".into(), json!(self.name));
        out.insert("version".into(), json!(self.version));
        out.insert("short".into(), json!(self.short));
        out.insert("type".into(), json!(self.kind));
        out
    }
}

/// The release a Pungi configuration composes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The product.
    pub product: Product,
    /// Whether the release is internal.
    pub internal: bool,
    /// The product it is layered on, if any.
    pub base_product: Option<Product>,
}

fn text(conf: &Map<String, Value>, key: &str) -> Result<String, ComposeInfoError> {
    match conf.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(ComposeInfoError::Config(format!(
            "sets {key} to something that is not a string"
        ))),
        None => Err(ComposeInfoError::Config(format!("does not set {key}"))),
    }
}

fn kind(conf: &Map<String, Value>, key: &str) -> String {
    conf.get(key)
        .and_then(Value::as_str)
        .unwrap_or("ga")
        .to_lowercase()
}

impl Release {
    /// The release a configuration (as `pungi.json` holds it) describes.
    pub fn from_config(conf: &Map<String, Value>) -> Result<Release, ComposeInfoError> {
        let layered = conf
            .get("base_product_name")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        let base_product = if layered {
            Some(Product {
                name: text(conf, "base_product_name")?,
                short: text(conf, "base_product_short")?,
                version: text(conf, "base_product_version")?,
                kind: kind(conf, "base_product_type"),
            })
        } else {
            None
        };
        Ok(Release {
            product: Product {
                name: text(conf, "release_name")?,
                short: text(conf, "release_short")?,
                version: text(conf, "release_version")?,
                kind: kind(conf, "release_type"),
            },
            internal: conf.get("release_internal").is_some_and(truthy),
            base_product,
        })
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The identity of one compose, before Pungi runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeIdentity {
    /// What is composed.
    pub release: Release,
    /// The compose type.
    pub compose_type: ComposeType,
    /// `YYYYMMDD`.
    pub date: String,
    /// How many composes of the same release, type and date came before.
    pub respin: u32,
    /// The label (`RC-1.0`), if any.
    pub label: Option<String>,
}

impl ComposeIdentity {
    /// The compose id, as productmd makes it:
    /// `{short}-{version}[-{type}][-{base short}-{base version}]-{date}{type suffix}.{respin}`.
    pub fn id(&self) -> String {
        let mut id = self.release.product.id_part();
        if let Some(base) = &self.release.base_product {
            id.push('-');
            id.push_str(&base.id_part());
        }
        format!(
            "{id}-{}{}.{}",
            self.date,
            self.compose_type.id_suffix(),
            self.respin
        )
    }

    /// The composeinfo document, with no variants yet.
    pub fn to_json(&self) -> Value {
        let mut compose = Map::new();
        compose.insert("id".into(), json!(self.id()));
        compose.insert("type".into(), json!(self.compose_type.name()));
        compose.insert("date".into(), json!(self.date));
        compose.insert("respin".into(), json!(self.respin));
        if let Some(label) = &self.label {
            compose.insert("label".into(), json!(label));
            compose.insert("final".into(), json!(false));
        }
        let mut release = self.release.product.json();
        if self.release.base_product.is_some() {
            release.insert("is_layered".into(), json!(true));
        }
        release.insert("internal".into(), json!(self.release.internal));
        let mut payload = Map::new();
        payload.insert("compose".into(), Value::Object(compose));
        payload.insert("release".into(), Value::Object(release));
        if let Some(base) = &self.release.base_product {
            payload.insert("base_product".into(), Value::Object(base.json()));
        }
        payload.insert("variants".into(), json!({}));
        json!({
            "header": {"type": "productmd.composeinfo", "version": "1.2"},
            "payload": payload,
        })
    }

    /// Writes `COMPOSE_ID` and `work/global/composeinfo-base.json` into the compose directory
    /// `dir`, as Pungi expects them there before a `--compose-dir` run.
    pub fn write(&self, dir: &Path) -> Result<(), ComposeInfoError> {
        let file_error = |path: &Path| {
            let path = path.to_owned();
            move |e: std::io::Error| ComposeInfoError::File {
                path,
                message: e.to_string(),
            }
        };
        let base = dir.join("work/global/composeinfo-base.json");
        if let Some(parent) = base.parent() {
            std::fs::create_dir_all(parent).map_err(file_error(parent))?;
        }
        let text = serde_json::to_string_pretty(&self.to_json()).unwrap_or_default();
        std::fs::write(&base, text).map_err(file_error(&base))?;
        let id_file = dir.join("COMPOSE_ID");
        std::fs::write(&id_file, self.id()).map_err(file_error(&id_file))
    }
}

/// What a finished Pungi compose says about itself in `compose/metadata/composeinfo.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedCompose {
    /// Its compose id.
    pub id: String,
    /// Each variant's repository paths (relative to `compose/`), by variant and arch.
    pub repositories: Vec<(String, String, String)>,
}

/// Reads the `composeinfo.json` of the Pungi compose in `dir`.
pub fn read_finished(dir: &Path) -> Result<FinishedCompose, ComposeInfoError> {
    let path = dir.join("compose/metadata/composeinfo.json");
    let error = |message: String| ComposeInfoError::File {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| error(e.to_string()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
    let payload = &doc["payload"];
    let id = payload["compose"]["id"]
        .as_str()
        .ok_or_else(|| error("it has no payload.compose.id".into()))?
        .to_owned();
    let mut repositories = Vec::new();
    if let Some(variants) = payload["variants"].as_object() {
        for (variant, data) in variants {
            if let Some(by_arch) = data["paths"]["repository"].as_object() {
                for (arch, path) in by_arch {
                    if let Some(path) = path.as_str() {
                        repositories.push((variant.clone(), arch.clone(), path.to_owned()));
                    }
                }
            }
        }
    }
    Ok(FinishedCompose { id, repositories })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn compose_ids_are_made_as_productmd_makes_them() {
        let release = Release::from_config(&conf(json!({
            "release_name": "Fedora", "release_short": "F", "release_version": "41",
        })))
        .expect("release");
        let mut identity = ComposeIdentity {
            release,
            compose_type: ComposeType::Production,
            date: "20261202".into(),
            respin: 0,
            label: None,
        };
        assert_eq!(identity.id(), "F-41-20261202.0");
        identity.compose_type = ComposeType::Nightly;
        identity.respin = 2;
        assert_eq!(identity.id(), "F-41-20261202.n.2");

        let layered = Release::from_config(&conf(json!({
            "release_name": "Extras", "release_short": "EXT", "release_version": "1",
            "release_type": "Updates", "release_internal": true,
            "base_product_name": "Fedora", "base_product_short": "F",
            "base_product_version": "41",
        })))
        .expect("layered");
        let identity = ComposeIdentity {
            release: layered,
            compose_type: ComposeType::Test,
            date: "20261202".into(),
            respin: 0,
            label: Some("RC-1.0".into()),
        };
        assert_eq!(identity.id(), "EXT-1-updates-F-41-20261202.t.0");
        let doc = identity.to_json();
        assert_eq!(doc["payload"]["release"]["is_layered"], true);
        assert_eq!(doc["payload"]["release"]["internal"], true);
        assert_eq!(doc["payload"]["base_product"]["short"], "F");
        assert_eq!(doc["payload"]["compose"]["label"], "RC-1.0");
    }

    #[test]
    fn a_configuration_without_a_release_is_refused() {
        let error =
            Release::from_config(&conf(json!({"release_name": "F"}))).expect_err("no short");
        assert_eq!(
            error.to_string(),
            "the Pungi configuration does not set release_short"
        );
        let error = Release::from_config(&conf(json!({
            "release_name": "F", "release_short": "F", "release_version": 41,
        })))
        .expect_err("number");
        assert!(error.to_string().contains("release_version"), "{error}");
    }
}
