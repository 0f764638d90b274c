//! The body of a renewal (`PATCH /api/1/composes/{id}`): a longer life, or a copy of the
//! compose with other signing keys, label, builds or modules.

use serde_json::{Map, Value};

use super::json::{string, string_list};
use super::{
    bad, check_values, has_raw_config_wrapper, refuse_unknown_keys, requested_lifetime, unused,
    unwrapped, InvalidRequest,
};
use crate::config::Config;
use crate::spec::{ComposeSource, ComposeSpec, Sigkeys, WordList};

/// Keys a renewal body may have at its top level.
const RENEW_KEYS: &[&str] = &[
    "sigkeys",
    "label",
    "source",
    "seconds_to_live",
    "seconds-to-live",
];

/// Keys a renewal body's source object may have.
const RENEW_SOURCE_KEYS: &[&str] = &["builds", "modules"];

/// What a renewal asks to change; `None` keeps the old value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenewRequest {
    /// New signing keys.
    pub sigkeys: Option<Vec<String>>,
    /// New label (an empty label keeps the old one).
    pub label: Option<String>,
    /// New builds.
    pub builds: Option<Vec<String>>,
    /// New modules.
    pub modules: Option<Vec<String>>,
    /// The lifetime asked for; `None` or 0: the default.
    pub seconds_to_live: Option<i64>,
}

impl RenewRequest {
    /// Reads the optional body of a renewal; no body renews with defaults.
    pub fn from_json(body: Option<&Value>) -> Result<RenewRequest, InvalidRequest> {
        let body = match body {
            None => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return bad("The request body must be a JSON object"),
        };
        check_values(&body)?;
        refuse_unknown_keys(&body, RENEW_KEYS, "")?;
        let source = match body.get("source") {
            None => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return bad("source should be an object"),
        };
        refuse_unknown_keys(&source, RENEW_SOURCE_KEYS, " in source")?;
        Ok(RenewRequest {
            sigkeys: string_list(&body, "sigkeys")?,
            label: string(&body, "label").filter(|l| !l.is_empty()),
            builds: string_list(&source, "builds")?,
            modules: string_list(&source, "modules")?,
            seconds_to_live: requested_lifetime(&body)?,
        })
    }

    /// Whether renewing `old` this way makes a new compose rather than extending `old`: other
    /// keys or another label, or builds or modules given.
    pub fn changes(&self, old: &ComposeSpec) -> bool {
        let sigkeys_change = self
            .sigkeys
            .as_ref()
            .is_some_and(|keys| Sigkeys::new(keys.clone()) != old.sigkeys);
        let label_change = self
            .label
            .as_ref()
            .is_some_and(|label| Some(label) != old.options.label.as_ref());
        sigkeys_change || label_change || self.builds.is_some() || self.modules.is_some()
    }

    /// `old` with this renewal's keys, label, builds and modules; fails when `old`'s source
    /// type has no builds or modules to change, or (a raw_config compose without a wrapper)
    /// nothing would pass them to Pungi.
    pub fn apply(
        &self,
        mut old: ComposeSpec,
        config: &Config,
    ) -> Result<ComposeSpec, InvalidRequest> {
        if let ComposeSource::RawConfig(raw) = &old.source {
            if !has_raw_config_wrapper(&raw.name, config) {
                let given = [
                    ("sigkeys", self.sigkeys.is_some()),
                    (
                        "builds",
                        self.builds.as_ref().is_some_and(|b| !b.is_empty()),
                    ),
                    (
                        "modules",
                        self.modules.as_ref().is_some_and(|m| !m.is_empty()),
                    ),
                ];
                if let Some((field, _)) = given.into_iter().find(|(_, given)| *given) {
                    return bad(unwrapped(field, &raw.name));
                }
            }
        }
        if let Some(keys) = &self.sigkeys {
            old.sigkeys = Sigkeys::new(keys.clone());
        }
        if let Some(label) = &self.label {
            old.options.label = Some(label.clone());
        }
        let source_type = old.source_type();
        if let Some(builds) = self.builds.as_ref().filter(|b| !b.is_empty()) {
            let list = WordList::new(builds.clone());
            match &mut old.source {
                ComposeSource::Tag(t) => t.builds = list,
                ComposeSource::Build(b) => b.builds = list,
                ComposeSource::RawConfig(r) => r.builds = list,
                ComposeSource::Module(_)
                | ComposeSource::Repo(_)
                | ComposeSource::Pulp(_)
                | ComposeSource::PungiCompose(_) => return bad(unused("builds", source_type)),
            }
        }
        if let Some(modules) = self.modules.as_ref().filter(|m| !m.is_empty()) {
            let list = WordList::new(modules.clone());
            match &mut old.source {
                ComposeSource::Tag(t) => t.modules = list,
                ComposeSource::RawConfig(r) => r.modules = list,
                ComposeSource::Module(_)
                | ComposeSource::Build(_)
                | ComposeSource::Repo(_)
                | ComposeSource::Pulp(_)
                | ComposeSource::PungiCompose(_) => return bad(unused("modules", source_type)),
            }
        }
        Ok(old)
    }
}
