//! State-change messages: what is published to the message bus when a compose changes state.
//!
//! The body is the reference's `{"event": "state-changed", "compose": <compose JSON>}` on topic
//! `{prefix}odcs.state.change`. Headers make the message readable by fedora-messaging
//! consumers (it is published as the generic `base.message` schema). `schemas/` beside the
//! repository root holds the JSON Schema every message body satisfies.

use serde::{Deserialize, Serialize};

use crate::api::ComposeJson;
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
        config.messaging_topic_prefix, config.messaging_topic
    )
}

/// The fedora-messaging schema name our messages declare.
pub const FEDORA_MESSAGING_SCHEMA: &str = "base.message";

/// fedora-messaging's INFO severity.
pub const FEDORA_MESSAGING_SEVERITY_INFO: i64 = 20;
