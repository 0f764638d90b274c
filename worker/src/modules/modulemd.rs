//! Module metadata documents (modulemd v2 streams and modulemd-defaults v1), read from MBS,
//! Koji and git, and written into a compose's `modules.yaml`. Only the fields composes use are
//! read; each document keeps its whole YAML so what is written back is what was read, with the
//! changes made through this type.

use std::collections::BTreeMap;

use serde::Deserialize;
use thiserror::Error;
use yaml_serde::{Mapping, Value};

/// Why a modulemd text could not be used.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{what}: {reason}")]
pub struct ModulemdError {
    /// What was read (a module, a file).
    pub what: String,
    /// What is wrong with it.
    pub reason: String,
}

/// One module stream build (a `modulemd` document, version 2).
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleStream {
    /// The whole document.
    document: Value,
}

/// The default stream and profiles of one module (a `modulemd-defaults` document).
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleDefaults {
    /// The module the defaults are for.
    pub module: String,
    /// The whole document.
    document: Value,
}

/// A document of a modules.yaml stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// A module stream build.
    Stream(ModuleStream),
    /// Defaults of a module.
    Defaults(ModuleDefaults),
}

/// The most documents one text may hold: a modules.yaml of a whole distribution has a few
/// thousand.
const MAX_DOCUMENTS: usize = 100_000;

/// Reads every document of `text` (modules.yaml, a per-arch modulemd file, an MBS answer's
/// `modulemd`); documents other than streams and defaults (obsoletes, translations) are left
/// out. `what` names the text in errors.
pub fn read_documents(text: &str, what: &str) -> Result<Vec<Document>, ModulemdError> {
    let error = |reason: String| ModulemdError {
        what: what.to_owned(),
        reason,
    };
    let mut out = Vec::new();
    for (i, de) in yaml_serde::Deserializer::from_str(text).enumerate() {
        if i >= MAX_DOCUMENTS {
            return Err(error(format!("more than {MAX_DOCUMENTS} documents")));
        }
        let document = Value::deserialize(de).map_err(|e| error(e.to_string()))?;
        if document.is_null() {
            continue;
        }
        match field_str(&document, &["document"]).as_deref() {
            Some("modulemd") => {
                let stream = ModuleStream::from_document(document).map_err(error)?;
                out.push(Document::Stream(stream));
            }
            Some("modulemd-defaults") => {
                let module = field_str(&document, &["data", "module"]).ok_or_else(|| {
                    error("a modulemd-defaults document without data.module".into())
                })?;
                out.push(Document::Defaults(ModuleDefaults { module, document }));
            }
            Some(_) => {}
            None => return Err(error("a document without a `document` type".into())),
        }
    }
    Ok(out)
}

/// Reads the single module stream in `text`.
pub fn read_stream(text: &str, what: &str) -> Result<ModuleStream, ModulemdError> {
    let mut streams = read_documents(text, what)?
        .into_iter()
        .filter_map(|d| match d {
            Document::Stream(s) => Some(s),
            Document::Defaults(_) => None,
        });
    match (streams.next(), streams.next()) {
        (Some(stream), None) => Ok(stream),
        _ => Err(ModulemdError {
            what: what.to_owned(),
            reason: "expected exactly one modulemd document".into(),
        }),
    }
}

/// Writes `documents` as one modules.yaml text.
pub fn write_documents<'a>(documents: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for document in documents {
        out.push_str("---\n");
        out.push_str(&yaml_serde::to_string(document).unwrap_or_default());
        out.push_str("...\n");
    }
    out
}

/// The scalar at `path` in `value`, as text (numbers too: streams and versions are often
/// written unquoted).
fn field_str(value: &Value, path: &[&str]) -> Option<String> {
    let mut at = value;
    for key in path {
        at = at.get(*key)?;
    }
    scalar_text(at)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The strings of a sequence (or of a single scalar).
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Sequence(items)) => items.iter().filter_map(scalar_text).collect(),
        Some(other) => scalar_text(other).into_iter().collect(),
        None => Vec::new(),
    }
}

impl ModuleStream {
    fn from_document(document: Value) -> Result<ModuleStream, String> {
        let version = field_str(&document, &["version"]);
        if version.as_deref() != Some("2") {
            return Err(format!(
                "modulemd version {} is not supported (only 2)",
                version.unwrap_or_else(|| "missing".into())
            ));
        }
        let stream = ModuleStream { document };
        for (field, value) in [("name", stream.name()), ("stream", stream.stream())] {
            if value.is_empty() {
                return Err(format!("data.{field} is missing"));
            }
        }
        Ok(stream)
    }

    fn data(&self) -> Option<&Value> {
        self.document.get("data")
    }

    fn data_mut(&mut self) -> Option<&mut Mapping> {
        self.document.get_mut("data")?.as_mapping_mut()
    }

    /// The module name.
    pub fn name(&self) -> String {
        field_str(&self.document, &["data", "name"]).unwrap_or_default()
    }

    /// The stream name.
    pub fn stream(&self) -> String {
        field_str(&self.document, &["data", "stream"]).unwrap_or_default()
    }

    /// The build's version (0 when missing).
    pub fn version(&self) -> u64 {
        field_str(&self.document, &["data", "version"])
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// The build's context (empty when missing).
    pub fn context(&self) -> String {
        field_str(&self.document, &["data", "context"]).unwrap_or_default()
    }

    /// The arch this document describes, when per-arch.
    pub fn arch(&self) -> Option<String> {
        field_str(&self.document, &["data", "arch"])
    }

    /// `NAME:STREAM:VERSION:CONTEXT`.
    pub fn nsvc(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.name(),
            self.stream(),
            self.version(),
            self.context()
        )
    }

