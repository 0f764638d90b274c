//! State-change messages: what is published to the message bus when a compose changes state.
//!
//! The body is the reference's `{"event": "state-changed", "compose": <compose JSON>}` on topic
//! `{prefix}odcs.state.change`. Headers make the message readable by fedora-messaging
//! consumers: it declares the schema `odcs.state.change.v1`, which the `odcs-messages` Python
//! package (`client/python-messages/`) registers, and carries fedora-messaging's filter headers
//! for the users, packages and modules it concerns. `schemas/` beside this crate's sources
//! holds the JSON Schema every message body satisfies.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::api::ComposeJson;
use crate::compose::{ComposeId, SourceType};
use crate::config::Config;

/// The body of a state-change message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChanged {
    /// Always `state-changed`.
    pub event: String,
    /// The compose after the change.
    pub compose: ComposeJson,
}

impl StateChanged {
    /// The message for `compose`'s current state.
    pub fn new(compose: ComposeJson) -> StateChanged {
        StateChanged {
            event: "state-changed".into(),
            compose,
        }
    }
}

/// The topic (routing key) state-change messages are published under.
pub fn state_change_topic(config: &Config) -> String {
    format!(
        "{}{}",
        config.messaging.topic_prefix, config.messaging.topic
    )
}

/// The fedora-messaging schema name our messages declare: the entry point under which the
/// `odcs-messages` Python package registers its message class.
pub const FEDORA_MESSAGING_SCHEMA: &str = "odcs.state.change.v1";

/// The Python distribution holding that class (normalised as fedora-messaging does), named in a
/// header so a consumer without it is told what to install.
pub const FEDORA_MESSAGING_SCHEMA_PACKAGE: &str = "odcs_messages";

/// Whom and what a state-change message concerns, as fedora-messaging's `usernames`,
/// `packages` and `modules` say it: consumers bind or filter on the
/// `fedora_messaging_{user,rpm,module}_{name}` headers made from them. The `odcs-messages`
/// Python package computes the same three lists from the body by the same rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subjects {
    /// The owner and, once removed by someone, who removed it.
    pub usernames: BTreeSet<String>,
    /// Names from the `packages` field and from the NVRs in `builds`.
    pub packages: BTreeSet<String>,
    /// Module names from a module compose's source and from the `modules` field.
    pub modules: BTreeSet<String>,
}

impl Subjects {
    /// The subjects of a message about `compose`.
    pub fn of(compose: &ComposeJson) -> Subjects {
        let words = |field: &Option<String>| {
            field
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let module_name = |nsvc: String| nsvc.split(':').next().unwrap_or_default().to_owned();
        let usernames = std::iter::once(compose.owner.clone())
            .chain(compose.removed_by.clone())
            .filter(|name| !name.is_empty())
            .collect();
        let packages = words(&compose.packages)
            .into_iter()
            .chain(words(&compose.builds).into_iter().map(|nvr| nvr_name(&nvr)))
            .collect();
        let module_source = if compose.source_type == SourceType::Module.code() {
            words(&Some(compose.source.clone()))
        } else {
            Vec::new()
        };
        let modules = module_source
            .into_iter()
            .chain(words(&compose.modules))
            .map(module_name)
            .filter(|name| !name.is_empty())
            .collect();
        Subjects {
            usernames,
            packages,
            modules,
        }
    }

    /// The filter header names, each set to `true` on the message.
    pub fn header_names(&self) -> impl Iterator<Item = String> + '_ {
        let kinds = [
            ("user", &self.usernames),
            ("rpm", &self.packages),
            ("module", &self.modules),
        ];
        kinds.into_iter().flat_map(|(kind, names)| {
            names
                .iter()
                .map(move |name| format!("fedora_messaging_{kind}_{name}"))
        })
    }
}

/// The package name of an NVR: everything before its last two dashes.
fn nvr_name(nvr: &str) -> String {
    let mut parts = nvr.rsplitn(3, '-');
    let (Some(_release), Some(_version), Some(name)) = (parts.next(), parts.next(), parts.next())
    else {
        return nvr.to_owned();
    };
    name.to_owned()
}

/// fedora-messaging's INFO severity.
pub const FEDORA_MESSAGING_SEVERITY_INFO: i64 = 20;

/// A state-change message as it goes out, over any backend.
#[derive(Debug, Clone)]
pub struct OutgoingMessage<'a> {
    /// Stable message id.
    pub message_id: &'a str,
    /// Routing key.
    pub topic: &'a str,
    /// JSON body.
    pub body: &'a str,
    /// When it is sent, ISO 8601 with offset (fedora-messaging's `sent-at`).
    pub sent_at: String,
    /// Whom and what it concerns, sent as fedora-messaging's filter headers.
    pub subjects: Subjects,
}

/// A header value: each backend carries these in its own encoding (AMQP 0.9.1 headers,
/// AMQP 1.0 application properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// A string.
    Text(String),
    /// A signed integer.
    Int(i64),
    /// A flag.
    Bool(bool),
}

