//! State-change messages: what is published to the message bus when a compose changes state.
//!
//! The body is the reference's `{"event": "state-changed", "compose": <compose JSON>}` on topic
//! `{prefix}odcs.state.change`. Headers make the message readable by fedora-messaging
//! consumers (it is published as the generic `base.message` schema). `schemas/` beside the
//! repository root holds the JSON Schema every message body satisfies.

use serde::{Deserialize, Serialize};

use crate::api::ComposeJson;
use crate::compose::ComposeId;
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

/// The fedora-messaging schema name our messages declare.
pub const FEDORA_MESSAGING_SCHEMA: &str = "base.message";

/// fedora-messaging's INFO severity.
pub const FEDORA_MESSAGING_SEVERITY_INFO: i64 = 20;

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