    /// The modules (and streams) this one needs at run time, from every dependency block;
    /// an empty stream list means any stream.
    pub fn runtime_requires(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let blocks = match self.data().and_then(|d| d.get("dependencies")) {
            Some(Value::Sequence(blocks)) => blocks.as_slice(),
            _ => &[],
        };
        for block in blocks {
            let Some(Value::Mapping(requires)) = block.get("requires") else {
                continue;
            };
            for (name, streams) in requires {
                let Some(name) = scalar_text(name) else {
                    continue;
                };
                let entry = out.entry(name).or_default();
                for stream in strings(Some(streams)) {
                    if !entry.contains(&stream) {
                        entry.push(stream);
                    }
                }
            }
        }
        out
    }

    /// The RPMs the build ships (`NAME-EPOCH:VERSION-RELEASE.ARCH`), as its per-arch
    /// document lists them.
    pub fn rpm_artifacts(&self) -> Vec<String> {
        strings(
            self.data()
                .and_then(|d| d.get("artifacts"))
                .and_then(|a| a.get("rpms")),
        )
    }

    /// Renames the module (a `-devel` module is its module's build under another name).
    pub fn rename(&mut self, name: &str) {
        if let Some(data) = self.data_mut() {
            data.insert(Value::from("name"), Value::from(name));
        }
    }

    /// Adds `name:stream` to the run-time requirements of every dependency block (one is
    /// created when there is none).
    pub fn add_runtime_requirement(&mut self, name: &str, stream: &str) {
        let Some(data) = self.data_mut() else {
            return;
        };
        let blocks = data
            .entry(Value::from("dependencies"))
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if let Value::Sequence(list) = blocks {
            if list.is_empty() {
                list.push(Value::Mapping(Mapping::new()));
            }
            for block in list.iter_mut() {
                let Some(block) = block.as_mapping_mut() else {
                    continue;
                };
                let requires = block
                    .entry(Value::from("requires"))
                    .or_insert_with(|| Value::Mapping(Mapping::new()));
                if let Some(requires) = requires.as_mapping_mut() {
                    requires.insert(
                        Value::from(name),
                        Value::Sequence(vec![Value::from(stream)]),
                    );
                }
            }
        }
    }

    /// The whole document, for writing.
    pub fn document(&self) -> &Value {
        &self.document
    }
}

impl ModuleDefaults {
    /// The whole document, for writing.
    pub fn document(&self) -> &Value {
        &self.document
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODEJS: &str = r#"---
document: modulemd
version: 2
data:
  name: nodejs
  stream: 20
  version: 3920231010123456
  context: 6c81f848
  arch: x86_64
  summary: Javascript runtime
  description: Node.js
  license:
    module: [MIT]
  dependencies:
  - buildrequires:
      platform: [f39]
    requires:
      platform: [f39]
      npm: []
  artifacts:
    rpms:
    - nodejs-1:20.8.0-1.module_f39+17883+6c81f848.x86_64
    - nodejs-devel-1:20.8.0-1.module_f39+17883+6c81f848.x86_64
...
---
document: modulemd-defaults
version: 1
data:
  module: nodejs
  stream: 20
  profiles:
    20: [default]
...
"#;

    #[test]
    fn streams_and_defaults_are_read_with_what_composes_use() {
        let docs = read_documents(NODEJS, "test").expect("read");
        assert_eq!(docs.len(), 2);
        let Document::Stream(stream) = &docs[0] else {
            panic!("a stream first");
        };
        assert_eq!(stream.nsvc(), "nodejs:20:3920231010123456:6c81f848");
        assert_eq!(stream.arch().as_deref(), Some("x86_64"));
        assert_eq!(
            stream.runtime_requires(),
            BTreeMap::from([
                ("npm".to_owned(), vec![]),
                ("platform".to_owned(), vec!["f39".to_owned()])
            ])
        );
        assert_eq!(stream.rpm_artifacts().len(), 2);
        assert!(matches!(&docs[1], Document::Defaults(d) if d.module == "nodejs"));
    }

    #[test]
    fn a_devel_module_is_renamed_and_requires_its_module() {
        let mut stream = read_stream(NODEJS, "test").expect("one stream");
        stream.rename("nodejs-devel");
        stream.add_runtime_requirement("nodejs", "20");
        let text = write_documents([stream.document()]);
        let again = read_stream(&text, "written").expect("reads back");
        assert_eq!(again.name(), "nodejs-devel");
        assert_eq!(again.runtime_requires()["nodejs"], ["20"]);
        assert_eq!(again.rpm_artifacts(), stream.rpm_artifacts());
    }

    #[test]
    fn bad_documents_are_named() {
        let err =
            read_documents("document: modulemd\nversion: 1\ndata: {}\n", "m.yaml").expect_err("v1");
        assert!(
            err.to_string().starts_with("m.yaml: modulemd version 1"),
            "{err}"
        );
        let err = read_documents("[1, 2", "broken").expect_err("yaml");
        assert!(err.to_string().starts_with("broken: "), "{err}");
        let err = read_documents("a: b\n", "untyped").expect_err("no type");
        assert!(
            err.to_string().contains("without a `document` type"),
            "{err}"
        );
    }
}