impl OutgoingMessage<'_> {
    /// The headers every backend sends: those fedora-messaging consumers read, and the
    /// filter headers of the message's subjects.
    pub fn headers(&self) -> Vec<(String, HeaderValue)> {
        let text = |value: &str| HeaderValue::Text(value.to_owned());
        let mut headers = vec![
            (
                "fedora_messaging_schema".to_owned(),
                text(FEDORA_MESSAGING_SCHEMA),
            ),
            (
                "fedora_messaging_schema_package".to_owned(),
                text(FEDORA_MESSAGING_SCHEMA_PACKAGE),
            ),
            (
                "fedora_messaging_severity".to_owned(),
                HeaderValue::Int(FEDORA_MESSAGING_SEVERITY_INFO),
            ),
            ("sent-at".to_owned(), text(&self.sent_at)),
            ("priority".to_owned(), HeaderValue::Int(0)),
        ];
        headers.extend(
            self.subjects
                .header_names()
                .map(|name| (name, HeaderValue::Bool(true))),
        );
        headers
    }
}

/// A compose job on a queue: only the id, since the database is the source of truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComposeJob {
    /// Format version of the job body.
    pub version: u32,
    /// The compose to generate.
    pub compose_id: ComposeId,
}

impl ComposeJob {
    /// The current job format.
    pub const VERSION: u32 = 1;

    /// A job for compose `compose_id`.
    pub fn new(compose_id: ComposeId) -> ComposeJob {
        ComposeJob {
            version: Self::VERSION,
            compose_id,
        }
    }
}

/// The queue a compose's job goes to: the first route (in name order) whose every rule matches
/// the compose JSON, else `default_queue`. A rule is a list of accepted values or a regular
/// expression matched against the value's text.
pub fn queue_for(config: &Config, compose: &serde_json::Value) -> String {
    let matches = |property: &str, rule: &serde_json::Value| {
        let value = &compose[property];
        match rule {
            serde_json::Value::Array(accepted) => accepted.contains(value),
            serde_json::Value::String(pattern) => {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                regex::Regex::new(pattern).is_ok_and(|re| re.is_match(&text))
            }
            _ => false,
        }
    };
    config
        .messaging
        .queue_routes
        .iter()
        .find(|(_, rules)| rules.iter().all(|(p, r)| matches(p, r)))
        .map_or_else(
            || config.messaging.default_queue.clone(),
            |(queue, _)| queue.clone(),
        )
}

/// Every queue jobs may go to.
pub fn all_queues(config: &Config) -> Vec<String> {
    let messaging = &config.messaging;
    let mut queues: Vec<String> = messaging.queue_routes.keys().cloned().collect();
    if !queues.contains(&messaging.default_queue) {
        queues.push(messaging.default_queue.clone());
    }
    queues
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn subjects_name_the_owner_the_packages_and_the_modules() {
        let tag = ComposeJson {
            owner: "alice".into(),
            source_type: SourceType::Tag.code(),
            source: "f40-build".into(),
            packages: Some("bash  glibc".into()),
            builds: Some("python-rpm-macros-3.12-8.fc40 odd".into()),
            ..ComposeJson::default()
        };
        let subjects = Subjects::of(&tag);
        assert_eq!(Vec::from_iter(subjects.usernames.clone()), ["alice"]);
        assert_eq!(
            Vec::from_iter(subjects.packages.clone()),
            ["bash", "glibc", "odd", "python-rpm-macros"]
        );
        assert!(subjects.modules.is_empty(), "a tag's source is no module");
        assert_eq!(
            subjects.header_names().collect::<Vec<_>>(),
            [
                "fedora_messaging_user_alice",
                "fedora_messaging_rpm_bash",
                "fedora_messaging_rpm_glibc",
                "fedora_messaging_rpm_odd",
                "fedora_messaging_rpm_python-rpm-macros",
            ]
        );

        let module = ComposeJson {
            owner: "alice".into(),
            removed_by: Some("bob".into()),
            source_type: SourceType::Module.code(),
            source: "nodejs:20 testmodule:main:20240101:abcd".into(),
            modules: Some("nodejs:20:4020:e1a2 perl:5.38:1:aa".into()),
            ..ComposeJson::default()
        };
        let subjects = Subjects::of(&module);
        assert_eq!(Vec::from_iter(subjects.usernames), ["alice", "bob"]);
        assert_eq!(
            Vec::from_iter(subjects.modules),
            ["nodejs", "perl", "testmodule"]
        );
    }

    #[test]
    fn jobs_are_routed_by_compose_properties() {
        let mut config = Config::default();
        assert_eq!(
            queue_for(&config, &json!({"source_type": 4})),
            "pulp_composes"
        );
        assert_eq!(
            queue_for(&config, &json!({"source_type": 1})),
            "pungi_composes"
        );
        config.messaging.queue_routes.insert(
            "releng".into(),
            [("owner".to_owned(), json!("^releng-"))]
                .into_iter()
                .collect(),
        );
        assert_eq!(
            queue_for(&config, &json!({"source_type": 1, "owner": "releng-bot"})),
            "releng"
        );
        assert_eq!(
            all_queues(&config),
            ["pulp_composes", "releng", "pungi_composes"]
        );
    }
}
